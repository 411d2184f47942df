// Tests for storage/retention.hpp, the rows that never finish: a review item
// nobody touched, an event never processed, a message never sent or whose
// outcome was never established. Left untouched for the period, they are
// settled (resolved, ignored, skipped or failed) and then purged like
// finished rows, a batch at a time; what is still being worked on (an item
// that came again, a timer due later, a send in flight, a recent row) keeps
// its data; and every key stays, so nothing settled is ever sent or
// processed after all.
#include "storage/retention.hpp"

#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;
using json = nlohmann::json;

namespace {

// Rows are aged by the times passed to the store: `old_time` is before the
// cutoff, `recent` after it; the purge runs at `now`.
constexpr std::int64_t cutoff = 1'000'000;
constexpr std::int64_t old_time = 500'000;
constexpr std::int64_t recent = 1'500'000;
constexpr std::int64_t now = 1'600'000;

const std::vector<unsigned char> forget_key(32, 0x5a);

// The old buyer's data, each piece distinct so a table or the file can be
// searched for it; the recent buyer's is John Roe's.
const std::string buyer_name = "Jane Doe";
const std::string buyer_phone = "090-1234-5678";
const std::string order_id = "5770000000000001";
const std::string buyer_id = "7100000000000001";
const std::string conversation_id = "conv-0001";

std::string event_payload(const std::string& name, const std::string& order) {
    return json{{"type", 1}, {"data", {{"order_id", order}, {"buyer", name}, {"address", "1 High Street"}}}}.dump();
}

std::string action_payload(const std::string& name, const std::string& buyer) {
    return json{{"text", "Hi " + name + ", your parcel is on its way"}, {"buyer_user_id", buyer}}.dump();
}

new_event make_event(std::string key, std::int64_t received_at, std::string name = buyer_name, std::string order = order_id) {
    new_event e;
    e.dedupe_key = std::move(key);
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = order;
    e.payload = event_payload(name, order);
    e.received_at = received_at;
    return e;
}

new_action make_action(const std::string& rule, std::int64_t created_at, std::string payload, std::string buyer = buyer_id,
                       const std::string& order = order_id) {
    new_action a;
    a.idem_key = hash_key(rule + "|0|order:" + order);
    a.rule_id = rule;
    a.kind = "send_message";
    a.order_id = order;
    a.event_id = 1;
    a.payload = std::move(payload);
    a.created_at = created_at;
    a.buyer_user_id = std::move(buyer);
    return a;
}

// Rows of `table` any of whose columns holds `text`.
std::int64_t rows_naming(database& db, const std::string& table, const std::string& text) {
    std::string columns;
    auto info = db.prepare("SELECT name FROM pragma_table_info('" + table + "')");
    while (info.step()) columns += (columns.empty() ? "" : " || '|' || ") + ("coalesce(CAST(" + info.text(0) + " AS TEXT), '')");
    REQUIRE_FALSE(columns.empty());
    auto st = db.prepare("SELECT count(*) FROM " + table + " WHERE instr(" + columns + ", ?1) > 0");
    st.bind(1, text);
    REQUIRE(st.step());
    return st.int64(0);
}

struct fixture {
    temp_dir dir;
    database db = database::open(dir / "orderflow.db");
    store s{db};

