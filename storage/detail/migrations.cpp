// The schema of orderflow's database, one migration per entry.
//
// To change the schema, append a new string to `list` (never edit one that has
// shipped: databases in the field already ran it). Each runs inside its own
// transaction together with the user_version bump, so a failed migration
// leaves the database at the previous version.
//
// Tables are STRICT (SQLite >= 3.37; Debian 12 ships 3.40) so a wrongly typed
// value is an error instead of being stored silently. State columns carry
// CHECK constraints: a typo in a state name fails loudly at the write.
#include "storage/detail/migrations.hpp"

namespace orderflow::storage::detail {

namespace {

// Migration 1: inbox, orders cache, outbox, conversations, audit log, vault.
constexpr std::string_view v1 = R"sql(
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    dedupe_key  TEXT    NOT NULL UNIQUE,
    source      TEXT    NOT NULL,
    topic       INTEGER NOT NULL DEFAULT 0,
    event       TEXT    NOT NULL,
    order_id    TEXT    NOT NULL DEFAULT '',
    payload     TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'done', 'ignored', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  INTEGER NOT NULL DEFAULT 0,
    note        TEXT    NOT NULL DEFAULT '',
    finished_at INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Partial index: the pending set stays small while done rows pile up.
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';
CREATE INDEX inbox_order ON inbox (order_id);

CREATE TABLE orders (
    order_id   TEXT    PRIMARY KEY,
    status     TEXT    NOT NULL,
    snapshot   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    idem_key     TEXT    NOT NULL UNIQUE,
    rule_id      TEXT    NOT NULL,
    action_index INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    order_id     TEXT    NOT NULL DEFAULT '',
    event_id     INTEGER NOT NULL DEFAULT 0,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'planned'
                 CHECK (state IN ('planned', 'deferred', 'sending', 'done', 'failed',
                                  'skipped', 'unknown', 'shadow')),
    reason       TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    result       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX outbox_due ON outbox (state, not_before);
CREATE INDEX outbox_order ON outbox (order_id);

CREATE TABLE conversations (
    buyer_user_id   TEXT    PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    order_id TEXT    NOT NULL DEFAULT '',
    detail   TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_log_order ON audit_log (order_id);

CREATE TABLE vault (
    name       TEXT    PRIMARY KEY,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
)sql";

// 2: the staff review queue. One open (or acknowledged) item per order and
// reason: a new occurrence updates it instead of piling up.
constexpr std::string_view v2 = R"sql(
CREATE TABLE review (
    id          INTEGER PRIMARY KEY,
    order_id    TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL,
    severity    TEXT    NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    summary     TEXT    NOT NULL,
    evidence    TEXT    NOT NULL DEFAULT '{}',
    state       TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    occurrences INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_by TEXT    NOT NULL DEFAULT '',
    note        TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX review_one_open ON review (order_id, reason) WHERE state != 'resolved';
CREATE INDEX review_state ON review (state, id);
)sql";

// 3: staff notifications, a durable outbox of their own: one row per channel
// and occasion (dedupe), retried until delivered, never sent twice on purpose.
constexpr std::string_view v3 = R"sql(
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    channel    TEXT    NOT NULL,
    dedupe     TEXT    NOT NULL,
    review_id  INTEGER NOT NULL DEFAULT 0,
    payload    TEXT    NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (channel, dedupe)
) STRICT;
CREATE INDEX notifications_due ON notifications (state, not_before);
)sql";

// 4: the outbox's state machine enforced by the database itself (a table of
// the allowed transitions and a trigger that refuses the others), every
// transition recorded in outbox_history (trigger-written, so no code path can
// forget it), the buyer of each action (per-buyer message caps), and a small
// key/value table for daemon state that must survive restarts (the circuit
// breaker).
constexpr std::string_view v4 = R"sql(
CREATE TABLE outbox_transitions (
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    PRIMARY KEY (from_state, to_state)
) STRICT, WITHOUT ROWID;
INSERT INTO outbox_transitions (from_state, to_state) VALUES
    ('planned',  'sending'), ('planned',  'deferred'), ('planned',  'failed'), ('planned',  'skipped'),
    ('deferred', 'sending'), ('deferred', 'deferred'), ('deferred', 'failed'), ('deferred', 'skipped'),
    ('sending',  'done'),    ('sending',  'failed'),   ('sending',  'deferred'), ('sending', 'unknown'),
    ('unknown',  'done'),    ('unknown',  'planned'),  ('unknown',  'unknown');

CREATE TRIGGER outbox_transition_check BEFORE UPDATE OF state ON outbox
WHEN NOT EXISTS (SELECT 1 FROM outbox_transitions WHERE from_state = OLD.state AND to_state = NEW.state)
BEGIN
    SELECT RAISE(ABORT, 'outbox state transition not allowed');
END;

CREATE TABLE outbox_history (
    id        INTEGER PRIMARY KEY,
    action_id INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    reason    TEXT    NOT NULL DEFAULT '',
    attempt   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX outbox_history_action ON outbox_history (action_id, id);
INSERT INTO outbox_history (action_id, at, state, reason, attempt)
    SELECT id, updated_at, state, reason, attempts FROM outbox;

CREATE TRIGGER outbox_history_on_insert AFTER INSERT ON outbox
BEGIN
    INSERT INTO outbox_history (action_id, at, state, reason, attempt)
    VALUES (NEW.id, NEW.updated_at, NEW.state, NEW.reason, NEW.attempts);
END;
CREATE TRIGGER outbox_history_on_update AFTER UPDATE OF state ON outbox
BEGIN
    INSERT INTO outbox_history (action_id, at, state, reason, attempt)
    VALUES (NEW.id, NEW.updated_at, NEW.state, NEW.reason, NEW.attempts);
END;

ALTER TABLE outbox ADD COLUMN buyer_user_id TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_buyer ON outbox (buyer_user_id, updated_at) WHERE buyer_user_id != '';
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX notifications_channel ON notifications (channel, state, updated_at);

CREATE TABLE daemon_state (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
)sql";

// 5: per-order tags, set and cleared by the rules' tag/untag actions and
// tested in conditions as order.tags.
constexpr std::string_view v5 = R"sql(
CREATE TABLE order_tags (
    order_id   TEXT    NOT NULL,
    tag        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, tag)
) STRICT, WITHOUT ROWID;
)sql";

// 6: what the rules saw for each event (the order before and after, the
// message, the time), so `orderflowctl replay` can run a candidate rule set
// on exactly that. Personal data: purged with the payload.
constexpr std::string_view v6 = R"sql(
ALTER TABLE inbox ADD COLUMN context TEXT NOT NULL DEFAULT '';
CREATE INDEX inbox_received ON inbox (received_at);
CREATE INDEX outbox_event ON outbox (event_id);
)sql";

