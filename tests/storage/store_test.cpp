// Tests for storage/store.hpp: inbox deduplication and scheduling, the orders
// cache, the outbox's idempotency keys and state machine, conversations, the
// audit log and counts.
#include "storage/store.hpp"

#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <stdexcept>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;

namespace {

new_event make_event(std::string key, std::int64_t received_at = 100) {
    new_event e;
    e.dedupe_key = std::move(key);
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = "576461413038785752";
    e.payload = R"({"type":1,"data":{"order_id":"576461413038785752","order_status":"AWAITING_SHIPMENT"}})";
    e.received_at = received_at;
    return e;
}

new_action make_action(std::string rule, int index, std::string order_id = "o1") {
    new_action a;
    a.idem_key = hash_key(rule + "|" + std::to_string(index) + "|order:" + order_id);
    a.rule_id = std::move(rule);
    a.action_index = index;
    a.kind = "send_message";
    a.order_id = std::move(order_id);
    a.event_id = 1;
    a.payload = R"({"text":"Thanks!","buyer_user_id":"b1"})";
    a.created_at = 100;
    return a;
}

std::vector<std::int64_t> ids(const auto& rows) {
    std::vector<std::int64_t> out;
    for (const auto& r : rows) out.push_back(r.id);
    return out;
}

std::int64_t count_rows(database& db, const std::string& table) {
    auto st = db.prepare("SELECT count(*) FROM " + table);
    REQUIRE(st.step());
    return st.int64(0);
}

struct fixture {
    temp_dir dir;
    database db = database::open(dir / "orderflow.db");
    store s{db};
};

// What migration 19 added, taken away again (a test that goes back to an
// earlier version first).
// Back past migration 21 (forgotten.suppress), then 19.
constexpr std::string_view undo_21 = "ALTER TABLE forgotten DROP COLUMN suppress; ";
constexpr std::string_view undo_19 =
    "DROP INDEX audit_log_unhashed; ALTER TABLE audit_log DROP COLUMN pseudonymised; "
    "DELETE FROM daemon_state WHERE name = 'purge_backlog'; ";

}  // namespace

TEST_CASE("add_event stores an event once per dedupe key", "[store]") {
    fixture f;
    CHECK(f.s.add_event(make_event("n-1")));

    auto again = make_event("n-1", 200);
    again.payload = R"({"redelivered":true})";
    CHECK_FALSE(f.s.add_event(again));
    CHECK(count_rows(f.db, "inbox") == 1);

    auto rows = f.s.pending_events(1000, 10);
    REQUIRE(rows.size() == 1);
    const auto& r = rows[0];
    CHECK(r.dedupe_key == "n-1");
    CHECK(r.source == "webhook");
    CHECK(r.topic == 1);
    CHECK(r.event == "order.status_changed");
    CHECK(r.order_id == "576461413038785752");
    CHECK(r.payload == make_event("n-1").payload);  // the first delivery wins
    CHECK(r.received_at == 100);
    CHECK(r.state == "pending");
    CHECK(r.attempts == 0);
    CHECK(r.not_before == 0);
    CHECK(f.s.get_event(r.id)->dedupe_key == "n-1");
    CHECK_FALSE(f.s.get_event(r.id + 1).has_value());

    CHECK(f.s.add_event(make_event("n-2")));
    CHECK(count_rows(f.db, "inbox") == 2);
}

TEST_CASE("One change is processed once, whichever of webhook and poll sees it first", "[store]") {
    fixture f;
    auto hook = make_event("tts:1");
    hook.change_key = "order:576461413038785752:AWAITING_SHIPMENT";
    auto poll = make_event("poll:order:576461413038785752:AWAITING_SHIPMENT");
    poll.source = "poll";
    poll.change_key = hook.change_key;

    SECTION("a webhook is stored with its change unclaimed: the pipeline claims it") {
        CHECK(f.s.add_event(hook));
        CHECK(count_rows(f.db, "inbox_changes") == 0);
        auto stored = f.s.get_event(1);
        REQUIRE(stored);
        CHECK(stored->change_key == hook.change_key);
        CHECK(f.s.claim_change(1, hook.change_key) == 1);
        CHECK(f.s.get_event(1)->change_key.empty());        // taken up: the key lives on in the claim
        CHECK(f.s.claim_change(1, hook.change_key) == 1);   // again: still its own
        SECTION("then a poll of the change adds nothing") {
            CHECK_FALSE(f.s.add_event(poll));
            CHECK(count_rows(f.db, "inbox") == 1);
        }
    }
    SECTION("webhook first, a poll before the webhook is processed: both are stored, the first claims the change") {
        CHECK(f.s.add_event(hook));
        CHECK(f.s.add_event(poll));
        CHECK(f.s.pending_events(1000, 10).size() == 2);
        CHECK(f.s.claim_change(1, hook.change_key) == 1);
        CHECK(f.s.claim_change(2, poll.change_key) == 1);
    }
    SECTION("poll first: a late webhook is kept, and finds the change claimed") {
        CHECK(f.s.add_event(poll));
        CHECK(f.s.claim_change(1, poll.change_key) == 1);
        CHECK(f.s.add_event(hook));
        CHECK(count_rows(f.db, "inbox") == 2);
        CHECK(f.s.claim_change(2, hook.change_key) == 1);
        // A redelivery of that webhook is still just a duplicate.
        CHECK_FALSE(f.s.add_event(hook));
    }
    SECTION("another status of the same order is another change") {
        CHECK(f.s.add_event(hook));
        CHECK(f.s.claim_change(1, hook.change_key) == 1);
        poll.change_key = "order:576461413038785752:IN_TRANSIT";
        poll.dedupe_key = "poll:" + poll.change_key;
        CHECK(f.s.add_event(poll));
        CHECK(f.s.claim_change(2, poll.change_key) == 2);
        CHECK(f.s.pending_events(1000, 10).size() == 2);
    }
}

