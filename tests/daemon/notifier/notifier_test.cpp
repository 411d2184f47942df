// Tests for daemon/notifier/notifier.hpp: deliver() to each kind of staff
// channel (a command with the notification on stdin, a chat incoming
// webhook, a signed JSON webhook served on a loopback port 0), several
// review alerts as one digest, and a failing channel retried with backoff.
// What the channel received is checked, and the notification rows' state.
#include "daemon/notifier/notifier.hpp"

#include "daemon/notify.hpp"
#include "storage/retention.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/http.hpp"
#include "tikapi/signing.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;

namespace {

constexpr const char* hook_secret = "notifier-test-hook-secret-5b1f";

// A chat or webhook endpoint on a loopback port 0, on its own thread (it
// must exist before the environment, whose config names its URL). It
// records every request and answers with `status`.
struct hook_server {
    hook_server()
        : server(io.get_executor(), "127.0.0.1", 0, [this](tikapi::http_request& req) -> asio::awaitable<tikapi::http_response> {
              std::lock_guard lock(mutex);
              received.push_back(req);
              tikapi::http_response r;
              r.status = status.load();
              r.body = "ok";
              co_return r;
          }) {
        server.start();
        thread = std::thread([this] { io.run(); });
    }
    ~hook_server() {
        asio::post(io, [this] { server.stop(); });
        thread.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(server.port()) + "/hooks/orderflow"; }
    std::vector<tikapi::http_request> requests() {
        std::lock_guard lock(mutex);
        return received;
    }

    asio::io_context io;
    tikapi::http_server server;
    std::thread thread;
    std::mutex mutex;
    std::vector<tikapi::http_request> received;
    std::atomic<int> status = 200;   // set by the test's thread, read by the server's
};

// A chat ("slack") or signed ("webhook") channel to `url`; a webhook's key
// is hook_secret, in a file beside the config as orderflowd reads it.
config::channel http_channel(const config& c, const std::string& name, const std::string& type, const std::string& url) {
    config::channel ch;
    ch.name = name;
    ch.type = type;
    ch.url = url;
    if (type == "webhook") {
        const auto file = c.file.parent_path() / (name + ".secret");
        std::ofstream(file) << hook_secret << "\n";
        std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        ch.secret_file = secret_path(file, "channels." + name + ".secret_file");
    }
    return ch;
}

config::channel command_channel(const std::string& name, std::vector<std::string> argv) {
    config::channel ch;
    ch.name = name;
    ch.type = "command";
    ch.command = std::move(argv);
    return ch;
}

// The notifier, with command channels run on a thread of their own as in the daemon.
struct notifier_rig {
    explicit notifier_rig(runtime_env& env_)
        : env(env_), notify(env.ctx, *env.in_force, env.sup, commands.get_executor(), [] { return false; }) {}

    // Delivers what is due now, as one message per channel; returns the storage error ("" when none).
    std::string deliver_due() {
        auto due = env.store.due_notifications(env.now, 100);
        REQUIRE_FALSE(due.empty());
        std::string error;
        env.drive([&]() -> asio::awaitable<void> { error = co_await notify.deliver(due); });
        return error;
    }

    runtime_env& env;
    asio::thread_pool commands{1};
    notifier notify;
};

storage::notification_row notification(runtime_env& env, std::int64_t id) {
    for (auto& n : env.store.recent_notifications(100))
        if (n.id == id) return n;
    FAIL("no notification " << id);
    return {};
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("deliver() to a command channel writes the notification as JSON on its stdin and marks it sent", "[notifier]") {
    runtime_env env(thanks_rules, [](config& c) {
        const auto out = (c.file.parent_path() / "notified.json").string();
        c.channels = {command_channel("ops", {"sh", "-c", "cat > '" + out + "'"})};
    });
    notifier_rig rig(env);
    const auto review_id = env.desk->raise("O-1", "send_failed", "warning", "rule thanks: send_message failed", json::object());
    REQUIRE(rig.deliver_due().empty());

    const json got = json::parse(read_file(env.dir / "notified.json"), nullptr, false);
    REQUIRE(got.is_object());
    CHECK(got["kind"] == "review");
    CHECK(got["review_id"] == review_id);
    CHECK(got["order_id"] == "O-1");
    const auto rows = env.store.recent_notifications(10);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].state == "sent");
    CHECK(env.store.due_notifications(env.now + 86400, 10).empty());
}

