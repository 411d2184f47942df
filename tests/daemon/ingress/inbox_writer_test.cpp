// Tests for daemon/ingress/inbox_writer.hpp: the group commit on the writer's
// own thread (events queued while a commit waits are written together in the
// next one and each writer learns its own outcome), add_now for the poller's
// pages, and `unavailable` when the database file is gone or the database
// refuses the write. Against the real SQLite database of runtime_env.
#include "daemon/ingress/inbox_writer.hpp"

#include "daemon/storage_watch.hpp"
#include "daemon/telemetry.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace orderflow;
using namespace orderflow::daemon;
using namespace std::chrono_literals;
using orderflow::daemon::testing::runtime_env;

namespace {

storage::new_event webhook_event(const std::string& key, std::int64_t now) {
    storage::new_event e;
    e.dedupe_key = key;
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = "576461413038785001";
    e.payload = R"({"type":1})";
    e.received_at = now;
    return e;
}

std::size_t inbox_size(runtime_env& env) { return env.store.recent_events(100).size(); }

// The writer and what it needs, on runtime_env.
struct writer_env {
    explicit writer_env(std::chrono::milliseconds busy_timeout = 5s, std::chrono::milliseconds slow_commit = 1s)
        : writer(env.ctx, watch, busy_timeout, nullptr, slow_commit) {}
    runtime_env env;
    storage_watch watch{env.ctx, *env.desk, env.sup, {}};
    inbox_writer writer;

    write_outcome enqueue(const std::string& key) {
        std::optional<write_outcome> got;
        env.drive([&]() -> asio::awaitable<void> { got = co_await writer.enqueue(webhook_event(key, env.now)); });
        REQUIRE(got.has_value());
        return *got;
    }
};

}  // namespace

TEST_CASE("Events queued while a commit waits for the database are committed together and each writer learns its own outcome", "[inbox_writer]") {
    writer_env w(30s);
    REQUIRE(w.env.store.add_event(webhook_event("tts:already-in", w.env.now)));
    // Another connection holds the write lock: the writer's first commit
    // waits for it, as it would for a slow disk, and the rest queue up.
    auto other = storage::database::open(w.env.db.path());
    other.exec("BEGIN IMMEDIATE");
    const std::vector<std::string> keys{"tts:first", "tts:already-in", "tts:second", "tts:first"};
    std::vector<std::optional<write_outcome>> outcomes(keys.size());
    auto spawn = [&](std::size_t i) {
        asio::co_spawn(w.env.io, [&, i]() -> asio::awaitable<void> {
            outcomes[i] = co_await w.writer.enqueue(webhook_event(keys[i], w.env.now));
        }, asio::detached);
    };
    spawn(0);
    w.env.run_for(200ms);
    for (std::size_t i = 1; i < keys.size(); ++i) spawn(i);
    w.env.run_for(200ms);
    for (const auto& o : outcomes) REQUIRE_FALSE(o.has_value());   // no answer before the commit
    CHECK(inbox_size(w.env) == 1);
    other.exec("ROLLBACK");

    REQUIRE(w.env.run_until([&] { return std::all_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.has_value(); }); }));
    CHECK(*outcomes[0] == write_outcome::inserted);
    CHECK(*outcomes[1] == write_outcome::duplicate);
    CHECK(*outcomes[2] == write_outcome::inserted);
    CHECK(*outcomes[3] == write_outcome::duplicate);   // the same key twice in one batch is one event
    CHECK(inbox_size(w.env) == 3);                     // already-in, first, second
    // Four events, at most two commits: the first alone (taken before the
    // rest were queued), the other three together. One per event would be four.
    CHECK(w.writer.committed_events() == 4);
    CHECK(w.writer.commits() <= 2);
}

TEST_CASE("A later enqueue opens a new batch and a redelivery is a duplicate", "[inbox_writer]") {
    writer_env w;
    CHECK(w.enqueue("tts:once") == write_outcome::inserted);
    CHECK(w.enqueue("tts:once") == write_outcome::duplicate);
    CHECK(w.enqueue("tts:other") == write_outcome::inserted);
    CHECK(inbox_size(w.env) == 2);
}

