// Tests for rules/engine.hpp: every operator (true and false), combinators,
// event filtering and order, shadow mode, and idempotency key material.
#include "rules/engine.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;
using orderflow::rules::test::must_load;

namespace {

constexpr std::int64_t now = 1'700'000'000;

context sample_context() {
    context ctx;
    ctx.event = "order.status_changed";
    ctx.event_id = "evt-1";
    ctx.now = now;
    ctx.event_data = {{"type", 1}, {"order_status", "AWAITING_SHIPMENT"}, {"source", "webhook"}, {"update_time", now - 10}};
    ctx.order = {
        {"id", "576461413038785752"},
        {"status", "AWAITING_SHIPMENT"},
        {"buyer_name", "山田 太郎"},
        {"buyer_message", ""},
        {"tracking_number", nullptr},
        {"create_time", now - 30 * 3600},
        {"is_on_hold", false},
        {"total_amount", 4980},
        {"item_count", 2},
        {"currency", "JPY"},
        {"shipping_provider", "ヤマト運輸"},
        {"line_items",
         {{{"seller_sku", "ENG-001"}, {"product_name", "真鍮キーホルダー"}, {"sale_price", 2490}},
          {{"seller_sku", "STD-002"}, {"product_name", "レザーケース"}, {"sale_price", 2490.0}}}},
        {"sku_counts", {{"ENG-001", 1}, {"STD-002", 1}}},
        {"tags", {"VIP", "repeat"}},
    };
    ctx.previous_order = {{"id", "576461413038785752"}, {"status", "ON_HOLD"}};
    ctx.message = {{"id", "msg-9"}, {"text", "刻印は「ＡＢＣ」でお願いします。ｶﾞﾝﾊﾞﾚ"}, {"create_time", now - 60},
                   {"conversation_id", "　"}};
    ctx.shop = {{"name", "刻印工房"}};
    return ctx;
}

std::string rule_with_condition(const std::string& condition) {
    return R"({"templates": {"t": "hi"}, "rules": [{"id": "r", "on": "order.status_changed", "if": )" + condition +
           R"(, "then": [{"send_message": {"template": "t"}}]}]})";
}

bool fires(const std::string& condition, const context& ctx) {
    auto rules = must_load(rule_with_condition(condition));
    return !evaluate(*rules, ctx).matched_rules.empty();
}

}  // namespace