// 7: one event per change, whichever source sees it first. A webhook and
// a poll that see the same change (order X reached status S; buyer message
// M) share a change key: the first claims it, a later webhook is stored
// but ignored, a later poll stores nothing. Also the poller's cursors live
// in daemon_state; nothing else is needed for them.
constexpr std::string_view v7 = R"sql(
CREATE TABLE inbox_changes (
    change_key TEXT    PRIMARY KEY,
    inbox_id   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// 8: how many times processing of a pending event has started since its
// last orderly outcome (done, failed, ignored or a retry). Counted and
// committed before processing, so an event that crashes the process every
// time it is processed is found and quarantined instead of crash-looping.
constexpr std::string_view v8 = R"sql(
ALTER TABLE inbox ADD COLUMN starts INTEGER NOT NULL DEFAULT 0;
)sql";

// 9: review items without an order (a buyer's message, say) are told apart
// by a case key (e.g. the conversation), so two buyers' complaints are two
// items instead of one whose evidence the second overwrites.
constexpr std::string_view v9 = R"sql(
ALTER TABLE review ADD COLUMN case_key TEXT NOT NULL DEFAULT '';
DROP INDEX review_one_open;
CREATE UNIQUE INDEX review_one_open ON review (order_id, reason, case_key) WHERE state != 'resolved';
)sql";

