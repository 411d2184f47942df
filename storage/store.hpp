// The order-flow tables: the inbox of incoming events (deduplicated), the
// orders cache, the outbox of planned effects (unique idempotency keys), the
// buyer -> conversation map and the audit log.
//
// Methods do not open transactions themselves (a single statement commits on
// its own); callers group them in database::transaction, e.g. "event done + its
// actions planned" as one commit (docs/architecture.md, "Data flow"). All
// methods throw storage_error on database failure. Times are unix seconds,
// passed in by the caller so tests control the clock.
#pragma once

#include "storage/database.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::storage {

struct new_event {
    std::string dedupe_key;        // tts_notification_id, or a hash of the content when absent
    std::string source;            // "webhook" | "poll" | "tracking" | "timer"
    int topic = 0;                 // webhook type number (0 if none)
    std::string event;             // "order.status_changed", ... or "unknown"
    std::string order_id;          // may be empty
    std::string payload;           // the raw JSON
    std::int64_t received_at = 0;  // unix seconds
    std::int64_t not_before = 0;   // not processed before this (a timer's firing time)
    // The change this event reports ("order:ID:STATUS", "msg:ID"); empty
    // when it has none. Only the first event of a change is processed
    // (store::claim_change). Read back from the inbox, it is the claim still
    // to be made: '' once the pipeline took the event up, and for rows
    // stored before schema version 16 (they claimed theirs when stored).
    std::string change_key;
};

struct event_row : new_event {
    std::int64_t id = 0;
    std::string state;  // pending | done | ignored | failed
    int attempts = 0;
    std::int64_t not_before = 0;
    std::string note;
    std::int64_t finished_at = 0;
    // Processing starts since the last orderly outcome (finish or retry):
    // more than one means the process died while processing it.
    int starts = 0;
};

struct order_row {
    std::string order_id;
    std::string status;
    std::string snapshot;  // JSON order view
    std::int64_t updated_at = 0;
};

struct new_action {
    std::string idem_key;  // idempotency_hash(...) (storage/idempotency.hpp): UNIQUE
    std::string rule_id;
    int action_index = 0;
    std::string kind;
    std::string order_id;
    std::int64_t event_id = 0;      // inbox id that planned it
    std::string payload;            // JSON: what to do (e.g. {"text":..., "buyer_user_id":...})
    std::string state = "planned";  // planned | skipped | shadow (shadow: recorded, never executed)
    std::string reason;             // why skipped
    std::int64_t created_at = 0;
    std::string buyer_user_id;      // who receives it (per-buyer caps); may be empty
};

struct action_row : new_action {
    std::int64_t id = 0;
    int attempts = 0;
    std::int64_t not_before = 0;
    std::int64_t updated_at = 0;
    std::string result;
};

// One step in an action's life (outbox_history, written by a trigger on every
// state change, so nothing can change state without leaving a record).
struct history_row {
    std::int64_t at = 0;
    std::string state;
    std::string reason;
    int attempt = 0;
};

// True when the outbox may move from one state to the other
// (docs/architecture.md, "Effects"); the database refuses every other
// transition. planned and deferred go to sending, deferred, failed or skipped;
// sending ends done, failed, deferred (a refusal that nothing was sent) or
// unknown; unknown is reconciled to done, or planned once more, or stays
// unknown, or is given up as failed (the retention purge, once its outcome
// was not established within retention.personal_data: storage/retention.hpp).
// done, failed, skipped and shadow are final.
bool outbox_transition_allowed(std::string_view from, std::string_view to);

// What the daemon did over a period, for the daily heartbeat.
struct activity_summary {
    int messages_sent = 0;
    int messages_failed = 0;
    int messages_skipped = 0;
    int messages_unknown = 0;
    int events_processed = 0;
    int reviews_opened = 0;
    int reviews_open = 0;      // now, any age
};

// One item of the staff review queue.
struct review_item {
    std::int64_t id = 0;
    std::string order_id;
    std::string reason;      // a short stable code: send_failed, send_unknown, action_not_prepared, ...
    std::string severity;    // info | warning | critical
    std::string summary;     // one line for people
    std::string evidence;    // JSON: the buyer message, the failed action, the API error
    std::string state;       // open | acknowledged | resolved
    int occurrences = 1;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
    std::string resolved_by;
    std::string note;
};

