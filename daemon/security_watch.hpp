// Bursts of refused credentials become security review items. Every door
// that checks a credential tells this watch when it refuses one: a webhook
// whose signature does not match, a wrong admin bearer token, a failed
// console login, a webhook for another shop. Each refusal is counted
// (orderflow_security_failures_total); when `threshold` refusals at one door
// fall within `window`, one review item with reason "security" is raised for
// the burst, with the count and the source addresses, and staff are notified
// like for any other item. At most one item per door per `quiet`: a long
// attack is one item, not thousands (docs/operations.md, "Security alerts").
#pragma once

#include "daemon/context.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace orderflow::daemon {

class review_desk;

class security_watch {
public:
    struct options {
        int threshold = 10;
        std::chrono::seconds window{60};
        std::chrono::seconds quiet{900};
    };

    security_watch(context ctx, review_desk& desk, options opts);
    security_watch(context ctx, review_desk& desk) : security_watch(std::move(ctx), desk, options{}) {}

    // Safe from any thread (the webhook listener has its own). door:
    // webhook_signature, admin_token, console_login or other_shop; remote:
    // "address:port" as the HTTP server gives it, or the bare address of
    // the client a trusted proxy named (ingress/forwarded_for.hpp), counted
    // by address either way; detail: what was refused,
    // never the credential itself (a shop id, an account name).
    void refused(std::string_view door, std::string_view remote, std::string_view detail = {});

private:
    struct door_state {
        std::deque<std::int64_t> times;            // refusals within the window, unix ms
        std::map<std::string, int> sources;        // address -> refusals since the last alert
        std::map<std::string, int> details;
        std::int64_t last_alert_ms = 0;
        std::int64_t first_ms = 0;                 // of the refusals counted since the last alert
    };
    void raise(const std::string& door, int count, std::int64_t first_ms, std::int64_t last_ms,
               std::map<std::string, int> sources, std::map<std::string, int> details);

    context ctx_;
    review_desk& desk_;
    options opts_;
    std::mutex mutex_;
    std::map<std::string, door_state, std::less<>> doors_;
};

}  // namespace orderflow::daemon