TEST_CASE("Every operator is true and false in the right cases", "[engine]") {
    auto [condition, expected] = GENERATE(table<std::string, bool>({
        // eq / ne
        {R"({"order.status": {"eq": "AWAITING_SHIPMENT"}})", true},
        {R"({"order.currency": {"eq": "jpy"}})", false},
        {R"({"order.total_amount": {"eq": 4980}})", true},
        {R"({"order.total_amount": {"eq": "4980"}})", true},
        {R"({"order.total_amount": {"eq": 4981}})", false},
        {R"({"order.is_on_hold": {"eq": false}})", true},
        {R"({"order.seller_note": {"eq": null}})", true},
        {R"({"order.tracking_number": {"eq": null}})", true},
        {R"({"event.type": {"eq": 1}})", true},
        {R"({"shop.name": {"eq": "刻印工房"}})", true},
        {R"({"order.status": {"ne": "CANCELLED"}})", true},
        {R"({"order.status": {"ne": "AWAITING_SHIPMENT"}})", false},
        {R"({"order.seller_note": {"ne": "x"}})", true},
        // in / not_in
        {R"({"order.status": {"in": ["AWAITING_SHIPMENT", "AWAITING_COLLECTION"]}})", true},
        {R"({"order.status": {"in": ["DELIVERED"]}})", false},
        {R"({"order.status": {"not_in": ["CANCELLED", "CANCEL"]}})", true},   // loads, with a warning about CANCEL
        {R"({"order.status": {"not_in": ["AWAITING_SHIPMENT"]}})", false},
        // exists / empty
        {R"({"order.buyer_name": {"exists": true}})", true},
        {R"({"order.seller_note": {"exists": true}})", false},
        {R"({"order.seller_note": {"exists": false}})", true},
        {R"({"order.tracking_number": {"exists": true}})", false},
        {R"({"order.buyer_message": {"empty": true}})", true},
        {R"({"order.buyer_name": {"empty": true}})", false},
        {R"({"order.seller_note": {"empty": true}})", true},
        {R"({"message.conversation_id": {"empty": true}})", true},
        {R"({"order.tags": {"empty": false}})", true},
        {R"({"order.sku_counts": {"empty": true}})", false},
        // contains: case-insensitive, full-width and half-width forms folded
        {R"({"message.text": {"contains": "abc"}})", true},
        {R"({"message.text": {"contains": "ＡＢＣ"}})", true},
        {R"({"message.text": {"contains": "刻印"}})", true},
        {R"({"message.text": {"contains": "ガンバレ"}})", true},
        {R"({"message.text": {"contains": "ｶﾞﾝﾊﾞﾚ"}})", true},
        {R"({"message.text": {"contains": "キャンセル"}})", false},
        {R"({"order.buyer_name": {"contains": "山田"}})", true},
        {R"({"order.tags": {"contains": "vip"}})", true},
        {R"({"order.tags": {"contains": "vi"}})", false},
        {R"({"order.total_amount": {"contains": "98"}})", true},
        // matches: RE2 on the text as written
        {R"({"message.text": {"matches": "「[Ａ-Ｚ]+」"}})", true},
        {R"({"message.text": {"matches": "^刻印"}})", true},
        {R"({"message.text": {"matches": "^お願い"}})", false},
        {R"({"message.text": {"matches": "(?i)ｶﾞﾝ"}})", true},
        {R"({"order.id": {"matches": "^5764"}})", true},
        {R"({"order.buyer_message": {"matches": "."}})", false},
        {R"({"order.seller_note": {"matches": ".*"}})", false},
        // gt / gte / lt / lte
        {R"({"order.total_amount": {"gt": 4979}})", true},
        {R"({"order.total_amount": {"gt": 4980}})", false},
        {R"({"order.total_amount": {"gte": 4980}})", true},
        {R"({"order.total_amount": {"lt": 4980}})", false},
        {R"({"order.total_amount": {"lte": 4980}})", true},
        {R"({"order.total_amount": {"lt": 4980.5}})", true},
        {R"({"order.total_amount": {"gte": 1000, "lt": 5000}})", true},
        {R"({"order.item_count": {"lt": 2}})", false},
        {R"({"order.sku_counts.ENG-001": {"gte": 1}})", true},
        {R"({"order.sku_counts.ENG-999": {"gte": 1}})", false},
        {R"({"order.paid_time": {"lt": 1}})", false},
        // older_than / within against ctx.now
        {R"({"order.create_time": {"older_than": "24h"}})", true},
        {R"({"order.create_time": {"older_than": "2d"}})", false},
        {R"({"order.create_time": {"within": "2d"}})", true},
        {R"({"order.create_time": {"within": "24h"}})", false},
        {R"({"message.create_time": {"within": "5m"}})", true},
        {R"({"message.create_time": {"older_than": "1m"}})", false},
        {R"({"order.paid_time": {"within": "24h"}})", false},
        {R"({"order.paid_time": {"older_than": "24h"}})", false},
        // changed_to / changed_from (previous status ON_HOLD)
        {R"({"order.status": {"changed_to": "AWAITING_SHIPMENT"}})", true},
        {R"({"order.status": {"changed_to": "ON_HOLD"}})", false},
        {R"({"order.status": {"changed_from": "ON_HOLD"}})", true},
        {R"({"order.status": {"changed_from": "UNPAID"}})", false},
        {R"({"order.id": {"changed_to": "576461413038785752"}})", false},
        // any / all over lists
        {R"({"order.line_items": {"any": {"seller_sku": {"matches": "^ENG-"}}}})", true},
        {R"({"order.line_items": {"all": {"seller_sku": {"matches": "^ENG-"}}}})", false},
        {R"({"order.line_items": {"all": {"sale_price": {"gte": 2490}}}})", true},
        {R"({"order.line_items": {"any": {"product_name": {"contains": "キーホルダー"}}}})", true},
        {R"({"order.line_items": {"any": {"all": [{"seller_sku": {"eq": "STD-002"}}, {"sale_price": {"gt": 3000}}]}}})", false},
        {R"({"order.line_items": {"any": {"not": {"seller_sku": {"matches": "^ENG-"}}}}})", true},
        {R"({"order.tags": {"any": {"eq": "VIP"}}})", true},
        {R"({"order.tags": {"all": {"eq": "VIP"}}})", false},
        // combinators
        {R"({"all": [{"order.status": {"eq": "AWAITING_SHIPMENT"}}, {"order.is_on_hold": {"eq": false}}]})", true},
        {R"({"all": [{"order.status": {"eq": "AWAITING_SHIPMENT"}}, {"order.is_on_hold": {"eq": true}}]})", false},
        {R"({"any": [{"order.status": {"eq": "DELIVERED"}}, {"order.currency": {"eq": "JPY"}}]})", true},
        {R"({"any": [{"order.status": {"eq": "DELIVERED"}}, {"order.currency": {"eq": "USD"}}]})", false},
        {R"({"not": {"order.status": {"eq": "DELIVERED"}}})", true},
        {R"({"not": {"order.status": {"eq": "AWAITING_SHIPMENT"}}})", false},
        {R"({"order.status": {"eq": "AWAITING_SHIPMENT"}, "order.is_on_hold": {"eq": true}})", false},
    }));
    CAPTURE(condition);
    CHECK(fires(condition, sample_context()) == expected);
}

