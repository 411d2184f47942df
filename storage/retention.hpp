// The retention purge: personal data (addresses, names, buyer messages, notes,
// rendered message texts) is removed or blanked once its rows are old and
// finished with, while every idempotency and dedupe key stays, so a webhook
// redelivered or an action re-planned after the purge is still recognised and
// does nothing (docs/architecture.md, "Privacy and security" and "Effects").
// Rows that never finish (a review item nobody touched, an event that was
// never processed, a message never sent) are settled first, once untouched
// for the same period, and then purged like finished ones.
//
// The daemon or orderflowctl decides when to run it and with which cutoff;
// this file only knows the tables.
#pragma once

#include "storage/database.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace orderflow::storage {

// What one purge changed, per table. Rows purged by an earlier run are not
// counted again, so a second run with the same cutoff reports zero.
struct purge_counts {
    int events = 0;         // inbox payloads blanked
    int orders = 0;         // order snapshots deleted
    int actions = 0;        // outbox payloads and results blanked
    int conversations = 0;  // buyer -> conversation rows deleted
    int reviews = 0;        // resolved review items whose evidence and summary were blanked
    int notifications = 0;  // delivered, given up, or (expired_notifications) never delivered, deleted
    int answers = 0;        // captured buyer answers (order attributes) and order cards deleted
    // With the key only (the daemon's purge):
    int tags = 0;           // tags of orders no longer cached (quiet for the period) deleted
    int hashed = 0;         // kept rows whose ids were hashed or blanked: audit entries, and
                            // events and actions purged before this version
    bool more = false;      // the older version's backlog moved on without hashing anything yet:
                            // call again, although total() may be 0
    // Unfinished rows settled because they were untouched for the period
    // (below). Each is also counted above, in events, actions or reviews,
    // as purged; total() leaves these out so as not to count it twice.
    int expired_reviews = 0;  // open or acknowledged items resolved by 'retention'
    int expired_events = 0;   // pending events set to ignored, unread
    int expired_actions = 0;  // planned or deferred actions skipped, unknown ones failed
    int expired_notifications = 0;   // staff notifications still undelivered, deleted
    int expired() const { return expired_reviews + expired_events + expired_actions + expired_notifications; }
    int total() const;
};

// The summary a purged review item is left with (its own may quote the buyer).
inline constexpr std::string_view purged_summary = "purged after the retention period";

// What the purge writes on the unfinished rows it settles (below). They name
// no one, so the purge keeps them when it blanks notes and reasons.
inline constexpr std::string_view expired_review_note =
    "closed unresolved by the retention purge: untouched for retention.personal_data, nothing was done about it, "
    "and its data was purged";
inline constexpr std::string_view expired_event_note =
    "not processed within retention.personal_data: its data was purged unread";
inline constexpr std::string_view expired_action_reason = "not sent within retention.personal_data: its data was purged";
inline constexpr std::string_view expired_unknown_reason =
    "outcome not established within retention.personal_data: given up as failed and never sent again; its data was purged";
// Who resolved a review item the purge closed, and the audit action that
// lists them (one entry per batch: how many, their ids and reasons).
inline constexpr std::string_view expired_review_by = "retention";
inline constexpr std::string_view expired_review_audit = "review.expire";

// Removes or blanks personal data in rows last touched before `cutoff` (unix
// seconds, exclusive) that are finished with. First, what was never finished
// and has been left untouched since before `cutoff` is settled, at `now`:
// - review: open and acknowledged items last updated before the cutoff (a
//   recurrence updates an item, so these are the ones nobody and nothing
//   touched) are resolved by expired_review_by with expired_review_note,
//   whether or not they name an order (an item about the daemon itself
//   holds source addresses or a file's lines, and is raised anew if its
//   cause comes back); each batch writes one audit entry
//   (expired_review_audit, at `now`, by orderflowd: the count, the ids and
//   how many of each reason; no personal data).
// - inbox: pending events received before the cutoff whose not_before is
//   before it too become ignored with expired_event_note, unread (their
//   change is not claimed). A timer due later stays pending, however long
//   ago it was set: a deadline is kept.
// - outbox: planned and deferred actions last updated before the cutoff
//   become skipped with expired_action_reason; unknown ones become failed
//   with expired_unknown_reason: they were tried, and TikTok may have
//   delivered them, so skipped (nothing was sent) would misstate them;
//   failed, a final state, says it was never confirmed and is never tried
//   again. sending actions stay (the daemon makes them unknown at its start).
// - notifications: pending ones queued before the cutoff (a channel that
//   has failed for the whole period: the notifier retries a pending one for
//   as long as it is there) are deleted with their payload, which repeats
//   a review item's summary. The item itself stays in the review queue.
// Each is then purged as below, in the same call, like a finished row.
// - inbox: done / ignored / failed events lose their payload ('{}'),
//   and their note, which can quote a failure's text naming a conversation
//   or a package (the purge's own expired_event_note stays); other pending
//   events are untouched. dedupe_key, event, order_id and state stay.
// - orders: cached snapshots are deleted.
// - outbox: done / failed / skipped / shadow actions lose payload ('{}') and
//   result (''); idem_key, rule_id, kind, order_id, state and reason stay.
//   Other planned, deferred, sending and unknown actions are untouched.
// - conversations: buyer -> conversation rows are deleted, except those of a
//   buyer named by a planned, deferred, sending or unknown action: reconciling
//   an unknown send reads the conversation, and without it would conclude that
//   nothing was sent and send again. (An unknown action untouched for the
//   period is settled above, and then no longer protects one.)
// - review: resolved items lose evidence ('{}') and summary (purged_summary).
// - notifications: sent and failed ones are deleted (and the pending ones
//   settled above).
// - order_attributes (what `capture` kept of a buyer's answer) and
//   conversation_cards (the order a buyer pointed at) are deleted.
// - audit_log is kept (with the key, its ids are hashed: below).
// Runs as one transaction, so it must be called outside any transaction. Throws
// storage_error on failure, and then nothing has changed. Every row at once:
// for a small database and the tests; the daemon purges in batches (below).
// Without the key (these two overloads) the ids in what is kept stay as they
// are: for tests and benchmarks only; the daemon's purge takes the key.
// Without `now` (every overload but the last), what is settled is settled at
// the system clock's time.
purge_counts purge_personal_data(database& db, std::int64_t cutoff);

