// The executor: the outbox's one consumer. Every pass it reconciles sends
// whose outcome is unknown (at start, then every 10 s), then carries out the
// due actions until the next reconciliation is due, taking more as lanes
// free up (not 50 at a time with a wait for the slowest), by kind: messages through the circuit breaker and the message
// sender, tracking updates through the tracking sender, and orderflow's own
// state (flag_review, tag, untag, schedule) applied in one transaction with
// the action's outcome, so each happens exactly once. A storage failure ends
// the pass and backs off in memory; a row it left 'sending' becomes
// 'unknown' once the database takes writes again (or at the next start, after
// a crash) and is reconciled, never blindly re-sent.
#pragma once

#include "daemon/context.hpp"
#include "daemon/detail/trouble.hpp"
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class breaker;
class message_sender;
class outcomes;
class reconciler;
class review_desk;
class storage_watch;
class supervisor;
class tracking_sender;

class executor {
public:
    struct parts {
        breaker& brk;
        outcomes& out;
        message_sender& messages;
        tracking_sender& tracking;
        reconciler& reconcile;
    };
    executor(context ctx, parts p, review_desk& desk, tikapi::client& api, storage_watch& watch, supervisor& sup);

    boost::asio::awaitable<void> loop();   // supervised as "executor"
    void wake() { wake_.notify(); }
    void stop();

    // One action by its kind (public for tests). Throws storage_error.
    boost::asio::awaitable<void> execute(const storage::action_row& a);

    // Lanes run side by side, at most this many at once: enough to keep
    // TikTok's 50 calls/s per API busy when each send waits on a round trip
    // and an fsync; the client's rate limiter keeps them under it.
    static constexpr std::size_t max_lanes = 8;
    // A pass reads more due actions whenever fewer than this many wait for
    // a lane, so a lane that frees up finds work at once; it reads at most
    // this many new ones at a time.
    static constexpr std::size_t queue_low = 2 * max_lanes;
    static constexpr std::size_t read_at_most = 50;

private:
    struct pass_state {
        bool storage_trouble = false;   // a storage failure: the pass ends, the loop backs off
        bool paused = false;            // the breaker held messages back
        bool ran_any = false;           // some action was due
        std::string storage_error;
    };
    struct lanes_run;
    static std::string lane_key(const storage::action_row& a);
    bool take_due(lanes_run& r);
    boost::asio::awaitable<pass_state> run_lanes(std::int64_t read_until);
    boost::asio::awaitable<void> lane_worker(std::shared_ptr<lanes_run> r);
    boost::asio::awaitable<bool> run_one(const storage::action_row& queued, pass_state& st);
    void apply(const storage::action_row& a);
    std::string count_outcome(const storage::action_row& a);
    bool skipped_meanwhile(const storage::action_row& a, const std::exception& refused);
    void settle_interrupted();

    context ctx_;
    parts parts_;
    review_desk& desk_;
    tikapi::client& api_;
    storage_watch& watch_;
    supervisor& sup_;
    detail::wakeup wake_;
    detail::trouble trouble_{"executor_storage_failed"};
    bool interrupted_ = false;   // a storage failure cut an action short
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
