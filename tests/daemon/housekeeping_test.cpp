// Tests for daemon/housekeeping.cpp: purge() removes the personal data of
// rows finished longer ago than retention.personal_data (the config in
// force, measured on the injected clock) and keeps every dedupe and
// idempotency key, so a redelivery after the purge still does nothing;
// recent rows keep their data, and so do unfinished ones until they were
// left untouched for the period: then they are settled, purged, and said
// so in one log line.
#include "daemon/housekeeping.hpp"

#include "tests/common/log_capture.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using namespace orderflow;
using namespace orderflow::daemon;
using namespace std::chrono_literals;
using json = nlohmann::json;
using orderflow::daemon::testing::runtime_env;

namespace {

constexpr std::int64_t day = 86400;

const std::string buyer_payload =
    R"({"type":1,"data":{"order_id":"5761","order_status":"AWAITING_SHIPMENT","buyer_name":"山田 太郎"}})";

// An order event received at `at`, finished (`state`) then, or left pending.
std::int64_t add_event(runtime_env& env, const std::string& key, std::int64_t at, const std::string& state = "done") {
    storage::new_event e;
    e.dedupe_key = key;
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = "5761";
    e.payload = buyer_payload;
    e.received_at = at;
    REQUIRE(env.store.add_event(e));
    const auto id = env.store.recent_events(1).front().id;
    if (state != "pending") {
        env.store.set_event_context(id, R"({"order":{"buyer_name":"山田 太郎"}})");
        env.store.finish_event(id, state, "matched: thanks", at);
    }
    return id;
}

const std::string thanks_key = storage::hash_key("thanks|0|order:5761");

// The thank-you for order 5761, planned at `at`.
storage::new_action thanks(std::int64_t at) {
    storage::new_action a;
    a.idem_key = thanks_key;
    a.rule_id = "thanks";
    a.kind = "send_message";
    a.order_id = "5761";
    a.payload = json{{"text", "山田 太郎様、ありがとうございます。"}, {"buyer_user_id", "u-1"}}.dump();
    a.buyer_user_id = "u-1";
    a.created_at = at;
    return a;
}

std::int64_t add_thanks(runtime_env& env, std::int64_t at) {
    REQUIRE(env.store.add_action(thanks(at)));
    return env.store.newest_action_id();
}

storage::new_event redelivery(const std::string& key, std::int64_t at) {
    storage::new_event e;
    e.dedupe_key = key;
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = "5761";
    e.payload = buyer_payload;
    e.received_at = at;
    return e;
}

// Inbox rows that still hold personal data.
std::int64_t unpurged_events(runtime_env& env) {
    auto st = env.db.prepare("SELECT count(*) FROM inbox WHERE payload != '{}' OR context != ''");
    REQUIRE(st.step());
    return st.int64(0);
}

}  // namespace

TEST_CASE("purge blanks the personal data of an old finished event and keeps its dedupe key", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    const auto old_id = add_event(env, "tts:old", env.now - 100 * day);
    const auto recent_id = add_event(env, "tts:recent", env.now - 10 * day);

    house.purge();

    auto old_row = env.store.get_event(old_id);
    REQUIRE(old_row.has_value());
    CHECK(old_row->payload == "{}");
    CHECK(old_row->payload.find("山田") == std::string::npos);
    CHECK(old_row->dedupe_key == "tts:old");
    CHECK(old_row->state == "done");
    CHECK(old_row->note.empty());
    // The webhook delivered again after the purge is still recognised.
    CHECK_FALSE(env.store.add_event(redelivery("tts:old", env.now)));

    auto recent = env.store.get_event(recent_id);
    REQUIRE(recent.has_value());
    CHECK(recent->payload == buyer_payload);
}

// In the daemon the purge has the forget key (daemon/app.cpp): what it
// keeps names the order only by keyed hashes, and it records when it ran
// for `buyer forget` to tell (docs/privacy.md).
TEST_CASE("purge with the forget key hashes the order ids it keeps and records when it ran", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    house.set_forget_key(orderflow::secret(std::string(32, 'k')));
    const auto old_id = add_event(env, "poll:order:5761:AWAITING_SHIPMENT", env.now - 100 * day);
    env.store.audit(env.now - 100 * day, "orderflowd", "send_message", "5761", {{"action_id", 1}, {"conversation_id", "c-5761"}});

    orderflow::testing::log_capture logs;
    house.purge();
    const std::string text = logs.finish();

    const auto row = env.store.get_event(old_id);
    REQUIRE(row);
    CHECK(row->order_id.empty());
    CHECK(row->dedupe_key.starts_with("forgotten:"));
    const auto audit = env.store.recent_audit(1);
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["order_id"].get<std::string>().starts_with("hash:"));
    CHECK(audit[0].dump().find("5761") == std::string::npos);
    CHECK(text.find("\"ids_hashed\":1") != std::string::npos);
    const auto recorded = json::parse(env.store.get_state(storage::last_purge_state).value_or("null"));
    CHECK(recorded == json{{"at", env.now}, {"before", env.now - 90 * day}});
}

