// Tests for daemon/executor/executor.hpp: execute() by kind (orderflow's
// own state: review items, tags, timers; an unsupported kind fails), and
// one pass of the loop while the circuit breaker holds messages, against
// the real outbox and inbox and the sandbox shop's record of messages.
#include "daemon/executor/executor.hpp"

#include "daemon/storage_watch.hpp"
#include "tests/daemon/executor/outbox_support.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>
#include <optional>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// The executor on top of its parts, as app.cpp builds it.
struct executor_rig {
    explicit executor_rig(runtime_env& env_)
        : env(env_),
          parts(env),
          watch(env.ctx, *env.desk, env.sup, [] {}),
          exec(env.ctx, executor::parts{parts.brk, parts.out, parts.messages, parts.tracking, parts.recon}, *env.desk, *env.api, watch, env.sup) {
        parts.wake_executor = [this] { exec.wake(); };
    }

    void execute(const storage::action_row& a) {
        env.drive([&]() -> asio::awaitable<void> { co_await exec.execute(a); });
    }

    // A loop still running (a failed check ended the test early) ends
    // before the executor it runs in goes away.
    ~executor_rig() {
        if (loop_started && !loop_ended) {
            exec.stop();
            run_until([] { return false; });
        }
    }

    // Starts the loop (as the supervisor does in the daemon, minus the restarts).
    void start_loop() {
        loop_started = true;
        asio::co_spawn(env.io, exec.loop(), [this](std::exception_ptr) { loop_ended = true; });
    }
    // Runs the io_context until `done` holds or the loop ended (at most 10 s).
    void run_until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && !loop_ended && std::chrono::steady_clock::now() < deadline) env.io.run_one_for(20ms);
    }
    void stop_loop() {
        exec.stop();
        run_until([] { return false; });
        REQUIRE(loop_ended);
    }

    runtime_env& env;
    executor_parts parts;
    storage_watch watch;
    executor exec;
    bool loop_started = false, loop_ended = false;
};

std::int64_t inbox_event(runtime_env& env, const std::string& order_id) {
    storage::new_event e;
    e.dedupe_key = "test:" + order_id;
    e.source = "webhook";
    e.topic = 14;
    e.event = "message.received";
    e.order_id = order_id;
    e.payload = json{{"type", 14}, {"data", {{"content", "{\"content\":\"刻印は「HANA」で\"}"}}}}.dump();
    e.received_at = env.now;
    REQUIRE(env.store.add_event(e));
    return env.store.recent_events(1).front().id;
}

}  // namespace

TEST_CASE("execute() of flag_review opens a review item with the rule's reason, note and the event as evidence", "[executor]") {
    runtime_env env;
    executor_rig rig(env);
    const auto event_id = inbox_event(env, "O-1");
    const auto a = plant_action(env, "flag_review", "O-1", {{"reason", "engraving"}, {"note", "check the engraving text"}, {"severity", "critical"}},
                                "engraving_check", event_id);
    rig.execute(a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "done");
    const auto items = reviews_for(env, "engraving");
    REQUIRE(items.size() == 1);
    CHECK(json::parse(row.result)["review_id"] == items[0].id);
    CHECK(items[0].order_id == "O-1");
    CHECK(items[0].severity == "critical");
    CHECK(items[0].summary == "rule engraving_check: check the engraving text");
    const json evidence = json::parse(items[0].evidence);
    CHECK(evidence["event"] == "message.received");
    CHECK(evidence["action_id"] == a.id);
    CHECK(audit_of(env, "flag_review").size() == 1);

    // Done is final: the row is not due again.
    CHECK(env.store.due_actions(env.now + 86400, 10).empty());
}

TEST_CASE("execute() of tag and untag changes the order's tags once each", "[executor]") {
    runtime_env env;
    executor_rig rig(env);
    rig.execute(plant_action(env, "tag", "O-2", {{"tag", "vip"}}, "vip"));
    rig.execute(plant_action(env, "tag", "O-2", {{"tag", "gift"}}, "gift"));
    CHECK(env.store.tags("O-2") == std::vector<std::string>{"gift", "vip"});
    const auto untag = plant_action(env, "untag", "O-2", {{"tag", "vip"}}, "vip");
    rig.execute(untag);
    CHECK(env.store.tags("O-2") == std::vector<std::string>{"gift"});
    CHECK(action_now(env, untag.id).state == "done");
}

