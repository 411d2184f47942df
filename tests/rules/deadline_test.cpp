// Tests for timers counted from a deadline: a `schedule` with "at"
// (rules/detail/rule_compiler.cpp, rules/engine.cpp): load errors and
// warnings, when the timer fires, its key, a missing deadline, and fixtures
// that expect "fire_at".
#include "rules/engine.hpp"

#include "rules/fixture.hpp"
#include "rules/jsonc.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;
using orderflow::rules::test::errors_of;
using orderflow::rules::test::must_load;

namespace {

constexpr std::int64_t now = 1'700'000'000;
constexpr std::int64_t rts = now + 2 * 86400;

std::string with_schedule(const json& schedule, const json& on = "order.status_changed") {
    return json{{"rules",
                 {{{"id", "sla"}, {"on", on}, {"then", {{{"schedule", schedule}}}}},
                  {{"id", "hear"}, {"on", "timer.sla.check"}, {"then", {{{"flag_review", {{"reason", "late"}}}}}}}}}}
        .dump();
}

context order_context(json deadline = rts) {
    context ctx;
    ctx.event = "order.status_changed";
    ctx.event_id = "evt-1";
    ctx.now = now;
    ctx.order = {{"id", "576461413038785752"}, {"status", "AWAITING_SHIPMENT"}, {"rts_sla_time", std::move(deadline)}};
    return ctx;
}

planned_action only_action(const std::string& rules_text, const context& ctx) {
    auto rules = must_load(rules_text);
    auto r = evaluate(*rules, ctx);
    REQUIRE(r.actions.size() == 1);
    return r.actions[0];
}

std::string first_error(const std::string& text) {
    auto errors = errors_of(load_text(text, "f.json"));
    return errors.empty() ? std::string() : errors[0];
}

}  // namespace

