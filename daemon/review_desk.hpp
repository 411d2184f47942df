// Raising review items: the one way any component tells staff that a case
// needs a person. An item is opened (or, for the same case still open, its
// count raised), logged as `review_raised`, and on opening a notification
// is queued for every channel whose min_severity it reaches; the notifier
// is woken. Call raise() inside the transaction that records the outcome it
// is about, so the item exists exactly when the outcome does.
#pragma once

#include "daemon/context.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace orderflow::daemon {

class rules_in_force;

class review_desk {
public:
    // wake_notifier: called when a notification was queued.
    review_desk(context ctx, const rules_in_force& in_force, std::function<void()> wake_notifier);

    // Returns the item's id. case_key tells apart cases that share an order
    // id and reason: items without an order (a buyer's message) are keyed by
    // their conversation; empty for the rest. Throws storage_error.
    std::int64_t raise(const std::string& order_id, const std::string& reason, const std::string& severity, const std::string& summary,
                       const nlohmann::json& evidence, const std::string& case_key = {});

private:
    context ctx_;
    const rules_in_force& in_force_;
    std::function<void()> wake_notifier_;
};

}  // namespace orderflow::daemon
