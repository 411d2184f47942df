// Tests for rules/fixture.hpp: parsing fixture and event files (with the
// place and wording of each error), running cases, the expected-versus-planned
// diff, and RFC 3339 times.
#include "rules/fixture.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;
using orderflow::rules::test::must_load;

namespace {

const char* rules_text = R"({
  "templates": {
    "thanks": {"ja": "{{order.buyer_name}}様、ありがとうございます。", "en": "Thanks, {{order.buyer_name}}!"},
    "ask": "Engraving text for {{order.id}}?"
  },
  "rules": [
    {"id": "thanks", "on": "order.status_changed", "if": {"order.status": {"changed_to": "AWAITING_SHIPMENT"}},
     "then": [{"send_message": {"template": "thanks"}}]},
    {"id": "ask", "on": "order.status_changed",
     "if": {"all": [{"order.status": {"eq": "AWAITING_SHIPMENT"}}, {"order.line_items": {"any": {"seller_sku": {"matches": "^ENG-"}}}}]},
     "then": [{"send_message": {"template": "ask"}}]},
    {"id": "shadowed", "on": "order.status_changed", "mode": "shadow", "if": {"order.status": {"eq": "DELIVERED"}},
     "then": [{"send_message": {"template": "ask"}}]}
  ]})";

jsonc_document parse_ok(const std::string& text) {
    auto r = parse_jsonc(text, "f.json");
    if (auto* d = std::get_if<diagnostic>(&r)) FAIL(d->to_string());
    return std::move(std::get<jsonc_document>(r));
}

fixture_parse_result parse(const std::string& text, fixture_defaults defaults = {}) {
    return parse_fixture(parse_ok(text), defaults);
}

std::vector<std::string> messages(const std::vector<diagnostic>& diags) {
    std::vector<std::string> out;
    for (const auto& d : diags) out.push_back(d.to_string());
    return out;
}

std::string joined(const std::vector<diagnostic>& diags) {
    std::string out;
    for (const auto& d : diags) out += d.to_string() + "\n";
    return out;
}

// One case around `expect` (a JSON array) for an order entering
// AWAITING_SHIPMENT with an ENG- SKU.
std::string one_case(const std::string& expect) {
    return R"({"cases": [{"name": "c", "event": "order.status_changed", "now": "2026-11-23T10:00:00+09:00",
  "previous_order": {"status": "ON_HOLD"},
  "order": {"id": "42", "status": "AWAITING_SHIPMENT", "buyer_name": "山田", "line_items": [{"seller_sku": "ENG-1"}]},
  "expect": )" + expect + "}]}";
}

case_result run_one(const std::string& fixture_text) {
    auto rules = must_load(rules_text);
    auto fixture = parse(fixture_text);
    INFO(joined(fixture.diagnostics));
    REQUIRE(fixture.ok());
    REQUIRE(fixture.cases.size() == 1);
    return run_case(*rules, fixture.cases.front());
}

}  // namespace

TEST_CASE("A fixture case becomes a context with the event, orders, message and time", "[fixture]") {
    auto r = parse(R"({
  // comments are fine
  "cases": [{
    "name": "first",
    "event": "message.received",
    "event_id": "evt-7",
    "event_data": {"source": "webhook"},
    "order": {"id": "1", "status": "AWAITING_SHIPMENT", "create_time": "2026-11-23T09:00:00+09:00", "paid_time": 1700000000},
    "previous_order": {"id": "1", "status": "ON_HOLD"},
    "message": {"id": "m1", "text": "こんにちは", "create_time": "1700000000"},
    "shop": {"name": "刻印工房"},
    "now": "2026-11-23T10:00:00+09:00",
    "locale": "en",
    "expect": [{"rule": "r", "action": "send_message", "text": "x", "shadow": true}, {"rule": "s", "action": "send_message", "error": "e"}]
  }, {"name": "second", "event": "order.status_changed", "expect": []}]
})",
                   fixture_defaults{123, "ja"});
    INFO(joined(r.diagnostics));
    REQUIRE(r.ok());
    REQUIRE(r.cases.size() == 2);
    const auto& c = r.cases[0];
    CHECK(c.name == "first");
    CHECK(c.file == "f.json");
    CHECK(c.line == 3);
    CHECK(c.ctx.event == "message.received");
    CHECK(c.ctx.event_id == "evt-7");
    CHECK(c.ctx.event_data["source"] == "webhook");
    CHECK(c.ctx.order["create_time"] == 1795392000 + 0);  // 2026-11-23T00:00:00Z
    CHECK(c.ctx.order["paid_time"] == 1700000000);
    CHECK(c.ctx.message["create_time"] == "1700000000");  // digit strings stay: the engine reads them as numbers
    CHECK(c.ctx.previous_order["status"] == "ON_HOLD");
    CHECK(c.ctx.shop["name"] == "刻印工房");
    CHECK(c.ctx.now == 1795395600);
    CHECK(c.ctx.default_locale == "en");
    REQUIRE(c.expect.size() == 2);
    CHECK(c.expect[0].rule == "r");
    CHECK(c.expect[0].text == "x");
    CHECK(c.expect[0].shadow == true);
    CHECK_FALSE(c.expect[0].error);
    CHECK(c.expect[1].error == "e");
    CHECK_FALSE(c.expect[1].shadow);

    const auto& d = r.cases[1];
    CHECK(d.ctx.now == 123);
    CHECK(d.ctx.default_locale == "ja");
    CHECK(d.ctx.event_id == "fixture:second");
    CHECK(d.ctx.order.is_null());
    CHECK(d.expect.empty());
}