TEST_CASE("execute() of schedule puts a timer event in the inbox that waits for its time", "[executor]") {
    runtime_env env;
    executor_rig rig(env);
    const std::int64_t fire_at = env.now + 3 * 86400;
    const auto a = plant_action(env, "schedule", "O-3", {{"event", "timer.review_request"}, {"fire_at", fire_at}}, "ask_for_review");
    rig.execute(a);

    CHECK(action_now(env, a.id).state == "done");
    CHECK(env.store.pending_events(env.now, 10).empty());
    const auto due = env.store.pending_events(fire_at, 10);
    REQUIRE(due.size() == 1);
    CHECK(due[0].source == "timer");
    CHECK(due[0].event == "timer.review_request");
    CHECK(due[0].order_id == "O-3");
    CHECK(due[0].not_before == fire_at);
    CHECK(json::parse(due[0].payload)["data"]["scheduled_by"] == "ask_for_review");
}

TEST_CASE("execute() of a tag for an event without an order skips it saying why", "[executor]") {
    runtime_env env;
    executor_rig rig(env);
    const auto a = plant_action(env, "tag", "", {{"tag", "vip"}});
    rig.execute(a);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "skipped");
    CHECK_THAT(row.reason, Catch::Contains("needs an order"));
}

TEST_CASE("execute() of a kind this version does not support fails it for staff", "[executor]") {
    runtime_env env;
    executor_rig rig(env);
    const auto a = plant_action(env, "issue_refund", "O-4", {{"amount", "1000"}});
    rig.execute(a);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK(row.reason == "action kind 'issue_refund' is not supported by this version");
    CHECK(reviews_for(env, "send_failed").size() == 1);
}

TEST_CASE("While the breaker is open the loop holds messages and still carries out tags, and sends them after resume", "[executor]") {
    runtime_env env(thanks_rules, [](config& c) { c.breaker.max_sends = 1; });
    env.authorize();
    executor_rig rig(env);
    const std::string order_id = env.create_order();
    env.make_ready_to_ship(order_id);
    const std::string buyer = buyer_of(env, order_id);
    const auto first = plant_action(env, "send_message", order_id, {{"text", "ありがとうございます。"}, {"buyer_user_id", buyer}});
    const auto second = plant_action(env, "send_message", order_id, {{"text", "発送準備中です。"}, {"buyer_user_id", buyer}});
    const auto tag = plant_action(env, "tag", order_id, {{"tag", "thanked"}}, "tag_thanked");

    rig.start_loop();
    rig.run_until([&] { return action_now(env, tag.id).state == "done"; });
    CHECK(env.store.tags(order_id) == std::vector<std::string>{"thanked"});
    CHECK(rig.parts.brk.open());
    CHECK(action_now(env, first.id).state == "planned");
    CHECK(action_now(env, second.id).state == "planned");
    CHECK(env.shop_messages().empty());
    CHECK(reviews_for(env, "circuit_breaker").size() == 1);

    // Resume wakes the paused loop, which sends what it held, once each.
    rig.parts.brk.resume("hanako", "uid 1000", false);
    rig.run_until([&] { return action_now(env, second.id).state == "done"; });
    rig.stop_loop();
    CHECK(action_now(env, first.id).state == "done");
    CHECK(action_now(env, second.id).state == "done");
    CHECK(env.shop_messages().size() == 2);
}