TEST_CASE("changed_to fires only on the edge into the value", "[engine]") {
    const std::string condition = R"({"order.status": {"changed_to": "AWAITING_SHIPMENT"}})";
    auto ctx = sample_context();
    SECTION("the first time the order is seen counts as a change") {
        ctx.previous_order = nullptr;
        CHECK(fires(condition, ctx));
    }
    SECTION("a redelivered event with the status already cached does not") {
        ctx.previous_order = ctx.order;
        CHECK_FALSE(fires(condition, ctx));
    }
    SECTION("changed_from needs a previous value") {
        ctx.previous_order = nullptr;
        CHECK_FALSE(fires(R"({"order.status": {"changed_from": "ON_HOLD"}})", ctx));
    }
}

TEST_CASE("Timestamps given as digit strings are compared as numbers", "[engine]") {
    auto ctx = sample_context();
    ctx.order["create_time"] = std::to_string(now - 3600);
    CHECK(fires(R"({"order.create_time": {"within": "2h"}})", ctx));
    CHECK_FALSE(fires(R"({"order.create_time": {"older_than": "2h"}})", ctx));
}

TEST_CASE("Only rules listening to the event fire, in load order", "[engine]") {
    auto rules = must_load(R"({"templates": {"t": "hi"}, "rules": [
      {"id": "b-first", "on": ["message.received", "order.status_changed"], "then": [{"send_message": {"template": "t"}}]},
      {"id": "package-only", "on": "package.updated", "then": [{"send_message": {"template": "t"}}]},
      {"id": "disabled", "enabled": false, "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]},
      {"id": "a-second", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}, {"send_message": {"template": "t"}}]},
      {"id": "timer", "on": "timer.engraving.reminder", "then": [{"send_message": {"template": "t"}}]}
    ]})");
    auto ctx = sample_context();
    auto result = evaluate(*rules, ctx);
    CHECK(result.matched_rules == std::vector<std::string>{"b-first", "a-second"});
    REQUIRE(result.actions.size() == 3);
    CHECK(result.actions[0].rule_id == "b-first");
    CHECK(result.actions[1].rule_id == "a-second");
    CHECK(result.actions[1].index == 0);
    CHECK(result.actions[2].index == 1);

    ctx.event = "timer.engraving.reminder";
    CHECK(evaluate(*rules, ctx).matched_rules == std::vector<std::string>{"timer"});
    ctx.event = "conversation.created";
    CHECK(evaluate(*rules, ctx).matched_rules.empty());
}

TEST_CASE("Shadow rules plan actions marked shadow, live rules do not", "[engine]") {
    auto rules = must_load(R"({"templates": {"t": "hi"}, "rules": [
      {"id": "live", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]},
      {"id": "trial", "mode": "shadow", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]}
    ]})");
    auto result = evaluate(*rules, sample_context());
    REQUIRE(result.actions.size() == 2);
    CHECK_FALSE(result.actions[0].shadow);
    CHECK(result.actions[1].shadow);
    CHECK(result.actions[1].params["text"] == "hi");
    CHECK(result.actions[1].error.empty());
}

TEST_CASE("A shadow rule's stop is recorded and the live rules after it still run", "[engine]") {
    auto rules = must_load(R"({"templates": {"t": "hi"}, "rules": [
      {"id": "trial-damage", "mode": "shadow", "on": "order.status_changed",
       "then": [{"flag_review": {"reason": "damage_reported"}}, {"stop": true}]},
      {"id": "damage", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]},
      {"id": "live-stop", "on": "order.status_changed", "then": [{"tag": "seen"}, {"stop": true}]},
      {"id": "after", "on": "order.status_changed", "then": [{"tag": "never"}]}
    ]})");
    const auto ctx = sample_context();
    auto result = evaluate(*rules, ctx);
    CHECK(result.matched_rules == std::vector<std::string>{"trial-damage", "damage", "live-stop"});
    CHECK(result.shadow_stops == std::vector<std::string>{"trial-damage"});
    REQUIRE(result.actions.size() == 3);
    CHECK(result.actions[0].shadow);
    CHECK(result.actions[1].rule_id == "damage");
    CHECK_FALSE(result.actions[1].shadow);

    auto traces = explain(*rules, ctx);
    REQUIRE(traces.size() == 4);
    CHECK(traces[0].verdict == rule_verdict::matched);
    CHECK(traces[0].would_stop);
    CHECK(traces[1].verdict == rule_verdict::matched);
    CHECK_FALSE(traces[1].would_stop);
    CHECK(traces[2].verdict == rule_verdict::matched);
    CHECK_FALSE(traces[2].would_stop);   // a live stop: it does stop
    CHECK(traces[3].verdict == rule_verdict::after_stop);
}