TEST_CASE("pending_events returns pending events due now, oldest first, up to the limit", "[store]") {
    fixture f;
    for (int i = 1; i <= 4; ++i) REQUIRE(f.s.add_event(make_event("n-" + std::to_string(i))));
    auto all = f.s.pending_events(100, 10);
    REQUIRE(ids(all) == std::vector<std::int64_t>{1, 2, 3, 4});

    SECTION("the limit caps the batch") { CHECK(ids(f.s.pending_events(100, 2)) == std::vector<std::int64_t>{1, 2}); }

    SECTION("finished events are no longer pending") {
        f.s.finish_event(1, "done", "", 150);
        f.s.finish_event(2, "ignored", "no rule matched", 151);
        f.s.finish_event(3, "failed", "bad payload", 152);
        CHECK(ids(f.s.pending_events(1000, 10)) == std::vector<std::int64_t>{4});
        auto row = f.s.get_event(2);
        REQUIRE(row);
        CHECK(row->state == "ignored");
        CHECK(row->note == "no rule matched");
        CHECK(row->finished_at == 151);
    }

    SECTION("a retried event waits for not_before and counts its attempts") {
        f.s.retry_event(2, "order API timed out", 500);
        CHECK(ids(f.s.pending_events(499, 10)) == std::vector<std::int64_t>{1, 3, 4});
        CHECK(ids(f.s.pending_events(500, 10)) == std::vector<std::int64_t>{1, 2, 3, 4});
        f.s.retry_event(2, "order API timed out again", 900);
        auto row = f.s.get_event(2);
        REQUIRE(row);
        CHECK(row->state == "pending");
        CHECK(row->attempts == 2);
        CHECK(row->note == "order API timed out again");
        CHECK(row->not_before == 900);
    }

    SECTION("the lowest ids of the due events, whether due at once, retried, timed or dated before 1970") {
        // 60 more events, each due at once (0), at a time now passed or to
        // come, or at a negative time; the page must be what one sort of
        // every due event by id would give.
        std::vector<std::pair<std::int64_t, std::int64_t>> stored;   // (id, not_before)
        for (const auto& e : all) stored.emplace_back(e.id, 0);
        const std::int64_t times[] = {0, 0, 300, 0, 700, -5, 0, 450, 1200, 0};
        for (int i = 0; i < 60; ++i) {
            auto e = make_event("m-" + std::to_string(i));
            e.not_before = times[i % 10];
            REQUIRE(f.s.add_event(e));
            stored.emplace_back(f.s.last_event_id(), e.not_before);
        }
        for (std::int64_t now : {0, 299, 300, 500, 1000, 5000})
            for (int limit : {1, 5, 17, 50, 100}) {
                std::vector<std::int64_t> expected;
                for (const auto& [id, not_before] : stored)
                    if (not_before <= now && static_cast<int>(expected.size()) < limit) expected.push_back(id);
                INFO("now " << now << ", limit " << limit);
                CHECK(ids(f.s.pending_events(now, limit)) == expected);
            }
    }
}

TEST_CASE("recent_events lists the newest events first", "[store]") {
    fixture f;
    for (int i = 1; i <= 3; ++i) REQUIRE(f.s.add_event(make_event("n-" + std::to_string(i))));
    f.s.finish_event(3, "done", "", 200);
    CHECK(ids(f.s.recent_events(10)) == std::vector<std::int64_t>{3, 2, 1});
    CHECK(ids(f.s.recent_events(1)) == std::vector<std::int64_t>{3});
}

TEST_CASE("put_order inserts and then replaces an order snapshot", "[store]") {
    fixture f;
    CHECK_FALSE(f.s.get_order("o1").has_value());
    f.s.put_order({"o1", "UNPAID", R"({"id":"o1"})", 10});
    f.s.put_order({"o1", "AWAITING_SHIPMENT", R"({"id":"o1","paid":true})", 20});
    auto o = f.s.get_order("o1");
    REQUIRE(o);
    CHECK(o->order_id == "o1");
    CHECK(o->status == "AWAITING_SHIPMENT");
    CHECK(o->snapshot == R"({"id":"o1","paid":true})");
    CHECK(o->updated_at == 20);
    CHECK(count_rows(f.db, "orders") == 1);
}

TEST_CASE("add_action plans an action once per idempotency key", "[store]") {
    fixture f;
    auto a = make_action("ask-engraving-text", 0);
    CHECK(f.s.add_action(a));

    auto replay = a;  // a redelivered webhook or a reload plans the same key
    replay.payload = R"({"text":"different"})";
    replay.created_at = 999;
    CHECK_FALSE(f.s.add_action(replay));
    CHECK(count_rows(f.db, "outbox") == 1);

    auto rows = f.s.actions_for_order("o1");
    REQUIRE(rows.size() == 1);
    const auto& r = rows[0];
    CHECK(r.idem_key == a.idem_key);
    CHECK(r.rule_id == "ask-engraving-text");
    CHECK(r.action_index == 0);
    CHECK(r.kind == "send_message");
    CHECK(r.event_id == 1);
    CHECK(r.payload == a.payload);
    CHECK(r.state == "planned");
    CHECK(r.created_at == 100);
    CHECK(r.updated_at == 100);
    CHECK(r.attempts == 0);

    CHECK(f.s.add_action(make_action("ask-engraving-text", 1)));
    CHECK(count_rows(f.db, "outbox") == 2);
}

TEST_CASE("due_actions returns planned and deferred actions whose time has come", "[store]") {
    fixture f;
    for (int i = 0; i < 6; ++i) REQUIRE(f.s.add_action(make_action("r", i)));
    auto shadow = make_action("shadow-rule", 0);
    shadow.state = "shadow";
    REQUIRE(f.s.add_action(shadow));  // id 7
    auto skipped = make_action("skipped-rule", 0);
    skipped.state = "skipped";
    skipped.reason = "quiet hours";
    REQUIRE(f.s.add_action(skipped));  // id 8

    f.s.set_action_state(2, "deferred", "quiet hours", "", 110, 500);
    f.s.set_action_state(3, "deferred", "rate limited", "", 110, 200);
    f.s.begin_attempt(4, 110);
    f.s.begin_attempt(5, 110);
    f.s.set_action_state(5, "done", "", R"({"message_id":"m1"})", 111);

    CHECK(ids(f.s.due_actions(199, 10)) == std::vector<std::int64_t>{1, 6});
    CHECK(ids(f.s.due_actions(200, 10)) == std::vector<std::int64_t>{1, 3, 6});
    CHECK(ids(f.s.due_actions(500, 10)) == std::vector<std::int64_t>{1, 2, 3, 6});
    CHECK(ids(f.s.due_actions(500, 2)) == std::vector<std::int64_t>{1, 2});

    auto done = f.s.get_action(5);
    REQUIRE(done);
    CHECK(done->state == "done");
    CHECK(done->result == R"({"message_id":"m1"})");
    CHECK(done->updated_at == 111);
    auto skipped_row = f.s.get_action(8);
    REQUIRE(skipped_row);
    CHECK(skipped_row->reason == "quiet hours");
}

