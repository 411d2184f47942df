// Tests of load mode (tikapi/sandbox/load.cpp): orders arrive at the asked
// rate on the shop's clock, with Japanese names and addresses, the asked
// shares of custom SKUs, notes and buyer messages, reproducibly per seed.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

TEST_CASE("Load mode creates paid orders at its rate with the asked shares", "[load]") {
    fixture f([](auto& o) { o.hold_seconds = 0; });
    json started = body_of(f.control("POST", "/control/load",
                                     {{"orders", 400}, {"rate", 100}, {"custom_share", 0.2}, {"note_share", 0.3},
                                      {"message_share", 0.3}, {"seed", 11}}));
    CHECK(started["running"] == true);
    CHECK(started["created"] == 1);   // the first one at once
    f.clock += 1;
    json progress = body_of(f.control("GET", "/control/load"));
    CHECK(progress["created"] == 101);
    CHECK(progress["running"] == true);
    f.clock += 10;
    progress = body_of(f.control("GET", "/control/load"));
    CHECK(progress["created"] == 400);
    CHECK(progress["running"] == false);
    CHECK(progress["messages_sent"] == progress["messages_planned"]);

    const auto orders = f.shop.orders();
    REQUIRE(orders.size() == 400);
    int custom = 0, noted = 0;
    for (const auto& o : orders) {
        CHECK(o.buyer_name.find(' ') != std::string::npos);
        CHECK(o.status == "AWAITING_SHIPMENT");   // paid, and past the (zero) hold
        CHECK(o.paid_time != 0);
        if (o.line_items[0].seller_sku.rfind("ENG-", 0) == 0) ++custom;
        if (!o.buyer_message.empty()) ++noted;
    }
    CHECK(custom > 50);
    CHECK(custom < 110);
    CHECK(noted > 85);
    CHECK(noted < 155);
    const auto planned = progress["messages_planned"].get<int>();
    CHECK(planned > 85);
    CHECK(planned < 155);
    json buyer = body_of(f.control("GET", "/control/messages?sender=BUYER"))["messages"];
    CHECK(static_cast<int>(buyer.size()) == planned);
    json detail = f.shop.order_json(orders[0]);
    CHECK(detail["recipient_address"]["region_code"] == "JP");
    CHECK(detail["recipient_address"]["district_info"][0]["address_name"].get<std::string>().size() > 0);

    SECTION("one seed, one stream") {
        fixture g([](auto& o) { o.hold_seconds = 0; });
        g.control("POST", "/control/load", {{"orders", 400}, {"rate", 100}, {"seed", 11}});
        g.clock += 11;
        g.shop.advance();
        REQUIRE(g.shop.orders().size() == 400);
        CHECK(g.shop.orders()[17].buyer_name == orders[17].buyer_name);
        CHECK(g.shop.orders()[17].line_items[0].seller_sku == orders[17].line_items[0].seller_sku);
    }
    SECTION("bad requests are refused") {
        CHECK(f.control("POST", "/control/load", {{"rate", 5}}).status == 400);
        CHECK(f.control("POST", "/control/load", {{"orders", 5}, {"rate", 0}}).status == 400);
        CHECK(f.control("POST", "/control/load", {{"orders", 5}, {"note_share", 3}}).status == 400);
    }
}

TEST_CASE("A running load can be stopped", "[load]") {
    fixture f;
    f.control("POST", "/control/load", {{"orders", 100}, {"rate", 10}});
    f.clock += 2;
    json stopped = body_of(f.control("DELETE", "/control/load"));
    CHECK(stopped["running"] == false);
    const auto created = stopped["created"].get<int>();
    CHECK(created == 21);
    f.clock += 100;
    f.shop.advance();
    CHECK(static_cast<int>(f.shop.orders().size()) == created);
}

}  // namespace ORDERFLOW_TEST_FILE
