// Tests of the sandbox's order deadlines (tikapi/sandbox/deadlines.cpp) and
// its customer-service quota (open_api.cpp, check_cs_quota): what a paid
// order carries, moving a deadline through the control API, and 45101004
// past the day's quota until 00:00 UTC.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

TEST_CASE("A paid order carries all five deadlines, counted from the end of its ON_HOLD window", "[shop][deadlines]") {
    fixture f([](orderflow::sandbox::shop_options& o) {
        o.hold_seconds = 3600;
        o.handling_seconds = 86400;
    });
    json held = f.create_order("ON_HOLD");
    const std::int64_t rts = f.clock + 3600 + 86400;
    CHECK(held.at("rts_sla_time") == rts);
    CHECK(held.at("tts_sla_time") == rts + 86400);
    CHECK(held.at("shipping_due_time") == rts + 86400);
    CHECK(held.at("collection_due_time") == rts + 2 * 86400);
    CHECK(held.at("delivery_due_time") == rts + 5 * 86400);
    json ready = f.create_order("AWAITING_SHIPMENT");
    CHECK(ready.at("rts_sla_time") == f.clock + 86400);
    json unpaid = f.create_order("UNPAID");
    CHECK_FALSE(unpaid.contains("rts_sla_time"));
}

TEST_CASE("The control API moves, removes and restores an order's deadlines", "[shop][deadlines][control]") {
    fixture f;
    json order = f.create_order("AWAITING_SHIPMENT");
    const std::string id = order.at("id");
    const auto computed = order.at("rts_sla_time").get<std::int64_t>();
    auto moved = f.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla_time", f.clock + 10}, {"delivery_due_time", 0}});
    REQUIRE(moved.status == 200);
    json j = body_of(moved);
    CHECK(j.at("rts_sla_time") == f.clock + 10);
    CHECK_FALSE(j.contains("delivery_due_time"));
    f.authorize();
    CHECK(f.order_detail(id).at("rts_sla_time") == f.clock + 10);
    j = body_of(f.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla_time", nullptr}}));
    CHECK(j.at("rts_sla_time") == computed);
    CHECK(f.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla", 1}}).status == 400);
    CHECK(f.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla_time", "soon"}}).status == 400);
    CHECK(f.control("POST", "/control/orders/nope/deadlines", {{"rts_sla_time", 1}}).status == 404);
}

TEST_CASE("Customer-service calls past the day's quota get 45101004 until 00:00 UTC", "[shop][quota]") {
    fixture f([](orderflow::sandbox::shop_options& o) { o.cs_daily_quota = 3; });
    f.clock = 1'700'006'400 - 10;   // 10 s before 00:00 UTC
    f.authorize();
    std::vector<std::int64_t> codes;
    for (int i = 0; i < 4; ++i)
        codes.push_back(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "20"}}).at("code").get<std::int64_t>());
    CHECK(codes == std::vector<std::int64_t>{0, 0, 0, 45101004});
    CHECK(f.call("POST", "/order/202309/orders/search", {{"page_size", "10"}}, "{}").at("code") == 0);   // not customer service
    json quota = body_of(f.control("GET", "/control/cs_quota"));
    CHECK(quota.at("used") == 3);
    CHECK(quota.at("quota") == 3);
    f.clock += 10;   // a new UTC day
    CHECK(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "20"}}).at("code") == 0);
    CHECK(body_of(f.control("GET", "/control/cs_quota")).at("used") == 1);
    CHECK(body_of(f.control("POST", "/control/settings", {{"cs_daily_quota", 1}})).at("cs_daily_quota") == 1);
    CHECK(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "20"}}).at("code") == 45101004);
}

}  // namespace ORDERFLOW_TEST_FILE
