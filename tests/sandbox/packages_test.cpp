// Tests of the sandbox's packages (tikapi/sandbox/packages.cpp): splitting
// an order into several packages and combining orders of a buyer into one,
// the type 4 webhooks they emit, shipping package by package through
// PARTIALLY_SHIPPING to AWAITING_COLLECTION, and what Get Order Detail and
// Package Detail show of it.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

#include <set>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

namespace {

// An order of `units` units, paid and ready to ship.
json order_of(fixture& f, int units, const std::string& user_id = "") {
    json body = {{"buyer_name", "山田 花子"},
                 {"status", "AWAITING_SHIPMENT"},
                 {"line_items", json::array({{{"seller_sku", "ENG-RING-01"}, {"product_name", "刻印リング"},
                                              {"sale_price", "4980"}, {"quantity", units}}})}};
    if (!user_id.empty()) body["user_id"] = user_id;
    return body_of(f.control("POST", "/control/orders", body));
}

std::vector<std::string> package_ids(const json& order) {
    std::vector<std::string> ids;
    for (const auto& p : order["packages"]) ids.push_back(p["id"].get<std::string>());
    return ids;
}

json last_webhook(const orderflow::sandbox::shop& shop, int type) {
    for (auto d = shop.deliveries().rbegin(); d != shop.deliveries().rend(); ++d)
        if (d->type == type) return json::parse(d->body);
    return nullptr;
}

}  // namespace

TEST_CASE("Splitting an order makes one package per group, announced by a SPLIT package update", "[packages]") {
    fixture f;
    f.authorize();
    json created = order_of(f, 3);
    const std::string id = created["id"];
    const std::string old_package = package_ids(created).at(0);
    const json items = created["line_items"];
    json groups = json::array({json::array({items[0]["id"], items[1]["id"]}), json::array({items[2]["id"]})});

    auto r = f.control("POST", "/control/orders/" + id + "/split", {{"line_item_groups", groups}});
    REQUIRE(r.status == 200);
    json o = f.order_detail(id);
    const auto ids = package_ids(o);
    REQUIRE(ids.size() == 2u);
    CHECK(o["split_or_combine_tag"] == "SPLIT");
    CHECK(o["status"] == "AWAITING_SHIPMENT");
    CHECK(o["line_items"][0]["package_id"] == ids[0]);
    CHECK(o["line_items"][1]["package_id"] == ids[0]);
    CHECK(o["line_items"][2]["package_id"] == ids[1]);
    CHECK(std::set<std::string>(ids.begin(), ids.end()).count(old_package) == 0u);
    CHECK(f.call("GET", "/fulfillment/202309/packages/" + old_package)["code"] == 21008111);

    json hook = last_webhook(f.shop, 4);
    REQUIRE(hook.is_object());
    CHECK(hook["data"]["sc_type"] == "SPLIT");
    CHECK(hook["data"]["role_type"] == "ROLE_SELLER");
    REQUIRE(hook["data"]["package_list"].size() == 2u);
    CHECK(hook["data"]["package_list"][0]["package_id"] == ids[0]);
    CHECK(hook["data"]["package_list"][1]["package_id"] == ids[1]);
    CHECK(hook["data"]["package_list"][1]["order_id_list"] == json::array({id}));

    json detail = f.call("GET", "/fulfillment/202309/packages/" + ids[1])["data"];
    CHECK(detail["split_and_combine_tag"] == "SPLIT");
    CHECK(detail["order_line_item_ids"] == json::array({items[2]["id"]}));

    SECTION("no groups: one package per line item") {
        json other = order_of(f, 2);
        REQUIRE(f.control("POST", "/control/orders/" + other["id"].get<std::string>() + "/split", json::object()).status == 200);
        CHECK(package_ids(f.order_detail(other["id"])).size() == 2u);
    }
}

