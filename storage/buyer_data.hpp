// One buyer's data, for the buyer's requests (docs/privacy.md): find
// everything orderflow holds about a buyer, hand it over as one JSON
// document, or erase it while keeping what stops anything being sent twice.
//
// A buyer is known by their TikTok user id, an order id or a conversation
// id; find_buyer follows the links between them (the cached order names its
// buyer, an action names the buyer it was for, the conversation map names
// the buyer of each conversation) until nothing new turns up. Rows are
// matched on those ids exactly, never on a substring, so another buyer whose
// id merely contains this one's is never included.
//
// Synchronous, like the rest of storage; the scans read the inbox, the outbox
// and the audit log once each (they have no index on the buyer), which is
// fine for a command an operator runs now and then.
#pragma once

#include "storage/database.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace orderflow::storage {

// What the person asking gave: one (or more) of the three.
struct buyer_lookup {
    std::string buyer_user_id;
    std::string order_id;
    std::string conversation_id;
};

// Everything that identifies the buyer in orderflow's tables.
struct buyer_subject {
    std::string buyer_user_id;                 // "" when no row names it
    std::set<std::string> order_ids;
    std::set<std::string> conversation_ids;
    std::set<std::int64_t> action_ids;         // outbox rows for this buyer
    std::set<std::int64_t> event_ids;          // inbox rows about this buyer
    std::set<std::int64_t> review_ids;         // review items about this buyer
    // The pseudonyms (detail::pseudonym) of the ids above, when find_buyer
    // was given the key: what the retention purge left of them in audit
    // entries older than retention.personal_data.
    std::set<std::string> hashed_ids;
    bool nothing_found() const { return action_ids.empty() && event_ids.empty() && review_ids.empty() && order_ids.empty() && conversation_ids.empty() && buyer_user_id.empty(); }
};

// Follows the links from what was given; ids given are kept even when no
// row mentions them (the answer is then "nothing held"). With `key` (the
// forget key, as forget_buyer takes it), also the pseudonyms of the ids
// found, so the audit entries the purge has since hashed are found by them
// (audit_rows_about): an export or a forget by order id on day 100 still
// reaches them. The purge removed the links from the buyer to their orders,
// so by the buyer's id alone only entries naming that id are found.
buyer_subject find_buyer(database& db, const buyer_lookup& by, std::span<const unsigned char> key = {});

// The buyer's data as one document (fields described in docs/privacy.md):
// {"format", "buyer", "orders", "tags", "answers", "order_cards", "events",
//  "actions", "conversations", "reviews", "notifications", "audit"}; JSON held in a column (payloads,
// snapshots, evidence) is embedded as JSON, not as a string.
nlohmann::json export_buyer(database& db, const buyer_subject& who);

// The audit rows about the buyer (by order, action, conversation, review
// item or buyer id, or by the pseudonyms of these ids), oldest first, in the
// shape of store::recent_audit.
std::vector<nlohmann::json> audit_rows_about(database& db, const buyer_subject& who);

// A keyed one-way hash (BLAKE2b, 128 bits, hex) of `material`: what a
// forget keeps instead of an id. key: the vault key (32 bytes).
std::string forget_hash(std::span<const unsigned char> key, std::string_view material);

// What the retention purge leaves of an order id in the audit entries it
// keeps (storage/retention.hpp): a keyed pseudonym made with the same key,
// so that `orderflowctl audit --order ID` still finds them.
std::string order_pseudonym(std::span<const unsigned char> key, std::string_view order_id);

// What forget_buyer changed, per table.
struct forget_counts {
    int orders = 0;          // cached orders deleted
    int tags = 0;            // order tags deleted
    int answers = 0;         // captured answers (order attributes) and order cards deleted
    int events = 0;          // inbox rows emptied (payload, context, order id; ids in keys hashed)
    int actions = 0;         // outbox rows emptied (texts, results, reasons, ids); pending ones skipped
    int conversations = 0;   // buyer -> conversation rows deleted
    int reviews = 0;         // review items emptied, staff notes too (and resolved)
    int notifications = 0;   // staff notifications about them deleted
    int audit = 0;           // audit rows whose ids and details were removed
    int suppressed = 0;      // suppression entries written (keyed hashes)
    int given_up = 0;        // unknown sends given up as failed (in_flight::give_up)
    bool wal_kept = false;   // erased, but the WAL could not be emptied now (another connection was reading):
                             // old page images stay in it until the next checkpoint
    int total() const { return orders + tags + answers + events + actions + conversations + reviews + notifications + audit; }
    forget_counts& operator+=(const forget_counts& n);
    nlohmann::json to_json() const;
};

