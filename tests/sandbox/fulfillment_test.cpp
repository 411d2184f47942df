// Tests of the fulfillment and logistics paths (tikapi/sandbox/fulfillment.cpp)
// and the time-driven order moves (shop::advance): shipping providers, Ship
// Package and its error codes, Update Shipping Info with the 72-hour window on
// the injected clock, package detail and search, tracking, the ON_HOLD window
// and auto_advance.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

namespace {

std::string package_of(const json& order) { return order["packages"][0]["id"].get<std::string>(); }

std::vector<int> webhook_types_since(const orderflow::sandbox::shop& shop, std::size_t from) {
    std::vector<int> types;
    for (std::size_t i = from; i < shop.deliveries().size(); ++i) types.push_back(shop.deliveries()[i].type);
    return types;
}

}  // namespace

TEST_CASE("A paid order has one package, PROCESSING, in packages[] and on every line item", "[fulfillment]") {
    fixture f;
    f.authorize();
    json paid = f.create_order("AWAITING_SHIPMENT");
    json o = f.order_detail(paid["id"]);
    REQUIRE(o["packages"].size() == 1);
    const std::string package = package_of(o);
    CHECK(o["shipping_type"] == "SELLER");
    CHECK(o["fulfillment_type"] == "FULFILLMENT_BY_SELLER");
    CHECK(o["delivery_option_id"] == standard_option);
    CHECK(o["line_items"][0]["package_id"] == package);
    CHECK(o["line_items"][0]["package_status"] == "PROCESSING");
    CHECK_FALSE(o.contains("tracking_number"));

    SECTION("an unpaid order has no package until it is paid") {
        json unpaid = f.create_order("UNPAID");
        CHECK(unpaid["packages"].empty());
        CHECK_FALSE(unpaid["line_items"][0].contains("package_id"));
        CHECK(unpaid["line_items"][0]["package_status"] == "TO_FULFILL");
        f.control("POST", "/control/orders/" + unpaid["id"].get<std::string>() + "/status", {{"status", "ON_HOLD"}});
        json now_paid = f.order_detail(unpaid["id"]);
        CHECK(now_paid["packages"].size() == 1);
        CHECK(now_paid["line_items"][0]["package_status"] == "PROCESSING");
    }
}

TEST_CASE("Shipping providers are listed per delivery option", "[fulfillment][logistics]") {
    fixture f;
    f.authorize();
    json env = f.call("GET", std::string("/logistics/202309/delivery_options/") + standard_option + "/shipping_providers");
    REQUIRE(env["code"] == 0);
    const json& list = env["data"]["shipping_providers"];
    REQUIRE(list.size() == 4);
    std::vector<std::string> names;
    for (const auto& p : list) {
        CHECK(p["id"].is_string());
        names.push_back(p["name"]);
    }
    CHECK(names == std::vector<std::string>{"Yamato Transport", "Sagawa Express", "Japan Post", "Seino Transportation"});
    CHECK(list[0]["id"] == yamato);

    SECTION("a TikTok-fulfilled option has none: 21008117") {
        CHECK(f.call("GET", std::string("/logistics/202309/delivery_options/") + tiktok_option + "/shipping_providers")["code"] ==
              21008117);
    }
    SECTION("an unknown option is refused") {
        json bad = f.call("GET", "/logistics/202309/delivery_options/123/shipping_providers");
        CHECK(bad["code"] == 36009004);
        CHECK(bad["data"].is_null());
    }
}

TEST_CASE("Shipping a package moves the order to AWAITING_COLLECTION and records the tracking", "[fulfillment]") {
    fixture f;
    f.authorize();
    json created = f.create_order("AWAITING_SHIPMENT");
    const std::string id = created["id"], package = package_of(created);
    const auto before = f.shop.deliveries().size();
    f.clock += 30;
    json env = f.ship(package, "YMT-123456789012", yamato);
    REQUIRE(env["code"] == 0);
    CHECK(env["data"] == json::object());

    json o = f.order_detail(id);
    CHECK(o["status"] == "AWAITING_COLLECTION");
    CHECK(o["rts_time"] == f.clock);
    CHECK(o["tracking_number"] == "YMT-123456789012");
    CHECK(o["shipping_provider_id"] == yamato);
    CHECK(o["shipping_provider"] == "Yamato Transport");
    CHECK(o["line_items"][0]["package_status"] == "FULFILLING");
    CHECK(o["line_items"][0]["tracking_number"] == "YMT-123456789012");
    CHECK(o["line_items"][0]["shipping_provider_name"] == "Yamato Transport");

    // Type 1 (AWAITING_COLLECTION) and type 4 (the package).
    CHECK(webhook_types_since(f.shop, before) == std::vector<int>{1, 4});
    json status = json::parse(f.shop.deliveries()[before].body);
    CHECK(status["data"]["order_status"] == "AWAITING_COLLECTION");
    json package_update = json::parse(f.shop.deliveries()[before + 1].body);
    CHECK(package_update["data"]["package_list"][0]["package_id"] == package);
    CHECK(package_update["data"]["package_list"][0]["order_id_list"][0] == id);

    SECTION("shipping again -> 11006021") { CHECK(f.ship(package)["code"] == 11006021); }
    SECTION("order search shows the shipped order too") {
        json found = f.call("POST", "/order/202309/orders/search", {{"page_size", "10"}},
                            json{{"order_status", "AWAITING_COLLECTION"}}.dump());
        REQUIRE(found["data"]["orders"].size() == 1);
        CHECK(found["data"]["orders"][0]["tracking_number"] == "YMT-123456789012");
    }
}

