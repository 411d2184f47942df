// Tests for daemon/executor/guards.hpp: the checks just before a message is
// sent (quiet hours, a cancelled order, the per-order and per-buyer caps,
// and whether a rule still matches the order as it is now), against the
// real outbox and review queue and, for the re-check, the sandbox shop.
#include "daemon/executor/guards.hpp"

#include "daemon/detail/local_time.hpp"
#include "tests/daemon/executor/outbox_support.hpp"

#include <boost/asio/awaitable.hpp>
#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;

namespace {

// runtime_env's clock starts here; quiet hours are set around it before the env exists.
constexpr std::int64_t start = 1'790'000'000;

json message_to(const std::string& buyer) { return {{"text", "ありがとうございます"}, {"buyer_user_id", buyer}}; }

// One order.status_changed event in the inbox for the order; returns its id.
std::int64_t status_event(runtime_env& env, const std::string& order_id, const std::string& status) {
    storage::new_event e;
    e.dedupe_key = "test:" + order_id + ":" + status;
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = order_id;
    e.payload = json{{"type", 1}, {"data", {{"order_id", order_id}, {"order_status", status}}}}.dump();
    e.received_at = env.now;
    REQUIRE(env.store.add_event(e));
    return env.store.recent_events(1).front().id;
}

bool still_matches(runtime_env& env, guards& g, const storage::action_row& a) {
    bool out = false;
    env.drive([&]() -> asio::awaitable<void> { out = co_await g.rule_still_matches(a); });
    return out;
}

}  // namespace

TEST_CASE("A send in the quiet hours is deferred until they end, without an attempt", "[guards]") {
    const int minute = detail::local_minute_of_day(start);
    const int until = (minute + 60) % 1440;
    runtime_env env(thanks_rules, [&](config& c) { c.guards.quiet_hours = std::pair{minute, until}; });
    REQUIRE(env.now == start);
    executor_parts parts(env);
    const auto a = plant_action(env, "send_message", "O-1", message_to("buyer-1"));
    CHECK(parts.grd.check(a) == guard_result::waited);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK(row.attempts == 0);
    CHECK(row.not_before == detail::next_local_time(env.now, until));
    CHECK(row.not_before > env.now);
    CHECK_THAT(row.reason, Catch::StartsWith("quiet hours: waits until") && Catch::Contains("Asia/Tokyo"));
    CHECK(env.store.reviews(false, 10).empty());
}

TEST_CASE("Outside the quiet hours and under the caps a send may go", "[guards]") {
    const int minute = detail::local_minute_of_day(start);
    runtime_env env(thanks_rules, [&](config& c) {
        c.guards.quiet_hours = std::pair{(minute + 60) % 1440, (minute + 120) % 1440};
        c.guards.messages_per_order_per_day = 2;
    });
    executor_parts parts(env);
    settle(env, plant_action(env, "send_message", "O-1", message_to("buyer-1")).id, "done");
    const auto a = plant_action(env, "send_message", "O-1", message_to("buyer-1"));
    CHECK(parts.grd.check(a) == guard_result::go);
    CHECK(action_now(env, a.id).state == "planned");
}

TEST_CASE("A message to a cancelled order is skipped with an order_cancelled review item unless the rule allows it", "[guards]") {
    runtime_env env;
    executor_parts parts(env);
    env.store.put_order({"O-2", "CANCELLED", "{}", env.now});
    const bool allowed = GENERATE(false, true);
    json payload = message_to("buyer-2");
    if (allowed) payload["guards"] = {{"cancelled", true}};
    const auto a = plant_action(env, "send_message", "O-2", payload);
    if (allowed) {
        CHECK(parts.grd.check(a) == guard_result::go);
        CHECK(action_now(env, a.id).state == "planned");
        CHECK(reviews_for(env, "order_cancelled").empty());
    } else {
        CHECK(parts.grd.check(a) == guard_result::stopped);
        const auto row = action_now(env, a.id);
        CHECK(row.state == "skipped");
        CHECK_THAT(row.reason, Catch::Contains("cancelled"));
        const auto items = reviews_for(env, "order_cancelled");
        REQUIRE(items.size() == 1);
        CHECK(items[0].severity == "info");
    }
}

