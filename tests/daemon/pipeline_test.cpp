// Tests for daemon/pipeline.cpp: one pass over the inbox plans what the rules
// in force say, once, with the event done in the same commit; processing
// starts are counted before the work so an event that keeps killing the
// process is set aside with a critical review item; events that cannot be
// processed fail (a person is told) or wait (not authorized yet); the shop's
// own messages are ignored. Against a real database and the sandbox shop
// (runtime_support.hpp); event_context() is checked on its own.
#include "daemon/pipeline.hpp"

#include "daemon/conversation_linker.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/events.hpp"
#include "daemon/order_source.hpp"
#include "daemon/storage_watch.hpp"
#include "daemon/tokens.hpp"
#include "storage/buyer_data.hpp"
#include "storage/idempotency.hpp"
#include "storage/vault.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/models.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using namespace orderflow;
using namespace orderflow::daemon;
using namespace std::chrono_literals;
using json = nlohmann::json;
using orderflow::daemon::testing::runtime_env;

namespace {

// The thanks rule, and one that flags every buyer message for staff.
const std::string thanks_and_messages_rules = R"({
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
  "rules": [ { "id": "thanks", "on": "order.status_changed",
               "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "thanks" } } ] },
             { "id": "ask", "on": "message.received", "once_per": "message",
               "then": [ { "flag_review": { "reason": "buyer_message" } } ] } ]
})";

// A type 1 webhook body as TikTok sends it.
std::string order_webhook(const std::string& notification_id, const std::string& order_id, const std::string& status,
                          std::int64_t at) {
    return json{{"type", 1},
                {"tts_notification_id", notification_id},
                {"shop_id", "7000000001"},
                {"timestamp", at},
                {"data", {{"order_id", order_id}, {"order_status", status}, {"update_time", at}}}}
        .dump();
}

// A type 14 webhook body: a message in a conversation from `role`.
std::string message_webhook(const std::string& message_id, const std::string& role, std::int64_t at) {
    return json{{"type", 14},
                {"tts_notification_id", "n-" + message_id},
                {"shop_id", "7000000001"},
                {"timestamp", at},
                {"data",
                 {{"message_id", message_id},
                  {"conversation_id", "conv-1"},
                  {"type", "TEXT"},
                  {"content", json{{"content", "いつ届きますか"}}.dump()},
                  {"create_time", at},
                  {"sender", {{"role", role}, {"im_user_id", "im-1"}}}}}}
        .dump();
}

// Changes claimed so far (inbox_changes rows).
std::int64_t claims(storage::database& db) {
    auto st = db.prepare("SELECT count(*) FROM inbox_changes");
    st.step();
    return st.int64(0);
}

storage::new_event event_from(const std::string& body, std::int64_t now) {
    auto parsed = tikapi::parse_webhook(body);
    auto* w = std::get_if<tikapi::webhook_event>(&parsed);
    REQUIRE(w != nullptr);
    return inbox_event_from_webhook(*w, body, now);
}

// Calls of Get Order Detail the shop received.
std::size_t order_detail_calls(const sandbox::shop& shop) {
    const auto& calls = shop.calls();
    return static_cast<std::size_t>(std::count_if(calls.begin(), calls.end(), [](const sandbox::call_record& c) {
        return c.method == "GET" && c.path == "/order/202309/orders";
    }));
}

std::vector<storage::review_item> reviews_for(runtime_env& env, const std::string& reason) {
    std::vector<storage::review_item> out;
    for (auto& r : env.store.reviews(true, 100))
        if (r.reason == reason) out.push_back(r);
    return out;
}

// How many lines of a log contain `needle`.
int count_lines(const std::string& log, const std::string& needle) {
    int n = 0;
    std::size_t start = 0;
    while (start < log.size()) {
        std::size_t end = log.find('\n', start);
        if (end == std::string::npos) end = log.size();
        if (log.substr(start, end - start).find(needle) != std::string::npos) ++n;
        start = end + 1;
    }
    return n;
}

// The environment with a pipeline on it; `authorized`: tokens stored first.
struct pipeline_rig {
    runtime_env env;
    storage_watch watch{env.ctx, *env.desk, env.sup, [] {}};
    std::unique_ptr<order_source> orders;
    std::unique_ptr<conversation_linker> links;
    std::unique_ptr<pipeline> pipe;
    int planned_wakes = 0;

