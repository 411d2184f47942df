// SQL behind retention.hpp: one UPDATE or DELETE per table, all in one
// transaction (a batch: at most so many rows per table), written against the
// columns of migrations 1-3 and the indexes of 10.
//
// Each WHERE clause leaves out rows an earlier run already blanked, so
// db.changes() is what this run changed and a repeated purge is a no-op.
// Timestamps are kept as they are (blanking is not an update that anyone
// scheduled), which is also what keeps a repeated purge from matching a row
// again. Every statement seeks through an index (migration 10; the plans are
// checked by tests/storage/query_plan_test.cpp), because the purge runs every
// hour on the daemon's only thread. Inbox and outbox rows are never deleted,
// so a range on their time column alone would walk every row purged before;
// their statements name the partial indexes of rows that still hold personal
// data (INDEXED BY: an error, not a silent full walk, if the index is gone).
// With the key, the rows those statements pick have their kept ids hashed
// one at a time (a key may turn out to be taken), the audit entries through
// audit_log_unhashed (migration 19), an earlier version's purged rows
// through the rowid, a batch at a time.
// Unfinished rows untouched for the period are picked through an index on
// their state and time (or, for events, inbox_unpurged), settled through the
// store's own functions (the outbox's transitions stay the trigger's to
// allow), and then purged by id as finished rows are.
#include "storage/retention.hpp"

#include "storage/detail/pseudonyms.hpp"
#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace orderflow::storage {

namespace {

// Runs one data-changing statement whose ?1 is the cutoff and ?2 the most
// rows it may change; returns the rows it changed.
int run(database& db, std::string_view sql, std::int64_t cutoff, int max_rows) {
    auto st = db.prepare(sql);
    st.bind(1, cutoff).bind(2, std::int64_t{max_rows});
    st.step();
    return db.changes();
}

}  // namespace

int purge_counts::total() const {
    return events + orders + actions + conversations + reviews + notifications + answers + tags + hashed;
}

