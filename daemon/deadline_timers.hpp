// Timers that count from a deadline (a `schedule` with "at", docs/rules.md,
// "Actions") and TikTok moving that deadline after the timer was set.
//
// The timer's event carries the deadline it was counted from. When it fires,
// the pipeline compares that with the order as it is now: if TikTok has moved
// the deadline, this timer is void and a new one is set at the same distance
// from the new deadline (at once if that time has passed), so the rule runs
// when the operator meant it to. A deadline that TikTok no longer gives
// leaves the timer as it was: firing late beats not firing.
#pragma once

#include "daemon/context.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace orderflow::daemon {

struct moved_deadline {
    std::string field;            // "order.rts_sla_time"
    std::int64_t was = 0;         // the deadline the timer was counted from
    std::int64_t now_is = 0;      // the order's deadline now
    storage::new_event rearmed;   // the timer for the new deadline
};

// The inbox key of a timer counted from a deadline: its series (a hash the
// pipeline gives every schedule with "at", rules/engine.hpp) and the
// deadline's value. A re-plan after the deadline moved and the old timer
// following the move both arrive at this key, so only one timer is set.
std::string timer_key(const std::string& series, std::int64_t deadline);

// Whether timer event `e` was counted from a deadline that `order` (the order
// view, daemon/events.hpp) no longer has; pure.
std::optional<moved_deadline> deadline_moved(const storage::event_row& e, const nlohmann::json& order, std::int64_t now);

// Sets the new timer and closes `e` (done, saying so) in one transaction,
// when the deadline moved. True when it did: the pipeline then evaluates no
// rules for `e`. Throws storage_error.
bool follow_moved_deadline(const context& ctx, const storage::event_row& e, const nlohmann::json& order);

}  // namespace orderflow::daemon
