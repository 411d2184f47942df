// Tests for daemon/ingress/poller.hpp: one pass over orders or
// conversations (poll_orders, poll_messages) against the sandbox shop, with
// the real client, token keeper and inbox. What the seller relies on: a
// change the webhook lost is found once, with the change key its webhook
// has (so a late webhook adds nothing more), the shop's history before
// poll.start is left alone, and the cursors move forward only after a
// complete pass. Time moves by env.now alone.
#include "daemon/ingress/poller.hpp"

#include "daemon/data_rights.hpp"
#include "daemon/events.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/storage_watch.hpp"
#include "storage/buyer_data.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/webhook.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <variant>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using json = nlohmann::json;
using namespace orderflow;
using namespace orderflow::daemon;
using orderflow::daemon::testing::runtime_env;

namespace {

// The poller and what it needs, on runtime_env, authorized. start_at: poll.start (nullopt: "now").
struct poller_env {
    runtime_env env;
    std::unique_ptr<rules_in_force> in_force;
    storage_watch watch{env.ctx, *env.desk, env.sup, {}};
    inbox_writer writer{env.ctx, watch};
    int wakes = 0;
    std::unique_ptr<poller> poll;

    explicit poller_env(std::optional<std::int64_t> start_at = std::nullopt) {
        env.authorize();
        in_force = env.in_force_with([&](config& c) { c.poll.start_at = start_at; });
        poll = std::make_unique<poller>(env.ctx, *in_force, *env.api, *env.tokens, writer, watch, env.sup, [this] { ++wakes; });
    }

    // One pass; true when TikTok said the token expired.
    bool orders_pass() {
        std::optional<bool> expired;
        env.drive([&]() -> asio::awaitable<void> {
            const orderflow::secret* token = co_await env.tokens->access();
            REQUIRE(token != nullptr);
            expired = co_await poll->poll_orders(*token);
        });
        REQUIRE(expired.has_value());
        return *expired;
    }
    bool messages_pass() {
        std::optional<bool> expired;
        env.drive([&]() -> asio::awaitable<void> {
            const orderflow::secret* token = co_await env.tokens->access();
            REQUIRE(token != nullptr);
            expired = co_await poll->poll_messages(*token);
        });
        REQUIRE(expired.has_value());
        return *expired;
    }
    std::vector<storage::event_row> events() { return env.store.recent_events(100); }
    std::string state(const char* name) { return env.store.get_state(name).value_or("(none)"); }

    // The webhook the sandbox made for a change (its record of what it sent), as ingress stores it.
    std::optional<storage::new_event> webhook_for(int type, const std::string& field, const std::string& value) {
        auto list = env.control("GET", "/control/webhooks");
        for (const auto& w : list.at("webhooks")) {
            const json& payload = w.at("payload");
            if (payload.value("type", 0) != type || !payload.contains("data")) continue;
            if (payload["data"].value(field, "") != value) continue;
            if (type == 1 && payload["data"].value("order_status", "") != "AWAITING_SHIPMENT") continue;
            auto parsed = tikapi::parse_webhook(payload.dump());
            REQUIRE(std::holds_alternative<tikapi::webhook_event>(parsed));
            return inbox_event_from_webhook(std::get<tikapi::webhook_event>(parsed), payload.dump(), env.now);
        }
        return std::nullopt;
    }
};

// A paid order, ready to ship, changed at the env's current time.
std::string changed_order(runtime_env& env) {
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    return id;
}

}  // namespace

TEST_CASE("The first orders pass reads from poll.start and finds an order changed since with the change key its webhook has", "[poller]") {
    const std::int64_t t0 = 1'790'000'000;
    poller_env p(t0 - 300);
    p.env.now = t0 - 1000;
    changed_order(p.env);   // before poll.start: history, never polled
    p.env.now = t0 - 200;
    const std::string after_start = changed_order(p.env);
    p.env.now = t0;

    CHECK_FALSE(p.orders_pass());
    auto events = p.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].order_id == after_start);
    CHECK(events[0].source == "poll");
    CHECK(events[0].event == "order.status_changed");
    CHECK(events[0].dedupe_key == "poll:order:" + after_start + ":AWAITING_SHIPMENT");
    CHECK(json::parse(events[0].payload)["data"]["order_status"] == "AWAITING_SHIPMENT");
    CHECK(p.wakes == 1);
    // The next pass reads from the start point again (cursor minus the overlap), never from before it.
    CHECK(p.state("poll.orders") == std::to_string(t0 - 300 + 600));

    // The webhook TikTok sent for the same change arrives late: it is kept
    // (every acknowledged webhook is), but not processed a second time.
    auto late = p.webhook_for(1, "order_id", after_start);
    REQUIRE(late.has_value());
    CHECK(late->change_key == "order:" + after_start + ":AWAITING_SHIPMENT");
    REQUIRE(p.env.store.add_event(*late));
    // Both wait for the pipeline, which takes them in inbox order: the poll
    // claims the change, and the webhook finds it claimed (it is ignored then).
    auto pending = p.env.store.pending_events(p.env.now, 10);
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].source == "poll");
    CHECK(p.env.store.claim_change(pending[0].id, pending[0].change_key) == pending[0].id);
    CHECK(p.env.store.claim_change(pending[1].id, pending[1].change_key) == pending[0].id);
}

