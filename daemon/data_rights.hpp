// The buyer's requests and the record of who did what (docs/privacy.md):
//
//   buyer export  --buyer ID | --order ID | --conversation ID
//   buyer forget  (the same)
//   audit [--since T] [--order ID] [--buyer ID] [--action NAME] [--limit N] [--json]
//   order tag|untag ORDER TAG        (staff correct an order's tags, audited;
//                                     an order orderflow has never seen is refused)
//
// Like `review`, these run inside orderflowd on a request over the admin
// socket (the socket's permissions decide who may, the daemon records who
// did), or, when the daemon is not running, in orderflowctl against the
// database directly: the same function either way. `buyer refresh` needs
// TikTok and so the running daemon (admin/commands.cpp).
#pragma once

#include "storage/forget_ledger.hpp"

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

namespace orderflow {
class secret;
}

namespace orderflow::storage {
class database;
class store;
class vault;
struct buyer_lookup;
}  // namespace orderflow::storage

namespace orderflow::daemon {

struct data_request {
    std::vector<std::string> argv;     // "buyer", "export"; "audit"; "order", "tag", ORDER, TAG
    std::string by;                    // who acts, as they say (or the socket's user)
    std::string buyer, order, conversation;
    std::string action;                // audit: an action name, or its prefix before '.' ("review")
    std::int64_t since = 0;            // audit: unix seconds, 0 for all
    int limit = 100;                   // audit: the newest this many
    bool json = false;                 // audit: JSON lines instead of a table
    bool suppress = false;             // forget: config privacy.suppress_forgotten
    std::int64_t ledger_keep = 0;      // forget: seconds the forget ledger keeps a record (config retention.forget_records()); 0: for good
};

// The key forget_hash is keyed with, derived from the vault key (so it is
// as secret as the tokens, and nobody without it can test an id against
// the suppression list).
orderflow::secret forget_key(const storage::vault& vault);
// A key's bytes, as storage/buyer_data.hpp takes them.
std::span<const unsigned char> key_bytes(const orderflow::secret& key);

// Runs one of the commands above; output for people (or the export's JSON)
// on `out`, problems on `err`. Returns the exit code: 0 ok, 1 failure, 2
// usage. Throws storage_error when the database fails.
int data_rights_command(storage::database& db, storage::store& store, const orderflow::secret& forget_key,
                        const data_request& r, std::ostream& out, std::ostream& err, std::int64_t now);

// The forgets recorded in the ledger (storage/forget_ledger.hpp) that this
// database has not had applied: after a restore from a backup taken before
// them. Applies them and moves the database's
// mark; `ledger_file` is forget_ledger_path(storage.path). Logs what it did
// (forgets_applied_again, forgets_waiting when a send to the buyer is under
// way) and a ledger it cannot read or write (forget_ledger_failed); with
// `at_start`, a ledger that exists but cannot be read is an error instead
// (std::runtime_error saying what to do): orderflowd does not start. With `drop_before` (0: none), prunes the ledger's
// records past their time (storage::prune_forget_ledger) and the horizons
// of forgets without suppression as old (storage::drop_forget_horizons). Throws storage_error when the
// database fails. For orderflowd: at start, before anything is processed,
// and at every retention pass.
struct forget_catch_up {
    int pending = 0;              // records the database had not had applied
    storage::reapplied_forgets done;
    int unreadable_lines = 0;     // ledger lines skipped
    bool unreadable = false;      // the ledger could not be read or pruned (logged)
    int dropped = 0;              // records past their time, pruned
    int horizons_dropped = 0;     // `forgotten` entries of forgets without suppression, as old
};
forget_catch_up catch_up_forgets(storage::database& db, storage::store& store, const orderflow::secret& forget_key,
                                 const std::filesystem::path& ledger_file, std::int64_t now, std::int64_t drop_before = 0,
                                 bool at_start = false);

// The buyer's ids from the request (usage on `err` and false when none or
// more than one kind is given).
bool buyer_lookup_of(const data_request& r, storage::buyer_lookup& out, std::ostream& err);

}  // namespace orderflow::daemon
