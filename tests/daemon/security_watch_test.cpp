// Tests for daemon/security_watch.hpp: a burst of refusals at one door
// raises one "security" review item with the count and the sources; fewer
// refusals raise nothing; a long burst is one item per quiet period; doors
// are counted apart.
#include "daemon/security_watch.hpp"

#include "tests/daemon/runtime_support.hpp"

#include <catch2/catch.hpp>

#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;

namespace {

std::vector<storage::review_item> security_items(runtime_env& env) {
    std::vector<storage::review_item> out;
    for (auto& r : env.store.reviews(false, 100))
        if (r.reason == "security") out.push_back(r);
    return out;
}

}  // namespace

TEST_CASE("Ten refused signatures within the window raise one critical security item naming the count and sources", "[security_watch]") {
    runtime_env env;
    security_watch watch(env.ctx, *env.desk, {10, std::chrono::seconds(60), std::chrono::seconds(900)});
    for (int i = 0; i < 9; ++i) watch.refused("webhook_signature", "203.0.113.5:4000" + std::to_string(i));
    env.run_for(std::chrono::milliseconds(20));
    CHECK(security_items(env).empty());

    watch.refused("webhook_signature", "[2001:db8::7]:443");
    env.run_for(std::chrono::milliseconds(20));
    auto items = security_items(env);
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "critical");
    CHECK_THAT(items[0].summary, Catch::Contains("10 webhooks with a signature that does not match"));
    const json evidence = json::parse(items[0].evidence);
    CHECK(evidence["door"] == "webhook_signature");
    CHECK(evidence["refusals"] == 10);
    CHECK(evidence["sources"]["203.0.113.5"] == 9);
    CHECK(evidence["sources"]["2001:db8::7"] == 1);
    // Staff hear of it like any other item.
    CHECK(env.notifier_wakes > 0);

    // The burst goes on: no second item within the quiet period.
    for (int i = 0; i < 30; ++i) watch.refused("webhook_signature", "203.0.113.5:5000");
    env.run_for(std::chrono::milliseconds(20));
    CHECK(security_items(env).size() == 1);
}

TEST_CASE("Each door counts its own refusals, and what was refused is listed without the credential", "[security_watch]") {
    runtime_env env;
    security_watch watch(env.ctx, *env.desk, {3, std::chrono::seconds(60), std::chrono::seconds(900)});
    watch.refused("admin_token", "127.0.0.1:1", "/metrics");
    watch.refused("other_shop", "127.0.0.1:2", "shop 999");
    watch.refused("admin_token", "127.0.0.1:3", "/v1/tracking");
    env.run_for(std::chrono::milliseconds(20));
    CHECK(security_items(env).empty());
    watch.refused("admin_token", "127.0.0.1:4", "/metrics");
    env.run_for(std::chrono::milliseconds(20));
    auto items = security_items(env);
    REQUIRE(items.size() == 1);
    const json evidence = json::parse(items[0].evidence);
    CHECK(evidence["door"] == "admin_token");
    CHECK(evidence["refused"]["/metrics"] == 2);
    CHECK(evidence["refused"]["/v1/tracking"] == 1);
    CHECK(evidence["sources"]["127.0.0.1"] == 3);
}

TEST_CASE("Refusals spread wider than the window raise nothing", "[security_watch]") {
    runtime_env env;
    security_watch watch(env.ctx, *env.desk, {2, std::chrono::seconds(0), std::chrono::seconds(900)});
    // A zero-length window holds one refusal at a time: never a burst of two.
    for (int i = 0; i < 5; ++i) {
        watch.refused("console_login", "127.0.0.1:1", "staff1");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    env.run_for(std::chrono::milliseconds(20));
    CHECK(security_items(env).empty());
}

}  // namespace ORDERFLOW_TEST_FILE
