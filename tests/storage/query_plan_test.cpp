// Query plans of the statements in storage/store.cpp and storage/retention.cpp.
//
// The inbox, the outbox and their neighbours grow without end (a shop with a
// million orders keeps a few million inbox rows), so a statement the daemon's
// loops run over and over, or that `orderflowctl status` and `review list` run,
// must reach its rows through an index: a full scan that takes a millisecond on
// a test database takes seconds on a real one, on the daemon's only thread.
// Speed itself is measured in bench/ (bench/bigdb.cpp); this test checks the
// plans, which do not depend on the machine.
//
// How: database::observe_prepares records the SQL text of every statement the
// store functions prepare while the test calls every one of them (the loops'
// calls and the rest of store.hpp), then EXPLAIN QUERY PLAN runs on each text.
// Plans come from SQLite's own estimates, with no ANALYZE statistics, as in the
// field: the daemon never runs ANALYZE.
//
// The rule, for a growing table (growing_tables below):
// - `SCAN t` (every row) or `SCAN t USING [COVERING] INDEX i` (every index
//   entry) fails, except
//   - when the index is partial: it holds only the rows still being worked on
//     (pending events), which stay few however large the table grows;
//   - for a bounded walk: the statement has a LIMIT and no WHERE, and the plan
//     needs no temporary B-tree, so the walk follows ORDER BY and stops after
//     LIMIT rows (`recent_events`: the newest n).
// - `SEARCH t USING INDEX i (state=?)`, a search on the state alone, fails when
//   the statement's WHERE names a state in which rows pile up (done, failed, sent,
//   resolved, ...): it walks every row that ever reached that state, a scan in
//   all but name. A search on a state where rows only pass through (pending,
//   planned, unknown) is fine.
// - A sort right after a SEARCH on a range of a growing table (`x>?`, `x<?`:
//   `USE TEMP B-TREE FOR ORDER BY` or `GROUP BY` on the next line) sorts every
//   row in the range to return the first few: the pipeline's page and the
//   executor's due actions did that over a whole backlog (4d98a99, and
//   bench/README.md's eighteenth round). It fails unless bounded_sorts below
//   says why that range stays small.
// Everything else is a SEARCH on a key or a range and passes.
#include "storage/database.hpp"

#include "storage/conversation_links.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;