TEST_CASE("purge leaves a pending event alone until it has waited for the whole period", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    const auto id = add_event(env, "tts:waiting", env.now - 80 * day, "pending");

    house.purge();
    CHECK(env.store.get_event(id)->payload == buyer_payload);
    CHECK(env.store.get_event(id)->state == "pending");

    // Still unprocessed 90 days after it came: set aside unread and purged.
    env.now += 11 * day;
    house.purge();
    CHECK(env.store.get_event(id)->state == "ignored");
    CHECK(env.store.get_event(id)->payload == "{}");
    CHECK(env.store.get_event(id)->finished_at == env.now);
    CHECK_FALSE(env.store.add_event(redelivery("tts:waiting", env.now)));
}

// Rows that never finish (docs/privacy.md, "How long it is kept") are
// settled by the purge on the daemon's clock, and staff learn of it from one
// line per purge, which names no one, and from the audit log.
TEST_CASE("purge settles rows left unfinished for the period and says so in one line", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    house.set_forget_key(orderflow::secret(std::string(32, 'k')));
    const std::int64_t then = env.now - 100 * day;
    for (int i = 0; i < 3; ++i)
        env.store.raise_review("5761" + std::to_string(i), "send_failed", "warning", "山田 太郎 asked", {{"text", "山田 太郎"}}, then);
    // More than one batch (2,000 rows a table) of events never processed.
    for (int i = 0; i < 2500; ++i) add_event(env, "tts:never-" + std::to_string(i), then, "pending");
    const auto action_id = add_thanks(env, then);
    const auto timer = add_event(env, "tts:later", then, "pending");
    env.db.exec("UPDATE inbox SET not_before = " + std::to_string(env.now + day) + " WHERE id = " + std::to_string(timer));

    orderflow::testing::log_capture logs;
    house.purge();
    const std::string text = logs.finish();

    const auto lines = orderflow::testing::log_lines(text, "retention_expired_unfinished");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["level"] == "warn");
    CHECK(lines[0]["reviews"] == 3);
    CHECK(lines[0]["events"] == 2500);
    CHECK(lines[0]["actions"] == 1);
    CHECK(lines[0]["older_than"] == env.now - 90 * day);
    CHECK_THAT(lines[0].value("advice", ""), Catch::Contains("orderflowctl audit --action review.expire"));
    CHECK(text.find("山田") == std::string::npos);   // no personal data in the log
    const auto purged = orderflow::testing::log_lines(text, "retention_purged");
    REQUIRE(purged.size() == 1);
    CHECK(purged[0]["events"] == 2500);

    CHECK(env.store.open_review_count() == 0);
    const auto audit = env.store.audit_entries(env.now, "", "review.expire", 10);
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["detail"]["count"] == 3);
    CHECK(env.store.get_action(action_id)->state == "skipped");
    CHECK(env.store.get_action(action_id)->updated_at == env.now);
    CHECK_FALSE(env.store.add_action(thanks(env.now)));   // planned again, still refused
    CHECK(env.store.get_event(timer)->state == "pending");
    CHECK(env.store.get_event(timer)->payload == buyer_payload);

    // The next purge finds nothing more, and says nothing.
    orderflow::testing::log_capture again;
    house.purge();
    CHECK(orderflow::testing::log_lines(again.finish(), "retention_expired_unfinished").empty());
}

TEST_CASE("purge measures the retention period from the config in force on the injected clock", "[housekeeping]") {
    runtime_env env([](config& cfg) { cfg.retention.personal_data = std::chrono::hours(7 * 24); });
    housekeeping house(env.ctx, *env.in_force, env.sup);
    const auto just_older = add_event(env, "tts:a", env.now - 7 * day - 1);
    const auto exactly = add_event(env, "tts:b", env.now - 7 * day);

    house.purge();

    CHECK(env.store.get_event(just_older)->payload == "{}");
    CHECK(env.store.get_event(exactly)->payload == buyer_payload);

    // A day later the second one is old enough too.
    env.now += day;
    house.purge();
    CHECK(env.store.get_event(exactly)->payload == "{}");
}

