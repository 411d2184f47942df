// The compiled, immutable form of a ruleset: conditions as trees with their
// operands pre-processed (regexes compiled, durations parsed, `contains`
// operands folded), actions with their templates resolved to indexes, and an
// index from event name to the enabled rules that listen to it.
//
// Conditions, operations and rules also keep where they were written
// (line:column in the rule file) and operands as written, so that
// `rules::explain` can point at the condition that failed; evaluation never
// reads those.
#pragma once

#include "rules/detail/path.hpp"
#include "rules/template.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace re2 {
class RE2;
}

namespace orderflow::rules::detail {

enum class op_kind : std::uint8_t {
    eq, ne, in, not_in, exists, empty, contains, matches,
    gt, gte, lt, lte, older_than, within, changed_to, changed_from, any, all,
};

// The operator's name as written in rule files ("eq", "changed_to").
constexpr std::string_view op_name(op_kind kind) {
    constexpr std::string_view names[] = {
        "eq", "ne", "in", "not_in", "exists", "empty", "contains", "matches",
        "gt", "gte", "lt", "lte", "older_than", "within", "changed_to", "changed_from", "any", "all",
    };
    return names[static_cast<std::size_t>(kind)];
}

// 1-based line and column in the rule file; 0 when unknown.
struct source_position {
    int line = 0;
    int column = 0;
};

struct condition;

struct operation {
    op_kind kind = op_kind::eq;
    nlohmann::json operand;                     // eq/ne/in/not_in/changed_*: the value(s)
    std::string folded;                         // contains: the folded operand
    std::shared_ptr<const re2::RE2> regex;      // matches
    double number = 0;                          // gt/gte/lt/lte
    std::int64_t seconds = 0;                   // older_than/within
    bool flag = false;                          // exists/empty
    std::shared_ptr<const condition> nested;    // any/all: the condition on each element
    nlohmann::json written;                     // the operand as written (for explain)
    source_position at;                         // the operator's key
};

struct condition {
    enum class kind : std::uint8_t { all, any, negate, test };
    kind k = kind::test;
    std::vector<condition> children;  // all/any: the parts; negate: one child
    field_ref field;                  // test: the field tested
    std::vector<operation> ops;       // test: every operation must hold
    source_position at;               // the key ("all", "not", the field), or the object for an implicit "all"
};

enum class scope : std::uint8_t { order, package, order_status, message, event };

struct action {
    std::string kind;              // send_message | reply | update_tracking | flag_review | tag | untag | schedule | capture | stop
    std::string template_name;     // send_message, reply
    std::string locale;            // explicit action locale; empty when not given
    std::size_t template_index = 0;
    std::string reason;            // flag_review
    std::string severity;          // flag_review
    std::string note;              // flag_review
    std::string tag;               // tag, untag
    std::int64_t after_s = 0;      // schedule: seconds after the action is planned, or after `anchor` (negative: before it)
    std::string timer;             // schedule: "timer.<name>", the event it fires
    bool anchored = false;         // schedule: counted from `anchor` ("at"), not from when it is planned
    field_ref anchor;              // schedule: the timestamp field named by "at", e.g. order.rts_sla_time
    std::string carrier;           // update_tracking: a fixed carrier instead of the event's
    std::string attribute;         // capture: the order attribute the buyer's text is kept as
};

struct rule {
    std::string id;
    std::string file;       // the rule file, as named to the loader
    source_position at;     // the rule object
    std::string description;
    std::vector<std::string> on;
    bool has_condition = false;
    condition when;
    std::vector<action> then;
    bool stops = false;     // a "stop" action: no further rules for this event
    nlohmann::json guards;  // per-rule guard overrides, checked by the daemon at send time; null when none
    bool enabled = true;
    bool shadow = false;
    scope once_per = scope::order;
    std::string once_per_name = "order";
    std::string locale;
};

struct template_variant {
    std::string locale;  // empty for a plain-string template (any locale)
    template_text text;
};

struct message_template {
    std::string name;
    std::vector<template_variant> variants;  // in file order
};

struct ruleset_data {
    std::vector<rule> rules;
    std::vector<message_template> templates;
    std::unordered_map<std::string, std::vector<std::size_t>> by_event;  // enabled rules, in load order
    std::string hash;
    std::size_t field_count = 0;  // distinct field_ref ids used by conditions
};

}  // namespace orderflow::rules::detail
