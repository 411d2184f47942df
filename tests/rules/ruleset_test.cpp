// Tests for rules/ruleset.hpp: loading files and directories, every load
// error at its exact file:line:column, collecting all diagnostics, and the
// example rule file shipped in etc/.
#include "rules/ruleset.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using orderflow::rules::test::all_diagnostics;
using orderflow::rules::test::errors_of;
using orderflow::rules::test::warnings_of;
using orderflow::rules::test::temp_dir;

namespace {

const std::string then_t = R"("then": [{"send_message": {"template": "t"}}])";

// A file whose only rule is `rule`, on line 4 starting at column 5.
std::string frame(const std::string& rule) {
    return "{\n"
           "  \"templates\": {\"t\": {\"ja\": \"こんにちは\", \"en\": \"hello\"}},\n"
           "  \"rules\": [\n"
           "    " + rule + "\n"
           "  ]\n"
           "}\n";
}

// "f.json:<line>:<column of token in text line>: error: message". The rule
// text is ASCII, so byte offsets are columns.
std::string error_at(int line, const std::string& line_text, const std::string& token, const std::string& message,
                     int first_column = 5) {
    auto offset = line_text.find(token);
    REQUIRE(offset != std::string::npos);
    return "f.json:" + std::to_string(line) + ":" + std::to_string(first_column + static_cast<int>(offset)) +
           ": error: " + message;
}

// The same for a warning.
std::string warning_at(int line, const std::string& line_text, const std::string& token, const std::string& message) {
    std::string out = error_at(line, line_text, token, message);
    return out.replace(out.find(": error: "), 9, ": warning: ");
}

}  // namespace

TEST_CASE("The example rule files in etc/ load without errors or warnings", "[ruleset]") {
    const char* source = std::getenv("ORDERFLOW_SOURCE");
    if (source == nullptr || *source == '\0') source = ORDERFLOW_SOURCE_DIR;
    auto result = load_directory(std::filesystem::path(source) / "etc/orderflow/rules");
    INFO(all_diagnostics(result));
    REQUIRE(result.ok());
    CHECK(result.diagnostics.empty());
    CHECK(result.rules->rule_ids() ==
          std::vector<std::string>{"thanks-awaiting-shipment", "ask-engraving-text", "thanks-delivered", "ship-from-warehouse", "damage-or-anger-to-staff",
                                   "where-is-my-order-shipped", "where-is-my-order", "capture-engraving", "engraving-follow-up",
                                   "which-order", "remind-engraving", "remind-engraving-fire", "shipping-sla",
                                   "shipping-sla-soon", "shipping-sla-missed", "buyer-asks-to-cancel", "return-requested", "return-on-its-way",
                                   "split-shipment-notice"});
    CHECK(result.rules->template_names() ==
          std::vector<std::string>{"ask_engraving", "cancel_request_received", "engraving_received", "remind_engraving", "ships_in_parts",
                                   "thanks_delivered", "thanks_for_order", "where_is_my_order", "where_is_my_order_tracking"});
}