TEST_CASE("Shipping a split order package by package goes through PARTIALLY_SHIPPING", "[packages]") {
    fixture f;
    f.authorize();
    json created = order_of(f, 2);
    const std::string id = created["id"];
    REQUIRE(f.control("POST", "/control/orders/" + id + "/split", json::object()).status == 200);
    const auto ids = package_ids(f.order_detail(id));
    REQUIRE(ids.size() == 2u);

    f.clock += 60;
    REQUIRE(f.ship(ids[0], "YMT-1001", yamato)["code"] == 0);
    json o = f.order_detail(id);
    CHECK(o["status"] == "PARTIALLY_SHIPPING");
    CHECK(last_webhook(f.shop, 1)["data"]["order_status"] == "PARTIALLY_SHIPPING");
    CHECK(o["line_items"][0]["package_status"] == "FULFILLING");
    CHECK(o["line_items"][0]["tracking_number"] == "YMT-1001");
    CHECK(o["line_items"][1]["package_status"] == "PROCESSING");
    CHECK_FALSE(o["line_items"][1].contains("tracking_number"));
    CHECK_FALSE(o.contains("rts_time"));
    json hook = last_webhook(f.shop, 4);
    CHECK(hook["data"]["package_list"] == json::array({{{"package_id", ids[0]}, {"order_id_list", json::array({id})}}}));
    CHECK_FALSE(hook["data"].contains("sc_type"));

    SECTION("the same package cannot ship twice") { CHECK(f.ship(ids[0], "YMT-1001", yamato)["code"] == 11006021); }
    SECTION("the last package moves the order to AWAITING_COLLECTION") {
        f.clock += 60;
        REQUIRE(f.ship(ids[1], "YMT-1002", yamato)["code"] == 0);
        o = f.order_detail(id);
        CHECK(o["status"] == "AWAITING_COLLECTION");
        CHECK(o["rts_time"] == f.clock);
        CHECK(o["line_items"][1]["tracking_number"] == "YMT-1002");
        CHECK(o["line_items"][0]["tracking_number"] == "YMT-1001");
    }
    SECTION("the order-wide calls refuse to guess the package") {
        json update = f.call("POST", "/fulfillment/202309/orders/" + id + "/shipping_info/update", {},
                             json{{"tracking_number", "YMT-2001"}, {"shipping_provider_id", yamato}}.dump());
        CHECK(update["code"] == 36009004);
        CHECK_THAT(update["message"].get<std::string>(), Catch::Contains("2 packages"));
        json mark = f.call("POST", "/fulfillment/202309/orders/" + id + "/packages", {},
                           json{{"tracking_number", "YMT-2002"}, {"shipping_provider_id", yamato}}.dump());
        CHECK(mark["code"] == 36009004);
    }
    SECTION("a shipped package's info is updated by package") {
        json update = f.call("POST", "/fulfillment/202309/packages/" + ids[0] + "/shipping_info/update", {},
                             json{{"tracking_number", "YMT-3001"}, {"shipping_provider_id", yamato}}.dump());
        CHECK(update["code"] == 0);
        CHECK(f.order_detail(id)["line_items"][0]["tracking_number"] == "YMT-3001");
        json unshipped = f.call("POST", "/fulfillment/202309/packages/" + ids[1] + "/shipping_info/update", {},
                                json{{"tracking_number", "YMT-3002"}, {"shipping_provider_id", yamato}}.dump());
        CHECK(unshipped["code"] == 21011043);
    }
}

TEST_CASE("Combining two orders of a buyer makes one package that ships both", "[packages]") {
    fixture f;
    f.authorize();
    json a = order_of(f, 1, "7000000000000000001");
    json b = order_of(f, 2, "7000000000000000001");
    const std::string ida = a["id"], idb = b["id"];

    auto r = f.control("POST", "/control/packages/combine", {{"order_ids", {ida, idb}}});
    REQUIRE(r.status == 200);
    const std::string package = body_of(r)["package_id"];
    CHECK(package_ids(f.order_detail(ida)) == std::vector<std::string>{package});
    CHECK(package_ids(f.order_detail(idb)) == std::vector<std::string>{package});
    CHECK(f.order_detail(idb)["split_or_combine_tag"] == "COMBINE");

    json detail = f.call("GET", "/fulfillment/202309/packages/" + package)["data"];
    CHECK(detail["split_and_combine_tag"] == "COMBINE");
    REQUIRE(detail["orders"].size() == 2u);
    CHECK(detail["orders"][0]["id"] == ida);
    CHECK(detail["orders"][1]["id"] == idb);
    CHECK(detail["order_line_item_ids"].size() == 3u);

    json hook = last_webhook(f.shop, 4);
    CHECK(hook["data"]["sc_type"] == "COMBINE");
    CHECK(hook["data"]["package_list"] == json::array({{{"package_id", package}, {"order_id_list", {ida, idb}}}}));

    REQUIRE(f.ship(package, "YMT-4001", yamato)["code"] == 0);
    CHECK(f.order_detail(ida)["status"] == "AWAITING_COLLECTION");
    CHECK(f.order_detail(idb)["status"] == "AWAITING_COLLECTION");
    CHECK(f.order_detail(idb)["line_items"][1]["tracking_number"] == "YMT-4001");
}

TEST_CASE("Split and combine refuse what the platform would not do", "[packages]") {
    fixture f;
    f.authorize();
    json one = order_of(f, 2, "7000000000000000001");
    const std::string id = one["id"];
    const json items = one["line_items"];
    auto split = [&](const std::string& order, const json& body) { return f.control("POST", "/control/orders/" + order + "/split", body); };

    CHECK(split("570000000000000000", json::object()).status == 404);
    CHECK(split(id, {{"line_item_groups", json::array({json::array({items[0]["id"]})})}}).status == 409);   // one group, one item missing
    CHECK(split(id, {{"line_item_groups", json::array({json::array({items[0]["id"]}), json::array({items[0]["id"]})})}}).status == 409);
    CHECK(split(id, {{"line_item_groups", "all"}}).status == 400);
    json single = order_of(f, 1);
    CHECK(split(single["id"], json::object()).status == 409);   // one item: nothing to split

    json shipped = order_of(f, 2);
    REQUIRE(f.ship(package_ids(shipped).at(0))["code"] == 0);
    CHECK(split(shipped["id"], json::object()).status == 409);

    json other_buyer = order_of(f, 1, "7000000000000000002");
    CHECK(f.control("POST", "/control/packages/combine", {{"order_ids", {id, other_buyer["id"]}}}).status == 409);
    CHECK(f.control("POST", "/control/packages/combine", {{"order_ids", json::array({id})}}).status == 409);
    CHECK(f.control("POST", "/control/packages/combine", {{"order_ids", "x"}}).status == 400);
    // Nothing changed by the refusals.
    CHECK(package_ids(f.order_detail(id)).size() == 1u);
}

}  // namespace ORDERFLOW_TEST_FILE
