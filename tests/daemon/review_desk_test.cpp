// Tests for daemon/review_desk.cpp: raise() opens a review item and queues
// one notification for every channel whose min_severity the item reaches,
// waking the notifier; the same case raised again only counts, so staff are
// not told twice; a case raised after it was resolved is a new item.
#include "daemon/review_desk.hpp"

#include "tests/daemon/runtime_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using json = nlohmann::json;
using orderflow::daemon::testing::runtime_env;

namespace {

config::channel slack(const std::string& name, const std::string& min_severity) {
    config::channel ch;
    ch.name = name;
    ch.type = "slack";
    ch.url = "http://127.0.0.1:9/hooks/" + name;
    ch.min_severity = min_severity;
    return ch;
}

// Three channels: everything, warnings and worse, critical only.
void three_channels(config& cfg) {
    cfg.channels = {slack("all", "info"), slack("staff", "warning"), slack("oncall", "critical")};
}

// The channels that have a notification queued for the item.
std::multiset<std::string> channels_told(runtime_env& env, std::int64_t review_id) {
    std::multiset<std::string> out;
    for (const auto& n : env.store.recent_notifications(100))
        if (n.review_id == review_id) out.insert(n.channel);
    return out;
}

}  // namespace

TEST_CASE("raise opens an item and queues a notification for each channel the severity reaches", "[review_desk]") {
    runtime_env env(three_channels);

    const auto id = env.desk->raise("5761", "send_failed", "warning", "rule thanks: send_message failed", {{"code", 45101003}});

    auto item = env.store.get_review(id);
    REQUIRE(item.has_value());
    CHECK(item->state == "open");
    CHECK(item->order_id == "5761");
    CHECK(item->reason == "send_failed");
    CHECK(item->severity == "warning");
    CHECK(item->occurrences == 1);
    CHECK(json::parse(item->evidence) == json{{"code", 45101003}});
    CHECK(channels_told(env, id) == std::multiset<std::string>{"all", "staff"});
    CHECK(env.notifier_wakes == 1);
}

TEST_CASE("A critical item reaches every channel and an info item only the channels taking info", "[review_desk]") {
    runtime_env env(three_channels);
    const auto severity = GENERATE(std::string("critical"), std::string("info"));

    const auto id = env.desk->raise("", "database_file_missing", severity, "the database file was deleted", json::object());

    if (severity == "critical") CHECK(channels_told(env, id) == std::multiset<std::string>{"all", "oncall", "staff"});
    else CHECK(channels_told(env, id) == std::multiset<std::string>{"all"});
}

TEST_CASE("The notification queued carries the item for the channel", "[review_desk]") {
    runtime_env env(three_channels);

    const auto id = env.desk->raise("5761", "event_failed", "critical", "order.status_changed could not be processed", json::object());

    auto queued = env.store.due_notifications(env.now, 10);
    REQUIRE_FALSE(queued.empty());
    for (const auto& n : queued) {
        CHECK(n.dedupe == "review:" + std::to_string(id));
        CHECK(n.state == "pending");
        CHECK(n.payload.find("event_failed") != std::string::npos);
    }
}

TEST_CASE("The same case raised again counts one more occurrence and queues nothing more", "[review_desk]") {
    runtime_env env(three_channels);
    const auto first = env.desk->raise("5761", "send_failed", "warning", "first failure", json::object());
    env.now += 60;

    const auto second = env.desk->raise("5761", "send_failed", "warning", "second failure", {{"attempt", 2}});

    CHECK(second == first);
    auto item = env.store.get_review(first);
    REQUIRE(item.has_value());
    CHECK(item->occurrences == 2);
    CHECK(item->summary == "second failure");
    CHECK(channels_told(env, first).size() == 2);
    CHECK(env.notifier_wakes == 1);
    CHECK(env.store.recent_notifications(100).size() == 2);
}

TEST_CASE("Another order or another reason is another item with its own notifications", "[review_desk]") {
    runtime_env env(three_channels);
    const auto first = env.desk->raise("5761", "send_failed", "warning", "failed", json::object());

    const auto other_order = env.desk->raise("5762", "send_failed", "warning", "failed", json::object());
    const auto other_reason = env.desk->raise("5761", "event_failed", "warning", "failed", json::object());

    CHECK(other_order != first);
    CHECK(other_reason != first);
    CHECK(other_reason != other_order);
    CHECK(channels_told(env, other_order).size() == 2);
    CHECK(channels_told(env, other_reason).size() == 2);
    CHECK(env.notifier_wakes == 3);
}

TEST_CASE("A case raised again after staff resolved it opens a new item and tells staff again", "[review_desk]") {
    runtime_env env(three_channels);
    const auto first = env.desk->raise("5761", "send_failed", "warning", "failed", json::object());
    REQUIRE(env.store.set_review_state(first, "resolved", "staff", "resent by hand", env.now));
    env.now += 3600;

    const auto again = env.desk->raise("5761", "send_failed", "warning", "failed again", json::object());

    CHECK(again != first);
    CHECK(env.store.get_review(again)->occurrences == 1);
    CHECK(channels_told(env, again).size() == 2);
    CHECK(env.notifier_wakes == 2);
}

TEST_CASE("Without channels an item is still opened and nothing is queued", "[review_desk]") {
    runtime_env env;   // no channels configured

    const auto id = env.desk->raise("5761", "send_failed", "critical", "failed", json::object());

    CHECK(env.store.get_review(id).has_value());
    CHECK(env.store.recent_notifications(10).empty());
}

}  // namespace ORDERFLOW_TEST_FILE
