// Idempotency keys that nobody without the vault key can test.
//
// Every automated effect is recorded in the outbox under an idempotency key
// made from what identifies it (the rule, the action, the order or message
// it is about: rules/engine.hpp, key_material), so that planning it again
// does nothing. The key stays after the retention purge and after a buyer
// forget, when the row no longer names its order. A plain hash of that text
// could still be tested by anyone holding the database and an order id
// ("did rule X act on order Y?"), so the keys are keyed hashes, as the ids a
// forget keeps are (docs/privacy.md, "Keys that stay"). The same holds for
// the inbox keys made from content that names an order: a webhook without a
// notification id ("h:"), a tracking number from the feed ("trk:"), and the
// timers an action sets ("timer:"), named after the action's key or its
// series.
//
// A key is hash_key(material) (SHA-256, hex) hashed again with the key
// (keyed BLAKE2b-256, hex): 64 hex characters, as before. Hashing the plain
// hash, rather than the material, lets a database written before this
// version be converted in place (rekey_plain_hashes): its stored keys are
// the plain hashes.
#pragma once

#include "common/secret.hpp"
#include "storage/database.hpp"
#include "storage/vault.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace orderflow::storage {

// The key these hashes are made with, derived from the vault key.
orderflow::secret idempotency_key(const vault& v);

// The keyed form of a plain hash (64 hex characters): keyed BLAKE2b-256, hex.
std::string keyed_hash(std::span<const unsigned char> key, std::string_view plain_hash);

// An idempotency key for `material`: keyed_hash(key, hash_key(material)).
// Without a key (a unit test that sets none), the plain hash_key(material).
std::string idempotency_hash(std::span<const unsigned char> key, std::string_view material);

// An inbox dedupe key in its keyed form: "h:PLAIN" (also "h:PLAIN#..." for
// a package webhook's rows), "trk:PLAIN", "timer:PLAIN" and "timer:PLAIN@N",
// where PLAIN is 64 hex characters, get keyed_hash(PLAIN) in its place; any
// other key is returned as it is.
std::string keyed_dedupe_key(std::span<const unsigned char> key, std::string_view dedupe_key);

// Keyed hashes made with another vault key meet none of the stored ones: a
// database started with another key than its own would plan again, and
// send again, everything it did before. With `record`, a database without
// one gets the key's check value (daemon_state 'idempotency_key_check',
// which reveals nothing of the key): orderflowd, at every start, before it
// converts or plans anything. Without, a database without one is taken as
// it is (orderflowctl replay, which writes nothing, before it compares).
// Throws wrong_key_error (storage/vault.hpp), saying what to do, when the
// key does not match the recorded one.
void check_idempotency_key(database& db, std::span<const unsigned char> key, bool record);

// What orderflowd would refuse at its start about this vault key on this
// database, in its words: a vault entry that does not decrypt with it (the
// shop's tokens), or keyed hashes recorded as made with another key. Empty
// when neither. Reads only (orderflowctl check, on a read-only connection).
std::string vault_key_refusal(database& db, orderflow::secret vault_key);

// Whether the database may still hold keys made before this version, as
// plain hashes (migration 22's record, daemon_state "plain_hashes", on every
// database until orderflowd's first start converts them). While it
// does, nothing may plan an action: a plan's keyed key would not meet the
// plain key of the same action. (orderflowctl replay maps the plain ones
// instead: actions_keyed_through.)
bool plain_hashes_left(database& db);

// Throws storage_error while plain_hashes_left(db): `who` (a part of
// orderflowd that makes keyed keys) was started before orderflowd's start
// converted the stored keys. Its keys would then be converted again and
// refuse nothing, so it stops instead: a fault in the start-up order, which
// every start on a new database (it carries the record) would show.
void require_keyed(database& db, std::string_view who);

// The outbox id through which keys are keyed: the largest id when all are
// (no conversion pending), else the conversion's mark; the actions after it
// still hold plain keys.
std::int64_t actions_keyed_through(database& db);

struct rekey_counts {
    std::int64_t actions = 0;   // outbox keys (and series) converted
    std::int64_t events = 0;    // inbox keys (and timers' series) converted
    bool done = false;          // nothing is left: the record is gone
};

// Converts the next rows while migration 22's record is there, at most
// max_rows of each table, in one transaction: an action's idem_key and its
// payload's series, an event's dedupe key (keyed_dedupe_key) and a timer's
// series. The record keeps how far it got and moves past them in the same
// transaction, so a crash between calls loses nothing and converts nothing
// twice. It goes on to each table's last row at the time of the call: rows
// an older orderflowd wrote after the migration ran (from an orderflowctl
// command) are plain too. Call until done, before anything writes a keyed
// key (orderflowd does at its start, after check_idempotency_key). An
// unreadable record throws storage_error and converts nothing: converting a
// row twice would lose its key. max_rows < 0: everything at once. key: 32 bytes.
rekey_counts rekey_plain_hashes(database& db, std::span<const unsigned char> key, int max_rows = 10000);

}  // namespace orderflow::storage