TEST_CASE("add_now commits a page at once and counts only the events that were new", "[inbox_writer]") {
    writer_env w;
    REQUIRE(w.env.store.add_event(webhook_event("poll:seen", w.env.now)));
    CHECK(w.writer.add_now({webhook_event("poll:a", w.env.now), webhook_event("poll:seen", w.env.now), webhook_event("poll:b", w.env.now)}) == 2);
    CHECK(inbox_size(w.env) == 3);
    CHECK(w.writer.add_now({}) == 0);
    CHECK(w.writer.add_now({webhook_event("poll:a", w.env.now)}) == 0);
    CHECK(inbox_size(w.env) == 3);
}

TEST_CASE("While the database file is missing nothing is committed and the writer hears unavailable", "[inbox_writer]") {
    writer_env w;
    const fs::path file = w.env.db.path();
    const fs::path aside = w.env.dir / "moved-away.db";
    fs::rename(file, aside);

    CHECK(w.enqueue("tts:while-gone") == write_outcome::unavailable);
    CHECK(inbox_size(w.env) == 0);
    // Staff hear of it through a critical review item.
    auto items = w.env.store.reviews(false, 10);
    REQUIRE(items.size() == 1);
    CHECK(items[0].reason == "database_file_missing");
    CHECK(items[0].severity == "critical");

    // Moved back: the same event (TikTok retries it) goes in.
    fs::rename(aside, file);
    CHECK(w.enqueue("tts:while-gone") == write_outcome::inserted);
    CHECK(inbox_size(w.env) == 1);
}

TEST_CASE("When the database refuses the write every writer in the batch hears unavailable and add_now throws", "[inbox_writer]") {
    writer_env w(0ms);
    // Another connection holds the write lock; no waiting for it here.
    w.env.db.exec("PRAGMA busy_timeout = 0");
    auto other = storage::database::open(w.env.db.path());
    other.exec("BEGIN IMMEDIATE");

    std::optional<write_outcome> a, b;
    w.env.drive([&]() -> asio::awaitable<void> {
        asio::co_spawn(w.env.io, [&]() -> asio::awaitable<void> { b = co_await w.writer.enqueue(webhook_event("tts:b", w.env.now)); },
                       asio::detached);
        a = co_await w.writer.enqueue(webhook_event("tts:a", w.env.now));
    });
    REQUIRE(w.env.run_until([&] { return b.has_value(); }));
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(*a == write_outcome::unavailable);
    CHECK(*b == write_outcome::unavailable);
    CHECK_THROWS_AS(w.writer.add_now({webhook_event("poll:c", w.env.now)}), storage::storage_error);

    other.exec("ROLLBACK");
    CHECK(inbox_size(w.env) == 0);
    CHECK(w.enqueue("tts:a") == write_outcome::inserted);
    CHECK(w.writer.add_now({webhook_event("poll:c", w.env.now)}) == 1);
}

