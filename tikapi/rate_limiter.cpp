// The per-API token buckets (see rate_limiter.hpp).
//
// The bucket works by reservation, like Go's x/time/rate Reserve: each
// request takes a token at once, and when none is left the count goes
// negative; the wait is how long the refill needs to bring it back to zero.
// A 429 is a debt of penalty * rate tokens, so the pause ends on its own and
// the callers after it are spaced at 1/rate.
#include "tikapi/rate_limiter.hpp"

#include <algorithm>

namespace orderflow::tikapi {

rate_limiter::rate_limiter(rate_limiter_options options) : options_(options) {
    if (options_.rate < 0) options_.rate = 0;
    if (options_.burst <= 0) options_.burst = std::max(1.0, options_.rate);
    if (options_.penalty.count() < 0) options_.penalty = std::chrono::milliseconds(0);
    if (options_.penalty_jitter.count() < 0) options_.penalty_jitter = std::chrono::milliseconds(0);
    rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());
}

rate_limiter::bucket& rate_limiter::find(std::string_view api, time_point now) {
    auto it = buckets_.find(api);
    if (it == buckets_.end()) {
        bucket b;
        b.tokens = options_.burst;
        b.last = now;
        it = buckets_.emplace(std::string(api), b).first;
    }
    return it->second;
}

void rate_limiter::refill(bucket& b, time_point now) const {
    if (now <= b.last) return;   // a clock that stepped back refills nothing
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.rate);
    b.last = now;
}

std::chrono::nanoseconds rate_limiter::jittered_penalty() {
    std::chrono::nanoseconds p = options_.penalty;
    const auto jitter = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.penalty_jitter).count();
    if (jitter > 0) {
        std::uniform_int_distribution<std::int64_t> dist(0, jitter);
        p += std::chrono::nanoseconds(dist(rng_));
    }
    return p;
}

std::chrono::nanoseconds rate_limiter::reserve(std::string_view api, time_point now) {
    std::lock_guard lock(mutex_);
    bucket& b = find(api, now);
    if (!enabled()) {
        return b.paused_until > now ? std::chrono::nanoseconds(b.paused_until - now) : std::chrono::nanoseconds(0);
    }
    refill(b, now);
    b.tokens -= 1;
    if (b.tokens >= 0) return std::chrono::nanoseconds(0);
    // Time from b.last (>= now) until the count is back at zero.
    const auto wait = std::chrono::duration<double>(-b.tokens / options_.rate);
    auto ns = std::chrono::round<std::chrono::nanoseconds>(wait) + (b.last - now);
    return std::max(ns, std::chrono::nanoseconds(1));
}

std::chrono::nanoseconds rate_limiter::admit(std::string_view api, time_point now) {
    std::lock_guard lock(mutex_);
    if (!enabled()) return std::chrono::nanoseconds(0);
    bucket& b = find(api, now);
    const auto most = static_cast<std::size_t>(std::max(1.0, options_.rate));
    constexpr auto second = std::chrono::seconds(1);
    while (!b.sent.empty() && b.sent.front() + second <= now) b.sent.pop_front();
    if (b.sent.size() == most) return std::max(std::chrono::nanoseconds(b.sent.front() + second - now), std::chrono::nanoseconds(1));
    b.sent.push_back(std::max(now, b.sent.empty() ? now : b.sent.back()));
    return std::chrono::nanoseconds(0);
}

void rate_limiter::throttled(std::string_view api, time_point now) {
    std::lock_guard lock(mutex_);
    bucket& b = find(api, now);
    const auto pause = jittered_penalty();
    if (!enabled()) {
        b.paused_until = std::max(b.paused_until, now + pause);
        return;
    }
    refill(b, now);
    const double debt = std::chrono::duration<double>(pause).count() * options_.rate;
    b.tokens = std::min(b.tokens, -debt);
}

std::string api_template(std::string_view path) {
    std::string out;
    std::size_t segment = 0;
    std::size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] == '/') {
            out.push_back('/');
            ++pos;
            continue;
        }
        std::size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view s = path.substr(pos, end - pos);
        const bool word = std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
        // Segments 0 and 1 are the category and the version ("202309").
        if (segment >= 2 && !word) out += "{id}";
        else out += s;
        ++segment;
        pos = end;
    }
    return out;
}

}  // namespace orderflow::tikapi
