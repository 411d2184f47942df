// Tests for daemon/executor/guards.hpp: the checks just before a message is
// sent (quiet hours, a cancelled order, the per-order and per-buyer caps,
// and whether a rule still matches the order as it is now), against the
// real outbox and review queue and, for the re-check, the sandbox shop.
#include "daemon/executor/guards.hpp"

#include "daemon/conversation_linker.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/pipeline.hpp"
#include "daemon/storage_watch.hpp"
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

// Edge rules: a message when the order becomes ready to ship, one when it
// is delivered, and one when it leaves ON_HOLD.
const char* const edge_rules = R"({
  "templates": { "t": { "ja": "{{order.buyer_name}}様" } },
  "rules": [ { "id": "to-ship", "on": "order.status_changed",
               "if": { "order.status": { "changed_to": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "t" } } ] },
             { "id": "delivered", "on": "order.status_changed",
               "if": { "order.status": { "changed_to": "DELIVERED" } },
               "then": [ { "send_message": { "template": "t" } } ] },
             { "id": "left-hold", "on": "order.status_changed",
               "if": { "order.status": { "changed_from": "ON_HOLD" } },
               "then": [ { "send_message": { "template": "t" } } ] } ]
})";

// AWAITING_SHIPMENT -> DELIVERED in the sandbox, by the steps it allows.
void deliver(runtime_env& env, const std::string& order_id) {
    for (const char* status : {"AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"})
        env.control("POST", "/control/orders/" + order_id + "/status", {{"status", status}});
    REQUIRE(env.control("GET", "/control/orders/" + order_id).at("status") == "DELIVERED");
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

TEST_CASE("rule_still_matches is true while the order still fits the rule and leaves the orders cache alone", "[guards]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plant_action(env, "send_message", id, message_to(buyer_of(env, id)), "thanks",
                                status_event(env, id, "AWAITING_SHIPMENT"));
    CHECK(still_matches(env, parts.grd, a));
    CHECK(action_now(env, a.id).state == "planned");
    // Only the pipeline moves the previous view the rules compare with.
    CHECK_FALSE(env.store.get_order(id).has_value());
}

TEST_CASE("rule_still_matches takes a changed_from edge as given and tests only where the order is now", "[guards]") {
    runtime_env env(edge_rules);
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plant_action(env, "send_message", id, message_to(buyer_of(env, id)), "left-hold",
                                status_event(env, id, "AWAITING_SHIPMENT"));
    CHECK(still_matches(env, parts.grd, a));
    CHECK(action_now(env, a.id).state == "planned");

    // Back where the edge started: the rule no longer holds.
    const std::string held = env.create_order();
    env.control("POST", "/control/orders/" + held + "/status", {{"status", "ON_HOLD"}});
    const auto b = plant_action(env, "send_message", held, message_to(buyer_of(env, held)), "left-hold",
                                status_event(env, held, "AWAITING_SHIPMENT"));
    CHECK_FALSE(still_matches(env, parts.grd, b));
    CHECK_THAT(action_now(env, b.id).reason, Catch::Contains("order.status changed_from \"ON_HOLD\": saw \"ON_HOLD\""));
}

TEST_CASE("A deferred message checked again does not hide the next status change from the rules", "[guards]") {
    runtime_env env(edge_rules);
    env.authorize();
    executor_parts parts(env);
    storage_watch watch{env.ctx, *env.desk, env.sup, [] {}};
    conversation_linker links(env.ctx, *env.api, *env.tokens);
    pipeline pipe(env.ctx, *env.in_force, parts.orders, links, *env.tokens, *env.desk, watch, env.sup, [] {});
    auto process = [&](std::int64_t event_id) {
        auto e = env.store.get_event(event_id);
        REQUIRE(e.has_value());
        env.drive([&]() -> asio::awaitable<void> { co_await pipe.process(*e); });
    };
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    process(status_event(env, id, "AWAITING_SHIPMENT"));
    auto planned = env.store.actions_for_order(id);
    REQUIRE(planned.size() == 1);
    REQUIRE(planned[0].rule_id == "to-ship");

    // While the message waits (quiet hours), the order is delivered; the
    // DELIVERED webhook has not arrived yet when the message is checked again.
    deliver(env, id);
    CHECK_FALSE(still_matches(env, parts.grd, planned[0]));
    const auto skipped = action_now(env, planned[0].id);
    CHECK(skipped.state == "skipped");
    CHECK_THAT(skipped.reason, Catch::Contains("first failed:") &&
                                   Catch::Contains("order.status changed_to \"AWAITING_SHIPMENT\": saw \"DELIVERED\""));
    auto cached = env.store.get_order(id);
    REQUIRE(cached.has_value());
    CHECK(cached->status == "AWAITING_SHIPMENT");

    // The DELIVERED webhook is still an edge for the rules.
    env.now += 60;
    process(status_event(env, id, "DELIVERED"));
    std::vector<std::string> rules;
    for (const auto& a : env.store.actions_for_order(id)) rules.push_back(a.rule_id);
    CHECK(rules == std::vector<std::string>{"to-ship", "delivered"});
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
    CHECK_THAT(row.reason, Catch::Contains("no longer matches") &&
                               Catch::Contains("order.status eq \"AWAITING_SHIPMENT\": saw \"CANCELLED\""));
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