TEST_CASE("A message whose outcome the database refused is reconciled once it takes writes again and reaches the buyer once", "[executor]") {
    runtime_env env;
    env.authorize();
    executor_rig rig(env);
    const std::string order_id = env.create_order();
    env.make_ready_to_ship(order_id);
    const auto a = plant_action(env, "send_message", order_id, {{"text", "ありがとうございます。"}, {"buyer_user_id", buyer_of(env, order_id)}});

    rig.start_loop();
    // The shop has the message; its answer is on the way back when the
    // database's write lock is taken from outside.
    REQUIRE(env.run_until([&] { return env.shop_messages().size() == 1; }));
    std::optional<outside_write_lock> lock(std::in_place, env);
    env.run_for(300ms);   // the answer arrives; recording it fails
    CHECK(action_now(env, a.id).state == "sending");

    lock.reset();
    // The next pass marks the row unknown and asks TikTok: the message is
    // in the conversation, so it is done, not sent again.
    REQUIRE(env.run_until([&] { return action_now(env, a.id).state == "done"; }));
    rig.stop_loop();
    CHECK(states_of(env, a.id) == std::vector<std::string>{"planned", "sending", "unknown", "done"});
    CHECK(json::parse(action_now(env, a.id).result).value("reconciled", "") == "found");
    CHECK(env.shop_messages().size() == 1);
}

TEST_CASE("Actions of different buyers are carried out side by side and one buyer's one at a time in order", "[executor]") {
    runtime_env env;
    env.authorize();
    executor_rig rig(env);
    std::vector<std::string> orders, buyers;
    for (int i = 0; i < 3; ++i) {
        orders.push_back(env.create_order());
        env.make_ready_to_ship(orders.back());
        buyers.push_back(buyer_of(env, orders.back()));
    }
    REQUIRE(buyers[0] != buyers[1]);
    REQUIRE(buyers[1] != buyers[2]);
    const auto first = plant_action(env, "send_message", orders[0], {{"text", "一通目"}, {"buyer_user_id", buyers[0]}});
    const auto second = plant_action(env, "send_message", orders[0], {{"text", "二通目"}, {"buyer_user_id", buyers[0]}});
    const auto other = plant_action(env, "send_message", orders[1], {{"text", "ありがとうございます。"}, {"buyer_user_id", buyers[1]}});
    const auto third = plant_action(env, "send_message", orders[2], {{"text", "ありがとうございます。"}, {"buyer_user_id", buyers[2]}});
    // Every TikTok answer takes 300 ms, so sends overlap if anything lets them.
    env.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 300}});

    std::size_t most_sending = 0, most_for_one_buyer = 0;
    rig.start_loop();
    rig.run_until([&] {
        const auto sending = env.store.actions_in_state("sending", 100);
        std::map<std::string, std::size_t> per_buyer;
        for (const auto& a : sending) most_for_one_buyer = std::max(most_for_one_buyer, ++per_buyer[a.buyer_user_id]);
        most_sending = std::max(most_sending, sending.size());
        for (const auto* a : {&first, &second, &other, &third})
            if (action_now(env, a->id).state != "done") return false;
        return true;
    });
    rig.stop_loop();
    for (const auto* a : {&first, &second, &other, &third}) CHECK(action_now(env, a->id).state == "done");
    CHECK(most_sending >= 2);          // different buyers: side by side
    CHECK(most_for_one_buyer == 1);    // one buyer: one at a time
    std::vector<std::string> to_first_buyer;
    for (const auto& m : env.shop_messages())
        if (m.value("user_id", "") == buyers[0]) to_first_buyer.push_back(m.value("text", ""));
    CHECK(to_first_buyer == std::vector<std::string>{"一通目", "二通目"});
    CHECK(env.shop_messages().size() == 4);   // each once
}

