// Keyed hashes in place of ids, in what orderflow keeps once a buyer's
// personal data is gone: after a forget (docs/privacy.md, "Erasure") and
// after the retention purge ("How long it is kept"). Both use forget_hash
// (storage/buyer_data.hpp), keyed with a key derived from the vault key, so
// that the kept rows still tell a repeated change or delivery apart, and an
// operator who holds the key and is given an id can still find its entries,
// while nobody without the key can test an id against them, and nothing
// links them to a buyer any more.
//
// Private to storage: buyer_data.cpp (forget, set aside), retention.cpp
// (the purge) and store.cpp (a package webhook's redelivery) use it.
#pragma once

#include "storage/database.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace orderflow::storage::detail {

// Whether an inbox dedupe key names an order, a package or a message in
// clear: a poll's "poll:CHANGE_KEY", and a package webhook's row (type 4),
// "tts:NOTIFICATION#PACKAGE#ORDER" (or "h:HASH#PACKAGE#ORDER" without a
// notification id; daemon/packages.cpp). A webhook's own "tts:N" (TikTok's
// id), timers' and tracking's keys (hashes) and the hashed forms below name
// nobody.
bool key_names_ids(std::string_view dedupe_key);

// The hashed form of such a key, a keyed hash of the whole key:
// "forgotten:HASH"; for a package webhook's row "BASE#forgotten:HASH", where
// BASE is the delivery's own key ("tts:N", TikTok's notification id, or
// "h:HASH"), so that a redelivery of the same notification is still
// recognised when it arrives (package_delivery_hashed) without the key.
std::string hashed_dedupe_key(std::span<const unsigned char> key, std::string_view dedupe_key);

// For a package webhook's row about to be stored ("BASE#PACKAGE#ORDER"):
// whether a row of the same delivery (BASE) is stored already under a
// hashed key, i.e. this is TikTok delivering again a notification whose rows
// a forget or the purge has since hashed. One range lookup on the inbox's
// dedupe_key index; false at once for any other key.
bool package_delivery_hashed(database& db, std::string_view dedupe_key);

// The inbox row's dedupe key and change keys, where they name ids, become
// their hashed forms (hashed_dedupe_key; change keys "forgotten:HASH"), so
// they still tell a repeated change apart and no longer say whose it was. A
// key whose hashed form is already there is the same change or delivery
// stored twice (forgotten or purged before): the row (dedupe_key is UNIQUE)
// is then deleted. The row's unclaimed change key is cleared: callers set a
// pending event aside as ignored, or handle finished ones. Call inside a
// transaction.
void hash_keys_of_event(database& db, std::span<const unsigned char> key, std::int64_t id);

// What the purge leaves of an id in an audit entry: "hash:" + forget_hash
// of "KIND:ID" ("order:576...", "conversation:...", "buyer:..."), the same
// material as a suppression entry's. An id already in this form is
// returned as it is.
std::string pseudonym(std::span<const unsigned char> key, std::string_view kind, std::string_view id);
inline constexpr std::string_view pseudonym_prefix = "hash:";

// An audit entry's detail (JSON written by store::audit) as the purge keeps
// it: the ids it may name (conversation_id, buyer_user_id, message_id,
// package_id, tracking_number) as pseudonyms, and, in an entry about a
// buyer's order, action or review item (`names_order`: the entry's order
// id was set), the free text that may quote the buyer or an id (staff's
// note, an error, a reason) left out. A detail that is not a JSON object
// becomes "{}": nothing says what it names.
std::string pseudonymised_audit_detail(std::span<const unsigned char> key, const std::string& detail, bool names_order);

}  // namespace orderflow::storage::detail