TEST_CASE("A shadow action's key differs from the live key the same rule has once live", "[engine]") {
    auto rule = [](const std::string& mode) {
        return must_load(R"({"templates": {"t": "hi"}, "rules": [{"id": "r", "mode": ")" + mode +
                         R"(", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}, {"tag": "x"}]}]})");
    };
    const auto ctx = sample_context();
    auto shadow = evaluate(*rule("shadow"), ctx);
    auto live = evaluate(*rule("live"), ctx);
    REQUIRE(shadow.actions.size() == 2);
    REQUIRE(live.actions.size() == 2);
    // The live key is the documented one, unchanged by the rule's time in shadow.
    CHECK(live.actions[0].key_material == "r\x1f" "0\x1forder\x1f" "576461413038785752");
    CHECK(shadow.actions[0].key_material == live.actions[0].key_material + "\x1fshadow");
    CHECK(shadow.actions[1].key_material == live.actions[1].key_material + "\x1fshadow");

    // An error's per-event key is kept apart the same way.
    auto no_order = ctx;
    no_order.order = nullptr;
    CHECK(evaluate(*rule("shadow"), no_order).actions[0].key_material ==
          evaluate(*rule("live"), no_order).actions[0].key_material + "\x1fshadow");
}

TEST_CASE("Key material is rule id, index, scope and scope values", "[engine]") {
    auto [once_per, expected] = GENERATE(table<std::string, std::string>({
        {"order", "r\x1f" "0\x1forder\x1f" "576461413038785752"},
        {"order_status", "r\x1f" "0\x1forder_status\x1f" "576461413038785752\x1f" "AWAITING_SHIPMENT"},
        {"package", "r\x1f" "0\x1fpackage\x1fpkg-7"},
        {"message", "r\x1f" "0\x1fmessage\x1fmsg-9"},
        {"event", "r\x1f" "0\x1f" "event\x1f" "evt-1"},
    }));
    CAPTURE(once_per);
    auto rules = must_load(R"({"templates": {"t": "hi"}, "rules": [{"id": "r", "on": "order.status_changed", "once_per": ")" +
                           once_per + R"(", "then": [{"send_message": {"template": "t"}}]}]})");
    auto ctx = sample_context();
    ctx.event_data["package_id"] = "pkg-7";
    auto result = evaluate(*rules, ctx);
    REQUIRE(result.actions.size() == 1);
    CHECK(result.actions[0].once_per == once_per);
    CHECK(result.actions[0].key_material == expected);
    CHECK(result.actions[0].error.empty());
}

TEST_CASE("The package scope falls back to the order id without a package", "[engine]") {
    auto rules = must_load(R"({"templates": {"t": "hi"}, "rules": [{"id": "r", "on": "order.status_changed", "once_per": "package",
        "then": [{"send_message": {"template": "t"}}]}]})");
    auto result = evaluate(*rules, sample_context());
    REQUIRE(result.actions.size() == 1);
    CHECK(result.actions[0].key_material == "r\x1f" "0\x1fpackage\x1f" "576461413038785752");
}

TEST_CASE("Editing a rule's text keeps its keys, other orders get other keys", "[engine]") {
    auto v1 = must_load(R"({"templates": {"t": "Thanks!"}, "rules": [{"id": "thanks", "on": "order.status_changed",
        "then": [{"send_message": {"template": "t"}}]}]})");
    auto v2 = must_load(R"({"templates": {"t2": "Thank you very much, {{order.buyer_name}}!"}, "rules": [{"id": "thanks",
        "description": "now with a condition", "on": ["order.status_changed", "package.updated"],
        "if": {"order.status": {"eq": "AWAITING_SHIPMENT"}}, "locale": "en",
        "then": [{"send_message": {"template": "t2"}}]}]})");
    auto ctx = sample_context();
    auto a = evaluate(*v1, ctx);
    auto b = evaluate(*v2, ctx);
    REQUIRE(a.actions.size() == 1);
    REQUIRE(b.actions.size() == 1);
    CHECK(a.actions[0].key_material == b.actions[0].key_material);
    CHECK(a.actions[0].params["text"] != b.actions[0].params["text"]);

    auto other = ctx;
    other.order["id"] = "576461413038785753";
    auto c = evaluate(*v1, other);
    REQUIRE(c.actions.size() == 1);
    CHECK(c.actions[0].key_material != a.actions[0].key_material);

    auto redelivered = ctx;
    redelivered.event_id = "evt-2";
    CHECK(evaluate(*v1, redelivered).actions[0].key_material == a.actions[0].key_material);
}

TEST_CASE("A missing scope value plans an action with an error keyed to the event", "[engine]") {
    auto [once_per, blank] = GENERATE(table<std::string, std::string>({
        {"order", "order"},
        {"order_status", "order"},
        {"message", "message"},
        {"event", "event"},
        {"package", "order"},
    }));
    CAPTURE(once_per);
    auto rules = must_load(R"({"templates": {"t": "hi"}, "rules": [{"id": "r", "on": "message.received", "once_per": ")" +
                           once_per + R"(", "then": [{"send_message": {"template": "t"}}]}]})");
    auto ctx = sample_context();
    ctx.event = "message.received";
    if (blank == "order") ctx.order = nullptr;
    if (blank == "message") ctx.message["id"] = "";
    if (blank == "event") ctx.event_id.clear();
    auto result = evaluate(*rules, ctx);
    REQUIRE(result.actions.size() == 1);
    CHECK(result.actions[0].error == "no " + once_per + " for once_per");
    CHECK(result.actions[0].key_material == "r\x1f" "0\x1f" + once_per + "\x1f!error\x1f" + ctx.event_id);
    CHECK_FALSE(result.actions[0].params.contains("text"));
    CHECK(result.actions[0].params["template"] == "t");
}

