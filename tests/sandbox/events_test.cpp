// Tests of the customer-service rules (mark read, unread_count,
// can_send_message and 45109001), the Event API (webhook subscriptions,
// require_subscription) and the notifications the control API triggers
// (types 3, 6, 7, 11, 12).
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

namespace {

json last_payload(const orderflow::sandbox::shop& shop) { return json::parse(shop.deliveries().back().body); }

std::string text_message(const std::string& text) {
    return json{{"type", "TEXT"}, {"content", json{{"content", text}}.dump()}}.dump();
}

}  // namespace

TEST_CASE("Conversations show participants, unread_count and can_send_message, mark read clears unread", "[cs]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    json posted = body_of(f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "届いていません"}}));
    f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "where is my order?"}});
    const std::string id = posted["conversation_id"];

    json list = f.call("GET", "/customer_service/202309/conversations", {{"page_size", "20"}});
    REQUIRE(list["code"] == 0);
    const json& c = list["data"]["conversations"][0];
    CHECK(c["id"] == id);
    CHECK(c["unread_count"] == 2);
    CHECK(c["can_send_message"] == true);
    CHECK(c["participants"][0]["role"] == "BUYER");
    CHECK(c["participants"][0]["user_id"] == order["user_id"]);
    CHECK(c["participants"][0]["im_user_id"].is_string());
    CHECK(c["participants"][1]["role"] == "SHOP");
    CHECK(c["latest_message"]["content"] == json{{"content", "where is my order?"}}.dump());

    json read = f.call("POST", "/customer_service/202309/conversations/" + id + "/messages/read");
    REQUIRE(read["code"] == 0);
    CHECK(read["data"] == json::object());
    CHECK(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "20"}})["data"]["conversations"][0]["unread_count"] == 0);
    f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "まだですか"}});
    CHECK(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "20"}})["data"]["conversations"][0]["unread_count"] == 1);
    CHECK(f.call("POST", "/customer_service/202309/conversations/1/messages/read")["code"] == 45101003);
}

TEST_CASE("Sending is refused with 45109001 while the conversation rules forbid it", "[cs]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    json posted = body_of(f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "hi"}}));
    const std::string id = posted["conversation_id"];
    const std::string path = "/customer_service/202309/conversations/" + id + "/messages";
    REQUIRE(f.call("POST", path, {}, text_message("こんにちは"))["code"] == 0);

    SECTION("closed by the platform") {
        json closed = body_of(f.control("POST", "/control/conversations/" + id + "/close"));
        CHECK(closed["can_send_message"] == false);
        json refused = f.call("POST", path, {}, text_message("まだ送れる？"));
        CHECK(refused["code"] == 45109001);
        CHECK(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "5"}})["data"]["conversations"][0]["can_send_message"] == false);
        // docs/tiktok-shop-api.md §6: creating the conversation again reopens it.
        json again = f.call("POST", "/customer_service/202309/conversations", {}, json{{"buyer_user_id", order["user_id"]}}.dump());
        CHECK(again["data"]["conversation_id"] == id);
        CHECK(f.call("POST", path, {}, text_message("再開しました"))["code"] == 0);
    }
    SECTION("reopened through the control API") {
        f.control("POST", "/control/conversations/" + id + "/close");
        f.control("POST", "/control/conversations/" + id + "/reopen");
        CHECK(f.call("POST", path, {}, text_message("ok"))["code"] == 0);
    }
    SECTION("no order within 60 days and no message within 30 days") {
        f.clock += 61 * 86400;
        f.authorize();   // the old token has expired meanwhile
        CHECK(f.call("POST", path, {}, text_message("お久しぶりです"))["code"] == 45109001);
        CHECK(f.call("POST", "/customer_service/202309/conversations", {}, json{{"buyer_user_id", order["user_id"]}}.dump())["code"] ==
              45109003);
    }
    SECTION("an unknown conversation in the control API is a 404") {
        CHECK(f.control("POST", "/control/conversations/1/close").status == 404);
    }
}

TEST_CASE("The Event API stores subscriptions, a loopback address becomes the delivery target", "[event][webhooks]") {
    fixture f;
    f.authorize();
    json empty = f.call("GET", "/event/202309/webhooks");
    REQUIRE(empty["code"] == 0);
    CHECK(empty["data"]["webhooks"].empty());
    CHECK(empty["data"]["total_count"] == 0);

    const std::string hook = "http://127.0.0.1:8080/webhooks/tiktok";
    json put = f.call("PUT", "/event/202309/webhooks", {}, json{{"address", hook}, {"event_type", "ORDER_STATUS_CHANGE"}}.dump());
    REQUIRE(put["code"] == 0);
    CHECK(put["data"] == json::object());
    REQUIRE(f.shop.webhook_target());
    CHECK(f.shop.webhook_target()->port == 8080);
    f.clock += 5;
    f.call("PUT", "/event/202309/webhooks", {}, json{{"address", "https://example.com/hook"}, {"event_type", "NEW_MESSAGE"}}.dump());
    CHECK(f.shop.webhook_target()->host == "127.0.0.1");   // never outside the machine

    json listed = f.call("GET", "/event/202309/webhooks")["data"];
    CHECK(listed["total_count"] == 2);
    std::map<std::string, json> by_type;
    for (const auto& w : listed["webhooks"]) by_type[w["event_type"]] = w;
    CHECK(by_type["ORDER_STATUS_CHANGE"]["address"] == hook);
    CHECK(by_type["NEW_MESSAGE"]["create_time"] == f.clock);

    CHECK(f.call("PUT", "/event/202309/webhooks", {}, json{{"address", hook}, {"event_type", "ORDER_STATUS"}}.dump())["code"] == 36009004);
    CHECK(f.call("PUT", "/event/202309/webhooks", {}, json{{"address", "not a url"}, {"event_type", "NEW_MESSAGE"}}.dump())["code"] == 36009004);

    REQUIRE(f.call("DELETE", "/event/202309/webhooks", {}, json{{"event_type", "NEW_MESSAGE"}}.dump())["code"] == 0);
    CHECK(f.call("GET", "/event/202309/webhooks")["data"]["total_count"] == 1);
    CHECK(body_of(f.control("GET", "/control/webhooks"))["subscriptions"]["ORDER_STATUS_CHANGE"] == hook);

    SECTION("with require_subscription only subscribed types are sent") {
        REQUIRE(f.control("POST", "/control/settings", {{"require_subscription", true}}).status == 200);
        json order = f.create_order();                                                        // type 1: subscribed
        f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "hi"}});  // 13, 14: not
        const auto& all = f.shop.deliveries();
        REQUIRE(all.size() == 3);
        CHECK_FALSE(all[0].unsubscribed);
        CHECK(all[1].unsubscribed);
        CHECK(all[2].unsubscribed);
        std::chrono::steady_clock::time_point next;
        CHECK(f.shop.next_delivery(std::chrono::steady_clock::now() + std::chrono::seconds(1), next) == 1u);
        f.shop.record_attempt(1, 200, "", std::chrono::steady_clock::now());
        CHECK_FALSE(f.shop.next_delivery(std::chrono::steady_clock::now() + std::chrono::seconds(1), next));
    }
}