TEST_CASE("Each rule error is reported at its exact line and column", "[ruleset]") {
    const std::string on = R"("on": "order.status_changed")";
    auto [rule, token, message] = GENERATE_COPY(table<std::string, std::string, std::string>({
        {R"({"id": "a", "on": "order.status_changed", "bogus": 1, )" + then_t + "}", "\"bogus\"",
         "unknown rule key \"bogus\"; allowed keys: id, description, on, if, then, enabled, mode, once_per, locale, guards"},
        {R"({"id": "a", "on": "order.status_changed", "iff": {}, )" + then_t + "}", "\"iff\"",
         "unknown rule key \"iff\"; allowed keys: id, description, on, if, then, enabled, mode, once_per, locale, guards; did you mean if or id?"},
        {"{" + on + ", " + then_t + "}", "{",
         "rule has no \"id\"; every rule needs a unique id such as \"thanks-awaiting-shipment\""},
        {R"({"id": "Bad Id", "on": "order.status_changed", )" + then_t + "}", "\"Bad Id\"",
         "rule id \"Bad Id\" must match [a-z0-9][a-z0-9._-]* (lower-case letters, digits, '.', '_', '-')"},
        {R"({"id": 7, "on": "order.status_changed", )" + then_t + "}", "7",
         "expected the rule id as a string, found the number 7"},
        {R"({"id": "a", )" + then_t + "}", "{",
         "rule has no \"on\"; expected an event such as \"order.status_changed\" or an array of events"},
        {R"({"id": "a", "on": "order.status_change", )" + then_t + "}", "\"order.status_change\"",
         "unknown event \"order.status_change\"; did you mean order.status_changed?"},
        {R"({"id": "a", "on": ["package.updated", "timer.Bad"], )" + then_t + "}", "\"timer.Bad\"",
         "unknown event \"timer.Bad\"; known events: order.status_changed, order.address_changed, order.cancellation_changed, "
         "order.return_changed, package.updated, message.received, conversation.created, tracking.received, "
         "shop.deauthorized, shop.authorization_expiring, timer.<name>"},
        {R"({"id": "a", "on": [], )" + then_t + "}", "[]",
         "expected \"on\" to be an event name or a non-empty array of event names, found an array"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.buyer_nme": {"eq": "x"}}, )" + then_t + "}", "\"order.buyer_nme\"",
         "unknown field \"order.buyer_nme\"; did you mean order.buyer_name?"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"buyer": {"eq": "x"}}, )" + then_t + "}", "\"buyer\"",
         "unknown field \"buyer\"; fields start with order., event., message. or shop. (docs/rules.md lists them)"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.status": {"equals": "x"}}, )" + then_t + "}", "\"equals\"",
         "unknown operator \"equals\"; known operators: eq, ne, in, not_in, exists, empty, contains, matches, gt, gte, lt, "
         "lte, older_than, within, changed_to, changed_from, any, all"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"message.text": {"matches": "(abc"}}, )" + then_t + "}", "\"(abc\"",
         "invalid regular expression: missing ): (abc"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.create_time": {"older_than": "1 day"}}, )" + then_t + "}", "\"1 day\"",
         "expected a duration such as \"24h\", \"30m\" or \"7d\" for \"older_than\", found the string \"1 day\""},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.status": {"within": "1h"}}, )" + then_t + "}", "\"within\"",
         "\"within\" works on timestamps (such as order.create_time), but order.status is a string"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"event.order_status": {"changed_to": "DELIVERED"}}, )" + then_t + "}",
         "\"changed_to\"",
         "\"changed_to\" compares the order before and after the event, so it works on order.* fields only"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.status": {"any": {"eq": "x"}}}, )" + then_t + "}", "\"any\"",
         "\"any\" tests the elements of a list (order.line_items, order.tags), but order.status is a string"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.line_items": {"any": {"quantity": {"gt": 1}}}}, )" + then_t + "}",
         "\"quantity\"",
         "unknown field \"quantity\" of order.line_items elements; they have: id, sku_id, product_id, product_name, "
         "sku_name, seller_sku, sale_price, package_id"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.total_amount": {"gt": "1000"}}, )" + then_t + "}", "\"1000\"",
         "expected a number for \"gt\", found the string \"1000\"; write 1000 without quotes"},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.status": {"in": "A"}}, )" + then_t + "}", "\"A\"",
         "expected a non-empty array of values for \"in\", found the string \"A\""},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.id": {"exists": "yes"}}, )" + then_t + "}", "\"yes\"",
         "expected true or false for \"exists\", found the string \"yes\""},
        {"{\"id\": \"a\", " + on + R"(, "if": {"order.tags": {"eq": "vip"}}, )" + then_t + "}", "\"eq\"",
         "\"eq\" compares single values, but order.tags is a list of strings; use \"any\" or \"contains\""},
        {"{\"id\": \"a\", " + on + R"(, "if": "order.status == X", )" + then_t + "}", "\"order.status == X\"",
         "expected a condition object such as {\"order.status\": {\"eq\": \"AWAITING_SHIPMENT\"}}, found the string \"order.status == X\""},
        {"{\"id\": \"a\", " + on + R"(, "if": {"all": []}, )" + then_t + "}", "[]",
         "expected \"all\" to be a non-empty array of conditions, found an array"},
        {"{\"id\": \"a\", " + on + R"(, "if": {}, )" + then_t + "}", "{}",
         "empty condition: expected a field test, \"all\", \"any\" or \"not\""},
        {"{\"id\": \"a\", " + on + R"(, "then": []})", "[]",
         "expected \"then\" to be a non-empty array of actions, found an array"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"send_email": {"template": "t"}}]})", "\"send_email\"",
         "unknown action \"send_email\"; known actions: send_message, reply, update_tracking, flag_review, tag, untag, schedule, capture, stop"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"update_tracking": {}}]})", "\"update_tracking\"",
         "\"update_tracking\" uses the carrier and tracking number of a tracking.received event: the rule must listen only to \"tracking.received\""},
        {R"({"id": "a", "on": "tracking.received", "then": [{"update_tracking": {"carrier": 7}}]})", "7",
         "expected \"carrier\" to be a carrier name such as \"ヤマト運輸\", found the number 7"},
        {R"({"id": "a", "on": "tracking.received", "then": [{"update_tracking": {"carier": "x"}}]})", "\"carier\"",
         "unknown update_tracking key \"carier\"; allowed keys: carrier; did you mean carrier?"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"schedule": {"after": "24h"}}]})", "{\"after\"",
         "schedule has no \"event\"; expected a timer name such as \"engraving.reminder\" (it fires timer.<name>)"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"schedule": {"after": "soon", "event": "r"}}]})", "\"soon\"",
         "expected \"after\" to be a duration such as \"30m\", \"24h\" or \"3d\", found the string \"soon\""},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"schedule": {"after": "1h", "event": "Remind Me"}}]})", "\"Remind Me\"",
         "expected \"event\" to be a timer name of a-z, 0-9, . _ - such as \"engraving.reminder\", found the string \"Remind Me\""},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"reply": {"template": "t"}}]})", "\"reply\"",
         "\"reply\" answers a buyer message: the rule must listen only to \"message.received\" (use send_message otherwise)"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"flag_review": {"severity": "warning"}}]})", "{\"severity\"",
         "flag_review has no \"reason\"; expected a short code such as \"damage_reported\""},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"flag_review": {"reason": "Damage Reported"}}]})", "\"Damage Reported\"",
         "expected \"reason\" to be a short code of a-z, 0-9 and _ - . : (at most 64) such as \"damage_reported\", found the string \"Damage Reported\""},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"flag_review": {"reason": "x", "severity": "high"}}]})", "\"high\"",
         "expected \"severity\" to be one of info, warning, critical, found the string \"high\""},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"flag_review": {"reason": "x", "channel": "ops"}}]})", "\"channel\"",
         "unknown flag_review key \"channel\"; allowed keys: reason, severity, note"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"tag": "vip customer"}]})", "\"vip customer\"",
         "expected tag to name a tag of letters, digits, _ - . : (at most 64), such as {\"tag\": \"vip\"}, found the string \"vip customer\""},
        {"{\"id\": \"a\", " + on + R"(, "guards": {"quiet_hours": true}, )" + then_t + "}", "true",
         "expected \"quiet_hours\" to be false (no quiet hours for this rule) or {\"from\": \"21:00\", \"to\": \"09:00\"}, found true"},
        {"{\"id\": \"a\", " + on + R"(, "guards": {"messages_per_order_per_day": 0}, )" + then_t + "}", "0",
         "expected \"messages_per_order_per_day\" to be a whole number from 1 to 1000, found the number 0"},
        {"{\"id\": \"a\", " + on + R"(, "guards": {"canceled": true}, )" + then_t + "}", "\"canceled\"",
         "unknown guard \"canceled\"; allowed: quiet_hours, messages_per_order_per_day, messages_per_buyer_per_day, cancelled; did you mean cancelled?"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"stop": "now"}]})", "\"now\"",
         "expected {\"stop\": true}, found the string \"now\""},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"send_message": {"template": "t", "locale": "fr"}}]})", "\"fr\"",
         "template \"t\" has no \"fr\" text; it has: ja, en"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"send_message": {"template": "thanks"}}]})", "\"thanks\"",
         "unknown template \"thanks\"; defined templates: t"},
        {"{\"id\": \"a\", " + on + R"(, "then": [{"send_message": {"template": "t", "name": "x"}}]})", "\"name\"",
         "unknown send_message key \"name\"; allowed keys: template, locale"},
        {"{\"id\": \"a\", " + on + R"(, "mode": "dry-run", )" + then_t + "}", "\"dry-run\"",
         "expected \"mode\" to be \"live\" or \"shadow\", found the string \"dry-run\""},
        {"{\"id\": \"a\", " + on + R"(, "once_per": "buyer", )" + then_t + "}", "\"buyer\"",
         "expected \"once_per\" to be one of order, package, order_status, message, event, found the string \"buyer\""},
        {"{\"id\": \"a\", " + on + R"(, "enabled": "yes", )" + then_t + "}", "\"yes\"",
         "expected \"enabled\" to be true or false, found the string \"yes\""},
        {"{\"id\": \"a\", " + on + R"(, "locale": "Japanese", )" + then_t + "}", "\"Japanese\"",
         "expected \"locale\" to be a locale such as \"ja\" or \"en\", found the string \"Japanese\""},
    }));
    CAPTURE(rule);
    auto result = load_text(frame(rule), "f.json");
    CHECK_FALSE(result.ok());
    CHECK(result.rules == nullptr);
    auto errors = errors_of(result);
    REQUIRE(errors.size() == 1);
    CHECK(errors.front() == error_at(4, rule, token, message));
}