TEST_CASE("A schedule before a deadline fires that long before it, keyed by the deadline", "[deadline]") {
    auto a = only_action(with_schedule({{"before", "6h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}}), order_context());
    CHECK(a.error.empty());
    CHECK(a.params.at("fire_at") == rts - 6 * 3600);
    CHECK(a.params.at("at") == "order.rts_sla_time");
    CHECK(a.params.at("anchor") == rts);
    CHECK(a.params.at("offset_s") == -6 * 3600);
    CHECK(a.params.at("after_s") == rts - 6 * 3600 - now);
    CHECK(a.key_material == "sla\x1f" "0\x1forder\x1f" "576461413038785752\x1forder.rts_sla_time=" + std::to_string(rts));
}

TEST_CASE("A schedule after a deadline, or at it, counts from the deadline", "[deadline]") {
    SECTION("after") {
        auto a = only_action(with_schedule({{"after", "1h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}}), order_context());
        CHECK(a.params.at("fire_at") == rts + 3600);
    }
    SECTION("at the deadline itself") {
        auto a = only_action(with_schedule({{"at", "order.rts_sla_time"}, {"event", "sla.check"}}), order_context());
        CHECK(a.params.at("fire_at") == rts);
        CHECK(a.params.at("offset_s") == 0);
    }
    SECTION("a deadline written as a string of digits") {
        auto a = only_action(with_schedule({{"at", "order.rts_sla_time"}, {"event", "sla.check"}}), order_context(std::to_string(rts)));
        CHECK(a.params.at("fire_at") == rts);
    }
}

TEST_CASE("A deadline already past plans a timer due at once", "[deadline]") {
    auto a = only_action(with_schedule({{"before", "6h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}}),
                         order_context(now - 3600));
    CHECK(a.error.empty());
    CHECK(a.params.at("fire_at") == now - 3600 - 6 * 3600);
    CHECK(a.params.at("after_s") == 0);
}

TEST_CASE("The same deadline keeps the key, a moved one gets a new key, the offset is not in it", "[deadline]") {
    const std::string six = with_schedule({{"before", "6h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}});
    const std::string four = with_schedule({{"before", "4h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}});
    auto first = only_action(six, order_context());
    auto later = order_context();
    later.now = now + 3600;
    later.event_id = "evt-2";
    CHECK(only_action(six, later).key_material == first.key_material);
    CHECK(only_action(four, order_context()).key_material == first.key_material);
    CHECK(only_action(six, order_context(rts + 86400)).key_material != first.key_material);
}

TEST_CASE("A missing deadline is an error of the action, keyed to the event, never a timer at 1970", "[deadline]") {
    for (json missing : {json(nullptr), json(0), json("")}) {
        CAPTURE(missing.dump());
        auto a = only_action(with_schedule({{"before", "6h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}}),
                             order_context(missing));
        CHECK(a.error == "missing value for order.rts_sla_time");
        CHECK_FALSE(a.params.contains("fire_at"));
        CHECK(a.key_material.find("!error\x1f" "evt-1") != std::string::npos);
    }
}

TEST_CASE("schedule's at, before and after are checked at load with clear errors", "[deadline]") {
    CHECK_THAT(first_error(with_schedule({{"before", "6h"}, {"event", "sla.check"}})),
               Catch::Contains("\"before\" needs \"at\""));
    CHECK_THAT(first_error(with_schedule({{"before", "6h"}, {"after", "1h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}})),
               Catch::Contains("\"after\" or \"before\", not both"));
    CHECK_THAT(first_error(with_schedule({{"at", "order.status"}, {"event", "sla.check"}})),
               Catch::Contains("\"at\" must name a timestamp field, but order.status is a string"));
    CHECK_THAT(first_error(with_schedule({{"at", "order.rts_sla"}, {"event", "sla.check"}})),
               Catch::Contains("expected \"at\" to name a timestamp field") && Catch::Contains("order.rts_sla_time"));
    CHECK_THAT(first_error(with_schedule({{"at", 5}, {"event", "sla.check"}})), Catch::Contains("expected \"at\" to name a timestamp field"));
    CHECK_THAT(first_error(with_schedule({{"before", "0s"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}})),
               Catch::Contains("expected \"before\" to be a duration"));
    CHECK_THAT(first_error(with_schedule({{"event", "sla.check"}})), Catch::Contains("schedule has no \"after\""));
    CHECK(first_error(with_schedule({{"at", "message.create_time"}, {"event", "sla.check"}})).empty());
}

TEST_CASE("An at on an order's deadline in a rule with events without an order is a warning", "[deadline]") {
    auto result = load_text(with_schedule({{"at", "order.rts_sla_time"}, {"event", "sla.check"}},
                                          json{"order.status_changed", "conversation.created"}),
                            "f.json");
    REQUIRE(result.ok());
    bool warned = false;
    for (const auto& d : result.diagnostics)
        warned |= d.warning && d.message.find("\"at\": \"order.rts_sla_time\" has no value for conversation.created") != std::string::npos;
    CHECK(warned);
    auto quiet = load_text(with_schedule({{"at", "order.rts_sla_time"}, {"event", "sla.check"}}), "f.json");
    CHECK(quiet.diagnostics.empty());
}

TEST_CASE("A fixture can expect when a timer fires", "[deadline][fixture]") {
    auto rules = must_load(with_schedule({{"before", "6h"}, {"at", "order.rts_sla_time"}, {"event", "sla.check"}}));
    auto run = [&](const std::string& fire_at) {
        const std::string text = R"({"cases": [{"name": "c", "event": "order.status_changed", "now": "2026-11-24T10:00:00+09:00",
          "order": {"id": "1", "status": "AWAITING_SHIPMENT", "rts_sla_time": "2026-11-26T10:00:00+09:00"},
          "expect": [{"rule": "sla", "action": "schedule", "fire_at": )" + fire_at + "}]}]}";
        auto doc = parse_jsonc(text, "t.json");
        REQUIRE(std::holds_alternative<jsonc_document>(doc));
        auto parsed = parse_fixture(std::get<jsonc_document>(doc), fixture_defaults{});
        REQUIRE(parsed.ok());
        REQUIRE(parsed.cases.size() == 1);
        return run_case(*rules, parsed.cases[0]);
    };
    CHECK(run("\"2026-11-26T04:00:00+09:00\"").passed);
    auto wrong = run("\"2026-11-26T05:00:00+09:00\"");
    CHECK_FALSE(wrong.passed);
    CHECK_THAT(wrong.diff, Catch::Contains("the timer fires at 2026-11-25T19:00:00Z, not at 2026-11-25T20:00:00Z"));
}

}  // namespace ORDERFLOW_TEST_FILE
