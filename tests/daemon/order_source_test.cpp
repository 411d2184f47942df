// Tests for daemon/order_source.cpp: fetch() gets an order from TikTok (the
// sandbox shop), says whether a failure is worth retrying, refreshes a token
// TikTok calls expired once, and takes prefetched orders from the page
// prefetch() fetched in one call instead of asking TikTok again.
#include "daemon/order_source.hpp"

#include "daemon/tokens.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using namespace orderflow;
using namespace orderflow::daemon;
using orderflow::daemon::testing::runtime_env;

namespace {

// Calls of Get Order Detail the shop received.
std::size_t order_detail_calls(const sandbox::shop& shop) {
    const auto& calls = shop.calls();
    return static_cast<std::size_t>(std::count_if(calls.begin(), calls.end(), [](const sandbox::call_record& c) {
        return c.method == "GET" && c.path == "/order/202309/orders";
    }));
}

order_source::fetched fetch(runtime_env& env, order_source& orders, const std::string& id) {
    order_source::fetched out;
    env.drive([&]() -> asio::awaitable<void> { out = co_await orders.fetch(id); });
    return out;
}

void prefetch(runtime_env& env, order_source& orders, const std::vector<std::string>& ids) {
    env.drive([&]() -> asio::awaitable<void> { co_await orders.prefetch(ids); });
}

}  // namespace

TEST_CASE("fetch returns the order as the shop has it", "[order_source]") {
    runtime_env env;
    env.authorize();
    order_source orders(*env.api, *env.tokens);
    const std::string id = env.create_order("山田 太郎");
    env.make_ready_to_ship(id);

    auto got = fetch(env, orders, id);

    REQUIRE(got.order.has_value());
    CHECK(got.error.empty());
    CHECK(got.order->id == id);
    CHECK(got.order->status == "AWAITING_SHIPMENT");
    CHECK(got.order->recipient_name == "山田 太郎");
    CHECK(got.order->user_id == env.shop->find_order(id)->user_id);
    CHECK(order_detail_calls(*env.shop) == 1);
}

TEST_CASE("fetch of an order TikTok does not know is an error not worth retrying", "[order_source]") {
    runtime_env env;
    env.authorize();
    order_source orders(*env.api, *env.tokens);

    auto got = fetch(env, orders, "576999999999999999");

    CHECK_FALSE(got.order.has_value());
    CHECK_FALSE(got.retryable);
    CHECK(got.error.find("order detail") != std::string::npos);
}

TEST_CASE("fetch while not authorized is retryable with the token keeper's advice and asks TikTok nothing", "[order_source]") {
    runtime_env env;   // no tokens stored
    order_source orders(*env.api, *env.tokens);
    const std::string id = env.create_order();

    auto got = fetch(env, orders, id);

    CHECK_FALSE(got.order.has_value());
    CHECK(got.retryable);
    CHECK_FALSE(got.error.empty());
    CHECK(got.error == env.tokens->advice());
    CHECK(order_detail_calls(*env.shop) == 0);
}

TEST_CASE("fetch refreshes a token TikTok says has expired and asks again once", "[order_source]") {
    runtime_env env;
    env.authorize();
    order_source orders(*env.api, *env.tokens);
    const std::string id = env.create_order();
    REQUIRE(env.shop->expire_access_tokens() > 0);

    auto got = fetch(env, orders, id);

    REQUIRE(got.order.has_value());
    CHECK(got.order->id == id);
    CHECK(order_detail_calls(*env.shop) == 2);
    CHECK(env.tokens->state() == "authorized");
}

TEST_CASE("Orders prefetched together are then fetched without calling TikTok", "[order_source]") {
    runtime_env env;
    env.authorize();
    order_source orders(*env.api, *env.tokens);
    const std::vector<std::string> ids{env.create_order("佐藤 花子"), env.create_order("鈴木 一郎"), env.create_order("田中 次郎")};

    prefetch(env, orders, ids);
    REQUIRE(order_detail_calls(*env.shop) == 1);   // one call for the page
    for (const auto& id : ids) {
        auto got = fetch(env, orders, id);
        REQUIRE(got.order.has_value());
        CHECK(got.order->id == id);
    }

    CHECK(order_detail_calls(*env.shop) == 1);
}

TEST_CASE("A prefetched order is taken out so the next fetch of it asks TikTok afresh", "[order_source]") {
    runtime_env env;
    env.authorize();
    order_source orders(*env.api, *env.tokens);
    const std::string a = env.create_order(), b = env.create_order();
    prefetch(env, orders, {a, b});
    REQUIRE(order_detail_calls(*env.shop) == 1);

    CHECK(fetch(env, orders, a).order.has_value());
    CHECK(order_detail_calls(*env.shop) == 1);
    // The order moved on since the prefetch: the second fetch sees it.
    env.make_ready_to_ship(a);
    auto again = fetch(env, orders, a);

    CHECK(order_detail_calls(*env.shop) == 2);
    REQUIRE(again.order.has_value());
    CHECK(again.order->status == "AWAITING_SHIPMENT");
}

TEST_CASE("Forgotten prefetched orders and a prefetch of one id leave fetch to ask TikTok", "[order_source]") {
    runtime_env env;
    env.authorize();
    order_source orders(*env.api, *env.tokens);
    const std::string a = env.create_order(), b = env.create_order();
    const bool forget = GENERATE(true, false);
    if (forget) {
        prefetch(env, orders, {a, b});
        orders.forget_prefetched();
    } else {
        prefetch(env, orders, {a});   // nothing to gain from one id
    }
    const auto before = order_detail_calls(*env.shop);

    CHECK(fetch(env, orders, a).order.has_value());
    CHECK(order_detail_calls(*env.shop) == before + 1);
}

}  // namespace ORDERFLOW_TEST_FILE
