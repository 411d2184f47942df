// Decoding of v202309 order detail and token payloads: realistic input,
// missing optional fields, and wrong types that must be decode errors.
#include "tikapi/models.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::tikapi;
using json = nlohmann::json;

namespace {

// Shaped after the 202309 Get Order Detail reference (docs/tiktok-shop-api.md
// §6): no quantity, one line item per unit, amounts as strings,
// recipient_address with name.
json sample_order() {
    return json::parse(R"({
      "id": "576486316948490001",
      "status": "AWAITING_SHIPMENT",
      "create_time": 1700000000,
      "update_time": 1700000500,
      "paid_time": 1700000100,
      "user_id": "7021436810468230000",
      "buyer_message": "Please engrave: HANA",
      "buyer_email": "v3m8k@scs2.tiktok.com",
      "seller_note": "",
      "shipping_type": "SELLER",
      "fulfillment_type": "FULFILLMENT_BY_SELLER",
      "delivery_option_id": "7091146663229654785",
      "delivery_option_name": "Standard shipping",
      "shipping_provider": "Yamato",
      "shipping_provider_id": "6617675021119438597",
      "tracking_number": "",
      "warehouse_id": "7068517275539719942",
      "is_on_hold_order": false,
      "is_cod": false,
      "packages": [{"id": "1152331870948577560"}],
      "payment": {"currency": "JPY", "sub_total": "5800", "shipping_fee": "0", "total_amount": "5800",
                  "original_total_product_price": "5800", "tax": "0"},
      "recipient_address": {"full_address": "Tokyo ...", "phone_number": "(+81)90****1234", "name": "Hanako Yamada",
                            "postal_code": "100-0001", "region_code": "JP",
                            "district_info": [{"address_level_name": "Prefecture", "address_name": "Tokyo", "address_level": "L1"}]},
      "line_items": [
        {"id": "577086512123755123", "sku_id": "1729582718312380123", "product_id": "1729582718312380000",
         "product_name": "Engraved ring", "sku_name": "Silver, 12", "sku_image": "https://example/img.jpg",
         "seller_sku": "ENG-RING-12", "original_price": "2900", "sale_price": "2900", "currency": "JPY",
         "display_status": "AWAITING_SHIPMENT", "package_id": "1152331870948577560", "package_status": "TO_FULFILL",
         "is_gift": false},
        {"id": "577086512123755124", "sku_id": "1729582718312380123", "product_id": "1729582718312380000",
         "product_name": "Engraved ring", "sku_name": "Silver, 12", "seller_sku": "ENG-RING-12",
         "sale_price": "2900", "currency": "JPY", "display_status": "AWAITING_SHIPMENT",
         "package_id": "1152331870948577560"}
      ]
    })");
}

}  // namespace

TEST_CASE("a realistic 202309 order decodes with its line items and packages", "[models]") {
    auto parsed = parse_order(sample_order());
    REQUIRE(parsed.ok());
    const order& o = parsed.value();
    CHECK(o.id == "576486316948490001");
    CHECK(o.status == "AWAITING_SHIPMENT");
    CHECK(o.user_id == "7021436810468230000");
    CHECK(o.buyer_message == "Please engrave: HANA");
    CHECK(o.shipping_type == "SELLER");
    CHECK(o.delivery_option_id == "7091146663229654785");
    CHECK(o.shipping_provider == "Yamato");
    CHECK(o.shipping_provider_id == "6617675021119438597");
    CHECK(o.currency == "JPY");
    CHECK(o.total_amount == "5800");
    CHECK(o.recipient_name == "Hanako Yamada");
    CHECK(o.create_time == 1700000000);
    CHECK(o.update_time == 1700000500);
    CHECK(o.paid_time == 1700000100);
    CHECK_FALSE(o.is_on_hold);
    REQUIRE(o.line_items.size() == 2);   // two units of one SKU: two line items, no quantity field
    CHECK(o.line_items[0].seller_sku == "ENG-RING-12");
    CHECK(o.line_items[0].sale_price == "2900");
    CHECK(o.line_items[0].package_id == "1152331870948577560");
    CHECK(o.line_items[1].id == "577086512123755124");
    CHECK(o.package_ids == std::vector<std::string>{"1152331870948577560"});
}

