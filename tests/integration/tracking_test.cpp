// The warehouse's tracking feed end to end: POST /v1/tracking on the admin
// listener (bearer token) and the CSV drop folder become tracking.received
// events; update_tracking ships the package at the sandbox with the mapped
// shipping provider, corrects a shipped one, waits out ON_HOLD and skips a
// cancelled order; a drop folder that cannot be created is logged once and
// fails /readyz until it can be. Real binaries; the sandbox's call log and
// the database judge.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

constexpr const char* admin_token = "warehouse-token-0c1d2e3f";

const char* const tracking_rules = R"({
  "rules": [
    {"id": "ship-from-warehouse", "on": "tracking.received", "then": [{"update_tracking": {}}]}
  ]
})";

struct feed_stack {
    stack s;
    std::uint16_t admin_port = 0;

    // feed_dir: the drop folder, relative to the stack's folder; before_start
    // gets that folder before the daemon starts.
    explicit feed_stack(const std::string& feed_dir = "feed", const std::function<void(const std::filesystem::path&)>& before_start = nullptr) {
        s.write_rules("10-tracking.json", tracking_rules);
        write_file(s.dir / "admin.token", admin_token, 0600);
        s.extra_config = {{"admin", {{"listen", "127.0.0.1:0"}, {"token_file", "admin.token"}}},
                          {"tracking", {{"feed_dir", feed_dir}, {"scan_interval", "1s"}, {"carriers", {{"ヤマト運輸", "Yamato Transport"}}}}},
                          {"poll", {{"enabled", false}}}};
        if (before_start) before_start(s.dir.path());
        s.start_all();
        admin_port = wait_for_log(s.daemon.log(), "admin_http_listening").at("port").get<std::uint16_t>();
    }

    http_reply post(const json& body, const std::string& token = admin_token) {
        std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
        if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
        return http(admin_port, "POST", "/v1/tracking", body.is_string() ? body.get<std::string>() : body.dump(), headers);
    }