// One batch of the same purge: at most `max_rows` rows per table, in one
// transaction (call again with the same cutoff while it changes something);
// rows settled count towards their table's max_rows.
// A backlog (the first purge of an old database, or one after the period was
// shortened) then holds the write lock, which webhooks' commits wait for, and
// the daemon's only thread for one batch at a time rather than for the whole
// backlog: 600,000 events in one transaction took 9 s. Throws storage_error
// on failure, and then this batch has changed nothing.
purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows);

// The daemon's purge: the same batch, and what it keeps names no one any
// more (docs/privacy.md, "How long it is kept"). `key` is the forget key
// (storage/buyer_data.hpp, forget_hash), so what is hashed here is hashed as
// a forget hashes it, and a forget or an export by order id still finds it:
// - inbox: the events it blanks also lose their order id, and their dedupe
//   and change keys that name an order, package or message become keyed
//   hashes (storage/detail/pseudonyms.hpp, hash_keys_of_event). A
//   redelivery is still recognised (TikTok's notification ids stay).
// - outbox: the actions it blanks also lose their order id and their reason
//   (and their history's reasons), which may quote a conversation, a package
//   or TikTok's error.
// - events and actions that an earlier version purged are done the same
//   way, a batch at a time, in id order (a backlog migration 19 records).
// - audit_log: entries written before `cutoff` keep who, what and when;
//   their order id and the ids in their detail become keyed pseudonyms
//   (detail::pseudonym), and in entries about a buyer's order, action or
//   review item staff's notes, errors and reasons go
//   (detail::pseudonymised_audit_detail).
// - review: resolved items also lose their order id, case key and staff's
//   note (purged_summary in its place; the purge's own expired_review_note
//   stays).
// - order_tags: tags set before `cutoff` on an order no longer cached (the
//   orders cache keeps an order while events about it come) are deleted.
// Nothing left after it links an order, a conversation or a message to a
// buyer: a forget by the buyer's id afterwards has nothing to find.
purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows, std::span<const unsigned char> key);
// The same with the time (unix seconds) the rows it settles are settled at:
// the daemon passes its clock. An empty key purges as the overloads without it.
purge_counts purge_personal_data(database& db, std::int64_t cutoff, int max_rows, std::span<const unsigned char> key,
                                 std::int64_t now);

// Where the daemon records its last whole purge (daemon_state, JSON
// {"at": unix seconds, "before": the cutoff}), for `buyer forget` to say
// what became of older data.
inline constexpr std::string_view last_purge_state = "personal_data_purge";

// When whole rows go, per table (unix seconds, exclusive).
struct row_cutoffs {
    std::int64_t keys = 0;      // finished events, settled actions, tags
    std::int64_t reviews = 0;   // resolved review items
    std::int64_t audit = 0;     // audit entries
};

// What one purge_rows call deleted, per table.
struct row_purge_counts {
    int events = 0;    // finished inbox rows (their change keys go with them)
    int actions = 0;   // done, failed, skipped and shadow outbox rows (their history goes with them)
    int tags = 0;
    int reviews = 0;
    int audit = 0;
    int total() const { return events + actions + tags + reviews + audit; }
};

// Deletes whole rows that can no longer matter, at most `max_rows` per
// table, in one transaction (call again while it deletes something: the
// write lock is held for one batch, not for a backlog of a year):
// - inbox: done, ignored and failed events finished before cutoffs.keys,
//   with their inbox_changes keys. Pending events (timers, retries) stay
//   (purge_personal_data settles those untouched for its period, and then
//   their finished_at is when it did).
// - outbox: done, failed, skipped and shadow actions last changed before
//   cutoffs.keys, with their outbox_history. planned, deferred, sending and
//   unknown actions stay (likewise: until purge_personal_data settles them).
// - order_tags set before cutoffs.keys.
// - review: resolved items last changed before cutoffs.reviews.
// - audit_log: entries written before cutoffs.audit.
// Keys live until cutoffs.keys: long past TikTok's redeliveries (about a day)
// and a poll's look back, so a change can no longer come back and re-plan an
// action once its key is gone (config keeps `retention.keys` at 30 days or more).
row_purge_counts purge_rows(database& db, const row_cutoffs& cutoffs, int max_rows);

// Returns up to `max_pages` free pages to the file system (PRAGMA
// incremental_vacuum) when the database was created with
// auto_vacuum=INCREMENTAL (database::open does so for a new file); returns
// how many pages the file shrank by. A database created before that keeps
// its size and reuses its free pages (docs/operations.md, "Retention").
int return_free_pages(database& db, int max_pages);

}  // namespace orderflow::storage
