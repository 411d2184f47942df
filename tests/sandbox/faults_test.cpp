// Tests of fault injection and throttling (open_api.cpp, shop.cpp): random
// shares of 5xx, 429, dropped and slow answers (seeded, never on /control/),
// lost / duplicated / reordered webhooks, tokens that expire early, the
// sliding 1-second rate limit per API template, app and shop, and the call
// summary. Shares are checked loosely over many calls; nothing is timed.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

namespace {

void no_throttle(orderflow::sandbox::shop_options& o) { o.rate_limit_qps = 0; }

}  // namespace

TEST_CASE("Random faults hit roughly their share of Open API calls, reproducibly, never /control/", "[faults]") {
    auto run = [](std::uint64_t seed) {
        fixture f(no_throttle);
        f.authorize();
        json set = body_of(f.control("POST", "/control/faults/random",
                                     {{"error_share", 0.1}, {"throttle_share", 0.1}, {"drop_share", 0.05},
                                      {"drop_after_share", 0.05}, {"slow_share", 0.1}, {"slow_ms", 2500},
                                      {"seed", seed}}));
        CHECK(set["error_share"] == 0.1);
        std::map<std::string, int> seen;
        std::vector<std::string> sequence;
        for (int i = 0; i < 2000; ++i) {
            auto out = f.shop.serve(f.signed_request("GET", "/authorization/202309/shops", {}, "", false));
            const auto& rec = f.shop.calls().back();
            sequence.push_back(rec.fault);
            ++seen[rec.fault];
            if (rec.fault == "drop" || rec.fault == "drop_after") {
                CHECK(out.response.drop);
            } else {
                CHECK_FALSE(out.response.drop);
            }
            if (rec.fault == "slow") {
                CHECK(out.delay == std::chrono::milliseconds(2500));
                CHECK(body_of(out.response)["code"] == 0);   // processed, only late
            } else {
                CHECK(out.delay.count() == 0);
            }
            if (rec.fault == "error_503") {
                CHECK(out.response.status == 503);
                CHECK(body_of(out.response).is_discarded());   // plain text, no envelope
                CHECK_FALSE(rec.has_code);
            }
            if (rec.fault == "error_500") CHECK(body_of(out.response)["code"] == 36009003);
            if (rec.fault == "throttle") {
                CHECK(out.response.status == 429);
                CHECK(body_of(out.response)["code"] == 36009002);
            }
            if (rec.fault == "drop") CHECK(rec.http_status == 0);
            // A control call in between is never faulted nor logged.
            if (i % 100 == 0) CHECK(f.control("GET", "/control/orders").status == 200);
        }
        CHECK(f.shop.calls().size() == 2001);   // token/get + 2000
        auto near = [](int n, double expected) { return n > expected * 0.6 && n < expected * 1.4; };
        CHECK(near(seen["error_500"] + seen["error_503"], 200));
        CHECK(seen["error_500"] > 0);
        CHECK(seen["error_503"] > 0);
        CHECK(near(seen["throttle"], 200));
        CHECK(near(seen["drop"], 100));
        CHECK(near(seen["drop_after"], 100));
        CHECK(near(seen["slow"], 200));
        CHECK(near(seen[""], 1200));
        json read_back = body_of(f.control("GET", "/control/faults/random"));
        CHECK(read_back["slow_ms"] == 2500);
        CHECK(read_back["applied"]["calls"]["throttle"] == seen["throttle"]);
        return sequence;
    };
    auto first = run(7);
    CHECK(run(7) == first);
    CHECK(run(8) != first);
}

