// Tests for daemon/executor/breaker.hpp: the circuit breaker trips when more
// messages are planned within breaker.interval than breaker.max_sends, its
// state survives a restart (a new breaker reads it), and resume reopens
// sending, resolves its review item and, on request, drops what it held.
#include "daemon/executor/breaker.hpp"

#include "tests/daemon/executor/outbox_support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;

namespace {

void limit_to_two_in_ten_minutes(config& c) {
    c.breaker.max_sends = 2;
    c.breaker.interval = std::chrono::minutes(10);
}

storage::action_row plan_message(runtime_env& env, const std::string& order_id) {
    return plant_action(env, "send_message", order_id, {{"text", "ありがとうございます"}, {"buyer_user_id", "buyer-" + order_id}});
}

}  // namespace

TEST_CASE("The breaker allows sending up to breaker.max_sends planned messages in the interval", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    plan_message(env, "O-1");
    plan_message(env, "O-2");
    // Tags, reviews and skipped rows are not messages the breaker counts.
    plant_action(env, "tag", "O-3", {{"tag", "vip"}});
    const auto skipped = plan_message(env, "O-4");
    env.store.set_action_state(skipped.id, "skipped", "cap", "", env.now);
    CHECK(brk.allows_sending());
    CHECK_FALSE(brk.open());
    CHECK_FALSE(env.store.get_state("breaker").has_value());
    CHECK(reviews_for(env, "circuit_breaker").empty());
}

TEST_CASE("Over breaker.max_sends the breaker trips, persists its state and raises a critical review item", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    for (const char* id : {"O-1", "O-2", "O-3"}) plan_message(env, id);
    CHECK_FALSE(brk.allows_sending());
    CHECK(brk.open());

    const auto saved = env.store.get_state("breaker");
    REQUIRE(saved.has_value());
    const json st = json::parse(*saved);
    CHECK(st["open"] == true);
    CHECK(st["planned"] == 3);
    CHECK(st["limit"] == 2);
    CHECK(audit_of(env, "breaker.tripped").size() == 1);

    const auto items = reviews_for(env, "circuit_breaker");
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "critical");
    CHECK_THAT(items[0].summary, Catch::Contains("3 messages planned within 10 min") && Catch::Contains("orderflowctl resume"));

    // A restart does not quietly resume sending.
    breaker after_restart(env.ctx, *env.in_force, *env.desk, nullptr);
    CHECK(after_restart.open());
    CHECK_FALSE(after_restart.allows_sending());
}

TEST_CASE("Messages planned longer ago than the interval do not count against the limit", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    for (const char* id : {"O-1", "O-2", "O-3"}) plan_message(env, id);
    env.now += 601;
    plan_message(env, "O-4");
    CHECK(brk.allows_sending());
    CHECK_FALSE(brk.open());
}

TEST_CASE("resume reopens sending, resolves the breaker's review item and wakes the executor", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    int resumed = 0;
    breaker brk(env.ctx, *env.in_force, *env.desk, [&] { ++resumed; });
    std::vector<storage::action_row> held;
    for (const char* id : {"O-1", "O-2", "O-3"}) held.push_back(plan_message(env, id));
    REQUIRE_FALSE(brk.allows_sending());
    env.now += 30;

    const std::string reply = brk.resume("hanako", "uid 1000", false);
    CHECK(reply == "sending resumed by hanako\n");
    CHECK_FALSE(brk.open());
    CHECK(resumed == 1);
    // What was planned before the resume no longer counts: sending goes on.
    CHECK(brk.allows_sending());
    for (const auto& a : held) CHECK(action_now(env, a.id).state == "planned");
    CHECK(reviews_for(env, "circuit_breaker").empty());
    const auto all = env.store.reviews(true, 10);
    REQUIRE(all.size() == 1);
    CHECK(all[0].state == "resolved");
    CHECK(all[0].resolved_by == "hanako");
    CHECK(json::parse(*env.store.get_state("breaker"))["open"] == false);
    CHECK(audit_of(env, "breaker.resumed").size() == 1);

    // The persisted state says open no more.
    breaker after_restart(env.ctx, *env.in_force, *env.desk, nullptr);
    CHECK_FALSE(after_restart.open());
    CHECK(after_restart.allows_sending());
}