namespace {

using key_span = std::span<const unsigned char>;

std::vector<std::int64_t> ids_of(statement& st) {
    std::vector<std::int64_t> ids;
    while (st.step()) ids.push_back(st.int64(0));
    return ids;
}

std::string json_ids(const std::vector<std::int64_t>& ids) { return nlohmann::json(ids).dump(); }

std::vector<std::int64_t> pick_ids(database& db, std::string_view sql, std::int64_t cutoff, int max_rows) {
    auto pick = db.prepare(sql);
    pick.bind(1, cutoff).bind(2, std::int64_t{max_rows});
    return ids_of(pick);
}

// What is left of a table's max_rows once `used` of its rows were taken by
// this batch (no limit, -1, stays none).
int rows_left(int max_rows, int used) { return max_rows < 0 ? max_rows : std::max(max_rows - used, 0); }

// The purge's own words (retention.hpp: expired_*) as SQL literals: a note
// or a reason the purge blanks stays when it is one of them, since it names
// no one and says what became of the row.
constexpr bool quotable(std::string_view text) { return text.find('\'') == std::string_view::npos; }
static_assert(quotable(expired_review_note) && quotable(expired_event_note) && quotable(expired_action_reason) &&
              quotable(expired_unknown_reason));
std::string literal(std::string_view text) { return "'" + std::string(text) + "'"; }
const std::string& event_note_blanked() {
    static const std::string sql = "note = CASE WHEN note = " + literal(expired_event_note) + " THEN note ELSE '' END";
    return sql;
}
const std::string& own_reasons() {
    static const std::string sql = "(" + literal(expired_action_reason) + ", " + literal(expired_unknown_reason) + ")";
    return sql;
}

// One event's payload and context go, and its note (a failure's text can
// name a conversation or a package): with the key, its order id too and
// the ids in its keys (a key whose hashed form is taken makes the row go,
// detail::hash_keys_of_event).
void blank_event(database& db, std::int64_t id, key_span key) {
    if (!key.empty()) detail::hash_keys_of_event(db, key, id);
    static const std::string plain = "UPDATE inbox SET payload = '{}', context = '', " + event_note_blanked() + " WHERE id = ?1";
    static const std::string keyed =
        "UPDATE inbox SET payload = '{}', context = '', order_id = '', " + event_note_blanked() + " WHERE id = ?1";
    auto blank = db.prepare(key.empty() ? plain : keyed);
    blank.bind(1, id);
    blank.step();
}

// Finished events whose payload goes, and their note; with the key one at
// a time (blank_event).
int purge_events(database& db, std::int64_t cutoff, int max_rows, key_span key) {
    if (key.empty()) {
        static const std::string sql =
            "UPDATE inbox SET payload = '{}', context = '', " + event_note_blanked() +
            " WHERE id IN (SELECT id FROM inbox INDEXED BY inbox_unpurged "
            "WHERE state IN ('done', 'ignored', 'failed') AND received_at < ?1 AND (payload != '{}' OR context != '') "
            "LIMIT ?2)";
        return run(db, sql, cutoff, max_rows);
    }
    const auto ids = pick_ids(db,
                              "SELECT id FROM inbox INDEXED BY inbox_unpurged "
                              "WHERE state IN ('done', 'ignored', 'failed') AND received_at < ?1 AND (payload != '{}' OR context != '') "
                              "LIMIT ?2",
                              cutoff, max_rows);
    for (const auto id : ids) blank_event(db, id, key);
    return static_cast<int>(ids.size());
}

// Pending events received before the cutoff and due before it (a timer due
// later keeps its deadline): never processed, so set aside unread, then
// purged as finished ones. Through inbox_unpurged, like the finished ones:
// below the cutoff it holds only the rows still to purge, and these.
int expire_events(database& db, std::int64_t cutoff, std::int64_t now, int max_rows, key_span key) {
    const auto ids = pick_ids(db,
                              "SELECT id FROM inbox INDEXED BY inbox_unpurged "
                              "WHERE state = 'pending' AND received_at < ?1 AND not_before < ?1 AND (payload != '{}' OR context != '') "
                              "LIMIT ?2",
                              cutoff, max_rows);
    store s(db);
    for (const auto id : ids) {
        s.finish_event(id, "ignored", expired_event_note, now);
        // The change it reports is not claimed: it was never acted on. The
        // key names an order or a message (hash_keys_of_event clears it too).
        auto unclaimed = db.prepare("UPDATE inbox SET change_key = '' WHERE id = ?1 AND change_key != ''");
        unclaimed.bind(1, id);
        unclaimed.step();
        blank_event(db, id, key);
    }
    return static_cast<int>(ids.size());
}

// The reasons in the history of the actions `ids` (a JSON array) go, but
// the purge's own.
void blank_history_reasons(database& db, const std::string& ids) {
    static const std::string sql =
        "UPDATE outbox_history SET reason = '' WHERE action_id IN (SELECT value FROM json_each(?1)) AND reason != '' "
        "AND reason NOT IN " + own_reasons();
    auto history = db.prepare(sql);
    history.bind(1, ids);
    history.step();
}

// The actions `ids` (a JSON array) lose payload, result and buyer: with the
// key, their order id and reasons too (a reason may quote a conversation,
// a package or an error). Returns how many rows changed.
int blank_actions(database& db, const std::string& ids, key_span key) {
    static const std::string keyed =
        "UPDATE outbox SET payload = '{}', result = '', buyer_user_id = '', order_id = '', "
        "reason = CASE WHEN reason IN " + own_reasons() + " THEN reason ELSE '' END "
        "WHERE id IN (SELECT value FROM json_each(?1))";
    auto blank = db.prepare(key.empty()
                                ? "UPDATE outbox SET payload = '{}', result = '', buyer_user_id = '' WHERE id IN (SELECT value FROM json_each(?1))"
                                : std::string_view(keyed));
    blank.bind(1, ids);
    blank.step();
    const int n = db.changes();
    if (!key.empty()) blank_history_reasons(db, ids);
    return n;
}

// Settled actions whose payload goes (blank_actions).
int purge_actions(database& db, std::int64_t cutoff, int max_rows, key_span key) {
    if (key.empty())
        return run(db,
                   "UPDATE outbox SET payload = '{}', result = '', buyer_user_id = '' WHERE id IN ("
                   "SELECT id FROM outbox INDEXED BY outbox_unpurged "
                   "WHERE state IN ('done', 'failed', 'skipped', 'shadow') AND updated_at < ?1 "
                   "AND (payload != '{}' OR result != '' OR buyer_user_id != '') LIMIT ?2)",
                   cutoff, max_rows);
    const auto ids = pick_ids(db,
                              "SELECT id FROM outbox INDEXED BY outbox_unpurged "
                              "WHERE state IN ('done', 'failed', 'skipped', 'shadow') AND updated_at < ?1 "
                              "AND (payload != '{}' OR result != '' OR buyer_user_id != '') LIMIT ?2",
                              cutoff, max_rows);
    return blank_actions(db, json_ids(ids), key);
}

// Actions planned, deferred or unknown, untouched since before the cutoff
// and due before it too (one deferred to a time after it keeps its time):
// settled (retention.hpp says why unknown ones end failed), then
// purged as settled ones. Through outbox_settled (state, updated_at): a
// range per state, of rows that only pass through these states. sending
// stays: the daemon makes it unknown at its start.
int expire_actions(database& db, std::int64_t cutoff, std::int64_t now, int max_rows, key_span key) {
    struct picked {
        std::int64_t id;
        bool unknown;
    };
    std::vector<picked> rows;
    {
        auto pick = db.prepare(
            "SELECT id, state = 'unknown' FROM outbox WHERE state IN ('planned', 'deferred', 'unknown') AND updated_at < ?1 "
            "AND not_before < ?1 LIMIT ?2");
        pick.bind(1, cutoff).bind(2, std::int64_t{max_rows});
        while (pick.step()) rows.push_back({pick.int64(0), pick.int64(1) != 0});
    }
    if (rows.empty()) return 0;
    store s(db);
    std::vector<std::int64_t> ids;
    for (const auto& r : rows) {
        // The idempotency key stays: planning it again is refused, and a
        // final state is never sent.
        s.set_action_state(r.id, r.unknown ? "failed" : "skipped", r.unknown ? expired_unknown_reason : expired_action_reason, "", now);
        ids.push_back(r.id);
    }
    blank_actions(db, json_ids(ids), key);
    return static_cast<int>(ids.size());
}

// Review items open or acknowledged and untouched since before the cutoff:
// resolved by the purge, listed in one audit entry (how many, their ids,
// how many of each reason: nothing about a buyer), then purged as resolved
// ones are (review_blanked). Through review_settled (state, updated_at).
std::vector<std::int64_t> expire_reviews(database& db, std::int64_t cutoff, std::int64_t now, int max_rows) {
    std::vector<std::int64_t> ids;
    std::map<std::string, int> reasons;
    {
        auto pick = db.prepare("SELECT id, reason FROM review WHERE state IN ('open', 'acknowledged') AND updated_at < ?1 LIMIT ?2");
        pick.bind(1, cutoff).bind(2, std::int64_t{max_rows});
        while (pick.step()) {
            ids.push_back(pick.int64(0));
            ++reasons[pick.text(1)];
        }
    }
    if (ids.empty()) return ids;
    store s(db);
    for (const auto id : ids) s.set_review_state(id, "resolved", expired_review_by, expired_review_note, now);
    s.audit(now, "orderflowd", expired_review_audit, "",
            {{"by", expired_review_by}, {"count", ids.size()}, {"review_ids", ids}, {"reasons", reasons}, {"untouched_before", cutoff}});
    return ids;
}

// What a purged review item keeps: its evidence and summary go, and with
// the key its order id, case key and staff's note (purged_summary in its
// place), but the purge's own note. ?3 is purged_summary.
std::string review_blanked(bool keyed) {
    return keyed ? "evidence = '{}', summary = ?3, order_id = '', case_key = '', note = CASE WHEN note = '' OR note = " +
                       literal(expired_review_note) + " THEN note ELSE ?3 END"
                 : "evidence = '{}', summary = ?3";
}

// Events and actions purged by a version before 19 kept their ids: migration
// 19 recorded the last id of each table then (daemon_state "purge_backlog":
// {"inbox": [done through, last], "outbox": [...]}), and each batch takes
// the next max_rows of them that are purged already, through the rowid (NOT
// INDEXED: never a state index, which would walk every settled row), among
// at most scan_window(max_rows) rows, so a stretch of rows that need nothing
// (the recent ones) costs one bounded look per batch, not a scan of all of
// them inside the write lock. The record goes once both are through.
// max_rows < 0: no limit, the whole range at once (tests, tools).
std::int64_t scan_window(int max_rows, std::int64_t from, std::int64_t to) {
    return max_rows < 0 ? to - from : std::int64_t{std::max(max_rows, 1)} * 4;
}

int hash_backlog(database& db, int max_rows, key_span key, bool& more) {
    using json = nlohmann::json;
    auto read = db.prepare("SELECT value FROM daemon_state WHERE name = 'purge_backlog'");
    if (!read.step()) return 0;
    json backlog = json::parse(read.text(0), nullptr, false);
    read.reset();
    auto range = [&](const char* table, std::int64_t& from, std::int64_t& to) {
        if (!backlog.is_object() || !backlog.contains(table) || !backlog[table].is_array() || backlog[table].size() != 2 ||
            !backlog[table][0].is_number_integer() || !backlog[table][1].is_number_integer())
            return false;
        from = backlog[table][0].get<std::int64_t>();
        to = backlog[table][1].get<std::int64_t>();
        return from < to;
    };
    // The table's next ids that need hashing, from its next window; the
    // backlog's mark moves past them (past the window when it held fewer).
    auto next_ids = [&](const char* table, const char* sql) {
        std::int64_t from = 0, to = 0;
        if (!range(table, from, to)) return std::vector<std::int64_t>{};
        auto pick = db.prepare(sql);
        const std::int64_t until = std::min(to, from + scan_window(max_rows, from, to));
        pick.bind(1, from).bind(2, until).bind(3, std::int64_t{max_rows});
        auto ids = ids_of(pick);
        backlog[table][0] = max_rows > 0 && static_cast<int>(ids.size()) == max_rows ? ids.back() : until;
        return ids;
    };
    const auto events = next_ids(
        "inbox",
        "SELECT id FROM inbox NOT INDEXED WHERE id > ?1 AND id <= ?2 AND state != 'pending' AND payload = '{}' AND context = '' "
        "ORDER BY id LIMIT ?3");
    for (const auto id : events) {
        detail::hash_keys_of_event(db, key, id);
        static const std::string sql = "UPDATE inbox SET order_id = '', " + event_note_blanked() +
                                       " WHERE id = ?1 AND (order_id != '' OR (note != '' AND note != " + literal(expired_event_note) + "))";
        auto blank = db.prepare(sql);
        blank.bind(1, id);
        blank.step();
    }
    const auto actions = next_ids(
        "outbox",
        "SELECT id FROM outbox NOT INDEXED WHERE id > ?1 AND id <= ?2 AND payload = '{}' AND result = '' "
        "AND (state = 'done' OR state = 'failed' OR state = 'skipped' OR state = 'shadow') ORDER BY id LIMIT ?3");
    if (!actions.empty()) {
        const std::string ids = json_ids(actions);
        static const std::string sql = "UPDATE outbox SET order_id = '', reason = CASE WHEN reason IN " + own_reasons() +
                                       " THEN reason ELSE '' END WHERE id IN (SELECT value FROM json_each(?1))";
        auto blank = db.prepare(sql);
        blank.bind(1, ids);
        blank.step();
        blank_history_reasons(db, ids);
    }
    std::int64_t from = 0, to = 0;
    if (!range("inbox", from, to) && !range("outbox", from, to)) {
        db.exec("DELETE FROM daemon_state WHERE name = 'purge_backlog'");
    } else {
        more = true;
        auto write = db.prepare("UPDATE daemon_state SET value = ?1 WHERE name = 'purge_backlog'");
        write.bind(1, backlog.dump());
        write.step();
    }
    return static_cast<int>(events.size() + actions.size());
}

// Audit entries older than the cutoff, each once (audit_log_unhashed holds
// the entries not yet done): ids to pseudonyms, free text out.
int hash_audit(database& db, std::int64_t cutoff, int max_rows, key_span key) {
    struct entry {
        std::int64_t id;
        std::string order_id, detail;
    };
    std::vector<entry> entries;
    {
        auto pick = db.prepare(
            "SELECT id, order_id, detail FROM audit_log INDEXED BY audit_log_unhashed WHERE pseudonymised = 0 AND at < ?1 LIMIT ?2");
        pick.bind(1, cutoff).bind(2, std::int64_t{max_rows});
        while (pick.step()) entries.push_back({pick.int64(0), pick.text(1), pick.text(2)});
    }
    for (const auto& e : entries) {
        auto up = db.prepare("UPDATE audit_log SET order_id = ?2, detail = ?3, pseudonymised = 1 WHERE id = ?1");
        up.bind(1, e.id)
            .bind(2, e.order_id.empty() ? std::string() : detail::pseudonym(key, "order", e.order_id))
            .bind(3, detail::pseudonymised_audit_detail(key, e.detail, !e.order_id.empty()));
        up.step();
    }
    return static_cast<int>(entries.size());
}

}  // namespace