TEST_CASE("An action planned while a slow send is in flight starts before that send ends, and a second message to the same buyer waits for the first", "[executor]") {
    runtime_env env;
    env.authorize();
    executor_rig rig(env);
    const std::string order_id = env.create_order(), other_order = env.create_order();
    env.make_ready_to_ship(order_id);
    const std::string buyer = buyer_of(env, order_id);
    const auto first = plant_action(env, "send_message", order_id, {{"text", "一通目"}, {"buyer_user_id", buyer}});
    // Every TikTok answer takes 1 s: the first message is 'sending' for at
    // least a second (its conversation is opened before, its send after).
    env.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 1000}});

    std::size_t most_for_the_buyer = 0;
    auto watch_buyer = [&] {
        std::size_t n = 0;
        for (const auto& a : env.store.actions_in_state("sending", 100)) n += a.buyer_user_id == buyer;
        most_for_the_buyer = std::max(most_for_the_buyer, n);
    };
    rig.start_loop();
    rig.run_until([&] { return action_now(env, first.id).state == "sending"; });
    REQUIRE(action_now(env, first.id).state == "sending");

    // Planned while the pass that took the first is still running.
    const auto tag = plant_action(env, "tag", other_order, {{"tag", "vip"}}, "tag_vip");
    const auto second = plant_action(env, "send_message", order_id, {{"text", "二通目"}, {"buyer_user_id", buyer}});
    rig.run_until([&] {
        watch_buyer();
        return action_now(env, tag.id).state == "done";
    });
    CHECK(action_now(env, tag.id).state == "done");
    CHECK(action_now(env, first.id).state == "sending");   // the pass did not wait for it
    CHECK(env.store.tags(other_order) == std::vector<std::string>{"vip"});

    rig.run_until([&] {
        watch_buyer();
        return action_now(env, second.id).state == "done";
    });
    rig.stop_loop();
    CHECK(action_now(env, first.id).state == "done");
    CHECK(action_now(env, second.id).state == "done");
    CHECK(most_for_the_buyer == 1);   // one buyer: one at a time
    std::vector<std::string> texts;
    for (const auto& m : env.shop_messages()) texts.push_back(m.value("text", ""));
    CHECK(texts == std::vector<std::string>{"一通目", "二通目"});
}

TEST_CASE("A pass stops taking new actions once the reconciliation is due, so an unknown send is looked at before them", "[executor]") {
    runtime_env env;
    env.authorize();
    executor_rig rig(env);
    const std::string order_id = env.create_order(), other_order = env.create_order(), unknown_order = env.create_order();
    env.make_ready_to_ship(order_id);
    env.make_ready_to_ship(unknown_order);
    const std::string buyer = buyer_of(env, order_id);
    // One buyer's three messages: a lane busy for about three seconds.
    std::vector<storage::action_row> lane;
    for (const char* text : {"一通目", "二通目", "三通目"})
        lane.push_back(plant_action(env, "send_message", order_id, {{"text", text}, {"buyer_user_id", buyer}}));
    env.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 500}});
    rig.start_loop();
    rig.run_until([&] { return action_now(env, lane[0].id).state == "sending"; });
    REQUIRE(action_now(env, lane[0].id).state == "sending");

    // A send a crash left unknown (no conversation was opened for it), then
    // ten seconds later, with the lane still busy, a new action.
    const auto unknown = plant_action(env, "send_message", unknown_order, {{"text", "ありがとうございます。"}, {"buyer_user_id", buyer_of(env, unknown_order)}});
    env.store.set_action_state(unknown.id, "sending", "test", "", env.now);
    env.store.set_action_state(unknown.id, "unknown", "test: cut short", "", env.now);
    env.now += 11;
    const auto tag = plant_action(env, "tag", other_order, {{"tag", "vip"}}, "tag_vip");

    rig.run_until([&] { return action_now(env, tag.id).state == "done" && action_now(env, unknown.id).state == "done"; });
    rig.stop_loop();
    CHECK(action_now(env, tag.id).state == "done");
    CHECK(states_of(env, unknown.id) == std::vector<std::string>{"planned", "sending", "unknown", "planned", "sending", "done"});
    // In the audit log's order: the lane's sends, then the reconciliation
    // (nothing was sent, so planned again), and only then the tag. A pass
    // that went on reading after the reconciliation was due would have
    // taken the tag while the lane was still busy.
    std::vector<std::string> order;
    const auto audit = env.store.recent_audit(100);
    for (auto it = audit.rbegin(); it != audit.rend(); ++it) {
        const std::string what = it->at("action").get<std::string>();
        const std::int64_t action_id = it->at("detail").value("action_id", std::int64_t{0});
        if (action_id == lane.back().id && what == "send_message") order.push_back("lane");
        if (action_id == unknown.id && what == "send_message.reconciled") order.push_back("reconciled");
        if (action_id == tag.id) order.push_back("tag");
    }
    CHECK(order == std::vector<std::string>{"lane", "reconciled", "tag"});
}

