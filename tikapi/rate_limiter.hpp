// A token bucket per TikTok API, so the client stays under the documented
// "50 QPS per API, keyed on app + shop" limit (docs/tiktok-shop-api.md §4)
// instead of finding it with 429s.
//
// The class is pure: it never sleeps and never reads a clock. Callers pass
// `now` and get back how long to wait, so tests drive it with an invented
// clock. tikapi::client waits with an asio::steady_timer; one limiter can be
// shared (std::shared_ptr in client_options) by every client that uses the
// same app and shop, and is safe to call from several threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

namespace orderflow::tikapi {

struct rate_limiter_options {
    double rate = 50;                          // requests per second per API; 0 disables limiting
    double burst = 50;                         // bucket size: requests that may go at once (<= 0: same as rate)
    std::chrono::milliseconds penalty{1000};   // how long an API is paused after a 429 / 36009002 ...
    std::chrono::milliseconds penalty_jitter{500};   // ... plus a uniform random part up to this
    std::uint32_t seed = 0;                    // for the jitter; 0: from std::random_device
};

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    explicit rate_limiter(rate_limiter_options options = {});
    rate_limiter(const rate_limiter&) = delete;
    rate_limiter& operator=(const rate_limiter&) = delete;

    // Reserves the next slot of `api` and returns how long the caller must
    // wait before sending (zero when a token is free). The slot is taken even
    // if the caller then gives up, which errs on the side of sending less.
    // A `now` earlier than one seen before is treated as that earlier time.
    std::chrono::nanoseconds reserve(std::string_view api, time_point now);

    // Called just before the request goes out, after reserve()'s wait:
    // how much longer to wait so that at most `rate` requests of `api` go out
    // in any one second, counted when they are sent. Reserved slots are
    // spaced evenly, but a thread that stalls (an fsync, a busy core) wakes
    // every caller whose slot passed meanwhile at once, and TikTok counts
    // what arrives in a second, not slots: seven callers released together
    // after a 150 ms stall made the 50th call of one second. Zero means the
    // request is counted as sent now; otherwise wait and ask again.
    std::chrono::nanoseconds admit(std::string_view api, time_point now);

    // TikTok said "too many requests" for `api` (HTTP 429 or code 36009002):
    // empties its bucket and pauses it for penalty + jitter. Slots already
    // reserved are not taken back; later ones come after the pause, spaced at
    // the normal rate so the paused callers do not all go at once. Several
    // 429s in a row do not add up: the pause starts again from the latest.
    void throttled(std::string_view api, time_point now);

    bool enabled() const { return options_.rate > 0; }
    const rate_limiter_options& options() const { return options_; }

private:
    struct bucket {
        double tokens = 0;         // may go negative: slots reserved in the future
        time_point last{};         // when `tokens` was last brought up to date
        time_point paused_until{}; // only used when limiting is disabled (rate 0)
        std::deque<time_point> sent;   // when the latest requests went out (admit), at most `rate`
    };
    bucket& find(std::string_view api, time_point now);
    void refill(bucket& b, time_point now) const;
    std::chrono::nanoseconds jittered_penalty();

    rate_limiter_options options_;
    std::mutex mutex_;
    std::map<std::string, bucket, std::less<>> buckets_;
    std::mt19937 rng_;
};

// The bucket key of a request path: the path template, with every id segment
// replaced by "{id}", so that all conversations share one bucket:
//   /customer_service/202309/conversations/7494.../messages
//     -> /customer_service/202309/conversations/{id}/messages
// TikTok's fixed segments are lower-case words with underscores
// ("shipping_info", "delivery_options"); after the category and version, any
// other segment (digits, mixed case, percent escapes) is taken to be an id.
std::string api_template(std::string_view path);

}  // namespace orderflow::tikapi
