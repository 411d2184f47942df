// The rule language for buyer messages and their order: conversation.*,
// message.order_id, order.attributes.<NAME> and the capture action
// (docs/rules.md, "Buyer messages and their order" and "Actions").
#include "rules/engine.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using orderflow::rules::test::errors_of;
using orderflow::rules::test::must_load;
using json = nlohmann::json;

namespace {

std::string capture_rule(const std::string& on = "\"message.received\"", const std::string& params = R"({"attribute": "engraving"})",
                         const std::string& once_per = "order") {
    return R"({"rules": [{"id": "keep", "on": )" + on + R"(, "once_per": ")" + once_per +
           R"(", "if": {"order.attributes.engraving": {"empty": true}}, "then": [{"capture": )" + params + "}]}]}";
}

context buyer_message(const std::string& text) {
    context ctx;
    ctx.event = "message.received";
    ctx.event_id = "tts:1";
    ctx.now = 1'790'000'000;
    ctx.message = {{"id", "m-1"}, {"text", text}, {"type", "TEXT"}, {"sender_role", "BUYER"}, {"conversation_id", "c-1"}};
    ctx.conversation = {{"id", "c-1"}, {"buyer_user_id", "b-1"}, {"order_link", "only_open_order"}, {"orders", {"o-1"}}, {"order_count", 1}};
    ctx.order = {{"id", "o-1"}, {"status", "AWAITING_SHIPMENT"}, {"attributes", json::object()}};
    return ctx;
}

}  // namespace

TEST_CASE("capture keeps the buyer's text for the linked order under one key per order", "[capture]") {
    auto rules = must_load(capture_rule());
    auto result = evaluate(*rules, buyer_message("HANAKO 2026"));
    REQUIRE(result.actions.size() == 1);
    const auto& a = result.actions[0];
    CHECK(a.kind == "capture");
    CHECK(a.error.empty());
    CHECK(a.params.at("attribute") == "engraving");
    CHECK(a.params.at("value") == "HANAKO 2026");
    CHECK(a.params.at("message_id") == "m-1");
    // once_per order: the same key for any message about the order.
    auto again = evaluate(*rules, buyer_message("something else"));
    CHECK(again.actions.at(0).key_material == a.key_material);
}

TEST_CASE("capture without a linked order or without text is an error keyed to the event, never a silent no-op", "[capture]") {
    auto rules = must_load(capture_rule(R"("message.received")", R"({"attribute": "engraving"})", "message"));
    auto ctx = buyer_message("HANAKO");
    ctx.order = nullptr;
    ctx.conversation["order_link"] = "ambiguous";
    auto result = evaluate(*rules, ctx);
    REQUIRE(result.actions.size() == 1);
    CHECK(result.actions[0].error == "no order to keep the answer on: the message was not linked to one order (conversation.order_link ambiguous)");
    CHECK(result.actions[0].key_material.find("!error") != std::string::npos);

    auto blank = evaluate(*rules, buyer_message("  "));
    REQUIRE(blank.actions.size() == 1);
    CHECK(blank.actions[0].error == "missing value for message.text");
}

TEST_CASE("An answer already kept stops the rule: order.attributes.<NAME> is a field", "[capture]") {
    auto rules = must_load(capture_rule());
    auto ctx = buyer_message("HANAKO");
    ctx.order["attributes"] = {{"engraving", "TARO"}};
    CHECK(evaluate(*rules, ctx).actions.empty());
    // And templates quote it.
    auto quoting = must_load(R"({"templates": {"t": "刻印「{{order.attributes.engraving}}」"},
      "rules": [{"id": "r", "on": "timer.x", "then": [{"send_message": {"template": "t"}}]}]})");
    context timer;
    timer.event = "timer.x";
    timer.event_id = "timer:1";
    timer.order = {{"id", "o-1"}, {"attributes", {{"engraving", "TARO"}}}};
    auto planned = evaluate(*quoting, timer);
    REQUIRE(planned.actions.size() == 1);
    CHECK(planned.actions[0].params.at("text") == "刻印「TARO」");
}