// A staff notification waiting for (or done with) its channel.
struct notification_row {
    std::int64_t id = 0;
    std::string channel;
    std::string dedupe;
    std::int64_t review_id = 0;
    std::string payload;     // JSON
    std::string state;       // pending | sent | failed
    int attempts = 0;
    std::int64_t not_before = 0;
    std::string last_error;
};

class store {
public:
    // db must outlive the store.
    explicit store(database& db);

    // ---- inbox
    // INSERT OR IGNORE on dedupe_key; true when the event is new. An event
    // that reports a change (change_key) keeps it unclaimed: the pipeline
    // claims it when it takes the event up (claim_change). Only a poll or
    // another non-webhook source whose change is claimed already adds
    // nothing; every acknowledged webhook is stored.
    bool add_event(const new_event& e);
    // Claims the change for inbox event `id` unless an earlier event did:
    // returns the id of the event that holds the claim (`id` itself when it
    // is this one, also on a second call), and clears the row's change_key
    // (the key stays in the claim only). The pipeline claims the changes of
    // a page's events before it fetches their orders, and sets an event
    // aside as ignored when another holds its change: one change, one
    // processed event, whichever source saw it first (events are taken in
    // inbox order).
    std::int64_t claim_change(std::int64_t id, std::string_view change_key);
    // Events in state pending with not_before <= now, oldest (lowest id)
    // first. Reads the index of pending events, not the finished rows.
    std::vector<event_row> pending_events(std::int64_t now, int limit);
    // The same, among the inbox ids in (after, through] only: a walk of at
    // most through - after rows, finished ones included, by id. For the
    // pipeline while the shop is not authorized: it moves a cursor over
    // the new rows instead of reading every waiting event again.
    std::vector<event_row> pending_events_between(std::int64_t now, int limit, std::int64_t after, std::int64_t through);
    // Of the same events, only what the pipeline looks at to hold them while
    // the shop is not authorized: a burst of webhooks is walked row by row
    // then, and copying each row's payload only to set it aside again was
    // most of the walk's time (on the event loop's thread).
    struct pending_kind {
        std::int64_t id = 0;
        std::string event;
        bool has_order = false;   // order_id is not empty
    };
    std::vector<pending_kind> pending_kinds_between(std::int64_t now, std::int64_t after, std::int64_t through);
    // The highest inbox id (0 when empty).
    std::int64_t last_event_id();
    // state: done | ignored | failed.
    void finish_event(std::int64_t id, std::string_view state, std::string_view note, std::int64_t now);
    // What the rules saw when the event was processed (JSON), for replay.
    void set_event_context(std::int64_t id, std::string_view context);
    // Processed events received at or after `since`, oldest first, with
    // their context: {id, dedupe_key, event, order_id, context}.
    std::vector<std::pair<event_row, std::string>> events_with_context(std::int64_t since, int limit);
    // starts+1 (call in a transaction committed before processing begins).
    // finish_event and retry_event set starts back to 0.
    void mark_started(std::int64_t id);
    // starts-1 (not below 0): that start ended in a storage failure the
    // process survived, not in a crash, so it does not count toward quarantine.
    void undo_start(std::int64_t id);
    // attempts+1, note = error, stays pending until not_before.
    void retry_event(std::int64_t id, std::string_view error, std::int64_t not_before);
    // Newest first, for orderflowctl and the demo.
    std::vector<event_row> recent_events(int limit);
    std::optional<event_row> get_event(std::int64_t id);

    // ---- orders cache
    void put_order(const order_row& o);  // upsert
    std::optional<order_row> get_order(std::string_view order_id);