TEST_CASE("Ship Package refuses what TikTok refuses, with its codes", "[fulfillment]") {
    fixture f;
    f.authorize();
    auto [name, status, tracking, provider, code] = GENERATE(table<std::string, std::string, std::string, std::string, std::int64_t>({
        {"on hold", "ON_HOLD", "YMT-123456789012", yamato, 21011044},
        {"unpaid has no package yet", "UNPAID", "YMT-123456789012", yamato, 21008111},
        {"cancelled", "CANCELLED", "YMT-123456789012", yamato, 21011041},
        {"in transit already", "IN_TRANSIT", "YMT-123456789012", yamato, 11006021},
        {"empty tracking number", "AWAITING_SHIPMENT", "", yamato, 21011022},
        {"unknown provider", "AWAITING_SHIPMENT", "YMT-123456789012", "123", 21011022},
        {"tracking no carrier could issue", "AWAITING_SHIPMENT", "追跡番号", yamato, 11028006},
        {"tracking too long", "AWAITING_SHIPMENT", std::string(41, '1'), yamato, 11028006},
    }));
    CAPTURE(name);
    json created = f.create_order(status);
    // An unpaid order's package id is not public; use the stored one.
    const std::string package = f.shop.find_order(created["id"].get<std::string>())->package_ids.front();
    json env = f.ship(package, tracking, provider);
    CHECK(env["code"] == code);
    CHECK(env["data"].is_null());
    CHECK(f.shop.find_order(created["id"].get<std::string>())->status == status);
    if (code == 21011044) CHECK_THAT(env["message"].get<std::string>(), Catch::Contains("on hold"));
}

TEST_CASE("Ship Package: unknown package 21008111, platform-fulfilled 21008025", "[fulfillment]") {
    fixture f;
    f.authorize();
    CHECK(f.ship("1100000000000000000")["code"] == 21008111);
    json tiktok = body_of(f.control("POST", "/control/orders",
                                    {{"buyer_name", "a"},
                                     {"status", "AWAITING_SHIPMENT"},
                                     {"delivery_option_id", tiktok_option},
                                     {"line_items", json::array({{{"seller_sku", "S"}, {"product_name", "p"}, {"sale_price", "1"}}})}}));
    CHECK(tiktok["shipping_type"] == "TIKTOK");
    CHECK(f.ship(package_of(tiktok))["code"] == 21008025);
}

TEST_CASE("Mark Package As Shipped ships a whole order and answers with its package", "[fulfillment]") {
    fixture f;
    f.authorize();
    json created = f.create_order("AWAITING_SHIPMENT");
    const std::string id = created["id"];
    const std::string path = "/fulfillment/202309/orders/" + id + "/packages";
    const std::string body = json{{"tracking_number", "JP1234567890"}, {"shipping_provider_id", japan_post}}.dump();
    json env = f.call("POST", path, {}, body);
    REQUIRE(env["code"] == 0);
    CHECK(env["data"]["order_id"] == id);
    CHECK(env["data"]["package_id"] == package_of(created));
    CHECK(env["data"]["order_line_item_ids"][0] == created["line_items"][0]["id"]);
    CHECK(f.order_detail(id)["shipping_provider"] == "Japan Post");
    CHECK(f.call("POST", path, {}, body)["code"] == 21008099);
}

