// Tests of the shop's state (tikapi/sandbox/shop.cpp): the order state
// machine, ids, the webhooks every change queues, and the retry schedule.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

#include <regex>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;
using orderflow::sandbox::is_legal_transition;

TEST_CASE("The order state machine allows the documented moves and refuses the rest", "[shop][orders]") {
    auto [from, to, legal] = GENERATE(table<std::string, std::string, bool>({
        {"UNPAID", "ON_HOLD", true},
        {"ON_HOLD", "AWAITING_SHIPMENT", true},
        {"AWAITING_SHIPMENT", "AWAITING_COLLECTION", true},
        {"AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", true},
        {"PARTIALLY_SHIPPING", "AWAITING_COLLECTION", true},
        {"AWAITING_COLLECTION", "IN_TRANSIT", true},
        {"IN_TRANSIT", "DELIVERED", true},
        {"DELIVERED", "COMPLETED", true},
        {"IN_TRANSIT", "COMPLETED", true},
        {"UNPAID", "CANCELLED", true},
        {"AWAITING_SHIPMENT", "CANCELLED", true},
        {"IN_TRANSIT", "CANCELLED", true},
        {"UNPAID", "AWAITING_SHIPMENT", false},
        {"AWAITING_SHIPMENT", "ON_HOLD", false},
        {"AWAITING_SHIPMENT", "IN_TRANSIT", false},
        {"DELIVERED", "CANCELLED", false},
        {"COMPLETED", "CANCELLED", false},
        {"CANCELLED", "AWAITING_SHIPMENT", false},
        {"DELIVERED", "DELIVERED", false},
    }));
    CAPTURE(from, to);
    CHECK(is_legal_transition(from, to) == legal);

    fixture f;
    json order = f.create_order(from);
    const std::string id = order["id"];
    f.clock += 60;
    auto response = f.control("POST", "/control/orders/" + id + "/status", {{"status", to}});
    json body = body_of(response);
    if (legal) {
        REQUIRE(response.status == 200);
        CHECK(body["status"] == to);
        CHECK(body["update_time"] == f.clock);
        CHECK(f.shop.find_order(id)->status == to);
        // The change queued a type 1 webhook after the one for creation.
        const auto& last = f.shop.deliveries().back();
        CHECK(last.type == 1);
        CHECK(last.order_id == id);
        json payload = json::parse(last.body);
        CHECK(payload["data"]["order_status"] == (to == "CANCELLED" ? "CANCEL" : to));   // docs/tiktok-shop-api.md §5 spelling
        CHECK(payload["data"]["update_time"] == f.clock);
    } else {
        CHECK(response.status == 409);
        CHECK_THAT(body["error"].get<std::string>(), Catch::Contains(from) && Catch::Contains(to));
        CHECK(f.shop.find_order(id)->status == from);
        CHECK(f.shop.deliveries().size() == 1);   // only the creation webhook
    }
}

