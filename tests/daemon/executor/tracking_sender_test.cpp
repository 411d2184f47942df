// Tests for daemon/executor/tracking_sender.hpp: update_tracking against the
// sandbox shop, checked by what the shop recorded (the package's tracking
// number, the calls it received) and by the row's state and review items.
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
constexpr const char* update_api = "POST /fulfillment/202309/packages/{id}/shipping_info/update";

void send(runtime_env& env, tracking_sender& sender, const storage::action_row& a) {
    env.drive([&]() -> asio::awaitable<void> { co_await sender.send(a); });
}

storage::action_row plan_tracking(runtime_env& env, const std::string& order_id, const std::string& carrier,
                                  const std::string& number = "4711-0815-2024") {
    return plant_action(env, "update_tracking", order_id, {{"order_id", order_id}, {"tracking_number", number}, {"carrier", carrier}},
                        "ship_from_feed");
}

int calls_to(runtime_env& env, const std::string& api) {
    int n = 0;
    for (const auto& c : env.shop->calls()) n += c.api == api;
    return n;
}

void with_yamato_alias(config& c) { c.tracking.carriers = {{"ヤマト", "Yamato Transport"}}; }

}  // namespace

TEST_CASE("update_tracking ships the package of an order awaiting shipment with the carrier's provider", "[tracking_sender]") {
    runtime_env env(thanks_rules, with_yamato_alias);
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    // By the provider's own name, or by the warehouse's name mapped in tracking.carriers.
    const std::string carrier = GENERATE("Yamato Transport", "ヤマト");
    const auto a = plan_tracking(env, id, carrier);
    send(env, parts.tracking, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "done");
    const json result = json::parse(row.result);
    CHECK(result["tracking_number"] == "4711-0815-2024");
    CHECK(result["shipping_provider_id"] == "7129736402373338881");
    const json order = env.control("GET", "/control/orders/" + id);
    CHECK(order["status"] == "AWAITING_COLLECTION");
    CHECK(order["tracking_number"] == "4711-0815-2024");
    CHECK(order["shipping_provider_id"] == "7129736402373338881");
    CHECK(calls_to(env, ship_api) == 1);
    CHECK(audit_of(env, "ship_package").size() == 1);
}

TEST_CASE("update_tracking ships an order TikTok names no package for by its id (Mark Package As Shipped)", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    // A local seller in the US or UK: no package id until the order shipped.
    env.control("POST", "/control/settings", {{"packages_before_shipping", false}});
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plan_tracking(env, id, "Yamato Transport");
    send(env, parts.tracking, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "done");
    const json result = json::parse(row.result);
    const std::string package_id = result.value("package_id", "");
    CHECK_FALSE(package_id.empty());
    CHECK(calls_to(env, "POST /fulfillment/202309/orders/{id}/packages") == 1);
    CHECK(calls_to(env, ship_api) == 0);
    const json order = env.control("GET", "/control/orders/" + id);
    CHECK(order["status"] == "AWAITING_COLLECTION");
    CHECK(order["tracking_number"] == "4711-0815-2024");
    CHECK(audit_of(env, "mark_package_shipped").size() == 1);

    // Shipped, the order names its package: the same line again is current.
    const auto again = plan_tracking(env, id, "Yamato Transport");
    send(env, parts.tracking, again);
    CHECK(action_now(env, again.id).state == "done");
    CHECK(json::parse(action_now(env, again.id).result)["package_id"] == package_id);
    CHECK(calls_to(env, "POST /fulfillment/202309/orders/{id}/packages") == 1);
    CHECK(calls_to(env, update_api) == 0);
}

