// Tests for daemon/executor/tracking_sender.hpp with orders in several
// packages: tracking is per package; a split order is shipped package by
// package through PARTIALLY_SHIPPING, and a feed line naming only the order
// is refused with the packages listed, never guessed.
#include "daemon/executor/tracking_sender.hpp"

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

constexpr const char* ship_api = "POST /fulfillment/202309/packages/{id}/ship";

void send(runtime_env& env, tracking_sender& sender, const storage::action_row& a) {
    env.drive([&]() -> asio::awaitable<void> { co_await sender.send(a); });
}

storage::action_row plan(runtime_env& env, const std::string& order_id, const std::string& package_id, const std::string& number) {
    json payload = {{"order_id", order_id}, {"tracking_number", number}, {"carrier", "Yamato Transport"}};
    if (!package_id.empty()) payload["package_id"] = package_id;
    return plant_action(env, "update_tracking", order_id, payload, "ship_from_feed");
}

// A paid order of two units split into two packages; returns its id and the package ids.
std::pair<std::string, std::vector<std::string>> split_order(runtime_env& env) {
    json o = env.control("POST", "/control/orders",
                         {{"buyer_name", "山田 太郎"},
                          {"status", "AWAITING_SHIPMENT"},
                          {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}, {"quantity", 2}}}}});
    const std::string id = o.at("id");
    json split = env.control("POST", "/control/orders/" + id + "/split", json::object());
    std::vector<std::string> packages;
    for (const auto& p : split.at("packages")) packages.push_back(p.at("id"));
    REQUIRE(packages.size() == 2u);
    return {id, packages};
}

std::vector<std::string> shipped_packages(runtime_env& env) {
    std::vector<std::string> ids;
    for (const auto& c : env.shop->calls())
        if (c.api == ship_api && c.code == 0) {
            const auto from = c.path.find("/packages/") + 10;
            ids.push_back(c.path.substr(from, c.path.find('/', from) - from));
        }
    return ids;
}

}  // namespace

TEST_CASE("A split order is shipped package by package, PARTIALLY_SHIPPING in between", "[tracking_sender][packages]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto [id, packages] = split_order(env);

    const auto first = plan(env, id, packages[0], "YMT-5001");
    send(env, parts.tracking, first);
    CHECK(action_now(env, first.id).state == "done");
    CHECK(env.control("GET", "/control/orders/" + id)["status"] == "PARTIALLY_SHIPPING");

    const auto second = plan(env, id, packages[1], "YMT-5002");
    send(env, parts.tracking, second);
    CHECK(action_now(env, second.id).state == "done");
    const json order = env.control("GET", "/control/orders/" + id);
    CHECK(order["status"] == "AWAITING_COLLECTION");
    CHECK(order["line_items"][0]["tracking_number"] == "YMT-5001");
    CHECK(order["line_items"][1]["tracking_number"] == "YMT-5002");
    CHECK(shipped_packages(env) == packages);   // each once, in order

    SECTION("the first package's line again is already current, not a second shipment") {
        const auto again = plan(env, id, packages[0], "YMT-5001");
        send(env, parts.tracking, again);
        CHECK(action_now(env, again.id).state == "done");
        CHECK(json::parse(action_now(env, again.id).result)["note"] == "TikTok already has this tracking number");
        CHECK(shipped_packages(env).size() == 2u);
    }
}

TEST_CASE("A feed line naming only an order in several packages fails listing them, unless its number names one", "[tracking_sender][packages]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto [id, packages] = split_order(env);
    send(env, parts.tracking, plan(env, id, packages[0], "YMT-6001"));

    const auto vague = plan(env, id, "", "YMT-6002");
    send(env, parts.tracking, vague);
    const auto row = action_now(env, vague.id);
    CHECK(row.state == "failed");
    CHECK_THAT(row.reason, Catch::Contains("ships in 2 packages") && Catch::Contains(packages[0] + " shipped with YMT-6001") &&
                               Catch::Contains(packages[1] + " not shipped") && Catch::Contains("package_id"));
    CHECK(shipped_packages(env).size() == 1u);

    // The number already on a package names that package: a repeat, done.
    const auto repeat = plan(env, id, "", "YMT-6001");
    send(env, parts.tracking, repeat);
    CHECK(action_now(env, repeat.id).state == "done");
    CHECK(json::parse(action_now(env, repeat.id).result)["package_id"] == packages[0]);
    CHECK(shipped_packages(env).size() == 1u);
}

}  // namespace ORDERFLOW_TEST_FILE