TEST_CASE("the recipient name falls back to first and last name", "[models]") {
    auto j = sample_order();
    j["recipient_address"] = {{"first_name", "Hanako"}, {"last_name", "Yamada"}};
    auto parsed = parse_order(j);
    REQUIRE(parsed.ok());
    CHECK(parsed.value().recipient_name == "Hanako Yamada");
}

TEST_CASE("an order with only an id decodes with defaults", "[models]") {
    auto parsed = parse_order(json{{"id", "1"}, {"buyer_message", nullptr}});
    REQUIRE(parsed.ok());
    CHECK(parsed.value().status.empty());
    CHECK(parsed.value().buyer_message.empty());
    CHECK(parsed.value().line_items.empty());
    CHECK(parsed.value().recipient_name.empty());   // absent under UNPAID and ON_HOLD
}

TEST_CASE("a field of the wrong type is a decode error naming the field", "[models]") {
    auto [pointer, value, message] = GENERATE(table<std::string, json, std::string>({
        {"/id", json(576486316948490001LL), "order.id must be a string"},
        {"/create_time", json("1700000000"), "order.create_time must be an integer"},
        {"/is_on_hold_order", json("false"), "order.is_on_hold_order must be a boolean"},
        {"/payment", json("5800"), "order.payment must be an object"},
        {"/payment/total_amount", json(5800), "order.payment.total_amount must be a string"},
        {"/line_items", json::object(), "order.line_items must be an array"},
        {"/line_items/1", json("x"), "order.line_items[1] must be an object"},
        {"/line_items/1/sale_price", json(2900), "order.line_items[1].sale_price must be a string"},
        {"/packages/0/id", json(1), "order.packages[0].id must be a string"},
        {"/recipient_address/name", json::array(), "order.recipient_address.name must be a string"},
    }));
    CAPTURE(pointer);
    auto j = sample_order();
    j[json::json_pointer(pointer)] = value;
    auto parsed = parse_order(j);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == error_kind::decode);
    CHECK(parsed.error().message == message);
}

TEST_CASE("an order without an id or that is not an object is a decode error", "[models]") {
    CHECK(parse_order(json{{"status", "UNPAID"}}).error().message == "order.id is missing");
    CHECK(parse_order(json::array()).error().kind == error_kind::decode);
    CHECK(parse_order(json()).error().kind == error_kind::decode);
}

TEST_CASE("token data from the auth host keeps absolute expiry times", "[models]") {
    auto data = json::parse(R"({"access_token":"TTP_abc","access_token_expire_in":1660556783,
        "refresh_token":"TTP_ref","refresh_token_expire_in":1691570783,"open_id":"7010736057180325637",
        "seller_name":"Jjj test shop","seller_base_region":"ID","user_type":0,"granted_scopes":["seller.order.read"]})");
    auto parsed = parse_token_data(data);
    REQUIRE(parsed.ok());
    const auto& t = parsed.value();
    CHECK(t.access_token.reveal() == "TTP_abc");
    CHECK(t.refresh_token.reveal() == "TTP_ref");
    CHECK(t.access_expires_at == 1660556783);
    CHECK(t.refresh_expires_at == 1691570783);
    CHECK(t.open_id == "7010736057180325637");
    CHECK(t.seller_name == "Jjj test shop");
    CHECK(t.seller_base_region == "ID");

    SECTION("a wrong type is a decode error") {
        data["access_token_expire_in"] = "soon";
        CHECK(parse_token_data(data).error().message == "data.access_token_expire_in must be an integer");
    }
    SECTION("a missing access token is a decode error") {
        data.erase("access_token");
        CHECK(parse_token_data(data).error().kind == error_kind::decode);
    }
}

TEST_CASE("tokens survive a round trip through the vault form", "[models]") {
    token_set t;
    t.access_token = orderflow::secret("TTP_access");
    t.refresh_token = orderflow::secret("TTP_refresh");
    t.access_expires_at = 100;
    t.refresh_expires_at = 200;
    t.open_id = "open";
    t.seller_name = "shop";
    t.seller_base_region = "JP";

    auto back = parse_tokens(serialize_tokens(t));
    REQUIRE(back);
    CHECK(back->access_token.reveal() == "TTP_access");
    CHECK(back->refresh_token.reveal() == "TTP_refresh");
    CHECK(back->access_expires_at == 100);
    CHECK(back->refresh_expires_at == 200);
    CHECK(back->open_id == "open");
    CHECK(back->seller_name == "shop");
    CHECK(back->seller_base_region == "JP");
}

