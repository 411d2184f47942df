// Fixture tests for rule files (`orderflowctl rules test`): a fixture file
// lists cases, each one event with the order before and after it, and the
// actions the rules must plan for it (or none). Running a case evaluates it
// with rules::evaluate, exactly as the daemon would, and compares the planned
// actions with the expectation, producing a diff an operator can read.
//
// The same case shape, without "name" and "expect", is the event file of
// `orderflowctl rules explain`.
//
// Fixture files are JSON with comments, read with the positioned parser, so a
// malformed fixture is reported at file:line:column like a malformed rule.
#pragma once

#include "rules/context.hpp"
#include "rules/diagnostic.hpp"
#include "rules/engine.hpp"
#include "rules/jsonc.hpp"
#include "rules/ruleset.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::rules {

// One expected planned action. Unset optional parts are not compared, except
// `error`: an expectation without "error" requires the action to have none.
struct expected_action {
    std::string rule;                  // rule id
    std::string action;                // "send_message"
    std::optional<std::string> text;   // the exact rendered text
    std::optional<std::string> error;  // the exact error ("missing value for order.buyer_name")
    std::optional<bool> shadow;
    std::optional<std::int64_t> fire_at;   // schedule: when the timer fires (unix seconds; RFC 3339 in the file)
    int line = 0;                      // where it was written in the fixture
    int column = 0;
};

struct fixture_case {
    std::string name;
    std::string file;
    int line = 0;                      // the case object
    int column = 0;
    context ctx;
    std::vector<expected_action> expect;   // empty: nothing may be planned
};

// What a fixture leaves out. `now` is used when a case has no "now";
// `locale` when it has no "locale" (the config's rules.default_locale).
struct fixture_defaults {
    std::int64_t now = 0;
    std::string locale = "ja";
    std::int64_t utc_offset = 0;   // the shop's time zone (date filters); orderflowctl takes it from the config
};

struct fixture_parse_result {
    std::vector<fixture_case> cases;
    std::vector<diagnostic> diagnostics;   // errors and warnings, in file order
    bool ok() const;                       // no error-level diagnostic
};

// Parses a fixture document: {"cases": [{...}, ...]}. Collects every error
// (unknown keys with did-you-mean hints, wrong types, unknown events, bad
// times); fields of order/message/event_data that the rules cannot name are
// warnings. Timestamp fields may be written as RFC 3339 strings and are
// converted to unix seconds.
fixture_parse_result parse_fixture(const jsonc_document& doc, const fixture_defaults& defaults);
// Reads and parses a fixture file; a syntax error is one diagnostic.
fixture_parse_result read_fixture_file(const std::filesystem::path& path, const fixture_defaults& defaults);

struct event_parse_result {
    std::optional<context> ctx;            // set when there is no error
    std::vector<diagnostic> diagnostics;
};

// An event file for `rules explain`: one case object ("event", "event_id",
// "event_data", "order", "previous_order", "message", "shop", "now",
// "locale"); "name" and "expect" are allowed and ignored.
event_parse_result parse_event(const jsonc_document& doc, const fixture_defaults& defaults);
event_parse_result read_event_file(const std::filesystem::path& path, const fixture_defaults& defaults);

// Reads a JSON object file for --order/--previous/--message: the object, with
// RFC 3339 timestamps converted as in fixtures, or diagnostics. `root` names
// the field root ("order", "message") for the warnings on unknown fields.
struct object_parse_result {
    std::optional<nlohmann::json> value;
    std::vector<diagnostic> diagnostics;
};
object_parse_result read_object_file(const std::filesystem::path& path, std::string_view root);

struct case_result {
    bool passed = false;
    // For a failure: the expected and planned actions aligned, "= " for an
    // action as expected, "- " expected but not planned (or different),
    // "+ " planned but not expected, with a note on what differs. Empty on a pass.
    std::string diff;
    evaluation actual;
};

// Evaluates the case and compares. Never throws on odd input.
case_result run_case(const ruleset& rules, const fixture_case& c);

// "2026-11-23T10:00:00+09:00", "2026-11-23T01:00:00Z", fractions allowed
// (dropped), 'T' or ' ' between date and time; unix seconds. nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

// Unix seconds as "2026-11-23T01:00:00Z".
std::string format_utc(std::int64_t unix_seconds);

// One planned action on one line: `rule action "text"` or `rule action error "..."`,
// with " (shadow)" for shadow actions. Texts are JSON strings (newlines as \n).
std::string describe_action(const planned_action& a);

}  // namespace orderflow::rules
