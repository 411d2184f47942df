// Tests for daemon/cs_quota.hpp (the customer-service quota: who may call,
// the stored count, the review items of a day) and daemon/deadline_timers.hpp
// (a timer whose deadline TikTok moved).
#include "daemon/cs_quota.hpp"

#include "daemon/deadline_timers.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/rules_in_force.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/client.hpp"

#include <catch2/catch.hpp>

#include <set>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;

namespace {

config quota_config(std::int64_t quota, std::int64_t reserve) {
    config cfg;
    cfg.customer_service.daily_quota = quota;
    cfg.customer_service.reply_reserve = reserve;
    cfg.customer_service.warn_percent = 50;
    return cfg;
}

}  // namespace

TEST_CASE("Replies may use the reserve, proactive messages and polling may not, and nothing goes at zero", "[cs_quota]") {
    const config cfg = quota_config(30, 10);
    const std::int64_t now = 1'790'000'000;
    auto [used, purpose, waits] = GENERATE(table<std::int64_t, cs_purpose, bool>({
        {19, cs_purpose::proactive, false},
        {20, cs_purpose::proactive, true},
        {20, cs_purpose::poll, true},
        {20, cs_purpose::reply, false},
        {29, cs_purpose::reply, false},
        {30, cs_purpose::reply, true},
        {45, cs_purpose::reply, true},
    }));
    CAPTURE(used, static_cast<int>(purpose));
    auto wait = cs_refusal(purpose, used, cfg, now);
    CHECK(wait.has_value() == waits);
    if (wait) {
        CHECK(wait->until == next_utc_midnight(now));
        CHECK(wait->until % 86400 == 0);
        CHECK(wait->until > now);
        CHECK_THAT(wait->why, Catch::Contains(std::to_string(used) + " of 30 used today (UTC)") && Catch::Contains("00:00 UTC"));
    }
}

TEST_CASE("The day's count is stored, resumed at start, and raises one warning and one critical item a day", "[cs_quota]") {
    runtime_env env([](config& c) {
        c.customer_service.daily_quota = 30;
        c.customer_service.reply_reserve = 10;
        c.customer_service.warn_percent = 50;
    });
    cs_quota quota(env.ctx, env.in_force->cfg(), *env.desk);
    for (std::int64_t n = 1; n <= 22; ++n) quota.counted(n);
    const json view = cs_quota_view(env.store, env.in_force->cfg(), env.now);
    CHECK(view.at("used") == 22);
    CHECK(view.at("remaining") == 8);
    CHECK(view.at("proactive") == "waits");
    CHECK(view.at("replies") == "go");
    auto open = env.store.reviews(false, 100);
    REQUIRE(open.size() == 2);
    std::set<std::string> reasons;
    for (const auto& r : open) reasons.insert(r.reason + ":" + r.severity);
    CHECK(reasons == std::set<std::string>{"cs_quota_low:warning", "cs_quota_reserve:critical"});

    // A new start resumes the client's count from the stored one.
    env.api->resume_cs_calls(0);
    quota.restore(*env.api);
    CHECK(env.api->cs_calls_today() == 22);

    // The next UTC day starts from zero, and may warn again.
    env.now = next_utc_midnight(env.now) + 5;
    CHECK(cs_quota_view(env.store, env.in_force->cfg(), env.now).at("used") == 0);
    CHECK(env.api->cs_calls_today() == 0);
    quota.counted(16);
    CHECK(env.store.reviews(false, 100).size() == 3);
}

TEST_CASE("A timer counted from a deadline TikTok moved is void and follows the new deadline", "[deadline_timers]") {
    orderflow::storage::event_row e;
    e.id = 7;
    e.source = "timer";
    e.event = "timer.sla.soon";
    e.order_id = "576461413038785752";
    e.dedupe_key = "timer:abc";
    e.payload = json{{"data", {{"order_id", e.order_id}, {"at", "order.rts_sla_time"}, {"anchor", 1000}, {"offset_s", -100},
                               {"fire_at", 900}}}}.dump();
    const std::int64_t now = 950;
    CHECK_FALSE(deadline_moved(e, json{{"rts_sla_time", 1000}}, now));
    CHECK_FALSE(deadline_moved(e, json{{"rts_sla_time", nullptr}}, now));   // no deadline now: fire as set
    auto moved = deadline_moved(e, json{{"rts_sla_time", 5000}}, now);
    REQUIRE(moved);
    CHECK(moved->was == 1000);
    CHECK(moved->now_is == 5000);
    CHECK(moved->rearmed.not_before == 4900);
    CHECK(moved->rearmed.dedupe_key == "timer:abc@5000");
    CHECK(moved->rearmed.event == "timer.sla.soon");
    auto data = json::parse(moved->rearmed.payload).at("data");
    CHECK(data.at("anchor") == 5000);
    CHECK(data.at("moved_from") == 1000);
    // Moved again: one timer per deadline value, under the same root key.
    orderflow::storage::event_row again = e;
    again.dedupe_key = moved->rearmed.dedupe_key;
    again.payload = moved->rearmed.payload;
    auto twice = deadline_moved(again, json{{"rts_sla_time", 6000}}, now);
    REQUIRE(twice);
    CHECK(twice->rearmed.dedupe_key == "timer:abc@6000");
    // A timer with a series (every timer set since series exist) moves to the
    // name a re-plan for the new deadline gives its timer: one timer, not two.
    e.dedupe_key = timer_key("f00d", 1000);
    e.payload = json{{"data", {{"order_id", e.order_id}, {"at", "order.rts_sla_time"}, {"anchor", 1000}, {"offset_s", -100},
                               {"fire_at", 900}, {"series", "f00d"}}}}.dump();
    auto in_series = deadline_moved(e, json{{"rts_sla_time", 5000}}, now);
    REQUIRE(in_series);
    CHECK(in_series->rearmed.dedupe_key == "timer:f00d@5000");
    CHECK(in_series->rearmed.dedupe_key == timer_key("f00d", 5000));
    // A timer not counted from a deadline is left alone.
    e.payload = json{{"data", {{"order_id", e.order_id}, {"fire_at", 900}}}}.dump();
    CHECK_FALSE(deadline_moved(e, json{{"rts_sla_time", 5000}}, now));
}

}  // namespace ORDERFLOW_TEST_FILE