TEST_CASE("the vault form is rejected when it is not what serialize_tokens wrote", "[models]") {
    auto text = GENERATE(as<std::string>{}, "", "not json", "[]", R"({"access_token":1})",
                         R"({"refresh_token":"x"})", R"({"access_token":"a","access_expires_at":"x"})");
    CAPTURE(text);
    CHECK_FALSE(parse_tokens(orderflow::secret(text)));
}

TEST_CASE("a vault form nested deeper than the limit is rejected", "[models]") {
    const std::string deep = R"({"access_token":"a","refresh_token":"r","x":)" + std::string(10'000, '[') +
                             std::string(10'000, ']') + "}";
    CHECK_FALSE(parse_tokens(orderflow::secret(deep)));
}

// ---------------------------------------------------------------------------
// The other payloads of docs/tiktok-shop-api.md §3, §5 and §6.

TEST_CASE("an order carries its fulfilment times and line item shipping", "[models]") {
    auto j = sample_order();
    j["cancel_reason"] = "Buyer changed mind";
    j["rts_time"] = 1700001000;
    j["delivery_time"] = 1700090000;
    j["cancel_time"] = 1700002000;
    j["shipping_due_time"] = 1700200000;
    j["is_buyer_request_cancel"] = true;
    j["line_items"][0]["tracking_number"] = "JP123";
    j["line_items"][0]["shipping_provider_id"] = "6617675021119438597";
    j["line_items"][0]["shipping_provider_name"] = "Yamato";
    auto parsed = parse_order(j);
    REQUIRE(parsed.ok());
    const order& o = parsed.value();
    CHECK(o.warehouse_id == "7068517275539719942");
    CHECK(o.fulfillment_type == "FULFILLMENT_BY_SELLER");
    CHECK(o.cancel_reason == "Buyer changed mind");
    CHECK(o.rts_time == 1700001000);
    CHECK(o.delivery_time == 1700090000);
    CHECK(o.cancel_time == 1700002000);
    CHECK(o.shipping_due_time == 1700200000);
    CHECK(o.is_buyer_request_cancel);
    CHECK(o.line_items[0].package_status == "TO_FULFILL");
    CHECK(o.line_items[0].tracking_number == "JP123");
    CHECK(o.line_items[0].shipping_provider_id == "6617675021119438597");
    CHECK(o.line_items[0].shipping_provider_name == "Yamato");
    CHECK(o.line_items[1].package_status.empty());   // absent for local US/UK sellers before shipping

    SECTION("the new fields are type checked too") {
        auto [pointer, value, message] = GENERATE(table<std::string, json, std::string>({
            {"/rts_time", json("soon"), "order.rts_time must be an integer"},
            {"/is_buyer_request_cancel", json(1), "order.is_buyer_request_cancel must be a boolean"},
            {"/warehouse_id", json(7), "order.warehouse_id must be a string"},
            {"/line_items/0/package_status", json(true), "order.line_items[0].package_status must be a string"},
        }));
        CAPTURE(pointer);
        j[json::json_pointer(pointer)] = value;
        CHECK(parse_order(j).error().message == message);
    }
}

TEST_CASE("a search orders page has the orders, the next page token and the total", "[models]") {
    json data{{"next_page_token", "aDU2dHZwWVJwRGs0UFZ4eTRUSTZ3ZkR6"},
              {"total_count", 73},
              {"orders", json::array({sample_order(), json{{"id", "576486316948490002"}, {"status", "UNPAID"}}})}};
    auto page = parse_order_page(data);
    REQUIRE(page.ok());
    CHECK(page.value().next_page_token == "aDU2dHZwWVJwRGs0UFZ4eTRUSTZ3ZkR6");
    CHECK(page.value().total_count == 73);
    REQUIRE(page.value().orders.size() == 2);
    CHECK(page.value().orders[0].line_items.size() == 2);
    CHECK(page.value().orders[1].status == "UNPAID");

    SECTION("the last page has no token") {
        data.erase("next_page_token");
        CHECK(parse_order_page(data).value().next_page_token.empty());
    }
    SECTION("no orders is an empty page") {
        CHECK(parse_order_page(json{{"total_count", 0}}).value().orders.empty());
    }
    SECTION("a bad order names its place in the page") {
        data["orders"][1]["update_time"] = "later";
        CHECK(parse_order_page(data).error().message == "data.orders[1].update_time must be an integer");
    }
    SECTION("a wrong total or token type is a decode error") {
        data["total_count"] = "73";
        CHECK(parse_order_page(data).error().message == "data.total_count must be an integer");
        data["total_count"] = 73;
        data["next_page_token"] = 5;
        CHECK(parse_order_page(data).error().message == "data.next_page_token must be a string");
    }
    SECTION("orders that are not an array is a decode error") {
        data["orders"] = json::object();
        CHECK(parse_order_page(data).error().message == "data.orders must be an array");
    }
}

namespace {

// Get Package Detail `data` (§6): package_id, package_status, orders[{id, skus}].
json sample_package_detail() {
    return json::parse(R"({
      "package_id": "1152331870948577560",
      "orders": [{"id": "576486316948490001", "skus": [{"id": "1729582718312380123", "quantity": 1}]}],
      "package_status": "PROCESSING",
      "split_and_combine_tag": "DEFAULT",
      "has_multi_skus": false,
      "note_tag": "BUYER_UNNOTED",
      "shipping_provider_name": "Yamato",
      "shipping_provider_id": "6617675021119438597",
      "shipping_type": "SELLER",
      "delivery_option_id": "7091146663229654785",
      "tracking_number": "",
      "last_mile_tracking_number": "",
      "pickup_slot": {"start_time": 1700000000, "end_time": 1700003600},
      "create_time": 1700000100,
      "update_time": 1700000200,
      "handover_method": "DROP_OFF",
      "order_line_item_ids": ["577086512123755123", "577086512123755124"],
      "weight": {"value": "300", "unit": "GRAM"},
      "dimension": {"length": "10", "width": "10", "height": "5", "unit": "CM"}
    })");
}

}  // namespace

TEST_CASE("package detail decodes with package_id and package_status", "[models]") {
    auto parsed = parse_package(sample_package_detail());
    REQUIRE(parsed.ok());
    const package& p = parsed.value();
    CHECK(p.id == "1152331870948577560");
    CHECK(p.status == "PROCESSING");
    CHECK(p.order_ids == std::vector<std::string>{"576486316948490001"});
    CHECK(p.order_line_item_ids == std::vector<std::string>{"577086512123755123", "577086512123755124"});
    CHECK(p.shipping_provider_name == "Yamato");
    CHECK(p.shipping_provider_id == "6617675021119438597");
    CHECK(p.shipping_type == "SELLER");
    CHECK(p.delivery_option_id == "7091146663229654785");
    CHECK(p.handover_method == "DROP_OFF");
    CHECK(p.tracking_number.empty());
    CHECK(p.create_time == 1700000100);
    CHECK(p.update_time == 1700000200);
}

TEST_CASE("a search packages page decodes packages with id and status", "[models]") {
    auto data = json::parse(R"({
      "next_page_token": "cGFnZTI=",
      "total_count": 2,
      "packages": [
        {"id": "1152331870948577560", "orders": [{"id": "576486316948490001", "skus": []}],
         "create_time": 1700000100, "update_time": 1700000200, "status": "COMPLETED",
         "tracking_number": "JP123", "shipping_provider_name": "Yamato", "shipping_provider_id": "6617675021119438597",
         "order_line_item_ids": ["577086512123755123"]},
        {"id": "1152331870948577561", "status": "CANCELLED"}
      ]})");
    auto page = parse_package_page(data);
    REQUIRE(page.ok());
    CHECK(page.value().next_page_token == "cGFnZTI=");
    CHECK(page.value().total_count == 2);
    REQUIRE(page.value().packages.size() == 2);
    const package& p = page.value().packages[0];
    CHECK(p.id == "1152331870948577560");
    CHECK(p.status == "COMPLETED");
    CHECK(p.tracking_number == "JP123");
    CHECK(p.order_ids == std::vector<std::string>{"576486316948490001"});
    CHECK(page.value().packages[1].status == "CANCELLED");
}