TEST_CASE("Each template error is reported at the template text's position", "[ruleset]") {
    auto [entry, token, message] = GENERATE(table<std::string, std::string, std::string>({
        {R"("x": {"ja": "{{order.buyer_nme}}様"})", "\"{{", "unknown placeholder {{order.buyer_nme}}; did you mean order.buyer_name?"},
        {R"("x": {"en": "Hi {{ order.id"})", "\"Hi", "unclosed '{{' in \"{{ order.id\": expected '}}' after the field name"},
        {R"("x": {"en": "{{order.line_items}}"})", "\"{{",
         "placeholder {{order.line_items}} names a list of objects, which cannot be rendered as text"},
        {R"("x": {"en": "Hi {{}}"})", "\"Hi", "empty placeholder {{}}: expected a field such as {{order.buyer_name}}"},
        {R"("x": {"JA": "hi"})", "\"JA\"", "expected a locale such as \"ja\" or \"en\" as the key, found \"JA\""},
        {R"("x": {"en": " "})", "\" \"", "empty template text"},
        {R"("x": {"en": 5})", "5", "expected the template text as a string, found the number 5"},
        {R"("x": [])", "[]",
         "expected a template text (string) or an object of locale -> text such as {\"ja\": \"...\", \"en\": \"...\"}, found an array"},
        {R"("bad name": "hi")", "\"bad name\"", "template name \"bad name\" may use only letters, digits, '_', '-' and '.'"},
    }));
    CAPTURE(entry);
    std::string text = "{\n  \"templates\": {\n    " + entry + "\n  }\n}\n";
    auto result = load_text(text, "f.json");
    auto errors = errors_of(result);
    REQUIRE(errors.size() == 1);
    CHECK(errors.front() == error_at(3, entry, token, message));
}

TEST_CASE("File-level errors name the key or value at fault", "[ruleset]") {
    SECTION("unknown top-level key") {
        auto result = load_text("{\n  \"rule\": []\n}", "f.json");
        CHECK(errors_of(result) ==
              std::vector<std::string>{"f.json:2:3: error: unknown top-level key \"rule\"; allowed keys: templates, rules; did you mean rules?"});
    }
    SECTION("the file is not an object") {
        auto result = load_text("[]", "f.json");
        CHECK(errors_of(result) ==
              std::vector<std::string>{"f.json:1:1: error: expected a rule file object with \"templates\" and/or \"rules\", found an array"});
    }
    SECTION("rules is not an array") {
        auto result = load_text("{\"rules\": {}}", "f.json");
        CHECK(errors_of(result) ==
              std::vector<std::string>{"f.json:1:11: error: expected \"rules\" to be an array of rule objects, found an object"});
    }
    SECTION("a syntax error") {
        auto result = load_text("{\n  \"rules\": [\n    {\"id\": \"a\"}\n    {\"id\": \"b\"}\n  ]\n}", "f.json");
        CHECK(errors_of(result) ==
              std::vector<std::string>{"f.json:4:5: error: expected ',' or ']' after array element, found '{'"});
    }
}

TEST_CASE("All errors in a file are reported, in order of position", "[ruleset]") {
    std::string text = "{\n"
                       "  \"templates\": {\"t\": \"hi {{order.nope}}\"},\n"
                       "  \"rules\": [\n"
                       "    {\"id\": \"a\", \"on\": \"order.nope\", \"then\": [{\"send_message\": {\"template\": \"t\"}}]},\n"
                       "    {\"id\": \"b\", \"on\": \"order.status_changed\", \"if\": {\"order.x\": {\"eq\": 1}, \"order.status\": {\"eq\": 1, \"nope\": 2}},\n"
                       "     \"then\": [{\"send_message\": {\"template\": \"missing\"}}]}\n"
                       "  ]\n"
                       "}\n";
    auto result = load_text(text, "f.json");
    CHECK(result.rules == nullptr);
    auto errors = errors_of(result);
    INFO(all_diagnostics(result));
    REQUIRE(errors.size() == 6);
    CHECK(errors[0].rfind("f.json:2:22: error: unknown placeholder {{order.nope}}", 0) == 0);
    CHECK(errors[1].rfind("f.json:4:23: error: unknown event \"order.nope\"", 0) == 0);
    CHECK(errors[2].rfind("f.json:5:54: error: unknown field \"order.x\"", 0) == 0);
    CHECK(errors[3].rfind("f.json:5:99: error: rule \"b\": order.status is never 1 ", 0) == 0);
    CHECK(errors[4].rfind("f.json:5:102: error: unknown operator \"nope\"", 0) == 0);
    CHECK(errors[5].rfind("f.json:6:45: error: unknown template \"missing\"", 0) == 0);
}

TEST_CASE("Warnings do not stop a ruleset from loading", "[ruleset]") {
    std::string text = R"({
  "templates": {"t": "hi", "unused": "never sent"},
  "rules": [
    {"id": "a", "on": "order.status_changed", "once_per": "message", "then": [{"send_message": {"template": "t"}}]},
    {"id": "b", "on": "shop.deauthorized", "locale": "fr", "then": [{"send_message": {"template": "t"}}]}
  ]
})";
    auto result = load_text(text, "f.json");
    INFO(all_diagnostics(result));
    REQUIRE(result.ok());
    std::vector<std::string> lines;
    for (const auto& d : result.diagnostics) {
        CHECK(d.warning);
        lines.push_back(d.to_string());
    }
    CHECK(lines == std::vector<std::string>{
                       "f.json:2:28: warning: template \"unused\" is not used by any rule",
                       "f.json:4:59: warning: once_per \"message\" needs a message, but the rule does not listen to message.received",
                       "f.json:5:5: warning: shop events carry no order, so once_per \"order\" cannot be satisfied; use once_per \"event\"",
                   });
}