// 10: indexes for the statements that read every row of a growing table
// (tests/storage/query_plan_test.cpp checks every statement's plan), and
// per-state row counts kept by triggers, so `orderflowctl status` and
// /metrics read a dozen rows instead of counting millions.
// - inbox_finished, outbox_settled, review_created: the daily heartbeat's
//   activity over the last day and `rules coverage`. inbox_finished leaves
//   the state out: with it, SQLite could read the pending events through it
//   instead of through inbox_due (below).
// - inbox_unpurged, outbox_unpurged: partial indexes of the rows that still
//   hold personal data, so the hourly retention purge walks the retention
//   window only, not every row that was ever purged. inbox_unpurged also
//   serves `replay` (events_with_context), which was inbox_received's only
//   other use, so that index goes.
// - orders_updated, conversations_updated, notifications_settled,
//   review_settled: the purge's cutoffs.
// - inbox_due replaces inbox_pending: the pipeline asks for the pending
//   events due now, oldest first. Walking pending events in id order read
//   every deferred one (not authorized yet, retrying) on every pass, a row
//   lookup each; inbox_due finds the due ones by not_before and sorts only
//   their ids.
// - row_counts: one row per table and state, every state present (zero when
//   no row has it); the inbox's pending timer events count as 'timers', as in
//   store::counts. A state added to a CHECK constraint later needs its row here.
constexpr std::string_view v10 = R"sql(
CREATE INDEX inbox_due ON inbox (not_before, id) WHERE state = 'pending';
DROP INDEX inbox_pending;
CREATE INDEX inbox_finished ON inbox (finished_at);
CREATE INDEX inbox_unpurged ON inbox (received_at) WHERE payload != '{}' OR context != '';
DROP INDEX inbox_received;
CREATE INDEX outbox_settled ON outbox (state, updated_at);
CREATE INDEX outbox_unpurged ON outbox (updated_at) WHERE payload != '{}' OR result != '' OR buyer_user_id != '';
CREATE INDEX orders_updated ON orders (updated_at);
CREATE INDEX conversations_updated ON conversations (updated_at);
CREATE INDEX notifications_settled ON notifications (state, updated_at);
CREATE INDEX review_created ON review (created_at);
CREATE INDEX review_settled ON review (state, updated_at);

CREATE TABLE row_counts (
    tbl   TEXT    NOT NULL,
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (tbl, state)
) STRICT, WITHOUT ROWID;
INSERT INTO row_counts (tbl, state, n) VALUES
    ('inbox', 'pending', 0), ('inbox', 'timers', 0), ('inbox', 'done', 0), ('inbox', 'ignored', 0),
    ('inbox', 'failed', 0),
    ('outbox', 'planned', 0), ('outbox', 'deferred', 0), ('outbox', 'sending', 0), ('outbox', 'done', 0),
    ('outbox', 'failed', 0), ('outbox', 'skipped', 0), ('outbox', 'unknown', 0), ('outbox', 'shadow', 0);
UPDATE row_counts SET n = (
    SELECT count(*) FROM inbox
    WHERE CASE WHEN inbox.state = 'pending' AND inbox.source = 'timer' THEN 'timers' ELSE inbox.state END = row_counts.state)
WHERE tbl = 'inbox';
UPDATE row_counts SET n = (SELECT count(*) FROM outbox WHERE outbox.state = row_counts.state) WHERE tbl = 'outbox';

CREATE TRIGGER inbox_count_insert AFTER INSERT ON inbox
BEGIN
    UPDATE row_counts SET n = n + 1 WHERE tbl = 'inbox'
        AND state = CASE WHEN NEW.state = 'pending' AND NEW.source = 'timer' THEN 'timers' ELSE NEW.state END;
END;
CREATE TRIGGER inbox_count_update AFTER UPDATE OF state, source ON inbox
WHEN OLD.state IS NOT NEW.state OR OLD.source IS NOT NEW.source
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'inbox'
        AND state = CASE WHEN OLD.state = 'pending' AND OLD.source = 'timer' THEN 'timers' ELSE OLD.state END;
    UPDATE row_counts SET n = n + 1 WHERE tbl = 'inbox'
        AND state = CASE WHEN NEW.state = 'pending' AND NEW.source = 'timer' THEN 'timers' ELSE NEW.state END;
END;
CREATE TRIGGER inbox_count_delete AFTER DELETE ON inbox
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'inbox'
        AND state = CASE WHEN OLD.state = 'pending' AND OLD.source = 'timer' THEN 'timers' ELSE OLD.state END;