TEST_CASE("deliver() posts to chat and webhook channels, signing what goes to a webhook", "[notifier]") {
    hook_server hook;
    const std::string type = GENERATE("slack", "webhook");
    runtime_env env(thanks_rules, [&](config& c) { c.channels = {http_channel(c, "staff", type, hook.url())}; });
    notifier_rig rig(env);
    env.desk->raise("O-2", "send_unknown", "critical", "a message may or may not have reached the buyer", json::object());
    REQUIRE(rig.deliver_due().empty());

    const auto got = hook.requests();
    REQUIRE(got.size() == 1);
    CHECK(got[0].method == "POST");
    CHECK(got[0].path() == "/hooks/orderflow");
    const json body = json::parse(got[0].body, nullptr, false);
    REQUIRE(body.is_object());
    if (type == "slack") {
        CHECK_THAT(body.value("text", ""), Catch::StartsWith("[critical] order O-2: a message may or may not have reached the buyer"));
        CHECK(got[0].header("X-Orderflow-Signature").empty());
    } else {
        CHECK(body["kind"] == "review");
        CHECK(body["severity"] == "critical");
        CHECK(got[0].header("X-Orderflow-Signature") == "sha256=" + tikapi::hmac_sha256_hex(hook_secret, got[0].body));
    }
    CHECK(env.store.recent_notifications(10).front().state == "sent");
}

TEST_CASE("deliver() of several review alerts sends one digest and marks every row sent", "[notifier]") {
    hook_server hook;
    runtime_env env(thanks_rules, [&](config& c) { c.channels = {http_channel(c, "chat", "slack", hook.url())}; });
    notifier_rig rig(env);
    env.desk->raise("O-3", "send_failed", "warning", "first", json::object());
    env.desk->raise("O-4", "send_failed", "critical", "second", json::object());
    REQUIRE(rig.deliver_due().empty());

    const auto got = hook.requests();
    REQUIRE(got.size() == 1);
    const std::string text = json::parse(got[0].body).value("text", "");
    CHECK_THAT(text, Catch::StartsWith("[critical] 2 review items:") && Catch::Contains("order O-3: first") && Catch::Contains("order O-4: second"));
    for (const auto& n : env.store.recent_notifications(10)) CHECK(n.state == "sent");
}

TEST_CASE("A failing channel keeps the notification pending with backoff and counts the attempt", "[notifier]") {
    hook_server hook;
    const std::string failure = GENERATE("command", "http");
    runtime_env env(thanks_rules, [&](config& c) {
        if (failure == "command") {
            c.channels = {command_channel("ops", {"sh", "-c", "cat > /dev/null; exit 3"})};
        } else {
            c.channels = {http_channel(c, "ops", "slack", hook.url())};
        }
    });
    hook.status = 503;
    notifier_rig rig(env);
    env.desk->raise("O-5", "send_failed", "warning", "rule thanks: send_message failed", json::object());
    const auto id = env.store.due_notifications(env.now, 10).front().id;

    REQUIRE(rig.deliver_due().empty());
    auto n = notification(env, id);
    CHECK(n.state == "pending");
    CHECK(n.attempts == 1);
    CHECK(n.not_before == env.now + 5);
    CHECK_FALSE(n.last_error.empty());
    if (failure == "http") CHECK(n.last_error == "HTTP 503");
    CHECK(env.store.due_notifications(env.now, 10).empty());

    // The next failure waits twice as long.
    env.now = n.not_before;
    REQUIRE(rig.deliver_due().empty());
    n = notification(env, id);
    CHECK(n.attempts == 2);
    CHECK(n.not_before == env.now + 10);

    // Once the channel takes it, it is sent and not delivered again.
    if (failure == "http") {
        hook.status = 200;
        env.now = n.not_before;
        REQUIRE(rig.deliver_due().empty());
        CHECK(notification(env, id).state == "sent");
        CHECK(hook.requests().size() == 3);
    }
}

