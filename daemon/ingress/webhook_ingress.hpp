// TikTok's webhooks in: the listener (webhook.listen), the signature check,
// parsing, and the inbox commit before the answer. 200 only once the event
// is committed (or was already in: a redelivery); 401 for a bad signature,
// 400 for a body that is not a webhook, 503 when storage cannot take it, so
// TikTok retries (docs/architecture.md, "Ingress").
//
// The listener runs on a thread of its own, and the commit on the inbox
// writer's: reading, verifying and parsing requests never waits for the
// event loop's work or for the disk. What handle() reads of the settings
// (webhook.*, tiktok.app_key, tiktok.shop_id) changes only with a restart,
// so a reload on the event loop never touches it.
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "daemon/telemetry.hpp"
#include "storage/store.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace orderflow::tikapi {
class http_server;
struct http_request;
struct http_response;
}

namespace orderflow::daemon {

class inbox_writer;
class rules_in_force;
class security_watch;
struct config;

// What one request to the webhook listener comes to before storage, decided
// from the request alone (pure: no I/O, no log; the fuzz harness drives it).
// Only a request whose signature verifies is parsed, and only a parsed
// webhook for this shop becomes an event.
struct webhook_verdict {
    // 404 wrong path, 405 not POST, 401 bad signature, 400 malformed,
    // 200 accepted (an event) or ignored (another shop's: no event).
    int status = 200;
    std::string problem;                         // 400: what is wrong with the body
    std::optional<tikapi::webhook_event> hook;   // set once the body parsed
    // The inbox rows when the webhook is to be committed (empty otherwise):
    // one, or one per (package, order) pair of a package update.
    std::vector<storage::new_event> events;
};
// key: what "h:" keys are hashed with (daemon/events.hpp).
webhook_verdict judge_webhook(const config& cfg, const orderflow::secret& app_secret, const tikapi::http_request& req,
                              std::int64_t now, std::span<const unsigned char> key = {});

// How many webhooks get a line of their own (webhook_received,
// webhook_duplicate): the first `per_second` of each second; the rest are
// counted and told in one webhooks_summary line when their second is over.
// A burst of thousands a second (a flash sale, TikTok redelivering after an
// outage) would otherwise write a line each, which costs the listener about a
// fifth of its rate and is more than journald keeps (by default 10,000 lines
// per 30 s per service, the rest dropped). Every webhook is in the inbox
// whether or not it got a line. Pure (the caller passes the time); used on
// the listener's thread only.
//
// Refused webhooks (a bad signature, a malformed body) have a budget of their
// own, `refusals_per_second` lines, so that whoever can reach the URL cannot
// flood the journal (and make journald drop the daemon's other lines) with
// requests that need no secret; the rest are counted in the same summary.
class webhook_log_budget {
public:
    explicit webhook_log_budget(int per_second, int refusals_per_second = 5)
        : per_second_(per_second), refusals_per_second_(refusals_per_second) {}

    // What is held back from a second that is over, to be told in one line.
    struct held_back {
        std::int64_t second = 0;   // the second (now_ms / 1000) the first of them arrived in
        long received = 0;
        long duplicate = 0;
        long rejected = 0;    // bad signature (401)
        long malformed = 0;   // malformed body (400)
        long total() const { return received + duplicate + rejected + malformed; }
    };
    // A webhook arrived at now_ms: true when it gets its own line. Otherwise
    // it is counted (duplicate: a redelivery) for the summary.
    bool admit(std::int64_t now_ms, bool duplicate);
    // A webhook was refused at now_ms (malformed, or its signature did not
    // match): true when it gets its own line; otherwise counted.
    bool admit_refusal(std::int64_t now_ms, bool malformed);
    // The counts of an earlier second than now_ms's, once (then forgotten);
    // nothing while the second is still running or nothing was held back.
    std::optional<held_back> take_summary(std::int64_t now_ms);

private:
    void roll(std::int64_t second);

    int per_second_;
    int refusals_per_second_;
    std::int64_t second_ = -1;
    int logged_ = 0;
    int refusals_logged_ = 0;
    held_back held_;
};

class webhook_ingress {
public:
    // on_new_event: called after an event was committed (wakes the pipeline).
    // security: told of every bad signature and every webhook for another shop.
    webhook_ingress(context ctx, const rules_in_force& in_force, const orderflow::secret& app_secret, inbox_writer& writer,
                    security_watch& security, std::function<void()> on_new_event);
    ~webhook_ingress();

    // Binds webhook.listen (throws std::system_error naming the address)
    // and starts the listener's thread.
    void start();
    void stop();    // stops accepting; callable from any thread
    std::uint16_t port() const;
    // The key a webhook without a notification id is named with
    // (storage/idempotency.hpp). Set before start().
    void set_hash_key(orderflow::secret key) { hash_key_ = std::move(key); }

    // One request, as the listener hands it over (public for tests); runs
    // on any executor, and wakes the pipeline through ctx.ex.
    boost::asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req);

private:
    boost::asio::awaitable<tikapi::http_response> answer(tikapi::http_request& req);
    void wake_pipeline(const boost::asio::any_io_executor& here);

    context ctx_;
    const rules_in_force& in_force_;
    const orderflow::secret& app_secret_;
    orderflow::secret hash_key_;
    inbox_writer& writer_;
    security_watch& security_;
    std::function<void()> on_new_event_;
    // A wake-up on its way to the event loop: the webhooks committed before
    // it runs need no other (one cross-thread post per burst, not one per
    // webhook; each post wakes the event loop's thread). At most one is sent
    // per wake_interval (webhook_ingress.cpp); `last` is when the latest
    // went, touched on the listener's thread only.
    struct wake_state {
        std::atomic<bool> queued{false};
        std::chrono::steady_clock::time_point last{};
    };
    std::shared_ptr<wake_state> wake_ = std::make_shared<wake_state>();
    // The answers by result, and their latency (telemetry.hpp).
    struct counted {
        telemetry::counter &accepted, &duplicate, &rejected, &malformed, &unavailable, &other_shop;
        telemetry::histogram& ack;
    } counted_;
    // Declared before the server, so the server goes first; the thread is
    // joined in the destructor before either.
    boost::asio::io_context listener_io_{1};
    std::unique_ptr<tikapi::http_server> server_;
    webhook_log_budget log_budget_{20};
    // Whether a malformed X-Forwarded-For from a trusted proxy was logged (once).
    std::atomic<bool> forwarded_reported_{false};
    boost::asio::steady_timer summary_timer_{listener_io_};
    bool summary_due_ = false;
    std::thread listener_thread_;

    void log_accepted(const tikapi::webhook_event& hook, const std::string& rule_event, const std::string& order_id, bool duplicate);
    void schedule_summary();
    static void log_summary(const webhook_log_budget::held_back& held);
    // Whether a refused webhook gets its own warn line (at log level debug
    // always; otherwise within the refusals' budget, the rest summarised).
    bool refusal_gets_line(bool malformed);
};

}  // namespace orderflow::daemon