END;
CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox
BEGIN
    UPDATE row_counts SET n = n + 1 WHERE tbl = 'outbox' AND state = NEW.state;
END;
CREATE TRIGGER outbox_count_update AFTER UPDATE OF state ON outbox
WHEN OLD.state IS NOT NEW.state
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'outbox' AND state = OLD.state;
    UPDATE row_counts SET n = n + 1 WHERE tbl = 'outbox' AND state = NEW.state;
END;
CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'outbox' AND state = OLD.state;
END;
)sql";

// Version 11: two indexes no statement reads go (tests/storage/
// query_plan_test.cpp now checks that every index on a growing table serves
// some statement).
// - inbox_order: every webhook paid for it. Order ids arrive in no particular
//   order, so each inbox commit wrote one more index page per event; on the
//   webhook benchmark that was a fifth of the acknowledgement rate
//   (bench/README.md).
// - review_state: review_settled (state, updated_at) serves the same searches.
constexpr std::string_view v11 = R"sql(
DROP INDEX inbox_order;
DROP INDEX review_state;
)sql";

// Version 12: buyers forgotten at their request, when the shop keeps them
// suppressed (privacy.suppress_forgotten): a keyed hash (storage/
// buyer_data.hpp, forget_hash) of "buyer:ID", "order:ID" or
// "conversation:ID", never the id itself. Events about them are set aside
// unread.
constexpr std::string_view v12 = R"sql(
CREATE TABLE forgotten (
    subject TEXT    PRIMARY KEY,
    at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// Version 13: whole rows go once they can no longer matter (storage/
// retention.hpp, purge_rows), each table after its own period.
// - inbox_changes_inbox, and a trigger: an inbox row's change keys go with
//   it. inbox ids only grow, so each webhook appends to the index's last
//   page (unlike inbox_order, dropped in 11, whose keys landed anywhere).
// - outbox_history goes with its action (outbox_history_action serves it).
// - order_tags_created, audit_log_at: the purge's cutoffs.
constexpr std::string_view v13 = R"sql(
CREATE INDEX inbox_changes_inbox ON inbox_changes (inbox_id);
CREATE TRIGGER inbox_changes_on_delete AFTER DELETE ON inbox
BEGIN
    DELETE FROM inbox_changes WHERE inbox_id = OLD.id;
END;
CREATE TRIGGER outbox_history_on_delete AFTER DELETE ON outbox
BEGIN
    DELETE FROM outbox_history WHERE action_id = OLD.id;
END;
CREATE INDEX order_tags_created ON order_tags (created_at);
CREATE INDEX audit_log_at ON audit_log (at);
)sql";

// Version 14: the staff console's named accounts (storage/accounts.hpp): a
// role and a libsodium crypto_pwhash string (Argon2id), never a password.
// A handful of rows read by name: the primary key is the only index needed.
constexpr std::string_view v14 = R"sql(
CREATE TABLE console_accounts (
    name          TEXT    PRIMARY KEY,
    role          TEXT    NOT NULL CHECK (role IN ('staff', 'operator')),
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// Version 15: buyer messages linked to their orders (storage/conversation_links.hpp).
// The conversation map is read by conversation too (the buyer of a
// conversation); the latest order card per conversation; what the rules'
// `capture` kept of a buyer's answer, per order and name. Both new tables
// hold personal data and are purged by their time (retention.cpp).
constexpr std::string_view v15 = R"sql(
CREATE INDEX conversations_conversation ON conversations (conversation_id);
CREATE TABLE conversation_cards (
    conversation_id TEXT    PRIMARY KEY,
    order_id        TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    message_time    INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX conversation_cards_updated ON conversation_cards (updated_at);
CREATE TABLE order_attributes (
    order_id    TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    captured_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, name)
) STRICT, WITHOUT ROWID;
CREATE INDEX order_attributes_captured ON order_attributes (captured_at);
)sql";

