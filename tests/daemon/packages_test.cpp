#include "daemon/packages.hpp"

#include "daemon/events.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/ingress/webhook_ingress.hpp"
#include "daemon/security_watch.hpp"
#include "daemon/storage_watch.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/http.hpp"

#include <catch2/catch.hpp>

#include <optional>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using json = nlohmann::json;
using namespace orderflow;
using namespace orderflow::daemon;
namespace support = orderflow::daemon::testing;

namespace {

constexpr const char* order_a = "576461413038785001";
constexpr const char* order_b = "576461413038785002";

tikapi::webhook_event package_webhook(json package_list, const std::string& sc_type = "SPLIT") {
    tikapi::webhook_event w;
    w.type = 4;
    w.notification_id = "7327112393057371999";
    w.shop_id = "7494049642642441621";
    w.timestamp = 1'790'000'000;
    w.data = {{"sc_type", sc_type}, {"role_type", "ROLE_SELLER"}, {"update_time", 1'790'000'000},
              {"package_list", std::move(package_list)}};
    return w;
}

json split_list() {
    return json::array({{{"package_id", "1152000000000000001"}, {"order_id_list", json::array({order_a})}},
                        {{"package_id", "1152000000000000002"}, {"order_id_list", json::array({order_a})}}});
}

tikapi::line_item item(const std::string& package_id, const std::string& status, const std::string& tracking = "") {
    tikapi::line_item li;
    li.id = "li-" + package_id + status;
    li.package_id = package_id;
    li.package_status = status;
    li.tracking_number = tracking;
    li.shipping_provider_name = tracking.empty() ? "" : "Yamato Transport";
    return li;
}

}  // namespace

TEST_CASE("A package update fans out into one inbox row per package and order, each keyed and addressed", "[packages]") {
    SECTION("a split: one order, two packages") {
        auto rows = inbox_events_from_webhook(package_webhook(split_list()), "{}", 100);
        REQUIRE(rows.size() == 2u);
        CHECK(rows[0].dedupe_key == "tts:7327112393057371999#1152000000000000001#576461413038785001");
        CHECK(rows[1].dedupe_key == "tts:7327112393057371999#1152000000000000002#576461413038785001");
        for (const auto& r : rows) {
            CHECK(r.event == "package.updated");
            CHECK(r.order_id == order_a);
            CHECK(r.topic == 4);
            CHECK(r.source == "webhook");
            CHECK(r.received_at == 100);
            CHECK(r.change_key.empty());
        }
        const json payload = json::parse(rows[1].payload);
        CHECK(payload["tts_notification_id"] == "7327112393057371999");
        CHECK(payload["data"]["package_id"] == "1152000000000000002");
        CHECK(payload["data"]["order_id"] == order_a);
        CHECK(payload["data"]["sc_type"] == "SPLIT");
        // Only its own package's entry of the list: a row per pair holding
        // every pair would grow with the square of the body.
        CHECK(payload["data"]["package_list"] ==
              json::array({{{"package_id", "1152000000000000002"}, {"order_id_list", json::array({order_a})}}}));
    }
    SECTION("a combined package: one row per order, integer ids read as text, repeats once") {
        json list = json::array({{{"package_id", 1152000000000000003ULL}, {"order_id_list", json::array({order_a, order_b, order_a})}},
                                 "not an entry", {{"package_id", ""}, {"order_id_list", json::array({order_a})}}});
        auto rows = inbox_events_from_webhook(package_webhook(list, "COMBINE"), "{}", 100);
        REQUIRE(rows.size() == 2u);
        CHECK(rows[0].order_id == order_a);
        CHECK(rows[1].order_id == order_b);
        CHECK(rows[1].dedupe_key == "tts:7327112393057371999#1152000000000000003#576461413038785002");
        const json fields = package_event_fields(json::parse(rows[1].payload)["data"]);
        CHECK(fields["sc_type"] == "COMBINE");
        CHECK(fields["role_type"] == "ROLE_SELLER");
        CHECK(fields["package_orders"] == json::array({order_a, order_b}));
    }
    SECTION("without a notification id the key hashes the content, then names the pair") {
        auto w = package_webhook(split_list());
        w.notification_id.clear();
        auto rows = inbox_events_from_webhook(w, "{}", 100);
        REQUIRE(rows.size() == 2u);
        CHECK(rows[0].dedupe_key.rfind("h:", 0) == 0);
        CHECK(rows[0].dedupe_key.size() > std::string("#1152000000000000001#576461413038785001").size());
        CHECK(rows[0].dedupe_key.substr(0, rows[0].dedupe_key.find('#')) == rows[1].dedupe_key.substr(0, rows[1].dedupe_key.find('#')));
    }
    SECTION("a package update naming no package is one row, as before") {
        auto w = package_webhook(json::array());
        w.data["order_id"] = order_a;
        auto rows = inbox_events_from_webhook(w, "{\"raw\":1}", 100);
        REQUIRE(rows.size() == 1u);
        CHECK(rows[0].dedupe_key == "tts:7327112393057371999");
        CHECK(rows[0].payload == "{\"raw\":1}");
        CHECK(rows[0].order_id == order_a);
    }
    SECTION("other topics are one row holding the body as received") {
        auto w = package_webhook(split_list());
        w.type = 1;
        auto rows = inbox_events_from_webhook(w, "{\"raw\":1}", 100);
        REQUIRE(rows.size() == 1u);
        CHECK(rows[0].dedupe_key == "tts:7327112393057371999");
        CHECK(rows[0].payload == "{\"raw\":1}");
    }
}

TEST_CASE("package.updated needs its order, and the order view lists the packages", "[packages]") {
    CHECK(needs_order("package.updated"));
    tikapi::order o;
    o.id = order_a;
    o.line_items = {item("P1", "FULFILLING", "YMT-1"), item("P1", "FULFILLING", "YMT-1"), item("P2", "PROCESSING")};
    o.package_ids = {"P1", "P2", "P3"};
    const json view = order_view(o);
    CHECK(view["package_count"] == 3);
    REQUIRE(view["packages"].size() == 3u);
    CHECK(view["packages"][0] == json{{"id", "P1"}, {"status", "FULFILLING"}, {"tracking_number", "YMT-1"},
                                      {"shipping_provider", "Yamato Transport"}});
    CHECK(view["packages"][1]["status"] == "PROCESSING");
    CHECK(view["packages"][1]["tracking_number"] == "");
    CHECK(view["packages"][2]["status"] == "");   // in packages[] only

    json event_data = {{"package_id", "P2"}};
    add_package_status(event_data, "package.updated", o);
    CHECK(event_data["package_status"] == "PROCESSING");
    json other = {{"package_id", "P2"}};
    add_package_status(other, "tracking.received", o);
    CHECK_FALSE(other.contains("package_status"));
}

TEST_CASE("Which packages shipped is read per package, and described for the warehouse", "[packages]") {
    tikapi::order o;
    o.line_items = {item("P1", "FULFILLING", "YMT-1"), item("P2", "PROCESSING"), item("P3", "COMPLETED")};
    o.package_ids = {"P1", "P2", "P3"};
    CHECK(package_shipped(o, "P1") == true);
    CHECK(package_shipped(o, "P2") == false);
    CHECK(package_shipped(o, "P3") == true);
    CHECK_FALSE(package_shipped(o, "P9").has_value());
    CHECK(describe_packages(o) == "P1 shipped with YMT-1, P2 not shipped, P3 shipped");
    CHECK(package_with_tracking(o, "YMT-1") == std::optional<std::string>("P1"));
    CHECK_FALSE(package_with_tracking(o, "YMT-2").has_value());
}

TEST_CASE("A package update webhook is stored as one row per pair in one commit, and a redelivery adds none", "[packages][webhook_ingress]") {
    support::runtime_env env;
    auto in_force = env.in_force_with([](config&) {});
    storage_watch watch{env.ctx, *env.desk, env.sup, {}};
    inbox_writer writer{env.ctx, watch};
    orderflow::secret app_secret{support::test_app_secret};
    security_watch security{env.ctx, *env.desk};
    int wakes = 0;
    webhook_ingress ingress{env.ctx, *in_force, app_secret, writer, security, [&] { ++wakes; }};
    const auto w = package_webhook(split_list());
    const std::string body = json{{"type", 4}, {"tts_notification_id", w.notification_id}, {"shop_id", w.shop_id},
                                  {"timestamp", w.timestamp}, {"data", w.data}}.dump();
    auto deliver = [&] {
        tikapi::http_request req;
        req.method = "POST";
        req.target = "/webhooks/tiktok";
        req.body = body;
        req.headers.push_back({"Authorization", tikapi::webhook_signature(support::test_app_key, support::test_app_secret, body)});
        std::optional<tikapi::http_response> got;
        env.drive([&]() -> asio::awaitable<void> { got = co_await ingress.handle(req); });
        REQUIRE(got.has_value());
        return got->status;
    };
    const auto commits_before = writer.commits();
    CHECK(deliver() == 200);
    CHECK(writer.commits() == commits_before + 1);   // both rows in one transaction
    auto events = env.store.recent_events(10);
    REQUIRE(events.size() == 2u);
    for (const auto& e : events) {
        CHECK(e.event == "package.updated");
        CHECK(e.order_id == order_a);
    }
    CHECK(deliver() == 200);
    CHECK(env.store.recent_events(10).size() == 2u);
    CHECK(wakes == 1);
}

TEST_CASE("A package update naming more pairs than orderflow takes is refused with 400 and stores nothing", "[packages][webhook_ingress]") {
    support::runtime_env env;
    auto in_force = env.in_force_with([](config&) {});
    const orderflow::secret app_secret{support::test_app_secret};
    // `packages` packages of `orders` orders each.
    auto judged = [&](std::size_t packages, std::size_t orders) {
        json list = json::array();
        for (std::size_t p = 0; p < packages; ++p) {
            json ids = json::array();
            for (std::size_t i = 0; i < orders; ++i) ids.push_back(std::to_string(576461413038700000ULL + p * orders + i));
            list.push_back({{"package_id", std::to_string(1152000000000000000ULL + p)}, {"order_id_list", ids}});
        }
        const auto w = package_webhook(list, "COMBINE");
        tikapi::http_request req;
        req.method = "POST";
        req.target = "/webhooks/tiktok";
        req.body = json{{"type", 4}, {"tts_notification_id", w.notification_id}, {"shop_id", w.shop_id},
                        {"timestamp", w.timestamp}, {"data", w.data}}.dump();
        req.headers.push_back({"Authorization", tikapi::webhook_signature(support::test_app_key, support::test_app_secret, req.body)});
        return judge_webhook(in_force->cfg(), app_secret, req, env.now);
    };
    const auto at_limit = judged(max_package_pairs, 1);
    CHECK(at_limit.status == 200);
    REQUIRE(at_limit.events.size() == max_package_pairs);
    // Each row holds its own package's entry, not all 500: the rows grow
    // with the body, not with its square.
    const json last = json::parse(at_limit.events.back().payload);
    CHECK(last["data"]["package_list"] ==
          json::array({{{"package_id", "1152000000000000499"}, {"order_id_list", json::array({"576461413038700499"})}}}));
    CHECK(at_limit.events.back().payload.size() < 1024);

    const auto over = judged(1, max_package_pairs + 1);
    CHECK(over.status == 400);
    CHECK(over.problem == "a package update naming 501 (package, order) pairs, more than the 500 orderflow takes in one webhook");
    CHECK(over.events.empty());
}

}  // namespace ORDERFLOW_TEST_FILE