TEST_CASE("due_actions gives the lowest ids of the due actions, whether planned at once, timed or deferred", "[store]") {
    // 70 actions: planned due at once (not_before 0), planned with a time
    // (written here by hand: nothing in the daemon writes one today), deferred
    // to a time passed or to come or before 1970, and some not due in any
    // case (sending, done, shadow). Each page must be what one sort of every
    // due action by id would give.
    fixture f;
    struct kind {
        const char* state;
        std::int64_t not_before;
    };
    const kind kinds[] = {{"planned", 0},    {"planned", 0},   {"deferred", 300}, {"planned", 450}, {"deferred", 1200},
                          {"planned", 0},    {"deferred", -5}, {"sending", 0},    {"planned", -7},  {"deferred", 700},
                          {"done", 0},       {"shadow", 0},    {"deferred", 300}, {"planned", 0}};
    std::vector<std::pair<std::int64_t, std::int64_t>> due_at;   // (id, not_before) of the planned and deferred
    for (int i = 0; i < 70; ++i) {
        const auto& k = kinds[i % std::size(kinds)];
        auto a = make_action("r", i);
        if (std::string_view(k.state) == "shadow") a.state = "shadow";
        REQUIRE(f.s.add_action(a));
        const auto id = f.db.last_insert_rowid();
        const std::string_view state = k.state;
        if (state == "deferred") f.s.set_action_state(id, "deferred", "retry", "", 110, k.not_before);
        if (state == "sending" || state == "done") f.s.begin_attempt(id, 110);
        if (state == "done") f.s.set_action_state(id, "done", "", R"({"message_id":"m"})", 111);
        if (state == "planned" && k.not_before != 0) {
            auto st = f.db.prepare("UPDATE outbox SET not_before = ?2 WHERE id = ?1");
            st.bind(1, id).bind(2, k.not_before);
            st.step();
        }
        if (state == "planned" || state == "deferred") due_at.emplace_back(id, k.not_before);
    }
    for (std::int64_t now : {-6, 0, 299, 300, 500, 1000, 5000})
        for (int limit : {1, 5, 17, 50, 100}) {
            std::vector<std::int64_t> expected;
            for (const auto& [id, not_before] : due_at)
                if (not_before <= now && static_cast<int>(expected.size()) < limit) expected.push_back(id);
            INFO("now " << now << ", limit " << limit);
            CHECK(ids(f.s.due_actions(now, limit)) == expected);
        }
}

TEST_CASE("set_action_state rejects a state the outbox does not know", "[store]") {
    fixture f;
    REQUIRE(f.s.add_action(make_action("r", 0)));
    CHECK_THROWS_AS(f.s.set_action_state(1, "sent", "", "", 100), storage_error);
    CHECK(f.s.get_action(1)->state == "planned");
}