TEST_CASE("A second orders pass adds nothing and the cursor moves to the start of the last complete pass", "[poller]") {
    const std::int64_t t0 = 1'790'000'000;
    poller_env p(t0 - 300);
    p.env.now = t0 - 100;
    changed_order(p.env);
    p.env.now = t0;
    CHECK_FALSE(p.orders_pass());
    REQUIRE(p.events().size() == 1);

    CHECK_FALSE(p.orders_pass());
    CHECK(p.events().size() == 1);
    CHECK(p.wakes == 1);

    // An hour on, another order changes; the pass finds it alone and the
    // cursor moves to when that pass started.
    p.env.now = t0 + 3600 - 30;
    const std::string later = changed_order(p.env);
    p.env.now = t0 + 3600;
    CHECK_FALSE(p.orders_pass());
    auto events = p.events();
    REQUIRE(events.size() == 2);
    CHECK(events[0].order_id == later);   // newest first
    CHECK(p.wakes == 2);
    CHECK(p.state("poll.orders") == std::to_string(t0 + 3600));

    // The overlap reads the same change again; it is one event.
    p.env.now = t0 + 3700;
    CHECK_FALSE(p.orders_pass());
    CHECK(p.events().size() == 2);
    CHECK(p.state("poll.orders") == std::to_string(t0 + 3700));
}

TEST_CASE("With poll.start now the first pass leaves the shop's history alone", "[poller]") {
    poller_env p;   // poll.start "now"
    const std::int64_t t0 = p.env.now;
    p.env.now = t0 - 10;
    changed_order(p.env);
    p.env.now = t0;
    CHECK_FALSE(p.orders_pass());
    CHECK(p.events().empty());
    CHECK(p.wakes == 0);
    CHECK(p.state("poll.orders") == std::to_string(t0 + 600));
}

TEST_CASE("An orders pass whose token TikTok calls expired says so and leaves the cursor where it was", "[poller]") {
    poller_env p;
    CHECK_FALSE(p.orders_pass());
    const std::string cursor = p.state("poll.orders");
    p.env.now += 3600;
    changed_order(p.env);
    p.env.control("POST", "/control/tokens/expire");
    CHECK(p.orders_pass());
    CHECK(p.state("poll.orders") == cursor);
    CHECK(p.events().empty());
}

TEST_CASE("A messages pass finds a buyer message once with the change key its webhook has", "[poller]") {
    poller_env p(1'790'000'000 - 60);
    const std::string order = p.env.create_order();
    p.env.now += 5;
    auto sent = p.env.control("POST", "/control/messages", {{"order_id", order}, {"text", "まだ届きません"}});
    const std::string message_id = sent.at("message_id").get<std::string>();
    const std::string conversation_id = sent.at("conversation_id").get<std::string>();
    p.env.now += 5;

    CHECK_FALSE(p.messages_pass());
    auto events = p.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].event == "message.received");
    CHECK(events[0].source == "poll");
    CHECK(events[0].dedupe_key == "poll:msg:" + message_id);
    auto data = json::parse(events[0].payload)["data"];
    CHECK(data["conversation_id"] == conversation_id);
    CHECK_THAT(data["content"].get<std::string>(), Catch::Contains("まだ届きません"));
    CHECK(p.wakes == 1);
    // The buyer's conversation is remembered, for replies.
    CHECK(p.env.store.conversation_for(sent.at("user_id").get<std::string>()) == conversation_id);

    // Read again: nothing more.
    p.env.now += 60;
    CHECK_FALSE(p.messages_pass());
    CHECK(p.events().size() == 1);
    CHECK(p.wakes == 1);

    // The NEW_MESSAGE webhook for it, arriving late, is not processed again.
    auto late = p.webhook_for(14, "message_id", message_id);
    REQUIRE(late.has_value());
    CHECK(late->change_key == "msg:" + message_id);
    REQUIRE(p.env.store.add_event(*late));
    // Both wait for the pipeline, which takes them in inbox order: the poll
    // claims the change, and the webhook finds it claimed (it is ignored then).
    auto pending = p.env.store.pending_events(p.env.now, 10);
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].source == "poll");
    CHECK(p.env.store.claim_change(pending[0].id, pending[0].change_key) == pending[0].id);
    CHECK(p.env.store.claim_change(pending[1].id, pending[1].change_key) == pending[0].id);

    SECTION("a later message in the same conversation is found on a later pass") {
        p.env.now += 60;
        auto second = p.env.control("POST", "/control/messages", {{"order_id", order}, {"text", "追跡番号を教えてください"}});
        p.env.now += 5;
        CHECK_FALSE(p.messages_pass());
        auto after = p.events();
        REQUIRE(after.size() == 3);   // the two polled messages and the late webhook
        CHECK(after[0].dedupe_key == "poll:msg:" + second.at("message_id").get<std::string>());
        CHECK(p.wakes == 2);
    }
}

