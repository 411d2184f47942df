// How an action ends when it does not simply succeed, in one place so every
// sender records it the same way: deferred (a retryable failure, tried again
// with backoff until executor.give_up_after has passed since it was planned),
// failed (with an audit entry and a `send_failed` review item), or skipped
// on purpose, saying why (with a review item when a person should hear of it).
#pragma once

#include "daemon/context.hpp"

#include <string>

namespace orderflow::daemon {

class review_desk;
class rules_in_force;

class outcomes {
public:
    outcomes(context ctx, const rules_in_force& in_force, review_desk& desk);

    void defer(const storage::action_row& a, const std::string& why);
    void fail(const storage::action_row& a, const std::string& why);
    // review_reason: the review item's reason, or nullptr for none.
    void skip(const storage::action_row& a, const std::string& why, const char* review_reason = nullptr, const char* severity = "warning");

private:
    context ctx_;
    const rules_in_force& in_force_;
    review_desk& desk_;
};

}  // namespace orderflow::daemon