TEST_CASE("Every outbox state transition is allowed or refused as the state machine says, and each lands in the history", "[store]") {
    static const char* const states[] = {"planned", "deferred", "sending", "done", "failed", "skipped", "unknown", "shadow"};
    auto [from, to] = GENERATE(table<int, int>({
        {0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}, {0, 5}, {0, 6}, {0, 7},
        {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 7},
        {2, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4}, {2, 5}, {2, 6}, {2, 7},
        {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {3, 5}, {3, 6}, {3, 7},
        {4, 0}, {4, 1}, {4, 2}, {4, 3}, {4, 4}, {4, 5}, {4, 6}, {4, 7},
        {5, 0}, {5, 1}, {5, 2}, {5, 3}, {5, 4}, {5, 5}, {5, 6}, {5, 7},
        {6, 0}, {6, 1}, {6, 2}, {6, 3}, {6, 4}, {6, 5}, {6, 6}, {6, 7},
        {7, 0}, {7, 1}, {7, 2}, {7, 3}, {7, 4}, {7, 5}, {7, 6}, {7, 7},
    }));
    const std::string f_state = states[from], t_state = states[to];
    CAPTURE(f_state, t_state);
    fixture f;
    auto a = make_action("r", 0);
    a.state = f_state;
    REQUIRE(f.s.add_action(a));

    // The state machine of docs/architecture.md, "Effects", spelled out once
    // more here so that a change to it is a deliberate change to this test too.
    const bool expected = (f_state == "planned" || f_state == "deferred")
                              ? (t_state == "sending" || t_state == "deferred" || t_state == "failed" || t_state == "skipped")
                          : f_state == "sending" ? (t_state == "done" || t_state == "failed" || t_state == "deferred" || t_state == "unknown")
                          : f_state == "unknown" ? (t_state == "done" || t_state == "planned" || t_state == "unknown" || t_state == "failed")
                                                 : false;
    CHECK(outbox_transition_allowed(f_state, t_state) == expected);
    if (expected) {
        f.s.set_action_state(1, t_state, "why", "", 200, 0);
        CHECK(f.s.get_action(1)->state == t_state);
        auto h = f.s.action_history(1);
        REQUIRE(h.size() == 2);
        CHECK(h[0].state == f_state);
        CHECK(h[1].state == t_state);
        CHECK(h[1].reason == "why");
        CHECK(h[1].at == 200);
    } else {
        try {
            f.s.set_action_state(1, t_state, "why", "", 200, 0);
            FAIL("the transition was accepted");
        } catch (const storage_error& e) {
            CHECK_THAT(e.what(), Catch::Contains(f_state + " -> " + t_state + " refused"));
            CHECK(e.refused_transition());
            CHECK_FALSE(e.full());
        }
        // An action that is not there is another error, not a refusal.
        try {
            f.s.set_action_state(99, t_state, "why", "", 200, 0);
            FAIL("a missing action changed state");
        } catch (const storage_error& e) {
            CHECK_FALSE(e.refused_transition());
        }
        CHECK(f.s.get_action(1)->state == f_state);
        CHECK(f.s.action_history(1).size() == 1);
    }
}

TEST_CASE("The database's transition table is the one outbox_transition_allowed describes", "[store]") {
    fixture f;
    auto st = f.db.prepare("SELECT from_state, to_state FROM outbox_transitions");
    int rows = 0;
    while (st.step()) {
        CAPTURE(st.text(0), st.text(1));
        CHECK(outbox_transition_allowed(st.text(0), st.text(1)));
        ++rows;
    }
    CHECK(rows == 16);
}

TEST_CASE("An action's history records every attempt with its number and reason", "[store]") {
    fixture f;
    REQUIRE(f.s.add_action(make_action("r", 0)));
    f.s.begin_attempt(1, 101);
    f.s.set_action_state(1, "deferred", "36009003: busy", "", 102, 110);
    f.s.begin_attempt(1, 110);
    f.s.set_action_state(1, "unknown", "outcome unknown: timeout", "", 111);
    f.s.set_action_state(1, "planned", "reconciled: absent", "", 140);
    f.s.begin_attempt(1, 141);
    f.s.set_action_state(1, "done", "", "{}", 142);
    auto h = f.s.action_history(1);
    std::vector<std::string> seen;
    for (const auto& x : h) seen.push_back(x.state + "/" + std::to_string(x.attempt));
    CHECK(seen == std::vector<std::string>{"planned/0", "sending/1", "deferred/1", "sending/2", "unknown/2", "planned/2", "sending/3", "done/3"});
    CHECK(h[2].reason == "36009003: busy");
    CHECK_THROWS_AS(f.s.set_action_state(99, "done", "", "", 1), storage_error);
}

TEST_CASE("Caps and the circuit breaker count only the messages that count", "[store]") {
    fixture f;
    for (int i = 0; i < 4; ++i) {
        auto a = make_action("r", i, i < 3 ? "o1" : "o2");
        a.buyer_user_id = "b1";
        a.created_at = 100 + i;
        REQUIRE(f.s.add_action(a));
    }
    auto shadow = make_action("s", 0);
    shadow.state = "shadow";
    shadow.created_at = 200;
    REQUIRE(f.s.add_action(shadow));
    using times = std::vector<std::int64_t>;
    CHECK(f.s.sends_planned_between(0, 5, 100) == times{100, 101, 102, 103});   // shadow rows send nothing
    CHECK(f.s.sends_planned_between(0, 5, 102) == times{102, 103});
    CHECK(f.s.sends_planned_between(2, 5, 0) == times{102, 103});   // after a resume at action 2, only 3 and 4 count
    CHECK(f.s.sends_planned_between(0, 3, 0) == times{100, 101, 102});   // up to the newest action seen
    CHECK(f.s.sends_planned_between(0, 5, 100, 3) == times{100, 101, 102});   // reading stops at the cap
    CHECK(f.s.first_action_since(102) == 3);
    CHECK(f.s.first_action_since(201) == 0);
    CHECK(f.s.newest_action_id() == 5);
    CHECK(f.s.messages_to_order_since("o1", 0) == 0);   // planned is not sent
    f.s.begin_attempt(1, 300);
    f.s.set_action_state(1, "done", "", "{}", 301);
    f.s.begin_attempt(2, 302);                          // in flight counts: it may arrive
    f.s.begin_attempt(4, 303);
    f.s.set_action_state(4, "unknown", "timeout", "", 304);
    CHECK(f.s.messages_to_order_since("o1", 0) == 2);
    CHECK(f.s.messages_to_order_since("o1", 302) == 1);
    CHECK(f.s.messages_to_buyer_since("b1", 0) == 3);
    CHECK(f.s.messages_to_buyer_since("", 0) == 0);
    CHECK(f.s.skip_held_sends(103, "dropped by staff", 400) == 1);   // id 3 (planned, created 102)
    CHECK(f.s.get_action(3)->state == "skipped");
    CHECK(f.s.get_action(3)->reason == "dropped by staff");
}

TEST_CASE("Daemon state survives as name and value", "[store]") {
    fixture f;
    CHECK_FALSE(f.s.get_state("breaker"));
    f.s.put_state("breaker", R"({"open":true})", 10);
    f.s.put_state("breaker", R"({"open":false})", 11);
    CHECK(f.s.get_state("breaker") == std::optional<std::string>(R"({"open":false})"));
}

TEST_CASE("Sends interrupted by a crash become unknown at start-up and are not due again", "[store]") {
    fixture f;
    for (int i = 0; i < 3; ++i) REQUIRE(f.s.add_action(make_action("r", i)));
    f.s.begin_attempt(1, 120);
    f.s.begin_attempt(2, 121);
    f.s.set_action_state(2, "done", "", "ok", 122);
    f.s.begin_attempt(3, 123);

    auto sending = f.s.get_action(1);
    REQUIRE(sending);
    CHECK(sending->state == "sending");
    CHECK(sending->attempts == 1);

    CHECK(f.s.mark_interrupted_sends(300) == 2);
    for (std::int64_t id : {1, 3}) {
        auto row = f.s.get_action(id);
        REQUIRE(row);
        CHECK(row->state == "unknown");
        CHECK(row->reason == "interrupted: outcome unknown");
        CHECK(row->updated_at == 300);
    }
    CHECK(f.s.get_action(2)->state == "done");
    CHECK(f.s.due_actions(1000, 10).empty());
    CHECK(f.s.mark_interrupted_sends(301) == 0);
    CHECK(ids(f.s.actions_in_state("unknown", 10)) == std::vector<std::int64_t>{1, 3});
    CHECK(ids(f.s.actions_in_state("unknown", 1)) == std::vector<std::int64_t>{1});
    CHECK(ids(f.s.actions_in_state("done", 10)) == std::vector<std::int64_t>{2});
}

TEST_CASE("recent_actions and actions_for_order list the outbox", "[store]") {
    fixture f;
    REQUIRE(f.s.add_action(make_action("r", 0, "o1")));
    REQUIRE(f.s.add_action(make_action("r", 0, "o2")));
    REQUIRE(f.s.add_action(make_action("r", 1, "o1")));
    CHECK(ids(f.s.recent_actions(10)) == std::vector<std::int64_t>{3, 2, 1});
    CHECK(ids(f.s.recent_actions(2)) == std::vector<std::int64_t>{3, 2});
    CHECK(ids(f.s.actions_for_order("o1")) == std::vector<std::int64_t>{1, 3});
    CHECK(f.s.actions_for_order("o9").empty());
}

TEST_CASE("conversation_for remembers the latest conversation of a buyer", "[store]") {
    fixture f;
    CHECK_FALSE(f.s.conversation_for("b1").has_value());
    f.s.put_conversation("b1", "c1", 10);
    CHECK(f.s.conversation_for("b1") == "c1");
    f.s.put_conversation("b1", "c2", 20);
    CHECK(f.s.conversation_for("b1") == "c2");
    CHECK_FALSE(f.s.conversation_for("b2").has_value());
    CHECK(count_rows(f.db, "conversations") == 1);
}

TEST_CASE("The audit log keeps entries with their JSON detail, newest first", "[store]") {
    fixture f;
    f.s.audit(10, "executor", "send_message", "o1", {{"action_id", 1}, {"message_id", "m1"}});
    f.s.audit(11, "staff:alice", "review_resolved", "", nlohmann::json::object());
    f.s.audit(12, "executor", "send_message", "o2", {{"text", std::string("broken \xff utf-8")}});

    auto rows = f.s.recent_audit(10);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0]["at"] == 12);
    CHECK(rows[0]["detail"]["text"].get<std::string>().starts_with("broken "));
    CHECK(rows[1]["actor"] == "staff:alice");
    CHECK(rows[1]["order_id"] == "");
    CHECK(rows[2]["action"] == "send_message");
    CHECK(rows[2]["order_id"] == "o1");
    CHECK(rows[2]["detail"] == nlohmann::json{{"action_id", 1}, {"message_id", "m1"}});
    CHECK(f.s.recent_audit(1).size() == 1);
}