namespace {

// Tables whose row count grows with the shop's orders. daemon_state, vault,
// outbox_transitions, row_counts and console_accounts (the staff console's
// accounts, read by their primary key) hold a fixed handful of rows.
const std::set<std::string> growing_tables = {"inbox",         "inbox_changes",  "orders",           "outbox",
                                              "outbox_history", "review",        "notifications",    "audit_log",
                                              "order_tags",    "conversations",  "conversation_cards", "order_attributes"};

// States in which rows accumulate: a search on one of these alone is a scan.
const std::regex settled_state_literal("'(done|ignored|failed|skipped|shadow|sent|resolved)'");

// The sorts of a range that are allowed, each by a piece of its statement's
// text and why the range stays small. A statement with more sorts of a range
// than pieces found in its text fails.
struct bounded_sort {
    std::string_view text;
    std::string_view why;
};
constexpr bounded_sort bounded_sorts[] = {
    {"inbox INDEXED BY inbox_due WHERE state = 'pending' AND not_before > 0",
     "pending_events: the retries and timers now due, not the events due at once"},
    {"inbox INDEXED BY inbox_due WHERE state = 'pending' AND not_before < 0", "pending_events: events dated before 1970"},
    {"outbox INDEXED BY outbox_due WHERE state = 'planned' AND not_before > 0",
     "due_actions: planned actions with a time, which nothing writes today"},
    {"outbox INDEXED BY outbox_due WHERE state = 'planned' AND not_before < 0", "due_actions: planned actions dated before 1970"},
    {"outbox INDEXED BY outbox_due WHERE state = 'deferred'",
     "due_actions: the deferred actions now due, as many as one deferral sent to the same time"},
    {"FROM notifications WHERE state = 'pending' AND not_before <= ?1",
     "due_notifications: what waits to reach staff, a few per review item raised"},
    {"inbox_unpurged WHERE received_at >= ?1", "events_with_context: `orderflowctl rules replay` returns every event it sorts"},
    {"FROM outbox WHERE created_at >= ?1 GROUP BY", "`orderflowctl rules coverage`: a count per rule and state of the actions since"},
};

std::vector<std::string> query_plan(database& db, const std::string& sql) {
    auto st = db.prepare("EXPLAIN QUERY PLAN " + sql);
    std::vector<std::string> lines;
    while (st.step()) lines.push_back(st.text(3));
    return lines;
}

bool partial_index(database& db, const std::string& index) {
    auto st = db.prepare("SELECT sql LIKE '% WHERE %' FROM sqlite_schema WHERE type = 'index' AND name = ?1");
    st.bind(1, index);
    return st.step() && st.int64(0) == 1;
}

// What is wrong with one statement's plan; empty when nothing is.
std::vector<std::string> plan_problems(database& db, const std::string& sql) {
    static const std::regex scan(R"(^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?)");
    static const std::regex state_only_search(R"(^SEARCH (\w+) USING (?:COVERING )?INDEX \w+ \(state=\?\)$)");
    const auto plan = query_plan(db, sql);
    bool temp_btree = false;
    for (const auto& line : plan) temp_btree = temp_btree || line.find("TEMP B-TREE") != std::string::npos;
    const bool bounded_walk = sql.find(" LIMIT ") != std::string::npos && sql.find(" WHERE ") == std::string::npos && !temp_btree;

    std::vector<std::string> problems;
    static const std::regex range_search(R"(^SEARCH (\w+) USING .*\(.*[<>])");
    std::size_t range_sorts = 0, allowed = 0;
    for (std::size_t i = 1; i < plan.size(); ++i) {
        std::smatch m;
        if (plan[i].starts_with("USE TEMP B-TREE FOR ") && std::regex_search(plan[i - 1], m, range_search) &&
            growing_tables.contains(m[1].str())) {
            ++range_sorts;
            problems.push_back(plan[i - 1] + " then " + plan[i] + " (a sort of every row in the range)");
        }
    }
    for (const auto& b : bounded_sorts) allowed += sql.find(b.text) != std::string::npos;
    if (range_sorts <= allowed) problems.clear();
    for (const auto& line : plan) {
        std::smatch m;
        if (std::regex_search(line, m, scan) && growing_tables.contains(m[1].str())) {
            if (m[2].matched && partial_index(db, m[2].str())) continue;
            if (bounded_walk) continue;
            problems.push_back(line);
        } else if (std::regex_search(line, m, state_only_search) && growing_tables.contains(m[1].str()) &&
                   std::regex_search(sql.substr(std::min(sql.find(" WHERE "), sql.size())), settled_state_literal)) {
            problems.push_back(line + " (a settled state: every row that ever reached it)");
        }
    }
    return problems;
}

new_event event(std::string key, std::string order_id, std::string change_key = {}, std::string source = "webhook") {
    new_event e;
    e.dedupe_key = std::move(key);
    e.source = std::move(source);
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = std::move(order_id);
    e.payload = R"({"type":1,"data":{"order_status":"AWAITING_SHIPMENT"}})";
    e.received_at = 100;
    e.change_key = std::move(change_key);
    return e;
}

new_action action(std::string rule, std::string order_id, std::int64_t event_id) {
    new_action a;
    a.idem_key = hash_key(rule + "|" + order_id);
    a.rule_id = std::move(rule);
    a.kind = "send_message";
    a.order_id = std::move(order_id);
    a.event_id = event_id;
    a.payload = R"({"text":"Thanks!","buyer_user_id":"b1"})";
    a.created_at = 100;
    a.buyer_user_id = "b1";
    return a;
}

// Calls every function of store.hpp and the retention purge, with enough
// rows that each runs all of its statements (both branches of add_event's
// change key, a refused transition's error path, ...).
void run_every_store_function(database& db, store& s) {
    // Pipeline: events in, processed, orders cached, actions planned.
    REQUIRE(s.add_event(event("n-1", "o1", "order:o1:AWAITING_SHIPMENT")));
    REQUIRE(s.add_event(event("n-2", "o1", "order:o1:AWAITING_SHIPMENT")));  // same change: stored, ignored when claimed
    auto timer = event("t-1", "o1", "", "timer");
    timer.not_before = 50;
    REQUIRE(s.add_event(timer));
    auto pending = s.pending_events(1000, 50);
    REQUIRE(pending.size() == 3);
    CHECK(s.claim_change(pending[0].id, pending[0].change_key) == pending[0].id);
    CHECK(s.claim_change(pending[1].id, pending[1].change_key) == pending[0].id);
    s.finish_event(pending[1].id, "ignored", "same change as inbox event 1", 100);
    CHECK_FALSE(s.add_event(event("poll:order:o1:AWAITING_SHIPMENT", "o1", "order:o1:AWAITING_SHIPMENT", "poll")));  // claimed
    pending = s.pending_events(1000, 50);
    REQUIRE(pending.size() == 2);
    // Before authorization: a window of ids after a cursor.
    CHECK(s.pending_events_between(1000, 50, pending[0].id, s.last_event_id()).size() == 1);
    CHECK(s.pending_kinds_between(1000, pending[0].id, s.last_event_id()).size() == 1);
    const std::int64_t e1 = pending[0].id;
    s.mark_started(e1);
    s.undo_start(e1);
    s.retry_event(pending[1].id, "timeout", 120);
    CHECK_FALSE(s.get_order("o1"));
    s.put_order({"o1", "AWAITING_SHIPMENT", R"({"status":"AWAITING_SHIPMENT"})", 100});
    CHECK(s.get_order("o1"));
    CHECK(s.tags("o1").empty());
    REQUIRE(s.add_action(action("welcome", "o1", e1)));
    REQUIRE(s.add_action(action("thanks", "o1", e1)));
    s.set_event_context(e1, R"({"order":{}})");
    s.finish_event(e1, "done", "matched: welcome thanks", 110);
    CHECK(s.get_event(e1));

    // Executor: due actions, guards, sends, tags, timers, the breaker.
    auto due = s.due_actions(1000, 20);
    REQUIRE(due.size() == 2);
    CHECK(s.messages_to_order_since("o1", 0) == 0);
    CHECK(s.messages_to_buyer_since("b1", 0) == 0);
    CHECK_FALSE(s.conversation_for("b1"));
    s.put_conversation("b1", "c1", 100);
    // Buyer messages linked to their order (conversation_links.hpp).
    CHECK(buyer_of_conversation(db, "c1") == "b1");
    note_order_card(db, "c1", "o1", "m1", 100, 101);
    CHECK(latest_order_card(db, "c1") == "o1");
    set_order_attribute(db, {"o1", "engraving", "HANAKO", "m2", "capture-engraving", 102});
    CHECK(order_attributes(db, "o1").size() == 1);
    CHECK(order_attribute_rows(db, "o1").size() == 1);
    s.link_event_order(e1, "o1");
    s.begin_attempt(due[0].id, 110);
    s.set_action_state(due[0].id, "done", "", R"({"message_id":"m1"})", 111);
    s.set_action_state(due[1].id, "deferred", "quiet hours", "", 111, 200);
    CHECK_THROWS_AS(s.set_action_state(due[0].id, "planned", "", "", 112), storage_error);
    s.add_tag("o1", "vip", 111);
    s.remove_tag("o1", "vip");
    CHECK(s.mark_interrupted_sends(112) == 0);
    CHECK(s.sends_planned_between(0, s.newest_action_id(), 0).size() == 2);
    CHECK(s.first_action_since(0) > 0);
    CHECK(s.newest_action_id() == due[1].id);
    CHECK(s.skip_held_sends(0, "dropped", 112) == 0);
    CHECK_FALSE(s.get_state("breaker"));
    s.put_state("breaker", R"({"open":false})", 112);
    s.audit(112, "orderflowd", "send_message", "o1", {{"action_id", due[0].id}});

    // Reconciler.
    CHECK(s.actions_in_state("unknown", 100).empty());
    CHECK(s.actions_to_reconcile(100).empty());
    CHECK(s.action_history(due[0].id).size() == 3);
    CHECK(s.get_action(due[0].id));

    // Review desk and notifier.
    const auto review = s.raise_review("o1", "send_failed", "warning", "could not send", {{"error", "x"}}, 113);
    CHECK(s.raise_review("o1", "send_failed", "critical", "could not send", {{"error", "y"}}, 114) == review);
    CHECK(s.get_review(review));
    CHECK(s.add_notification("mail", "review:" + std::to_string(review), review, {{"summary", "x"}}, 114));
    auto notes = s.due_notifications(1000, 500);
    REQUIRE(notes.size() == 1);
    s.postpone_notifications("mail", 120);
    CHECK(s.pending_review_notifications("mail", 500).size() == 1);
    CHECK(s.last_review_notification("mail") == 0);
    s.notification_retry(notes[0].id, "timeout", 130, 115);
    s.notification_sent(notes[0].id, 131);
    (void)s.activity_since(0);

    // orderflowctl status, review list / show / resolve, activity, rules coverage and replay; /metrics.
    (void)s.counts();
    CHECK(s.reviews(false, 1000).size() == 1);
    CHECK(s.reviews(true, 50).size() == 1);
    CHECK(s.actions_for_order("o1").size() == 2);
    CHECK(s.set_review_state(review, "resolved", "staff", "done", 140));
    CHECK_FALSE(vault::stored(db, "tiktok_tokens"));
    CHECK(s.recent_events(20).size() == 3);
    CHECK(s.recent_actions(20).size() == 2);
    CHECK(s.recent_notifications(20).size() == 1);
    CHECK(s.recent_audit(20).size() == 1);
    CHECK(s.rule_coverage(0).events == 1);
    CHECK(s.events_with_context(0, 100).size() == 1);
    CHECK(s.action_by_key(due[0].idem_key));
    CHECK(s.actions_of_event(e1).size() == 2);

    CHECK(s.audit_entries(0, "", "", 10).size() == 1);
    CHECK(s.audit_entries(0, "o1", "send_message", 10).size() == 1);

    // A package webhook's row: one lookup more, for a redelivery of a
    // delivery whose rows a forget or the purge hashed.
    auto package = event("tts:9#p1#o1", "o1");
    package.topic = 4;
    REQUIRE(s.add_event(package));
    s.finish_event(db.last_insert_rowid(), "done", "matched: parts", 110);

    // Housekeeping: the daemon's purge (with the key, and a backlog an
    // earlier version left), then the purge tests and benchmarks run.
    s.put_state("purge_backlog", R"({"inbox":[0,1000],"outbox":[0,1000]})", 112);
    CHECK(purge_personal_data(db, 1000, -1, std::vector<unsigned char>(32, 1)).total() > 0);
    CHECK_FALSE(s.get_state("purge_backlog"));
    REQUIRE(s.add_event(event("n-3", "o1")));
    s.finish_event(db.last_insert_rowid(), "done", "", 112);
    CHECK(purge_personal_data(db, 1000).total() > 0);
    CHECK(purge_rows(db, {1'000'000'000'000, 1'000'000'000'000, 1'000'000'000'000}, 100).total() > 0);
}

// The SQL text of every statement run_every_store_function prepares, but
// transaction control and pragmas, which have no plan.
std::set<std::string> every_store_statement(database& db) {
    store s(db);
    std::set<std::string> statements;
    db.observe_prepares([&](std::string_view sql) { statements.emplace(sql); });
    run_every_store_function(db, s);
    db.observe_prepares({});
    std::erase_if(statements, [](const std::string& sql) {
        return sql.starts_with("BEGIN") || sql.starts_with("COMMIT") || sql.starts_with("ROLLBACK") ||
               sql.starts_with("PRAGMA");
    });
    return statements;
}

}  // namespace