    explicit pipeline_rig(bool authorized = true, const std::string& rules = thanks_and_messages_rules) : env(rules) {
        if (authorized) env.authorize();
        orders = std::make_unique<order_source>(*env.api, *env.tokens);
        links = std::make_unique<conversation_linker>(env.ctx, *env.api, *env.tokens);
        pipe = std::make_unique<pipeline>(env.ctx, *env.in_force, *orders, *links, *env.tokens, *env.desk, watch, env.sup,
                                          [this] { ++planned_wakes; });
    }

    // Adds the event to the inbox; returns its id.
    std::int64_t add(const storage::new_event& e) {
        REQUIRE(env.store.add_event(e));
        return env.store.recent_events(1).front().id;
    }
    std::int64_t add_order_event(const std::string& notification_id, const std::string& order_id,
                                 const std::string& status = "AWAITING_SHIPMENT") {
        return add(event_from(order_webhook(notification_id, order_id, status, env.now), env.now));
    }
    // One pass (only with events due: an empty pass waits for a wake-up).
    bool pass() {
        bool ok = false;
        env.drive([&]() -> asio::awaitable<void> { ok = co_await pipe->pass(); });
        return ok;
    }
    storage::event_row event(std::int64_t id) {
        auto e = env.store.get_event(id);
        REQUIRE(e.has_value());
        return *e;
    }
};

}  // namespace

TEST_CASE("A pass plans the rule's message for an order ready to ship and finishes the event with it", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order("山田 太郎");
    rig.env.make_ready_to_ship(order_id);
    const auto id = rig.add_order_event("n-1", order_id);

    CHECK(rig.pass());

    auto e = rig.event(id);
    CHECK(e.state == "done");
    CHECK(e.note == "matched: thanks");
    CHECK(e.starts == 0);
    auto actions = rig.env.store.actions_for_order(order_id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].state == "planned");
    CHECK(actions[0].kind == "send_message");
    CHECK(actions[0].rule_id == "thanks");
    CHECK(actions[0].event_id == id);
    const json payload = json::parse(actions[0].payload);
    CHECK(payload.at("text").get<std::string>() == "山田 太郎様、ご注文 " + order_id + " ありがとうございます。");
    CHECK_FALSE(payload.at("buyer_user_id").get<std::string>().empty());
    CHECK(rig.planned_wakes == 1);
    // Planning is not sending: the executor does that.
    CHECK(rig.env.shop_messages().empty());
    // The order the rules saw is cached for the next event's previous_order.
    auto cached = rig.env.store.get_order(order_id);
    REQUIRE(cached.has_value());
    CHECK(cached->status == "AWAITING_SHIPMENT");
}

TEST_CASE("The same order change reaching the pipeline twice plans the message once", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const bool same_pass = GENERATE(true, false);
    const auto first = rig.add_order_event("n-1", order_id);
    // A second notification of the same change without the status TikTok
    // sometimes leaves out: the inbox cannot tell it is the same change.
    auto again = event_from(json{{"type", 1}, {"tts_notification_id", "n-2"}, {"timestamp", rig.env.now},
                                 {"data", {{"order_id", order_id}, {"update_time", rig.env.now + 1}}}}
                                .dump(),
                            rig.env.now);
    REQUIRE(again.change_key.empty());
    std::int64_t second = 0;
    if (same_pass) {
        second = rig.add(again);
        CHECK(rig.pass());
    } else {
        CHECK(rig.pass());
        second = rig.add(again);
        CHECK(rig.pass());
    }

    CHECK(rig.event(first).state == "done");
    CHECK(rig.event(second).state == "done");
    CHECK(rig.event(second).note == "matched: thanks");
    auto actions = rig.env.store.actions_for_order(order_id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].event_id == first);
    CHECK(rig.planned_wakes == 1);
}

TEST_CASE("A redelivered webhook of the same change is not processed again", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const auto first = rig.add_order_event("n-1", order_id);
    const auto second = rig.add_order_event("n-2", order_id);   // same change, a new notification id

    CHECK(rig.pass());

    CHECK(rig.event(first).state == "done");
    CHECK(rig.event(second).state == "ignored");
    CHECK(rig.env.store.actions_for_order(order_id).size() == 1);
}

