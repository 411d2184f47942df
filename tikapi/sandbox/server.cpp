// The sandbox's socket side (see server.hpp): the HTTP listener that hands
// every request to shop::handle, and the webhook delivery coroutine.
//
// Delivery: one coroutine takes the due notification that was queued first,
// POSTs it with its Authorization signature and waits for the answer (3 s
// deadline), then records the attempt; the shop schedules retries. When
// nothing is due it sleeps on a timer until the next retry is due or the shop
// reports a new notification (the timer is cancelled), so nothing polls.
//
// Time: a second coroutine calls shop::advance() when the shop's next timed
// change is due (end of ON_HOLD, auto_advance, load mode), at least once a
// second, and is woken early when the shop reports an earlier one.
//
// Faults: a response the shop marks `drop` is never written (http_server
// closes the connection); a "slow" one is held back on a timer first. Those
// timers are cancelled by stop(), so a slow answer never delays shutdown.
#include "tikapi/sandbox/server.hpp"

#include "common/log.hpp"
#include "tikapi/sandbox/detail/util.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace orderflow::sandbox {

namespace asio = boost::asio;
using std::chrono::steady_clock;

namespace {

// The slow answers waiting on their timer, so that stop() can cut them short.
struct delays {
    std::set<asio::steady_timer*> timers;
    bool stopped = false;
};

asio::awaitable<tikapi::http_response> respond(shop* s, std::shared_ptr<delays> pending, tikapi::http_request& request) {
    served answer = s->serve(request);
    if (answer.delay.count() > 0 && !pending->stopped) {
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor, answer.delay);
        pending->timers.insert(&timer);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        pending->timers.erase(&timer);
    }
    co_return std::move(answer.response);
}

}  // namespace

struct server::impl {
    impl(asio::any_io_executor executor, shop& s, const std::string& host, std::uint16_t port,
         tikapi::server_options options)
        : ex(executor),
          the_shop(s),
          pending(std::make_shared<delays>()),
          http(executor, host, port,
               [s = &s, p = pending](tikapi::http_request& r) { return respond(s, p, r); }, std::move(options)),
          wake(executor),
          tick(executor) {}

    asio::any_io_executor ex;
    shop& the_shop;
    std::shared_ptr<delays> pending;
    tikapi::http_server http;
    asio::steady_timer wake;
    asio::steady_timer tick;
    bool started = false;
    bool stopped = false;

    static asio::awaitable<void> deliver_loop(std::shared_ptr<impl> self);
    static asio::awaitable<void> time_loop(std::shared_ptr<impl> self);
};

asio::awaitable<void> server::impl::time_loop(std::shared_ptr<impl> self) {
    while (!self->stopped) {
        self->the_shop.advance();
        auto wait = std::chrono::milliseconds(1000);
        if (auto next = self->the_shop.next_timer_ms()) {
            const auto until = *next - self->the_shop.now_ms();
            wait = std::chrono::milliseconds(std::clamp<std::int64_t>(until, 1, 1000));
        }
        self->tick.expires_after(wait);
        co_await self->tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> server::impl::deliver_loop(std::shared_ptr<impl> self) {
    tikapi::http_client client(self->ex);
    while (!self->stopped) {
        delivery::time_point next_due;
        auto seq = self->the_shop.next_delivery(steady_clock::now(), next_due);
        if (!seq) {
            self->wake.expires_at(next_due);
            co_await self->wake.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        // Copy what we need: the shop's delivery list may grow while we wait.
        const delivery& d = *self->the_shop.find_delivery(*seq);
        const std::string notification_id = d.notification_id;
        const int type = d.type;
        tikapi::url target = *self->the_shop.webhook_target();
        tikapi::http_request request;
        request.method = "POST";
        request.target = target.base_path.empty() ? "/" : target.base_path;
        target.base_path.clear();
        request.headers = {{"Content-Type", "application/json"}, {"Authorization", d.signature}};
        request.body = d.body;

        auto answer = co_await client.send(target, std::move(request), webhook_timeout);
        if (self->stopped) break;
        int status = 0;
        std::string error;
        if (answer) {
            status = answer.value().status;
            if (status != 200) error = "HTTP " + std::to_string(status);
        } else {
            error = answer.error().describe();
        }
        self->the_shop.record_attempt(*seq, status, error, steady_clock::now());

        const delivery& after = *self->the_shop.find_delivery(*seq);
        nlohmann::json fields = {{"notification_id", notification_id},
                                 {"type", type},
                                 {"attempts", after.attempts},
                                 {"http_status", status}};
        if (after.delivered) {
            log::info("sandbox_webhook_delivered", fields);
        } else if (after.gave_up) {
            fields["error"] = error;
            log::warn("sandbox_webhook_gave_up", fields);
        } else {
            fields["error"] = error;
            fields["retry_in_ms"] =
                std::chrono::duration_cast<std::chrono::milliseconds>(after.due - steady_clock::now()).count();
            log::warn("sandbox_webhook_failed", fields);
        }
    }
}

server::server(asio::any_io_executor ex, shop& shop, const std::string& host, std::uint16_t port,
               const std::string& tls_cert, const std::string& tls_key) {
    if (!detail::is_loopback_host(host))
        throw std::invalid_argument("the sandbox listens on loopback only (127.0.0.1, ::1, localhost), not '" + host +
                                    "'");
    tikapi::server_options options;
    options.tls_cert_file = tls_cert;
    options.tls_key_file = tls_key;
    impl_ = std::make_shared<impl>(ex, shop, host, port, std::move(options));
}

server::~server() { stop(); }

std::uint16_t server::port() const { return impl_->http.port(); }

void server::start() {
    if (impl_->started) return;
    impl_->started = true;
    impl_->http.start();
    std::weak_ptr<impl> weak = impl_;
    impl_->the_shop.on_webhook_queued([weak] {
        if (auto self = weak.lock()) self->wake.cancel();
    });
    impl_->the_shop.on_timers_changed([weak] {
        if (auto self = weak.lock()) self->tick.cancel();
    });
    asio::co_spawn(impl_->ex, impl::deliver_loop(impl_), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("sandbox_webhook_loop_failed", {{"error", ex.what()}});
        }
    });
    asio::co_spawn(impl_->ex, impl::time_loop(impl_), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("sandbox_time_loop_failed", {{"error", ex.what()}});
        }
    });
}

void server::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    impl_->the_shop.on_webhook_queued(nullptr);
    impl_->the_shop.on_timers_changed(nullptr);
    impl_->wake.cancel();
    impl_->tick.cancel();
    impl_->pending->stopped = true;
    for (auto* timer : impl_->pending->timers) timer->cancel();
    impl_->http.stop();
}

}  // namespace orderflow::sandbox
