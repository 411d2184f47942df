// Packages end to end, with the real binaries: the sandbox splits an order
// into two packages and sends its PACKAGE_UPDATE webhook; orderflowd fans
// it out into one event per package, and a package.updated rule sees the
// order, the package and sc_type (and tells the buyer once). The warehouse's
// tracking feed then ships the packages one by one: the sandbox shows the
// order PARTIALLY_SHIPPING after the first, AWAITING_COLLECTION after the
// second, and each package was shipped exactly once. A feed line naming
// only the order is refused, listing the packages. The sandbox's call log
// and the database judge.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <set>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

constexpr const char* admin_token = "warehouse-token-7a8b9c0d";

const char* const package_rules = R"({
  "templates": {
    "ships_in_parts": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} は{{order.package_count}}個の荷物に分けてお届けします。" }
  },
  "rules": [
    { "id": "split-notice", "on": "package.updated",
      "if": { "all": [ { "event.sc_type": { "eq": "SPLIT" } }, { "order.package_count": { "gte": 2 } } ] },
      "then": [ { "send_message": { "template": "ships_in_parts" } } ] },
    { "id": "ship-from-warehouse", "on": "tracking.received", "then": [ { "update_tracking": {} } ] }
  ]
})";

struct package_stack {
    stack s;
    std::uint16_t admin_port = 0;

    package_stack() {
        s.write_rules("10-packages.json", package_rules);
        write_file(s.dir / "admin.token", admin_token, 0600);
        s.extra_config = {{"admin", {{"listen", "127.0.0.1:0"}, {"token_file", "admin.token"}}},
                          {"tracking", {{"carriers", {{"ヤマト運輸", "Yamato Transport"}}}}},
                          {"poll", {{"enabled", false}}}};
        s.start_all();
        admin_port = wait_for_log(s.daemon.log(), "admin_http_listening").at("port").get<std::uint16_t>();
    }

    http_reply feed(const json& line) {
        return http(admin_port, "POST", "/v1/tracking", line.dump(),
                    {{"Content-Type", "application/json"}, {"Authorization", std::string("Bearer ") + admin_token}});
    }

    json order(const std::string& id) { return s.control("GET", "/control/orders/" + id).json_body(); }

    // Successful Ship Package calls, by package id, in the order received.
    std::vector<std::string> shipped() {
        std::vector<std::string> ids;
        const json all = s.control("GET", "/control/calls").json_body();   // named: the loop must not outlive it
        for (const auto& c : all.at("calls")) {
            const auto& path = c.at("path").get_ref<const std::string&>();
            const auto at = path.find("/packages/");
            if (at == std::string::npos || path.size() < 5 || path.compare(path.size() - 5, 5, "/ship") != 0 || !(c.at("code").is_number() && c.at("code") == 0))
                continue;
            ids.push_back(path.substr(at + 10, path.size() - 5 - (at + 10)));
        }
        return ids;
    }
};

std::string text_of(const json& m) { return m.contains("text") ? m["text"].get<std::string>() : m.value("content", ""); }

}  // namespace

TEST_CASE("A split order: the rule sees each package, the feed ships them one by one through PARTIALLY_SHIPPING",
          "[integration][packages]") {
    package_stack f;
    const json created = f.s.create_order({{"buyer_name", "高橋 真由"},
                                           {"status", "AWAITING_SHIPMENT"},
                                           {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}, {"quantity", 2}}}}});
    const std::string id = created.at("id");

    const auto split = f.s.control("POST", "/control/orders/" + id + "/split", json::object());
    REQUIRE(split.status == 200);
    const json split_order = split.json_body();   // named: the loop must not outlive it
    std::vector<std::string> packages;
    for (const auto& p : split_order.at("packages")) packages.push_back(p.at("id"));
    REQUIRE(packages.size() == 2u);

    // One message for the order, though both packages were evaluated.
    REQUIRE(eventually([&] { return f.s.shop_messages().size() == 1; }));
    CHECK(text_of(f.s.shop_messages()[0]) == "高橋 真由様、ご注文 " + id + " は2個の荷物に分けてお届けします。");
    {
        auto db = orderflow::storage::database::open(f.s.db_path());
        orderflow::storage::store store(db);
        REQUIRE(eventually([&] {
            int split_events = 0;
            for (const auto& [e, context] : store.events_with_context(0, 100))
                split_events += e.event == "package.updated" && context.find("\"SPLIT\"") != std::string::npos;
            return split_events == 2;
        }));
        std::set<std::string> seen;
        for (const auto& [e, context] : store.events_with_context(0, 100)) {
            if (e.event != "package.updated") continue;
            const json c = json::parse(context);
            if (c["event_data"].value("sc_type", "") != "SPLIT") continue;
            CAPTURE(context);
            CHECK(e.order_id == id);
            CHECK(e.dedupe_key.find("#" + c["event_data"].value("package_id", "") + "#" + id) != std::string::npos);
            CHECK(c["order"]["id"] == id);
            CHECK(c["order"]["package_count"] == 2);
            CHECK(c["event_data"]["role_type"] == "ROLE_SELLER");
            CHECK(c["event_data"]["package_orders"] == json::array({id}));
            CHECK(c["event_data"]["package_status"] == "PROCESSING");
            seen.insert(c["event_data"].value("package_id", ""));
        }
        CHECK(seen == std::set<std::string>(packages.begin(), packages.end()));
    }

    // A line naming only the order: refused, the packages listed.
    REQUIRE(f.feed({{"order_id", id}, {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-7000-0000"}}).status == 202);
    auto db = orderflow::storage::database::open(f.s.db_path());
    orderflow::storage::store store(db);
    REQUIRE(eventually([&] {
        for (const auto& a : store.actions_for_order(id))
            if (a.state == "failed") return true;
        return false;
    }));
    for (const auto& a : store.actions_for_order(id)) {
        if (a.state != "failed") continue;
        CHECK(a.reason.find("ships in 2 packages") != std::string::npos);
        CHECK(a.reason.find(packages[0] + " not shipped") != std::string::npos);
    }
    CHECK(f.shipped().empty());

    // Package by package.
    REQUIRE(f.feed({{"order_id", id}, {"package_id", packages[0]}, {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-7000-0001"}}).status == 202);
    REQUIRE(eventually([&] { return f.order(id).at("status") == "PARTIALLY_SHIPPING"; }));
    REQUIRE(f.feed({{"order_id", id}, {"package_id", packages[1]}, {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-7000-0002"}}).status == 202);
    REQUIRE(eventually([&] { return f.order(id).at("status") == "AWAITING_COLLECTION"; }));
    const json done = f.order(id);
    CHECK(done["line_items"][0]["tracking_number"] == "4912-7000-0001");
    CHECK(done["line_items"][1]["tracking_number"] == "4912-7000-0002");
    CHECK(f.shipped() == packages);   // each package once

    // The database agrees: two shipments done, the vague line failed.
    int shipped_done = 0, failed = 0;
    for (const auto& a : store.actions_for_order(id)) {
        if (a.kind != "update_tracking") continue;
        shipped_done += a.state == "done";
        failed += a.state == "failed";
    }
    CHECK(shipped_done == 2);
    CHECK(failed == 1);
    CHECK(f.s.shop_messages().size() == 1);   // the shipments' package updates carry no sc_type: no new message
}

}  // namespace ORDERFLOW_TEST_FILE