TEST_CASE("Conditions on events without an order or message are simply false", "[engine]") {
    auto ctx = sample_context();
    ctx.order = nullptr;
    ctx.previous_order = nullptr;
    ctx.message = nullptr;
    CHECK_FALSE(fires(R"({"order.status": {"eq": "AWAITING_SHIPMENT"}})", ctx));
    CHECK_FALSE(fires(R"({"order.line_items": {"any": {"seller_sku": {"eq": "x"}}}})", ctx));
    CHECK_FALSE(fires(R"({"message.text": {"contains": "x"}})", ctx));
    CHECK(fires(R"({"order.buyer_message": {"empty": true}})", ctx));
    CHECK(fires(R"({"order.status": {"ne": "CANCELLED"}})", ctx));
}

TEST_CASE("Order fields of unexpected types do not crash evaluation", "[engine]") {
    auto ctx = sample_context();
    ctx.order["line_items"] = "not a list";
    ctx.order["total_amount"] = json::object();
    ctx.order["status"] = 17;
    ctx.message["text"] = json::array({1, 2});
    CHECK_FALSE(fires(R"({"order.line_items": {"any": {"seller_sku": {"eq": "x"}}}})", ctx));
    CHECK_FALSE(fires(R"({"order.total_amount": {"gt": 1}})", ctx));
    CHECK_FALSE(fires(R"({"order.status": {"matches": "^A"}})", ctx));
    CHECK_FALSE(fires(R"({"message.text": {"matches": "1"}})", ctx));
    CHECK(fires(R"({"message.text": {"contains": "1"}})", ctx) == false);
}

// ---- explain ----------------------------------------------------------------

namespace {

// One rule whose `if` is `condition`; its trace for ctx.
rule_trace explain_one(const std::string& condition, const context& ctx) {
    auto rules = must_load(rule_with_condition(condition));
    auto traces = explain(*rules, ctx);
    REQUIRE(traces.size() == 1);
    return traces.front();
}

}  // namespace

TEST_CASE("Explain gives every rule in order with whether it listens, is disabled or matched", "[engine][explain]") {
    auto rules = must_load(R"({
  "templates": {"t": "hi {{order.buyer_name}}"},
  "rules": [
    {"id": "a", "on": "order.status_changed", "if": {"order.status": {"eq": "AWAITING_SHIPMENT"}}, "then": [{"send_message": {"template": "t"}}]},
    {"id": "b", "on": "message.received", "then": [{"send_message": {"template": "t"}}]},
    {"id": "c", "on": "order.status_changed", "enabled": false, "then": [{"send_message": {"template": "t"}}]},
    {"id": "d", "on": "order.status_changed", "if": {"order.status": {"eq": "DELIVERED"}}, "then": [{"send_message": {"template": "t"}}]},
    {"id": "e", "on": ["order.status_changed"], "mode": "shadow", "then": [{"send_message": {"template": "t"}}]}
  ]})");
    auto traces = explain(*rules, sample_context());
    REQUIRE(traces.size() == 5);
    CHECK(traces[0].rule_id == "a");
    CHECK(traces[0].verdict == rule_verdict::matched);
    CHECK(traces[1].verdict == rule_verdict::not_listening);
    CHECK(traces[1].on == std::vector<std::string>{"message.received"});
    CHECK(traces[2].verdict == rule_verdict::disabled);
    CHECK(traces[3].verdict == rule_verdict::not_matched);
    REQUIRE(traces[3].failure);
    CHECK(traces[4].verdict == rule_verdict::matched);
    CHECK(traces[4].shadow);
    CHECK(traces[0].file == "test.json");
    CHECK(traces[0].line == 4);
    CHECK(traces[0].column == 5);
    REQUIRE(traces[0].actions.size() == 1);
    CHECK(traces[0].actions[0].params["text"] == "hi 山田 太郎");
}