TEST_CASE("resume with drop_held skips the messages the breaker held", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    std::vector<storage::action_row> held;
    for (const char* id : {"O-1", "O-2", "O-3"}) held.push_back(plan_message(env, id));
    const auto tag = plant_action(env, "tag", "O-1", {{"tag", "vip"}});
    REQUIRE_FALSE(brk.allows_sending());
    // One waits for the end of quiet hours: not held by the pause, it stays.
    const auto waiting = plan_message(env, "O-4");
    env.store.set_action_state(waiting.id, "deferred", "quiet hours", "", env.now, env.now + 3600);

    const std::string reply = brk.resume("hanako", "uid 1000", true);
    CHECK_THAT(reply, Catch::Contains("3 held messages dropped"));
    for (const auto& a : held) {
        const auto row = action_now(env, a.id);
        CHECK(row.state == "skipped");
        CHECK_THAT(row.reason, Catch::Contains("dropped at resume by hanako"));
    }
    CHECK(action_now(env, tag.id).state == "planned");
    CHECK(action_now(env, waiting.id).state == "deferred");
    CHECK(action_now(env, waiting.id).not_before == env.now + 3600);
    CHECK(env.store.reviews(true, 10).front().note == "resumed; held messages dropped");
}

TEST_CASE("resume while sending is not paused changes nothing", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    int resumed = 0;
    breaker brk(env.ctx, *env.in_force, *env.desk, [&] { ++resumed; });
    const auto a = plan_message(env, "O-1");
    CHECK(brk.resume("hanako", "uid 1000", true).empty());
    CHECK(resumed == 0);
    CHECK(action_now(env, a.id).state == "planned");
    CHECK_FALSE(env.store.get_state("breaker").has_value());
}

TEST_CASE("The breaker reads each planned action once, and trips on the message that passes the limit", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    plan_message(env, "O-1");
    plan_message(env, "O-2");
    int reads = 0;
    env.db.observe_prepares([&](std::string_view sql) {
        if (sql.find("SELECT created_at FROM outbox WHERE id >") != std::string_view::npos) ++reads;
    });
    // A backlog of sends asks before each message: one read serves them all.
    for (int i = 0; i < 5; ++i) CHECK(brk.allows_sending());
    CHECK(reads == 1);

    plan_message(env, "O-3");   // the third within ten minutes: over the limit of two
    CHECK_FALSE(brk.allows_sending());
    CHECK(reads == 3);   // the new row, then the window again as it is now before pausing
    CHECK(brk.open());
    CHECK(json::parse(*env.store.get_state("breaker"))["planned"] == 3);
    env.db.observe_prepares({});
}

TEST_CASE("The breaker's window slides: what it read once drops out as the interval passes", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    plan_message(env, "O-1");
    plan_message(env, "O-2");
    CHECK(brk.allows_sending());   // two in the window, read now
    env.now += 300;
    plan_message(env, "O-3");
    env.now += 301;                // O-1 and O-2 are 601 s old, O-3 301 s
    plan_message(env, "O-4");
    CHECK(brk.allows_sending());   // O-3 and O-4: two
    plan_message(env, "O-5");
    CHECK_FALSE(brk.allows_sending());   // O-3, O-4 and O-5: three
}

TEST_CASE("A breaker started on a long outbox reads only the interval's actions", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    for (int i = 0; i < 5; ++i) plan_message(env, "OLD-" + std::to_string(i));
    env.now += 3600;
    plan_message(env, "O-1");
    plan_message(env, "O-2");
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    CHECK(brk.allows_sending());
    plan_message(env, "O-3");
    CHECK_FALSE(brk.allows_sending());
    CHECK(json::parse(*env.store.get_state("breaker"))["planned"] == 3);
}

TEST_CASE("A message skipped after the breaker read it no longer counts when the limit seems passed", "[breaker]") {
    runtime_env env(thanks_rules, limit_to_two_in_ten_minutes);
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    const auto first = plan_message(env, "O-1");
    plan_message(env, "O-2");
    CHECK(brk.allows_sending());   // both read as planned
    env.store.set_action_state(first.id, "skipped", "cap", "", env.now);
    plan_message(env, "O-3");
    CHECK(brk.allows_sending());   // O-2 and O-3: two, not three
    CHECK_FALSE(brk.open());
}

}  // namespace ORDERFLOW_TEST_FILE
