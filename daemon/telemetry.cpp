// See telemetry.hpp.
#include "daemon/telemetry.hpp"

#include <charconv>
#include <cmath>
#include <deque>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace orderflow::daemon::telemetry {

namespace {

enum class kind { counter, histogram };

struct family_spec {
    const char* name;
    kind type;
    const char* help;
    std::vector<double> bounds;   // histograms only
    // A counter whose one label takes a known set of values: each value's
    // series is shown from the start, at 0, so that increase() and rate()
    // see its first occurrence (a series that appears at 1 shows none).
    const char* label = nullptr;
    std::vector<const char*> values = {};
};

// Webhook acknowledgement: TikTok gives up at 3 s; the target is 10 ms at p99.
const std::vector<double> fast_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
// One group commit to the inbox: under a millisecond on a healthy disk;
// TikTok gives up on an answer after 3 s.
const std::vector<double> commit_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3, 10};
// One TikTok call, retries not included (each attempt is observed).
const std::vector<double> call_bounds{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
// From an event's arrival to its action's end: quiet hours and schedules make hours normal.
const std::vector<double> flow_bounds{1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400};

const std::vector<family_spec>& specs() {
    static const std::vector<family_spec> all{
        {"orderflow_webhooks_total", kind::counter,
         "Webhooks answered, by result: accepted, duplicate (already stored), rejected (signature), malformed, "
         "unavailable (storage down, 503), other_shop.", {},
         "result", {"accepted", "duplicate", "rejected", "malformed", "unavailable", "other_shop"}},
        {"orderflow_webhook_ack_seconds", kind::histogram,
         "From a webhook's request read to its answer (signature check, parse, commit).", fast_bounds},
        {"orderflow_inbox_commit_seconds", kind::histogram,
         "One group commit of webhooks and tracking submissions to the inbox: the wait for the write lock, the writes, "
         "the WAL's fsync and, when the WAL is long, a checkpoint (each of the batch waits for it before its answer).",
         commit_bounds},
        {"orderflow_wal_sync_seconds", kind::histogram,
         "One fsync of the WAL file on its own thread, before a send or shipment (its intent) or a staff notification; "
         "every caller that committed before it began shares it (daemon/durable_commits.hpp).",
         commit_bounds},
        {"orderflow_event_loop_delay_seconds", kind::histogram,
         "How late the event loop ran a timer due every 50 ms: time in which nothing on the loop ran (pipeline, sends, "
         "notifier, console, orderflowctl); long ones are an fsync, a checkpoint or a host short of CPU (daemon/loop_delay.hpp).",
         commit_bounds},
        {"orderflow_tracking_submissions_total", kind::counter,
         "Tracking submissions on POST /v1/tracking, by result: accepted, duplicate, invalid, unavailable.", {},
         "result", {"accepted", "duplicate", "invalid", "unavailable"}},
        {"orderflow_events_processed_total", kind::counter,
         "Inbox events the pipeline finished or put off, by outcome: done, ignored, failed, retried, quarantined, set_aside.", {},
         "outcome", {"done", "ignored", "failed", "retried", "quarantined", "set_aside"}},
        {"orderflow_actions_total", kind::counter,
         "Actions the executor ended, by kind and outcome: done, deferred, failed, skipped, unknown.", {}},
        {"orderflow_event_to_action_seconds", kind::histogram,
         "From an event's arrival to the end of an action it planned (one-second resolution: the database's clock).", flow_bounds},
        {"orderflow_tiktok_calls_total", kind::counter,
         "TikTok API call attempts, by API (path template) and result code (0: success; TikTok's code; or the transport failure).", {}},
        {"orderflow_tiktok_call_seconds", kind::histogram, "One TikTok API call attempt, by API.", call_bounds},
        {"orderflow_tiktok_retries_total", kind::counter, "TikTok API call attempts that were retried, by API.", {}},
        {"orderflow_tiktok_throttled_total", kind::counter, "TikTok API answers that said the rate limit was reached, by API.", {}},
        {"orderflow_notifications_total", kind::counter,
         "Staff notification deliveries, by channel and outcome: sent, retried, failed.", {}},
        {"orderflow_reloads_total", kind::counter, "Configuration and rule reloads, by result: ok, failed.", {}, "result", {"ok", "failed"}},
        {"orderflow_security_failures_total", kind::counter,
         "Refused credentials, by door: webhook_signature, admin_token, console_login, other_shop.", {},
         "door", {"webhook_signature", "admin_token", "console_login", "other_shop"}},
        {"orderflow_security_alerts_total", kind::counter, "Security review items raised for bursts of refused credentials, by door.", {},
         "door", {"webhook_signature", "admin_token", "console_login", "other_shop"}},
    };
    return all;
}

const family_spec& spec_of(std::string_view name) {
    for (const auto& s : specs())
        if (name == s.name) return s;
    throw std::logic_error("telemetry: undeclared metric family " + std::string(name));
}

// Label values escaped as the text format requires.
std::string label_text(const labels& l) {
    if (l.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < l.size(); ++i) {
        if (i) out += ',';
        out += l[i].first;
        out += "=\"";
        for (char c : l[i].second) {
            if (c == '\\') out += "\\\\";
            else if (c == '"') out += "\\\"";
            else if (c == '\n') out += "\\n";
            else out += c;
        }
        out += '"';
    }
    return out + "}";
}

// The shortest fixed-point text that reads back as the same double ("0.0005", "10", "100.34").
std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[400];   // fixed notation of any double fits
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    return ec == std::errc{} ? std::string(buf, end) : std::string("NaN");
}