TEST_CASE("Explain matches and plans exactly what evaluate does", "[engine][explain]") {
    auto rules = must_load(R"({
  "templates": {"t": "hi {{order.buyer_name}}", "u": "order {{order.seller_note}}"},
  "rules": [
    {"id": "edge", "on": "order.status_changed", "if": {"order.status": {"changed_to": "AWAITING_SHIPMENT"}}, "then": [{"send_message": {"template": "t"}}]},
    {"id": "eng", "on": "order.status_changed", "if": {"order.line_items": {"any": {"seller_sku": {"matches": "^ENG-"}}}}, "then": [{"send_message": {"template": "t"}}, {"send_message": {"template": "u"}}]},
    {"id": "vip", "on": "order.status_changed", "if": {"any": [{"order.tags": {"contains": "vip"}}, {"order.total_amount": {"gt": 10000}}]}, "then": [{"send_message": {"template": "t"}}]},
    {"id": "msg", "on": "message.received", "if": {"message.text": {"contains": "abc"}}, "then": [{"send_message": {"template": "t"}}]},
    {"id": "no", "on": "order.status_changed", "if": {"not": {"order.status": {"eq": "AWAITING_SHIPMENT"}}}, "then": [{"send_message": {"template": "t"}}]}
  ]})");
    auto variant = GENERATE(0, 1, 2, 3);
    context ctx = sample_context();
    if (variant == 1) ctx.previous_order["status"] = "AWAITING_SHIPMENT";
    if (variant == 2) ctx.order["status"] = "CANCELLED";
    if (variant == 3) ctx.event = "message.received";
    auto evaluated = evaluate(*rules, ctx);
    auto traces = explain(*rules, ctx);
    std::vector<std::string> matched;
    std::vector<std::string> keys, evaluated_keys;
    for (const auto& t : traces) {
        if (t.verdict == rule_verdict::matched) matched.push_back(t.rule_id);
        for (const auto& a : t.actions) keys.push_back(a.key_material + "|" + a.params.dump() + "|" + a.error);
    }
    for (const auto& a : evaluated.actions) evaluated_keys.push_back(a.key_material + "|" + a.params.dump() + "|" + a.error);
    CHECK(matched == evaluated.matched_rules);
    CHECK(keys == evaluated_keys);
}

TEST_CASE("Explain names the first failed condition with its place, operand and the value seen", "[engine][explain]") {
    context ctx = sample_context();
    SECTION("the first failing part of an all") {
        auto t = explain_one(R"({"all": [{"order.currency": {"eq": "JPY"}}, {"order.status": {"eq": "DELIVERED"}}, {"order.total_amount": {"gt": 99999}}]})", ctx);
        REQUIRE(t.failure);
        const auto& f = *t.failure;
        CHECK(f.file == "test.json");
        CHECK(f.line == 1);
        CHECK(f.column == 148);   // the "eq" of order.status
        CHECK(f.field == "order.status");
        CHECK(f.op == "eq");
        CHECK(f.operand == "DELIVERED");
        REQUIRE(f.seen);
        CHECK(*f.seen == "AWAITING_SHIPMENT");
        CHECK(f.to_string() == R"(test.json:1:148: order.status eq "DELIVERED": saw "AWAITING_SHIPMENT")");
    }
    SECTION("a missing value") {
        auto t = explain_one(R"({"order.seller_note": {"contains": "gift"}})", ctx);
        REQUIRE(t.failure);
        CHECK_FALSE(t.failure->seen);
        CHECK(t.failure->to_string() == R"(test.json:1:109: order.seller_note contains "gift": saw (missing))");
    }
    SECTION("the second operator on one field") {
        auto t = explain_one(R"({"order.total_amount": {"gt": 100, "lt": 1000}})", ctx);
        REQUIRE(t.failure);
        CHECK(t.failure->op == "lt");
        CHECK(t.failure->operand == 1000);
        CHECK(*t.failure->seen == 4980);
    }
    SECTION("changed_to shows the value before") {
        ctx.previous_order["status"] = "AWAITING_SHIPMENT";
        auto t = explain_one(R"({"order.status": {"changed_to": "AWAITING_SHIPMENT"}})", ctx);
        REQUIRE(t.failure);
        CHECK(t.failure->has_before);
        CHECK(t.failure->to_string() ==
              R"(test.json:1:104: order.status changed_to "AWAITING_SHIPMENT": saw "AWAITING_SHIPMENT", before "AWAITING_SHIPMENT")");
    }
    SECTION("any over a list names the element that failed") {
        auto t = explain_one(R"({"order.line_items": {"any": {"seller_sku": {"matches": "^GIFT-"}}}})", ctx);
        REQUIRE(t.failure);
        CHECK(t.failure->op == "any");
        CHECK(t.failure->note == R"(no element matched; element 0: seller_sku matches "^GIFT-": saw "ENG-001")");
    }
    SECTION("all over a list names the first element that fails") {
        auto t = explain_one(R"({"order.line_items": {"all": {"sale_price": {"gte": 2490}, "seller_sku": {"matches": "^ENG"}}}})", ctx);
        REQUIRE(t.failure);
        CHECK(t.failure->note.rfind("element 1: seller_sku matches \"^ENG\": saw \"STD-002\"", 0) == 0);
    }
    SECTION("an any of alternatives reports the first and says none held") {
        auto t = explain_one(R"({"any": [{"order.tags": {"contains": "gift"}}, {"order.total_amount": {"gt": 10000}}]})", ctx);
        REQUIRE(t.failure);
        CHECK(t.failure->field == "order.tags");
        CHECK(t.failure->note.find("none of the 2 alternatives") != std::string::npos);
    }
    SECTION("a not over a test that held") {
        auto t = explain_one(R"({"not": {"order.status": {"eq": "AWAITING_SHIPMENT"}}})", ctx);
        REQUIRE(t.failure);
        CHECK(t.failure->op == "not eq");
        CHECK(t.failure->field == "order.status");
        CHECK(t.failure->column == 87);   // the "not" key
    }
    SECTION("a long buyer text is shortened in the message") {
        ctx.message["text"] = std::string(300, 'x');
        auto t = explain_one(R"({"message.text": {"contains": "y"}})", ctx);
        REQUIRE(t.failure);
        auto text = t.failure->to_string();
        CHECK(text.size() < 250);
        CHECK(text.find("…") != std::string::npos);
    }
}