TEST_CASE("counts reports every inbox and outbox state", "[store]") {
    fixture f;
    auto empty = f.s.counts();
    CHECK(empty["inbox"]["pending"] == 0);
    CHECK(empty["outbox"]["unknown"] == 0);
    CHECK(empty["outbox"].size() == 8);

    REQUIRE(f.s.add_event(make_event("n-1")));
    REQUIRE(f.s.add_event(make_event("n-2")));
    f.s.finish_event(1, "done", "", 100);
    REQUIRE(f.s.add_action(make_action("r", 0)));
    REQUIRE(f.s.add_action(make_action("r", 1)));
    f.s.set_action_state(2, "deferred", "quiet hours", "", 100, 500);
    auto timer = make_event("timer:k");
    timer.source = "timer";
    timer.event = "timer.engraving.reminder";
    timer.not_before = 5000;
    REQUIRE(f.s.add_event(timer));

    auto c = f.s.counts();
    CHECK(c["inbox"] == nlohmann::json{{"pending", 1}, {"timers", 1}, {"done", 1}, {"ignored", 0}, {"failed", 0}});
    CHECK(f.s.pending_events(4999, 10).size() == 1);   // the timer waits for its time
    CHECK(f.s.pending_events(5000, 10).size() == 2);
    CHECK(c["outbox"]["planned"] == 1);
    CHECK(c["outbox"]["deferred"] == 1);
    CHECK(c["outbox"]["done"] == 0);
}

namespace {

// counts() as it was computed before migration 10 kept the numbers: by
// counting the rows.
nlohmann::json counted(database& db) {
    nlohmann::json out = {{"inbox", nlohmann::json::object()}, {"outbox", nlohmann::json::object()}};
    for (const char* s : {"pending", "timers", "done", "ignored", "failed"}) out["inbox"][s] = 0;
    for (const char* s : {"planned", "deferred", "sending", "done", "failed", "skipped", "unknown", "shadow"}) out["outbox"][s] = 0;
    auto in = db.prepare(
        "SELECT CASE WHEN state = 'pending' AND source = 'timer' THEN 'timers' ELSE state END, count(*) FROM inbox GROUP BY 1");
    while (in.step()) out["inbox"][in.text(0)] = in.int64(1);
    auto ob = db.prepare("SELECT state, count(*) FROM outbox GROUP BY state");
    while (ob.step()) out["outbox"][ob.text(0)] = ob.int64(1);
    return out;
}

// A mix of every way rows arrive and change state.
void fill_inbox_and_outbox(store& s) {
    for (int i = 0; i < 6; ++i) REQUIRE(s.add_event(make_event("n-" + std::to_string(i))));
    auto timer = make_event("timer:k");
    timer.source = "timer";
    timer.not_before = 5000;
    REQUIRE(s.add_event(timer));
    auto hook = make_event("tts:c1");
    hook.change_key = "order:o1:SHIPPED";
    auto poll = make_event("poll:c1");
    poll.source = "poll";
    poll.change_key = hook.change_key;
    REQUIRE(s.add_event(poll));
    REQUIRE(s.add_event(hook));
    REQUIRE(s.claim_change(8, hook.change_key) == 8);   // the poll, first stored, claims the change
    REQUIRE(s.claim_change(9, hook.change_key) == 8);
    s.finish_event(9, "ignored", "same change as inbox event 8", 100);
    s.finish_event(1, "done", "", 100);
    s.finish_event(2, "failed", "bad", 100);
    s.finish_event(7, "done", "", 5000);   // the timer fired
    s.retry_event(3, "timeout", 200);
    for (int i = 0; i < 5; ++i) REQUIRE(s.add_action(make_action("r", i)));
    auto shadow = make_action("r", 9);
    shadow.state = "shadow";
    REQUIRE(s.add_action(shadow));
    s.begin_attempt(1, 100);
    s.set_action_state(1, "done", "", "{}", 101);
    s.begin_attempt(2, 100);
    s.set_action_state(2, "unknown", "timeout", "", 101);
    s.set_action_state(2, "planned", "absent", "", 102);
    s.set_action_state(3, "deferred", "quiet", "", 101, 500);
    s.set_action_state(3, "deferred", "quiet", "", 102, 600);   // deferred to deferred
    s.begin_attempt(4, 100);
    CHECK(s.mark_interrupted_sends(103) == 1);
}

}  // namespace

