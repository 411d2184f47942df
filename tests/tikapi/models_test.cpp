// Decoding of v202309 order detail and token payloads: realistic input,
// missing optional fields, and wrong types that must be decode errors.
#include "tikapi/models.hpp"

#include <catch2/catch.hpp>

using namespace orderflow::tikapi;
using json = nlohmann::json;

namespace {

// Shaped after the 202309 Get Order Detail reference (docs §6): no quantity,
// one line item per unit, amounts as strings, recipient_address with name.
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
