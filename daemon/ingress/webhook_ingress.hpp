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
#include "storage/store.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace orderflow::tikapi {
class http_server;
struct http_request;
struct http_response;
}

namespace orderflow::daemon {

class inbox_writer;
class rules_in_force;
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
    std::optional<storage::new_event> event;     // set when the webhook is to be committed
};
webhook_verdict judge_webhook(const config& cfg, const orderflow::secret& app_secret, const tikapi::http_request& req,
                              std::int64_t now);

class webhook_ingress {
public:
    // on_new_event: called after an event was committed (wakes the pipeline).
    webhook_ingress(context ctx, const rules_in_force& in_force, const orderflow::secret& app_secret, inbox_writer& writer,
                    std::function<void()> on_new_event);
    ~webhook_ingress();

    // Binds webhook.listen (throws std::system_error naming the address)
    // and starts the listener's thread.
    void start();
    void stop();    // stops accepting; callable from any thread
    std::uint16_t port() const;

    // One request, as the listener hands it over (public for tests); runs
    // on any executor, and wakes the pipeline through ctx.ex.
    boost::asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req);

private:
    context ctx_;
    const rules_in_force& in_force_;
    const orderflow::secret& app_secret_;
    inbox_writer& writer_;
    std::function<void()> on_new_event_;
    // Declared before the server, so the server goes first; the thread is
    // joined in the destructor before either.
    boost::asio::io_context listener_io_{1};
    std::unique_ptr<tikapi::http_server> server_;
    std::thread listener_thread_;
};

}  // namespace orderflow::daemon