// Version 16: an inbox row keeps the change it reports, and claims it when
// the pipeline takes it up, not when it is stored. The claim (inbox_changes,
// keyed by order and status, so each new one lands on a random page of that
// table) was made in every webhook's commit, before its 200: more than half
// of the bytes each commit wrote and fsynced (bench/ingest-history.md,
// "Tenth round"). Which of two sightings of a change is processed is unchanged:
// the pipeline takes events in inbox order, so the first one stored claims
// it and a later one is ignored when its turn comes. Rows stored before
// this version claimed theirs already and keep ''.
constexpr std::string_view v16 = R"sql(
ALTER TABLE inbox ADD COLUMN change_key TEXT NOT NULL DEFAULT '';
)sql";

// Version 17: inbox_finished holds finished events only. A pending event's
// finished_at is 0, and every pending event had its entry there, at key 0:
// one more index entry for the inbox writer to insert with each webhook and
// one more page for each commit to write, fsync and checkpoint, then a delete
// when the event finished. Every statement that reads through the index asks
// for finished_at > 0 (store::activity_since, store::rule_coverage, the retention
// purge). Measured: the inbox writer's CPU per webhook 14.3-15.4 µs before,
// 13.2-13.5 after; bytes written 4.4 KB before, 3.8 KB after
// (bench/ingest-history.md, "Eleventh round").
constexpr std::string_view v17 = R"sql(
DROP INDEX inbox_finished;
CREATE INDEX inbox_finished ON inbox (finished_at) WHERE finished_at > 0;
)sql";

// Version 18: the CHECK constraints that list more than two values say them
// with OR. SQLite tests `x IN (a, b, c)` against constants with a temporary
// b-tree that it builds each time the statement runs: a temporary database
// opened, a page zeroed and a table created for every webhook's INSERT and
// every state change, about 40% of the inbox writer's instructions per row
// (bench/README.md, "Twelfth round"). Two values or fewer, and OR, it
// compares in place. Each constraint means what it meant, every stored row
// meets it, and a CHECK is no part of the file format, so the stored SQL is
// edited in place, as SQLite documents for such changes (its ALTER TABLE
// page, "Making Other Kinds Of Table Schema Changes"): writable_schema on,
// the new text, then RESET, which turns it off and reloads this connection's
// schema; the table created and dropped last changes the schema cookie, so
// every other connection reloads its own. replace() leaves a text that has
// the new form already as it is. Last, a check: should a table's text not
// have matched, the migration fails ("CHECK constraint failed:
// constraints_said_with_or") and the database stays at version 17.
constexpr std::string_view v18 = R"sql(
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state IN (''pending'', ''done'', ''ignored'', ''failed''))',
    'CHECK (state = ''pending'' OR state = ''done'' OR state = ''ignored'' OR state = ''failed'')')
    WHERE type = 'table' AND name = 'inbox';
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state IN (''planned'', ''deferred'', ''sending'', ''done'', ''failed'',
                                  ''skipped'', ''unknown'', ''shadow''))',
    'CHECK (state = ''planned'' OR state = ''deferred'' OR state = ''sending'' OR state = ''done'' OR state = ''failed'' OR state = ''skipped'' OR state = ''unknown'' OR state = ''shadow'')')
    WHERE type = 'table' AND name = 'outbox';
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (severity IN (''info'', ''warning'', ''critical''))',
    'CHECK (severity = ''info'' OR severity = ''warning'' OR severity = ''critical'')')
    WHERE type = 'table' AND name = 'review';
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state IN (''open'', ''acknowledged'', ''resolved''))',
    'CHECK (state = ''open'' OR state = ''acknowledged'' OR state = ''resolved'')')
    WHERE type = 'table' AND name = 'review';
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state IN (''pending'', ''sent'', ''failed''))',
    'CHECK (state = ''pending'' OR state = ''sent'' OR state = ''failed'')')
    WHERE type = 'table' AND name = 'notifications';
PRAGMA writable_schema = RESET;
CREATE TABLE schema_edited (x INTEGER);
DROP TABLE schema_edited;
CREATE TEMP TABLE migration_18 (constraints_said_with_or INTEGER CHECK (constraints_said_with_or));
INSERT INTO migration_18 SELECT NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table'
    AND name IN ('inbox', 'outbox', 'review', 'notifications') AND sql LIKE '% IN (%');
DROP TABLE migration_18;
)sql";