TEST_CASE("A call dropped before processing changed nothing, one dropped after, or slow, did happen", "[faults]") {
    fixture f(no_throttle);
    f.authorize();
    json order = f.create_order("AWAITING_SHIPMENT");
    const std::string id = order["id"], package = order["packages"][0]["id"];
    auto ship_request = [&] {
        return f.signed_request("POST", "/fulfillment/202309/packages/" + package + "/ship", {},
                                json{{"self_shipment", {{"tracking_number", "YMT-1234567"}, {"shipping_provider_id", yamato}}}}.dump());
    };
    SECTION("drop") {
        f.control("POST", "/control/faults/random", {{"drop_share", 1.0}});
        auto out = f.shop.serve(ship_request());
        CHECK(out.response.drop);
        CHECK(f.shop.find_order(id)->status == "AWAITING_SHIPMENT");
        CHECK(body_of(f.control("GET", "/control/calls"))["calls"].back()["fault"] == "drop");
    }
    SECTION("drop_after") {
        f.control("POST", "/control/faults/random", {{"drop_after_share", 1.0}});
        auto out = f.shop.serve(ship_request());
        CHECK(out.response.drop);
        CHECK(f.shop.find_order(id)->status == "AWAITING_COLLECTION");
        json logged = body_of(f.control("GET", "/control/calls"))["calls"].back();
        CHECK(logged["fault"] == "drop_after");
        CHECK(logged["code"] == 0);
        CHECK(logged["api"] == "POST /fulfillment/202309/packages/{id}/ship");
    }
    SECTION("garble_after") {
        f.control("POST", "/control/faults/random", {{"garble_after_share", 1.0}});
        auto out = f.shop.serve(ship_request());
        CHECK_FALSE(out.response.drop);
        CHECK(out.response.status == 200);
        CHECK(body_of(out.response).is_discarded());   // a page, not TikTok's envelope
        CHECK(f.shop.find_order(id)->status == "AWAITING_COLLECTION");   // processed
        json logged = body_of(f.control("GET", "/control/calls"))["calls"].back();
        CHECK(logged["fault"] == "garble_after");
        CHECK(logged["http_status"] == 200);
        CHECK(logged["code"].is_null());
    }
    SECTION("slow") {
        f.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 100}});
        auto out = f.shop.serve(ship_request());
        CHECK(out.delay == std::chrono::milliseconds(100));
        CHECK(f.shop.find_order(id)->status == "AWAITING_COLLECTION");
    }
    SECTION("shares adding up to more than 1 are refused") {
        CHECK(f.control("POST", "/control/faults/random", {{"drop_share", 0.6}, {"slow_share", 0.6}}).status == 400);
        CHECK(f.control("POST", "/control/faults/random", {{"drop_share", 2}}).status == 400);
        CHECK(f.control("POST", "/control/faults/random", {{"drop_share", 0.5}, {"garble_after_share", 0.6}}).status == 400);
    }
}

TEST_CASE("Webhooks: a share is lost, a share delivered twice with the same notification id", "[faults][webhooks]") {
    fixture f([](auto& o) { o.faults.webhook_lose_share = 0.2; o.faults.webhook_duplicate_share = 0.2; });
    for (int i = 0; i < 300; ++i) f.create_order();
    const auto& all = f.shop.deliveries();
    int lost = 0, duplicates = 0;
    std::set<std::string> ids;
    for (std::size_t i = 0; i < all.size(); ++i) {
        ids.insert(all[i].notification_id);
        if (all[i].lost) ++lost;
        if (all[i].duplicate) {
            ++duplicates;
            REQUIRE(i > 0);
            CHECK(all[i - 1].notification_id == all[i].notification_id);
            CHECK(all[i - 1].body == all[i].body);
            CHECK(all[i - 1].signature == all[i].signature);
        }
    }
    CHECK(ids.size() == 300);
    CHECK(lost > 30);
    CHECK(lost < 90);
    CHECK(duplicates > 25);
    CHECK(duplicates < 80);
    CHECK(all.size() == 300u + static_cast<std::size_t>(duplicates));

    // Lost ones are never handed to the sender; every other one is.
    REQUIRE_FALSE(f.shop.set_webhook_url("http://127.0.0.1:9/hook"));
    std::size_t sent = 0;
    std::chrono::steady_clock::time_point next;
    const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (auto seq = f.shop.next_delivery(later, next)) {
        CHECK_FALSE(f.shop.find_delivery(*seq)->lost);
        f.shop.record_attempt(*seq, 200, "", later);
        ++sent;
    }
    CHECK(sent == all.size() - static_cast<std::size_t>(lost));
    json listed = body_of(f.control("GET", "/control/webhooks"))["webhooks"];
    CHECK(std::count_if(listed.begin(), listed.end(), [](const json& w) { return w["lost"] == true; }) == lost);
    CHECK(body_of(f.control("GET", "/control/faults/random"))["applied"]["webhooks_lost"] == lost);
}

TEST_CASE("With webhook_reorder_ms notifications may overtake each other", "[faults][webhooks]") {
    fixture f([](auto& o) { o.faults.webhook_reorder_ms = 1000; });
    for (int i = 0; i < 30; ++i) f.create_order();
    REQUIRE_FALSE(f.shop.set_webhook_url("http://127.0.0.1:9/hook"));
    std::vector<std::uint64_t> order;
    std::chrono::steady_clock::time_point next;
    const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (auto seq = f.shop.next_delivery(later, next)) {
        order.push_back(*seq);
        f.shop.record_attempt(*seq, 200, "", later);
    }
    REQUIRE(order.size() == 30);
    CHECK_FALSE(std::is_sorted(order.begin(), order.end()));
}

