// Evaluating one event against a ruleset: which rules fire, and the actions
// they plan, each with the key material that makes it happen at most once.
//
// Pure and cheap: no I/O, no clock (ctx.now is passed in), and nothing is
// allocated for rules that do not fire beyond the result itself. The daemon
// hashes key_material into the outbox's idempotency key (docs/architecture.md,
// "Effects").
//
// `explain` is the operator's view of the same evaluation (orderflowctl rules
// explain): every rule, whether it listens, whether it matched, and the first
// condition that failed. It calls the very functions `evaluate` uses to decide,
// so the two cannot disagree; `evaluate` pays nothing for it.
#pragma once

#include "rules/context.hpp"
#include "rules/ruleset.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace orderflow::rules {

struct planned_action {
    std::string rule_id;
    int index = 0;                 // position in the rule's `then`
    std::string kind;              // send_message | reply | update_tracking | flag_review | tag | untag | schedule | capture
    std::string once_per;          // "order" | "package" | "order_status" | "message" | "event"
    // rule id, index, once_per and the scope values, joined with '\x1f'.
    // Never rule text: editing a rule keeps its keys. When `error` is set it
    // is rule id, index, once_per, "!error" and ctx.event_id instead: the skip
    // is recorded once per event and does not use up the real key. A shadow
    // rule's key material ends in '\x1f' "shadow": its record never uses up
    // the key its live action will have.
    std::string key_material;
    // A schedule with "at": key_material without the deadline's value. The
    // timers one action sets for one scope share it, whatever deadline value
    // each counts from, so the daemon names a timer by it and the value: a
    // re-plan after TikTok moved the deadline and the old timer following the
    // move (daemon/deadline_timers.hpp) then set the same one timer.
    std::string series_material;
    bool shadow = false;           // the rule has mode "shadow": record only, send nothing
    nlohmann::json params;         // send_message, reply: {"template": name, "locale": "ja", "text": rendered text};
                                   // flag_review: {"reason", "severity", "note"}; tag, untag: {"tag"};
                                   // capture: {"attribute", "message_id", "value": the buyer's text}
                                   // schedule: {"event", "after_s", "fire_at"}, and with "at" also
                                   // {"at": field path, "anchor": its value, "offset_s": signed seconds from it}
    // Non-empty when the action could not be prepared ("missing value for
    // order.buyer_name", "no order for once_per"); params then has no "text".
    std::string error;
};

struct evaluation {
    std::vector<std::string> matched_rules;   // ids, in evaluation order
    std::vector<planned_action> actions;
    // Shadow rules that matched with {"stop": true}: live, they would have
    // ended the evaluation; in shadow the later rules still run.
    std::vector<std::string> shadow_stops;
};

// Rules run in load order (file order, then position); disabled rules are
// skipped; a rule fires when ctx.event is in its `on` and its `if` holds; a
// live rule that fires with {"stop": true} ends the evaluation (a shadow
// rule's stop does not: it is listed in shadow_stops).
evaluation evaluate(const ruleset& rules, const context& ctx);

// The first condition that made a rule not match, and what it saw.
struct condition_failure {
    std::string file;               // the rule file
    int line = 0;                   // of the operator ("eq") or, for "not", of the "not" key
    int column = 0;
    std::string field;              // "order.status"; an element field by name ("seller_sku"); empty for "not" over several conditions
    std::string op;                 // "eq", "changed_to", "any", ...; "not" when a negated condition held
    nlohmann::json operand;         // as written in the rule file
    std::optional<nlohmann::json> seen;    // the value; nullopt when missing (absent or null)
    // changed_to / changed_from: the value in the previous order view.
    bool has_before = false;
    std::optional<nlohmann::json> before;
    // More about why: "none of the 2 alternatives of "any" held", or for
    // any/all over a list the element that failed and why.
    std::string note;

    // "file:line:column: order.status changed_to "DELIVERED": saw "AWAITING_SHIPMENT""
    // (values as JSON, long ones shortened; "(missing)" for a missing value).
    std::string to_string() const;
};

enum class rule_verdict {
    disabled,        // enabled: false; never evaluated
    not_listening,   // ctx.event is not in its `on`
    not_matched,     // listens, but its `if` does not hold (see failure)
    matched,         // fires: its actions are planned
    after_stop,      // listens, but an earlier matched live rule said {"stop": true}; not evaluated
};

struct rule_trace {
    std::string rule_id;
    std::string file;
    int line = 0;
    int column = 0;
    rule_verdict verdict = rule_verdict::not_listening;
    std::vector<std::string> on;                  // the events it listens to
    bool shadow = false;
    bool would_stop = false;                      // matched, shadow, with {"stop": true}: live, the later rules would be after_stop
    std::optional<condition_failure> failure;     // set for not_matched
    std::vector<planned_action> actions;          // set for matched: exactly what evaluate plans
};

// Every loaded rule, in evaluation order, with its verdict for ctx. The
// matched rules and their actions are the same as evaluate(rules, ctx) gives.
// Slower than evaluate (it allocates a trace per rule): for operators, not for
// the pipeline.
std::vector<rule_trace> explain(const ruleset& rules, const context& ctx);

}  // namespace orderflow::rules
