// Tests for daemon/reconcile.hpp: every branch of reconciling a send whose
// outcome is unknown, against pages shaped like Get Conversation Messages
// (newest first; `content` is a JSON string).
#include "daemon/reconcile.hpp"

#include <catch2/catch.hpp>

#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::daemon;
using json = nlohmann::json;

namespace {

json message(const std::string& id, const std::string& role, const std::string& text, std::int64_t at) {
    return {{"id", id}, {"type", "TEXT"}, {"create_time", at}, {"sender", {{"role", role}}},
            {"content", json{{"content", text}}.dump()}};
}

}  // namespace

TEST_CASE("A page holding the exact text from the shop after the send began finds it", "[reconcile]") {
    json page{{"messages", {message("m3", "BUYER", "ありがとう", 1300), message("m2", "SHOP", "ご注文ありがとうございます。", 1200),
                            message("m1", "SHOP", "別の文", 1100)}},
              {"next_page_token", "p2"}};
    auto scan = scan_page(page, "ご注文ありがとうございます。", 1000);
    CHECK(scan.found);
    CHECK(scan.message_id == "m2");
    CHECK(decide_reconcile(scan.found, scan.complete, 1) == reconcile_verdict::delivered);
    CHECK(decide_reconcile(scan.found, scan.complete, 5) == reconcile_verdict::delivered);
}

TEST_CASE("The same text is not the one we sent when a buyer wrote it, or when it is older than the send", "[reconcile]") {
    const std::string text = "ご注文ありがとうございます。";
    SECTION("from the buyer") {
        auto scan = scan_page({{"messages", {message("m1", "BUYER", text, 1200)}}}, text, 1000);
        CHECK_FALSE(scan.found);
    }
    SECTION("sent before the action was planned") {
        auto scan = scan_page({{"messages", {message("m1", "SHOP", text, 900)}}, {"next_page_token", "p2"}}, text, 1000);
        CHECK_FALSE(scan.found);
        CHECK(scan.complete);   // reached back past the send: nothing older can be it
    }
    SECTION("customer service counts as the shop") {
        CHECK(scan_page({{"messages", {message("m1", "CUSTOMER_SERVICE", text, 1200)}}}, text, 1000).found);
    }
    SECTION("a different text") {
        CHECK_FALSE(scan_page({{"messages", {message("m1", "SHOP", text + "!", 1200)}}}, text, 1000).found);
    }
}

TEST_CASE("A look is complete when the page is empty, reaches back past the send, or is the last", "[reconcile]") {
    const std::string text = "x";
    auto [page, complete] = GENERATE(table<json, bool>({
        {json{{"messages", json::array()}, {"next_page_token", "p2"}}, true},                                  // empty
        {json{{"messages", {message("m1", "SHOP", "y", 1200)}}}, true},                                       // no next page
        {json{{"messages", {message("m1", "SHOP", "y", 1200)}}, {"next_page_token", ""}}, true},              // empty token
        {json{{"messages", {message("m1", "SHOP", "y", 1200), message("m0", "BUYER", "z", 990)}}, {"next_page_token", "p2"}}, true},
        {json{{"messages", {message("m1", "SHOP", "y", 1200)}}, {"next_page_token", "p2"}}, false},          // more to read
    }));
    auto scan = scan_page(page, text, 1000);
    CHECK_FALSE(scan.found);
    CHECK(scan.complete == complete);
    if (!complete) CHECK(scan.next_page_token == "p2");
}

TEST_CASE("Malformed pages and messages are passed over, never thrown on", "[reconcile]") {
    const std::string text = "x";
    const json bad_messages = json::array({1, "two", json::object(), json{{"content", 5}},
                                           json{{"content", "{not json"}, {"create_time", "late"}}});
    const std::vector<json> pages{json(nullptr), json("text"), json::array(), json{{"messages", "nope"}},
                                  json{{"messages", bad_messages}, {"next_page_token", 7}}};
    for (const json& page : pages) {
        CAPTURE(page.dump());
        page_scan scan;
        REQUIRE_NOTHROW(scan = scan_page(page, text, 1000));
        CHECK_FALSE(scan.found);
        CHECK(scan.complete);
    }
}

TEST_CASE("Not found after a complete look is sent again, at most three times, otherwise a person decides", "[reconcile]") {
    auto [found, complete, resent, verdict] = GENERATE(table<bool, bool, int, reconcile_verdict>({
        {true, true, 0, reconcile_verdict::delivered},
        {true, false, 0, reconcile_verdict::delivered},
        {true, true, 1, reconcile_verdict::delivered},
        {false, true, 0, reconcile_verdict::send_again},
        {false, true, 1, reconcile_verdict::send_again},   // the resend was lost too (a dropped connection): looked at again
        {false, true, 2, reconcile_verdict::send_again},
        {false, true, 3, reconcile_verdict::inconclusive}, // three resends: a person looks, never a fourth
        {false, false, 0, reconcile_verdict::inconclusive},// ten pages and still not back to the send
    }));
    CAPTURE(found, complete, resent);
    CHECK(decide_reconcile(found, complete, resent) == verdict);
}

}  // namespace ORDERFLOW_TEST_FILE
