// The circuit breaker: more messages planned within breaker.interval than
// breaker.max_sends means a rule has gone wrong. Sending pauses (the planned
// rows wait; reviews and tags go on), staff get a critical review item, and
// only `orderflowctl resume` continues. The state is persisted (daemon_state
// "breaker"), so a restart does not quietly resume sending.
#pragma once

#include "daemon/context.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace orderflow::daemon {

class review_desk;
class rules_in_force;

class breaker {
public:
    // Reads the persisted state. on_resumed: called after a resume (wakes the executor).
    breaker(context ctx, const rules_in_force& in_force, review_desk& desk, std::function<void()> on_resumed);

    bool open() const { return open_; }
    // True when sending may go on; trips the breaker when the volume is exceeded.
    bool allows_sending();
    // Sending continues; what was planned before now no longer counts against
    // the limit. With drop_held the held messages are skipped instead of sent.
    // The breaker's review item is resolved. Returns what to tell the person
    // ("" when the breaker was not open).
    std::string resume(const std::string& by, const std::string& peer, bool drop_held);

private:
    context ctx_;
    const rules_in_force& in_force_;
    review_desk& desk_;
    std::function<void()> on_resumed_;
    bool open_ = false;
    std::int64_t counted_after_ = 0;   // outbox id at the last resume: what was planned before it does not count
    // The window: when each message with an id from counted_after_ to
    // seen_through_ was planned, oldest first, less those the interval has
    // left behind. Each action is read once (the ids after seen_through_),
    // so a backlog of thousands of planned sends does not recount the
    // window for each message. At most twice max_sends + 1 entries.
    std::deque<std::int64_t> window_;
    std::int64_t seen_through_ = 0;
    std::int64_t window_interval_ = 0;   // the interval the window was read for (a reload may change it)
};

}  // namespace orderflow::daemon