TEST_CASE("Malformed fixtures are reported at file:line:column with what was expected", "[fixture]") {
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        {R"([])", R"(f.json:1:1: error: expected a fixture object {"cases": [...]}, found an array)"},
        {R"({})", R"(f.json:1:1: error: fixture has no "cases"; expected {"cases": [{"name": ..., "event": ..., "expect": [...]}]})"},
        {R"({"case": []})", R"(f.json:1:2: error: unknown top-level key "case"; allowed keys: cases, description; did you mean cases?)"},
        {R"({"cases": []})", R"(f.json:1:11: error: expected "cases" to be a non-empty array of cases, found an array)"},
        {R"({"cases": [{"event": "order.status_changed", "expect": []}]})",
         R"(f.json:1:12: error: case has no "name"; every case needs a name to report PASS or FAIL under)"},
        {R"({"cases": [{"name": "a", "expect": []}]})",
         R"(f.json:1:12: error: no "event"; expected an event name such as "order.status_changed")"},
        {R"({"cases": [{"name": "a", "event": "order.status_change", "expect": []}]})",
         R"(f.json:1:35: error: unknown event "order.status_change"; did you mean order.status_changed?)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed"}]})",
         R"(f.json:1:12: error: case has no "expect"; list the actions the rules must plan, or [] for none)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [], "ordr": {}}]})",
         R"(f.json:1:73: error: unknown key "ordr"; allowed keys: name, description, event, event_id, event_data, order, previous_order, message, conversation, shop, now, locale, expect; did you mean order?)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [], "now": "tomorrow"}]})",
         R"(f.json:1:80: error: expected "now" as an RFC 3339 time such as "2026-11-23T10:00:00+09:00" or unix seconds, found "tomorrow")"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [], "order": []}]})",
         R"(f.json:1:82: error: expected "order" to be an object, found an array)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [], "order": {"create_time": "monday"}}]})",
         R"(f.json:1:98: error: expected unix seconds or an RFC 3339 time such as "2026-11-23T10:00:00+09:00", found "monday")"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": {}}]})",
         R"(f.json:1:69: error: expected "expect" to be an array of actions such as [{"rule": "...", "action": "send_message"}], found an object)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [{"rule": "r"}]}]})",
         R"(f.json:1:70: error: expected action has no "action")"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [{"rule": "r", "action": "send_message", "txt": "x"}]}]})",
         R"(f.json:1:110: error: unknown key "txt" in an expected action; allowed keys: rule, action, text, error, shadow, fire_at; did you mean text?)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [{"rule": "r", "action": "send_message", "shadow": "yes"}]}]})",
         R"(f.json:1:120: error: expected "shadow" to be true or false, found a string)"},
        {R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": []}, {"name": "a", "event": "order.status_changed", "expect": []}]})",
         R"(f.json:1:83: error: duplicate case name "a")"},
    }));
    auto r = parse(text);
    CHECK_FALSE(r.ok());
    auto found = messages(r.diagnostics);
    INFO(joined(r.diagnostics));
    CHECK(std::find(found.begin(), found.end(), expected) != found.end());
}

TEST_CASE("Unknown order fields in a fixture are warnings with a hint, not errors", "[fixture]") {
    auto r = parse(R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [],
  "order": {"buyer_nme": "x", "line_items": [{"sellr_sku": "ENG-1"}]}}]})");
    CHECK(r.ok());
    CHECK(r.cases.size() == 1);
    CHECK(messages(r.diagnostics) ==
          std::vector<std::string>{R"(f.json:2:13: warning: order field "buyer_nme" is not one rules can name; did you mean buyer_name?)",
                                   R"(f.json:2:47: warning: order.line_items element field "sellr_sku" is not one rules can name; did you mean seller_sku?)"});
}

