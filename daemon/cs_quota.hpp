// TikTok's customer-service quota (docs/tiktok-shop-api.md §4: 10,000 calls a
// UTC day, then 45101004), kept across restarts and shared out so that buyers
// still get answers when it runs low.
//
// The tikapi client counts the calls; after each one, `counted` stores the
// day's count (daemon_state "cs_calls": {"day": "2026-11-24", "count": n}) and
// raises a review item the first time in a UTC day that the count reaches
// customer_service.warn_percent of the quota (warning) and the reply reserve
// (critical). At start, `restore` resumes the client's count from the stored
// one when it is of today. `cs_refusal` is the rule the senders and the
// poller follow (docs/operations.md, "The customer-service quota"): with no
// more than reply_reserve calls left, only replies to buyers go out; with none
// left, nothing until 00:00 UTC.
#pragma once

#include "daemon/config.hpp"
#include "daemon/context.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class review_desk;

// What a customer-service call is for.
enum class cs_purpose {
    reply,       // answers a buyer: a reply action (and the calls it needs)
    proactive,   // send_message: a message the buyer did not ask for
    poll,        // the poller reading conversations
};

struct cs_wait {
    std::string why;             // "customer-service quota: 20 of 30 used today (UTC), 10 kept for replies to buyers"
    std::int64_t until = 0;      // the next 00:00 UTC
};

// The UTC day of unix second `t` as "YYYY-MM-DD", and the next 00:00 UTC after it.
std::string utc_day_text(std::int64_t t);
std::int64_t next_utc_midnight(std::int64_t t);

// Whether a call for `purpose` must wait, given `used` calls today; nullopt: go.
std::optional<cs_wait> cs_refusal(cs_purpose purpose, std::int64_t used, const config& cfg, std::int64_t now);
// The same for the client's count now.
std::optional<cs_wait> cs_refusal(cs_purpose purpose, const tikapi::client& api, const config& cfg, std::int64_t now);

// {"day", "used", "limit", "reserve", "remaining", "proactive": "go" | "waits", "replies": "go" | "wait"}
// for status and /metrics, from the stored count (a count of an earlier day is 0).
nlohmann::json cs_quota_view(storage::store& store, const config& cfg, std::int64_t now);

class cs_quota {
public:
    // cfg: rules_in_force::cfg(), which stays put across reloads.
    cs_quota(context ctx, const config& cfg, review_desk& desk);

    // Resumes api's count from the stored count of today. Throws storage_error.
    void restore(tikapi::client& api);
    // The client's count after a call: stored, and the review items of the
    // day raised when a threshold is reached. Never throws: a count that
    // cannot be stored is logged, and the next call stores it again.
    void counted(std::int64_t count_today);

private:
    void alert_once(const std::string& day, std::int64_t used, const char* level);

    context ctx_;
    const config* cfg_;
    review_desk& desk_;
};

}  // namespace orderflow::daemon