TEST_CASE("A second sighting of a change is stored unclaimed and ignored when the pipeline reaches it", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const bool same_pass = GENERATE(true, false);
    const auto first = rig.add_order_event("n-1", order_id);
    // Stored as it came: pending, its change not yet claimed by anyone.
    CHECK(rig.event(first).change_key == "order:" + order_id + ":AWAITING_SHIPMENT");
    CHECK(claims(rig.env.db) == 0);
    std::int64_t second = 0;
    if (!same_pass) {
        CHECK(rig.pass());
        CHECK(claims(rig.env.db) == 1);
    }
    // The poller finds the same change (its webhook looked lost).
    storage::new_event poll = event_from(order_webhook("unused", order_id, "AWAITING_SHIPMENT", rig.env.now), rig.env.now);
    poll.source = "poll";
    poll.dedupe_key = "poll:" + poll.change_key;
    if (same_pass) {
        second = rig.add(poll);
        CHECK(rig.event(second).state == "pending");
    } else {
        CHECK_FALSE(rig.env.store.add_event(poll));   // claimed already: a poll adds nothing
        second = rig.add_order_event("n-2", order_id);   // a webhook is kept, whatever it repeats
    }
    const auto calls_before = order_detail_calls(*rig.env.shop);
    orderflow::testing::log_capture logs;
    CHECK(rig.pass());

    CHECK(rig.event(first).state == "done");
    CHECK(rig.event(first).change_key.empty());   // taken up: the key lives on in the claim only
    CHECK(rig.event(second).state == "ignored");
    CHECK(rig.event(second).note == "same change as inbox event " + std::to_string(first));
    CHECK(rig.event(second).change_key.empty());
    // Set aside before the page's orders were fetched: a repeat costs no call.
    if (!same_pass) CHECK(order_detail_calls(*rig.env.shop) == calls_before);
    const auto lines = orderflow::testing::log_lines(logs.finish(), "event_ignored");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["inbox_id"] == second);
    CHECK(lines[0]["same_change_as"] == first);
    CHECK(rig.env.store.actions_for_order(order_id).size() == 1);
}

TEST_CASE("An event whose processing started too often is quarantined and its neighbour is processed", "[pipeline]") {
    pipeline_rig rig;
    const std::string bad_order = rig.env.create_order("佐藤 花子");
    const std::string good_order = rig.env.create_order("鈴木 一郎");
    rig.env.make_ready_to_ship(bad_order);
    rig.env.make_ready_to_ship(good_order);
    const auto bad = rig.add_order_event("n-1", bad_order);
    const auto good = rig.add_order_event("n-2", good_order);
    // The daemon died while processing it, every time.
    for (int i = 0; i < pipeline::max_event_starts; ++i) rig.env.store.mark_started(bad);

    CHECK(rig.pass());

    auto e = rig.event(bad);
    CHECK(e.state == "failed");
    CHECK(e.note.find("started 3 times") != std::string::npos);
    auto items = reviews_for(rig.env, "event_quarantined");
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "critical");
    CHECK(items[0].order_id == bad_order);
    CHECK(json::parse(items[0].evidence).at("inbox_id").get<std::int64_t>() == bad);
    CHECK(rig.env.store.actions_for_order(bad_order).empty());

    CHECK(rig.event(good).state == "done");
    CHECK(rig.env.store.actions_for_order(good_order).size() == 1);
}

TEST_CASE("An event that was being processed when the daemon stopped is processed again below the limit", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const auto id = rig.add_order_event("n-1", order_id);
    const int earlier_starts = GENERATE(1, pipeline::max_event_starts - 1);
    for (int i = 0; i < earlier_starts; ++i) rig.env.store.mark_started(id);

    CHECK(rig.pass());

    auto e = rig.event(id);
    CHECK(e.state == "done");
    CHECK(e.starts == 0);
    CHECK(reviews_for(rig.env, "event_quarantined").empty());
    CHECK(rig.env.store.actions_for_order(order_id).size() == 1);
}

TEST_CASE("Every event of a page has its start committed before TikTok is asked and cleared when it finishes", "[pipeline]") {
    pipeline_rig rig;
    const std::string a = rig.env.create_order("佐藤 花子");
    const std::string b = rig.env.create_order("鈴木 一郎");
    rig.env.make_ready_to_ship(a);
    rig.env.make_ready_to_ship(b);
    const auto first = rig.add_order_event("n-1", a);
    const auto second = rig.add_order_event("n-2", b);
    const auto calls_before = order_detail_calls(*rig.env.shop);

    // The pass runs until TikTok has the order request: the pipeline is
    // waiting for the answer, as a process would be when it dies there.
    bool done = false;
    asio::co_spawn(rig.env.io, rig.pipe->pass(), [&](std::exception_ptr, bool) { done = true; });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done && order_detail_calls(*rig.env.shop) == calls_before && std::chrono::steady_clock::now() < deadline)
        rig.env.io.run_one_for(50ms);
    REQUIRE_FALSE(done);
    REQUIRE(order_detail_calls(*rig.env.shop) > calls_before);
    CHECK(rig.event(first).starts == 1);
    CHECK(rig.event(second).starts == 1);
    CHECK(rig.event(first).state == "pending");

    while (!done && std::chrono::steady_clock::now() < deadline) rig.env.io.run_one_for(50ms);
    REQUIRE(done);
    CHECK(rig.event(first).state == "done");
    CHECK(rig.event(first).starts == 0);
    CHECK(rig.event(second).state == "done");
    CHECK(rig.event(second).starts == 0);
    // One Get Order Detail for the page, not one per event.
    CHECK(order_detail_calls(*rig.env.shop) == calls_before + 1);
}