struct registry {
    std::mutex mutex;
    // family name -> label text -> series; deques keep references stable.
    std::map<std::string, std::map<std::string, counter*>, std::less<>> counters;
    std::map<std::string, std::map<std::string, histogram*>, std::less<>> histograms;
    std::deque<counter> counter_store;
    std::deque<histogram> histogram_store;
};

registry& the_registry() {
    static registry* r = new registry();   // never destroyed: series outlive every static that may count at exit
    return *r;
}

}  // namespace

histogram::histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double seconds) {
    if (!(seconds >= 0)) seconds = 0;   // a clock step back, or NaN
    std::size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// The series of one declared family with these labels, made by `make` on first use.
template <class Series, class Make>
Series& series_of(std::map<std::string, std::map<std::string, Series*>, std::less<>>& families, std::string_view family,
                  kind type, const labels& l, Make make) {
    const auto& spec = spec_of(family);
    if (spec.type != type)
        throw std::logic_error("telemetry: " + std::string(family) + " is a " + (spec.type == kind::counter ? "counter" : "histogram"));
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    auto& series = families[spec.name];
    auto key = label_text(l);
    auto it = series.find(key);
    if (it != series.end()) return *it->second;
    Series& made = make(r, spec);
    series.emplace(std::move(key), &made);
    return made;
}

}  // namespace

counter& count(std::string_view family, const labels& l) {
    return series_of(the_registry().counters, family, kind::counter, l,
                     [](registry& r, const family_spec&) -> counter& { return r.counter_store.emplace_back(); });
}

histogram& timing(std::string_view family, const labels& l) {
    return series_of(the_registry().histograms, family, kind::histogram, l,
                     [](registry& r, const family_spec& spec) -> histogram& { return r.histogram_store.emplace_back(spec.bounds); });
}

std::string render() {
    static std::once_flag known_shown;
    std::call_once(known_shown, [] {
        for (const auto& spec : specs())
            for (const char* value : spec.values) count(spec.name, {{spec.label, value}});
    });
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    std::ostringstream out;
    for (const auto& spec : specs()) {
        if (spec.type == kind::counter) {
            auto f = r.counters.find(std::string_view(spec.name));
            if (f == r.counters.end() || f->second.empty()) continue;
            out << "# HELP " << spec.name << ' ' << spec.help << "\n# TYPE " << spec.name << " counter\n";
            for (const auto& [l, c] : f->second) out << spec.name << l << ' ' << c->value() << '\n';
            continue;
        }
        auto f = r.histograms.find(std::string_view(spec.name));
        if (f == r.histograms.end() || f->second.empty()) continue;
        out << "# HELP " << spec.name << ' ' << spec.help << "\n# TYPE " << spec.name << " histogram\n";
        for (const auto& [l, h] : f->second) {
            // le joins the series' own labels inside one pair of braces.
            const std::string inner = l.empty() ? std::string() : l.substr(1, l.size() - 2) + ",";
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i <= h->bounds().size(); ++i) {
                cumulative += h->in_bucket(i);
                const double le = i < h->bounds().size() ? h->bounds()[i] : INFINITY;
                out << spec.name << "_bucket{" << inner << "le=\"" << number(le) << "\"} " << cumulative << '\n';
            }
            // Read after the buckets: _count is never below the +Inf bucket's total by more than in-flight observations.
            out << spec.name << "_sum" << l << ' ' << number(h->sum()) << '\n';
            out << spec.name << "_count" << l << ' ' << cumulative << '\n';
        }
    }
    return out.str();
}

}  // namespace orderflow::daemon::telemetry