    std::string paid_order(const std::string& buyer) {
        auto o = s.create_order({{"buyer_name", buyer},
                                 {"status", "AWAITING_SHIPMENT"},
                                 {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
        return o.at("id").get<std::string>();
    }

    json order(const std::string& id) { return s.control("GET", "/control/orders/" + id).json_body(); }

    // Open API calls whose path ends with `suffix` ("/ship", "/shipping_info/update").
    std::vector<json> calls(const std::string& suffix) {
        std::vector<json> out;
        const json all = s.control("GET", "/control/calls").json_body();   // a named copy: the loop must not outlive it
        for (const auto& c : all.at("calls"))
            if (const auto& path = c.at("path").get_ref<const std::string&>();
                path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
                out.push_back(c);
        return out;
    }

    std::vector<orderflow::storage::action_row> actions(const std::string& order_id) {
        auto db = orderflow::storage::database::open(s.db_path());
        return orderflow::storage::store(db).actions_for_order(order_id);
    }
};

std::string tracking_of(const json& order) {
    if (order.contains("tracking_number") && order["tracking_number"].is_string()) return order["tracking_number"].get<std::string>();
    return {};
}

}  // namespace

TEST_CASE("A tracking post ships the package once with the mapped provider, and a correction updates it", "[integration][tracking]") {
    feed_stack f;
    const std::string id = f.paid_order("佐藤 花子");

    SECTION("the feed refuses what it cannot take, saying why") {
        CHECK(f.post({{"order_id", id}, {"carrier", "ヤマト運輸"}, {"tracking_number", "1"}}, "").status == 401);
        CHECK(f.post({{"order_id", id}, {"carrier", "ヤマト運輸"}, {"tracking_number", "1"}}, "not-the-token").status == 401);
        auto bad = f.post({{"order_id", id}, {"tracking_number", "1"}});
        CHECK(bad.status == 400);
        CHECK(bad.json_body().at("error") == "carrier is missing");
        CHECK(f.post(json("{not json")).status == 400);
        CHECK(f.calls("/ship").empty());
        // Nothing about the token reaches the log.
        CHECK(read_file(f.s.daemon.log()).find(admin_token) == std::string::npos);
    }

    SECTION("ship, duplicate, correct") {
        auto first = f.post({{"order_id", id}, {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-0000-0001"}});
        REQUIRE(first.status == 202);
        CHECK(first.json_body().at("duplicate") == false);
        auto again = f.post({{"order_id", id}, {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-0000-0001"}});
        CHECK(again.status == 200);
        CHECK(again.json_body().at("duplicate") == true);

        REQUIRE(eventually([&] { return tracking_of(f.order(id)) == "4912-0000-0001"; }));
        CHECK(f.order(id).at("status") == "AWAITING_COLLECTION");
        auto ships = f.calls("/ship");
        REQUIRE(ships.size() == 1);
        auto body = json::parse(ships[0].at("body").get<std::string>());
        CHECK(body.at("self_shipment").at("tracking_number") == "4912-0000-0001");
        CHECK(body.at("self_shipment").at("shipping_provider_id") == "7129736402373338881");   // Yamato Transport

        // The warehouse corrects the number: Update Package Shipping Info, once.
        REQUIRE(f.post({{"order_id", id}, {"carrier", "Yamato Transport"}, {"tracking_number", "4912-0000-0002"}}).status == 202);
        REQUIRE(eventually([&] { return tracking_of(f.order(id)) == "4912-0000-0002"; }));
        CHECK(f.calls("/shipping_info/update").size() == 1);
        CHECK(f.calls("/ship").size() == 1);
        auto actions = f.actions(id);
        REQUIRE(actions.size() == 2);
        for (const auto& a : actions) CHECK(a.state == "done");
    }

    SECTION("an unknown carrier fails for staff, naming the providers") {
        REQUIRE(f.post({{"order_id", id}, {"carrier", "西濃運輸"}, {"tracking_number", "5555"}}).status == 202);
        REQUIRE(eventually([&] {
            auto a = f.actions(id);
            return a.size() == 1 && a[0].state == "failed";
        }));
        auto a = f.actions(id)[0];
        CHECK(a.reason.find("西濃運輸") != std::string::npos);
        CHECK(a.reason.find("Yamato Transport") != std::string::npos);
        CHECK(a.reason.find("tracking.carriers") != std::string::npos);
        CHECK(f.calls("/ship").empty());
    }
}

TEST_CASE("Tracking waits out ON_HOLD and skips a cancelled order", "[integration][tracking]") {
    feed_stack f;
    auto held = f.s.create_order({{"buyer_name", "鈴木 一郎"},
                                  {"status", "ON_HOLD"},
                                  {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}})
                    .at("id")
                    .get<std::string>();
    const std::string cancelled = f.paid_order("高橋 美咲");
    f.s.set_status(cancelled, "CANCELLED");

    REQUIRE(f.post({{"order_id", held}, {"carrier", "ヤマト運輸"}, {"tracking_number", "7001"}}).status == 202);
    REQUIRE(f.post({{"order_id", cancelled}, {"carrier", "ヤマト運輸"}, {"tracking_number", "7002"}}).status == 202);

    REQUIRE(eventually([&] {
        auto a = f.actions(cancelled);
        return a.size() == 1 && a[0].state == "skipped";
    }));
    CHECK(f.actions(cancelled)[0].reason.find("cancelled") != std::string::npos);
    REQUIRE(eventually([&] {
        auto a = f.actions(held);
        return a.size() == 1 && a[0].state == "deferred";
    }));
    CHECK(f.actions(held)[0].reason.find("ON_HOLD") != std::string::npos);
    CHECK(f.calls("/ship").empty());   // nothing was tried while on hold

    // The remorse window ends: the deferred update ships it.
    f.s.set_status(held, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return tracking_of(f.order(held)) == "7001"; }, std::chrono::seconds(30)));
    CHECK(f.calls("/ship").size() == 1);
}

TEST_CASE("A CSV with one bad row ships every other row and names the bad line", "[integration][tracking][csv]") {
    feed_stack f;
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(f.paid_order("購入者 " + std::to_string(i)));
    std::string csv = "order_id,carrier,tracking_number\n";
    csv += ids[0] + ",ヤマト運輸,8001\n";
    csv += ids[1] + ",ヤマト運輸,8002\n";
    csv += "12345X,ヤマト運輸,8003\n";   // line 4: not an order id
    csv += ids[2] + ",Sagawa Express,8004\n";
    csv += ids[3] + ",ヤマト運輸,8005\n";
    // Written aside and renamed in, as a warehouse's export should.
    write_file(f.s.dir / "feed" / "batch-1.tmp", csv);
    std::filesystem::rename(f.s.dir / "feed" / "batch-1.tmp", f.s.dir / "feed" / "batch-1.csv");

    auto processed = wait_for_log(f.s.daemon.log(), "tracking_file_processed", std::chrono::seconds(30));
    CHECK(processed.at("rows") == 4);
    CHECK(processed.at("bad_rows") == 1);
    auto bad = wait_for_log(f.s.daemon.log(), "tracking_bad_row");
    CHECK(bad.at("line") == 4);
    CHECK(bad.at("error") == "order_id must be digits, found \"12345X\"");

    const std::vector<std::string> numbers = {"8001", "8002", "8004", "8005"};
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CAPTURE(ids[i]);
        REQUIRE(eventually([&] { return tracking_of(f.order(ids[i])) == numbers[i]; }));
    }
    CHECK(f.calls("/ship").size() == 4);
    // Moved aside, with the report beside it, and staff told.
    CHECK_FALSE(std::filesystem::exists(f.s.dir / "feed" / "batch-1.csv"));
    CHECK(std::filesystem::exists(f.s.dir / "feed" / "processed" / "batch-1.csv"));
    CHECK(read_file(f.s.dir / "feed" / "processed" / "batch-1.csv.errors.txt") ==
          "batch-1.csv:4: order_id must be digits, found \"12345X\"\n");
    auto db = orderflow::storage::database::open(f.s.db_path());
    auto reviews = orderflow::storage::store(db).reviews(false, 100);
    REQUIRE(reviews.size() == 1);
    CHECK(reviews[0].reason == "tracking_feed_bad_rows");
    CHECK(reviews[0].summary.find("line 4") != std::string::npos);

    // The same file dropped again adds nothing.
    write_file(f.s.dir / "feed" / "batch-1-again.tmp", csv);
    std::filesystem::rename(f.s.dir / "feed" / "batch-1-again.tmp", f.s.dir / "feed" / "batch-1-again.csv");
    auto second = wait_for_log(f.s.daemon.log(), "tracking_file_processed", std::chrono::seconds(30), 2);
    CHECK(second.at("new_events") == 0);
    CHECK(f.calls("/ship").size() == 4);
}

TEST_CASE("A drop folder that cannot be created is logged once and fails /readyz until it can be", "[integration][tracking]") {
    // A file where the folder's parent should be: not even root can create it.
    feed_stack f("blocked/feed", [](const std::filesystem::path& dir) { write_file(dir / "blocked", "not a folder\n"); });
    const auto feed = f.s.dir / "blocked" / "feed";
    auto unavailable = wait_for_log(f.s.daemon.log(), "tracking_feed_unavailable");
    CHECK(unavailable.at("dir") == feed.string());
    CHECK(unavailable.at("advice").get<std::string>().find("mkdir -p " + feed.string()) != std::string::npos);
    const std::vector<std::pair<std::string, std::string>> bearer = {{"Authorization", std::string("Bearer ") + admin_token}};
    auto ready = http(f.admin_port, "GET", "/readyz", "", bearer);
    INFO(ready.body);
    CHECK(ready.status == 503);
    CHECK(ready.body.find("FAIL tracking_feed: " + feed.string() + " does not exist and cannot be created") != std::string::npos);

    // The operator makes room: the next scan creates the folder and reads what is dropped there.
    std::filesystem::remove(f.s.dir / "blocked");
    wait_for_log(f.s.daemon.log(), "tracking_feed_available", std::chrono::seconds(10));
    CHECK(std::filesystem::is_directory(feed));
    REQUIRE(eventually([&] { return http(f.admin_port, "GET", "/readyz", "", bearer).status == 200; }));
    // Scans went on every second meanwhile: still the one line.
    CHECK(log_lines(f.s.daemon.log(), "tracking_feed_unavailable").size() == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