// Version 19: the retention purge leaves no id in clear in what it keeps
// (storage/retention.hpp, purge_personal_data with the key), so that a
// buyer's order ids do not outlive their personal data in keys and audit
// entries (docs/privacy.md, "How long it is kept").
// - audit_log.pseudonymised, and audit_log_unhashed, a partial index of the
//   entries whose ids are not yet hashed: the hourly purge reads the entries
//   that have just passed the period, never the two years of those done.
//   An entry is appended at the index's end (its time only grows); the
//   webhook path writes no audit entry.
// - purge_backlog: the events and actions purged by an earlier version kept
//   their order ids and their keys in clear; the purge goes through them
//   once, by id, up to the last ids stored now ([done through, last]).
//   Nothing is hashed here: the key is the vault's, which SQL has not.
constexpr std::string_view v19 = R"sql(
ALTER TABLE audit_log ADD COLUMN pseudonymised INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_log_unhashed ON audit_log (at) WHERE pseudonymised = 0;
INSERT INTO daemon_state (name, value, updated_at)
    SELECT 'purge_backlog',
           json_object('inbox', json_array(0, (SELECT coalesce(max(id), 0) FROM inbox)),
                       'outbox', json_array(0, (SELECT coalesce(max(id), 0) FROM outbox))),
           unixepoch()
    WHERE EXISTS (SELECT 1 FROM inbox) OR EXISTS (SELECT 1 FROM outbox);
)sql";

// Version 20: an `unknown` send may be given up as `failed`. The retention
// purge does so once its outcome has not been established within
// retention.personal_data (storage/retention.hpp): reconciling it needs the
// text and the buyer's conversation that the purge is there to remove. It
// is final, so the send is never tried again; its idempotency key stays.
// A forget done again from the forget ledger in a database restored from an
// older backup gives up the buyer's unknown sends the same way
// (storage/forget_ledger.hpp): they were forgotten after the copy was taken.
// OR IGNORE: a test that takes a database back to an earlier version runs
// this again over the row.
constexpr std::string_view v20 = R"sql(
INSERT OR IGNORE INTO outbox_transitions (from_state, to_state) VALUES ('unknown', 'failed');
)sql";

// Version 21: every forget leaves its subjects in `forgotten`, not only a
// forget with suppression. An entry without `suppress` is a horizon: an
// event about the subject that reports a change made before `at` (a poll's
// overlap reading it again, a database restored from an older backup
// polling it again) is history the forget erased, and is set aside unread;
// a later change is handled as anyone's (storage/buyer_data.hpp,
// forget_mark_of). Entries made before this version all suppress.
constexpr std::string_view v21 = R"sql(
ALTER TABLE forgotten ADD COLUMN suppress INTEGER NOT NULL DEFAULT 1 CHECK (suppress IN (0, 1));
)sql";

// Version 22: idempotency keys, and the inbox keys made from content that
// names an order, are keyed hashes (storage/idempotency.hpp), so nobody
// without the vault key can test an order id against what stays after the
// retention purge or a forget. The keys stored before this version are plain
// hashes: this records that the rows may hold some (per table, the id they
// are converted through: 0), and rekey_plain_hashes converts them with the
// key, which SQL has not. orderflowd does that at its start, before it takes
// a webhook or plans an action. The record is written whatever the tables
// hold, even on a new database: an orderflowctl command may run this while
// an older orderflowd still runs and goes on writing plain keys, into
// tables empty now (the conversion reads each table's last row itself).
// Only orderflowd writes keyed keys, and only once the record is gone.
// OR IGNORE: a test that takes a database back to an earlier version runs
// this again.
constexpr std::string_view v22 = R"sql(
INSERT OR IGNORE INTO daemon_state (name, value, updated_at)
    SELECT 'plain_hashes',
           json_object('inbox', 0, 'outbox', 0),
           unixepoch();
)sql";

constexpr std::string_view list[] = {
    v1,
    v2,
    v3,
    v4,
    v5,
    v6,
    v7,
    v8,
    v9,
    v10,
    v11,
    v12,
    v13,
    v14,
    v15,
    v16,
    v17,
    v18,
    v19,
    v20,
    v21,
    v22,
};

}  // namespace

std::span<const std::string_view> migrations() { return list; }

}  // namespace orderflow::storage::detail