TEST_CASE("Status changes stamp the documented times", "[shop][orders]") {
    fixture f;
    std::string id = f.create_order("UNPAID")["id"];
    CHECK_FALSE(f.shop.find_order(id)->paid_time);
    for (auto status : {"ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"}) {
        f.clock += 100;
        REQUIRE(f.control("POST", "/control/orders/" + id + "/status", {{"status", status}}).status == 200);
    }
    auto o = *f.shop.find_order(id);
    CHECK(o.paid_time == 1'700'000'100);
    CHECK(o.rts_time == 1'700'000'300);
    CHECK(o.collection_time == 1'700'000'400);
    CHECK(o.delivery_time == 1'700'000'500);
    json j = f.shop.order_json(o);
    CHECK(j["is_on_hold_order"] == false);
    CHECK(j["line_items"][0]["package_status"] == "COMPLETED");
}

TEST_CASE("Order ids are 18-digit numeric strings and a seed makes them reproducible", "[shop][orders]") {
    fixture a, b;
    json first = a.create_order();
    json again = b.create_order();
    CHECK(std::regex_match(first["id"].get<std::string>(), std::regex("[0-9]{18}")));
    CHECK(std::regex_match(first["line_items"][0]["id"].get<std::string>(), std::regex("[0-9]{18}")));
    CHECK(std::regex_match(first["user_id"].get<std::string>(), std::regex("[0-9]+")));
    CHECK(first["id"] == again["id"]);
    CHECK(a.create_order()["id"] != first["id"]);
    SECTION("an explicit user_id is kept") {
        CHECK(a.create_order("UNPAID", "7494000000000000001")["user_id"] == "7494000000000000001");
    }
}

TEST_CASE("Every queued webhook is signed with HMAC-SHA256(app_secret, app_key + body)", "[shop][webhooks]") {
    fixture f;
    json order = f.create_order("ON_HOLD");
    REQUIRE(f.shop.deliveries().size() == 1);
    const auto& d = f.shop.deliveries()[0];
    CHECK(d.signature == hmac_hex(app_secret, std::string(app_key) + d.body));
    json payload = json::parse(d.body);
    CHECK(payload["type"] == 1);
    CHECK(payload["shop_id"] == f.shop.shop_id());
    CHECK(payload["timestamp"] == f.clock);
    CHECK(payload["tts_notification_id"] == d.notification_id);
    CHECK(payload["data"]["order_id"] == order["id"]);
    CHECK(payload["data"]["order_status"] == "ON_HOLD");
    CHECK(payload["data"]["is_on_hold_order"] == true);
}

TEST_CASE("A buyer message queues a type 13 for a new conversation and a type 14", "[shop][webhooks][messages]") {
    fixture f;
    json order = f.create_order();
    auto response = f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "刻印は「HANAKO」で"}});
    REQUIRE(response.status == 200);
    json posted = body_of(response);
    CHECK(posted["conversation_created"] == true);
    const auto& all = f.shop.deliveries();
    REQUIRE(all.size() == 3);
    json created = json::parse(all[1].body);
    CHECK(created["type"] == 13);
    CHECK(created["data"]["conversation_id"] == posted["conversation_id"]);
    json message = json::parse(all[2].body);
    CHECK(message["type"] == 14);
    const json& data = message["data"];
    CHECK(data["message_id"] == posted["message_id"]);
    CHECK(data["conversation_id"] == posted["conversation_id"]);
    CHECK(data["type"] == "TEXT");
    CHECK(data["content"] == json{{"content", "刻印は「HANAKO」で"}}.dump());   // a JSON string (§5)
    CHECK(data["sender"]["role"] == "BUYER");
    CHECK(data["sender"]["im_user_id"].is_string());
    CHECK(data["index"].is_string());
    CHECK(data["is_visible"] == true);
    CHECK(data["create_time"] == f.clock);

    SECTION("a second message in the same conversation queues only a type 14") {
        json again = body_of(f.control("POST", "/control/messages", {{"user_id", order["user_id"]}, {"text", "追伸"}}));
        CHECK(again["conversation_created"] == false);
        CHECK(again["conversation_id"] == posted["conversation_id"]);
        REQUIRE(f.shop.deliveries().size() == 4);
        CHECK(f.shop.deliveries()[3].type == 14);
        json p3 = json::parse(f.shop.deliveries()[3].body);
        CHECK(std::stoll(p3["data"]["index"].get<std::string>()) > std::stoll(data["index"].get<std::string>()));
    }
}

TEST_CASE("A failed delivery is retried after 2 min, 30 min, 3 h and 12 h times the scale, then given up",
          "[shop][webhooks]") {
    using namespace std::chrono;
    fixture f;   // retry_scale 0.001
    f.create_order();
    REQUIRE(f.shop.set_webhook_url("http://127.0.0.1:9/hook") == std::nullopt);
    auto t = steady_clock::now();
    steady_clock::time_point next;
    auto seq = f.shop.next_delivery(t, next);
    REQUIRE(seq == 1u);
    const milliseconds expected[] = {milliseconds(120), milliseconds(1800), milliseconds(10800), milliseconds(43200)};
    for (int i = 0; i < 4; ++i) {
        f.shop.record_attempt(*seq, 500, "HTTP 500", t);
        const auto& d = *f.shop.find_delivery(*seq);
        CHECK(d.attempts == i + 1);
        CHECK_FALSE(d.gave_up);
        CHECK(duration_cast<milliseconds>(d.due - t) == expected[i]);
        // Not due a moment before, due at the time.
        CHECK_FALSE(f.shop.next_delivery(d.due - milliseconds(1), next));
        CHECK(next == d.due);
        t = d.due;
        CHECK(f.shop.next_delivery(t, next) == seq);
    }
    f.shop.record_attempt(*seq, 0, "connection failed", t);
    const auto& d = *f.shop.find_delivery(*seq);
    CHECK(d.attempts == 5);
    CHECK(d.gave_up);
    CHECK_FALSE(d.delivered);
    CHECK_FALSE(f.shop.next_delivery(t + hours(100), next));

    json log = body_of(f.control("GET", "/control/webhooks"))["webhooks"][0];
    CHECK(log["attempts"] == 5);
    CHECK(log["gave_up"] == true);
    CHECK(log["last_error"] == "connection failed");
    CHECK(log["order_id"] == d.order_id);
}

TEST_CASE("Deliveries go out in the order they were queued, and only once a target is set", "[shop][webhooks]") {
    fixture f;
    f.create_order();
    f.create_order();
    auto t = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    std::chrono::steady_clock::time_point next;
    CHECK_FALSE(f.shop.next_delivery(t, next));   // no target yet
    int woken = 0;
    f.shop.on_webhook_queued([&] { ++woken; });
    REQUIRE_FALSE(f.shop.set_webhook_url("http://localhost:8080/hook"));
    CHECK(woken == 1);
    CHECK(f.shop.next_delivery(t, next) == 1u);
    f.shop.record_attempt(1, 200, "", t);
    CHECK(f.shop.find_delivery(1)->delivered);
    CHECK(f.shop.next_delivery(t, next) == 2u);
    f.create_order();
    CHECK(woken == 2);
}

}  // namespace ORDERFLOW_TEST_FILE
