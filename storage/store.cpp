// SQL behind store.hpp. Every statement goes through database::prepare, which
// caches it, so the hot paths (add_event on each webhook, due_actions on each
// executor tick) do not re-parse SQL.
#include "storage/store.hpp"

#include "storage/detail/pseudonyms.hpp"

#include <cassert>
#include <utility>

namespace orderflow::storage {

namespace {

constexpr std::string_view event_columns =
    "id, dedupe_key, source, topic, event, order_id, payload, received_at, state, attempts, not_before, note, "
    "finished_at, starts, change_key";

event_row read_event(const statement& st) {
    event_row r;
    r.id = st.int64(0);
    r.dedupe_key = st.text(1);
    r.source = st.text(2);
    r.topic = static_cast<int>(st.int64(3));
    r.event = st.text(4);
    r.order_id = st.text(5);
    r.payload = st.text(6);
    r.received_at = st.int64(7);
    r.state = st.text(8);
    r.attempts = static_cast<int>(st.int64(9));
    r.not_before = st.int64(10);
    r.note = st.text(11);
    r.finished_at = st.int64(12);
    r.starts = static_cast<int>(st.int64(13));
    r.change_key = st.text(14);
    return r;
}

constexpr std::string_view action_columns =
    "id, idem_key, rule_id, action_index, kind, order_id, event_id, payload, state, reason, attempts, not_before, "
    "created_at, updated_at, result, buyer_user_id";

action_row read_action(const statement& st) {
    action_row r;
    r.id = st.int64(0);
    r.idem_key = st.text(1);
    r.rule_id = st.text(2);
    r.action_index = static_cast<int>(st.int64(3));
    r.kind = st.text(4);
    r.order_id = st.text(5);
    r.event_id = st.int64(6);
    r.payload = st.text(7);
    r.state = st.text(8);
    r.reason = st.text(9);
    r.attempts = static_cast<int>(st.int64(10));
    r.not_before = st.int64(11);
    r.created_at = st.int64(12);
    r.updated_at = st.int64(13);
    r.result = st.text(14);
    r.buyer_user_id = st.text(15);
    return r;
}

template <class Row, class Read>
std::vector<Row> collect(statement& st, Read read) {
    std::vector<Row> rows;
    while (st.step()) rows.push_back(read(st));
    return rows;
}

std::string select_from(std::string_view columns, std::string_view rest) {
    std::string sql = "SELECT ";
    sql += columns;
    sql += ' ';
    sql += rest;
    return sql;
}

}  // namespace

store::store(database& db) : db_(db) {}

// ------------------------------------------------------------------------ inbox

// The hot path of every webhook (the inbox writer's commit, before the 200):
// one insert, into pages that only grow at their end but for the dedupe
// key's. A webhook's change is claimed later, by claim_change() when the
// pipeline takes the event up; only another source looks at the claims
// here, because a poll that sees a change taken already adds nothing.
// A package webhook's row (topic 4) alone costs one more lookup: its key
// names the package and the order, so a forget or the purge hashes it, and
// a redelivery of the same notification must still be the duplicate it is
// (storage/detail/pseudonyms.hpp, package_delivery_hashed).
bool store::add_event(const new_event& e) {
    if (!e.change_key.empty() && e.source != "webhook") {
        auto q = db_.prepare("SELECT 1 FROM inbox_changes WHERE change_key = ?1");
        q.bind(1, e.change_key);
        if (q.step()) return false;
    }
    if (e.topic == 4 && e.source == "webhook" && detail::package_delivery_hashed(db_, e.dedupe_key)) return false;
    auto st = db_.prepare(
        "INSERT INTO inbox (dedupe_key, source, topic, event, order_id, payload, received_at, not_before, change_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (dedupe_key) DO NOTHING");
    st.bind(1, e.dedupe_key)
        .bind(2, e.source)
        .bind(3, std::int64_t{e.topic})
        .bind(4, e.event)
        .bind(5, e.order_id)
        .bind(6, e.payload)
        .bind(7, e.received_at)
        .bind(8, e.not_before)
        .bind(9, e.change_key);
    st.step();
    return db_.changes() == 1;
}

std::int64_t store::claim_change(std::int64_t id, std::string_view change_key) {
    assert(!change_key.empty());
    // Taken up: the key lives on in the claim, or nowhere (a later sighting).
    auto taken = db_.prepare("UPDATE inbox SET change_key = '' WHERE id = ?1");
    taken.bind(1, id);
    taken.step();
    auto claim = db_.prepare("INSERT INTO inbox_changes (change_key, inbox_id) VALUES (?1, ?2) ON CONFLICT (change_key) DO NOTHING");
    claim.bind(1, change_key).bind(2, id);
    claim.step();
    if (db_.changes() == 1) return id;
    auto q = db_.prepare("SELECT inbox_id FROM inbox_changes WHERE change_key = ?1");
    q.bind(1, change_key);
    return q.step() ? q.int64(0) : id;
}

// The due ids first, from inbox_due alone (deferred events are never
// read; nor are the finished rows around them, of which a shop keeps
// millions), then their rows.
//
// The lowest ids of the due events, in three parts that inbox_due (by
// not_before, then id) gives in id order or nearly: the events due at once
// (not_before 0: every webhook and poll event as it arrives), read in index
// order and stopping after `limit`, and the two ranges on either side of 0
// (retries and timers now due; a time before 1970), each sorted on its own.
// One query over not_before <= now sorted every due event to return the
// first `limit`: a backlog of 124,000 webhooks cost 8-25 ms a page of 50,
// on the daemon's only thread, for every page of the drain
// (bench/README.md, sixteenth round). The result is the same rows.
std::vector<event_row> store::pending_events(std::int64_t now, int limit) {
    static const std::string sql = select_from(
        event_columns,
        "FROM inbox WHERE id IN (SELECT id FROM ("
        "SELECT id FROM (SELECT id FROM inbox INDEXED BY inbox_due WHERE state = 'pending' AND not_before = 0 AND ?1 >= 0 "
        "ORDER BY id LIMIT ?2) "
        "UNION ALL SELECT id FROM (SELECT id FROM inbox INDEXED BY inbox_due WHERE state = 'pending' AND not_before > 0 "
        "AND not_before <= ?1 ORDER BY id LIMIT ?2) "
        "UNION ALL SELECT id FROM (SELECT id FROM inbox INDEXED BY inbox_due WHERE state = 'pending' AND not_before < 0 "
        "AND not_before <= ?1 ORDER BY id LIMIT ?2)"
        ") ORDER BY id LIMIT ?2) ORDER BY id");
    auto st = db_.prepare(sql);
    st.bind(1, now).bind(2, std::int64_t{limit});
    return collect<event_row>(st, read_event);
}

// NOT INDEXED: by rowid over the range, never through inbox_due, which
// would read every pending entry to find those in the range.
std::vector<event_row> store::pending_events_between(std::int64_t now, int limit, std::int64_t after, std::int64_t through) {
    static const std::string sql =
        select_from(event_columns,
                    "FROM inbox NOT INDEXED WHERE id > ?3 AND id <= ?4 AND state = 'pending' AND not_before <= ?1 "
                    "ORDER BY id LIMIT ?2");
    auto st = db_.prepare(sql);
    st.bind(1, now).bind(2, std::int64_t{limit}).bind(3, after).bind(4, through);
    return collect<event_row>(st, read_event);
}

std::vector<store::pending_kind> store::pending_kinds_between(std::int64_t now, std::int64_t after, std::int64_t through) {
    auto st = db_.prepare(
        "SELECT id, event, order_id != '' FROM inbox NOT INDEXED WHERE id > ?2 AND id <= ?3 AND state = 'pending' "
        "AND not_before <= ?1 ORDER BY id");
    st.bind(1, now).bind(2, after).bind(3, through);
    std::vector<pending_kind> kinds;
    while (st.step()) kinds.push_back({st.int64(0), st.text(1), st.int64(2) != 0});
    return kinds;
}

std::int64_t store::last_event_id() {
    auto st = db_.prepare("SELECT coalesce(max(id), 0) FROM inbox");
    st.step();
    return st.int64(0);
}

void store::finish_event(std::int64_t id, std::string_view state, std::string_view note, std::int64_t now) {
    assert(state == "done" || state == "ignored" || state == "failed");
    auto st = db_.prepare("UPDATE inbox SET state = ?2, note = ?3, finished_at = ?4, starts = 0 WHERE id = ?1");
    st.bind(1, id).bind(2, state).bind(3, note).bind(4, now);
    st.step();
}

void store::retry_event(std::int64_t id, std::string_view error, std::int64_t not_before) {
    auto st = db_.prepare(
        "UPDATE inbox SET attempts = attempts + 1, starts = 0, note = ?2, not_before = ?3 WHERE id = ?1 AND state = 'pending'");
    st.bind(1, id).bind(2, error).bind(3, not_before);
    st.step();
}

void store::mark_started(std::int64_t id) {
    auto st = db_.prepare("UPDATE inbox SET starts = starts + 1 WHERE id = ?1 AND state = 'pending'");
    st.bind(1, id);
    st.step();
}

void store::undo_start(std::int64_t id) {
    auto st = db_.prepare("UPDATE inbox SET starts = MAX(starts - 1, 0) WHERE id = ?1 AND state = 'pending'");
    st.bind(1, id);
    st.step();
}

std::vector<event_row> store::recent_events(int limit) {
    static const std::string sql = select_from(event_columns, "FROM inbox ORDER BY id DESC LIMIT ?1");
    auto st = db_.prepare(sql);
    st.bind(1, std::int64_t{limit});
    return collect<event_row>(st, read_event);
}

void store::set_event_context(std::int64_t id, std::string_view context) {
    auto st = db_.prepare("UPDATE inbox SET context = ?2 WHERE id = ?1");
    st.bind(1, id).bind(2, context);
    st.step();
}

std::vector<std::pair<event_row, std::string>> store::events_with_context(std::int64_t since, int limit) {
    // The time range through the partial index inbox_unpurged: its condition
    // is repeated (context != '' implies it) because SQLite uses a partial
    // index only for a query that states the index's WHERE. Without INDEXED BY
    // SQLite walks the whole inbox in id order to spare itself the sort.
    static const std::string sql = select_from(event_columns, ", context FROM inbox INDEXED BY inbox_unpurged WHERE received_at >= ?1 AND state = 'done' "
                                                              "AND context != '' AND (payload != '{}' OR context != '') "
                                                              "ORDER BY id LIMIT ?2");
    auto st = db_.prepare(sql);
    st.bind(1, since).bind(2, std::int64_t{limit});
    std::vector<std::pair<event_row, std::string>> out;
    while (st.step()) out.emplace_back(read_event(st), st.text(15));
    return out;
}

std::optional<event_row> store::get_event(std::int64_t id) {
    static const std::string sql = select_from(event_columns, "FROM inbox WHERE id = ?1");
    auto st = db_.prepare(sql);
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return read_event(st);
}

// ----------------------------------------------------------------------- orders

void store::put_order(const order_row& o) {
    auto st = db_.prepare(
        "INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, snapshot = excluded.snapshot, "
        "updated_at = excluded.updated_at");
    st.bind(1, o.order_id).bind(2, o.status).bind(3, o.snapshot).bind(4, o.updated_at);
    st.step();
}

std::optional<order_row> store::get_order(std::string_view order_id) {
    auto st = db_.prepare("SELECT order_id, status, snapshot, updated_at FROM orders WHERE order_id = ?1");
    st.bind(1, order_id);
    if (!st.step()) return std::nullopt;
    return order_row{st.text(0), st.text(1), st.text(2), st.int64(3)};
}

// ----------------------------------------------------------------------- outbox

bool store::add_action(const new_action& a) {
    auto st = db_.prepare(
        "INSERT INTO outbox (idem_key, rule_id, action_index, kind, order_id, event_id, payload, state, reason, "
        "created_at, updated_at, buyer_user_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11) "
        "ON CONFLICT (idem_key) DO NOTHING");
    st.bind(1, a.idem_key)
        .bind(2, a.rule_id)
        .bind(3, std::int64_t{a.action_index})
        .bind(4, a.kind)
        .bind(5, a.order_id)
        .bind(6, a.event_id)
        .bind(7, a.payload)
        .bind(8, a.state)
        .bind(9, a.reason)
        .bind(10, a.created_at)
        .bind(11, a.buyer_user_id);
    st.step();
    return db_.changes() == 1;
}

// The lowest ids of the due actions, in parts that outbox_due (state,
// not_before, then the rowid) gives in id order or nearly, as pending_events
// does for the inbox:
// - the planned actions due at once (not_before 0: everything the pipeline
//   plans), read in index order and stopping after `limit`;
// - the planned ones with a time on either side of 0 (nothing writes one
//   today, but the contract covers them), sorted on their own;
// - the deferred ones now due (retries, quiet hours, the day's quota),
//   sorted on their own: as many as one deferral sent to the same time, a
//   day's messages at most, and only once they are due.
// Then the rows of the ids found, without sorting payloads. One query over
// both states sorted every due action to return the first `limit`: a drain
// with 145,000 actions waiting cost 20 ms a read, on the event loop's
// thread, several times a second (bench/README.md, eighteenth round).
std::vector<action_row> store::due_actions(std::int64_t now, int limit) {
    static const std::string sql = select_from(
        action_columns,
        "FROM outbox WHERE id IN (SELECT id FROM ("
        "SELECT id FROM (SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'planned' AND not_before = 0 AND ?1 >= 0 "
        "ORDER BY id LIMIT ?2) "
        "UNION ALL SELECT id FROM (SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'planned' AND not_before > 0 "
        "AND not_before <= ?1 ORDER BY id LIMIT ?2) "
        "UNION ALL SELECT id FROM (SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'planned' AND not_before < 0 "
        "AND not_before <= ?1 ORDER BY id LIMIT ?2) "
        "UNION ALL SELECT id FROM (SELECT id FROM outbox INDEXED BY outbox_due WHERE state = 'deferred' "
        "AND not_before <= ?1 ORDER BY id LIMIT ?2)"
        ") ORDER BY id LIMIT ?2) ORDER BY id");
    auto st = db_.prepare(sql);
    st.bind(1, now).bind(2, std::int64_t{limit});
    return collect<action_row>(st, read_action);
}

bool outbox_transition_allowed(std::string_view from, std::string_view to) {
    // The same table as migration 4's outbox_transitions, with 20's
    // unknown -> failed (a test keeps them equal).
    static constexpr std::pair<std::string_view, std::string_view> allowed[] = {
        {"planned", "sending"},  {"planned", "deferred"},  {"planned", "failed"},   {"planned", "skipped"},
        {"deferred", "sending"}, {"deferred", "deferred"}, {"deferred", "failed"},  {"deferred", "skipped"},
        {"sending", "done"},     {"sending", "failed"},    {"sending", "deferred"}, {"sending", "unknown"},
        {"unknown", "done"},     {"unknown", "planned"},   {"unknown", "unknown"},  {"unknown", "failed"},
    };
    for (const auto& [f, t] : allowed)
        if (f == from && t == to) return true;
    return false;
}

void store::set_action_state(std::int64_t id, std::string_view state, std::string_view reason,
                             std::string_view result, std::int64_t now, std::int64_t not_before) {
    auto st = db_.prepare(
        "UPDATE outbox SET state = ?2, reason = ?3, result = ?4, updated_at = ?5, not_before = ?6 WHERE id = ?1");
    st.bind(1, id).bind(2, state).bind(3, reason).bind(4, result).bind(5, now).bind(6, not_before);
    try {
        st.step();
    } catch (const storage_error& e) {
        auto row = get_action(id);
        throw storage_error(e.code(), "outbox action " + std::to_string(id) + ": " + (row ? row->state : "(missing)") +
                                          " -> " + std::string(state) + " refused: " + e.what());
    }
    if (db_.changes() == 0) throw storage_error(0, "outbox action " + std::to_string(id) + " does not exist");
}

void store::begin_attempt(std::int64_t id, std::int64_t now) {
    auto st = db_.prepare(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1");
    st.bind(1, id).bind(2, now);
    st.step();
    if (db_.changes() == 0) throw storage_error(0, "outbox action " + std::to_string(id) + " does not exist");
}

void store::give_back_attempt(std::int64_t id) {
    auto st = db_.prepare("UPDATE outbox SET attempts = attempts - 1 WHERE id = ?1 AND attempts > 0");
    st.bind(1, id);
    st.step();
}

int store::mark_interrupted_sends(std::int64_t now) {
    auto st = db_.prepare(
        "UPDATE outbox SET state = 'unknown', reason = 'interrupted: outcome unknown', updated_at = ?1 "
        "WHERE state = 'sending'");
    st.bind(1, now);
    st.step();
    return db_.changes();
}

std::vector<action_row> store::recent_actions(int limit) {
    static const std::string sql = select_from(action_columns, "FROM outbox ORDER BY id DESC LIMIT ?1");
    auto st = db_.prepare(sql);
    st.bind(1, std::int64_t{limit});
    return collect<action_row>(st, read_action);
}

std::vector<action_row> store::actions_for_order(std::string_view order_id) {
    static const std::string sql = select_from(action_columns, "FROM outbox WHERE order_id = ?1 ORDER BY id");
    auto st = db_.prepare(sql);
    st.bind(1, order_id);
    return collect<action_row>(st, read_action);
}

std::vector<action_row> store::actions_in_state(std::string_view state, int limit) {
    static const std::string sql = select_from(action_columns, "FROM outbox WHERE state = ?1 ORDER BY id LIMIT ?2");
    auto st = db_.prepare(sql);
    st.bind(1, state);
    st.bind(2, static_cast<std::int64_t>(limit));
    return collect<action_row>(st, read_action);
}

std::vector<action_row> store::actions_to_reconcile(int limit) {
    // json_extract only on valid JSON: `result` is '' until an outcome is recorded.
    static const std::string sql = select_from(
        action_columns,
        "FROM outbox WHERE state = 'unknown' AND "
        "(CASE WHEN json_valid(result) THEN json_extract(result, '$.reconciled') END) IS NOT 'inconclusive' "
        "ORDER BY id LIMIT ?1");
    auto st = db_.prepare(sql);
    st.bind(1, static_cast<std::int64_t>(limit));
    return collect<action_row>(st, read_action);
}

std::vector<history_row> store::action_history(std::int64_t id) {
    auto st = db_.prepare("SELECT at, state, reason, attempt FROM outbox_history WHERE action_id = ?1 ORDER BY id");
    st.bind(1, id);
    std::vector<history_row> rows;
    while (st.step()) rows.push_back({st.int64(0), st.text(1), st.text(2), static_cast<int>(st.int64(3))});
    return rows;
}

namespace {

int count_of(statement& st) {
    if (!st.step()) return 0;
    int n = static_cast<int>(st.int64(0));
    while (st.step()) {
    }
    return n;
}

}  // namespace

std::vector<std::int64_t> store::sends_planned_between(std::int64_t after_id, std::int64_t through_id, std::int64_t since, int cap) {
    auto st = db_.prepare(
        "SELECT created_at FROM outbox WHERE id > ?1 AND id <= ?2 AND created_at >= ?3 AND kind IN ('send_message', 'reply') "
        "AND state NOT IN ('shadow', 'skipped') ORDER BY id LIMIT ?4");
    st.bind(1, after_id).bind(2, through_id).bind(3, since).bind(4, std::int64_t{cap});
    std::vector<std::int64_t> out;
    while (st.step()) out.push_back(st.int64(0));
    return out;
}

std::int64_t store::newest_action_id() {
    auto st = db_.prepare("SELECT coalesce(max(id), 0) FROM outbox");
    if (!st.step()) return 0;
    auto id = st.int64(0);
    while (st.step()) {
    }
    return id;
}

std::int64_t store::first_action_since(std::int64_t since) {
    auto st = db_.prepare("SELECT coalesce(min(id), 0) FROM outbox WHERE created_at >= ?1");
    st.bind(1, since);
    return st.step() ? st.int64(0) : 0;
}

int store::messages_to_order_since(std::string_view order_id, std::int64_t since) {
    auto st = db_.prepare(
        "SELECT count(*) FROM outbox WHERE order_id = ?1 AND kind IN ('send_message', 'reply') "
        "AND state IN ('done', 'sending', 'unknown') AND updated_at >= ?2");
    st.bind(1, order_id).bind(2, since);
    return count_of(st);
}

int store::messages_to_buyer_since(std::string_view buyer_user_id, std::int64_t since) {
    if (buyer_user_id.empty()) return 0;
    auto st = db_.prepare(
        "SELECT count(*) FROM outbox WHERE buyer_user_id = ?1 AND buyer_user_id != '' AND updated_at >= ?2 "
        "AND kind IN ('send_message', 'reply') AND state IN ('done', 'sending', 'unknown')");
    st.bind(1, buyer_user_id).bind(2, since);
    return count_of(st);
}

int store::skip_held_sends(std::int64_t before, std::string_view reason, std::int64_t now) {
    auto st = db_.prepare(
        "UPDATE outbox SET state = 'skipped', reason = ?2, updated_at = ?3, not_before = 0 "
        "WHERE state IN ('planned', 'deferred') AND kind IN ('send_message', 'reply') AND created_at < ?1 AND not_before <= ?3");
    st.bind(1, before).bind(2, reason).bind(3, now);
    st.step();
    return db_.changes();
}

activity_summary store::activity_since(std::int64_t since) {
    activity_summary s;
    auto st = db_.prepare(
        "SELECT state, count(*) FROM outbox WHERE kind IN ('send_message', 'reply') AND updated_at >= ?1 "
        "AND state IN ('done', 'failed', 'skipped', 'unknown') GROUP BY state");
    st.bind(1, since);
    while (st.step()) {
        const auto state = st.text(0);
        const int n = static_cast<int>(st.int64(1));
        if (state == "done") s.messages_sent = n;
        else if (state == "failed") s.messages_failed = n;
        else if (state == "skipped") s.messages_skipped = n;
        else s.messages_unknown = n;
    }
    // The time asked comes first: of two lower bounds on the index's
    // column, SQLite starts the range at the first one written, and
    // `finished_at > 0` (which must be there for the partial index to be
    // used) would read every finished event ever kept (a million orders:
    // 3 million entries and 143 ms, against 8 ms from the time asked).
    auto ev = db_.prepare("SELECT count(*) FROM inbox WHERE finished_at >= ?1 AND finished_at > 0 AND state = 'done'");
    ev.bind(1, since);
    s.events_processed = count_of(ev);
    auto opened = db_.prepare("SELECT count(*) FROM review WHERE created_at >= ?1");
    opened.bind(1, since);
    s.reviews_opened = count_of(opened);
    // open or acknowledged: the same rows as state != 'resolved' (the CHECK
    // constraint allows no other state), found through an index on state.
    auto open = db_.prepare("SELECT count(*) FROM review WHERE state IN ('open', 'acknowledged')");
    s.reviews_open = count_of(open);
    return s;
}

store::coverage store::rule_coverage(std::int64_t since) {
    coverage out;
    // The time asked first, as in activity_since.
    auto ev = db_.prepare("SELECT note FROM inbox WHERE finished_at >= ?1 AND finished_at > 0 AND state = 'done'");
    ev.bind(1, since);
    while (ev.step()) {
        ++out.events;
        const std::string note = ev.text(0);
        constexpr std::string_view prefix = "matched:";
        if (note.rfind(prefix, 0) != 0) continue;
        std::size_t i = prefix.size();
        while (i < note.size()) {
            while (i < note.size() && note[i] == ' ') ++i;
            std::size_t j = note.find(' ', i);
            if (j == std::string::npos) j = note.size();
            if (j > i) ++out.rules[note.substr(i, j - i)].matched;
            i = j;
        }
    }
    auto act = db_.prepare("SELECT rule_id, state, count(*) FROM outbox WHERE created_at >= ?1 GROUP BY rule_id, state");
    act.bind(1, since);
    while (act.step()) out.rules[act.text(0)].actions[act.text(1)] = static_cast<int>(act.int64(2));
    return out;
}

std::optional<action_row> store::action_by_key(std::string_view idem_key) {
    static const std::string sql = select_from(action_columns, "FROM outbox WHERE idem_key = ?1");
    auto st = db_.prepare(sql);
    st.bind(1, idem_key);
    if (!st.step()) return std::nullopt;
    return read_action(st);
}

std::vector<action_row> store::actions_of_event(std::int64_t event_id) {
    static const std::string sql = select_from(action_columns, "FROM outbox WHERE event_id = ?1 ORDER BY id");
    auto st = db_.prepare(sql);
    st.bind(1, event_id);
    return collect<action_row>(st, read_action);
}

std::optional<action_row> store::get_action(std::int64_t id) {
    static const std::string sql = select_from(action_columns, "FROM outbox WHERE id = ?1");
    auto st = db_.prepare(sql);
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return read_action(st);
}

void store::link_event_order(std::int64_t id, std::string_view order_id) {
    auto st = db_.prepare("UPDATE inbox SET order_id = ?2 WHERE id = ?1 AND order_id = ''");
    st.bind(1, id).bind(2, order_id);
    st.step();
}

// ------------------------------------------------------------------- order tags

std::vector<std::string> store::tags(std::string_view order_id) {
    auto st = db_.prepare("SELECT tag FROM order_tags WHERE order_id = ?1 ORDER BY tag");
    st.bind(1, order_id);
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.text(0));
    return out;
}

void store::add_tag(std::string_view order_id, std::string_view tag, std::int64_t now) {
    auto st = db_.prepare("INSERT INTO order_tags (order_id, tag, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
    st.bind(1, order_id).bind(2, tag).bind(3, now);
    st.step();
}

void store::remove_tag(std::string_view order_id, std::string_view tag) {
    auto st = db_.prepare("DELETE FROM order_tags WHERE order_id = ?1 AND tag = ?2");
    st.bind(1, order_id).bind(2, tag);
    st.step();
}

// ---------------------------------------------------------------- conversations

std::optional<std::string> store::conversation_for(std::string_view buyer_user_id) {
    auto st = db_.prepare("SELECT conversation_id FROM conversations WHERE buyer_user_id = ?1");
    st.bind(1, buyer_user_id);
    if (!st.step()) return std::nullopt;
    return st.text(0);
}

void store::put_conversation(std::string_view buyer_user_id, std::string_view conversation_id, std::int64_t now) {
    auto st = db_.prepare(
        "INSERT INTO conversations (buyer_user_id, conversation_id, updated_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (buyer_user_id) DO UPDATE SET conversation_id = excluded.conversation_id, "
        "updated_at = excluded.updated_at");
    st.bind(1, buyer_user_id).bind(2, conversation_id).bind(3, now);
    st.step();
}

// ------------------------------------------------------------------ review queue

namespace {

constexpr const char* review_columns =
    "id, order_id, reason, severity, summary, evidence, state, occurrences, created_at, updated_at, resolved_by, note";

review_item read_review(const statement& st) {
    review_item r;
    r.id = st.int64(0);
    r.order_id = st.text(1);
    r.reason = st.text(2);
    r.severity = st.text(3);
    r.summary = st.text(4);
    r.evidence = st.text(5);
    r.state = st.text(6);
    r.occurrences = static_cast<int>(st.int64(7));
    r.created_at = st.int64(8);
    r.updated_at = st.int64(9);
    r.resolved_by = st.text(10);
    r.note = st.text(11);
    return r;
}

}  // namespace

std::int64_t store::raise_review(std::string_view order_id, std::string_view reason, std::string_view severity,
                                 std::string_view summary, const nlohmann::json& evidence, std::int64_t now, std::string_view case_key) {
    auto st = db_.prepare(
        "INSERT INTO review (order_id, reason, severity, summary, evidence, created_at, updated_at, case_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) "
        "ON CONFLICT (order_id, reason, case_key) WHERE state != 'resolved' DO UPDATE SET "
        "occurrences = occurrences + 1, summary = excluded.summary, evidence = excluded.evidence, "
        "updated_at = excluded.updated_at, "
        "severity = CASE WHEN excluded.severity = 'critical' OR severity = 'critical' THEN 'critical' "
        "                WHEN excluded.severity = 'warning' OR severity = 'warning' THEN 'warning' ELSE 'info' END "
        "RETURNING id");
    st.bind(1, order_id).bind(2, reason).bind(3, severity).bind(4, summary);
    const std::string evidence_text = evidence.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    st.bind(5, evidence_text).bind(6, now).bind(7, case_key);
    if (!st.step()) throw storage_error(0, "raise_review returned no row");
    auto id = st.int64(0);
    while (st.step()) {
    }
    return id;
}

std::vector<review_item> store::reviews(bool include_resolved, int limit) {
    // state IN ('open', 'acknowledged') is state != 'resolved' (the CHECK
    // constraint allows no other state), written so SQLite seeks into an
    // index on state instead of walking every resolved item.
    static const std::string open_sql = std::string("SELECT ") + review_columns +
                                        " FROM review WHERE state IN ('open', 'acknowledged') ORDER BY id DESC LIMIT ?1";
    static const std::string all_sql = std::string("SELECT ") + review_columns + " FROM review ORDER BY id DESC LIMIT ?1";
    auto st = db_.prepare(include_resolved ? all_sql : open_sql);
    st.bind(1, static_cast<std::int64_t>(limit));
    return collect<review_item>(st, read_review);
}

std::vector<review_item> store::find_reviews(std::string_view state, std::string_view severity, std::string_view reason,
                                            std::string_view order_id, int limit) {
    static const std::string sql = std::string("SELECT ") + review_columns +
                                   " FROM review WHERE (?1 = 'all' OR (?1 = 'open' AND state IN ('open', 'acknowledged')) OR state = ?1)"
                                   " AND (?2 = '' OR severity = ?2) AND (?3 = '' OR reason = ?3) AND (?4 = '' OR order_id = ?4)"
                                   " ORDER BY id DESC LIMIT ?5";
    auto st = db_.prepare(sql);
    st.bind(1, state).bind(2, severity).bind(3, reason).bind(4, order_id).bind(5, static_cast<std::int64_t>(limit));
    return collect<review_item>(st, read_review);
}

int store::open_review_count() {
    auto st = db_.prepare("SELECT count(*) FROM review WHERE state IN ('open', 'acknowledged')");
    st.step();
    return static_cast<int>(st.int64(0));
}

std::optional<review_item> store::get_review(std::int64_t id) {
    static const std::string sql = std::string("SELECT ") + review_columns + " FROM review WHERE id = ?1";
    auto st = db_.prepare(sql);
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return read_review(st);
}

bool store::set_review_state(std::int64_t id, std::string_view state, std::string_view by, std::string_view note,
                             std::int64_t now) {
    auto st = db_.prepare(
        "UPDATE review SET state = ?2, resolved_by = ?3, note = CASE WHEN ?4 = '' THEN note ELSE ?4 END, updated_at = ?5 "
        "WHERE id = ?1");
    st.bind(1, id).bind(2, state).bind(3, by).bind(4, note).bind(5, now);
    st.step();
    return db_.changes() > 0;
}

// ----------------------------------------------------------------- notifications

namespace {

constexpr const char* notification_columns = "id, channel, dedupe, review_id, payload, state, attempts, not_before, last_error";

notification_row read_notification(const statement& st) {
    notification_row n;
    n.id = st.int64(0);
    n.channel = st.text(1);
    n.dedupe = st.text(2);
    n.review_id = st.int64(3);
    n.payload = st.text(4);
    n.state = st.text(5);
    n.attempts = static_cast<int>(st.int64(6));
    n.not_before = st.int64(7);
    n.last_error = st.text(8);
    return n;
}

}  // namespace

bool store::add_notification(std::string_view channel, std::string_view dedupe, std::int64_t review_id,
                             const nlohmann::json& payload, std::int64_t now) {
    auto st = db_.prepare(
        "INSERT INTO notifications (channel, dedupe, review_id, payload, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (channel, dedupe) DO NOTHING");
    const std::string text = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    st.bind(1, channel).bind(2, dedupe).bind(3, review_id).bind(4, text).bind(5, now);
    st.step();
    return db_.changes() > 0;
}

std::vector<notification_row> store::due_notifications(std::int64_t now, int limit) {
    static const std::string sql = std::string("SELECT ") + notification_columns +
                                   " FROM notifications WHERE state = 'pending' AND not_before <= ?1 ORDER BY id LIMIT ?2";
    auto st = db_.prepare(sql);
    st.bind(1, now).bind(2, static_cast<std::int64_t>(limit));
    return collect<notification_row>(st, read_notification);
}

void store::notification_sent(std::int64_t id, std::int64_t now) {
    auto st = db_.prepare("UPDATE notifications SET state = 'sent', attempts = attempts + 1, last_error = '', updated_at = ?2 WHERE id = ?1");
    st.bind(1, id).bind(2, now);
    st.step();
}

void store::notification_retry(std::int64_t id, std::string_view error, std::int64_t not_before, std::int64_t now) {
    auto st = db_.prepare(
        "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, not_before = ?3, updated_at = ?4 WHERE id = ?1");
    st.bind(1, id).bind(2, error).bind(3, not_before).bind(4, now);
    st.step();
}

void store::notification_failed(std::int64_t id, std::string_view error, std::int64_t now) {
    auto st = db_.prepare(
        "UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = ?2, updated_at = ?3 WHERE id = ?1");
    st.bind(1, id).bind(2, error).bind(3, now);
    st.step();
}

std::vector<notification_row> store::pending_review_notifications(std::string_view channel, int limit) {
    static const std::string sql = std::string("SELECT ") + notification_columns +
                                   " FROM notifications WHERE channel = ?1 AND state = 'pending' AND review_id != 0 ORDER BY id LIMIT ?2";
    auto st = db_.prepare(sql);
    st.bind(1, channel).bind(2, static_cast<std::int64_t>(limit));
    return collect<notification_row>(st, read_notification);
}

void store::postpone_notifications(std::string_view channel, std::int64_t until) {
    auto st = db_.prepare(
        "UPDATE notifications SET not_before = ?2 WHERE channel = ?1 AND state = 'pending' AND review_id != 0 AND not_before < ?2");
    st.bind(1, channel).bind(2, until);
    st.step();
}

std::int64_t store::last_review_notification(std::string_view channel) {
    auto st = db_.prepare(
        "SELECT max(updated_at) FROM notifications WHERE channel = ?1 AND state = 'sent' AND review_id != 0");
    st.bind(1, channel);
    if (!st.step() || st.is_null(0)) return 0;
    auto at = st.int64(0);
    while (st.step()) {
    }
    return at;
}

std::vector<notification_row> store::recent_notifications(int limit) {
    static const std::string sql = std::string("SELECT ") + notification_columns + " FROM notifications ORDER BY id DESC LIMIT ?1";
    auto st = db_.prepare(sql);
    st.bind(1, static_cast<std::int64_t>(limit));
    return collect<notification_row>(st, read_notification);
}

// -------------------------------------------------------------------- audit log

void store::audit(std::int64_t at, std::string_view actor, std::string_view action, std::string_view order_id,
                  const nlohmann::json& detail) {
    // replace: buyer text with broken UTF-8 must not make the audit write throw.
    const std::string text = detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto st = db_.prepare("INSERT INTO audit_log (at, actor, action, order_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
    st.bind(1, at).bind(2, actor).bind(3, action).bind(4, order_id).bind(5, text);
    st.step();
}

namespace {

std::vector<nlohmann::json> audit_rows(statement& st) {
    std::vector<nlohmann::json> rows;
    while (st.step()) {
        auto detail = nlohmann::json::parse(st.text(5), nullptr, false);
        if (detail.is_discarded()) detail = st.text(5);
        rows.push_back({{"id", st.int64(0)},
                        {"at", st.int64(1)},
                        {"actor", st.text(2)},
                        {"action", st.text(3)},
                        {"order_id", st.text(4)},
                        {"detail", std::move(detail)}});
    }
    return rows;
}

}  // namespace

std::vector<nlohmann::json> store::recent_audit(int limit) {
    auto st = db_.prepare("SELECT id, at, actor, action, order_id, detail FROM audit_log ORDER BY id DESC LIMIT ?1");
    st.bind(1, std::int64_t{limit});
    return audit_rows(st);
}

std::vector<nlohmann::json> store::audit_entries(std::int64_t since, std::string_view order_id, std::string_view action, int limit) {
    // By order through audit_log_order; else by time through audit_log_at,
    // whose entries are in (at, id) order, so no sort is needed.
    constexpr std::string_view matches = "(?3 = '' OR action = ?3 OR substr(action, 1, length(?3) + 1) = ?3 || '.')";
    auto st = db_.prepare(order_id.empty()
                              ? "SELECT id, at, actor, action, order_id, detail FROM audit_log WHERE at >= ?1 AND " +
                                    std::string(matches) + " ORDER BY at DESC, id DESC LIMIT ?4"
                              : "SELECT id, at, actor, action, order_id, detail FROM audit_log WHERE order_id = ?2 AND at >= ?1 AND " +
                                    std::string(matches) + " ORDER BY id DESC LIMIT ?4");
    st.bind(1, since).bind(3, action).bind(4, std::int64_t{limit});
    if (!order_id.empty()) st.bind(2, order_id);
    return audit_rows(st);
}

// ----------------------------------------------------------------- daemon state

std::optional<std::string> store::get_state(std::string_view name) {
    auto st = db_.prepare("SELECT value FROM daemon_state WHERE name = ?1");
    st.bind(1, name);
    if (!st.step()) return std::nullopt;
    return st.text(0);
}

void store::put_state(std::string_view name, std::string_view value, std::int64_t now) {
    auto st = db_.prepare(
        "INSERT INTO daemon_state (name, value, updated_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at");
    st.bind(1, name).bind(2, value).bind(3, now);
    st.step();
}

// ----------------------------------------------------------------------- counts

nlohmann::json store::counts() {
    nlohmann::json out = {
        {"inbox", {{"pending", 0}, {"timers", 0}, {"done", 0}, {"ignored", 0}, {"failed", 0}}},
        {"outbox",
         {{"planned", 0},
          {"deferred", 0},
          {"sending", 0},
          {"done", 0},
          {"failed", 0},
          {"skipped", 0},
          {"unknown", 0},
          {"shadow", 0}}},
    };
    // Kept by triggers (migration 10) as rows come and change state: counting
    // millions of rows on each status or /metrics scrape would read the whole
    // table. Timers waiting to fire are pending inbox rows too; they are
    // counted apart, as 'timers'.
    auto st = db_.prepare("SELECT tbl, state, n FROM row_counts");
    while (st.step()) out[st.text(0)][st.text(1)] = st.int64(2);
    return out;
}

}  // namespace orderflow::storage