TEST_CASE("purge drops an old order snapshot and blanks a sent message but keeps its idempotency key", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    const std::int64_t then = env.now - 100 * day;
    env.store.put_order({"5761", "AWAITING_SHIPMENT", R"({"buyer_name":"山田 太郎"})", then});
    const auto action_id = add_thanks(env, then);
    env.store.begin_attempt(action_id, then);
    env.store.set_action_state(action_id, "done", "", R"({"message_id":"m-1"})", then);

    house.purge();

    CHECK_FALSE(env.store.get_order("5761").has_value());
    auto row = env.store.get_action(action_id);
    REQUIRE(row.has_value());
    CHECK(row->payload == "{}");
    CHECK(row->result.empty());
    CHECK(row->state == "done");
    // Planned again after the purge, the message is still refused.
    CHECK_FALSE(env.store.add_action(thanks(env.now)));
}

TEST_CASE("purge while the database refuses writes changes nothing and the next purge does the work", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    const auto old_id = add_event(env, "tts:old", env.now - 100 * day);
    {
        orderflow::daemon::testing::outside_write_lock lock(env);
        CHECK_THROWS_AS(house.purge(), storage::storage_error);   // the loop logs retention_failed and tries again
        CHECK(env.store.get_event(old_id)->payload == buyer_payload);
    }
    house.purge();
    CHECK(env.store.get_event(old_id)->payload == "{}");
    CHECK_FALSE(env.store.add_event(redelivery("tts:old", env.now)));
}

TEST_CASE("purge deletes finished events past retention.keys in batches and says what it deleted", "[housekeeping]") {
    runtime_env env([](config& cfg) { cfg.retention.keys = std::chrono::hours(30 * 24); });
    housekeeping house(env.ctx, *env.in_force, env.sup);
    // More than one batch (2,000 rows a table) of old finished events.
    for (int i = 0; i < 4500; ++i) add_event(env, "tts:gone-" + std::to_string(i), env.now - 40 * day);
    const auto kept = add_event(env, "tts:kept", env.now - 20 * day);
    const auto waiting = add_event(env, "tts:waiting", env.now - 40 * day, "pending");

    orderflow::testing::log_capture logs;
    house.purge();
    const std::string text = logs.finish();

    CHECK(env.store.recent_events(10000).size() == 2);
    CHECK(env.store.get_event(kept));
    CHECK(env.store.get_event(waiting));
    CHECK(text.find("\"event\":\"retention_rows_deleted\"") != std::string::npos);
    CHECK(text.find("\"events\":4500") != std::string::npos);
    // Gone means gone: the same webhook now would be new, which is why the
    // keys are kept far past any redelivery (config: 30 days at least).
    CHECK(env.store.add_event(redelivery("tts:gone-1", env.now)));
}

// A backlog of personal data (the first purge of an old database) is purged
// in batches of 2,000 rows a table, each its own transaction, and the event
// loop runs its other work between them: in one transaction, 600,000 events
// held it for 9 s, and two million past the systemd watchdog.
TEST_CASE("The loop purges a backlog of personal data in batches and the event loop runs other work between them", "[housekeeping]") {
    runtime_env env;
    housekeeping house(env.ctx, *env.in_force, env.sup);
    for (int i = 0; i < 4500; ++i) add_event(env, "tts:old-" + std::to_string(i), env.now - 100 * day);
    REQUIRE(unpurged_events(env) == 4500);

    // Another coroutine on the same event loop (a webhook's wake-up, another
    // loop) notes what the purge has committed each time it gets a turn.
    std::vector<std::int64_t> seen;
    bool watching = true;
    asio::co_spawn(env.io, [&]() -> asio::awaitable<void> {
        while (watching) {
            const auto left = unpurged_events(env);
            if (seen.empty() || seen.back() != left) seen.push_back(left);
            co_await asio::post(env.io, asio::use_awaitable);
        }
    }, asio::detached);
    orderflow::testing::log_capture logs;
    asio::co_spawn(env.io, house.loop(), asio::detached);
    REQUIRE(env.run_until([&] { return unpurged_events(env) == 0; }));
    env.run_for(50ms);
    house.stop();
    watching = false;
    env.run_for(50ms);
    const auto lines = orderflow::testing::log_lines(logs.finish(), "retention_purged");

    // It had a turn after each batch of 2,000: three transactions, not one.
    CHECK(seen == std::vector<std::int64_t>{4500, 2500, 500, 0});
    // One line for the whole purge, with its totals.
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["events"] == 4500);
    CHECK(lines[0].value("batches", 0) == 3);
    CHECK_FALSE(env.store.add_event(redelivery("tts:old-1", env.now)));   // the keys stay
}

}  // namespace ORDERFLOW_TEST_FILE