TEST_CASE("A review alert waiting for a retry goes in the next message the channel takes, not alone after it", "[notifier]") {
    hook_server hook;
    runtime_env env(thanks_rules, [&](config& c) {
        c.channels = {http_channel(c, "ops", "webhook", hook.url())};
        c.heartbeat_at = std::nullopt;   // review alerts only
    });
    hook.status = 503;
    notifier_rig rig(env);
    bool ended = false;
    asio::co_spawn(env.io, rig.notify.loop(), [&](std::exception_ptr) { ended = true; });
    env.desk->raise("O-1", "circuit_breaker", "critical", "sending paused", json::object());
    const auto first = env.store.due_notifications(env.now, 10).front().id;
    rig.notify.wake();
    const bool tried = env.run_until([&] { return notification(env, first).attempts == 1; });
    CHECK(notification(env, first).state == "pending");   // waits 5 s for its retry

    // The channel is back, and two more items open before that retry is due.
    hook.status = 200;
    env.desk->raise("O-2", "send_failed", "warning", "rule thanks: send_message failed", json::object());
    env.desk->raise("O-3", "send_failed", "warning", "rule thanks: send_message failed", json::object());
    rig.notify.wake();
    const bool all_sent = env.run_until([&] {
        for (const auto& n : env.store.recent_notifications(10))
            if (n.state != "sent") return false;
        return true;
    });
    rig.notify.stop();
    REQUIRE(env.run_until([&] { return ended; }));
    REQUIRE(tried);
    REQUIRE(all_sent);
    const auto got = hook.requests();
    REQUIRE(got.size() == 2);   // the failed try, then one digest of all three
    const auto digest = json::parse(got[1].body);
    CHECK(digest["kind"] == "digest");
    CHECK(digest["count"] == 3);
    CHECK(digest["severity"] == "critical");
    CHECK(digest["items"][0]["order_id"] == "O-1");
}

TEST_CASE("A notification for a channel no longer configured fails at once and is purged like a delivered one", "[notifier]") {
    runtime_env env(thanks_rules, [&](config& c) { c.channels = {command_channel("ops", {"sh", "-c", "cat > /dev/null"})}; });
    notifier_rig rig(env);
    // Queued for a channel the operator has since removed (and reloaded).
    REQUIRE(env.store.add_notification("gone", "review:7", 7, {{"summary", "a buyer's words"}}, env.now));
    const auto id = env.store.due_notifications(env.now, 10).front().id;

    REQUIRE(rig.deliver_due().empty());
    auto n = notification(env, id);
    CHECK(n.state == "failed");
    CHECK(n.attempts == 1);
    CHECK(n.last_error == "channel 'gone' is no longer configured");
    CHECK(env.store.due_notifications(env.now + 86400, 10).empty());   // never retried

    // The retention purge deletes it once it is old, as it does delivered ones.
    const auto purged = storage::purge_personal_data(env.db, env.now + 1);
    CHECK(purged.notifications == 1);
    CHECK(env.store.recent_notifications(10).empty());
}

TEST_CASE("A notification delivered while the database refused its outcome is recorded afterwards and not delivered again", "[notifier]") {
    runtime_env env(thanks_rules, [](config& c) {
        const auto out = (c.file.parent_path() / "notified.jsonl").string();
        c.channels = {command_channel("ops", {"sh", "-c", "cat >> '" + out + "' && echo >> '" + out + "'"})};
    });
    notifier_rig rig(env);
    env.desk->raise("O-1", "send_failed", "warning", "rule thanks: send_message failed", json::object());
    auto deliveries = [&] {
        std::ifstream in(env.dir / "notified.jsonl");
        int lines = 0;
        for (std::string line; std::getline(in, line);) lines += !line.empty();
        return lines;
    };

    std::optional<outside_write_lock> lock(std::in_place, env);
    bool ended = false;
    asio::co_spawn(env.io, rig.notify.loop(), [&](std::exception_ptr) { ended = true; });
    REQUIRE(env.run_until([&] { return deliveries() == 1; }));
    // The loop backs off and tries again to record the outcome, still in
    // vain; it does not deliver the same notification a second time.
    env.run_for(std::chrono::milliseconds(1500));
    CHECK(deliveries() == 1);
    CHECK(env.store.recent_notifications(10).at(0).state == "pending");

    lock.reset();
    REQUIRE(env.run_until([&] { return env.store.recent_notifications(10).at(0).state == "sent"; }));
    rig.notify.stop();
    REQUIRE(env.run_until([&] { return ended; }));
    CHECK(deliveries() == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