TEST_CASE("update_tracking of an order on hold is deferred without a fulfilment call", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.control("POST", "/control/orders/" + id + "/status", {{"status", "ON_HOLD"}});
    const auto a = plan_tracking(env, id, "Yamato Transport");
    send(env, parts.tracking, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK_THAT(row.reason, Catch::Contains("ON_HOLD"));
    CHECK(row.not_before > env.now);
    CHECK(calls_to(env, ship_api) == 0);
    CHECK(env.store.reviews(false, 10).empty());
}

TEST_CASE("update_tracking of a cancelled order is skipped with a review item", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.control("POST", "/control/orders/" + id + "/status", {{"status", "CANCELLED"}});
    const auto a = plan_tracking(env, id, "Yamato Transport");
    send(env, parts.tracking, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "skipped");
    CHECK_THAT(row.reason, Catch::Contains("cancelled"));
    CHECK(calls_to(env, ship_api) == 0);
    const auto items = reviews_for(env, "tracking_for_cancelled_order");
    REQUIRE(items.size() == 1);
    CHECK(items[0].order_id == id);
}

TEST_CASE("update_tracking of an order TikTok ships itself is skipped with a review item, not retried", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto providers_api = "GET /logistics/202309/delivery_options/{id}/shipping_providers";

    SECTION("the order says shipping_type TIKTOK") {
        const auto o = env.control("POST", "/control/orders",
                                   {{"buyer_name", "山田 太郎"},
                                    {"delivery_option_id", "7208502187360519984"},
                                    {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
        const std::string id = o.at("id").get<std::string>();
        env.make_ready_to_ship(id);
        const auto a = plan_tracking(env, id, "Yamato Transport");
        send(env, parts.tracking, a);

        const auto row = action_now(env, a.id);
        CHECK(row.state == "skipped");
        CHECK_THAT(row.reason, Catch::Contains("TikTok ships this order itself"));
        CHECK(calls_to(env, providers_api) == 0);
        CHECK(calls_to(env, ship_api) == 0);
        CHECK(reviews_for(env, "tracking_for_tiktok_shipped_order").size() == 1);
    }
    SECTION("Get Shipping Providers answers 21008117") {
        const std::string id = env.create_order();
        env.make_ready_to_ship(id);
        env.control("POST", "/control/faults", {{"path", "/logistics/202309/delivery_options/"}, {"code", 21008117}, {"http_status", 200},
                                                {"message", "The delivery option is fulfilled by TikTok"}, {"count", 1}});
        const auto a = plan_tracking(env, id, "Yamato Transport");
        send(env, parts.tracking, a);

        const auto row = action_now(env, a.id);
        CHECK(row.state == "skipped");
        CHECK_THAT(row.reason, Catch::Contains("21008117"));
        CHECK(calls_to(env, ship_api) == 0);
        CHECK(reviews_for(env, "tracking_for_tiktok_shipped_order").size() == 1);
        CHECK(env.store.due_actions(env.now + 86400, 10).empty());
    }
    SECTION("a refusal of Get Shipping Providers that will not change fails for staff at once") {
        const std::string id = env.create_order();
        env.make_ready_to_ship(id);
        env.control("POST", "/control/faults", {{"path", "/logistics/202309/delivery_options/"}, {"code", 36009004}, {"http_status", 200},
                                                {"message", "Invalid delivery option"}, {"count", 1}});
        const auto a = plan_tracking(env, id, "Yamato Transport");
        send(env, parts.tracking, a);

        const auto row = action_now(env, a.id);
        CHECK(row.state == "failed");
        CHECK_THAT(row.reason, Catch::Contains("shipping providers") && Catch::Contains("36009004"));
        CHECK(calls_to(env, ship_api) == 0);
    }
    SECTION("a retryable one waits and is tried again") {
        const std::string id = env.create_order();
        env.make_ready_to_ship(id);
        env.control("POST", "/control/faults", {{"path", "/logistics/202309/delivery_options/"}, {"code", 36009003}, {"http_status", 500}, {"count", 1}});
        const auto a = plan_tracking(env, id, "Yamato Transport");
        send(env, parts.tracking, a);
        CHECK(action_now(env, a.id).state == "deferred");
    }
}

TEST_CASE("update_tracking with a carrier the delivery option does not offer fails naming the providers", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plan_tracking(env, id, "Kangaroo Express");
    send(env, parts.tracking, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK_THAT(row.reason, Catch::Contains("\"Kangaroo Express\"") && Catch::Contains("Yamato Transport") &&
                               Catch::Contains("Japan Post") && Catch::Contains("tracking.carriers"));
    CHECK(calls_to(env, ship_api) == 0);
    CHECK(reviews_for(env, "send_failed").size() == 1);
}

TEST_CASE("update_tracking that TikTok already has is done without a call", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    send(env, parts.tracking, plan_tracking(env, id, "Yamato Transport"));
    REQUIRE(calls_to(env, ship_api) == 1);

    const auto again = plan_tracking(env, id, "Yamato Transport");
    send(env, parts.tracking, again);
    const auto row = action_now(env, again.id);
    CHECK(row.state == "done");
    CHECK(json::parse(row.result)["note"] == "TikTok already has this tracking number");
    CHECK(calls_to(env, ship_api) == 1);
    CHECK(calls_to(env, update_api) == 0);
    CHECK(audit_of(env, "tracking.already_current").size() == 1);

    // A different number for the shipped package corrects its shipping info.
    const auto corrected = plan_tracking(env, id, "Yamato Transport", "4711-0815-9999");
    send(env, parts.tracking, corrected);
    CHECK(action_now(env, corrected.id).state == "done");
    CHECK(calls_to(env, update_api) == 1);
    CHECK(env.control("GET", "/control/orders/" + id)["tracking_number"] == "4711-0815-9999");
}

TEST_CASE("A shipment whose intent cannot be synced to disk is not sent to TikTok", "[tracking_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    const auto a = plan_tracking(env, id, "Yamato Transport");
    env.wal_sync_error = EIO;
    CHECK_THROWS_AS(send(env, parts.tracking, a), storage::storage_error);
    CHECK(calls_to(env, ship_api) == 0);
    CHECK(env.control("GET", "/control/orders/" + id)["status"] == "AWAITING_SHIPMENT");
    CHECK(action_now(env, a.id).state == "sending");
}

}  // namespace ORDERFLOW_TEST_FILE