TEST_CASE("Every commit's time is in orderflow_inbox_commit_seconds and a slow one is logged once a minute with what waited", "[inbox_writer]") {
    auto& histogram = telemetry::timing("orderflow_inbox_commit_seconds");
    const auto before = histogram.count();
    // Commits above half a second so far (the registry is the process's).
    auto above_half_second = [&] {
        std::uint64_t n = 0;
        const auto& bounds = histogram.bounds();
        for (std::size_t i = 0; i <= bounds.size(); ++i)
            if (i == bounds.size() || bounds[i] > 0.5) n += histogram.in_bucket(i);
        return n;
    };
    const auto slow_before = above_half_second();
    writer_env w(30s, 500ms);
    CHECK(w.enqueue("tts:quick") == write_outcome::inserted);
    CHECK(histogram.count() == before + 1);
    // A new minute: should the first commit's fsync have been slow (a busy
    // CI disk), its line does not hold back the ones below.
    w.env.now += 60;

    // Another connection holds the write lock for twice the threshold: the
    // commit waits for it, as it would for a slow fsync.
    auto slow_commit = [&](const std::string& key) {
        auto other = storage::database::open(w.env.db.path());
        other.exec("BEGIN IMMEDIATE");
        std::optional<write_outcome> got;
        asio::co_spawn(w.env.io, [&]() -> asio::awaitable<void> { got = co_await w.writer.enqueue(webhook_event(key, w.env.now)); },
                       asio::detached);
        w.env.run_for(1s);
        REQUIRE_FALSE(got.has_value());
        other.exec("ROLLBACK");
        REQUIRE(w.env.run_until([&] { return got.has_value(); }));
        CHECK(*got == write_outcome::inserted);
    };
    orderflow::testing::log_capture logs;
    slow_commit("tts:slow-1");
    slow_commit("tts:slow-2");   // within the minute: counted, not logged
    w.env.now += 59;
    slow_commit("tts:slow-3");   // still within it
    auto lines = orderflow::testing::log_lines(logs.finish(), "inbox_commit_slow");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["level"] == "warn");
    CHECK(lines[0]["ms"].get<long>() >= 500);   // the threshold: the lock was held for about a second
    CHECK(lines[0]["waiting"] == 1);
    CHECK(lines[0]["slow_since_last_line"] == 0);
    CHECK_THAT(lines[0]["advice"].get<std::string>(), Catch::Contains("fsync"));
    CHECK(histogram.count() == before + 4);
    CHECK(above_half_second() >= slow_before + 3);

    // A minute after the line, the next slow commit gets one, with the two
    // held back since.
    w.env.now += 1;
    orderflow::testing::log_capture later;
    slow_commit("tts:slow-4");
    slow_commit("tts:slow-5");   // held back again, counted from that line
    lines = orderflow::testing::log_lines(later.finish(), "inbox_commit_slow");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["slow_since_last_line"] == 2);

    w.env.now += 60;
    orderflow::testing::log_capture last;
    slow_commit("tts:slow-6");
    lines = orderflow::testing::log_lines(last.finish(), "inbox_commit_slow");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["slow_since_last_line"] == 1);
}

TEST_CASE("A commit that fails is not timed as the disk's", "[inbox_writer]") {
    auto& histogram = telemetry::timing("orderflow_inbox_commit_seconds");
    writer_env w(0ms, 1ms);
    auto other = storage::database::open(w.env.db.path());
    other.exec("BEGIN IMMEDIATE");
    const auto before = histogram.count();
    orderflow::testing::log_capture logs;
    CHECK(w.enqueue("tts:refused") == write_outcome::unavailable);
    const auto text = logs.finish();
    CHECK(histogram.count() == before);
    CHECK(orderflow::testing::log_lines(text, "inbox_commit_failed").size() == 1);
    CHECK(orderflow::testing::log_lines(text, "inbox_commit_slow").empty());
    other.exec("ROLLBACK");
}

// A full disk fails every commit, and TikTok retries every webhook: one line
// per failed commit was 55 lines for 15 webhooks.
TEST_CASE("A failed commit is logged at most once a minute with how many failed since the last line", "[inbox_writer]") {
    writer_env w(0ms);
    auto other = storage::database::open(w.env.db.path());
    other.exec("BEGIN IMMEDIATE");

    orderflow::testing::log_capture logs;
    CHECK(w.enqueue("tts:a") == write_outcome::unavailable);
    CHECK(w.enqueue("tts:b") == write_outcome::unavailable);   // within the minute: counted, not logged
    w.env.now += 59;
    CHECK(w.enqueue("tts:a") == write_outcome::unavailable);   // TikTok's retry, still within it
    auto lines = orderflow::testing::log_lines(logs.finish(), "inbox_commit_failed");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["level"] == "error");
    CHECK(lines[0]["events"] == 1);
    CHECK(lines[0]["failed_since_last_line"] == 0);

    // A minute after the line, the next failure gets one, with the two held back.
    w.env.now += 1;
    orderflow::testing::log_capture later;
    CHECK(w.enqueue("tts:b") == write_outcome::unavailable);
    CHECK(w.enqueue("tts:c") == write_outcome::unavailable);
    lines = orderflow::testing::log_lines(later.finish(), "inbox_commit_failed");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["failed_since_last_line"] == 2);

    other.exec("ROLLBACK");
    CHECK(w.enqueue("tts:a") == write_outcome::inserted);
}

}  // namespace ORDERFLOW_TEST_FILE