namespace {

// A message passed over leaves one action_withdrawn line, and no storage
// failure, in the log: that line.
json withdrawn_line(const std::string& said, std::int64_t action_id) {
    const auto withdrawn = log_lines(said, "action_withdrawn");
    REQUIRE(withdrawn.size() == 1);
    CHECK(withdrawn[0].value("action_id", std::int64_t{0}) == action_id);
    CHECK(log_lines(said, "action_error").empty());
    CHECK(log_lines(said, "executor_storage_failed").empty());
    return withdrawn[0];
}

}  // namespace

TEST_CASE("A message skipped while it waits for its lane is passed over, not reported as a storage failure", "[executor]") {
    runtime_env env;
    env.authorize();
    executor_rig rig(env);
    const std::string order_id = env.create_order();
    env.make_ready_to_ship(order_id);
    const std::string buyer = buyer_of(env, order_id);
    const auto first = plant_action(env, "send_message", order_id, {{"text", "一通目"}, {"buyer_user_id", buyer}});
    const auto second = plant_action(env, "send_message", order_id, {{"text", "二通目"}, {"buyer_user_id", buyer}});
    env.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 500}});
    orderflow::testing::log_capture logs;
    rig.start_loop();
    rig.run_until([&] { return action_now(env, first.id).state == "sending"; });
    REQUIRE(action_now(env, first.id).state == "sending");
    // The buyer's data is erased meanwhile: what waits for them is skipped.
    env.store.set_action_state(second.id, "skipped", "test: the buyer's data was erased", "", env.now);

    rig.run_until([&] { return action_now(env, first.id).state == "done"; });
    const auto tag = plant_action(env, "tag", order_id, {{"tag", "after"}}, "tag_after");
    rig.run_until([&] { return action_now(env, tag.id).state == "done"; });
    rig.stop_loop();
    const std::string said = logs.finish();
    CHECK(action_now(env, second.id).state == "skipped");
    CHECK(action_now(env, tag.id).state == "done");
    CHECK(env.shop_messages().size() == 1);
    CHECK(withdrawn_line(said, second.id).value("state", "") == "skipped");
}

TEST_CASE("A message skipped while its conversation is being opened is passed over, not reported as a storage failure", "[executor]") {
    runtime_env env;
    env.authorize();
    executor_rig rig(env);
    const std::string order_id = env.create_order();
    env.make_ready_to_ship(order_id);
    const std::string buyer = buyer_of(env, order_id);
    const auto message = plant_action(env, "send_message", order_id, {{"text", "ご注文ありがとうございます"}, {"buyer_user_id", buyer}});
    // A new buyer: the send opens the conversation first, and that call is slow.
    env.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 1500}});
    orderflow::testing::log_capture logs;
    rig.start_loop();
    env.run_for(500ms);
    REQUIRE(action_now(env, message.id).state == "planned");
    // The buyer's data is erased while Create Conversation is under way.
    env.store.set_action_state(message.id, "skipped", "test: the buyer's data was erased", "", env.now);
    // The call answers (1.5 s after it began), and the sender goes on from there.
    env.run_for(2500ms);

    const auto tag = plant_action(env, "tag", order_id, {{"tag", "after"}}, "tag_after");
    rig.run_until([&] { return action_now(env, tag.id).state == "done"; });
    rig.stop_loop();
    const std::string said = logs.finish();
    // The skip came during the call, not before it.
    CHECK_FALSE(env.control("GET", "/control/calls?path=/customer_service/202309/conversations")["calls"].empty());
    CHECK(action_now(env, message.id).state == "skipped");
    CHECK(action_now(env, tag.id).state == "done");
    CHECK(env.shop_messages().empty());
    CHECK(withdrawn_line(said, message.id).value("while", "") == "running");
}

}  // namespace ORDERFLOW_TEST_FILE
