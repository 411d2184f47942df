// The package fields of the rule language (rules/fields.cpp, "Packages";
// rules/detail/package_warnings.cpp): order.packages with its element
// fields, order.package_count, the package.updated event fields, and the
// check warning for a package field tested in a rule that does not listen
// to package.updated.
#include "rules/engine.hpp"
#include "rules/fields.hpp"

#include "tests/rules/support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using namespace orderflow::rules::test;
using json = nlohmann::json;

namespace {

std::vector<std::string> warnings_of(const load_result& r) {
    std::vector<std::string> out;
    for (const auto& d : r.diagnostics)
        if (d.warning) out.push_back(d.to_string());
    return out;
}

}  // namespace

TEST_CASE("Package fields are in the catalogue with their types", "[fields][packages]") {
    CHECK(find_field("order.packages")->type == field_type::object_list);
    CHECK(find_field("order.package_count")->type == field_type::number);
    CHECK(find_field("event.sc_type")->type == field_type::string);
    CHECK(find_field("event.role_type")->type == field_type::string);
    CHECK(find_field("event.package_status")->type == field_type::string);
    CHECK(find_field("event.package_orders")->type == field_type::string_list);
    CHECK(find_element_field("order.packages", "tracking_number").has_value());
    CHECK_FALSE(find_element_field("order.packages", "seller_sku").has_value());
    CHECK_FALSE(find_element_field("order.line_items", "tracking_number").has_value());
}

TEST_CASE("A rule on package.updated matches on sc_type, the package list and its elements", "[engine][packages]") {
    auto rules = must_load(R"json({
  "templates": {"parts": "{{order.id}} ships in {{order.package_count}} ({{event.sc_type}} {{event.package_id}})"},
  "rules": [{"id": "split", "on": "package.updated",
             "if": {"all": [{"event.sc_type": {"eq": "SPLIT"}}, {"event.package_orders": {"contains": "576"}},
                            {"order.packages": {"any": {"status": {"eq": "PROCESSING"}}}}]},
             "then": [{"send_message": {"template": "parts"}}]}]
})json");
    context ctx;
    ctx.event = "package.updated";
    ctx.event_id = "tts:1#P1#576";
    ctx.event_data = {{"type", 4}, {"package_id", "P1"}, {"sc_type", "SPLIT"}, {"role_type", "ROLE_SELLER"},
                      {"package_orders", json::array({"576"})}, {"package_status", "PROCESSING"}};
    ctx.order = {{"id", "576"}, {"package_count", 2},
                 {"packages", json::array({{{"id", "P1"}, {"status", "PROCESSING"}}, {{"id", "P2"}, {"status", "PROCESSING"}}})}};
    auto result = evaluate(*rules, ctx);
    REQUIRE(result.actions.size() == 1u);
    CHECK(result.actions[0].params["text"] == "576 ships in 2 (SPLIT P1)");

    SECTION("a shipped package (no sc_type) does not match") {
        ctx.event_data["sc_type"] = "";
        CHECK(evaluate(*rules, ctx).actions.empty());
    }
}

TEST_CASE("A package field tested in a rule that does not listen to package.updated is a check warning", "[ruleset][warnings][packages]") {
    auto result = load_text(R"({"rules": [
  {"id": "a", "on": "order.status_changed", "if": {"event.sc_type": {"eq": "SPLIT"}}, "then": [{"tag": "split"}]},
  {"id": "b", "on": ["order.status_changed", "package.updated"], "if": {"event.sc_type": {"eq": "SPLIT"}}, "then": [{"tag": "split"}]},
  {"id": "c", "on": "order.status_changed", "if": {"order.package_count": {"gte": 2}}, "then": [{"tag": "parts"}]}
]})", "f.json");
    REQUIRE(result.ok());   // a warning: check still passes
    CHECK(warnings_of(result) == std::vector<std::string>{
                                     "f.json:2:52: warning: event.sc_type is set only for package.updated, which this rule does not "
                                     "listen to (on: order.status_changed), so the test always sees it missing; add \"package.updated\" to \"on\""});
}

}  // namespace ORDERFLOW_TEST_FILE
