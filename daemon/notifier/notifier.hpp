// Staff notifications: a durable outbox of their own, queued in the
// transaction that opens a review item (review_desk), delivered by this loop
// to each channel (chat incoming webhook, signed JSON webhook, or a command
// with the notification on stdin), retried with backoff until the channel
// takes it. Review alerts go to a channel at most once per digest_interval,
// what gathered meanwhile as one digest, so a storm is one message. Once a
// day at notify.heartbeat (shop time) every channel that takes heartbeats
// gets a summary. What each message says is the pure notify.hpp. A message
// delivered whose outcome the database refused (locked, full) is remembered
// and recorded first once it takes writes again, so it is not delivered twice.
#pragma once

#include "daemon/context.hpp"
#include "daemon/detail/trouble.hpp"
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace orderflow::tikapi {
class http_client;
}

namespace orderflow::daemon {

class rules_in_force;
class supervisor;

class notifier {
public:
    // commands: where command channels run (off the event loop: a slow mail
    // bridge must not delay webhook answers). sending_paused: for the heartbeat.
    notifier(context ctx, const rules_in_force& in_force, supervisor& sup, boost::asio::any_io_executor commands,
             std::function<bool()> sending_paused);
    ~notifier();

    boost::asio::awaitable<void> loop();   // supervised as "notifier"
    void wake() { wake_.notify(); }
    void stop();

    // One message to one channel: a single notification as it is, several
    // review alerts as one digest; all rows share the outcome. Returns the
    // storage error when the outcome could not be recorded ("" when it was).
    boost::asio::awaitable<std::string> deliver(const std::vector<storage::notification_row>& rows);

private:
    // A delivery's outcome the database refused to record.
    struct unrecorded {
        std::vector<storage::notification_row> rows;
        std::string error;   // "" when delivered
        std::int64_t at = 0;
        bool permanent = false;   // the error cannot go away by itself (the channel was removed): failed, not retried
    };

    void queue_heartbeat();
    void record(const unrecorded& outcome);
    void record_unrecorded();   // throws while the database still refuses

    context ctx_;
    const rules_in_force& in_force_;
    supervisor& sup_;
    boost::asio::any_io_executor commands_;
    std::function<bool()> sending_paused_;
    std::unique_ptr<tikapi::http_client> http_;
    detail::wakeup wake_;
    detail::trouble trouble_{"notifier_storage_failed"};
    std::map<std::string, std::int64_t> channel_last_review_;   // digest pacing, per channel
    std::string heartbeat_done_;                                 // dedupe key of the last heartbeat queued
    std::vector<unrecorded> unrecorded_;                         // recorded before anything is delivered again
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