TEST_CASE("The plan check flags a full scan of a growing table, a search on a settled state alone and a sort of a growing range", "[query_plan]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK(plan_problems(db, "SELECT id FROM inbox WHERE payload = ?1").size() == 1);
    CHECK(plan_problems(db, "SELECT id FROM inbox WHERE state = 'done' ORDER BY id DESC LIMIT 5").size() == 1);
    CHECK(plan_problems(db, "SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'done'").size() == 1);
    CHECK(plan_problems(db, "SELECT id FROM inbox ORDER BY id DESC LIMIT 5").empty());
    // The executor's due query before the eighteenth round, and the part of
    // today's that reads the planned actions.
    CHECK(plan_problems(db, "SELECT id FROM outbox WHERE state IN ('planned', 'deferred') AND not_before <= ?1 ORDER BY id LIMIT 50")
              .size() == 1);
    CHECK(plan_problems(db, "SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'planned' AND not_before = 0 ORDER BY id LIMIT 50")
              .empty());
    CHECK(plan_problems(db, "SELECT id FROM inbox WHERE id = ?1").empty());
    CHECK(plan_problems(db, "SELECT name FROM daemon_state").empty());
}

TEST_CASE("Every statement of the store and the retention purge reads growing tables through an index", "[query_plan]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    const auto statements = every_store_statement(db);
    // The recording saw the store's statements (the count of functions above,
    // some with two or three statements): an empty set would pass vacuously.
    CHECK(statements.size() >= 60);

    for (const auto& sql : statements) {
        std::string plan;
        for (const auto& line : query_plan(db, sql)) plan += "\n  " + line;
        INFO("statement: " << sql << "\nplan:" << plan);
        CHECK(plan_problems(db, sql) == std::vector<std::string>{});
    }
}

