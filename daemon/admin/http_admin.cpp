// See http_admin.hpp.
#include "daemon/admin/http_admin.hpp"

#include "common/log.hpp"
#include "daemon/admin/console.hpp"
#include "daemon/detail/listen_error.hpp"
#include "daemon/ingress/forwarded_for.hpp"
#include "daemon/ingress/tracking_feed.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/security_watch.hpp"
#include "tikapi/http.hpp"
#include "tikapi/signing.hpp"

#include <nlohmann/json.hpp>

namespace orderflow::daemon {

using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;

bool bearer_matches(std::string_view authorization, const orderflow::secret& token) {
    constexpr std::string_view bearer = "Bearer ";
    if (token.empty() || authorization.size() <= bearer.size() || authorization.substr(0, bearer.size()) != bearer) return false;
    // Hashed first, so the comparison takes the same time whatever the lengths.
    return tikapi::signature_equals(tikapi::hmac_sha256_hex("orderflow-admin", token.reveal()),
                                    tikapi::hmac_sha256_hex("orderflow-admin", authorization.substr(bearer.size())));
}

http_admin::http_admin(context ctx, const rules_in_force& in_force, tracking_feed& feed, security_watch& security, console& ui,
                       sources from)
    : ctx_(std::move(ctx)), in_force_(in_force), feed_(feed), security_(security), console_(ui), from_(std::move(from)) {}

http_admin::~http_admin() = default;

void http_admin::start() {
    const auto& cfg = in_force_.cfg();
    if (!cfg.admin.listen) return;
    token_ = read_secret_file(cfg.admin.token_file);
    tikapi::server_options opts;
    opts.body_limit = 16 * 1024;
    try {
        server_ = std::make_unique<tikapi::http_server>(ctx_.ex, cfg.admin.listen->host, cfg.admin.listen->port,
                                                        [this](http_request& req) { return handle(req); }, opts);
        server_->start();
    } catch (const std::system_error&) {
        detail::rethrow_listen_error("admin.listen");
    }
    log::info("admin_http_listening", {{"host", cfg.admin.listen->host}, {"port", server_->port()},
                                       {"paths", {"POST /v1/tracking", "GET /metrics", "GET /healthz", "GET /readyz", "/console"}},
                                       {"open_metrics", cfg.admin.open_metrics}});
}

std::uint16_t http_admin::port() const { return server_ ? server_->port() : 0; }

void http_admin::stop() {
    if (server_) server_->stop();
}

boost::asio::awaitable<http_response> http_admin::handle(http_request& req) {
    // Behind a trusted reverse proxy, the client it names, for everything
    // below (logs, security alerts, the console's per-address login limit).
    if (const auto& proxies = in_force_.cfg().admin.trusted_proxies; !proxies.empty())
        use_forwarded_client(proxies, req, forwarded_reported_, "admin.trusted_proxies");
    const std::string path = req.path();
    // The console checks its own logins; a browser never holds the bearer token.
    if (console::serves(path)) co_return co_await console_.handle(req);
    // Every browser asks for one; a refusal here would count towards a security alert.
    if (path == "/favicon.ico") co_return http_response::text(404, "no icon\n");
    const bool read_only = path == "/metrics" || path == "/healthz" || path == "/readyz";
    if (!(read_only && in_force_.cfg().admin.open_metrics)) {
        const auto auth = req.header("Authorization");
        if (!bearer_matches(auth, token_)) {
            log::warn("admin_http_rejected", {{"remote", req.remote}, {"path", path},
                                              {"reason", auth.empty() ? "no bearer token" : "wrong bearer token"}});
            security_.refused("admin_token", req.remote, path);
            co_return http_response::json(401, json{{"error", "missing or wrong bearer token (admin.token_file)"}}.dump());
        }
    }
    if (path == "/v1/tracking") co_return co_await feed_.handle(req);
    if (!read_only)
        co_return http_response::json(404, json{{"error", "no such endpoint: POST /v1/tracking, GET /metrics, /healthz, /readyz, /console"}}.dump());
    if (req.method != "GET" && req.method != "HEAD") co_return http_response::json(405, json{{"error", "use GET"}}.dump());
    if (path == "/healthz") co_return http_response::text(200, "ok\n");
    if (path == "/metrics") co_return http_response{200, {{"content-type", "text/plain; version=0.0.4; charset=utf-8"}}, from_.metrics()};
    // /readyz: every check, each on a line; 503 when one fails.
    bool ready = true;
    std::string body;
    for (const auto& c : from_.readiness()) {
        ready = ready && c.ok;
        body += (c.ok ? "ok   " : "FAIL ") + c.name + ": " + c.detail + "\n";
    }
    co_return http_response::text(ready ? 200 : 503, (ready ? "ready\n" : "not ready\n") + body);
}

}  // namespace orderflow::daemon
