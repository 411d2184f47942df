// Tests for daemon/executor/outcomes.hpp: how an action that does not simply
// succeed is recorded (deferred, failed, skipped), against the real outbox,
// its history, the audit log and the review queue.
#include "daemon/executor/outcomes.hpp"

#include "tests/daemon/executor/outbox_support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;

namespace {

json message_payload() { return {{"text", "ありがとうございます"}, {"buyer_user_id", "buyer-1"}}; }

}  // namespace

TEST_CASE("defer leaves a retryable failure deferred with its reason and a retry time after now", "[outcomes]") {
    runtime_env env;
    outcomes out(env.ctx, *env.in_force, *env.desk);
    const auto a = plant_action(env, "send_message", "O-1", message_payload());
    env.now += 60;
    out.defer(a, "TikTok error 36009003: busy");
    const auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK(row.reason == "TikTok error 36009003: busy");
    CHECK(row.not_before > env.now);
    CHECK(row.not_before == env.now + backoff(a.attempts, env.in_force->cfg().executor.send_retry_max));
    CHECK(env.store.due_actions(env.now, 10).empty());
    CHECK(env.store.due_actions(row.not_before, 10).size() == 1);
    CHECK(env.store.reviews(false, 10).empty());
}

TEST_CASE("defer past executor.give_up_after fails the action with a send_failed review item", "[outcomes]") {
    runtime_env env(thanks_rules, [](config& c) { c.executor.give_up_after = std::chrono::hours(2); });
    outcomes out(env.ctx, *env.in_force, *env.desk);
    const auto a = plant_action(env, "send_message", "O-1", message_payload());
    env.now += 2 * 3600;
    out.defer(a, "TikTok error 36009003: busy");
    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK_THAT(row.reason, Catch::Contains("gave up after 2 h") && Catch::Contains("TikTok error 36009003"));
    const auto items = reviews_for(env, "send_failed");
    REQUIRE(items.size() == 1);
    CHECK(items[0].order_id == "O-1");
    CHECK_THAT(items[0].summary, Catch::Contains("gave up"));
}

TEST_CASE("fail records the failure in the outbox, the audit log and a send_failed review item", "[outcomes]") {
    runtime_env env;
    outcomes out(env.ctx, *env.in_force, *env.desk);
    const auto a = plant_action(env, "send_message", "O-2", message_payload());
    const int wakes = env.notifier_wakes;
    out.fail(a, "TikTok error 45109001: the conversation is closed");
    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK(row.reason == "TikTok error 45109001: the conversation is closed");
    CHECK(states_of(env, a.id).back() == "failed");
    const auto audit = audit_of(env, "send_message.failed");
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["order_id"] == "O-2");
    CHECK(audit[0]["detail"]["action_id"] == a.id);
    const auto items = reviews_for(env, "send_failed");
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "warning");
    CHECK_THAT(items[0].summary, Catch::Contains("rule thanks") && Catch::Contains("45109001"));
    CHECK(env.notifier_wakes == wakes + 1);
}

TEST_CASE("skip without a review reason records why and raises no review item", "[outcomes]") {
    runtime_env env;
    outcomes out(env.ctx, *env.in_force, *env.desk);
    const auto a = plant_action(env, "send_message", "O-3", message_payload());
    out.skip(a, "its rule no longer matches the order");
    const auto row = action_now(env, a.id);
    CHECK(row.state == "skipped");
    CHECK(row.reason == "its rule no longer matches the order");
    CHECK(audit_of(env, "send_message.skipped").size() == 1);
    CHECK(env.store.reviews(false, 10).empty());
}

TEST_CASE("skip with a review reason raises an item with that reason and severity", "[outcomes]") {
    runtime_env env;
    outcomes out(env.ctx, *env.in_force, *env.desk);
    const auto a = plant_action(env, "send_message", "O-4", message_payload());
    out.skip(a, "cap reached", "message_cap", "critical");
    CHECK(action_now(env, a.id).state == "skipped");
    const auto items = reviews_for(env, "message_cap");
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "critical");
    CHECK(items[0].order_id == "O-4");
    CHECK_THAT(items[0].summary, Catch::Contains("not sent: cap reached"));
}

}  // namespace ORDERFLOW_TEST_FILE
