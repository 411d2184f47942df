// The after-sales fields in the rule language: event.cancel_* and
// event.return_* are in the catalogue, rules test them on their events, and
// testing them in a rule that does not listen to their event is a warning
// (rules/detail/rule_compiler.cpp, after_sales_warnings).
#include "rules/engine.hpp"
#include "rules/fields.hpp"

#include "tests/rules/support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;

TEST_CASE("The after-sales fields are in the catalogue with their types", "[fields][after_sales]") {
    auto [path, type] = GENERATE(table<std::string, field_type>({
        {"event.cancel_id", field_type::string},
        {"event.cancel_status", field_type::string},
        {"event.cancellations_role", field_type::string},
        {"event.return_id", field_type::string},
        {"event.return_type", field_type::string},
        {"event.return_status", field_type::string},
        {"event.return_role", field_type::string},
        {"event.create_time", field_type::timestamp},
        {"order.is_buyer_request_cancel", field_type::boolean},
        {"order.cancel_reason", field_type::string},
        {"order.cancellation_initiator", field_type::string}}));
    auto f = find_field(path);
    REQUIRE(f.has_value());
    CHECK(f->type == type);
}

TEST_CASE("Testing a cancellation or return field outside its event is a warning at the test", "[ruleset][warnings][after_sales]") {
    auto result = load_text(R"({
  "rules": [
    {"id": "c", "on": "order.status_changed", "if": {"event.cancel_status": {"eq": "CANCELLATION_REQUEST_PENDING"}}, "then": [{"flag_review": {"reason": "x"}}]},
    {"id": "r", "on": ["order.cancellation_changed"], "if": {"all": [{"event.return_status": {"exists": true}}]}, "then": [{"flag_review": {"reason": "x"}}]},
    {"id": "t", "on": "message.received", "once_per": "message", "if": {"event.create_time": {"within": "1h"}}, "then": [{"flag_review": {"reason": "x"}}]},
    {"id": "ok", "on": ["order.cancellation_changed", "order.return_changed"], "once_per": "event",
     "if": {"any": [{"event.cancel_status": {"eq": "CANCELLATION_REQUEST_PENDING"}}, {"event.return_status": {"eq": "AWAITING_BUYER_SHIP"}},
                    {"event.create_time": {"within": "1h"}}, {"order.is_buyer_request_cancel": {"eq": true}}]},
     "then": [{"flag_review": {"reason": "x"}}]}
  ]
})", "f.json");
    INFO(test::all_diagnostics(result));
    REQUIRE(result.ok());
    std::vector<std::string> lines;
    for (const auto& d : result.diagnostics) lines.push_back(d.to_string());
    CHECK(lines == std::vector<std::string>{
        "f.json:3:54: warning: event.cancel_status is set only on order.cancellation_changed, and this rule listens to order.status_changed: here it is always missing",
        "f.json:4:71: warning: event.return_status is set only on order.return_changed, and this rule listens to order.cancellation_changed: here it is always missing",
        "f.json:5:73: warning: event.create_time is set only on order.cancellation_changed or order.return_changed, and this rule listens to message.received: here it is always missing"});
}

TEST_CASE("A rule tells a buyer's cancellation request from its completion", "[engine][after_sales]") {
    auto rules = test::must_load(R"({"rules": [
        {"id": "asks", "on": "order.cancellation_changed", "once_per": "event",
         "if": {"all": [{"event.cancel_status": {"eq": "CANCELLATION_REQUEST_PENDING"}}, {"event.cancellations_role": {"eq": "BUYER"}}]},
         "then": [{"flag_review": {"reason": "cancel_requested"}}]}]})");
    context ctx;
    ctx.event = "order.cancellation_changed";
    ctx.event_id = "tts:1";
    ctx.order = json{{"id", "5761"}, {"status", "AWAITING_SHIPMENT"}, {"is_buyer_request_cancel", true}};
    ctx.event_data = json{{"type", 11}, {"cancel_id", "5800"}, {"cancel_status", "CANCELLATION_REQUEST_PENDING"}, {"cancellations_role", "BUYER"}};
    CHECK(evaluate(*rules, ctx).matched_rules == std::vector<std::string>{"asks"});
    ctx.event_data["cancel_status"] = "CANCELLATION_REQUEST_COMPLETE";
    CHECK(evaluate(*rules, ctx).matched_rules.empty());
    ctx.event_data["cancel_status"] = "CANCELLATION_REQUEST_PENDING";
    ctx.event_data["cancellations_role"] = "SELLER";
    CHECK(evaluate(*rules, ctx).matched_rules.empty());
}

}  // namespace ORDERFLOW_TEST_FILE