TEST_CASE("order.attributes and order.sku_counts given as whole objects are not warned about", "[fixture]") {
    const std::string order = R"({"id": "1", "attributes": {"engraving": "HANAKO"}, "sku_counts": {"ENG-001": 2}})";
    auto fixture = parse(R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [], "order": )" + order + "}]}");
    CHECK(fixture.ok());
    CHECK(messages(fixture.diagnostics).empty());
    REQUIRE(fixture.cases.size() == 1);
    CHECK(fixture.cases[0].ctx.order["attributes"]["engraving"] == "HANAKO");

    auto event = parse_event(parse_ok(R"({"event": "order.status_changed", "order": )" + order + "}"), {});
    REQUIRE(event.ctx);
    CHECK(messages(event.diagnostics).empty());

    orderflow::rules::test::temp_dir dir;
    auto file = read_object_file(dir.write("o.json", order), "order");
    REQUIRE(file.value);
    CHECK(messages(file.diagnostics).empty());

    // A near miss of the name is still a warning.
    auto typo = parse(R"({"cases": [{"name": "a", "event": "order.status_changed", "expect": [], "order": {"atributes": {"x": "y"}}}]})");
    CHECK(messages(typo.diagnostics).size() == 1);
}

TEST_CASE("A syntax error in a fixture file is one diagnostic with its place", "[fixture]") {
    orderflow::rules::test::temp_dir dir;
    auto path = dir.write("bad.json", "{\"cases\": [\n  {\"name\": \"a\",}\n]}");
    auto r = read_fixture_file(path, {});
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].line == 2);
    CHECK_FALSE(r.ok());
    auto missing = read_fixture_file(dir.path() / "nope.json", {});
    CHECK_FALSE(missing.ok());
}

TEST_CASE("A case passes when the planned actions are exactly the expected ones", "[fixture]") {
    SECTION("rule, action and exact texts") {
        auto r = run_one(one_case(R"([{"rule": "thanks", "action": "send_message", "text": "山田様、ありがとうございます。"},
                                      {"rule": "ask", "action": "send_message", "text": "Engraving text for 42?", "shadow": false}])"));
        CHECK(r.passed);
        CHECK(r.diff.empty());
        CHECK(r.actual.actions.size() == 2);
    }
    SECTION("text left out is not compared") {
        auto r = run_one(one_case(R"([{"rule": "thanks", "action": "send_message"}, {"rule": "ask", "action": "send_message"}])"));
        CHECK(r.passed);
    }
    SECTION("an expected error") {
        auto text = one_case(R"([{"rule": "thanks", "action": "send_message", "error": "missing value for order.buyer_name"},
                                 {"rule": "ask", "action": "send_message"}])");
        text.replace(text.find(R"("buyer_name": "山田", )"), std::string(R"("buyer_name": "山田", )").size(), "");
        auto r = run_one(text);
        INFO(r.diff);
        CHECK(r.passed);
    }
}