    // ---- outbox
    // INSERT OR IGNORE on idem_key; true when the action is new.
    bool add_action(const new_action& a);
    // Actions in state planned or deferred with not_before <= now, by id.
    std::vector<action_row> due_actions(std::int64_t now, int limit);
    // A state transition. Throws storage_error naming both states when the
    // transition is not allowed (outbox_transition_allowed) or the action
    // does not exist. Every transition lands in outbox_history.
    void set_action_state(std::int64_t id, std::string_view state, std::string_view reason, std::string_view result,
                          std::int64_t now, std::int64_t not_before = 0);
    // state = sending, attempts+1. Commit this before the network call, so a
    // crash mid-send is visible at start-up (mark_interrupted_sends).
    void begin_attempt(std::int64_t id, std::int64_t now);
    // attempts-1 (not below 0): the attempt begun was refused before TikTok
    // acted (an expired token, the day's quota), so it does not count. The
    // caller then sets the row's next state.
    void give_back_attempt(std::int64_t id);
    // At start-up: every 'sending' row becomes 'unknown' with reason
    // "interrupted: outcome unknown"; it is reconciled, never blindly resent.
    // Returns how many rows changed.
    int mark_interrupted_sends(std::int64_t now);
    std::vector<action_row> recent_actions(int limit);  // newest first
    std::vector<action_row> actions_for_order(std::string_view order_id);  // by id
    std::vector<action_row> actions_in_state(std::string_view state, int limit);
    // The 'unknown' actions the reconciler still has to look at, oldest
    // first: every one except those a look already found inconclusive
    // (result {"reconciled": "inconclusive"}), which wait for a person and
    // must not crowd out the newer ones.
    std::vector<action_row> actions_to_reconcile(int limit);
    std::vector<history_row> action_history(std::int64_t id);   // oldest first
    // When each message (send_message and reply, not shadow or skipped) with
    // an id above `after_id` and up to `through_id` was planned, if at or
    // after `since`; in id order, at most `cap`: the circuit breaker's
    // measure. It reads only the ids it names (a range of the rowid), so the
    // breaker reads each new action once however many are in its window.
    std::vector<std::int64_t> sends_planned_between(std::int64_t after_id, std::int64_t through_id, std::int64_t since,
                                                    int cap = 1'000'000'000);
    std::int64_t newest_action_id();   // 0 when the outbox is empty
    // The first action planned at or after `since` (through the created_at
    // index); 0 when there is none. Where the breaker starts reading.
    std::int64_t first_action_since(std::int64_t since);
    // Automated messages that reached, or may have reached (sending, unknown),
    // an order's or a buyer's conversation since `since`: the caps' measure.
    int messages_to_order_since(std::string_view order_id, std::int64_t since);
    int messages_to_buyer_since(std::string_view buyer_user_id, std::int64_t since);
    // Every planned or deferred message (send_message, reply) planned before
    // `before` and due by `now` becomes skipped with `reason` (a rule gone
    // wrong: staff drop what the circuit breaker held). One still waiting for
    // its time (quiet hours, a retry's backoff, a delay) was not held, and
    // stays. Returns how many.
    int skip_held_sends(std::int64_t before, std::string_view reason, std::int64_t now);
    activity_summary activity_since(std::int64_t since);

    // What each rule did since `since`: the events it matched (from the
    // inbox's "matched: ..." notes) and its actions by state. For
    // `orderflowctl rules coverage`.
    struct rule_activity {
        int matched = 0;
        std::map<std::string, int> actions;   // state -> count
    };
    struct coverage {
        int events = 0;                           // events processed (done) in the period
        std::map<std::string, rule_activity> rules;
    };
    coverage rule_coverage(std::int64_t since);

    // Review queue. raise_review opens an item, or, when one for the same order,
    // reason and case key is still open or acknowledged, counts one more
    // occurrence and takes the newer summary, evidence and the higher
    // severity. Returns its id. case_key tells apart cases without an order
    // (e.g. "conversation:ID" for a buyer's message); empty for the rest.
    std::int64_t raise_review(std::string_view order_id, std::string_view reason, std::string_view severity,
                              std::string_view summary, const nlohmann::json& evidence, std::int64_t now,
                              std::string_view case_key = {});
    std::vector<review_item> reviews(bool include_resolved, int limit);   // newest first
    std::optional<review_item> get_review(std::int64_t id);
    // The staff console's queue: newest first, at most `limit`. state: "open"
    // (open and acknowledged), "acknowledged", "resolved" or "all"; severity,
    // reason, order_id: exact, "" for any.
    std::vector<review_item> find_reviews(std::string_view state, std::string_view severity, std::string_view reason,
                                          std::string_view order_id, int limit);
    int open_review_count();   // open and acknowledged
    // acknowledged | resolved; false when there is no such item.
    bool set_review_state(std::int64_t id, std::string_view state, std::string_view by, std::string_view note, std::int64_t now);

    // Notifications. add_notification is idempotent on (channel, dedupe): true when new.
    bool add_notification(std::string_view channel, std::string_view dedupe, std::int64_t review_id,
                          const nlohmann::json& payload, std::int64_t now);
    std::vector<notification_row> due_notifications(std::int64_t now, int limit);   // pending, not_before <= now, by id
    // sent, or pending again at `not_before` with the error (attempts + 1).
    void notification_sent(std::int64_t id, std::int64_t now);
    void notification_retry(std::int64_t id, std::string_view error, std::int64_t not_before, std::int64_t now);
    // Never to be delivered (its channel was removed): failed, and purged
    // with the delivered ones (storage/retention.hpp).
    void notification_failed(std::int64_t id, std::string_view error, std::int64_t now);
    std::vector<notification_row> recent_notifications(int limit);   // newest first
    // Pending review notifications of one channel, due or waiting for a retry
    // after a failure, by id (at most `limit`): what a digest to it carries.
    std::vector<notification_row> pending_review_notifications(std::string_view channel, int limit);
    // Pending review notifications of one channel wait until `until` (a digest is being gathered).
    void postpone_notifications(std::string_view channel, std::int64_t until);
    // When the channel last took a review notification (0: never).
    std::int64_t last_review_notification(std::string_view channel);
    // By id (e.g. 'unknown' for reconciliation).
    std::optional<action_row> get_action(std::int64_t id);
    std::optional<action_row> action_by_key(std::string_view idem_key);
    std::vector<action_row> actions_of_event(std::int64_t event_id);   // planned by that inbox event

    // ---- daemon state that survives restarts (name -> JSON text)
    std::optional<std::string> get_state(std::string_view name);
    void put_state(std::string_view name, std::string_view value, std::int64_t now);

    // ---- order tags (the rules' tag / untag)
    std::vector<std::string> tags(std::string_view order_id);   // sorted
    void add_tag(std::string_view order_id, std::string_view tag, std::int64_t now);   // idempotent
    void remove_tag(std::string_view order_id, std::string_view tag);                  // idempotent

    // A buyer message's event, once linked to an order (daemon/conversation_linker.hpp):
    // the order's activity then lists it. Only an event without an order is changed.
    void link_event_order(std::int64_t id, std::string_view order_id);

    // ---- conversations
    std::optional<std::string> conversation_for(std::string_view buyer_user_id);
    void put_conversation(std::string_view buyer_user_id, std::string_view conversation_id, std::int64_t now);

    // ---- audit log (never pass secrets in detail)
    void audit(std::int64_t at, std::string_view actor, std::string_view action, std::string_view order_id,
               const nlohmann::json& detail);
    // Newest first: {"id","at","actor","action","order_id","detail"}.
    std::vector<nlohmann::json> recent_audit(int limit);
    // Entries written at or after `since`, of one order when order_id is not
    // empty, whose action is `action` or starts with `action` + "." when it is
    // not empty ("review" matches review.resolve); newest first, at most
    // `limit`, shaped as recent_audit's. For `orderflowctl audit`.
    std::vector<nlohmann::json> audit_entries(std::int64_t since, std::string_view order_id, std::string_view action, int limit);

    // {"inbox":{"pending":n,"timers":n (pending timer events),"done":n,"ignored":n,"failed":n},
    //  "outbox":{"planned":n,"deferred":n,"sending":n,"done":n,...}}; every known
    // state is present, zero when no row has it.
    nlohmann::json counts();

private:
    database& db_;
};

}  // namespace orderflow::storage
