// Tests for daemon/admin/metrics.hpp: the Prometheus text reflects the
// rules in force, the last reload, the outbox by state, open review items,
// the circuit breaker and pending staff notifications.
#include "daemon/admin/metrics.hpp"

#include "daemon/executor/breaker.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;

namespace {

void plan(runtime_env& env, const std::string& key, const std::string& kind) {
    storage::new_action a;
    a.idem_key = key;
    a.rule_id = "thanks";
    a.kind = kind;
    a.order_id = "O-1";
    a.payload = json{{"text", "ありがとうございます"}, {"buyer_user_id", "buyer"}, {"tag", "vip"}}.dump();
    a.created_at = env.now;
    REQUIRE(env.store.add_action(a));
}

config::channel ops_channel() {
    config::channel ch;
    ch.name = "ops";
    ch.type = "command";
    ch.command = {"true"};
    return ch;
}

}  // namespace

TEST_CASE("metrics_text has a gauge for every part of the daemon's state", "[metrics]") {
    runtime_env env(thanks_rules, [](config& c) {
        c.channels = {ops_channel()};
        c.breaker.max_sends = 1;
    });
    breaker brk(env.ctx, *env.in_force, *env.desk, nullptr);
    plan(env, "a", "send_message");
    plan(env, "b", "tag");
    env.desk->raise("O-1", "send_failed", "critical", "failed", json::object());
    env.desk->raise("O-2", "engraving", "warning", "check", json::object());

    std::string m = metrics_text(env.ctx, *env.in_force, brk, {});
    const auto rules = env.in_force->rules();
    CHECK_THAT(m, Catch::Contains("orderflow_rules_loaded{hash=\"" + rules->hash() + "\"} 1\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_rules_last_reload_ok 1\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_rules_last_reload_timestamp_seconds 0\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_actions{state=\"planned\"} 2\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_actions{state=\"done\"} 0\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_events{state=\"pending\"} 0\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_reviews_open 2\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_reviews_open_critical 1\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_sending_paused 0\n"));
    // The critical and the warning item each queued one notification for "ops" (min_severity warning).
    CHECK_THAT(m, Catch::Contains("orderflow_notifications_pending 2\n"));

    // A failed reload and a tripped breaker show.
    env.now += 100;
    env.in_force->record("reload", false, {"10-rules.json:3:5: error: unknown field"});
    plan(env, "c", "send_message");
    REQUIRE_FALSE(brk.allows_sending());
    m = metrics_text(env.ctx, *env.in_force, brk, {});
    CHECK_THAT(m, Catch::Contains("orderflow_rules_last_reload_ok 0\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_rules_last_reload_timestamp_seconds " + std::to_string(env.now) + "\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_sending_paused 1\n"));
    CHECK_THAT(m, Catch::Contains("orderflow_reviews_open_critical 2\n"));
}

}  // namespace ORDERFLOW_TEST_FILE