TEST_CASE("Duplicate rule ids and template names across files name both places", "[ruleset]") {
    temp_dir dir;
    dir.write("10-a.json", "{\n  \"templates\": {\"t\": \"hi\"},\n  \"rules\": [\n    {\"id\": \"same\", \"on\": \"order.status_changed\", \"then\": [{\"send_message\": {\"template\": \"t\"}}]}\n  ]\n}\n");
    dir.write("20-b.json", "{\n  \"templates\": {\"t\": \"again\"},\n  \"rules\": [\n    {\"id\": \"same\", \"on\": \"package.updated\", \"then\": [{\"send_message\": {\"template\": \"t\"}}]}\n  ]\n}\n");
    auto result = load_directory(dir.path());
    CHECK_FALSE(result.ok());
    auto a = (dir.path() / "10-a.json").string();
    auto b = (dir.path() / "20-b.json").string();
    CHECK(errors_of(result) == std::vector<std::string>{
                                   b + ":2:17: error: duplicate template \"t\"; first defined at " + a + ":2:17",
                                   b + ":4:12: error: duplicate rule id \"same\"; first defined at " + a + ":4:12",
                               });
}

TEST_CASE("A directory loads its *.json files in lexical order", "[ruleset]") {
    temp_dir dir;
    auto rule = [](const std::string& id) {
        return "{\"templates\": {\"t_" + id + "\": \"hi\"}, \"rules\": [{\"id\": \"" + id +
               "\", \"on\": \"order.status_changed\", \"then\": [{\"send_message\": {\"template\": \"t_" + id + "\"}}]}]}";
    };
    dir.write("20-second.json", rule("second"));
    dir.write("10-first.json", rule("first"));
    dir.write("30-third.json", rule("third"));
    dir.write("notes.txt", "not json");
    dir.write(".#10-first.json", "{ editor lock file");
    std::filesystem::create_directories(dir.path() / "sub.json");
    auto result = load_directory(dir.path());
    INFO(all_diagnostics(result));
    REQUIRE(result.ok());
    CHECK(result.rules->size() == 3);
    CHECK(result.rules->rule_ids() == std::vector<std::string>{"first", "second", "third"});
    CHECK(result.rules->template_names() == std::vector<std::string>{"t_first", "t_second", "t_third"});
    CHECK(result.rules->handles("order.status_changed"));
    CHECK_FALSE(result.rules->handles("package.updated"));
}

TEST_CASE("Errors in several files are all reported, each with its own file", "[ruleset]") {
    temp_dir dir;
    auto a = dir.write("a.json", "{\"rules\": [}");
    auto b = dir.write("b.json", "{\"rules\": [{\"id\": \"x\", \"on\": \"nope\", \"then\": [{\"send_message\": {\"template\": \"t\"}}]}]}");
    auto result = load_files({a, b, dir.path() / "c.json"});
    auto errors = errors_of(result);
    INFO(all_diagnostics(result));
    REQUIRE(errors.size() == 4);
    CHECK(errors[0] == a.string() + ":1:12: error: expected a JSON value (object, array, string, number, true, false or null), found '}'");
    CHECK(errors[1].rfind(b.string() + ":1:30: error: unknown event \"nope\"", 0) == 0);
    CHECK(errors[2] == b.string() + ":1:77: error: unknown template \"t\"; no templates are defined");
    CHECK(errors[3] == (dir.path() / "c.json").string() + ": error: cannot read file: No such file or directory");
}

TEST_CASE("A missing rules directory is an error", "[ruleset]") {
    temp_dir dir;
    auto result = load_directory(dir.path() / "absent");
    CHECK_FALSE(result.ok());
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].to_string() ==
          (dir.path() / "absent").string() + ": error: cannot read rules directory: No such file or directory");
    auto file = dir.write("plain.json", "{}");
    CHECK(load_directory(file).diagnostics.at(0).message == "rules directory is not a directory");
}

TEST_CASE("A directory without a single rule is refused unless a file holds an empty rules list", "[ruleset]") {
    temp_dir dir;
    const std::string refused = dir.path().string() + ": error: ";
    SECTION("no rule file at all: the files were moved away") {
        dir.write("notes.txt", "not rules");
        auto result = load_directory(dir.path());
        CHECK_FALSE(result.ok());
        CHECK(errors_of(result) ==
              std::vector<std::string>{refused + "no rule files (*.json) in the rules directory, so orderflow would act on no "
                                                 "event; put the rule files back, or, to run without rules on purpose, add a "
                                                 "file holding {\"rules\": []}"});
    }
    SECTION("files without rules") {
        dir.write("10-templates.json", R"({"templates": {"t": "hi"}})");
        auto result = load_directory(dir.path());
        CHECK_FALSE(result.ok());
        REQUIRE(errors_of(result).size() == 1);
        CHECK_THAT(errors_of(result)[0], Catch::StartsWith(refused + "the rule files here (1) hold no rules, so orderflow"));
    }
    SECTION("an empty rules list says it is meant") {
        dir.write("00-none.json", R"({"rules": []})");
        auto result = load_directory(dir.path());
        INFO(all_diagnostics(result));
        REQUIRE(result.ok());
        CHECK(result.rules->size() == 0);
    }
    SECTION("another error is not buried under this one") {
        dir.write("10-broken.json", "{\"rules\": [}");
        auto result = load_directory(dir.path());
        REQUIRE(errors_of(result).size() == 1);
        CHECK_THAT(errors_of(result)[0], Catch::Contains("10-broken.json:1:12: error:"));
    }
    SECTION("a file of rules text given on its own is not a directory: no rules is fine there") {
        CHECK(load_text("{}", "f.json").ok());
    }
}

TEST_CASE("Entries that look like rule files but are not loaded are warnings naming them", "[ruleset]") {
    temp_dir dir;
    dir.write("10-rules.json", R"({"rules": [{"id": "a", "on": "order.status_changed", "then": [{"tag": "x"}]}]})");
    auto jsonc = dir.write("20-more.jsonc", R"({"rules": [{"id": "b", "on": "order.status_changed", "then": [{"tag": "y"}]}]})");
    auto upper = dir.write("30-LOUD.JSON", R"({"rules": []})");
    const auto dangling = dir.path() / "40-gone.json";
    std::filesystem::create_symlink(dir.path() / "moved-away.json", dangling);
    dir.write("notes.txt", "not rules");
    dir.write("10-rules.json.bak", "a backup");
    std::filesystem::create_directories(dir.path() / "archive.json");
    auto result = load_directory(dir.path());
    INFO(all_diagnostics(result));
    REQUIRE(result.ok());
    CHECK(result.rules->rule_ids() == std::vector<std::string>{"a"});
    std::vector<std::string> lines;
    for (const auto& d : result.diagnostics) lines.push_back(d.to_string());
    CHECK(lines == std::vector<std::string>{
                       jsonc.string() + ": warning: not loaded: only names ending in \".json\" (lower case) are rule files; "
                                        "rename it to 20-more.json to load it, or move it out of the rules directory",
                       upper.string() + ": warning: not loaded: only names ending in \".json\" (lower case) are rule files; "
                                        "rename it to 30-LOUD.json to load it, or move it out of the rules directory",
                       dangling.string() + ": warning: not loaded: a symbolic link to " + (dir.path() / "moved-away.json").string() +
                           ", which does not exist",
                   });
    SECTION("with nothing else there the load is refused, and the warnings say why") {
        std::filesystem::remove(dir.path() / "10-rules.json");
        auto emptied = load_directory(dir.path());
        CHECK_FALSE(emptied.ok());
        CHECK(errors_of(emptied).size() == 1);
        CHECK(emptied.diagnostics.size() == 4);
    }
}