TEST_CASE("Shipping info can be updated within 72 hours of shipping, a limited number of times", "[fulfillment]") {
    fixture f;
    f.authorize();
    json created = f.create_order("AWAITING_SHIPMENT");
    const std::string id = created["id"], package = package_of(created);
    auto update = [&](bool by_package, const std::string& tracking = "JP9999999999", const std::string& provider = japan_post) {
        const std::string path = by_package ? "/fulfillment/202309/packages/" + package + "/shipping_info/update"
                                            : "/fulfillment/202309/orders/" + id + "/shipping_info/update";
        return f.call("POST", path, {}, json{{"tracking_number", tracking}, {"shipping_provider_id", provider}}.dump());
    };
    const bool by_package = GENERATE(false, true);
    CAPTURE(by_package);

    CHECK(update(by_package)["code"] == 21011043);   // not shipped yet
    REQUIRE(f.ship(package)["code"] == 0);
    const std::int64_t shipped_at = f.clock;

    SECTION("a good update changes the tracking, the order and the package") {
        REQUIRE(update(by_package)["code"] == 0);
        json o = f.order_detail(id);
        CHECK(o["tracking_number"] == "JP9999999999");
        CHECK(o["shipping_provider"] == "Japan Post");
        json p = f.call("GET", "/fulfillment/202309/packages/" + package)["data"];
        CHECK(p["tracking_number"] == "JP9999999999");
        CHECK(p["shipping_provider_id"] == japan_post);
    }
    SECTION("an invalid tracking number or provider -> 21011022") {
        CHECK(update(by_package, "", japan_post)["code"] == 21011022);
        CHECK(update(by_package, "JP9999999999", "42")["code"] == 21011022);
    }
    SECTION("at exactly 72 hours it works, one second later 21011049") {
        f.clock = shipped_at + 72 * 3600;
        CHECK(update(by_package)["code"] == 0);
        f.clock += 1;
        json late = update(by_package, "JP8888888888");
        CHECK(late["code"] == 21011049);
        CHECK(f.order_detail(id)["tracking_number"] == "JP9999999999");
    }
    SECTION("five updates, then 21011050") {
        for (int i = 0; i < 5; ++i) REQUIRE(update(by_package, "JP100000000" + std::to_string(i))["code"] == 0);
        CHECK(update(by_package)["code"] == 21011050);
    }
    SECTION("after delivery -> 21011030") {
        f.control("POST", "/control/orders/" + id + "/collect");
        f.control("POST", "/control/orders/" + id + "/deliver");
        CHECK(update(by_package)["code"] == 21011030);
    }
    SECTION("cancelled -> 21011041 (order) / 21011042 (package)") {
        REQUIRE(f.control("POST", "/control/orders/" + id + "/status", {{"status", "CANCELLED"}}).status == 200);
        CHECK(update(by_package)["code"] == (by_package ? 21011042 : 21011041));
    }
}

TEST_CASE("Package detail has the fields of the reference page", "[fulfillment]") {
    fixture f;
    f.authorize();
    json created = body_of(f.control(
        "POST", "/control/orders",
        {{"buyer_name", "佐藤 花子"},
         {"status", "AWAITING_SHIPMENT"},
         {"buyer_message", "刻印は「HANAKO」で"},
         {"address", {{"prefecture", "大阪府"}, {"city", "大阪市北区"}, {"address_line1", "梅田3-1-1"}, {"postal_code", "530-0001"}}},
         {"line_items", json::array({{{"seller_sku", "ENG-RING-01"}, {"product_name", "刻印リング"}, {"sale_price", "4980"}, {"quantity", 2}},
                                     {{"seller_sku", "MUG-1"}, {"product_name", "マグ"}, {"sale_price", "1480"}}})}}));
    const std::string package = package_of(created);
    REQUIRE(f.ship(package)["code"] == 0);
    json env = f.call("GET", "/fulfillment/202309/packages/" + package);
    REQUIRE(env["code"] == 0);
    const json& p = env["data"];
    CHECK(p["package_id"] == package);
    CHECK(p["orders"][0]["id"] == created["id"]);
    CHECK(p["orders"][0]["skus"].size() == 2);
    CHECK(p["package_status"] == "FULFILLING");
    CHECK(p["split_and_combine_tag"] == "DEFAULT");
    CHECK(p["has_multi_skus"] == true);
    CHECK(p["note_tag"] == "BUYER_NOTED");
    CHECK(p["shipping_provider_name"] == "Yamato Transport");
    CHECK(p["shipping_type"] == "SELLER");
    CHECK(p["delivery_option_id"] == standard_option);
    CHECK(p["tracking_number"] == "YMT-123456789012");
    CHECK(p["handover_method"] == "DROP_OFF");
    CHECK(p["order_line_item_ids"].size() == 3);
    CHECK(p["recipient_address"]["postal_code"] == "530-0001");
    CHECK_THAT(p["recipient_address"]["full_address"].get<std::string>(), Catch::StartsWith("大阪府大阪市北区梅田3-1-1"));
    CHECK(p["sender_address"]["region_code"] == "JP");
    CHECK(p["weight"]["unit"] == "GRAM");
    CHECK(p["dimension"]["unit"] == "CM");
    CHECK(p["create_time"].is_number_integer());
    CHECK(f.call("GET", "/fulfillment/202309/packages/1")["code"] == 21008111);
}