TEST_CASE("package decoding errors name the field", "[models]") {
    auto [pointer, value, message] = GENERATE(table<std::string, json, std::string>({
        {"/package_id", json(1152331870948577560LL), "package.package_id must be a string"},
        {"/package_status", json(3), "package.package_status must be a string"},
        {"/create_time", json("x"), "package.create_time must be an integer"},
        {"/orders", json("576486316948490001"), "package.orders must be an array"},
        {"/orders/0", json("576486316948490001"), "package.orders[0] must be an object"},
        {"/orders/0/id", json(5), "package.orders[0].id must be a string"},
        {"/order_line_item_ids/1", json(5), "package.order_line_item_ids[1] must be a string"},
    }));
    CAPTURE(pointer);
    auto j = sample_package_detail();
    j[json::json_pointer(pointer)] = value;
    auto parsed = parse_package(j);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == error_kind::decode);
    CHECK(parsed.error().message == message);
}

TEST_CASE("a package without package_id or id is a decode error", "[models]") {
    CHECK(parse_package(json{{"package_status", "PROCESSING"}}).error().message == "package.package_id is missing");
    CHECK(parse_package(json::array()).error().kind == error_kind::decode);
}

TEST_CASE("shipping providers decode from the documented sample", "[models]") {
    auto data = json::parse(R"({"shipping_providers":[{"id":"7117858858072016686","name":"USPS"},
                                                      {"id":"7117859084333745966","name":"UPS"}]})");
    auto providers = parse_shipping_providers(data);
    REQUIRE(providers.ok());
    REQUIRE(providers.value().size() == 2);
    CHECK(providers.value()[0].id == "7117858858072016686");
    CHECK(providers.value()[0].name == "USPS");
    CHECK(providers.value()[1].name == "UPS");

    SECTION("a numeric id is a decode error") {
        data["shipping_providers"][1]["id"] = 7117859084333745966LL;
        CHECK(parse_shipping_providers(data).error().message == "data.shipping_providers[1].id must be a string");
    }
    SECTION("a provider without an id is a decode error") {
        data["shipping_providers"][0].erase("id");
        CHECK(parse_shipping_providers(data).error().message == "data.shipping_providers[0].id is missing");
    }
}