TEST_CASE("The hash is stable for the same files and changes with any byte", "[ruleset]") {
    std::string text = R"({"templates": {"t": "hi"}, "rules": [{"id": "a", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]}]})";
    auto first = test::must_load(text);
    auto again = test::must_load(text);
    CHECK(first->hash().size() == 16);
    CHECK(first->hash().find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(first->hash() == again->hash());
    std::string edited = text;
    edited.replace(edited.find("hi"), 2, "ho");
    CHECK(test::must_load(edited)->hash() != first->hash());
}

TEST_CASE("Disabled rules load and count but are never evaluated", "[ruleset]") {
    auto rules = test::must_load(R"({"templates": {"t": "hi"}, "rules": [
        {"id": "off", "enabled": false, "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]}]})");
    CHECK(rules->size() == 1);
    CHECK(rules->rule_ids() == std::vector<std::string>{"off"});
    CHECK_FALSE(rules->handles("order.status_changed"));
}

TEST_CASE("Tagging in a rule whose events carry no order is a warning at the action", "[ruleset]") {
    auto result = load_text(R"({
  "rules": [{"id": "m", "on": "conversation.created", "once_per": "event", "then": [{"flag_review": {"reason": "asked"}}, {"tag": "asked"}]},
            {"id": "o", "on": ["message.received", "order.status_changed"], "then": [{"tag": "mixed"}]}]
})", "f.json");
    REQUIRE(result.ok());
    std::vector<std::string> lines;
    for (const auto& d : result.diagnostics) lines.push_back(d.to_string());
    // A buyer message may be linked to its order (docs/rules.md), so only conversation.created warns.
    CHECK(lines == std::vector<std::string>{
                       "f.json:2:123: warning: \"tag\" needs an order, but conversation.created carries none; it will be skipped"});
}

TEST_CASE("Conditions that can never all hold are a warning that the rule can never fire", "[ruleset][warnings]") {
    auto [condition, warning] = GENERATE(table<std::string, std::string>({
        {R"({"all": [{"order.status": {"eq": "ON_HOLD"}}, {"order.status": {"eq": "DELIVERED"}}]})", "order.status must equal both \"ON_HOLD\" and \"DELIVERED\""},
        {R"({"order.status": {"eq": "ON_HOLD", "ne": "ON_HOLD"}})", "order.status must equal and not equal \"ON_HOLD\""},
        {R"({"all": [{"order.status": {"in": ["DELIVERED", "COMPLETED"]}}, {"order.status": {"eq": "ON_HOLD"}}]})", "order.status must equal \"ON_HOLD\", which its \"in\" list does not hold"},
        {R"({"all": [{"order.status": {"in": ["ON_HOLD"]}}, {"order.status": {"in": ["DELIVERED"]}}]})", "order.status must be in two lists that share no value"},
        {R"({"order.total_amount": {"gt": 10, "lt": 5}})", "order.total_amount has no number in its range"},
        {R"({"order.total_amount": {"gte": 5, "lt": 5}})", "order.total_amount has no number in its range"},
        {R"({"all": [{"order.buyer_message": {"exists": false}}, {"order.buyer_message": {"contains": "x"}}]})", "order.buyer_message must be missing and present at once"},
        {R"({"any": [{"order.status": {"eq": "CANCELLED"}}, {"all": [{"order.status": {"eq": "ON_HOLD"}}, {"order.status": {"eq": "DELIVERED"}}]}]})", "order.status must equal both \"ON_HOLD\" and \"DELIVERED\""},
        {R"({"all": [{"order.status": {"eq": "ON_HOLD"}}, {"order.status": {"ne": "DELIVERED"}}]})", ""},
        {R"({"any": [{"order.status": {"eq": "ON_HOLD"}}, {"order.status": {"eq": "DELIVERED"}}]})", ""},
        {R"({"order.total_amount": {"gte": 5, "lte": 5}})", ""},
    }));
    CAPTURE(condition);
    auto result = load_text(R"({"templates": {"t": "hi"}, "rules": [{"id": "a", "on": "order.status_changed", "if": )" + condition +
                                R"(, "then": [{"send_message": {"template": "t"}}]}]})", "f.json");
    REQUIRE(result.ok());   // a warning, not an error: orderflowctl check still passes
    std::vector<std::string> warnings;
    for (const auto& d : result.diagnostics)
        if (d.warning) warnings.push_back(d.message);
    if (warning.empty()) {
        CHECK(warnings.empty());
    } else {
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0] == "this rule can never fire: " + warning);
        CHECK(result.diagnostics[0].line == 1);
        CHECK(result.diagnostics[0].column > 0);
    }
}

TEST_CASE("Tests that hold on a missing value or compare numbers as evaluation does do not warn that the rule can never fire", "[ruleset][warnings]") {
    auto [condition, warning] = GENERATE(table<std::string, std::string>({
        {R"({"order.tracking_number": {"exists": false, "not_in": ["X"]}})", ""},
        {R"({"order.tracking_number": {"exists": false, "eq": null}})", ""},
        {R"({"order.tracking_number": {"exists": false, "ne": "X"}})", ""},
        {R"({"order.tracking_number": {"exists": false, "in": [null, "X"]}})", ""},
        {R"({"order.tracking_number": {"exists": false, "empty": true}})", ""},
        {R"({"order.total_amount": {"eq": 4980, "in": ["4980", "5000"]}})", ""},
        {R"({"all": [{"order.total_amount": {"eq": "4980"}}, {"order.total_amount": {"eq": 4980.0}}]})", ""},
        {R"({"all": [{"order.total_amount": {"in": [4980]}}, {"order.total_amount": {"in": ["4980"]}}]})", ""},
        // still warned: these need a value
        {R"({"order.tracking_number": {"exists": false, "empty": false}})", "order.tracking_number must be missing and present at once"},
        {R"({"order.tracking_number": {"exists": false, "ne": null}})", "order.tracking_number must be missing and present at once"},
        {R"({"order.tracking_number": {"exists": false, "in": ["X"]}})", "order.tracking_number must be missing and present at once"},
        {R"({"order.total_amount": {"eq": 4980, "in": ["4981"]}})", "order.total_amount must equal 4980, which this \"in\" list does not hold"},
    }));
    CAPTURE(condition);
    auto result = load_text(R"({"templates": {"t": "hi"}, "rules": [{"id": "a", "on": "order.status_changed", "if": )" + condition +
                                R"(, "then": [{"send_message": {"template": "t"}}]}]})", "f.json");
    REQUIRE(result.ok());
    std::vector<std::string> warnings;
    for (const auto& d : result.diagnostics)
        if (d.warning) warnings.push_back(d.message);
    if (warning.empty()) CHECK(warnings.empty());
    else CHECK(warnings == std::vector<std::string>{"this rule can never fire: " + warning});
}

