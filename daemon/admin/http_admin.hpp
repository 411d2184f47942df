// The TCP admin listener (admin.listen): one HTTP server for everything that
// is not a webhook.
//
//   POST /v1/tracking    the warehouse's tracking feed (ingress/tracking_feed.hpp)
//   GET  /metrics        Prometheus text: counters and histograms
//                        (telemetry.hpp) and the gauges read from the database
//   GET  /healthz        200 "ok" while the process answers
//   GET  /readyz         200 when every check passes, 503 naming the ones that fail:
//                        database writable, rules in force, shop authorized,
//                        the tracking drop folder usable (with tracking.feed_dir),
//                        every loop made progress recently
//   /console/...         the staff console (console.hpp), with its own logins
//
// Every other path needs "Authorization: Bearer <admin.token_file>", except the
// three read-only ones above when admin.open_metrics is set (the config allows
// that only on a loopback address). A wrong or missing token is answered 401,
// logged (`admin_http_rejected`) and counted towards a security alert
// (security_watch.hpp). docs/operations.md, "Metrics and health", has the
// scrape config and alert rules.
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::tikapi {
class http_server;
struct http_request;
struct http_response;
}

namespace orderflow::daemon {

class console;
class rules_in_force;
class security_watch;
class tracking_feed;

// True when an Authorization header carries exactly this bearer token. The
// comparison takes the same time whatever the lengths and contents.
bool bearer_matches(std::string_view authorization, const orderflow::secret& token);

// One readiness check's answer.
struct readiness_check {
    std::string name;   // database, rules, authorized, tracking_feed, loops
    bool ok = false;
    std::string detail;
};

class http_admin {
public:
    // What the listener reads from the rest of the runtime, as functions so
    // that it depends on no component it does not own.
    struct sources {
        std::function<std::vector<readiness_check>()> readiness;
        std::function<std::string()> metrics;   // the whole /metrics body
    };

    http_admin(context ctx, const rules_in_force& in_force, tracking_feed& feed, security_watch& security, console& ui, sources from);
    ~http_admin();

    // Binds admin.listen when configured (reads admin.token_file; throws
    // naming the file or the address). Nothing happens without admin.listen.
    void start();
    std::uint16_t port() const;   // 0 when there is no listener
    void stop();

    // One request (public for tests).
    boost::asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req);

private:
    context ctx_;
    const rules_in_force& in_force_;
    tracking_feed& feed_;
    security_watch& security_;
    console& console_;
    sources from_;
    orderflow::secret token_;
    // Whether a malformed X-Forwarded-For from a trusted proxy was logged (once).
    std::atomic<bool> forwarded_reported_{false};
    std::unique_ptr<tikapi::http_server> server_;
};

}  // namespace orderflow::daemon
