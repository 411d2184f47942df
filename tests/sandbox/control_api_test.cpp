// Tests of the /control/ API (tikapi/sandbox/control_api.cpp): input
// validation, buyer messages, webhook target and redelivery.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

TEST_CASE("Creating an order checks its input", "[control][orders]") {
    fixture f;
    json good_item = {{"seller_sku", "ENG-RING-01"}, {"product_name", "刻印リング"}, {"sale_price", "4980"}};
    auto [name, body] = GENERATE_COPY(table<std::string, json>({
        {"no buyer_name", json{{"line_items", json::array({good_item})}}},
        {"no line items", json{{"buyer_name", "a"}, {"line_items", json::array()}}},
        {"price not a string amount", json{{"buyer_name", "a"}, {"line_items", json::array({{{"seller_sku", "X"}, {"product_name", "p"}, {"sale_price", 4980}}})}}},
        {"negative price", json{{"buyer_name", "a"}, {"line_items", json::array({{{"seller_sku", "X"}, {"product_name", "p"}, {"sale_price", "-1"}}})}}},
        {"unknown status", json{{"buyer_name", "a"}, {"status", "SHIPPED"}, {"line_items", json::array({good_item})}}},
    }));
    CAPTURE(name);
    auto response = f.control("POST", "/control/orders", body);
    CHECK(response.status == 400);
    CHECK(body_of(response)["error"].is_string());
    CHECK(f.shop.orders().empty());
    CHECK(f.shop.deliveries().empty());
}

TEST_CASE("A body that is not JSON gets a 400, an unknown control path a 404", "[control]") {
    fixture f;
    CHECK(f.shop.handle(plain("POST", "/control/orders", "{not json")).status == 400);
    CHECK(f.control("GET", "/control/nothing").status == 404);
    CHECK(f.control("POST", "/control/orders/123/status", {{"status", "CANCELLED"}}).status == 404);
}

TEST_CASE("A quantity becomes that many line items, as TikTok has no quantity field", "[control][orders]") {
    fixture f;
    json order = body_of(f.control(
        "POST", "/control/orders",
        {{"buyer_name", "山田 花子"},
         {"status", "AWAITING_SHIPMENT"},
         {"line_items", json::array({{{"seller_sku", "TSHIRT-RED-L"}, {"product_name", "Tシャツ"}, {"sale_price", "1980"}, {"quantity", 2}},
                                     {{"seller_sku", "ENG-RING-01"}, {"product_name", "刻印リング"}, {"sale_price", "4980"}}})}}));
    REQUIRE(order["line_items"].size() == 3);
    CHECK(order["line_items"][0]["sku_id"] == order["line_items"][1]["sku_id"]);
    CHECK(order["line_items"][0]["id"] != order["line_items"][1]["id"]);
    CHECK(order["line_items"][0]["sku_id"] != order["line_items"][2]["sku_id"]);
    CHECK(order["payment"]["total_amount"] == "8940");
}

TEST_CASE("Buyer messages are listed with sender and text, filtered by sender and buyer", "[control][messages]") {
    fixture f;
    f.authorize();
    json a = f.create_order("AWAITING_SHIPMENT", "7000000000000000001");
    json b = f.create_order("AWAITING_SHIPMENT", "7000000000000000002");
    f.control("POST", "/control/messages", {{"order_id", a["id"]}, {"text", "from a"}});
    f.clock += 5;
    f.control("POST", "/control/messages", {{"user_id", "7000000000000000002"}, {"text", "from b"}});
    json conv = f.call("POST", "/customer_service/202309/conversations", {}, json{{"buyer_user_id", a["user_id"]}}.dump());
    f.call("POST", "/customer_service/202309/conversations/" + conv["data"]["conversation_id"].get<std::string>() + "/messages",
           {}, json{{"type", "TEXT"}, {"content", json{{"content", "reply to a"}}.dump()}}.dump());

    json all = body_of(f.control("GET", "/control/messages"))["messages"];
    REQUIRE(all.size() == 3);
    CHECK(all[0]["text"] == "from a");
    CHECK(all[1]["text"] == "from b");
    CHECK(all[1]["create_time"] == f.clock);
    CHECK(all[2]["text"] == "reply to a");
    json shop_only = body_of(f.control("GET", "/control/messages?sender=SHOP"))["messages"];
    REQUIRE(shop_only.size() == 1);
    CHECK(shop_only[0]["user_id"] == "7000000000000000001");
    json for_a = body_of(f.control("GET", "/control/messages?user_id=7000000000000000001"))["messages"];
    CHECK(for_a.size() == 2);

    SECTION("a message needs text and a buyer") {
        CHECK(f.control("POST", "/control/messages", {{"order_id", a["id"]}}).status == 400);
        CHECK(f.control("POST", "/control/messages", {{"text", "x"}}).status == 400);
        CHECK(f.control("POST", "/control/messages", {{"order_id", "1"}, {"text", "x"}}).status == 404);
    }
}

TEST_CASE("The webhook target must be on this machine", "[control][webhooks]") {
    fixture f;
    auto [url, accepted] = GENERATE(table<std::string, bool>({
        {"http://127.0.0.1:8080/webhooks/tiktok", true},
        {"http://localhost:1/x", true},
        {"http://[::1]:8080/x", true},
        {"https://open-api.tiktokglobalshop.com/hook", false},
        {"http://10.0.0.1:8080/hook", false},
        {"http://127.0.0.1.example.com/hook", false},
        {"ftp://127.0.0.1/x", false},
        {"not a url", false},
    }));
    CAPTURE(url);
    auto response = f.control("POST", "/control/webhook", {{"url", url}});
    CHECK((response.status == 200) == accepted);
    CHECK(f.shop.webhook_target().has_value() == accepted);
}

TEST_CASE("Redelivery queues the same payload with the same notification id", "[control][webhooks]") {
    fixture f;
    json first = f.create_order();
    json second = f.create_order();
    SECTION("by default the latest") {
        json again = body_of(f.control("POST", "/control/webhooks/redeliver", json::object()));
        CHECK(again["redelivery"] == true);
        CHECK(again["order_id"] == second["id"]);
        const auto& all = f.shop.deliveries();
        REQUIRE(all.size() == 3);
        CHECK(all[2].notification_id == all[1].notification_id);
        CHECK(all[2].body == all[1].body);
        CHECK(all[2].signature == all[1].signature);
    }
    SECTION("a chosen notification") {
        const std::string id = f.shop.deliveries()[0].notification_id;
        json again = body_of(f.control("POST", "/control/webhooks/redeliver", {{"notification_id", id}}));
        CHECK(again["notification_id"] == id);
        CHECK(again["payload"]["data"]["order_id"] == first["id"]);
    }
    SECTION("an unknown one is a 404") {
        CHECK(f.control("POST", "/control/webhooks/redeliver", {{"notification_id", "1"}}).status == 404);
    }
}

}  // namespace ORDERFLOW_TEST_FILE