TEST_CASE("counts equals counting the rows after inserts, state changes, rollbacks and deletes", "[store]") {
    fixture f;
    fill_inbox_and_outbox(f.s);
    CHECK_THROWS(f.db.transaction([&] {
        f.s.finish_event(4, "done", "", 100);
        REQUIRE(f.s.add_action(make_action("rolled back", 0)));
        throw std::runtime_error("crash before commit");
    }));
    CHECK(f.s.counts() == counted(f.db));
    CHECK(f.s.counts()["inbox"]["ignored"] == 1);
    CHECK(f.s.counts()["outbox"]["unknown"] == 1);

    f.db.exec("DELETE FROM inbox WHERE id IN (1, 5, 7); DELETE FROM outbox WHERE id IN (1, 6)");
    CHECK(f.s.counts() == counted(f.db));
}

TEST_CASE("Migration 17 leaves pending events out of inbox_finished, and the activity still counts the finished ones", "[store][migration]") {
    temp_dir dir;
    {
        auto db = database::open(dir / "orderflow.db");
        // Back to version 16: every event in inbox_finished, pending ones at 0.
        db.exec("DROP INDEX inbox_finished; CREATE INDEX inbox_finished ON inbox (finished_at); " + std::string(undo_21) + std::string(undo_19) +
                "PRAGMA user_version = 16;");
        store s(db);
        REQUIRE(s.add_event(make_event("done-1")));
        REQUIRE(s.add_event(make_event("pending-1")));
        s.finish_event(1, "done", "matched:r1", 500);
        auto in_index = db.prepare("SELECT count(*) FROM inbox INDEXED BY inbox_finished WHERE finished_at >= 0");
        REQUIRE(in_index.step());
        CHECK(in_index.int64(0) == 2);
    }
    auto db = database::open(dir / "orderflow.db");
    REQUIRE(db.schema_version() == database::latest_schema_version());
    auto sql = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'inbox_finished'");
    REQUIRE(sql.step());
    CHECK_THAT(sql.text(0), Catch::Contains("WHERE finished_at > 0"));
    // The pending event is in the inbox and not in the index.
    auto in_index = db.prepare("SELECT id FROM inbox INDEXED BY inbox_finished WHERE finished_at > 0");
    REQUIRE(in_index.step());
    CHECK(in_index.int64(0) == 1);
    CHECK_FALSE(in_index.step());
    store s(db);
    CHECK(s.activity_since(0).events_processed == 1);
    CHECK(s.activity_since(501).events_processed == 0);
    CHECK(s.rule_coverage(0).events == 1);
    // A new event stays out until it finishes.
    REQUIRE(s.add_event(make_event("later")));
    s.finish_event(3, "done", "matched:r1", 600);
    CHECK(s.activity_since(0).events_processed == 2);
}

// inbox_finished is partial (finished_at > 0), so both queries must say
// `finished_at > 0`; of two lower bounds SQLite starts the index's range at
// the first one written. Started at 0, each read every finished event ever
// kept: once a day on the event loop's thread, 143 ms on a million orders.
TEST_CASE("The heartbeat and rules coverage read the finished events from the time asked, not every one kept", "[store]") {
    fixture f;
    for (int i = 1; i <= 60; ++i) {
        REQUIRE(f.s.add_event(make_event("event-" + std::to_string(i))));
        if (i <= 50) f.s.finish_event(i, "done", "", 100);                 // long ago
        else if (i <= 58) f.s.finish_event(i, "done", "matched:r1", 1000);   // today
        else f.s.finish_event(i, "ignored", "same change", 1000);
    }
    std::vector<std::string> inbox_queries;
    f.db.observe_prepares([&](std::string_view text) {
        if (text.find("FROM inbox") != std::string_view::npos) inbox_queries.emplace_back(text);
    });
    CHECK(f.s.activity_since(900).events_processed == 8);
    const auto coverage = f.s.rule_coverage(900);
    f.db.observe_prepares({});
    CHECK(coverage.events == 8);
    CHECK(coverage.rules.at("r1").matched == 8);
    CHECK(f.s.activity_since(0).events_processed == 58);

    REQUIRE(inbox_queries.size() == 2);
    for (const auto& sql : inbox_queries) {
        // Where the index's range starts: SeekGE at the time asked, not
        // SeekGT past 0.
        std::string seeks;
        auto program = f.db.prepare("EXPLAIN " + sql);
        while (program.step())
            if (const auto op = program.text(1); op.rfind("Seek", 0) == 0) seeks += op + " ";
        INFO(sql);
        CHECK(seeks == "SeekGE ");
    }
}

// Migration 18 rewrites each CHECK by its exact text; a database whose text
// differs (edited by hand, say) must not reach version 18 with the slow form
// left in place.
TEST_CASE("Migration 18 fails, leaving version 17, when a constraint is not in the text it rewrites", "[store][migration]") {
    temp_dir dir;
    {
        auto db = database::open(dir / "orderflow.db");
        db.exec(R"sql(
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = replace(sql,
                'CHECK (state = ''pending'' OR state = ''done'' OR state = ''ignored'' OR state = ''failed'')',
                'CHECK (state IN (''pending'',''done'',''ignored'',''failed''))')
                WHERE type = 'table' AND name = 'inbox';
            PRAGMA writable_schema = RESET;
            PRAGMA user_version = 17;
        )sql");
    }
    CHECK_THROWS_WITH(database::open(dir / "orderflow.db"),
                      Catch::Contains("migration 18 failed, the database stays at version 17") &&
                          Catch::Contains("constraints_said_with_or"));
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2((dir / "orderflow.db").c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* version = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &version, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(version) == SQLITE_ROW);
    CHECK(sqlite3_column_int(version, 0) == 17);
    sqlite3_finalize(version);
    sqlite3_close(raw);
}

