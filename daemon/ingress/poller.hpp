// The poller: the backstop for lost webhooks. Every poll.interval it reads
// Search Orders by update_time from its cursor minus poll.overlap, and the
// buyer conversations for messages newer than the message cursor minus the
// overlap. What it finds goes into the inbox with the change key a webhook
// would have, so a change seen by both is one event. Cursors (daemon_state
// "poll.orders", "poll.messages") advance to the start of a pass that read
// every page; on the very first start they begin at poll.start ("now" by
// default), so the shop's history is not messaged. Cancellations and returns
// are searched the same way (after_sales_poll.cpp; cursors
// "poll.cancellations", "poll.returns").
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class inbox_writer;
class rules_in_force;
class storage_watch;
class supervisor;
class token_keeper;

// Customer-service calls count against 10,000 a day (45101004); status shows
// the day's count (daemon_state "cs_calls"). Throws storage_error.
void record_cs_calls(const context& ctx, const tikapi::client& api);

class poller {
public:
    poller(context ctx, const rules_in_force& in_force, tikapi::client& api, token_keeper& tokens, inbox_writer& writer,
           storage_watch& watch, supervisor& sup, std::function<void()> on_new_events);

    boost::asio::awaitable<void> loop();   // supervised as "poller"
    void stop();
    // The key buyer forget hashed ids with (daemon/data_rights.hpp): a
    // change about a forgotten buyer made before the forget (read again
    // within the overlap, or by a database restored from an older backup),
    // and with privacy.suppress_forgotten every change about them, is not
    // stored (storage::forgotten_change), only counted in poll_done.
    void set_forget_key(orderflow::secret key) { forget_key_ = std::move(key); }
    void wake() { wake_.notify(); }

    // One pass over orders / conversations (public for tests). True when
    // TikTok said the token expired (the caller refreshes it).
    boost::asio::awaitable<bool> poll_orders(const orderflow::secret& token);
    boost::asio::awaitable<bool> poll_messages(const orderflow::secret& token);
    // After-sales passes (after_sales_poll.cpp): cancellations and returns.
    boost::asio::awaitable<bool> poll_cancellations(const orderflow::secret& token);
    boost::asio::awaitable<bool> poll_returns(const orderflow::secret& token);

private:
    std::int64_t poll_from(const char* name);
    int add_polled(const std::vector<storage::new_event>& events);
    bool forgotten(std::string_view buyer_user_id, std::string_view order_id, std::string_view conversation_id,
                   std::int64_t changed);

    context ctx_;
    const rules_in_force& in_force_;
    tikapi::client& api_;
    token_keeper& tokens_;
    inbox_writer& writer_;
    storage_watch& watch_;
    supervisor& sup_;
    std::function<void()> on_new_events_;
    detail::wakeup wake_;
    std::map<std::string, std::string> polled_latest_;   // conversation id -> latest message id already read
    bool cs_paused_ = false;   // conversation polling waits for the customer-service quota (logged once)
    std::optional<bool> polled_before_;   // poll.orders existed when this process first polled
    orderflow::secret forget_key_;
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