TEST_CASE("flag_review, tag and stop: staff are told, the order is tagged, and later rules do not run", "[engine][actions]") {
    auto rules = must_load(R"({
  "templates": {"t": "hi {{order.buyer_name}}"},
  "rules": [
    {"id": "vip", "on": "order.status_changed", "if": {"order.total_amount": {"gte": 3000}},
     "then": [{"tag": "big-order"}, {"untag": "new"}]},
    {"id": "damage", "on": "order.status_changed", "if": {"order.tags": {"contains": "fragile"}},
     "then": [{"flag_review": {"reason": "fragile_order", "severity": "critical", "note": "pack by hand"}}, {"stop": true},
              {"send_message": {"template": "t"}}]},
    {"id": "thanks", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]}
  ]})");
    auto ctx = sample_context();
    SECTION("without the tag the later rule runs") {
        auto r = evaluate(*rules, ctx);
        CHECK(r.matched_rules == std::vector<std::string>{"vip", "thanks"});
        REQUIRE(r.actions.size() == 3);
        CHECK(r.actions[0].kind == "tag");
        CHECK(r.actions[0].params == json{{"tag", "big-order"}});
        CHECK(r.actions[1].kind == "untag");
        CHECK(r.actions[2].kind == "send_message");
    }
    SECTION("with it, the review is planned, the rule's own later actions too, and no further rule") {
        ctx.order["tags"] = json::array({"fragile"});
        auto r = evaluate(*rules, ctx);
        CHECK(r.matched_rules == std::vector<std::string>{"vip", "damage"});
        REQUIRE(r.actions.size() == 4);
        CHECK(r.actions[2].kind == "flag_review");
        CHECK(r.actions[2].params == json{{"reason", "fragile_order"}, {"severity", "critical"}, {"note", "pack by hand"}});
        CHECK(r.actions[2].error.empty());
        CHECK(r.actions[3].kind == "send_message");
        CHECK(r.actions[3].index == 2);   // positions count the stop: keys do not shift when one is added
        auto traces = explain(*rules, ctx);
        REQUIRE(traces.size() == 3);
        CHECK(traces[1].verdict == rule_verdict::matched);
        CHECK(traces[2].verdict == rule_verdict::after_stop);
        CHECK(traces[1].actions.size() == 2);
    }
}

TEST_CASE("reply is planned like a message, in the conversation of the buyer message", "[engine][actions]") {
    auto rules = must_load(R"({
  "templates": {"where": {"ja": "{{order.buyer_name}}様、お問い合わせありがとうございます。", "en": "Thanks for asking."}},
  "rules": [{"id": "where", "on": "message.received", "once_per": "message", "if": {"message.text": {"contains": "届いていません"}},
             "then": [{"reply": {"template": "where"}}]}]})");
    auto ctx = sample_context();
    ctx.event = "message.received";
    ctx.message = {{"id", "m-1"}, {"text", "まだ届いていません"}, {"type", "TEXT"}, {"sender_role", "BUYER"}, {"conversation_id", "c-1"}};
    auto r = evaluate(*rules, ctx);
    REQUIRE(r.actions.size() == 1);
    CHECK(r.actions[0].kind == "reply");
    CHECK(r.actions[0].params.at("text") == "山田 太郎様、お問い合わせありがとうございます。");
    CHECK(r.actions[0].key_material.find("m-1") != std::string::npos);
}

TEST_CASE("schedule plans a timer event at now + after, keyed like any action", "[engine][actions]") {
    auto rules = must_load(R"({
  "rules": [{"id": "ask", "on": "order.status_changed", "then": [{"schedule": {"after": "1d2h", "event": "engraving.reminder"}}]},
            {"id": "remind", "on": "timer.engraving.reminder", "then": [{"flag_review": {"reason": "no_engraving_text"}}]}]})");
    auto ctx = sample_context();
    auto r = evaluate(*rules, ctx);
    REQUIRE(r.actions.size() == 1);
    CHECK(r.actions[0].kind == "schedule");
    CHECK(r.actions[0].params == json{{"event", "timer.engraving.reminder"}, {"after_s", 93600}, {"fire_at", ctx.now + 93600}});
    CHECK(r.actions[0].key_material == "ask\x1f" "0\x1forder\x1f" "576461413038785752");
    ctx.event = "timer.engraving.reminder";
    CHECK(evaluate(*rules, ctx).matched_rules == std::vector<std::string>{"remind"});
}