// Rows an older version purged kept their order ids and keys in clear;
// migration 19 records how far they go, so the daemon's purge hashes them
// once (storage/retention.hpp), and marks every audit entry as not yet done.
TEST_CASE("Migration 19 records the rows an older version purged and marks every audit entry for the purge", "[store][migration]") {
    temp_dir dir;
    std::int64_t last_event = 0, last_action = 0;
    {
        auto db = database::open(dir / "orderflow.db");
        db.exec(std::string(undo_21) + std::string(undo_19) + "PRAGMA user_version = 18;");
        store s(db);
        REQUIRE(s.add_event(make_event("n-1")));
        s.finish_event(1, "done", "matched: thanks", 100);
        REQUIRE(s.add_event(make_event("n-2")));
        last_event = db.last_insert_rowid();
        REQUIRE(s.add_action(make_action("thanks", 0)));
        last_action = db.last_insert_rowid();
        s.audit(100, "orderflowd", "send_message", "576461413038785752", {{"action_id", last_action}});
    }
    auto db = database::open(dir / "orderflow.db");
    REQUIRE(db.schema_version() == database::latest_schema_version());
    store s(db);
    const auto backlog = nlohmann::json::parse(s.get_state("purge_backlog").value_or("null"));
    CHECK(backlog == nlohmann::json{{"inbox", {0, last_event}}, {"outbox", {0, last_action}}});
    auto unhashed = db.prepare("SELECT count(*) FROM audit_log INDEXED BY audit_log_unhashed WHERE pseudonymised = 0 AND at < 1000");
    REQUIRE(unhashed.step());
    CHECK(unhashed.int64(0) == 1);
    // A new entry is not yet done either.
    s.audit(200, "orderflowd", "send_message", "576461413038785752", {{"action_id", last_action}});
    unhashed.reset();
    REQUIRE(unhashed.step());
    CHECK(unhashed.int64(0) == 2);

    // A database without rows records no backlog.
    temp_dir empty_dir;
    {
        auto empty = database::open(empty_dir / "orderflow.db");
        empty.exec(std::string(undo_21) + std::string(undo_19) + "PRAGMA user_version = 18;");
    }
    auto empty = database::open(empty_dir / "orderflow.db");
    CHECK_FALSE(store(empty).get_state("purge_backlog"));
}

TEST_CASE("Migration 10 counts the inbox and outbox rows already stored", "[store][migration]") {
    temp_dir dir;
    {
        auto db = database::open(dir / "orderflow.db");
        // Back to version 9, which had no row_counts, then rows stored by it.
        db.exec(R"sql(
            DROP TABLE row_counts;
            DROP TRIGGER inbox_count_insert; DROP TRIGGER inbox_count_update; DROP TRIGGER inbox_count_delete;
            DROP TRIGGER outbox_count_insert; DROP TRIGGER outbox_count_update; DROP TRIGGER outbox_count_delete;
            DROP INDEX inbox_finished; DROP INDEX inbox_unpurged; DROP INDEX outbox_settled; DROP INDEX outbox_unpurged;
            DROP INDEX orders_updated; DROP INDEX conversations_updated; DROP INDEX notifications_settled;
            DROP INDEX review_created; DROP INDEX review_settled;
            DROP INDEX inbox_due;
            CREATE INDEX inbox_received ON inbox (received_at);
            CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';
            CREATE INDEX inbox_order ON inbox (order_id);   -- until version 11
            CREATE INDEX review_state ON review (state, id);
            DROP TABLE forgotten;                           -- from version 12
            DROP INDEX inbox_changes_inbox; DROP TRIGGER inbox_changes_on_delete;   -- from version 13
            DROP TRIGGER outbox_history_on_delete; DROP INDEX order_tags_created; DROP INDEX audit_log_at;
            DROP TABLE console_accounts;                    -- from version 14
            DROP INDEX conversations_conversation; DROP TABLE conversation_cards; DROP TABLE order_attributes;   -- from version 15
        )sql");
        db.exec(std::string(undo_19) + "PRAGMA user_version = 9;");
        store s(db);
        fill_inbox_and_outbox(s);
        db.exec("ALTER TABLE inbox DROP COLUMN change_key");   // from version 16 (filled first: today's store writes it)
    }
    auto db = database::open(dir / "orderflow.db");
    REQUIRE(db.schema_version() == database::latest_schema_version());
    store s(db);
    CHECK(s.counts() == counted(db));
    CHECK(s.counts()["inbox"]["done"] == 2);
    // And the triggers keep them from then on.
    REQUIRE(s.add_event(make_event("after")));
    CHECK(s.counts() == counted(db));
}

TEST_CASE("Finishing an event and planning its actions commit or roll back together", "[store]") {
    fixture f;
    REQUIRE(f.s.add_event(make_event("n-1")));

    SECTION("a failure in the middle leaves the event pending and plans nothing") {
        CHECK_THROWS(f.db.transaction([&] {
            f.s.add_action(make_action("r", 0));
            f.s.finish_event(1, "done", "", 100);
            throw std::runtime_error("crash before commit");
        }));
        CHECK(f.s.pending_events(100, 10).size() == 1);
        CHECK(count_rows(f.db, "outbox") == 0);
    }
    SECTION("a successful commit does both, and replaying the event plans nothing new") {
        f.db.transaction([&] {
            CHECK(f.s.add_action(make_action("r", 0)));
            f.s.finish_event(1, "done", "", 100);
        });
        CHECK(f.s.pending_events(100, 10).empty());
        bool added = f.db.transaction([&] { return f.s.add_action(make_action("r", 0)); });
        CHECK_FALSE(added);
        CHECK(count_rows(f.db, "outbox") == 1);
    }
}

