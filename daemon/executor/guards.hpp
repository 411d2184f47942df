// Guards at send time: checked just before each message, against what is
// known now (docs/architecture.md, "Effects"): the quiet hours (the send
// waits for their end), the order's latest status (a cancelled order gets
// nothing unless the rule allows it), the per-order and per-buyer caps over
// 24 h, and, for a send that waited, whether its rule still matches the
// order as it is now. A send that must wait is deferred (not an attempt);
// one that must not happen is skipped, saying why.
#pragma once

#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>

namespace orderflow::daemon {

class order_source;
class outcomes;
class rules_in_force;

enum class guard_result { go, waited, stopped };

class guards {
public:
    guards(context ctx, const rules_in_force& in_force, outcomes& out, order_source& orders);

    // Quiet hours, cancellation and caps; records the deferral or skip itself.
    guard_result check(const storage::action_row& a);
    // For a send that waited: its rule evaluated again on the order as it is
    // now, fetched from TikTok. An edge is taken as given and the present is
    // what is tested (rules::context::edges_given: changed_to X holds when
    // the field is X now, changed_from X when it is not). The fetched order
    // is not written to the orders cache, which only the pipeline moves. False
    // when the action was deferred or skipped here; a skip's reason names the
    // condition that failed.
    boost::asio::awaitable<bool> rule_still_matches(const storage::action_row& a);

private:
    context ctx_;
    const rules_in_force& in_force_;
    outcomes& out_;
    order_source& orders_;
};

}  // namespace orderflow::daemon