    std::int64_t add_event(const new_event& e) {
        REQUIRE(s.add_event(e));
        return db.last_insert_rowid();
    }
    // An action that reached `state` at `at` the way the daemon takes it there.
    std::int64_t add_action(const std::string& rule, std::int64_t at, const std::string& state, std::string payload,
                            std::string buyer = buyer_id, const std::string& order = order_id) {
        REQUIRE(s.add_action(make_action(rule, at, std::move(payload), std::move(buyer), order)));
        const auto id = db.last_insert_rowid();
        if (state == "sending" || state == "unknown") s.begin_attempt(id, at);
        if (state == "deferred") s.set_action_state(id, "deferred", "quiet hours", "", at, at + 60);
        if (state == "unknown")
            s.set_action_state(id, "unknown", "reconciliation could not tell whether it was delivered; check the conversation",
                               R"({"reconciled":"inconclusive","conversation_id":"conv-0001"})", at);
        return id;
    }
    std::string on_disk() {
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        std::ifstream in(dir / "orderflow.db", std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
};

std::vector<std::int64_t> sorted(std::vector<std::int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
}

}  // namespace

TEST_CASE("A review item untouched since before the cutoff is closed by retention and its personal data purged", "[retention][unfinished]") {
    fixture f;
    const json evidence = {{"text", buyer_name + ": where is my parcel?"}};
    const auto open = f.s.raise_review(order_id, "send_failed", "warning", buyer_name + " asked twice", evidence, old_time,
                                       "conversation:" + conversation_id);
    const auto acknowledged = f.s.raise_review("5770000000000002", "send_unknown", "critical", "check " + buyer_name + "'s conversation",
                                               evidence, old_time);
    REQUIRE(f.s.set_review_state(acknowledged, "acknowledged", "bob", "called " + buyer_name + " at " + buyer_phone, old_time));
    // About the daemon itself, with no order: it holds a source address.
    const auto system = f.s.raise_review("", "security", "critical", "3 bad signatures from 203.0.113.7",
                                         {{"sources", {"203.0.113.7"}}}, old_time, "webhook:1234");
    // Raised before the cutoff but come again since: still being worked on.
    const json johns = {{"text", "John Roe: hi"}};
    const auto recurring = f.s.raise_review("5880000000000003", "send_failed", "warning", "John Roe asked", johns, old_time);
    REQUIRE(f.s.raise_review("5880000000000003", "send_failed", "warning", "John Roe asked", johns, recent) == recurring);
    const auto acknowledged_since = f.s.raise_review("5880000000000004", "send_failed", "warning", "John Roe again", johns, old_time);
    REQUIRE(f.s.set_review_state(acknowledged_since, "acknowledged", "bob", "", recent));
    const auto fresh = f.s.raise_review("5880000000000005", "buyer_message", "info", "John Roe writes", johns, recent);

    const auto n = purge_personal_data(f.db, cutoff, -1, forget_key, now);
    CHECK(n.expired_reviews == 3);
    CHECK(n.reviews == 3);
    CHECK(n.expired() == 3);

    for (const auto id : {open, acknowledged, system}) {
        const auto r = f.s.get_review(id);
        REQUIRE(r);
        INFO("review item " << id);
        CHECK(r->state == "resolved");
        CHECK(r->resolved_by == expired_review_by);
        CHECK(r->note == expired_review_note);
        CHECK(r->evidence == "{}");
        CHECK(r->summary == purged_summary);
        CHECK(r->order_id.empty());
        CHECK(r->updated_at == now);
    }
    CHECK(f.s.get_review(open)->reason == "send_failed");
    CHECK(f.s.get_review(system)->reason == "security");
    for (const std::string& trace : {buyer_name, buyer_phone, order_id, conversation_id, std::string("203.0.113.7")}) {
        INFO(trace);
        CHECK(rows_naming(f.db, "review", trace) == 0);
        CHECK(rows_naming(f.db, "audit_log", trace) == 0);
    }
    for (const auto id : {recurring, acknowledged_since, fresh}) {
        const auto r = f.s.get_review(id);
        REQUIRE(r);
        INFO("review item " << id);
        CHECK(r->state != "resolved");
        CHECK(r->evidence == johns.dump());
        CHECK(r->summary.starts_with("John Roe"));
    }

    // One audit entry for the batch: what was closed and why, naming no one.
    const auto audit = f.s.audit_entries(now, "", expired_review_audit, 10);
    REQUIRE(audit.size() == 1);
    CHECK(audit[0].at("at") == now);
    CHECK(audit[0].at("actor") == "orderflowd");
    const auto& detail = audit[0].at("detail");
    CHECK(detail.at("by") == expired_review_by);
    CHECK(detail.at("count") == 3);
    CHECK(sorted(detail.at("review_ids").get<std::vector<std::int64_t>>()) == sorted({open, acknowledged, system}));
    CHECK(detail.at("reasons") == json{{"send_failed", 1}, {"send_unknown", 1}, {"security", 1}});

    // Nothing more to do, and the same case coming again opens a new item.
    const auto again = purge_personal_data(f.db, cutoff, -1, forget_key, now);
    CHECK(again.total() == 0);
    CHECK(again.expired() == 0);
    CHECK(f.s.raise_review(order_id, "send_failed", "warning", "asked again", evidence, now + 1, "conversation:" + conversation_id) != open);
}

TEST_CASE("A pending event received and due before the cutoff is set aside unread and its personal data purged", "[retention][unfinished]") {
    fixture f;
    auto hook = make_event("tts:730000000000000001", old_time);   // a shop never authorized, say
    hook.change_key = "order:" + order_id + ":AWAITING_SHIPMENT";
    const auto webhook = f.add_event(hook);
    auto seen_by_poll = make_event("poll:order:" + order_id + ":IN_TRANSIT", old_time);
    seen_by_poll.source = "poll";
    seen_by_poll.change_key = "order:" + order_id + ":IN_TRANSIT";
    const auto poll = f.add_event(seen_by_poll);
    auto overdue = make_event("timer:" + hash_key("deadline|" + order_id), old_time);   // due before the cutoff, never run
    overdue.source = "timer";
    overdue.not_before = old_time + 3600;
    const auto overdue_timer = f.add_event(overdue);
    const auto retried = f.add_event(make_event("tts:730000000000000002", old_time));
    f.s.retry_event(retried, "TikTok answered 500", old_time + 600);
    // A deadline timer set long ago and due after the cutoff keeps its deadline.
    auto deadline = make_event("timer:" + hash_key("ship-by|" + order_id), old_time, "John Roe", "5880000000000002");
    deadline.source = "timer";
    deadline.not_before = recent;
    const auto timer = f.add_event(deadline);
    const auto fresh = f.add_event(make_event("tts:830000000000000001", recent, "John Roe", "5880000000000003"));

    const auto n = purge_personal_data(f.db, cutoff, -1, forget_key, now);
    CHECK(n.expired_events == 4);
    CHECK(n.events == 4);

    for (const auto id : {webhook, poll, overdue_timer, retried}) {
        const auto e = f.s.get_event(id);
        REQUIRE(e);
        INFO("inbox event " << id);
        CHECK(e->state == "ignored");
        CHECK(e->note == expired_event_note);
        CHECK(e->payload == "{}");
        CHECK(e->order_id.empty());
        CHECK(e->change_key.empty());
        CHECK(e->finished_at == now);
        auto context = f.db.prepare("SELECT context FROM inbox WHERE id = ?1");
        context.bind(1, id);
        REQUIRE(context.step());
        CHECK(context.text(0).empty());
    }
    for (const std::string& trace : {buyer_name, order_id}) {
        INFO(trace);
        CHECK(rows_naming(f.db, "inbox", trace) == 0);
        CHECK(rows_naming(f.db, "inbox_changes", trace) == 0);
    }
    CHECK(f.s.get_event(webhook)->dedupe_key == "tts:730000000000000001");   // TikTok's id: kept as it is
    CHECK(f.s.get_event(poll)->dedupe_key.starts_with("forgotten:"));

    CHECK(f.s.get_event(timer)->state == "pending");
    CHECK(f.s.get_event(timer)->payload == deadline.payload);
    CHECK(f.s.get_event(fresh)->state == "pending");
    CHECK(f.s.get_event(fresh)->payload == event_payload("John Roe", "5880000000000003"));
    // The pipeline is given only those two.
    std::vector<std::int64_t> due;
    for (const auto& e : f.s.pending_events(now, 50)) due.push_back(e.id);
    CHECK(due == std::vector<std::int64_t>{timer, fresh});

    // TikTok delivering the webhook again is a duplicate: it is not stored, so not processed.
    CHECK_FALSE(f.s.add_event(make_event("tts:730000000000000001", now)));
    CHECK_FALSE(f.s.add_event(make_event("tts:730000000000000002", now)));
    CHECK(purge_personal_data(f.db, cutoff, -1, forget_key, now).total() == 0);
}

TEST_CASE("Actions never sent within the period are skipped or failed and purged and a re-plan is still refused", "[retention][unfinished]") {
    fixture f;
    const auto planned = f.add_action("planned", old_time, "planned", action_payload(buyer_name, buyer_id));
    const auto deferred = f.add_action("deferred", old_time, "deferred", action_payload(buyer_name, buyer_id));
    const auto unknown = f.add_action("unknown", old_time, "unknown", action_payload(buyer_name, buyer_id));
    f.s.put_conversation(buyer_id, conversation_id, old_time);   // kept for reconciling the unknown send, until now
    // In flight when the row was last written: the daemon makes it unknown at its start.
    const auto sending =
        f.add_action("sending", old_time, "sending", action_payload("John Roe", "7200000000000009"), "7200000000000009", "5880000000000009");
    f.s.put_conversation("7200000000000009", "conv-0009", old_time);
    const auto fresh =
        f.add_action("fresh", recent, "planned", action_payload("John Roe", "7200000000000002"), "7200000000000002", "5880000000000002");
    // Planned long ago, deferred again since: still on its way.
    const auto waiting =
        f.add_action("waiting", old_time, "deferred", action_payload("John Roe", "7200000000000003"), "7200000000000003", "5880000000000003");
    f.s.set_action_state(waiting, "deferred", "quiet hours", "", recent, now - 1);

    const auto n = purge_personal_data(f.db, cutoff, -1, forget_key, now);
    CHECK(n.expired_actions == 3);
    CHECK(n.actions == 3);
    CHECK(n.conversations == 1);

    const std::pair<std::int64_t, const char*> settled[] = {{planned, "skipped"}, {deferred, "skipped"}, {unknown, "failed"}};
    for (const auto& [id, state] : settled) {
        const auto a = f.s.get_action(id);
        REQUIRE(a);
        INFO("action " << id);
        CHECK(a->state == state);
        CHECK(a->reason == (a->state == "failed" ? expired_unknown_reason : expired_action_reason));
        CHECK(a->payload == "{}");
        CHECK(a->result.empty());
        CHECK(a->buyer_user_id.empty());
        CHECK(a->order_id.empty());
        CHECK(a->updated_at == now);
        const auto history = f.s.action_history(id);
        REQUIRE_FALSE(history.empty());
        CHECK(history.back().state == state);
        CHECK(history.back().at == now);
        CHECK(history.back().reason == a->reason);
    }
    for (const std::string& trace : {buyer_name, buyer_id, order_id, conversation_id}) {
        INFO(trace);
        CHECK(rows_naming(f.db, "outbox", trace) == 0);
        CHECK(rows_naming(f.db, "outbox_history", trace) == 0);
        CHECK(rows_naming(f.db, "conversations", trace) == 0);
    }

    // What is still on its way keeps what the executor and the reconciler read.
    CHECK(f.s.get_action(sending)->state == "sending");
    CHECK(f.s.get_action(sending)->payload == action_payload("John Roe", "7200000000000009"));
    CHECK(f.s.conversation_for("7200000000000009") == "conv-0009");
    CHECK(f.s.get_action(fresh)->payload == action_payload("John Roe", "7200000000000002"));
    CHECK(f.s.get_action(waiting)->state == "deferred");
    CHECK(f.s.get_action(waiting)->payload == action_payload("John Roe", "7200000000000003"));

    // Never sent after all: the executor and the reconciler are not given
    // them, and planning them again is refused by their kept keys.
    std::vector<std::int64_t> due;
    for (const auto& a : f.s.due_actions(now, 50)) due.push_back(a.id);
    CHECK(due == std::vector<std::int64_t>{fresh, waiting});
    CHECK(f.s.actions_to_reconcile(50).empty());
    for (const auto& [id, state] : settled) {
        CHECK_FALSE(f.s.add_action(make_action(f.s.get_action(id)->rule_id, now, action_payload(buyer_name, buyer_id))));
        CHECK(f.s.get_action(id)->state == state);
    }
    CHECK(purge_personal_data(f.db, cutoff, -1, forget_key, now).total() == 0);
}

TEST_CASE("A staff notification no channel took within the period is deleted with the summary it repeats", "[retention][unfinished]") {
    fixture f;
    const auto item = f.s.raise_review(order_id, "send_failed", "warning", buyer_name + " asked twice", {}, old_time);
    const json payload{{"summary", buyer_name + " asked twice"}, {"review_id", item}};
    // A channel failing since before the cutoff: the notifier retried it
    // every ten minutes, so its row was touched recently.
    REQUIRE(f.s.add_notification("slack", "review:" + std::to_string(item), item, payload, old_time));
    const auto stuck = f.db.last_insert_rowid();
    f.s.notification_retry(stuck, "connection refused", now + 600, now - 60);
    // Queued after the cutoff, still pending: on its way.
    REQUIRE(f.s.add_notification("mail", "review:recent", item, {{"summary", "John Roe asked"}}, recent));
    const auto on_its_way = f.db.last_insert_rowid();

    const auto n = purge_personal_data(f.db, cutoff, -1, forget_key, now);
    CHECK(n.expired_notifications == 1);
    CHECK(n.notifications == 1);
    CHECK(n.expired() >= 1);
    std::vector<std::int64_t> left;
    for (const auto& row : f.s.recent_notifications(10)) left.push_back(row.id);
    CHECK(left == std::vector<std::int64_t>{on_its_way});
    CHECK(rows_naming(f.db, "notifications", buyer_name) == 0);
    CHECK(f.on_disk().find(buyer_name + " asked twice") == std::string::npos);
    // The item stays in the queue (settled by its own rule, as the others are).
    CHECK(f.s.get_review(item).has_value());

    // A batch counts them towards the table's rows.
    REQUIRE(f.s.add_notification("slack", "review:b1", item, payload, old_time));
    REQUIRE(f.s.add_notification("slack", "review:b2", item, payload, old_time));
    CHECK(purge_personal_data(f.db, cutoff, 1, forget_key, now).expired_notifications == 1);
    CHECK(purge_personal_data(f.db, cutoff, 1, forget_key, now).expired_notifications == 1);
    CHECK(purge_personal_data(f.db, cutoff, 1, forget_key, now).expired_notifications == 0);
}

TEST_CASE("Nothing on disk names the buyer of rows that never finished once the purge has settled them", "[retention][unfinished]") {
    fixture f;
    const std::string name = "山田 花子";
    f.add_event(make_event("tts:730000000000000001", old_time, name));
    f.add_action("planned", old_time, "planned", action_payload(name, buyer_id));
    f.add_action("unknown", old_time, "unknown", action_payload(name, buyer_id));
    f.s.put_conversation(buyer_id, conversation_id, old_time);
    const auto item = f.s.raise_review(order_id, "send_unknown", "critical", "check " + name, {{"text", name}}, old_time,
                                       "conversation:" + conversation_id);
    REQUIRE(f.s.set_review_state(item, "acknowledged", "bob", "called " + name + " at " + buyer_phone, old_time));
    {
        const std::string before = f.on_disk();
        for (const auto& t : {name, buyer_phone, order_id, buyer_id, conversation_id}) REQUIRE(before.find(t) != std::string::npos);
    }

    while (purge_personal_data(f.db, cutoff, 2, forget_key, now).total() > 0) {
    }

    const std::string after = f.on_disk();
    for (const auto& t : {name, buyer_phone, order_id, buyer_id, conversation_id}) {
        INFO("still on disk: " << t);
        CHECK(after.find(t) == std::string::npos);
    }
}

// The daemon purges 2,000 rows a table a transaction, so the write lock is
// held for one batch: the rows settled count towards it.
TEST_CASE("A purge in batches settles at most max_rows unfinished rows per table per call and repeated calls finish the job", "[retention][unfinished]") {
    fixture f;
    for (int i = 0; i < 5; ++i) {
        const auto n = std::to_string(i);
        f.s.raise_review("o-" + n, "send_failed", "warning", buyer_name + " asked", {{"text", buyer_name}}, old_time);
        f.add_event(make_event("tts:pending-" + n, old_time));
        f.add_event(make_event("tts:done-" + n, old_time));
        f.s.finish_event(f.db.last_insert_rowid(), "done", "matched: thanks", old_time);
        f.add_action("planned-" + n, old_time, "planned", action_payload(buyer_name, buyer_id));
    }

    std::vector<int> reviews_settled;
    purge_counts sum;
    for (int call = 0; call < 20; ++call) {
        const auto n = purge_personal_data(f.db, cutoff, 2, forget_key, now);
        CHECK(n.expired_reviews <= 2);
        CHECK(n.reviews <= 2);
        CHECK(n.expired_events <= 2);
        CHECK(n.events <= 2);   // settled and finished events together
        CHECK(n.expired_actions <= 2);
        CHECK(n.actions <= 2);
        reviews_settled.push_back(n.expired_reviews);
        sum.expired_reviews += n.expired_reviews;
        sum.expired_events += n.expired_events;
        sum.expired_actions += n.expired_actions;
        sum.events += n.events;
        if (n.total() == 0) break;
    }
    REQUIRE(reviews_settled.size() >= 4);
    CHECK(std::vector<int>(reviews_settled.begin(), reviews_settled.begin() + 4) == std::vector<int>{2, 2, 1, 0});
    CHECK(sum.expired_reviews == 5);
    CHECK(sum.expired_events == 5);
    CHECK(sum.expired_actions == 5);
    CHECK(sum.events == 10);
    CHECK(f.s.open_review_count() == 0);
    CHECK(f.s.pending_events(now, 50).empty());
    CHECK(f.s.due_actions(now, 50).empty());
    CHECK(rows_naming(f.db, "review", buyer_name) == 0);
    CHECK(rows_naming(f.db, "inbox", buyer_name) == 0);
    CHECK(rows_naming(f.db, "outbox", buyer_name) == 0);
    // One audit entry a batch that closed any.
    std::vector<int> counted;
    for (const auto& e : f.s.audit_entries(now, "", expired_review_audit, 10)) counted.push_back(e.at("detail").at("count").get<int>());
    std::sort(counted.begin(), counted.end());
    CHECK(counted == std::vector<int>{1, 2, 2});
}

// The overloads without the key (tests, benchmarks) share the settling; the
// ids in what they keep stay as they are.
TEST_CASE("Without the key the purge settles the same unfinished rows and blanks their personal data", "[retention][unfinished]") {
    fixture f;
    const auto event = f.add_event(make_event("tts:730000000000000001", old_time));
    const auto action = f.add_action("unknown", old_time, "unknown", action_payload(buyer_name, buyer_id));
    const auto item = f.s.raise_review(order_id, "send_failed", "warning", buyer_name + " asked", {{"text", buyer_name}}, old_time);

    const auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.expired_events == 1);
    CHECK(n.expired_actions == 1);
    CHECK(n.expired_reviews == 1);
    CHECK(n.total() == 3);