// SQLite reads LIMIT -1 as no limit at all: the whole purge in one transaction.
purge_counts purge_personal_data(database& db, std::int64_t cutoff) { return purge_personal_data(db, cutoff, -1); }

purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows) {
    return purge_personal_data(db, cutoff, max_rows, {});
}

purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows, std::span<const unsigned char> key) {
    return purge_personal_data(db, cutoff, max_rows, key, static_cast<std::int64_t>(std::time(nullptr)));
}

// Each statement picks at most ?2 rows in a subquery (UPDATE and DELETE take
// no LIMIT of their own in SQLite's default build) and changes them by their
// key. The subquery keeps the WHERE clause and the index it always used.
// Unfinished rows settled in a batch count towards their table's max_rows:
// the finished rows' statement then picks only what is left.
purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows, std::span<const unsigned char> key,
                                 std::int64_t now) {
    return db.transaction([&] {
        purge_counts n;

        // The raw webhook body names the buyer and may carry the address. A
        // pending event still needs it, until it has waited for the whole
        // period unread; dedupe_key is what recognises a redelivery.
        n.expired_events = expire_events(db, cutoff, now, max_rows, key);
        n.events = n.expired_events + purge_events(db, cutoff, rows_left(max_rows, n.expired_events), key);

        // A cache of order details (buyer name, address); fetched again if the
        // order ever comes back.
        n.orders = run(db, "DELETE FROM orders WHERE rowid IN (SELECT rowid FROM orders WHERE updated_at < ?1 LIMIT ?2)",
                       cutoff, max_rows);

        // payload holds the rendered message text and the buyer id, result the
        // API's answer. Only terminal rows: the executor and the reconciler
        // still read the payload of planned, deferred, sending and unknown ones,
        // until they are settled for having waited the whole period.
        // idem_key stays, so re-planning the action is still refused.
        n.expired_actions = expire_actions(db, cutoff, now, max_rows, key);
        n.actions = n.expired_actions + purge_actions(db, cutoff, rows_left(max_rows, n.expired_actions), key);

        // Reconciling an unknown send looks its buyer's conversation up here and,
        // finding none, concludes that nothing was sent and plans it again
        // (daemon/executor/reconciler.cpp): so a buyer named by an unfinished
        // action keeps the row, however old (an unknown action settled just
        // above names no buyer any more). The CASE keeps json_extract away
        // from a payload that is not JSON (it would fail the whole purge); the
        // IS NOT NULL keeps one NULL from making NOT IN match nothing.
        n.conversations = run(db,
                              "DELETE FROM conversations WHERE rowid IN ("
                              "SELECT rowid FROM conversations WHERE updated_at < ?1 AND buyer_user_id NOT IN ("
                              "  SELECT buyer FROM ("
                              "    SELECT CASE WHEN json_valid(payload) THEN json_extract(payload, '$.buyer_user_id') END"
                              "      AS buyer"
                              "    FROM outbox WHERE state IN ('planned', 'deferred', 'sending', 'unknown'))"
                              "  WHERE buyer IS NOT NULL) "
                              "LIMIT ?2)",
                              cutoff, max_rows);

        // Evidence holds the buyer message, the failed text, the API error; the
        // summary may quote them. Reason and resolved_by stay for the record.
        // With the key, the order id, the case key (a conversation) and
        // staff's note go too: staff write what they did about the buyer
        // there ("called 山田 花子 at ..."), as a forget knows. Open and
        // acknowledged items are still being worked on, unless nobody and
        // nothing touched them for the whole period: those are resolved
        // here first and purged by id.
        {
            const auto expired = expire_reviews(db, cutoff, now, max_rows);
            n.expired_reviews = static_cast<int>(expired.size());
            if (!expired.empty()) {
                auto st = db.prepare("UPDATE review SET " + review_blanked(!key.empty()) +
                                     " WHERE id IN (SELECT value FROM json_each(?1))");
                st.bind(1, json_ids(expired)).bind(3, purged_summary);
                st.step();
            }
            static const std::string plain = "UPDATE review SET " + review_blanked(false) +
                                             " WHERE id IN (SELECT id FROM review WHERE state = 'resolved' AND updated_at < ?1 "
                                             "AND (evidence != '{}' OR summary != ?3) LIMIT ?2)";
            static const std::string keyed = "UPDATE review SET " + review_blanked(true) +
                                             " WHERE id IN (SELECT id FROM review WHERE state = 'resolved' AND updated_at < ?1 "
                                             "AND (evidence != '{}' OR summary != ?3 OR order_id != '' OR case_key != '' "
                                             "OR (note != '' AND note != ?3 AND note != " + literal(expired_review_note) + ")) LIMIT ?2)";
            auto st = db.prepare(key.empty() ? plain : keyed);
            st.bind(1, cutoff).bind(2, std::int64_t{rows_left(max_rows, n.expired_reviews)}).bind(3, purged_summary);
            st.step();
            n.reviews = n.expired_reviews + db.changes();
        }

        // The payload repeats the review's summary. Deleting drops the (channel,
        // dedupe) key too, which is safe: the daemon queues a notification only
        // when a review item opens, and its dedupe names that item's id, so no
        // later occasion can produce the same key again.
        // One still pending since before the cutoff is for a channel that
        // has failed all that time (the notifier retries it as long as it
        // is there): it goes too, with the summary it repeats.
        n.expired_notifications = run(db,
                                      "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications "
                                      "WHERE state = 'pending' AND created_at < ?1 LIMIT ?2)",
                                      cutoff, max_rows);
        n.notifications = n.expired_notifications +
                          run(db,
                              "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications "
                              "WHERE state IN ('sent', 'failed') AND updated_at < ?1 LIMIT ?2)",
                              cutoff, rows_left(max_rows, n.expired_notifications));

        // The buyer's own words, captured as an order attribute, and the
        // order a buyer pointed at: needed while the order is worked on.
        n.answers = run(db,
                        "DELETE FROM order_attributes WHERE (order_id, name) IN "
                        "(SELECT order_id, name FROM order_attributes WHERE captured_at < ?1 LIMIT ?2)",
                        cutoff, max_rows) +
                    run(db,
                        "DELETE FROM conversation_cards WHERE conversation_id IN "
                        "(SELECT conversation_id FROM conversation_cards WHERE updated_at < ?1 LIMIT ?2)",
                        cutoff, max_rows);

        if (!key.empty()) {
            // A tag is state a rule reads while events about the order come;
            // the orders cache keeps the order as long (it is refreshed by
            // every event that fetches it). A tag older than the period, of
            // an order the cache no longer holds, is no longer needed, and
            // names the order.
            n.tags = run(db,
                         "DELETE FROM order_tags WHERE (order_id, tag) IN (SELECT order_id, tag FROM order_tags "
                         "WHERE created_at < ?1 AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.order_id = order_tags.order_id) "
                         "LIMIT ?2)",
                         cutoff, max_rows);
            // audit_log: who did what and when stays (until retention.audit);
            // the ids in it become keyed pseudonyms.
            n.hashed = hash_audit(db, cutoff, max_rows, key) + hash_backlog(db, max_rows, key, n.more);
        }
        return n;
    });
}

