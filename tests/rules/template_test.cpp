// Tests for rules/template.hpp: placeholder checking, rendering (numbers,
// missing values), and locale choice when a rule sends a template.
#include "rules/template.hpp"

#include "rules/engine.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;
using orderflow::rules::test::must_load;

namespace {

template_text compile_ok(const std::string& text) {
    auto r = template_text::compile(text);
    if (auto* e = std::get_if<std::string>(&r)) FAIL(*e);
    return std::move(std::get<template_text>(r));
}

context order_context() {
    context ctx;
    ctx.event = "order.status_changed";
    ctx.event_id = "evt-1";
    ctx.order = {{"id", "576461413038785752"}, {"buyer_name", "山田 太郎"}, {"total_amount", 4980.0},
                 {"sku_counts", {{"ENG-001", 2}}}, {"is_on_hold", false}, {"buyer_message", ""}};
    ctx.shop = {{"name", "刻印工房"}};
    return ctx;
}

}  // namespace

TEST_CASE("Placeholders are checked against the field catalogue", "[template]") {
    auto [text, error] = GENERATE(table<std::string, std::string>({
        {"{{order.buyer_nme}}様", "unknown placeholder {{order.buyer_nme}}; did you mean order.buyer_name?"},
        {"{{ buyer }}", "unknown placeholder {{ buyer }}; placeholders name fields such as order.buyer_name or order.id"},
        {"Hi {{order.id", "unclosed '{{' in \"{{order.id\": expected '}}' after the field name"},
        {"Hi {{order.id {{order.buyer_name}}", "unclosed '{{' in \"{{order.id {{order.buyer\": expected '}}' after the field name"},
        {"{{order.tags}}", "placeholder {{order.tags}} names a list of strings, which cannot be rendered as text"},
        {"{{order.sku_counts}}", "placeholder {{order.sku_counts}} names a map of counts, which cannot be rendered as text"},
        {"{{  }}", "empty placeholder {{  }}: expected a field such as {{order.buyer_name}}"},
    }));
    CAPTURE(text);
    auto r = template_text::compile(text);
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(std::get<std::string>(r) == error);
}

TEST_CASE("A template renders its placeholders with the event's values", "[template]") {
    auto ctx = order_context();
    auto [text, rendered] = GENERATE(table<std::string, std::string>({
        {"{{order.buyer_name}}様 ご注文 {{ order.id }} ありがとうございます", "山田 太郎様 ご注文 576461413038785752 ありがとうございます"},
        {"合計 {{order.total_amount}} 円", "合計 4980 円"},
        {"{{order.sku_counts.ENG-001}} 点", "2 点"},
        {"on hold: {{order.is_on_hold}}", "on hold: false"},
        {"{{shop.name}}", "刻印工房"},
        {"no placeholders }} at all", "no placeholders }} at all"},
        {"{{order.id}}{{order.id}}", "576461413038785752576461413038785752"},
    }));
    CAPTURE(text);
    auto r = compile_ok(text).render(ctx);
    CHECK(r.ok());
    CHECK(r.text == rendered);
}

TEST_CASE("Fractional numbers render with their digits and integral ones without .0", "[template]") {
    auto ctx = order_context();
    auto t = compile_ok("{{order.total_amount}}");
    ctx.order["total_amount"] = 12.5;
    CHECK(t.render(ctx).text == "12.5");
    ctx.order["total_amount"] = 100.0;
    CHECK(t.render(ctx).text == "100");
    ctx.order["total_amount"] = -3;
    CHECK(t.render(ctx).text == "-3");
}

TEST_CASE("A missing, null, empty or blank value fails the render instead of leaving a hole", "[template]") {
    auto t = compile_ok("{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます");
    CHECK(t.placeholders() == std::vector<std::string>{"order.buyer_name", "order.id"});
    auto ctx = order_context();
    auto value = GENERATE(as<json>{}, json(), json(""), json("  "), json("　"), json::array(), json::object());
    CAPTURE(value);
    // Variants by GENERATE, not SECTION: a section that only sets up counts
    // as a section without assertions, which fails the run.
    const std::string how = GENERATE(as<std::string>{}, "value present but unusable", "key absent", "no order at all");
    CAPTURE(how);
    if (how == "value present but unusable") ctx.order["buyer_name"] = value;
    else if (how == "key absent") ctx.order.erase("buyer_name");
    else ctx.order = nullptr;
    auto r = t.render(ctx);
    CHECK_FALSE(r.ok());
    CHECK(r.error == "missing value for order.buyer_name");
    CHECK(r.text.empty());
}

TEST_CASE("send_message renders its template into the planned action", "[template]") {
    auto rules = must_load(R"({"templates": {"thanks": {"ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます"}},
        "rules": [{"id": "thanks", "on": "order.status_changed", "then": [{"send_message": {"template": "thanks"}}]}]})");
    auto ctx = order_context();
    SECTION("all values present") {
        auto result = evaluate(*rules, ctx);
        REQUIRE(result.actions.size() == 1);
        const auto& a = result.actions[0];
        CHECK(a.kind == "send_message");
        CHECK(a.error.empty());
        CHECK(a.params == json{{"template", "thanks"}, {"locale", "ja"}, {"text", "山田 太郎様、ご注文 576461413038785752 ありがとうございます"}});
    }
    SECTION("buyer name missing") {
        ctx.order.erase("buyer_name");
        auto result = evaluate(*rules, ctx);
        REQUIRE(result.actions.size() == 1);
        const auto& a = result.actions[0];
        CHECK(a.error == "missing value for order.buyer_name");
        CHECK(a.params == json{{"template", "thanks"}, {"locale", "ja"}});
        // Keyed to this event, so a later event with the name can still send.
        CHECK(a.key_material == "thanks\x1f" "0\x1forder\x1f!error\x1f" "evt-1");
        ctx.order["buyer_name"] = "佐藤";
        ctx.event_id = "evt-2";
        auto later = evaluate(*rules, ctx);
        CHECK(later.actions.at(0).error.empty());
        CHECK(later.actions.at(0).key_material == "thanks\x1f" "0\x1forder\x1f" "576461413038785752");
    }
}