    CHECK(f.s.get_event(event)->state == "ignored");
    CHECK(f.s.get_event(event)->payload == "{}");
    CHECK(f.s.get_event(event)->order_id == order_id);
    CHECK(f.s.get_action(action)->state == "failed");
    CHECK(f.s.get_action(action)->payload == "{}");
    CHECK(f.s.get_action(action)->result.empty());
    CHECK(f.s.get_review(item)->state == "resolved");
    CHECK(f.s.get_review(item)->resolved_by == expired_review_by);
    CHECK(f.s.get_review(item)->evidence == "{}");
    CHECK(f.s.get_review(item)->summary == purged_summary);
    for (const auto& table : {"inbox", "outbox", "review"}) {
        INFO(table);
        CHECK(rows_naming(f.db, table, buyer_name) == 0);
    }
    CHECK(f.s.audit_entries(0, "", expired_review_audit, 10).size() == 1);
    CHECK(purge_personal_data(f.db, cutoff).total() == 0);
}

// Rows an earlier version purged are hashed by id through a backlog
// (migration 19) that may cover rows settled here: they keep the purge's
// own note and reason, which say what became of them.
TEST_CASE("The note and reason the purge writes on what it settles survive the older version's backlog", "[retention][unfinished]") {
    fixture f;
    const auto event = f.add_event(make_event("tts:730000000000000001", old_time));
    const auto skipped = f.add_action("planned", old_time, "planned", action_payload(buyer_name, buyer_id));
    const auto failed = f.add_action("unknown", old_time, "unknown", action_payload(buyer_name, buyer_id));
    f.db.exec("INSERT INTO daemon_state (name, value, updated_at) VALUES ('purge_backlog', "
              "json_object('inbox', json_array(0, (SELECT max(id) FROM inbox)), 'outbox', json_array(0, (SELECT max(id) FROM outbox))), 0)");

    for (int call = 0; call < 20; ++call) {
        const auto n = purge_personal_data(f.db, cutoff, 1, forget_key, now);
        if (n.total() == 0 && !n.more) break;
    }

    CHECK_FALSE(f.s.get_state("purge_backlog"));
    CHECK(f.s.get_event(event)->note == expired_event_note);
    CHECK(f.s.get_action(skipped)->reason == expired_action_reason);
    CHECK(f.s.action_history(skipped).back().reason == expired_action_reason);
    CHECK(f.s.get_action(failed)->reason == expired_unknown_reason);
    CHECK(f.s.action_history(failed).back().reason == expired_unknown_reason);
    CHECK(rows_naming(f.db, "outbox_history", "reconciliation could not tell") == 0);   // the others' reasons go
}

}  // namespace ORDERFLOW_TEST_FILE