// ---------------------------------------------------------------------------
// Limits (ruleset.hpp): each one is an ordinary error diagnostic.

TEST_CASE("A rule file over the size limit is refused by its size, without being read", "[ruleset][limits]") {
    temp_dir dir;
    auto big = dir.path() / "10-big.json";
    std::ofstream(big, std::ios::binary).close();
    // Sparse: all zero bytes, which the parser would report as a control
    // character if the file were read; the exact size in the message can
    // only come from the file's size, not from reading it.
    std::filesystem::resize_file(big, max_rule_file_bytes + 1);
    auto result = load_directory(dir.path());
    CHECK_FALSE(result.ok());
    CHECK(errors_of(result) ==
          std::vector<std::string>{big.string() + ": error: file is 1048577 bytes; the limit for one rule file is 1048576 "
                                                  "bytes (1 MiB); split it into several files"});
}

TEST_CASE("A rule file of exactly the size limit loads", "[ruleset][limits]") {
    temp_dir dir;
    std::string text = R"({"rules": [{"id": "a", "on": "order.status_changed", "then": [{"tag": "x"}]}]})";
    text.resize(max_rule_file_bytes, ' ');
    dir.write("10-full.json", text);
    auto result = load_directory(dir.path());
    INFO(all_diagnostics(result));
    REQUIRE(result.ok());
    CHECK(result.rules->size() == 1);
}

TEST_CASE("Rule text over the size limit is refused before it is parsed", "[ruleset][limits]") {
    auto result = load_text(std::string(max_rule_file_bytes + 1, '['), "f.json");
    CHECK(errors_of(result) == std::vector<std::string>{
                                   "f.json: error: file is 1048577 bytes; the limit for one rule file is 1048576 bytes "
                                   "(1 MiB); split it into several files"});
}

TEST_CASE("Rule files past the total size limit are not read", "[ruleset][limits]") {
    temp_dir dir;
    std::string full = "{\"rules\": []}";
    full.resize(max_rule_file_bytes, ' ');
    REQUIRE(max_rule_directory_bytes == 4 * max_rule_file_bytes);
    for (const char* name : {"10-a.json", "20-b.json", "30-c.json", "40-d.json"}) dir.write(name, full);
    SECTION("exactly the limit loads") {
        auto result = load_directory(dir.path());
        INFO(all_diagnostics(result));
        CHECK(result.ok());
    }
    SECTION("the file that goes past it is an error and later files are not read") {
        auto over = dir.write("50-e.json", "{}\n");
        dir.write("60-f.json", "{ not even JSON");
        auto result = load_directory(dir.path());
        CHECK_FALSE(result.ok());
        CHECK(errors_of(result) ==
              std::vector<std::string>{over.string() + ": error: file is 3 bytes and the rule files before it 4194304 bytes; "
                                                       "the limit for all rule files together is 4194304 bytes (4 MiB); "
                                                       "remove files that are not needed (this file and the ones after it "
                                                       "were not read)"});
    }
}

namespace {

// `count` valid rules (tag actions, no templates) as one rule file, one per line.
std::string many_rules(std::size_t count, const std::string& prefix = "r") {
    std::string text = "{\"rules\": [\n";
    for (std::size_t i = 0; i < count; ++i) {
        text += std::string(i == 0 ? "" : ",\n") + "{\"id\": \"" + prefix + std::to_string(i) +
                "\", \"on\": \"order.status_changed\", \"then\": [{\"tag\": \"x\"}]}";
    }
    return text + "\n]}\n";
}

}  // namespace

TEST_CASE("More rules than the limit across the files is an error at the first rule past it", "[ruleset][limits]") {
    temp_dir dir;
    dir.write("10-a.json", many_rules(600, "a"));
    SECTION("exactly the limit loads") {
        dir.write("20-b.json", many_rules(max_rules - 600, "b"));
        auto result = load_directory(dir.path());
        INFO(all_diagnostics(result));
        REQUIRE(result.ok());
        CHECK(result.rules->size() == max_rules);
    }
    SECTION("one more is refused, reported once") {
        auto b = dir.write("20-b.json", many_rules(max_rules - 600 + 1, "b"));
        dir.write("30-c.json", many_rules(5, "c"));
        auto result = load_directory(dir.path());
        CHECK_FALSE(result.ok());
        CHECK(errors_of(result) ==
              std::vector<std::string>{b.string() + ":402:1: error: more than 1000 rules in the rule files together (the limit); "
                                                    "the rules from here on were not checked. Remove rules that are not "
                                                    "needed or combine similar ones"});
    }
}

TEST_CASE("More templates than the limit is an error at the first template past it", "[ruleset][limits]") {
    std::string text = "{\"templates\": {\n";
    for (std::size_t i = 0; i <= max_templates; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "t%05zu", i);   // sorted like the file, so the last one is past the limit
        text += std::string(i == 0 ? "" : ",\n") + "\"" + name + "\": \"hi\"";
    }
    text += "\n}}\n";
    auto result = load_text(text, "f.json");
    CHECK_FALSE(result.ok());
    CHECK(errors_of(result) ==
          std::vector<std::string>{"f.json:1002:1: error: more than 1000 templates in the rule files together (the limit); "
                                   "the templates from here on were not checked. Remove templates that are not needed or "
                                   "combine similar ones"});
}

TEST_CASE("A rule file nested 100,000 levels deep is a diagnostic at its place, not a crash", "[ruleset][limits]") {
    temp_dir dir;
    auto deep = dir.write("10-deep.json", "{\"rules\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}");
    auto result = load_directory(dir.path());
    CHECK_FALSE(result.ok());
    CHECK(errors_of(result) ==
          std::vector<std::string>{deep.string() + ":1:138: error: nested deeper than 128 levels of [ and {, the limit for "
                                                   "rule and config files; rules need far fewer, so flatten the nesting"});
}