TEST_CASE("tracking events keep their millisecond times", "[models]") {
    auto data = json::parse(R"({"tracking":[
        {"description":"Your package has been delivered","update_time_millis":1700090000123},
        {"description":"Picked up by the carrier","update_time_millis":1700001000456}]})");
    auto events = parse_tracking(data);
    REQUIRE(events.ok());
    REQUIRE(events.value().size() == 2);
    CHECK(events.value()[0].description == "Your package has been delivered");
    CHECK(events.value()[0].update_time_millis == 1700090000123);
    CHECK(events.value()[1].update_time_millis == 1700001000456);

    data["tracking"][0]["update_time_millis"] = "1700090000123";
    CHECK(parse_tracking(data).error().message == "data.tracking[0].update_time_millis must be an integer");
    CHECK(parse_tracking(json::object()).value().empty());
}

namespace {

json sample_conversations() {
    return json::parse(R"({
      "next_page_token": "Y29udjI=",
      "conversations": [
        {"id": "7494560109732334598", "participant_count": 2, "can_send_message": true, "unread_count": 3,
         "create_time": 1700000000,
         "participants": [
           {"im_user_id": "7494560109732331111", "user_id": "7021436810468230000", "role": "BUYER",
            "nickname": "hanako", "avatar": "https://example/a.jpg", "buyer_platform": "TIKTOK_SHOP"},
           {"im_user_id": "7494560109732332222", "user_id": "", "role": "SHOP", "nickname": "Ring shop",
            "avatar": "https://example/s.jpg"}],
         "latest_message": {"id": "7494560109732339999", "type": "TEXT", "content": "{\"content\":\"Where is my ring?\"}",
                            "create_time": 1700000500, "is_visible": true,
                            "sender": {"im_user_id": "7494560109732331111", "role": "BUYER", "nickname": "hanako"},
                            "index": "7494560109732339999"}},
        {"id": "7494560109732334599", "participant_count": 1, "can_send_message": false, "unread_count": 0,
         "create_time": 1700000000, "participants": [], "latest_message": {}}
      ]})");
}

}  // namespace