TEST_CASE("With poll.start now a buyer message from before the first pass is not read", "[poller]") {
    poller_env p;   // poll.start "now"
    const std::string order = p.env.create_order();
    p.env.control("POST", "/control/messages", {{"order_id", order}, {"text", "昔のメッセージ"}});
    p.env.now += 10;
    CHECK_FALSE(p.messages_pass());
    CHECK(p.events().empty());
    CHECK(p.wakes == 0);
}

TEST_CASE("A complete messages pass moves its cursor and records the day's customer-service calls", "[poller]") {
    const std::int64_t t0 = 1'790'000'000;
    poller_env p(t0 - 60);
    const std::string order = p.env.create_order();
    p.env.control("POST", "/control/messages", {{"order_id", order}, {"text", "こんにちは"}});
    p.env.now = t0 + 300;
    CHECK_FALSE(p.messages_pass());
    CHECK(p.state("poll.messages") == std::to_string(t0 - 60 + 600));   // never behind the start point
    auto calls = json::parse(p.state("cs_calls"));
    CHECK(calls["day"] == "2026-09-21");
    // One conversations page and one messages page.
    CHECK(calls["count"] == 2);

    p.env.now = t0 + 3600;
    CHECK_FALSE(p.messages_pass());
    CHECK(p.state("poll.messages") == std::to_string(t0 + 3600));
}

TEST_CASE("record_cs_calls writes the count of the clock's UTC day", "[poller]") {
    runtime_env env;
    env.authorize();
    env.drive([&]() -> asio::awaitable<void> {
        const orderflow::secret* token = co_await env.tokens->access();
        REQUIRE(token != nullptr);
        auto page = co_await env.api->get_conversations(20, "", *token);
        CHECK(page.ok());
    });
    record_cs_calls(env.ctx, *env.api);
    CHECK(json::parse(env.store.get_state("cs_calls").value_or("{}")) == json{{"day", "2026-09-21"}, {"count", 1}});

    // The next UTC day starts again from zero.
    env.now += 86'400;
    record_cs_calls(env.ctx, *env.api);
    CHECK(json::parse(env.store.get_state("cs_calls").value_or("{}")) == json{{"day", "2026-09-22"}, {"count", 0}});
}

TEST_CASE("An orders pass while the database refuses writes adds nothing and keeps its cursor, and the next finds the change once", "[poller]") {
    poller_env p;
    CHECK_FALSE(p.orders_pass());
    const std::string cursor = p.state("poll.orders");
    p.env.now += 3600;
    const std::string order_id = changed_order(p.env);
    {
        daemon::testing::outside_write_lock lock(p.env);
        CHECK_THROWS_AS(p.orders_pass(), storage::storage_error);
        CHECK(p.state("poll.orders") == cursor);
        CHECK(p.events().empty());
    }
    CHECK_FALSE(p.orders_pass());
    REQUIRE(p.events().size() == 1);
    CHECK(p.events()[0].order_id == order_id);
    CHECK_FALSE(p.orders_pass());
    CHECK(p.events().size() == 1);
}

