// Tests for daemon/notify.cpp, what staff notifications say: the JSON payload
// of one review alert, of a digest of several (a storm) and of the daily
// heartbeat, and the one-line text that chat channels get for each, which is
// what a person on call reads first. Pure functions over plain values.
#include "daemon/notify.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using json = nlohmann::json;

namespace {

storage::review_item review(std::int64_t id, std::string order, std::string severity, std::string summary) {
    storage::review_item r;
    r.id = id;
    r.order_id = std::move(order);
    r.reason = "send_failed";
    r.severity = std::move(severity);
    r.summary = std::move(summary);
    r.created_at = 1'790'000'000;
    r.updated_at = 1'790'000'100;
    return r;
}

std::size_t count_of(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
    return n;
}

}  // namespace

TEST_CASE("Severity names rank info, warning, critical, unknown names count as warning", "[notify]") {
    auto [name, rank] = GENERATE(table<std::string, int>({
        {"info", 0}, {"warning", 1}, {"critical", 2}, {"", 1}, {"bogus", 1}, {"CRITICAL", 1}}));
    CHECK(daemon::severity_rank(name) == rank);
}

TEST_CASE("A review alert names the order and says which command to run", "[notify]") {
    const auto payload = daemon::review_notification(review(7, "576461413038785752", "warning", "message to buyer failed"));
    CHECK(payload["kind"] == "review");
    CHECK(payload["review_id"] == 7);
    CHECK(payload["order_id"] == "576461413038785752");
    CHECK(payload["reason"] == "send_failed");
    CHECK(payload["severity"] == "warning");
    CHECK(payload["act"] == "orderflowctl review show 7");
    CHECK(payload["at"] == 1'790'000'100);
    CHECK(daemon::notification_text(payload) ==
          "[warning] order 576461413038785752: message to buyer failed. Act: orderflowctl review show 7");

    SECTION("without an order the text leaves the order out") {
        const auto no_order = daemon::review_notification(review(8, "", "critical", "the shop's token expired"));
        CHECK(daemon::notification_text(no_order) == "[critical] the shop's token expired. Act: orderflowctl review show 8");
    }
}

TEST_CASE("A digest takes the highest severity of its items, counts them and lists each one", "[notify]") {
    const std::vector<json> items = {
        daemon::review_notification(review(11, "1001", "info", "address changed after shipping")),
        daemon::review_notification(review(12, "1002", "critical", "send result unknown")),
        daemon::review_notification(review(13, "", "warning", "rule thanks skipped by the cap")),
    };
    const auto digest = daemon::digest_notification(items, 1'790'000'500);
    CHECK(digest["kind"] == "digest");
    CHECK(digest["count"] == 3);
    CHECK(digest["severity"] == "critical");
    CHECK(digest["items"] == json(items));
    CHECK(digest["act"] == "orderflowctl review list");
    CHECK(digest["at"] == 1'790'000'500);

    CHECK(daemon::notification_text(digest) ==
          "[critical] 3 review items:\n"
          "- #11 order 1001: address changed after shipping\n"
          "- #12 order 1002: send result unknown\n"
          "- #13 rule thanks skipped by the cap\n"
          "Act: orderflowctl review list");

    SECTION("the highest severity wins whatever the order of the items") {
        using row = std::tuple<std::vector<std::string>, std::string>;
        auto [severities, highest] = GENERATE(table<std::vector<std::string>, std::string>({
            row{{"info", "info"}, "info"},
            row{{"info", "warning", "info"}, "warning"},
            row{{"critical", "info", "warning"}, "critical"},
            row{{"warning", "warning", "critical"}, "critical"},
        }));
        std::vector<json> some;
        for (std::size_t i = 0; i < severities.size(); ++i)
            some.push_back(daemon::review_notification(review(static_cast<std::int64_t>(i + 1), "1", severities[i], "s")));
        const auto d = daemon::digest_notification(some, 0);
        CHECK(d["severity"] == highest);
        CHECK(d["count"] == severities.size());
        CHECK_THAT(daemon::notification_text(d), Catch::StartsWith("[" + highest + "] " + std::to_string(severities.size()) + " review items:\n"));
    }
}

TEST_CASE("A digest of 25 items shows the first 20 and says how many more there are", "[notify]") {
    std::vector<json> items;
    for (int i = 1; i <= 25; ++i)
        items.push_back(daemon::review_notification(review(i, "order-" + std::to_string(i), "warning", "item " + std::to_string(i))));
    const auto digest = daemon::digest_notification(items, 0);
    CHECK(digest["count"] == 25);
    CHECK(digest["items"].size() == 25);   // the payload keeps them all; only the text is cut

    const auto text = daemon::notification_text(digest);
    INFO(text);
    CHECK_THAT(text, Catch::StartsWith("[warning] 25 review items:\n- #1 order order-1: item 1\n"));
    CHECK_THAT(text, Catch::Contains("\n- #20 order order-20: item 20\n... and 5 more\n"));
    CHECK_THAT(text, Catch::EndsWith("\n... and 5 more\nAct: orderflowctl review list"));
    CHECK(count_of(text, "\n- #") == 20);
    CHECK(count_of(text, "#21 ") == 0);

    SECTION("exactly 20 items are all shown, with no \"more\" line") {
        items.resize(20);
        const auto all = daemon::notification_text(daemon::digest_notification(items, 0));
        CHECK(count_of(all, "\n- #") == 20);
        CHECK_THAT(all, !Catch::Contains("more"));
        CHECK_THAT(all, Catch::EndsWith("\n- #20 order order-20: item 20\nAct: orderflowctl review list"));
    }
    SECTION("21 items show 20 and one more") {
        items.resize(21);
        const auto cut = daemon::notification_text(daemon::digest_notification(items, 0));
        CHECK(count_of(cut, "\n- #") == 20);
        CHECK_THAT(cut, Catch::EndsWith("\n... and 1 more\nAct: orderflowctl review list"));
    }
}

TEST_CASE("The heartbeat says what the last day brought and whether sending is paused", "[notify]") {
    storage::activity_summary day;
    day.messages_sent = 43;
    day.reviews_open = 2;
    day.events_processed = 120;

    SECTION("a quiet day mentions no failures") {
        const auto hb = daemon::heartbeat_notification(day, false, 1'790'000'000);
        const std::string summary = hb["summary"];
        CHECK(hb["kind"] == "heartbeat");
        CHECK(hb["severity"] == "info");
        CHECK(hb["sending_paused"] == false);
        CHECK(hb["at"] == 1'790'000'000);
        CHECK(hb["counts"]["messages_sent"] == 43);
        CHECK(hb["counts"]["reviews_open"] == 2);
        CHECK_THAT(summary, Catch::Contains("43 messages sent"));
        CHECK_THAT(summary, Catch::Contains("2 need review"));
        CHECK_THAT(summary, !Catch::Contains("failed"));
        CHECK_THAT(summary, !Catch::Contains("unknown"));
        CHECK_THAT(summary, !Catch::Contains("PAUSED"));
        CHECK(hb["act"] == "orderflowctl review list");   // there are open reviews
        CHECK(daemon::notification_text(hb) == "[info] " + summary + ". Act: orderflowctl review list");
    }
    SECTION("failed and unknown sends are mentioned with their counts") {
        day.messages_failed = 3;
        day.messages_unknown = 1;
        const std::string summary = daemon::heartbeat_notification(day, false, 0)["summary"];
        CHECK_THAT(summary, Catch::Contains("43 messages sent"));
        CHECK_THAT(summary, Catch::Contains("3 failed"));
        CHECK_THAT(summary, Catch::Contains("1 unknown"));
    }
    SECTION("only the non-zero one of failed and unknown is mentioned") {
        day.messages_unknown = 4;
        const std::string summary = daemon::heartbeat_notification(day, false, 0)["summary"];
        CHECK_THAT(summary, Catch::Contains("4 unknown"));
        CHECK_THAT(summary, !Catch::Contains("failed"));
    }
    SECTION("nothing to review and nothing to do: the text has no Act") {
        day.reviews_open = 0;
        const auto hb = daemon::heartbeat_notification(day, false, 0);
        CHECK_THAT(hb["summary"].get<std::string>(), Catch::Contains("0 need review"));
        CHECK(hb["act"] == "");
        CHECK_THAT(daemon::notification_text(hb), !Catch::Contains("Act:"));
    }
    SECTION("paused sending is critical and says so") {
        const auto hb = daemon::heartbeat_notification(day, true, 0);
        CHECK(hb["severity"] == "critical");
        CHECK(hb["sending_paused"] == true);
        CHECK_THAT(hb["summary"].get<std::string>(), Catch::Contains("SENDING IS PAUSED"));
        CHECK(hb["act"] == "orderflowctl status");
        CHECK_THAT(daemon::notification_text(hb), Catch::StartsWith("[critical] ") && Catch::Contains("SENDING IS PAUSED") &&
                                                      Catch::EndsWith("Act: orderflowctl status"));
    }
}

}  // namespace ORDERFLOW_TEST_FILE