TEST_CASE("The locale is the action's, else the rule's, else the default, else en, else the first defined", "[template]") {
    auto [action_locale, rule_locale, default_locale, texts, locale, text] =
        GENERATE(table<std::string, std::string, std::string, std::string, std::string, std::string>({
            {"en", "ja", "ja", R"({"ja": "ありがとう", "en": "thanks"})", "en", "thanks"},
            {"", "en", "ja", R"({"ja": "ありがとう", "en": "thanks"})", "en", "thanks"},
            {"", "", "ja", R"({"ja": "ありがとう", "en": "thanks"})", "ja", "ありがとう"},
            {"", "", "en", R"({"ja": "ありがとう", "en": "thanks"})", "en", "thanks"},
            {"", "", "fr", R"({"ja": "ありがとう", "en": "thanks"})", "en", "thanks"},
            {"", "", "fr", R"({"zh-Hant": "謝謝", "ja": "ありがとう"})", "zh-Hant", "謝謝"},
            {"", "fr", "de", R"({"ko": "감사합니다", "en": "thanks"})", "en", "thanks"},
            {"", "", "ja", R"("thanks")", "ja", "thanks"},
            {"en", "", "ja", R"("thanks")", "en", "thanks"},
        }));
    std::string action = action_locale.empty() ? R"({"template": "t"})" : R"({"template": "t", "locale": ")" + action_locale + "\"}";
    std::string rule_extra = rule_locale.empty() ? "" : R"("locale": ")" + rule_locale + "\", ";
    std::string file = R"({"templates": {"t": )" + texts + R"(}, "rules": [{"id": "r", )" + rule_extra +
                       R"("on": "order.status_changed", "then": [{"send_message": )" + action + "}]}]}";
    CAPTURE(file, default_locale);
    auto rules = must_load(file);
    auto ctx = order_context();
    ctx.default_locale = default_locale;
    auto result = evaluate(*rules, ctx);
    REQUIRE(result.actions.size() == 1);
    CHECK(result.actions[0].params["locale"] == locale);
    CHECK(result.actions[0].params["text"] == text);
}

TEST_CASE("Filters render times in the shop's time zone and money with its currency", "[template][filters]") {
    auto [text, currency, expected] = GENERATE(table<std::string, std::string, std::string>({
        {"{{order.create_time | date}}", "JPY", "2026-12-04"},          // 2026-12-03T23:30Z is the 4th in Tokyo
        {"{{order.create_time|date_ja}}", "JPY", "2026年12月4日"},
        {"{{ order.create_time | time }}", "JPY", "08:30"},
        {"{{order.create_time | datetime}}", "JPY", "2026-12-04 08:30"},
        {"{{order.total_amount | money}}", "JPY", "¥1,234,980"},
        {"{{order.total_amount | money}}", "USD", "$1,234,980.00"},
        {"{{order.total_amount | money}}", "EUR", "1,234,980.00 EUR"},
        {"{{order.total_amount | money}}", "", "1,234,980.00"},
    }));
    CAPTURE(text, currency);
    auto t = compile_ok(text);
    auto ctx = order_context();
    ctx.utc_offset = 9 * 3600;
    ctx.order["create_time"] = 1796340600;   // 2026-12-03T23:30:00Z
    ctx.order["total_amount"] = 1234980;
    if (!currency.empty()) ctx.order["currency"] = currency;
    auto r = t.render(ctx);
    REQUIRE(r.ok());
    CHECK(r.text == expected);
}

TEST_CASE("Money keeps cents, rounds, and takes amounts written as text", "[template][filters]") {
    auto t = compile_ok("{{order.total_amount | money}}");
    auto ctx = order_context();
    ctx.order["currency"] = "USD";
    ctx.order["total_amount"] = 12.5;
    CHECK(t.render(ctx).text == "$12.50");
    ctx.order["total_amount"] = 0.005;
    CHECK(t.render(ctx).text == "$0.01");
    ctx.order["currency"] = "JPY";
    ctx.order["total_amount"] = 980;
    CHECK(t.render(ctx).text == "¥980");
    ctx.order.erase("total_amount");
    CHECK(t.render(ctx).error == "missing value for order.total_amount");   // never a hole
}

TEST_CASE("An unknown filter, or one that does not fit the field, is a load error", "[template][filters]") {
    auto [text, error] = GENERATE(table<std::string, std::string>({
        {"{{order.create_time | dat}}", "unknown filter \"dat\" in {{order.create_time | dat}}; filters: date, date_ja, time, datetime, money"},
        {"{{order.buyer_name | date}}", "filter \"date\" in {{order.buyer_name | date}} needs a time, but order.buyer_name is a string"},
        {"{{order.create_time | money}}", "filter \"money\" in {{order.create_time | money}} needs an amount, but order.create_time is a timestamp"},
    }));
    auto r = template_text::compile(text);
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(std::get<std::string>(r) == error);
}

}  // namespace ORDERFLOW_TEST_FILE