// docs/privacy.md, "Erasure": the poll's overlap reads a forgotten buyer's
// changes again after the forget, and a restored copy reads them from its
// older cursors. Those made before the forget are not stored (nor is her
// conversation linked to her again); later ones are, without suppression.
TEST_CASE("A pass stores nothing of a forgotten buyer's changes from before the forget, and her later ones as anyone's", "[poller][privacy]") {
    poller_env p(1'790'000'000 - 60);
    const orderflow::secret key(std::string(32, 'k'));
    p.poll->set_forget_key(key.clone());
    const std::string order = changed_order(p.env);
    p.env.now += 5;
    const json sent = p.env.control("POST", "/control/messages", {{"order_id", order}, {"text", "住所を変えたいです"}});
    const std::string user = sent.at("user_id").get<std::string>(), conversation = sent.at("conversation_id").get<std::string>();
    p.env.now += 5;
    CHECK_FALSE(p.orders_pass());
    CHECK_FALSE(p.messages_pass());
    REQUIRE(p.events().size() == 2);
    REQUIRE(p.env.store.conversation_for(user) == conversation);

    // She is forgotten (without suppression). No pipeline ran here to cache
    // her order, which links it to her: found by both ids.
    p.env.now += 10;
    const auto her = [&] {
        auto who = storage::find_buyer(p.env.db, {user, "", ""});
        auto by_order = storage::find_buyer(p.env.db, {"", order, ""});
        who.order_ids.merge(by_order.order_ids);
        who.event_ids.merge(by_order.event_ids);
        return who;
    };
    storage::forget_buyer(p.env.db, her(), key_bytes(key), false, p.env.now, "staff");
    REQUIRE_FALSE(p.env.store.conversation_for(user).has_value());
    const auto holds_her = [&] {
        for (const auto& e : p.events())
            if (e.order_id == order || e.payload.find(order) != std::string::npos || e.payload.find(conversation) != std::string::npos)
                return true;
        return p.env.store.conversation_for(user).has_value();
    };
    REQUIRE_FALSE(holds_her());

    // The next passes read the same window (the overlap); a new poller, as
    // after a restart or a restore, reads her conversation again too.
    p.env.now += 30;
    orderflow::testing::log_capture logs;
    CHECK_FALSE(p.orders_pass());
    p.poll = std::make_unique<poller>(p.env.ctx, *p.in_force, *p.env.api, *p.env.tokens, p.writer, p.watch, p.env.sup, [] {});
    p.poll->set_forget_key(key.clone());
    CHECK_FALSE(p.messages_pass());
    const auto done = orderflow::testing::log_lines(logs.finish(), "poll_done");
    REQUIRE(done.size() == 2);
    CHECK(done[0]["what"] == "orders");
    CHECK(done[0]["set_aside"] == 1);
    CHECK(done[0]["new_changes"] == 0);
    CHECK(done[1]["what"] == "messages");
    CHECK(done[1]["set_aside"] == 1);
    CHECK_FALSE(holds_her());

    // After the forget she writes again, and her order moves on: anyone's.
    p.env.now += 30;
    p.env.control("POST", "/control/messages", {{"order_id", order}, {"text", "やはり同じ住所で大丈夫です"}});
    p.env.control("POST", "/control/orders/" + order + "/status", {{"status", "AWAITING_COLLECTION"}});
    p.env.now += 5;
    CHECK_FALSE(p.orders_pass());
    CHECK_FALSE(p.messages_pass());
    int orders = 0, messages = 0;
    for (const auto& e : p.events()) {
        if (e.dedupe_key == "poll:order:" + order + ":AWAITING_COLLECTION") ++orders;
        if (e.event == "message.received" && e.payload.find("やはり同じ住所で") != std::string::npos) ++messages;
        CHECK(e.payload.find("住所を変えたいです") == std::string::npos);   // the message from before the forget, never again
    }
    CHECK(orders == 1);
    CHECK(messages == 1);
    CHECK(p.env.store.conversation_for(user) == conversation);

    SECTION("with privacy.suppress_forgotten and a suppressing forget, her later changes are not stored either") {
        auto suppressing = p.env.in_force_with([](config& c) {
            c.poll.start_at = 1'790'000'000 - 60;
            c.privacy.suppress_forgotten = true;
        });
        poller quiet(p.env.ctx, *suppressing, *p.env.api, *p.env.tokens, p.writer, p.watch, p.env.sup, [] {});
        quiet.set_forget_key(key.clone());
        p.env.now += 10;
        storage::forget_buyer(p.env.db, her(), key_bytes(key), true, p.env.now, "staff");
        p.env.now += 10;
        p.env.control("POST", "/control/orders/" + order + "/status", {{"status", "IN_TRANSIT"}});
        p.env.now += 5;
        orderflow::testing::log_capture quiet_logs;
        std::optional<bool> expired;
        p.env.drive([&]() -> asio::awaitable<void> {
            const orderflow::secret* token = co_await p.env.tokens->access();
            REQUIRE(token != nullptr);
            expired = co_await quiet.poll_orders(*token);
        });
        REQUIRE(expired == false);
        const auto quiet_done = orderflow::testing::log_lines(quiet_logs.finish(), "poll_done");
        REQUIRE(quiet_done.size() == 1);
        CHECK(quiet_done[0]["set_aside"] == 1);   // the IN_TRANSIT change, after the forget
        for (const auto& e : p.events()) CHECK(e.dedupe_key != "poll:order:" + order + ":IN_TRANSIT");
    }
}

}  // namespace ORDERFLOW_TEST_FILE