TEST_CASE("A condition value that is surely a mistake for its field's closed set of values is an error naming the rule and the closest value", "[ruleset][values]") {
    const std::string statuses = "UNPAID, ON_HOLD, AWAITING_SHIPMENT, PARTIALLY_SHIPPING, AWAITING_COLLECTION, IN_TRANSIT, DELIVERED, COMPLETED, CANCELLED";
    auto [condition, token, message] = GENERATE_REF(table<std::string, std::string, std::string>({
        {R"({"order.status": {"eq": "DELIVERD"}})", "\"DELIVERD\"",
         "rule \"a\": order.status is never \"DELIVERD\" (its values: " + statuses + "), so \"eq\" never holds; did you mean DELIVERED?"},
        {R"({"order.status": {"ne": "DELIVERD"}})", "\"DELIVERD\"",
         "rule \"a\": order.status is never \"DELIVERD\" (its values: " + statuses + "), so \"ne\" always holds; did you mean DELIVERED?"},
        {R"({"order.status": {"in": ["ON_HOLD", "delivered"]}})", "\"delivered\"",
         "rule \"a\": order.status is never \"delivered\" (its values: " + statuses + "), so this value of \"in\" never matches; did you mean DELIVERED?"},
        {R"({"order.status": {"changed_to": "AWAITING_SHIPPMENT"}})", "\"AWAITING_SHIPPMENT\"",
         "rule \"a\": order.status is never \"AWAITING_SHIPPMENT\" (its values: " + statuses + "), so \"changed_to\" never holds; did you mean AWAITING_SHIPMENT?"},
        {R"({"order.status": {"changed_from": "ONHOLD"}})", "\"ONHOLD\"",
         "rule \"a\": order.status is never \"ONHOLD\" (its values: " + statuses + "), so \"changed_from\" never holds; did you mean ON_HOLD?"},
        {R"({"order.status": {"contains": "DELIVERD"}})", "\"DELIVERD\"",
         "rule \"a\": no value of order.status (" + statuses + ") contains \"DELIVERD\", so \"contains\" never holds; did you mean DELIVERED?"},
        {R"({"event.order_status": {"eq": "CANCEL"}})", "\"CANCEL\"",
         "rule \"a\": event.order_status is never \"CANCEL\" (its values: " + statuses + "), so \"eq\" never holds; did you mean CANCELLED?"},
        {R"({"event.order_status": {"ne": "CANCEL"}})", "\"CANCEL\"",
         "rule \"a\": event.order_status is never \"CANCEL\" (its values: " + statuses + "), so \"ne\" always holds; did you mean CANCELLED?"},
        {R"({"event.source": {"eq": "api"}})", "\"api\"",
         "rule \"a\": event.source is never \"api\" (its values: webhook, poll, tracking_feed, timer), so \"eq\" never holds"},
        {R"({"event.type": {"eq": 2}})", "2}",
         "rule \"a\": event.type is never 2 (its values: 0, 1, 3, 4, 6, 7, 11, 12, 13, 14), so \"eq\" never holds"},
        {R"({"event.source": {"eq": "webhooks"}})", "\"webhooks\"",
         "rule \"a\": event.source is never \"webhooks\" (its values: webhook, poll, tracking_feed, timer), so \"eq\" never holds; did you mean webhook?"},
        {R"({"event.cancel_status": {"eq": "CANCELLATION_REQUEST_CANCEL"}})", "\"CANCELLATION_REQUEST_CANCEL\"",
         "rule \"a\": event.cancel_status is never \"CANCELLATION_REQUEST_CANCEL\" (its values: CANCELLATION_REQUEST_PENDING, "
         "CANCELLATION_REQUEST_SUCCESS, CANCELLATION_REQUEST_CANCELLED, CANCELLATION_REQUEST_COMPLETE), so \"eq\" never holds; "
         "did you mean CANCELLATION_REQUEST_CANCELLED?"},
        {R"({"message.type": {"eq": "text"}})", "\"text\"",
         "rule \"a\": message.type is never \"text\" (its values: TEXT, IMAGE, VIDEO, EMOTICONS, PRODUCT_CARD, ORDER_CARD, COUPON_CARD, "
         "ALLOCATED_SERVICE, NOTIFICATION, BUYER_ENTER_FROM_TRANSFER, BUYER_ENTER_FROM_PRODUCT, BUYER_ENTER_FROM_ORDER, OTHER), "
         "so \"eq\" never holds; did you mean TEXT?"},
        {R"({"conversation.order_link": {"eq": "ambigous"}})", "\"ambigous\"",
         "rule \"a\": conversation.order_link is never \"ambigous\" (its values: order_card, only_open_order, ambiguous, no_open_order, "
         "unknown_buyer, order_unavailable), so \"eq\" never holds; did you mean ambiguous?"},
        {R"({"event.return_role": {"eq": "BUYERS"}})", "\"BUYERS\"",
         "rule \"a\": event.return_role is never \"BUYERS\" (its values: BUYER, SELLER, OPERATOR, SYSTEM), so \"eq\" never holds; did you mean BUYER?"},
        {R"({"order.status": {"eq": 5}})", "5}",
         "rule \"a\": order.status is never 5 (its values: " + statuses + "), so \"eq\" never holds"},
    }));
    const std::string rule = R"({"id": "a", "on": "order.status_changed", "if": )" + condition + ", " + then_t + "}";
    CAPTURE(rule);
    auto result = load_text(frame(rule), "f.json");
    INFO(all_diagnostics(result));
    CHECK(result.rules == nullptr);   // an error: the rule set is refused, a reload keeps the running one
    CHECK(errors_of(result) == std::vector<std::string>{error_at(4, rule, token, message)});
}