// An index is written on every insert into its table, and for an event the
// webhook's acknowledgement waits for that write; one that no statement reads
// is cost without use (inbox_order and review_state were: migration 11).
// A UNIQUE index enforces its constraint, so it counts as used.
TEST_CASE("Every index on a growing table serves some statement of the store or the purge", "[query_plan]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    const auto statements = every_store_statement(db);

    // The triggers' statements too (EXPLAIN QUERY PLAN of a statement does
    // not show the triggers it fires), with OLD.x and NEW.x as parameters.
    std::set<std::string> with_triggers = statements;
    {
        static const std::regex row_value(R"((?:OLD|NEW)\.\w+)");
        auto tr = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'trigger'");
        while (tr.step()) {
            const std::string sql = tr.text(0);
            const auto begin = sql.find("BEGIN"), end = sql.rfind("END");
            std::string body = std::regex_replace(sql.substr(begin + 5, end - begin - 5), row_value, "?");
            for (std::size_t at = 0, next; at < body.size(); at = next + 1) {
                next = body.find(';', at);
                if (next == std::string::npos) next = body.size();
                const std::string one = body.substr(at, next - at);
                if (one.find_first_not_of(" \n\t") != std::string::npos && one.find("RAISE") == std::string::npos)
                    with_triggers.insert(one);
            }
        }
    }
    static const std::regex uses_index(R"((?:USING (?:COVERING )?INDEX|INDEXED BY) (\w+))");
    std::set<std::string> used;
    for (const auto& sql : with_triggers) {
        std::vector<std::string> texts = query_plan(db, sql);
        texts.push_back(sql);   // INDEXED BY names its index in the text
        for (const auto& text : texts)
            for (std::sregex_iterator it(text.begin(), text.end(), uses_index), end; it != end; ++it) used.insert((*it)[1].str());
    }
    CHECK(used.size() >= 10);   // the plans were read: an empty set would flag everything


    auto st = db.prepare(
        "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE %' "
        "ORDER BY name");
    int checked = 0;
    while (st.step()) {
        const std::string name = st.text(0), table = st.text(1);
        if (!growing_tables.contains(table)) continue;
        ++checked;
        INFO("index " << name << " on " << table);
        CHECK(used.contains(name));
    }
    CHECK(checked >= 8);
}