TEST_CASE("An event for an order TikTok does not know fails and a person is told", "[pipeline]") {
    pipeline_rig rig;
    const std::string unknown = "576999999999999999";
    const auto id = rig.add_order_event("n-1", unknown);

    CHECK(rig.pass());

    auto e = rig.event(id);
    CHECK(e.state == "failed");
    CHECK(e.note.find("order detail") != std::string::npos);
    auto items = reviews_for(rig.env, "event_failed");
    REQUIRE(items.size() == 1);
    CHECK(items[0].order_id == unknown);
    CHECK(items[0].severity == "warning");
    CHECK(rig.env.store.actions_for_order(unknown).empty());
}

TEST_CASE("An event waits for authorization untouched, and goes as soon as the running daemon finds tokens", "[pipeline]") {
    pipeline_rig rig(false);
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const auto id = rig.add_order_event("n-1", order_id);
    const auto before = rig.event(id);

    CHECK(rig.pass());
    rig.env.now += 1;
    CHECK(rig.pass());   // the next pages start after it: it is not read again

    auto e = rig.event(id);
    CHECK(e.state == "pending");
    CHECK(e.attempts == 0);             // nothing written: no commit per waiting event
    CHECK(e.not_before == before.not_before);
    CHECK(e.starts == 0);
    CHECK(e.note.empty());
    CHECK(rig.env.store.reviews(true, 10).empty());
    CHECK(order_detail_calls(*rig.env.shop) == 0);
    CHECK(rig.env.store.actions_for_order(order_id).empty());

    // `orderflowctl auth exchange` while the daemon runs: the keeper finds the
    // tokens at its next look (every few seconds) and the event goes at once.
    const std::string code = rig.env.shop->issue_auth_code();
    std::optional<tikapi::token_set> got;
    rig.env.drive([&]() -> boost::asio::awaitable<void> {
        auto r = co_await rig.env.api->get_token(code);
        if (r) got = std::move(r.value());
    });
    REQUIRE(got);
    rig.env.vault->put(token_vault_name, tikapi::serialize_tokens(*got), rig.env.now);
    rig.env.now += 5;
    orderflow::testing::log_capture logs;
    CHECK(rig.pass());
    CHECK(count_lines(logs.finish(), "\"event\":\"events_released\"") == 1);
    CHECK(rig.event(id).state == "done");
    CHECK(order_detail_calls(*rig.env.shop) == 1);
    CHECK(rig.env.store.actions_for_order(order_id).size() == 1);
}

TEST_CASE("Before the shop is authorized order events and buyer messages wait with one line of log", "[pipeline]") {
    pipeline_rig rig(false);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(rig.add_order_event("n-" + std::to_string(i), "57646141303878500" + std::to_string(i)));
    const auto message_id = rig.add(event_from(message_webhook("m-1", "BUYER", rig.env.now), rig.env.now));

    orderflow::testing::log_capture logs;
    CHECK(rig.pass());
    // More arrive: read at the next look (at most one a second), waiting
    // too, and no new line within the minute.
    const auto later = rig.add_order_event("n-9", "576461413038785009");
    CHECK(rig.pass());
    rig.env.now += 1;
    CHECK(rig.pass());
    const std::string text = logs.finish();

    ids.push_back(later);
    for (auto id : ids) {
        auto e = rig.event(id);
        CHECK(e.state == "pending");
        CHECK(e.attempts == 0);
        CHECK(e.starts == 0);   // never started: no crash can be blamed on it
        CHECK(e.note.empty());
    }
    // A buyer message waits too: its order is found through TikTok.
    CHECK(rig.event(message_id).state == "pending");
    CHECK(rig.event(message_id).starts == 0);
    CHECK(count_lines(text, "\"event\":\"events_held\"") == 1);
    CHECK(count_lines(text, "\"count\":6") == 1);
    CHECK(count_lines(text, "\"event\":\"event_deferred\"") == 0);
    CHECK(order_detail_calls(*rig.env.shop) == 0);
}