TEST_CASE("Package search filters by status and time and pages up to 50", "[fulfillment]") {
    fixture f;
    f.authorize();
    std::vector<std::string> packages;
    for (int i = 0; i < 4; ++i) {
        packages.push_back(package_of(f.create_order("AWAITING_SHIPMENT")));
        f.clock += 10;
    }
    f.create_order("UNPAID");   // no package
    REQUIRE(f.ship(packages[0])["code"] == 0);

    json all = f.call("POST", "/fulfillment/202309/packages/search", {{"page_size", "2"}, {"sort_order", "ASC"}}, "{}");
    REQUIRE(all["code"] == 0);
    CHECK(all["data"]["total_count"] == 4);
    REQUIRE(all["data"]["packages"].size() == 2);
    CHECK(all["data"]["packages"][0]["id"] == packages[0]);
    CHECK(all["data"]["packages"][0]["status"] == "FULFILLING");
    CHECK(all["data"]["packages"][0]["orders"][0]["id"].is_string());
    CHECK(all["data"]["packages"][0]["order_line_item_ids"].size() == 1);
    std::string token = all["data"]["next_page_token"];
    json rest = f.call("POST", "/fulfillment/202309/packages/search", {{"page_size", "2"}, {"sort_order", "ASC"}, {"page_token", token}}, "{}");
    CHECK(rest["data"]["packages"][1]["id"] == packages[3]);
    CHECK(rest["data"]["next_page_token"] == "");

    json processing = f.call("POST", "/fulfillment/202309/packages/search", {{"page_size", "50"}},
                             json{{"package_status", "PROCESSING"}, {"create_time_ge", 1'700'000'010}}.dump());
    CHECK(processing["data"]["total_count"] == 3);
    CHECK(f.call("POST", "/fulfillment/202309/packages/search", {{"page_size", "51"}}, "{}")["code"] == 36009004);
    CHECK(f.call("POST", "/fulfillment/202309/packages/search", {}, "{}")["code"] == 36009004);
}

TEST_CASE("Tracking lists the carrier events newest first, in milliseconds", "[fulfillment]") {
    fixture f;
    f.authorize();
    json created = f.create_order("AWAITING_SHIPMENT");
    const std::string id = created["id"];
    const std::string path = "/fulfillment/202309/orders/" + id + "/tracking";
    CHECK(f.call("GET", path)["data"]["tracking"].empty());
    REQUIRE(f.ship(package_of(created))["code"] == 0);
    f.clock += 3600;
    REQUIRE(f.control("POST", "/control/orders/" + id + "/collect").status == 200);
    f.clock += 86400;
    REQUIRE(f.control("POST", "/control/orders/" + id + "/deliver").status == 200);
    json tracking = f.call("GET", path)["data"]["tracking"];
    REQUIRE(tracking.size() == 3);
    CHECK(tracking[0]["update_time_millis"] == f.clock * 1000);
    CHECK_THAT(tracking[0]["description"].get<std::string>(), Catch::Contains("delivered"));
    CHECK_THAT(tracking[2]["description"].get<std::string>(), Catch::Contains("Yamato Transport"));
    CHECK(f.call("GET", "/fulfillment/202309/orders/1/tracking")["code"] == 21008111);
    json o = f.order_detail(id);
    CHECK(o["status"] == "DELIVERED");
    CHECK(o["line_items"][0]["package_status"] == "COMPLETED");
    REQUIRE(f.control("POST", "/control/orders/" + id + "/complete").status == 200);
    CHECK(f.order_detail(id)["status"] == "COMPLETED");
    CHECK(f.control("POST", "/control/orders/" + id + "/collect").status == 409);
}

TEST_CASE("A paid order leaves ON_HOLD by itself once the remorse window has passed", "[fulfillment][time]") {
    fixture f([](auto& o) { o.hold_seconds = 600; });
    f.authorize();
    json created = f.create_order("UNPAID");
    const std::string id = created["id"];
    f.clock += 5;
    REQUIRE(f.control("POST", "/control/orders/" + id + "/status", {{"status", "ON_HOLD"}}).status == 200);
    CHECK(f.shop.next_timer_ms() == (f.clock + 600) * 1000);
    f.clock += 599;
    CHECK(f.order_detail(id)["status"] == "ON_HOLD");
    const auto before = f.shop.deliveries().size();
    f.clock += 1;
    json o = f.order_detail(id);   // any request runs what is due
    CHECK(o["status"] == "AWAITING_SHIPMENT");
    CHECK(o["is_on_hold_order"] == false);
    REQUIRE(f.shop.deliveries().size() == before + 1);
    json hook = json::parse(f.shop.deliveries().back().body);
    CHECK(hook["type"] == 1);
    CHECK(hook["data"]["order_status"] == "AWAITING_SHIPMENT");
    CHECK(hook["data"]["is_on_hold_order"] == false);
    CHECK_FALSE(f.shop.next_timer_ms().has_value());

    SECTION("advance() alone does it too (the server's timer)") {
        json other = f.create_order("ON_HOLD");
        f.clock += 600;
        f.shop.advance();
        CHECK(f.shop.find_order(other["id"].get<std::string>())->status == "AWAITING_SHIPMENT");
    }
}

TEST_CASE("With hold_seconds 0 an order created ON_HOLD is AWAITING_SHIPMENT right after", "[fulfillment][time]") {
    fixture f([](auto& o) { o.hold_seconds = 0; });
    json created = f.create_order("ON_HOLD");
    CHECK(created["status"] == "ON_HOLD");
    CHECK(f.shop.find_order(created["id"].get<std::string>())->status == "AWAITING_SHIPMENT");
    REQUIRE(f.shop.deliveries().size() == 2);
    CHECK(json::parse(f.shop.deliveries()[0].body)["data"]["order_status"] == "ON_HOLD");
    CHECK(json::parse(f.shop.deliveries()[1].body)["data"]["order_status"] == "AWAITING_SHIPMENT");
}

TEST_CASE("auto_advance moves shipped orders to IN_TRANSIT and DELIVERED on its own", "[fulfillment][time]") {
    fixture f;
    f.authorize();
    json settings = body_of(f.control("POST", "/control/settings", {{"auto_advance", {{"in_transit_after", 60}, {"delivered_after", 300}}}}));
    CHECK(settings["auto_advance"]["in_transit_after"] == 60);
    json created = f.create_order("AWAITING_SHIPMENT");
    const std::string id = created["id"];
    REQUIRE(f.ship(package_of(created))["code"] == 0);
    f.clock += 59;
    f.shop.advance();
    CHECK(f.shop.find_order(id)->status == "AWAITING_COLLECTION");
    f.clock += 1;
    f.shop.advance();
    CHECK(f.shop.find_order(id)->status == "IN_TRANSIT");
    CHECK(f.shop.find_order(id)->collection_time == f.clock);
    f.clock += 240;
    f.shop.advance();
    CHECK(f.shop.find_order(id)->status == "DELIVERED");

    SECTION("null turns it off") {
        f.control("POST", "/control/settings", {{"auto_advance", nullptr}});
        json second = f.create_order("AWAITING_SHIPMENT");
        REQUIRE(f.ship(package_of(second), "YMT-000000000002")["code"] == 0);
        f.clock += 1000;
        f.shop.advance();
        CHECK(f.shop.find_order(second["id"].get<std::string>())->status == "AWAITING_COLLECTION");
    }
}

TEST_CASE("The cancelled status is spelled CANCEL in type 1 webhooks unless set to CANCELLED", "[fulfillment][webhooks]") {
    fixture f;
    json a = f.create_order("AWAITING_SHIPMENT");
    f.control("POST", "/control/orders/" + a["id"].get<std::string>() + "/status", {{"status", "CANCELLED"}});
    CHECK(json::parse(f.shop.deliveries().back().body)["data"]["order_status"] == "CANCEL");
    CHECK(f.shop.find_order(a["id"].get<std::string>())->status == "CANCELLED");
    REQUIRE(f.control("POST", "/control/settings", {{"webhook_cancel_status", "CANCELLED"}}).status == 200);
    json b = f.create_order("AWAITING_SHIPMENT");
    f.control("POST", "/control/orders/" + b["id"].get<std::string>() + "/status", {{"status", "CANCELLED"}});
    CHECK(json::parse(f.shop.deliveries().back().body)["data"]["order_status"] == "CANCELLED");
    CHECK(f.control("POST", "/control/settings", {{"webhook_cancel_status", "CANCELED"}}).status == 400);
}

}  // namespace ORDERFLOW_TEST_FILE