// A rule that loaded before this check existed must not stop the daemon
// starting after an upgrade over a value TikTok may have added since, or
// one "not_in" lists besides the values that exclude.
TEST_CASE("A condition value far from every listed value or only in not_in is a warning and the rule loads", "[ruleset][values]") {
    const std::string statuses = "UNPAID, ON_HOLD, AWAITING_SHIPMENT, PARTIALLY_SHIPPING, AWAITING_COLLECTION, IN_TRANSIT, DELIVERED, COMPLETED, CANCELLED";
    const std::string advice = "; if TikTok has added this value since, the rule works as written";
    auto [condition, token, message] = GENERATE_REF(table<std::string, std::string, std::string>({
        {R"({"order.status": {"not_in": ["CANCELLED", "CANCEL"]}})", "\"CANCEL\"",
         "rule \"a\": order.status is never \"CANCEL\" (its values: " + statuses + "), so this value of \"not_in\" excludes nothing" +
             advice + "; did you mean CANCELLED?"},
        {R"({"order.status": {"matches": "^SHIPPED$"}})", "\"^SHIPPED$\"",
         "rule \"a\": no value of order.status (" + statuses + ") matches \"^SHIPPED$\", so \"matches\" never holds" + advice},
        {R"({"order.packages": {"any": {"status": {"eq": "SHIPPED"}}}})", "\"SHIPPED\"",
         "rule \"a\": the status of order.packages is never \"SHIPPED\" (its values: TO_FULFILL, PROCESSING, FULFILLING, COMPLETED, CANCELLED), "
         "so \"eq\" never holds" + advice},
        {R"({"order.shipping_type": {"eq": "PICKUP"}})", "\"PICKUP\"",
         "rule \"a\": order.shipping_type is never \"PICKUP\" (its values: TIKTOK, SELLER), so \"eq\" never holds" + advice},
    }));
    const std::string rule = R"({"id": "a", "on": "order.status_changed", "if": )" + condition + ", " + then_t + "}";
    CAPTURE(rule);
    auto result = load_text(frame(rule), "f.json");
    INFO(all_diagnostics(result));
    CHECK(result.rules != nullptr);
    CHECK(errors_of(result).empty());
    CHECK(warnings_of(result) == std::vector<std::string>{warning_at(4, rule, token, message)});
}

TEST_CASE("A condition value whose JSON type the field never has is an error saying how to write it", "[ruleset][values]") {
    auto [condition, token, message] = GENERATE(table<std::string, std::string, std::string>({
        {R"({"order.is_on_hold": {"eq": "true"}})", "\"true\"",
         "rule \"a\": order.is_on_hold is true or false, never the string \"true\", so \"eq\" never holds; write true without quotes"},
        {R"({"order.is_buyer_request_cancel": {"in": [1]}})", "1]",
         "rule \"a\": order.is_buyer_request_cancel is true or false, never the number 1, so this value of \"in\" never matches; write true or false"},
        {R"({"order.is_on_hold": {"changed_to": "false"}})", "\"false\"",
         "rule \"a\": order.is_on_hold is true or false, never the string \"false\", so \"changed_to\" never holds; write false without quotes"},
        {R"({"order.total_amount": {"eq": "4,980"}})", "\"4,980\"",
         "rule \"a\": order.total_amount is a number, never the string \"4,980\", so \"eq\" never holds; write a number such as 4980"},
        {R"({"order.total_amount": {"ne": true}})", "true",
         "rule \"a\": order.total_amount is a number, never true, so \"ne\" always holds; write a number such as 4980"},
        {R"({"order.sku_counts.ENG-1": {"not_in": ["one"]}})", "\"one\"",
         "rule \"a\": order.sku_counts.ENG-1 is a number, never the string \"one\", so this value of \"not_in\" excludes nothing; write a number such as 4980"},
        {R"({"order.create_time": {"eq": "2026-11-23"}})", "\"2026-11-23\"",
         "rule \"a\": order.create_time is a timestamp (unix seconds), never the string \"2026-11-23\", so \"eq\" never holds; "
         "write unix seconds such as 1764547200, or test the time with \"older_than\" or \"within\""},
        {R"({"order.buyer_message": {"eq": false}})", "false",
         "rule \"a\": order.buyer_message is text, never false, so \"eq\" never holds; write \"false\" in quotes to compare with the text"},
        {R"({"order.line_items": {"any": {"sale_price": {"eq": "free"}}}})", "\"free\"",
         "rule \"a\": the sale_price of order.line_items is a number, never the string \"free\", so \"eq\" never holds; write a number such as 4980"},
        {R"({"order.tags": {"any": {"eq": true}}})", "true",
         "rule \"a\": an element of order.tags is text, never true, so \"eq\" never holds; write \"true\" in quotes to compare with the text"},
    }));
    const std::string rule = R"({"id": "a", "on": "order.status_changed", "if": )" + condition + ", " + then_t + "}";
    CAPTURE(rule);
    auto result = load_text(frame(rule), "f.json");
    INFO(all_diagnostics(result));
    CHECK(result.rules == nullptr);
    CHECK(errors_of(result) == std::vector<std::string>{error_at(4, rule, token, message)});
}

TEST_CASE("Condition values that can equal the field as evaluation compares them load without error", "[ruleset][values]") {
    auto condition = GENERATE(as<std::string>{},
        R"({"order.total_amount": {"eq": "4980"}})",             // a numeric string counts as a number
        R"({"order.id": {"eq": 4980}})",                          // and a number as the id it spells
        R"({"order.id": {"in": [576461413038785752, "576461413038785753"]}})",
        R"({"order.sku_counts.ENG-1": {"eq": "2"}})",
        R"({"order.create_time": {"eq": "1764547200"}})",
        R"({"event.type": {"eq": "1"}})",
        R"({"event.type": {"in": [0, 14]}})",
        R"({"order.status": {"eq": null}})",                      // null: missing, on any field
        R"({"order.is_on_hold": {"ne": null}})",
        R"({"order.cancellation_initiator": {"eq": ""}})",        // what a field TikTok left out holds
        R"({"order.is_on_hold": {"eq": false}})",
        R"({"order.status": {"in": ["ON_HOLD", "AWAITING_SHIPMENT"]}})",
        R"({"order.status": {"contains": "ship"}})",               // folded as evaluation folds it
        R"({"order.status": {"matches": "^AWAITING_"}})",
        R"({"event.cancel_status": {"eq": "CANCELLATION_REQUEST_CANCELLED"}})",
        R"({"event.package_status": {"eq": "TO_FULFILL"}})",
        R"({"order.packages": {"any": {"status": {"in": ["TO_FULFILL", "COMPLETED"]}}}})",
        R"({"event.sc_type": {"in": ["SPLIT", "PARTLY_CANCEL_SPLIT"]}})",
        R"({"message.text": {"eq": "4980"}})",
        R"({"order.tags": {"any": {"eq": "true"}}})");
    const std::string rule = R"({"id": "a", "on": ["order.status_changed", "message.received", "package.updated", "order.cancellation_changed"], "if": )" +
                             condition + ", " + then_t + "}";
    CAPTURE(rule);
    auto result = load_text(frame(rule), "f.json");
    INFO(all_diagnostics(result));
    CHECK(errors_of(result).empty());
    CHECK(result.ok());
}

}  // namespace ORDERFLOW_TEST_FILE