TEST_CASE("The review queue keeps one open item per order and reason and counts repeats", "[store][review]") {
    fixture f;
    auto first = f.s.raise_review("o1", "send_failed", "warning", "message not sent", {{"error", "45109001"}}, 100);
    auto again = f.s.raise_review("o1", "send_failed", "critical", "message not sent again", {{"error", "45101006"}}, 110);
    auto other_reason = f.s.raise_review("o1", "send_unknown", "warning", "unknown", nlohmann::json::object(), 120);
    auto other_order = f.s.raise_review("o2", "send_failed", "info", "x", nlohmann::json::object(), 130);
    CHECK(again == first);
    CHECK(other_reason != first);
    CHECK(other_order != first);

    auto item = f.s.get_review(first);
    REQUIRE(item);
    CHECK(item->occurrences == 2);
    CHECK(item->severity == "critical");
    CHECK(item->summary == "message not sent again");
    CHECK(item->evidence == R"({"error":"45101006"})");
    CHECK(item->created_at == 100);
    CHECK(item->updated_at == 110);
    CHECK(f.s.reviews(false, 10).size() == 3);

    SECTION("an acknowledged item still absorbs repeats") {
        REQUIRE(f.s.set_review_state(first, "acknowledged", "hanako", "", 140));
        CHECK(f.s.raise_review("o1", "send_failed", "info", "third", nlohmann::json::object(), 150) == first);
        CHECK(f.s.get_review(first)->occurrences == 3);
        CHECK(f.s.get_review(first)->severity == "critical");
    }
    SECTION("after resolving, a new occurrence opens a new item") {
        REQUIRE(f.s.set_review_state(first, "resolved", "hanako", "replied by hand", 140));
        auto resolved = f.s.get_review(first);
        CHECK(resolved->state == "resolved");
        CHECK(resolved->resolved_by == "hanako");
        CHECK(resolved->note == "replied by hand");
        CHECK(f.s.reviews(false, 10).size() == 2);
        CHECK(f.s.reviews(true, 10).size() == 3);
        auto fresh = f.s.raise_review("o1", "send_failed", "warning", "again", nlohmann::json::object(), 160);
        CHECK(fresh != first);
        CHECK(f.s.get_review(fresh)->occurrences == 1);
    }
    SECTION("unknown ids and states are refused") {
        CHECK_FALSE(f.s.set_review_state(999, "resolved", "x", "", 140));
        CHECK_THROWS_AS(f.s.set_review_state(first, "closed", "x", "", 140), storage_error);
    }
}

TEST_CASE("Notifications are queued once per channel and occasion and retried until sent", "[store][notify]") {
    fixture f;
    CHECK(f.s.add_notification("slack", "review:1:1", 1, {{"text", "x"}}, 100));
    CHECK_FALSE(f.s.add_notification("slack", "review:1:1", 1, {{"text", "again"}}, 101));
    CHECK(f.s.add_notification("pager", "review:1:1", 1, {{"text", "x"}}, 100));
    auto due = f.s.due_notifications(100, 10);
    REQUIRE(due.size() == 2);
    CHECK(due[0].payload == R"({"text":"x"})");

    f.s.notification_retry(due[0].id, "HTTP 503", 160, 110);
    CHECK(f.s.due_notifications(150, 10).size() == 1);
    auto later = f.s.due_notifications(160, 10);
    REQUIRE(later.size() == 2);
    CHECK(later[0].attempts == 1);
    CHECK(later[0].last_error == "HTTP 503");

    f.s.notification_sent(due[0].id, 170);
    f.s.notification_sent(due[1].id, 170);
    CHECK(f.s.due_notifications(1000, 10).empty());
    auto recent = f.s.recent_notifications(10);
    REQUIRE(recent.size() == 2);
    CHECK(recent[1].state == "sent");
    CHECK(recent[1].attempts == 2);
}

TEST_CASE("Processing starts are counted durably and set back to zero by an orderly outcome", "[store]") {
    fixture f;
    REQUIRE(f.s.add_event(make_event("a")));
    REQUIRE(f.s.add_event(make_event("b")));
    const auto first = f.s.pending_events(1000, 10);
    REQUIRE(first.size() == 2);
    CHECK(first[0].starts == 0);
    f.db.transaction([&] {
        f.s.mark_started(first[0].id);
        f.s.mark_started(first[1].id);
    });
    f.s.mark_started(first[0].id);
    {
        // What the next process sees after a crash: reopened from the file.
        auto again = database::open(f.dir / "orderflow.db");
        auto rows = store(again).pending_events(1000, 10);
        CHECK(rows[0].starts == 2);
        CHECK(rows[1].starts == 1);
    }
    f.s.retry_event(first[0].id, "TikTok busy", 0);
    f.s.finish_event(first[1].id, "done", "", 1000);
    CHECK(f.s.get_event(first[0].id)->starts == 0);
    CHECK(f.s.get_event(first[0].id)->attempts == 1);
    CHECK(f.s.get_event(first[1].id)->starts == 0);
    // A finished event is not counted any more.
    f.s.mark_started(first[1].id);
    CHECK(f.s.get_event(first[1].id)->starts == 0);
}

TEST_CASE("events_with_context returns each processed event with the context stored for it", "[store]") {
    fixture f;
    REQUIRE(f.s.add_event(make_event("ctx-1", 500)));
    const auto id = f.s.pending_events(1000, 1).at(0).id;
    f.s.set_event_context(id, R"({"now":500})");
    f.s.finish_event(id, "done", "matched: thanks", 600);
    const auto rows = f.s.events_with_context(400, 10);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].first.id == id);
    CHECK(rows[0].second == R"({"now":500})");
}

TEST_CASE("Review items without an order are told apart by their case key", "[store]") {
    fixture f;
    auto a = f.s.raise_review("", "buyer_complaint", "critical", "buyer A: broken", {{"text", "broken"}}, 100, "conversation:A");
    auto b = f.s.raise_review("", "buyer_complaint", "critical", "buyer B: late", {{"text", "late"}}, 110, "conversation:B");
    auto a_again = f.s.raise_review("", "buyer_complaint", "critical", "buyer A: still broken", {{"text", "still"}}, 120, "conversation:A");
    CHECK(a != b);
    CHECK(a_again == a);
    CHECK(f.s.get_review(a)->occurrences == 2);
    CHECK(f.s.get_review(b)->occurrences == 1);
    CHECK(f.s.get_review(b)->summary == "buyer B: late");
}

}  // namespace ORDERFLOW_TEST_FILE
