// TikTok's webhooks in: the listener (webhook.listen), the signature check,
// parsing, and the inbox commit before the answer. 200 only once the event
// is committed (or was already in: a redelivery); 401 for a bad signature,
// 400 for a body that is not a webhook, 503 when storage cannot take it, so
// TikTok retries (docs/architecture.md, "Ingress").
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "storage/store.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

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

    void start();   // binds webhook.listen; throws std::system_error naming the address
    void stop();    // stops accepting
    std::uint16_t port() const;

    // One request, as the listener hands it over (public for tests).
    boost::asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req);

private:
    context ctx_;
    const rules_in_force& in_force_;
    const orderflow::secret& app_secret_;
    inbox_writer& writer_;
    std::function<void()> on_new_event_;
    std::unique_ptr<tikapi::http_server> server_;
};

}  // namespace orderflow::daemon