row_purge_counts purge_rows(database& db, const row_cutoffs& c, int max_rows) {
    auto batch = [&](std::string_view sql, std::int64_t cutoff) {
        auto st = db.prepare(sql);
        st.bind(1, cutoff).bind(2, std::int64_t{max_rows});
        st.step();
        return db.changes();
    };
    return db.transaction([&] {
        row_purge_counts n;
        // finished_at is 0 only while pending, and inbox_finished holds the
        // rows past 0 only: the range says so in the index's own words.
        n.events = batch("DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE finished_at > 0 AND finished_at < ?1 "
                         "AND state != 'pending' LIMIT ?2)",
                         c.keys);
        // One range per settled state on outbox_settled (state, updated_at).
        n.actions = batch("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                          "WHERE state IN ('done', 'failed', 'skipped', 'shadow') AND updated_at < ?1 LIMIT ?2)",
                          c.keys);
        n.tags = batch("DELETE FROM order_tags WHERE (order_id, tag) IN "
                       "(SELECT order_id, tag FROM order_tags WHERE created_at < ?1 LIMIT ?2)",
                       c.keys);
        n.reviews = batch("DELETE FROM review WHERE id IN (SELECT id FROM review WHERE state = 'resolved' AND updated_at < ?1 LIMIT ?2)",
                          c.reviews);
        n.audit = batch("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ?1 LIMIT ?2)", c.audit);
        return n;
    });
}

int return_free_pages(database& db, int max_pages) {
    auto mode = db.prepare("PRAGMA auto_vacuum");
    if (!mode.step() || mode.int64(0) != 2) return 0;   // 2: INCREMENTAL
    auto pages = [&] {
        auto st = db.prepare("PRAGMA page_count");
        st.step();
        return st.int64(0);
    };
    const std::int64_t before = pages();
    db.exec("PRAGMA incremental_vacuum(" + std::to_string(max_pages) + ")");
    return static_cast<int>(before - pages());
}

}  // namespace orderflow::storage
