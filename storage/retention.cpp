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
#include "storage/retention.hpp"

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

int purge_counts::total() const { return events + orders + actions + conversations + reviews + notifications + answers; }

// SQLite reads LIMIT -1 as no limit at all: the whole purge in one transaction.
purge_counts purge_personal_data(database& db, std::int64_t cutoff) { return purge_personal_data(db, cutoff, -1); }

// Each statement picks at most ?2 rows in a subquery (UPDATE and DELETE take
// no LIMIT of their own in SQLite's default build) and changes them by their
// key. The subquery keeps the WHERE clause and the index it always used.
purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows) {
    return db.transaction([&] {
        purge_counts n;

        // The raw webhook body names the buyer and may carry the address. A
        // pending event still needs it; dedupe_key is what recognises a redelivery.
        n.events = run(db,
                       "UPDATE inbox SET payload = '{}', context = '' WHERE id IN ("
                       "SELECT id FROM inbox INDEXED BY inbox_unpurged "
                       "WHERE state IN ('done', 'ignored', 'failed') AND received_at < ?1 AND (payload != '{}' OR context != '') "
                       "LIMIT ?2)",
                       cutoff, max_rows);

        // A cache of order details (buyer name, address); fetched again if the
        // order ever comes back.
        n.orders = run(db, "DELETE FROM orders WHERE rowid IN (SELECT rowid FROM orders WHERE updated_at < ?1 LIMIT ?2)",
                       cutoff, max_rows);

        // payload holds the rendered message text and the buyer id, result the
        // API's answer. Only terminal rows: the executor and the reconciler
        // still read the payload of planned, deferred, sending and unknown ones.
        // idem_key stays, so re-planning the action is still refused.
        n.actions = run(db,
                        "UPDATE outbox SET payload = '{}', result = '', buyer_user_id = '' WHERE id IN ("
                        "SELECT id FROM outbox INDEXED BY outbox_unpurged "
                        "WHERE state IN ('done', 'failed', 'skipped', 'shadow') AND updated_at < ?1 "
                        "AND (payload != '{}' OR result != '' OR buyer_user_id != '') LIMIT ?2)",
                        cutoff, max_rows);

        // Reconciling an unknown send looks its buyer's conversation up here and,
        // finding none, concludes that nothing was sent and plans it again
        // (daemon/service.cpp, reconcile): so a buyer named by an unfinished
        // action keeps the row, however old. The CASE keeps json_extract away
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
        // summary may quote them. Reason, note, resolved_by and order_id stay
        // for the record. Open and acknowledged items are still being worked on.
        {
            auto st = db.prepare(
                "UPDATE review SET evidence = '{}', summary = ?3 WHERE id IN ("
                "SELECT id FROM review WHERE state = 'resolved' AND updated_at < ?1 AND (evidence != '{}' OR summary != ?3) "
                "LIMIT ?2)");
            st.bind(1, cutoff).bind(2, std::int64_t{max_rows}).bind(3, purged_summary);
            st.step();
            n.reviews = db.changes();
        }

        // The payload repeats the review's summary. Deleting drops the (channel,
        // dedupe) key too, which is safe: the daemon queues a notification only
        // when a review item opens, and its dedupe names that item's id, so no
        // later occasion can produce the same key again.
        n.notifications = run(db,
                              "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications "
                              "WHERE state IN ('sent', 'failed') AND updated_at < ?1 LIMIT ?2)",
                              cutoff, max_rows);

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

        // audit_log: kept; its details hold ids and outcomes, no buyer text.
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
