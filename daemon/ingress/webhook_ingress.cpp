// See webhook_ingress.hpp.
#include "daemon/ingress/webhook_ingress.hpp"

#include "common/log.hpp"
#include "daemon/config.hpp"
#include "daemon/events.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/rules_in_force.hpp"
#include "tikapi/http.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

namespace orderflow::daemon {

using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;

webhook_ingress::webhook_ingress(context ctx, const rules_in_force& in_force, const orderflow::secret& app_secret,
                                 inbox_writer& writer, std::function<void()> on_new_event)
    : ctx_(std::move(ctx)), in_force_(in_force), app_secret_(app_secret), writer_(writer), on_new_event_(std::move(on_new_event)) {}

// The inbox writer answers every event it was given before it stops, so
// nothing here waits on it any more; what the listener still holds (idle
// connections) ends with its io_context.
webhook_ingress::~webhook_ingress() {
    listener_io_.stop();
    if (listener_thread_.joinable()) listener_thread_.join();
    server_.reset();
}

void webhook_ingress::start() {
    const auto& cfg = in_force_.cfg();
    tikapi::server_options opts;
    opts.body_limit = cfg.webhook.max_body;
    opts.read_timeout = cfg.webhook.read_timeout;
    server_ = std::make_unique<tikapi::http_server>(listener_io_.get_executor(), cfg.webhook.listen.host, cfg.webhook.listen.port,
                                                    [this](http_request& req) { return handle(req); }, opts);
    server_->start();
    log::info("webhook_listening", {{"host", cfg.webhook.listen.host}, {"port", server_->port()}, {"path", cfg.webhook.path}});
    listener_thread_ = std::thread([this] { listener_io_.run(); });
}

void webhook_ingress::stop() {
    if (!server_) return;
    boost::asio::post(listener_io_, [this] { server_->stop(); });
}

std::uint16_t webhook_ingress::port() const { return server_ ? server_->port() : 0; }

webhook_verdict judge_webhook(const config& cfg, const orderflow::secret& app_secret, const http_request& req,
                              std::int64_t now) {
    webhook_verdict v;
    if (req.path() != cfg.webhook.path) {
        v.status = 404;
        return v;
    }
    if (req.method != "POST") {
        v.status = 405;
        return v;
    }
    if (!tikapi::verify_webhook_signature(cfg.tiktok.app_key, app_secret, req.body, req.header("Authorization"))) {
        v.status = 401;
        return v;
    }
    auto parsed = tikapi::parse_webhook(req.body);
    if (auto* problem = std::get_if<std::string>(&parsed)) {
        v.status = 400;
        v.problem = std::move(*problem);
        return v;
    }
    v.hook = std::move(std::get<tikapi::webhook_event>(parsed));
    if (!cfg.tiktok.shop_id.empty() && v.hook->shop_id != cfg.tiktok.shop_id) return v;
    v.event = inbox_event_from_webhook(*v.hook, req.body, now);
    return v;
}

boost::asio::awaitable<http_response> webhook_ingress::handle(http_request& req) {
    auto verdict = judge_webhook(in_force_.cfg(), app_secret_, req, ctx_.clock());
    switch (verdict.status) {
        case 404: co_return http_response::text(404, "not found\n");
        case 405: co_return http_response::text(405, "use POST\n");
        case 401:
            log::warn("webhook_rejected", {{"reason", "signature does not match"}, {"remote", req.remote}, {"bytes", req.body.size()}});
            co_return http_response{401, {}, {}};
        case 400:
            log::warn("webhook_malformed", {{"error", verdict.problem}, {"remote", req.remote}, {"bytes", req.body.size()}});
            co_return http_response::text(400, "malformed webhook: " + verdict.problem + "\n");
        default: break;
    }
    const auto& hook = *verdict.hook;
    if (!verdict.event) {
        log::warn("webhook_other_shop", {{"shop_id", hook.shop_id}, {"type", hook.type}});
        co_return http_response{200, {}, {}};
    }
    auto event = std::move(*verdict.event);
    json fields{{"type", hook.type}, {"topic", std::string(tikapi::topic_name(hook.type))}, {"rule_event", event.event},
                {"notification_id", hook.notification_id}, {"order_id", event.order_id}};
    // co_await only as a whole statement: GCC 12 miscompiles it inside
    // conditions and short-circuit operators.
    const write_outcome outcome = co_await writer_.enqueue(std::move(event));
    switch (outcome) {
        case write_outcome::inserted:
            log::info("webhook_received", std::move(fields));
            if (on_new_event_) boost::asio::dispatch(ctx_.ex, on_new_event_);   // at once when on the event loop
            co_return http_response{200, {}, {}};
        case write_outcome::duplicate:
            log::info("webhook_duplicate", std::move(fields));
            co_return http_response{200, {}, {}};
        case write_outcome::unavailable:
            break;
    }
    co_return http_response::text(503, "storage unavailable; retry later\n");
}

}  // namespace orderflow::daemon