// In a burst before authorization the look walks every new row; reading
// each whole (its payload, copied and set aside again) was most of that
// walk's time, on the event loop's thread.
TEST_CASE("Before authorization the events that wait are walked without reading their payloads", "[pipeline]") {
    pipeline_rig rig(false);
    rig.env.db.transaction([&] {
        for (int i = 0; i < 2500; ++i) rig.add_order_event("n-" + std::to_string(i), std::to_string(576461413038700000 + i));
    });
    std::vector<std::string> reads;
    rig.env.db.observe_prepares([&](std::string_view sql) {
        if (sql.find("FROM inbox") != std::string_view::npos) reads.emplace_back(sql);
    });
    const auto whole_rows = [&] {
        return std::count_if(reads.begin(), reads.end(), [](const auto& sql) { return sql.find("payload") != std::string::npos; });
    };
    CHECK(rig.pass());
    // The first look: the oldest page through the index of pending events
    // (whole rows), then the rest by id, what each event is and no more.
    CHECK(whole_rows() == 1);
    CHECK(reads.size() >= 4);
    const auto later = rig.add_order_event("n-late", "576461413038799999");
    reads.clear();
    rig.env.now += 1;
    CHECK(rig.pass());
    CHECK(whole_rows() == 0);
    CHECK_FALSE(reads.empty());
    rig.env.db.observe_prepares({});
    CHECK(rig.event(later).state == "pending");
    CHECK(rig.event(later).starts == 0);
}

TEST_CASE("Before authorization an event that needs no TikTok goes on behind thousands that wait, in one look", "[pipeline]") {
    pipeline_rig rig(false);
    std::vector<std::int64_t> waiting;
    rig.env.db.transaction([&] {
        for (int i = 0; i < 2500; ++i)
            waiting.push_back(rig.add_order_event("n-" + std::to_string(i), std::to_string(576461413038700000 + i)));
    });
    CHECK(rig.pass());   // the first look: the oldest through the index of pending events, the rest by id in three windows
    // Arrives behind the 2,500 waiting events: the next look walks only what came after them.
    const auto expiring = rig.add(event_from(
        json{{"type", 7}, {"tts_notification_id", "x-1"}, {"timestamp", rig.env.now}, {"data", {{"expiration_time", "2027-01-01"}}}}.dump(),
        rig.env.now));
    rig.env.now += 1;
    CHECK(rig.pass());

    CHECK(rig.event(expiring).state != "pending");
    CHECK(reviews_for(rig.env, "authorization_expiring").size() == 1);
    for (auto id : {waiting.front(), waiting[1234], waiting.back()}) {
        auto e = rig.event(id);
        CHECK(e.state == "pending");
        CHECK(e.starts == 0);
        CHECK(e.attempts == 0);
    }
    CHECK(order_detail_calls(*rig.env.shop) == 0);
}

TEST_CASE("An event whose payload is nested deeper than 64 levels fails cleanly", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    storage::new_event e;
    e.dedupe_key = "tts:deep";
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = order_id;
    e.payload = R"({"type":1,"data":{"order_id":")" + order_id + R"(","x":)" + std::string(100, '[') + std::string(100, ']') + "}}";
    e.received_at = rig.env.now;
    const auto id = rig.add(e);

    CHECK(rig.pass());

    auto row = rig.event(id);
    CHECK(row.state == "failed");
    CHECK(row.note.find("nested deeper than 64 levels") != std::string::npos);
    CHECK(reviews_for(rig.env, "event_failed").size() == 1);
    CHECK(order_detail_calls(*rig.env.shop) == 0);
    CHECK(rig.env.store.actions_for_order(order_id).empty());
}

TEST_CASE("A message from the shop itself is ignored while a buyer's is processed", "[pipeline]") {
    pipeline_rig rig;
    const std::string role = GENERATE(std::string("SHOP"), std::string("BUYER"));
    const auto id = rig.add(event_from(message_webhook("m-1", role, rig.env.now), rig.env.now));

    CHECK(rig.pass());

    auto e = rig.event(id);
    auto actions = rig.env.store.actions_of_event(id);
    if (role == "SHOP") {
        CHECK(e.state == "ignored");
        CHECK(e.note == "message from SHOP");
        CHECK(actions.empty());
        CHECK(rig.planned_wakes == 0);
    } else {
        CHECK(e.state == "done");
        CHECK(e.note == "matched: ask");
        REQUIRE(actions.size() == 1);
        CHECK(actions[0].kind == "flag_review");
        CHECK(json::parse(actions[0].payload).at("message").at("text") == "いつ届きますか");
    }
}