TEST_CASE("token_early_share: a token stops working before its stated expiry", "[faults][oauth]") {
    fixture f([](auto& o) { o.faults.token_early_share = 1.0; o.faults.token_early_after = 60; });
    json code = body_of(f.control("POST", "/control/authorize", json::object()));
    json env = f.token_get(code["code"]);
    REQUIRE(env["code"] == 0);
    CHECK(env["data"]["access_token_expire_in"] == f.clock + 604800);   // what it says
    f.access_token = env["data"]["access_token"];
    f.clock += 59;
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
    f.clock += 1;
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 105002);
    CHECK(body_of(f.control("GET", "/control/faults/random"))["applied"]["tokens_early"] == 1);
}

TEST_CASE("Throttling counts per API template, app and shop in a sliding 1-second window", "[open_api][rate]") {
    std::int64_t ms = 1'700'000'000'500;
    fixture f([&](auto& o) { o.clock_ms = [&] { return ms; }; });
    f.authorize();
    json a = f.create_order("AWAITING_SHIPMENT", "7000000000000000001");
    json b = f.create_order("AWAITING_SHIPMENT", "7000000000000000002");
    auto conversation = [&](const json& o) {
        return f.call("POST", "/customer_service/202309/conversations", {}, json{{"buyer_user_id", o["user_id"]}}.dump())["data"]["conversation_id"].get<std::string>();
    };
    const std::string ca = conversation(a), cb = conversation(b);
    auto messages = [&](const std::string& c) {
        return f.call("GET", "/customer_service/202309/conversations/" + c + "/messages", {{"page_size", "10"}});
    };
    for (int i = 0; i < 25; ++i) {
        REQUIRE(messages(ca)["code"] == 0);
        REQUIRE(messages(cb)["code"] == 0);
    }
    // Two conversation ids, one API: the 51st call is throttled.
    CHECK(messages(ca)["code"] == 36009002);
    CHECK(messages(cb)["code"] == 36009002);
    // Another API is not.
    CHECK(f.call("GET", "/customer_service/202309/conversations", {{"page_size", "5"}})["code"] == 0);
    // Another shop's bucket is separate (and then refused for its cipher, not for rate).
    CHECK(f.call("GET", "/customer_service/202309/conversations/" + ca + "/messages",
                 {{"page_size", "10"}, {"shop_cipher", "ROW_other"}}, "", false)["code"] == 101000);
    ms += 999;
    CHECK(messages(ca)["code"] == 36009002);   // sliding: the first calls are 999 ms old
    ms += 1;
    CHECK(messages(ca)["code"] == 0);

    json summary = body_of(f.control("GET", "/control/calls/summary?path=/customer_service/"));
    CHECK(summary["by_api"]["GET /customer_service/202309/conversations/{id}/messages"] == 55);
    CHECK(summary["by_code"]["36009002"] == 3);
    CHECK(summary["by_code"]["101000"] == 1);
    bool found = false;
    for (const auto& p : summary["by_status_code"])
        if (p["http_status"] == 429 && p["code"] == 36009002) found = p["count"] == 3;
    CHECK(found);
}

TEST_CASE("The call summary counts per path, per API and per (http_status, code)", "[calls]") {
    fixture f(no_throttle);
    f.authorize();
    json order = f.create_order();
    f.call("GET", "/order/202309/orders", {{"ids", order["id"].get<std::string>()}});
    f.call("GET", "/order/202309/orders", {{"ids", "1"}});
    auto bad = f.signed_request("GET", "/authorization/202309/shops", {}, "", false);
    bad.target.replace(bad.target.find("sign=") + 5, 1, "x");   // the sign no longer matches
    f.shop.handle(bad);
    f.control("POST", "/control/faults/random", {{"error_share", 1.0}, {"seed", 3}});
    for (int i = 0; i < 4; ++i) f.call("GET", "/authorization/202309/shops", {}, "", false);

    json s = body_of(f.control("GET", "/control/calls/summary"));
    CHECK(s["total"] == 8);
    CHECK(s["by_path"]["/order/202309/orders"] == 2);
    CHECK(s["by_api"]["GET /order/202309/orders"] == 2);
    CHECK(s["by_code"]["0"] == 2);
    CHECK(s["by_code"]["21008111"] == 1);
    CHECK(s["by_code"]["106001"] == 1);
    CHECK(s["by_fault"]["error_500"].get<int>() + s["by_fault"]["error_503"].get<int>() == 4);
    int none = s["by_code"].value("none", 0);
    CHECK(none == s["by_fault"].value("error_503", 0));
    json since = body_of(f.control("GET", "/control/calls/summary?since_seq=4"));
    CHECK(since["total"] == 4);
    json calls = body_of(f.control("GET", "/control/calls"))["calls"];
    CHECK(calls[3]["fault"].is_null());
    CHECK(calls[4]["fault"].is_string());
}

}  // namespace ORDERFLOW_TEST_FILE