TEST_CASE("The control API triggers the order notifications of types 3, 11 and 12", "[control][webhooks]") {
    fixture f;
    json order = f.create_order("AWAITING_SHIPMENT");
    const std::string id = order["id"];

    SECTION("type 3: the buyer changed the address") {
        json changed = body_of(f.control("POST", "/control/orders/" + id + "/address", {{"city", "世田谷区"}, {"address_line1", "三軒茶屋2-11-22"}}));
        CHECK_THAT(changed["recipient_address"]["full_address"].get<std::string>(), Catch::StartsWith("東京都世田谷区三軒茶屋2-11-22"));
        json p = last_payload(f.shop);
        CHECK(p["type"] == 3);
        CHECK(p["data"]["order_id"] == id);
        CHECK(p["data"]["update_time"] == f.clock);
    }
    SECTION("type 11: a buyer's request is pending, then succeeds and cancels the order") {
        json pending = body_of(f.control("POST", "/control/orders/" + id + "/cancellation", json::object()));
        CHECK(pending["is_buyer_request_cancel"] == true);
        json p = last_payload(f.shop);
        CHECK(p["type"] == 11);
        CHECK(p["data"]["cancel_status"] == "CANCELLATION_REQUEST_PENDING");
        CHECK(p["data"]["cancellations_role"] == "BUYER");
        const std::string cancel_id = p["data"]["cancel_id"];
        const auto before = f.shop.deliveries().size();
        json done = body_of(f.control("POST", "/control/orders/" + id + "/cancellation", {{"cancel_status", "CANCELLATION_REQUEST_SUCCESS"}}));
        CHECK(done["status"] == "CANCELLED");
        CHECK(done["cancellation_initiator"] == "BUYER");
        REQUIRE(f.shop.deliveries().size() == before + 2);
        CHECK(json::parse(f.shop.deliveries()[before].body)["data"]["cancel_id"] == cancel_id);
        json status = last_payload(f.shop);
        CHECK(status["type"] == 1);
        CHECK(status["data"]["order_status"] == "CANCEL");
        CHECK(f.control("POST", "/control/orders/" + id + "/cancellation", {{"cancel_status", "NOPE"}}).status == 400);
    }
    SECTION("type 12: a return") {
        json r = body_of(f.control("POST", "/control/orders/" + id + "/return", {{"return_status", "AWAITING_BUYER_SHIP"}, {"return_type", "REFUND"}}));
        json p = last_payload(f.shop);
        CHECK(p["type"] == 12);
        CHECK(p["data"]["return_status"] == "AWAITING_BUYER_SHIP");
        CHECK(p["data"]["return_type"] == "REFUND");
        CHECK(p["data"]["return_role"] == "BUYER");
        CHECK(p["data"]["return_id"] == r["return_id"]);
    }
    SECTION("unknown orders are 404") {
        CHECK(f.control("POST", "/control/orders/1/address", json::object()).status == 404);
        CHECK(f.control("POST", "/control/orders/1/return", json::object()).status == 404);
        CHECK(f.control("POST", "/control/orders/1/deliver").status == 404);
    }
}

TEST_CASE("Deauthorization sends type 6 and stops every token, expiry warnings are type 7", "[control][webhooks][oauth]") {
    fixture f;
    f.authorize();
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
    json out = body_of(f.control("POST", "/control/deauthorize", json::object()));
    CHECK(out["revoked"] == 1);
    json p = last_payload(f.shop);
    CHECK(p["type"] == 6);
    CHECK(p["data"]["message"].is_string());
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 105001);

    f.control("POST", "/control/authorization/expiring", {{"expiration_time", "1702592000"}});
    json warn = last_payload(f.shop);
    CHECK(warn["type"] == 7);
    CHECK(warn["data"]["expiration_time"] == "1702592000");

    json any = body_of(f.control("POST", "/control/webhooks/emit", {{"type", 5}, {"data", {{"product_id", "1"}, {"status", "PRODUCT_STATUS_CHANGED"}}}}));
    CHECK(any["type"] == 5);
    CHECK(any["payload"]["data"]["product_id"] == "1");
    CHECK(f.control("POST", "/control/webhooks/emit", {{"type", "x"}}).status == 400);
}

}  // namespace ORDERFLOW_TEST_FILE