// SQLite tests a value against a list of more than two constants, `x IN (a,
// b, c)`, with a temporary B-tree it builds every time the statement runs:
// a temporary database opened, a page zeroed, a table created. In a CHECK
// constraint that was every webhook's insert and every state change paying
// for one (migration 18 says them with OR; bench/README.md, "Twelfth
// round"). So no write of one row builds one, and no CHECK lists more than
// two values: a new table's constraint would bring the cost back. (The
// purges and the start's recovery, one statement for many rows, build
// theirs once per run, for their own IN lists and subqueries; so does a
// review item's upsert.)
TEST_CASE("No write of one row builds a temporary B-tree, and no CHECK lists more than two values with IN", "[query_plan]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    std::vector<std::string> builds;
    std::size_t writes = 0;
    for (const auto& sql : every_store_statement(db)) {
        const auto verb = sql.substr(0, sql.find(' '));
        const bool one_row = (verb == "INSERT" && sql.find(" VALUES ") != std::string::npos &&
                              sql.find("DO UPDATE") == std::string::npos) ||
                             ((verb == "UPDATE" || verb == "DELETE") && sql.find("WHERE id = ?") != std::string::npos);
        if (!one_row) continue;
        ++writes;
        auto code = db.prepare("EXPLAIN " + sql);
        while (code.step())
            if (code.text(1) == "OpenEphemeral") builds.push_back(sql);
    }
    CHECK(writes >= 15);
    CHECK(builds == std::vector<std::string>{});

    static const std::regex long_in_list(R"(CHECK\s*\(\s*\w+\s+IN\s*\([^)]*,[^)]*,)", std::regex::icase);
    auto tables = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table'");
    std::size_t checked = 0;
    while (tables.step()) {
        INFO("table " << tables.text(0) << ": " << tables.text(1));
        CHECK_FALSE(std::regex_search(tables.text(1), long_in_list));
        ++checked;
    }
    CHECK(checked >= 10);

    // The constraints take and refuse what they did.
    const auto refused = [&](const std::string& sql) {
        try {
            db.exec(sql);
        } catch (const storage_error& e) {
            return e.code() == SQLITE_CONSTRAINT_CHECK;
        }
        return false;
    };
    const std::string inbox = "INSERT INTO inbox (dedupe_key, source, event, payload, received_at, state) VALUES ";
    CHECK_NOTHROW(db.exec(inbox + "('k1', 'webhook', 'x', '{}', 1, 'ignored')"));
    CHECK(refused(inbox + "('k2', 'webhook', 'x', '{}', 1, 'bogus')"));
    const std::string outbox = "INSERT INTO outbox (idem_key, rule_id, action_index, kind, payload, created_at, updated_at, state) VALUES ";
    CHECK_NOTHROW(db.exec(outbox + "('i1', 'r', 0, 'send_message', '{}', 1, 1, 'shadow')"));
    CHECK(refused(outbox + "('i2', 'r', 0, 'send_message', '{}', 1, 1, 'sent')"));
    const std::string review = "INSERT INTO review (reason, severity, summary, created_at, updated_at, state) VALUES ";
    CHECK_NOTHROW(db.exec(review + "('r1', 'critical', 's', 1, 1, 'acknowledged')"));
    CHECK(refused(review + "('r2', 'urgent', 's', 1, 1, 'open')"));
    CHECK(refused(review + "('r3', 'info', 's', 1, 1, 'closed')"));
    const std::string notifications = "INSERT INTO notifications (channel, dedupe, payload, created_at, updated_at, state) VALUES ";
    CHECK_NOTHROW(db.exec(notifications + "('c', 'd1', '{}', 1, 1, 'failed')"));
    CHECK(refused(notifications + "('c', 'd2', '{}', 1, 1, 'done')"));
    auto ok = db.prepare("PRAGMA integrity_check");
    REQUIRE(ok.step());
    CHECK(ok.text(0) == "ok");
}

}  // namespace ORDERFLOW_TEST_FILE