TEST_CASE("conversations decode with participants and the latest message", "[models]") {
    auto page = parse_conversation_page(sample_conversations());
    REQUIRE(page.ok());
    CHECK(page.value().next_page_token == "Y29udjI=");
    REQUIRE(page.value().conversations.size() == 2);
    const conversation& c = page.value().conversations[0];
    CHECK(c.id == "7494560109732334598");
    CHECK(c.participant_count == 2);
    CHECK(c.unread_count == 3);
    CHECK(c.can_send_message);
    CHECK(c.create_time == 1700000000);
    REQUIRE(c.participants.size() == 2);
    CHECK(c.participants[0].im_user_id == "7494560109732331111");
    CHECK(c.participants[0].nickname == "hanako");
    CHECK(c.participants[1].role == "SHOP");
    CHECK(c.buyer_user_id() == "7021436810468230000");
    REQUIRE(c.latest_message);
    CHECK(c.latest_message->text == "Where is my ring?");
    CHECK(c.latest_message->sender_role == "BUYER");

    const conversation& closed = page.value().conversations[1];
    CHECK_FALSE(closed.can_send_message);
    CHECK_FALSE(closed.latest_message);   // {} is no message
    CHECK(closed.buyer_user_id().empty());
}

TEST_CASE("conversation decoding errors name the field", "[models]") {
    auto [pointer, value, message] = GENERATE(table<std::string, json, std::string>({
        {"/conversations/0/id", json(7494560109732334598LL), "data.conversations[0].id must be a string"},
        {"/conversations/0/unread_count", json("3"), "data.conversations[0].unread_count must be an integer"},
        {"/conversations/0/unread_count", json(1LL << 40), "data.conversations[0].unread_count must be a 32-bit integer"},
        {"/conversations/0/can_send_message", json("yes"), "data.conversations[0].can_send_message must be a boolean"},
        {"/conversations/0/participants/1/role", json(1), "data.conversations[0].participants[1].role must be a string"},
        {"/conversations/0/latest_message/sender", json("BUYER"),
         "data.conversations[0].latest_message.sender must be an object"},
        {"/conversations/1/latest_message", json("hi"), "data.conversations[1].latest_message must be an object"},
        {"/conversations/1", json::array(), "data.conversations[1] must be an object"},
    }));
    CAPTURE(pointer);
    auto data = sample_conversations();
    data[json::json_pointer(pointer)] = value;
    auto page = parse_conversation_page(data);
    REQUIRE_FALSE(page.ok());
    CHECK(page.error().kind == error_kind::decode);
    CHECK(page.error().message == message);
}

TEST_CASE("messages decode content as a JSON string and index as a string or a number", "[models]") {
    auto data = json::parse(R"({
      "next_page_token": "bXNnMg==",
      "unsupported_msg_tips": "unsupported message",
      "messages": [
        {"id": "7494560109732339999", "type": "TEXT", "content": "{\"content\":\"Where is my ring?\"}",
         "create_time": 1700000500, "is_visible": true,
         "sender": {"im_user_id": "7494560109732331111", "role": "BUYER", "nickname": "hanako", "avatar": "a"},
         "index": "7494560109732339999"},
        {"id": "7494560109732340000", "type": "IMAGE",
         "content": "{\"url\":\"https://example/p.jpg\",\"width\":100,\"height\":100}",
         "create_time": 1700000600, "is_visible": false,
         "sender": {"im_user_id": "7494560109732332222", "role": "SHOP"}, "index": 7494560109732340000}
      ]})");
    auto page = parse_message_page(data);
    REQUIRE(page.ok());
    CHECK(page.value().next_page_token == "bXNnMg==");
    REQUIRE(page.value().messages.size() == 2);
    const cs_message& text = page.value().messages[0];
    CHECK(text.id == "7494560109732339999");
    CHECK(text.type == "TEXT");
    CHECK(text.content == R"({"content":"Where is my ring?"})");
    CHECK(text.text == "Where is my ring?");
    CHECK(text.sender_role == "BUYER");
    CHECK(text.sender_im_user_id == "7494560109732331111");
    CHECK(text.create_time == 1700000500);
    CHECK(text.index == 7494560109732339999);
    CHECK(text.is_visible);
    const cs_message& image = page.value().messages[1];
    CHECK(image.text.empty());   // only TEXT has text
    CHECK(image.content.find("https://example/p.jpg") != std::string::npos);
    CHECK(image.index == 7494560109732340000);
    CHECK_FALSE(image.is_visible);
}