TEST_CASE("event_context fills the event's fields and the buyer message for the rules", "[pipeline]") {
    storage::event_row e;
    e.id = 7;
    e.dedupe_key = "tts:n-7";
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.payload = json{{"type", 1},
                     {"data",
                      {{"order_id", "5761"},
                       {"order_status", "AWAITING_SHIPMENT"},
                       {"update_time", 1'790'000'100},
                       {"package_id", "pkg-1"},
                       {"carrier", ""},
                       {"tracking_number", "1234-5678"},
                       {"buyer_address", "not for rules"}}}}
                    .dump();

    auto ctx = event_context(e, 1'790'000'200, "en");
    CHECK(ctx.event == "order.status_changed");
    CHECK(ctx.event_id == "tts:n-7");
    CHECK(ctx.now == 1'790'000'200);
    CHECK(ctx.default_locale == "en");
    CHECK(ctx.event_data == json{{"type", 1},
                                 {"source", "webhook"},
                                 {"order_status", "AWAITING_SHIPMENT"},
                                 {"update_time", 1'790'000'100},
                                 {"package_id", "pkg-1"},
                                 {"tracking_number", "1234-5678"}});
    CHECK(ctx.message.is_null());

    e.event = "message.received";
    e.topic = 14;
    e.payload = message_webhook("m-9", "BUYER", 1'790'000'000);
    ctx = event_context(e, 1'790'000'200, "ja");
    REQUIRE(ctx.message.is_object());
    CHECK(ctx.message.at("id") == "m-9");
    CHECK(ctx.message.at("text") == "いつ届きますか");
    CHECK(ctx.message.at("sender_role") == "BUYER");
    CHECK(ctx.message.at("conversation_id") == "conv-1");
}

TEST_CASE("event_context gives an unreadable or too deep payload no data", "[pipeline]") {
    storage::event_row e;
    e.dedupe_key = "h:x";
    e.source = "poll";
    e.topic = 1;
    e.event = "order.status_changed";
    e.payload = GENERATE(std::string("not json"), std::string(R"({"data":)") + std::string(80, '[') + std::string(80, ']') + "}");

    auto ctx = event_context(e, 1'790'000'000, "ja");
    CHECK(ctx.event_data == json{{"type", 1}, {"source", "poll"}});
    CHECK(ctx.message.is_null());
}

TEST_CASE("An event whose processing the database keeps refusing is not quarantined and is processed once it takes writes", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const auto id = rig.add_order_event("n-1", order_id);

    // More storage failures than the quarantine limit, each after the
    // event's start was committed: the process survives them all.
    for (int i = 0; i < pipeline::max_event_starts + 1; ++i) {
        const auto calls_before = order_detail_calls(*rig.env.shop);
        bool done = false, ok = true;
        asio::co_spawn(rig.env.io, rig.pipe->pass(), [&](std::exception_ptr, bool passed) {
            done = true;
            ok = passed;
        });
        // The start is in; TikTok is asked for the order when the lock is taken.
        REQUIRE(rig.env.run_until([&] { return done || order_detail_calls(*rig.env.shop) > calls_before; }));
        REQUIRE_FALSE(done);
        daemon::testing::outside_write_lock lock(rig.env);
        REQUIRE(rig.env.run_until([&] { return done; }));
        CHECK_FALSE(ok);
        CHECK(rig.event(id).state == "pending");
        CHECK(rig.env.store.actions_for_order(order_id).empty());
    }

    CHECK(rig.pass());
    CHECK(rig.event(id).state == "done");
    CHECK(reviews_for(rig.env, "event_quarantined").empty());
    CHECK(rig.env.store.actions_for_order(order_id).size() == 1);
}

TEST_CASE("A pass while the database refuses writes leaves the inbox as it was", "[pipeline]") {
    pipeline_rig rig;
    const std::string order_id = rig.env.create_order();
    rig.env.make_ready_to_ship(order_id);
    const auto id = rig.add_order_event("n-1", order_id);
    {
        daemon::testing::outside_write_lock lock(rig.env);
        CHECK_FALSE(rig.pass());
        CHECK(rig.event(id).starts == 0);
        CHECK(rig.event(id).state == "pending");
    }
    CHECK(rig.pass());
    CHECK(rig.event(id).state == "done");
    CHECK(rig.env.store.actions_for_order(order_id).size() == 1);
}

TEST_CASE("The events of a page share one commit, and each is logged once it is in", "[pipeline]") {
    pipeline_rig rig;
    rig.pipe->set_batch_span(std::chrono::seconds(60));   // however slow this build: one batch
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 6; ++i) {
        const std::string order_id = rig.env.create_order();
        rig.env.make_ready_to_ship(order_id);
        ids.push_back(rig.add_order_event("n-" + std::to_string(i), order_id));
    }
    int commits = 0;
    rig.env.db.observe_prepares([&](std::string_view sql) { commits += sql == "COMMIT"; });
    orderflow::testing::log_capture logs;
    CHECK(rig.pass());
    rig.env.db.observe_prepares({});
    // The page's starts, then its six outcomes together.
    CHECK(commits == 2);
    for (auto id : ids) CHECK(rig.event(id).state == "done");
    CHECK(count_lines(logs.finish(), "event_processed") == 6);
    CHECK(rig.planned_wakes == 6);
    CHECK_FALSE(rig.env.db.batching());
}

TEST_CASE("A page's batch gives the write lock back between spans", "[pipeline]") {
    pipeline_rig rig;
    rig.pipe->set_batch_span(std::chrono::microseconds(0));   // every event its own commit
    for (int i = 0; i < 4; ++i) {
        const std::string order_id = rig.env.create_order();
        rig.env.make_ready_to_ship(order_id);
        rig.add_order_event("n-" + std::to_string(i), order_id);
    }
    int commits = 0;
    rig.env.db.observe_prepares([&](std::string_view sql) { commits += sql == "COMMIT"; });
    CHECK(rig.pass());
    rig.env.db.observe_prepares({});
    CHECK(commits == 5);
    CHECK(rig.env.store.pending_events(rig.env.now, 10).empty());
}

// docs/privacy.md, "Erasure": without suppression, what TikTok reports
// again about a forgotten buyer from before the forget is set aside unread
// (dated by the change, or by the order when the change is undated), while
// a later change, and what orderflowd makes itself after the forget
// (timers, tracking numbers), is handled as anyone's.
TEST_CASE("After a forget a change from before it is set aside unread and later work is done", "[pipeline][privacy]") {
    pipeline_rig rig;
    const orderflow::secret key(std::string(32, 'k'));
    rig.pipe->set_forget_key(key.clone());
    const std::string order_id = rig.env.create_order("山田 花子");
    rig.env.make_ready_to_ship(order_id);   // TikTok dates the change env.now
    const std::int64_t changed = rig.env.now;
    rig.env.now += 60;
    rig.env.db.transaction([&] {
        storage::note_forgotten(rig.env.db, storage::forget_hash(key_bytes(key), "order:" + order_id), rig.env.now, false);
    });
    rig.env.now += 60;
    const auto calls_before = order_detail_calls(*rig.env.shop);

    orderflow::testing::log_capture logs;
    // TikTok retries the change's webhook: dated before the forget.
    const auto retried = rig.add(event_from(order_webhook("n-1", order_id, "AWAITING_SHIPMENT", changed), rig.env.now));
    // The same change without a date: the order, unchanged since, dates it.
    auto undated = event_from(json{{"type", 1}, {"tts_notification_id", "n-2"}, {"timestamp", changed},
                                   {"data", {{"order_id", order_id}, {"order_status", "AWAITING_SHIPMENT"}}}}.dump(),
                              rig.env.now);
    undated.change_key.clear();   // not the same change to the inbox: the pipeline must judge it on its own
    const auto undated_id = rig.add(undated);
    CHECK(rig.pass());
    const auto lines = orderflow::testing::log_lines(logs.finish(), "event_set_aside");
    for (const auto id : {retried, undated_id}) {
        const auto e = rig.env.store.get_event(id);
        if (!e) continue;   // a second sighting of a change already set aside goes (storage::set_aside_event)
        CHECK(e->state == "ignored");
        CHECK(e->payload == "{}");
        CHECK(e->order_id.empty());
    }
    CHECK(lines.size() == 2);
    for (const auto& line : lines)
        CHECK_THAT(line.value("reason", ""), Catch::Contains("before the buyer's data was erased"));
    CHECK(order_detail_calls(*rig.env.shop) == calls_before + 1);   // only the undated one fetched its order
    CHECK(rig.env.store.actions_for_order(order_id).empty());
    CHECK_FALSE(rig.env.store.get_order(order_id).has_value());

    // A timer a rule set after the forget, and a tracking number the
    // warehouse posts: orderflowd's own, and done.
    storage::new_event timer;
    timer.dedupe_key = "timer:after-forget";
    timer.source = "timer";
    timer.event = "timer.ship_sla";
    timer.order_id = order_id;
    timer.payload = json{{"data", {{"order_id", order_id}, {"timer", "timer.ship_sla"}, {"fire_at", rig.env.now}}}}.dump();
    timer.received_at = rig.env.now;
    const auto timer_id = rig.add(timer);
    storage::new_event tracking;
    tracking.dedupe_key = "trk:after-forget";
    tracking.source = "tracking_feed";
    tracking.event = "tracking.received";
    tracking.order_id = order_id;
    tracking.payload = json{{"source", "tracking_feed"},
                            {"data", {{"order_id", order_id}, {"package_id", ""}, {"carrier", "yamato"}, {"tracking_number", "1234"}}}}
                           .dump();
    tracking.received_at = rig.env.now;
    const auto tracking_id = rig.add(tracking);
    CHECK(rig.pass());
    CHECK(rig.event(timer_id).state == "done");
    CHECK(rig.event(tracking_id).state == "done");

    // Her order moves on after the forget: a new change, handled as anyone's.
    rig.env.control("POST", "/control/orders/" + order_id + "/status", {{"status", "AWAITING_COLLECTION"}});
    const auto later = rig.add(event_from(order_webhook("n-3", order_id, "AWAITING_COLLECTION", rig.env.now), rig.env.now));
    CHECK(rig.pass());
    CHECK(rig.event(later).state == "done");
    const auto cached = rig.env.store.get_order(order_id);
    REQUIRE(cached.has_value());
    CHECK(cached->status == "AWAITING_COLLECTION");
}

// storage/idempotency.hpp: with the daemon's key, what the pipeline plans is
// named by the keyed hash of its material. An action an earlier version
// planned under the plain hash, converted at the upgrade, is still refused
// when a later event plans it again.
TEST_CASE("Planned actions are named by keyed hashes and one planned before the upgrade is not planned again", "[pipeline][privacy]") {
    const std::string every_change = R"({
      "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
      "rules": [ { "id": "thanks", "on": "order.status_changed", "then": [ { "send_message": { "template": "thanks" } } ] } ]
    })";
    pipeline_rig rig(true, every_change);
    const std::string before = rig.env.create_order("山田 花子");
    rig.env.make_ready_to_ship(before);
    const auto material = [](const std::string& order_id) { return std::string("thanks\x1f") + "0\x1f" + "order\x1f" + order_id; };

    // The version before 22: no key, the plain hash.
    rig.add_order_event("n-1", before);
    REQUIRE(rig.pass());
    REQUIRE(rig.env.store.actions_for_order(before).size() == 1);
    CHECK(rig.env.store.actions_for_order(before)[0].idem_key == storage::hash_key(material(before)));

    // The upgrade: migration 22's record, the conversion, then the key.
    const orderflow::secret key(std::string(32, 'i'));
    rig.env.db.exec("INSERT OR REPLACE INTO daemon_state (name, value, updated_at) SELECT 'plain_hashes', "
                    "json_object('inbox', 0, 'outbox', 0), 0");
    while (!storage::rekey_plain_hashes(rig.env.db, key_bytes(key)).done) {
    }
    rig.pipe->set_hash_key(key.clone());
    const std::string keyed = storage::idempotency_hash(key_bytes(key), material(before));
    CHECK(rig.env.store.actions_for_order(before)[0].idem_key == keyed);

    // The order changes again: the rule plans its message again, refused.
    const auto again = rig.add_order_event("n-2", before, "IN_TRANSIT");
    REQUIRE(rig.pass());
    CHECK(rig.event(again).state == "done");
    CHECK(rig.event(again).note == "matched: thanks");   // planned again, and refused
    auto actions = rig.env.store.actions_for_order(before);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].idem_key == keyed);

    // A new order: its action is named by the keyed hash, not the plain one.
    const std::string after = rig.env.create_order("佐藤 次郎");
    rig.env.make_ready_to_ship(after);
    rig.add_order_event("n-3", after);
    REQUIRE(rig.pass());
    actions = rig.env.store.actions_for_order(after);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].idem_key == storage::idempotency_hash(key_bytes(key), material(after)));
    CHECK(actions[0].idem_key != storage::hash_key(material(after)));
}

}  // namespace ORDERFLOW_TEST_FILE