TEST_CASE("A timer nobody listens to is a load warning", "[engine][actions]") {
    auto result = load_text(R"({"rules": [{"id": "ask", "on": "order.status_changed", "then": [{"schedule": {"after": "1h", "event": "nobody"}}]}]})", "f.json");
    REQUIRE(result.ok());
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].warning);
    CHECK_THAT(result.diagnostics[0].message, Catch::Contains("no rule listens to \"timer.nobody\""));
}

TEST_CASE("A rule's guards travel with its messages for the send-time checks", "[engine][actions]") {
    auto rules = must_load(R"({
  "templates": {"t": "hi"},
  "rules": [{"id": "urgent", "on": "order.status_changed", "guards": {"quiet_hours": false, "cancelled": true, "messages_per_order_per_day": 2},
             "then": [{"send_message": {"template": "t"}}]},
            {"id": "night", "on": "order.status_changed", "guards": {"quiet_hours": {"from": "22:30", "to": "07:00"}},
             "then": [{"send_message": {"template": "t"}}]},
            {"id": "plain", "on": "order.status_changed", "then": [{"send_message": {"template": "t"}}]}]})");
    auto r = evaluate(*rules, sample_context());
    REQUIRE(r.actions.size() == 3);
    CHECK(r.actions[0].params.at("guards") == json{{"quiet_hours", false}, {"cancelled", true}, {"messages_per_order_per_day", 2}});
    CHECK(r.actions[1].params.at("guards") == json{{"quiet_hours", {{"from", 22 * 60 + 30}, {"to", 7 * 60}}}});
    CHECK_FALSE(r.actions[2].params.contains("guards"));
}

TEST_CASE("update_tracking plans the event's carrier and number, keyed per package and number", "[engine][actions]") {
    auto rules = must_load(R"({
  "rules": [{"id": "ship", "on": "tracking.received", "then": [{"update_tracking": {}}]},
            {"id": "ship-fixed", "on": "tracking.received", "then": [{"update_tracking": {"carrier": "佐川急便"}}]}]})");
    auto ctx = sample_context();
    ctx.event = "tracking.received";
    ctx.event_data = {{"source", "tracking_feed"}, {"package_id", "1152921504606846976"},
                      {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-3456-7890"}};
    auto r = evaluate(*rules, ctx);
    REQUIRE(r.actions.size() == 2);
    CHECK(r.actions[0].kind == "update_tracking");
    CHECK(r.actions[0].once_per == "package");
    CHECK(r.actions[0].error.empty());
    CHECK(r.actions[0].params == json{{"order_id", "576461413038785752"}, {"package_id", "1152921504606846976"},
                                      {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-3456-7890"}});
    CHECK(r.actions[0].key_material ==
          "ship\x1f" "0\x1fpackage\x1f" "1152921504606846976\x1f" "4912-3456-7890\x1f" "ヤマト運輸");
    CHECK(r.actions[1].params["carrier"] == "佐川急便");

    SECTION("a corrected number is a new key; the same number again is the same key") {
        auto again = evaluate(*rules, ctx);
        CHECK(again.actions[0].key_material == r.actions[0].key_material);
        ctx.event_data["tracking_number"] = "4912-3456-7891";
        CHECK(evaluate(*rules, ctx).actions[0].key_material != r.actions[0].key_material);
    }
    SECTION("without a tracking number nothing is prepared and the error says what is missing") {
        ctx.event_data.erase("tracking_number");
        auto e = evaluate(*rules, ctx);
        CHECK(e.actions[0].error == "missing value for event.tracking_number");
        CHECK(e.actions[0].key_material.find("!error") != std::string::npos);
    }
}

TEST_CASE("With the edge given changed_to and changed_from test only where the order is now", "[engine]") {
    auto ctx = sample_context();   // ON_HOLD -> AWAITING_SHIPMENT
    ctx.edges_given = true;
    ctx.previous_order = nullptr;
    CHECK(fires(R"({"order.status": {"changed_to": "AWAITING_SHIPMENT"}})", ctx));
    CHECK_FALSE(fires(R"({"order.status": {"changed_to": "DELIVERED"}})", ctx));
    CHECK(fires(R"({"order.status": {"changed_from": "ON_HOLD"}})", ctx));
    CHECK_FALSE(fires(R"({"order.status": {"changed_from": "AWAITING_SHIPMENT"}})", ctx));
    // A previous view, were there one, does not count.
    ctx.previous_order = {{"status", "AWAITING_SHIPMENT"}};
    CHECK(fires(R"({"order.status": {"changed_to": "AWAITING_SHIPMENT"}})", ctx));
    CHECK(fires(R"({"order.status": {"changed_from": "ON_HOLD"}})", ctx));
    auto t = explain_one(R"({"order.status": {"changed_from": "AWAITING_SHIPMENT"}})", ctx);
    REQUIRE(t.failure);
    CHECK_FALSE(t.failure->has_before);
    CHECK(t.failure->to_string() == "test.json:1:104: order.status changed_from \"AWAITING_SHIPMENT\": saw \"AWAITING_SHIPMENT\"");
}

}  // namespace ORDERFLOW_TEST_FILE
