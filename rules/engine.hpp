// Evaluating one event against a ruleset: which rules fire, and the actions
// they plan, each with the key material that makes it happen at most once.
//
// Pure and cheap: no I/O, no clock (ctx.now is passed in), and nothing is
// allocated for rules that do not fire beyond the result itself. The daemon
// hashes key_material into the outbox's idempotency key (DESIGN.md, "Effects").
#pragma once

#include "rules/context.hpp"
#include "rules/ruleset.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace orderflow::rules {

struct planned_action {
    std::string rule_id;
    int index = 0;                 // position in the rule's `then`
    std::string kind;              // "send_message"
    std::string once_per;          // "order" | "package" | "order_status" | "message" | "event"
    // rule id, index, once_per and the scope values, joined with '\x1f'.
    // Never rule text: editing a rule keeps its keys. When `error` is set it
    // is rule id, index, once_per, "!error" and ctx.event_id instead: the skip
    // is recorded once per event and does not use up the real key.
    std::string key_material;
    bool shadow = false;           // the rule has mode "shadow": record only, send nothing
    nlohmann::json params;         // send_message: {"template": name, "locale": "ja", "text": rendered text}
    // Non-empty when the action could not be prepared ("missing value for
    // order.buyer_name", "no order for once_per"); params then has no "text".
    std::string error;
};

struct evaluation {
    std::vector<std::string> matched_rules;   // ids, in evaluation order
    std::vector<planned_action> actions;
};

// Rules run in load order (file order, then position); disabled rules are
// skipped; a rule fires when ctx.event is in its `on` and its `if` holds.
evaluation evaluate(const ruleset& rules, const context& ctx);

}  // namespace orderflow::rules