TEST_CASE("message decoding is defensive", "[models]") {
    json m{{"id", "m1"}, {"type", "TEXT"}, {"content", R"({"content":"hi"})"}, {"index", "12"}};
    SECTION("an index that is not digits is a decode error") {
        m["index"] = "12a";
        CHECK(parse_message(m).error().message == "message.index must be an integer or a string of digits");
        m["index"] = "";
        CHECK(parse_message(m).error().kind == error_kind::decode);
        m["index"] = 1.5;
        CHECK(parse_message(m).error().kind == error_kind::decode);
    }
    SECTION("content that is not a string is a decode error") {
        m["content"] = json{{"content", "hi"}};
        CHECK(parse_message(m).error().message == "message.content must be a string");
    }
    SECTION("unreadable TEXT content is kept raw with no text") {
        m["content"] = "not json";
        auto parsed = parse_message(m);
        REQUIRE(parsed.ok());
        CHECK(parsed.value().content == "not json");
        CHECK(parsed.value().text.empty());
        m["content"] = R"({"content":5})";
        CHECK(parse_message(m).value().text.empty());
    }
    SECTION("TEXT content nested 10,000 levels deep is kept raw with no text") {
        // Past the depth limit (common/json_limits.hpp), content is unreadable
        // even though its "content" string comes first.
        const std::string deep = R"({"content":"hi","x":)" + std::string(10'000, '[') + std::string(10'000, ']') + "}";
        m["content"] = deep;
        auto parsed = parse_message(m);
        REQUIRE(parsed.ok());
        CHECK(parsed.value().content == deep);
        CHECK(parsed.value().text.empty());
    }
    SECTION("a message without an id is a decode error") {
        m.erase("id");
        CHECK(parse_message(m).error().message == "message.id is missing");
    }
    SECTION("defaults: visible, index 0") {
        auto parsed = parse_message(json{{"id", "m2"}});
        REQUIRE(parsed.ok());
        CHECK(parsed.value().is_visible);
        CHECK(parsed.value().index == 0);
    }
}

TEST_CASE("authorized shops decode with their cipher", "[models]") {
    auto data = json::parse(R"({"shops":[{"id":"7000714532876273420","name":"Maomao beauty shop","region":"GB",
        "seller_type":"CROSS_BORDER","cipher":"GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3","code":"CNGBCBA4LLU8"}]})");
    auto shops = parse_authorized_shops(data);
    REQUIRE(shops.ok());
    REQUIRE(shops.value().size() == 1);
    const authorized_shop& s = shops.value()[0];
    CHECK(s.id == "7000714532876273420");
    CHECK(s.name == "Maomao beauty shop");
    CHECK(s.region == "GB");
    CHECK(s.seller_type == "CROSS_BORDER");
    CHECK(s.cipher == "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
    CHECK(s.code == "CNGBCBA4LLU8");

    data["shops"][0]["cipher"] = json::array();
    CHECK(parse_authorized_shops(data).error().message == "data.shops[0].cipher must be a string");
}

TEST_CASE("webhook subscriptions decode from the Event API list", "[models]") {
    auto data = json::parse(R"({"total_count":2,"webhooks":[
        {"event_type":"ORDER_STATUS_CHANGE","address":"https://hooks.example.com/tiktok","create_time":1700000000,
         "update_time":1700000100},
        {"event_type":"NEW_MESSAGE","address":"https://hooks.example.com/tiktok","create_time":1700000000,
         "update_time":1700000000}]})");
    auto hooks = parse_webhooks(data);
    REQUIRE(hooks.ok());
    REQUIRE(hooks.value().size() == 2);
    CHECK(hooks.value()[0].event_type == "ORDER_STATUS_CHANGE");
    CHECK(hooks.value()[0].address == "https://hooks.example.com/tiktok");
    CHECK(hooks.value()[0].create_time == 1700000000);
    CHECK(hooks.value()[0].update_time == 1700000100);
    CHECK(hooks.value()[1].event_type == "NEW_MESSAGE");

    data["webhooks"][1]["update_time"] = "now";
    CHECK(parse_webhooks(data).error().message == "data.webhooks[1].update_time must be an integer");
    CHECK(parse_webhooks(json::array()).error().kind == error_kind::decode);
}

}  // namespace ORDERFLOW_TEST_FILE