TEST_CASE("conversation.* fields tell how the order was chosen and list the candidates", "[capture]") {
    auto rules = must_load(R"({"rules": [
      {"id": "unclear", "on": "message.received", "once_per": "message",
       "if": {"all": [{"conversation.order_link": {"eq": "ambiguous"}}, {"conversation.order_count": {"gte": 2}},
                      {"conversation.orders": {"contains": "o-2"}}]},
       "then": [{"flag_review": {"reason": "which_order"}}]},
      {"id": "card", "on": "message.received", "once_per": "message",
       "if": {"message.order_id": {"exists": true}}, "then": [{"tag": "shared_card"}]}]})");
    auto ctx = buyer_message("どちらの注文？");
    ctx.order = nullptr;
    ctx.conversation = {{"id", "c-1"}, {"order_link", "ambiguous"}, {"orders", {"o-2", "o-1"}}, {"order_count", 2}};
    auto result = evaluate(*rules, ctx);
    REQUIRE(result.matched_rules == std::vector<std::string>{"unclear"});

    auto card = buyer_message("");
    card.message["type"] = "ORDER_CARD";
    card.message["order_id"] = "o-1";
    card.conversation["order_link"] = "order_card";
    CHECK(evaluate(*rules, card).matched_rules == std::vector<std::string>{"card"});
}

TEST_CASE("capture loads only in rules that listen to buyer messages alone, with a valid attribute name", "[capture]") {
    CHECK(errors_of(load_text(capture_rule(), "t.json")).empty());
    auto outside = errors_of(load_text(capture_rule(R"(["message.received", "order.status_changed"])"), "t.json"));
    REQUIRE(outside.size() == 1);
    CHECK_THAT(outside[0], Catch::Contains("\"capture\" keeps what a buyer wrote: the rule must listen only to \"message.received\""));
    auto no_name = errors_of(load_text(capture_rule(R"("message.received")", "{}"), "t.json"));
    REQUIRE(no_name.size() == 1);
    CHECK_THAT(no_name[0], Catch::Contains("capture has no \"attribute\""));
    auto bad_name = errors_of(load_text(capture_rule(R"("message.received")", R"({"attribute": "Engraving Text"})"), "t.json"));
    REQUIRE(bad_name.size() == 1);
    CHECK_THAT(bad_name[0], Catch::Contains("expected \"attribute\" to be a name of lower-case letters"));
    auto stray = errors_of(load_text(capture_rule(R"("message.received")", R"({"attribute": "a", "from": "message.text"})"), "t.json"));
    REQUIRE(stray.size() == 1);
    CHECK_THAT(stray[0], Catch::Contains("unknown capture key \"from\""));
    // A tag in a buyer-message rule is no longer "needs an order" warned: the message may be linked.
    auto tagging = load_text(R"({"rules": [{"id": "t", "on": "message.received", "once_per": "message", "then": [{"tag": "asked"}]}]})", "t.json");
    CHECK(tagging.ok());
    CHECK(tagging.diagnostics.empty());
}

TEST_CASE("check warns of a buyer message's fields tested in a rule that does not listen to buyer messages", "[capture]") {
    auto result = load_text(R"({"rules": [
  {"id": "a", "on": "order.status_changed", "if": {"conversation.order_link": {"eq": "ambiguous"}}, "then": [{"flag_review": {"reason": "x"}}]},
  {"id": "b", "on": ["order.status_changed"], "if": {"not": {"message.order_id": {"empty": true}}}, "then": [{"flag_review": {"reason": "x"}}]},
  {"id": "ok", "on": ["message.received", "order.status_changed"], "once_per": "event",
   "if": {"any": [{"conversation.order_link": {"eq": "ambiguous"}}, {"message.text": {"contains": "x"}}]}, "then": [{"flag_review": {"reason": "x"}}]}
]})", "f.json");
    REQUIRE(result.ok());
    std::vector<std::string> lines;
    for (const auto& d : result.diagnostics) lines.push_back(d.to_string());
    CHECK(lines == std::vector<std::string>{
        "f.json:2:52: warning: conversation.order_link is set only on message.received, and this rule listens to order.status_changed: here it is always missing",
        "f.json:3:62: warning: message.order_id is set only on message.received, and this rule listens to order.status_changed: here it is always missing"});
}

}  // namespace ORDERFLOW_TEST_FILE
