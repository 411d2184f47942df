// TikTok's webhooks in: the listener (webhook.listen), the signature check,
// parsing, and the inbox commit before the answer. 200 only once the event
// is committed (or was already in: a redelivery); 401 for a bad signature,
// 400 for a body that is not a webhook, 503 when storage cannot take it, so
// TikTok retries (docs/architecture.md, "Ingress").
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>

namespace orderflow::tikapi {
class http_server;
struct http_request;
struct http_response;
}

namespace orderflow::daemon {

class inbox_writer;
class rules_in_force;

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
