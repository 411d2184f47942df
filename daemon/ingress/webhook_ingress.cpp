// See webhook_ingress.hpp.
#include "daemon/ingress/webhook_ingress.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "daemon/config.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/detail/listen_error.hpp"
#include "daemon/events.hpp"
#include "daemon/ingress/forwarded_for.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/packages.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/security_watch.hpp"
#include "storage/idempotency.hpp"
#include "tikapi/http.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <limits>
#include <utility>

namespace orderflow::daemon {

using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;

namespace {

telemetry::counter& answered(const char* result) { return telemetry::count("orderflow_webhooks_total", {{"result", result}}); }

}  // namespace

webhook_ingress::webhook_ingress(context ctx, const rules_in_force& in_force, const orderflow::secret& app_secret,
                                 inbox_writer& writer, security_watch& security, std::function<void()> on_new_event)
    : ctx_(std::move(ctx)),
      in_force_(in_force),
      app_secret_(app_secret),
      writer_(writer),
      security_(security),
      on_new_event_(std::move(on_new_event)),
      counted_{answered("accepted"), answered("duplicate"), answered("rejected"), answered("malformed"),
               answered("unavailable"), answered("other_shop"), telemetry::timing("orderflow_webhook_ack_seconds")} {}

// The inbox writer answers every event it was given before it stops, so
// nothing here waits on it any more; what the listener still holds (idle
// connections) ends with its io_context.
webhook_ingress::~webhook_ingress() {
    listener_io_.stop();
    if (listener_thread_.joinable()) listener_thread_.join();
    // The listener's thread is gone: what the last second held back is told now.
    if (auto held = log_budget_.take_summary(std::numeric_limits<std::int64_t>::max())) log_summary(*held);
    server_.reset();
}

void webhook_ingress::start() {
    if (!hash_key_.empty()) storage::require_keyed(ctx_.db, "the webhook listener");
    const auto& cfg = in_force_.cfg();
    tikapi::server_options opts;
    opts.body_limit = cfg.webhook.max_body;
    opts.read_timeout = cfg.webhook.read_timeout;
    try {
        server_ = std::make_unique<tikapi::http_server>(listener_io_.get_executor(), cfg.webhook.listen.host, cfg.webhook.listen.port,
                                                        [this](http_request& req) { return handle(req); }, opts);
        server_->start();
    } catch (const std::system_error&) {
        detail::rethrow_listen_error("webhook.listen");
    }
    log::info("webhook_listening", {{"host", cfg.webhook.listen.host}, {"port", server_->port()}, {"path", cfg.webhook.path}});
    listener_thread_ = std::thread([this] {
        name_this_thread("of-webhooks");
        listener_io_.run();
    });
}

void webhook_ingress::stop() {
    if (!server_) return;
    boost::asio::post(listener_io_, [this] { server_->stop(); });
}

std::uint16_t webhook_ingress::port() const { return server_ ? server_->port() : 0; }

webhook_verdict judge_webhook(const config& cfg, const orderflow::secret& app_secret, const http_request& req,
                              std::int64_t now, std::span<const unsigned char> key) {
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
    if (v.hook->type == 4) {
        // One inbox row per (package, order) pair: bounded, as a real
        // package update names a handful.
        const std::size_t pairs = package_order_pairs(v.hook->data).size();
        if (pairs > max_package_pairs) {
            v.status = 400;
            v.problem = "a package update naming " + std::to_string(pairs) + " (package, order) pairs, more than the " +
                        std::to_string(max_package_pairs) + " orderflow takes in one webhook";
            v.hook.reset();
            return v;
        }
    }
    if (!cfg.tiktok.shop_id.empty() && v.hook->shop_id != cfg.tiktok.shop_id) return v;
    v.events = inbox_events_from_webhook(*v.hook, req.body, now, key);
    return v;
}

boost::asio::awaitable<http_response> webhook_ingress::handle(http_request& req) {
    const auto started = std::chrono::steady_clock::now();
    // Behind a trusted reverse proxy, the client it names; without the
    // setting nothing is read (forwarded_for.hpp).
    if (const auto& proxies = in_force_.cfg().webhook.trusted_proxies; !proxies.empty())
        use_forwarded_client(proxies, req, forwarded_reported_, "webhook.trusted_proxies");
    http_response r = co_await answer(req);
    if (r.status != 404 && r.status != 405)
        counted_.ack.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    co_return r;
}

boost::asio::awaitable<http_response> webhook_ingress::answer(http_request& req) {
    auto verdict = judge_webhook(in_force_.cfg(), app_secret_, req, ctx_.clock(), key_bytes(hash_key_));
    switch (verdict.status) {
        case 404: co_return http_response::text(404, "not found\n");
        case 405: co_return http_response::text(405, "use POST\n");
        case 401:
            if (refusal_gets_line(false))
                log::warn("webhook_rejected", {{"reason", "signature does not match"}, {"remote", req.remote}, {"bytes", req.body.size()}});
            counted_.rejected.add();
            security_.refused("webhook_signature", req.remote);
            co_return http_response{401, {}, {}};
        case 400:
            if (refusal_gets_line(true))
                log::warn("webhook_malformed", {{"error", verdict.problem}, {"remote", req.remote}, {"bytes", req.body.size()}});
            counted_.malformed.add();
            co_return http_response::text(400, "malformed webhook: " + verdict.problem + "\n");
        default: break;
    }
    const auto& hook = *verdict.hook;
    if (verdict.events.empty()) {
        log::warn("webhook_other_shop", {{"shop_id", hook.shop_id}, {"type", hook.type}});
        counted_.other_shop.add();
        security_.refused("other_shop", req.remote, "shop " + hook.shop_id);
        co_return http_response{200, {}, {}};
    }
    // co_await only as a whole statement: GCC 12 miscompiles it inside
    // conditions and short-circuit operators.
    // The log names the first row's order (a package update may name several).
    std::string rule_event = verdict.events.front().event, order_id = verdict.events.front().order_id;
    const write_outcome outcome = co_await writer_.enqueue_all(std::move(verdict.events));
    const auto here = co_await boost::asio::this_coro::executor;   // where a delayed wake-up's timer runs
    switch (outcome) {
        case write_outcome::inserted:
            counted_.accepted.add();
            log_accepted(hook, rule_event, order_id, false);
            wake_pipeline(here);
            co_return http_response{200, {}, {}};
        case write_outcome::duplicate:
            counted_.duplicate.add();
            log_accepted(hook, rule_event, order_id, true);
            co_return http_response{200, {}, {}};
        case write_outcome::unavailable:
            break;
    }
    counted_.unavailable.add();
    co_return http_response::text(503, "storage unavailable; retry later\n");
}

// The flag is cleared before the pipeline is woken, and set by a webhook
// only after its commit: a webhook that finds it set is committed before
// the wake-up on its way runs, so the pass that follows reads it.
//
// A wake-up goes at once when the last went at least wake_interval ago, and
// otherwise when the interval is over (a timer on the listener's own
// executor, `here`): in a burst the inbox writer commits a thousand times a
// second or more, and each wake-up cost the listener a post to the event
// loop and the system call that interrupts its epoll_wait, 15% of the
// listener's time (bench/ingest-history.md, "Fifth round"). The pipeline reads
// every event committed up to its pass, so a later wake-up loses nothing;
// an event waits at most wake_interval longer.
void webhook_ingress::wake_pipeline(const boost::asio::any_io_executor& here) {
    constexpr auto wake_interval = std::chrono::milliseconds(5);
    if (!on_new_event_ || wake_->queued.exchange(true, std::memory_order_acq_rel)) return;
    auto send = [state = wake_, wake = on_new_event_, loop = ctx_.ex] {
        state->last = std::chrono::steady_clock::now();
        // At once when on the event loop (tests run the listener there).
        boost::asio::dispatch(loop, [state, wake] {
            state->queued.store(false, std::memory_order_release);
            wake();
        });
    };
    const auto due = wake_->last + wake_interval;
    if (std::chrono::steady_clock::now() >= due) {
        send();
        return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(here, due);
    timer->async_wait([timer, send](const boost::system::error_code&) { send(); });
}

void webhook_log_budget::roll(std::int64_t second) {
    if (second == second_) return;
    second_ = second;
    logged_ = 0;
    refusals_logged_ = 0;
}

bool webhook_log_budget::admit(std::int64_t now_ms, bool duplicate) {
    const std::int64_t second = now_ms / 1000;
    roll(second);
    if (logged_ < per_second_) {
        ++logged_;
        return true;
    }
    if (held_.total() == 0) held_.second = second;
    ++(duplicate ? held_.duplicate : held_.received);
    return false;
}

bool webhook_log_budget::admit_refusal(std::int64_t now_ms, bool malformed) {
    const std::int64_t second = now_ms / 1000;
    roll(second);
    if (refusals_logged_ < refusals_per_second_) {
        ++refusals_logged_;
        return true;
    }
    if (held_.total() == 0) held_.second = second;
    ++(malformed ? held_.malformed : held_.rejected);
    return false;
}

std::optional<webhook_log_budget::held_back> webhook_log_budget::take_summary(std::int64_t now_ms) {
    if (held_.total() == 0 || held_.second >= now_ms / 1000) return std::nullopt;
    return std::exchange(held_, held_back{});
}

namespace {

std::int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// On the listener's thread (handle() runs there in the daemon).
void webhook_ingress::log_accepted(const tikapi::webhook_event& hook, const std::string& rule_event, const std::string& order_id,
                                   bool duplicate) {
    const char* name = duplicate ? "webhook_duplicate" : "webhook_received";
    const auto level = log::threshold().load();
    if (level > log::level::info) return;
    if (level == log::level::info && !log_budget_.admit(wall_ms(), duplicate)) {
        schedule_summary();
        return;
    }
    log::info(name, {{"type", hook.type}, {"topic", std::string(tikapi::topic_name(hook.type))}, {"rule_event", rule_event},
                     {"notification_id", hook.notification_id}, {"order_id", order_id}});
}

// The summary of a second is written just after it ends, by a timer on the
// listener's io_context (so a burst's last second is told even if nothing
// follows it).
void webhook_ingress::schedule_summary() {
    if (summary_due_) return;
    summary_due_ = true;
    summary_timer_.expires_after(std::chrono::milliseconds(1000 - wall_ms() % 1000 + 1));
    summary_timer_.async_wait([this](boost::system::error_code ec) {
        summary_due_ = false;
        if (ec) return;
        if (auto held = log_budget_.take_summary(wall_ms())) log_summary(*held);
    });
}

bool webhook_ingress::refusal_gets_line(bool malformed) {
    if (log::threshold().load() <= log::level::debug) return true;
    if (log_budget_.admit_refusal(wall_ms(), malformed)) return true;
    schedule_summary();
    return false;
}

// With refusals in it the summary is a warning, as their own lines are.
void webhook_ingress::log_summary(const webhook_log_budget::held_back& held) {
    if (held.rejected + held.malformed == 0) {
        log::info("webhooks_summary", {{"received", held.received}, {"duplicate", held.duplicate}, {"second", held.second},
                                       {"why", "more webhooks in that second than get a line each; all are in the inbox"}});
        return;
    }
    log::warn("webhooks_summary",
              {{"received", held.received}, {"duplicate", held.duplicate}, {"rejected", held.rejected}, {"malformed", held.malformed},
               {"second", held.second},
               {"why", "more webhooks in that second than get a line each; the accepted are in the inbox, the refused were "
                       "answered 401 (rejected) or 400 (malformed) and stored nowhere"}});
}

}  // namespace orderflow::daemon