TEST_CASE("The per-order cap skips a message with a message_cap review item", "[guards]") {
    runtime_env env(thanks_rules, [](config& c) { c.guards.messages_per_order_per_day = 2; });
    executor_parts parts(env);
    settle(env, plant_action(env, "send_message", "O-3", message_to("buyer-3")).id, "done");
    settle(env, plant_action(env, "send_message", "O-3", message_to("buyer-3")).id, "unknown");
    const auto a = plant_action(env, "send_message", "O-3", message_to("buyer-3"));
    CHECK(parts.grd.check(a) == guard_result::stopped);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "skipped");
    CHECK_THAT(row.reason, Catch::Contains("2 automated messages to this order") && Catch::Contains("messages_per_order_per_day 2"));
    const auto items = reviews_for(env, "message_cap");
    REQUIRE(items.size() == 1);
    CHECK(items[0].order_id == "O-3");

    // A day later the earlier messages no longer count.
    env.now += 86400 + 1;
    const auto later = plant_action(env, "send_message", "O-3", message_to("buyer-3"));
    CHECK(parts.grd.check(later) == guard_result::go);
}

TEST_CASE("The per-buyer cap counts messages to the buyer across orders", "[guards]") {
    runtime_env env(thanks_rules, [](config& c) { c.guards.messages_per_buyer_per_day = 1; });
    executor_parts parts(env);
    settle(env, plant_action(env, "send_message", "O-4", message_to("buyer-4")).id, "done");
    const auto other_buyer = plant_action(env, "send_message", "O-5", message_to("buyer-5"));
    CHECK(parts.grd.check(other_buyer) == guard_result::go);
    const auto a = plant_action(env, "send_message", "O-5", message_to("buyer-4"));
    CHECK(parts.grd.check(a) == guard_result::stopped);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "skipped");
    CHECK_THAT(row.reason, Catch::Contains("to this buyer") && Catch::Contains("messages_per_buyer_per_day 1"));
    CHECK(reviews_for(env, "message_cap").size() == 1);
}

TEST_CASE("rule_still_matches is true while the order still fits the rule and refreshes the orders cache", "[guards]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plant_action(env, "send_message", id, message_to(buyer_of(env, id)), "thanks",
                                status_event(env, id, "AWAITING_SHIPMENT"));
    CHECK(still_matches(env, parts.grd, a));
    CHECK(action_now(env, a.id).state == "planned");
    auto cached = env.store.get_order(id);
    REQUIRE(cached.has_value());
    CHECK(cached->status == "AWAITING_SHIPMENT");
}

TEST_CASE("rule_still_matches is false and skips the send when the order no longer fits the rule", "[guards]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plant_action(env, "send_message", id, message_to(buyer_of(env, id)), "thanks",
                                status_event(env, id, "AWAITING_SHIPMENT"));
    env.control("POST", "/control/orders/" + id + "/status", {{"status", "CANCELLED"}});
    CHECK_FALSE(still_matches(env, parts.grd, a));
    const auto row = action_now(env, a.id);
    CHECK(row.state == "skipped");
    CHECK_THAT(row.reason, Catch::Contains("no longer matches"));
    CHECK(env.shop_messages().empty());
}

TEST_CASE("rule_still_matches defers the send while TikTok cannot be asked", "[guards]") {
    runtime_env env;   // not authorized: no token to fetch the order with
    executor_parts parts(env);
    const std::string id = env.create_order();
    const auto a = plant_action(env, "send_message", id, message_to(buyer_of(env, id)), "thanks",
                                status_event(env, id, "AWAITING_SHIPMENT"));
    CHECK_FALSE(still_matches(env, parts.grd, a));
    const auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK_THAT(row.reason, Catch::StartsWith("re-check before sending"));
}

}  // namespace ORDERFLOW_TEST_FILE