// Thrown when a forget cannot run now; the message says why and what to do.
class forget_refused : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Erases the buyer's personal data from every table, in one transaction
// with secure_delete on (freed bytes are overwritten; database::open sets it
// on every connection, so no earlier write left a stale copy either), then
// checkpoints the WAL and truncates it, so the database file and its WAL
// hold no trace of the buyer's name, address, messages or ids, nor staff's
// notes about them (docs/privacy.md, "Forget"); when another connection is
// reading, the WAL cannot be emptied now, and the counts say so (wal_kept)
// rather than throwing: the erasure itself is committed.
// Kept: idempotency keys (already hashes), webhook notification ids
// (TikTok's, not the buyer's), the event and action rows themselves with
// their states, so nothing is sent twice; keys that contain an id (a poll's,
// a package webhook's "tts:N#PACKAGE#ORDER", change keys) are replaced by
// forget_hash of themselves. Keyed hashes of the buyer, order and
// conversation ids are written to `forgotten` (note_forgotten): with
// `suppress`, later events about them are set aside unread (is_forgotten);
// without, only events reporting a change made before the forget
// (forget_mark_of), which the poll's overlap or a restored backup would
// otherwise bring back.
// options.before_commit (may be empty) runs inside the transaction, after the
// erasure and before its commit: the forget ledger's record is written
// there (daemon/data_rights.cpp), so a crash leaves either both or the
// record alone, which the next catch-up applies (storage/forget_ledger.hpp).
// Planned and deferred actions for the buyer become skipped. Refuses
// (forget_refused) while one is being sent or its outcome is unknown: the
// reconciliation needs its text. `by` and the counts go to the audit log
// (no id of the buyer). Must be called outside a transaction.
// With options.sends = in_flight::give_up (a forget made before, done again in a database
// restored from an older backup: storage/forget_ledger.hpp) unknown sends
// are not waited for: they end `failed`, never sent (again), and the forget
// goes on. A backup marks its planned messages as being sent, which the
// daemon's start makes unknown, so without this a restored copy would
// reconcile, and send, a message to a forgotten buyer. A send in flight
// (`sending`, an API call under way) is still refused.
enum class in_flight { refuse, give_up };
struct forget_options {
    in_flight sends = in_flight::refuse;
    // The time `forgotten` records for the subjects (0: now): a forget done
    // again from the ledger keeps the time of the first, so a change made
    // between the two is still handled as anyone's.
    std::int64_t forgotten_at = 0;
    std::function<void()> before_commit;
    // Who the `buyer.forget` audit entry names as its actor (`by` says who
    // asked): the command, or the daemon applying the ledger again.
    std::string_view actor = "orderflowctl";
};
forget_counts forget_buyer(database& db, const buyer_subject& who, std::span<const unsigned char> key, bool suppress,
                           std::int64_t now, std::string_view by, const forget_options& options = {});

// A subject (forget_hash of "buyer:ID", "order:ID" or "conversation:ID")
// forgotten at `at`: the entry is written, or its time moved forward, or
// made to suppress. True when it suppresses now and did not before (a new
// suppression entry). Call inside a transaction.
bool note_forgotten(database& db, std::string_view subject, std::int64_t at, bool suppress);

// What `forgotten` holds about the ids given (empty ones are skipped): the
// latest forget of any of them, and whether any was made with suppression;
// nullopt when none was forgotten. Reads one small table; at once when it
// is empty.
struct forget_mark {
    std::int64_t at = 0;     // unix seconds
    bool suppress = false;
};
std::optional<forget_mark> forget_mark_of(database& db, std::span<const unsigned char> key, std::string_view buyer_user_id,
                                          std::string_view order_id, std::string_view conversation_id);

// Whether a change TikTok reports about ids with this mark, made at
// `changed` (unix seconds; 0 when undated), is set aside unread: always when
// the forget suppressed and `suppression` (privacy.suppress_forgotten) is
// on; else when it was made at or before the forget. The forget's own
// second counts as before: TikTok dates changes to the second.
inline bool forgotten_change(const std::optional<forget_mark>& mark, std::int64_t changed, bool suppression) {
    if (!mark) return false;
    if (mark->suppress && suppression) return true;
    return changed > 0 && changed <= mark->at;
}

// True when one of the ids given was forgotten with suppression.
bool is_forgotten(database& db, std::span<const unsigned char> key, std::string_view buyer_user_id,
                  std::string_view order_id, std::string_view conversation_id);

// The entries of forgets without suppression made before `before` go: no
// change TikTok reports again is that old by then (the forget ledger's
// records, which put them back into a restored copy, go at the same age).
// Suppression entries stay for good. Returns how many went.
int drop_forget_horizons(database& db, std::int64_t before);

// An event about a forgotten buyer (is_forgotten) is emptied as a forget
// would have, without being read, and finished 'ignored' (or deleted when its
// hashed key shows the same change was set aside before). Call inside a
// transaction.
void set_aside_event(database& db, std::span<const unsigned char> key, std::int64_t id, std::int64_t now);

}  // namespace orderflow::storage