TEST_CASE("A failing case shows expected and planned actions aligned, with what differs", "[fixture]") {
    SECTION("a different text, with the character where it starts to differ") {
        auto r = run_one(one_case(R"([{"rule": "thanks", "action": "send_message", "text": "山田様、ありがとう。"},
                                      {"rule": "ask", "action": "send_message"}])"));
        CHECK_FALSE(r.passed);
        CHECK(r.diff ==
              "  expected 2 actions, planned 2 actions (- expected, + planned, = as expected):\n"
              "  - thanks send_message \"山田様、ありがとう。\"\n"
              "  + thanks send_message \"山田様、ありがとうございます。\"\n"
              "    ^ the text differs from character 10\n"
              "  = ask send_message \"Engraving text for 42?\"\n");
    }
    SECTION("an action planned that was not expected") {
        auto r = run_one(one_case(R"([{"rule": "ask", "action": "send_message"}])"));
        CHECK_FALSE(r.passed);
        CHECK(r.diff ==
              "  expected 1 action, planned 2 actions (- expected, + planned, = as expected):\n"
              "  + thanks send_message \"山田様、ありがとうございます。\"\n"
              "    ^ planned but not expected\n"
              "  = ask send_message \"Engraving text for 42?\"\n");
    }
    SECTION("nothing expected") {
        auto r = run_one(one_case("[]"));
        CHECK_FALSE(r.passed);
        CHECK(r.diff.find("expected 0 actions, planned 2 actions") != std::string::npos);
    }
    SECTION("an expected action that was not planned, with a hint for a misspelled rule id") {
        auto r = run_one(one_case(R"([{"rule": "thanks", "action": "send_message"}, {"rule": "ask", "action": "send_message"},
                                      {"rule": "shadowd", "action": "send_message"}])"));
        CHECK_FALSE(r.passed);
        CHECK(r.diff.find("  - shadowd send_message\n    ^ expected but not planned\n") != std::string::npos);
        CHECK(r.diff.find("note: no rule \"shadowd\" is loaded; did you mean shadowed?") != std::string::npos);
    }
    SECTION("an action that failed when a text was expected") {
        auto text = one_case(R"([{"rule": "thanks", "action": "send_message", "text": "x"}, {"rule": "ask", "action": "send_message"}])");
        text.replace(text.find(R"("buyer_name": "山田", )"), std::string(R"("buyer_name": "山田", )").size(), "");
        auto r = run_one(text);
        CHECK_FALSE(r.passed);
        CHECK(r.diff.find("  + thanks send_message error \"missing value for order.buyer_name\"\n"
                          "    ^ the action could not be prepared: missing value for order.buyer_name\n") != std::string::npos);
    }
    SECTION("shadow expected but live planned") {
        auto r = run_one(one_case(R"([{"rule": "thanks", "action": "send_message", "shadow": true}, {"rule": "ask", "action": "send_message"}])"));
        CHECK_FALSE(r.passed);
        CHECK(r.diff.find("expected a shadow action, planned a live one") != std::string::npos);
    }
}

TEST_CASE("An event file is a case without name or expectations", "[fixture]") {
    auto ok = parse_event(parse_ok(R"({"event": "order.status_changed", "order": {"id": "1"}, "now": 5})"), fixture_defaults{9, "en"});
    REQUIRE(ok.ctx);
    CHECK(ok.ctx->event == "order.status_changed");
    CHECK(ok.ctx->order["id"] == "1");
    CHECK(ok.ctx->now == 5);
    CHECK(ok.ctx->default_locale == "en");
    CHECK(ok.ctx->event_id == "explain");

    auto bad = parse_event(parse_ok(R"({"evnt": "order.status_changed"})"), {});
    CHECK_FALSE(bad.ctx);
    CHECK(messages(bad.diagnostics).at(0) == R"(f.json:1:1: error: no "event"; expected an event name such as "order.status_changed")");
}

TEST_CASE("Order files for explain are objects with times converted", "[fixture]") {
    orderflow::rules::test::temp_dir dir;
    auto good = read_object_file(dir.write("o.json", R"({"id": "1", "create_time": "1970-01-02T00:00:00Z"} // an order)"), "order");
    REQUIRE(good.value);
    CHECK((*good.value)["create_time"] == 86400);
    auto bad = read_object_file(dir.write("b.json", "[1]"), "order");
    CHECK_FALSE(bad.value);
    CHECK(messages(bad.diagnostics).at(0).find("b.json:1:1: error: expected a JSON object with order fields") != std::string::npos);
}

TEST_CASE("RFC 3339 times parse to unix seconds and bad ones are refused", "[fixture]") {
    auto [text, expected] = GENERATE(table<std::string, std::optional<std::int64_t>>({
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-23T10:00:00+09:00", 1795395600},
        {"2026-11-23T01:00:00Z", 1795395600},
        {"2026-11-23 01:00:00.123456z", 1795395600},
        {"2026-11-22T20:00:00-05:00", 1795395600},
        {"2024-02-29T00:00:00Z", 1709164800},
        {"2023-02-29T00:00:00Z", std::nullopt},
        {"2026-13-01T00:00:00Z", std::nullopt},
        {"2026-11-23T10:00:00", std::nullopt},
        {"2026-11-23T10:00:00+0900", std::nullopt},
        {"2026-11-23", std::nullopt},
        {"yesterday", std::nullopt},
    }));
    CHECK(parse_rfc3339(text) == expected);
}

TEST_CASE("Unix seconds format back as UTC", "[fixture]") {
    CHECK(format_utc(0) == "1970-01-01T00:00:00Z");
    CHECK(format_utc(1795395600) == "2026-11-23T01:00:00Z");
    CHECK(format_utc(-1) == "1969-12-31T23:59:59Z");
}

}  // namespace ORDERFLOW_TEST_FILE
