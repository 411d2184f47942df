// The forget ledger: every buyer forget, recorded outside the database, so a
// database restored from a backup taken before a forget does not bring the
// buyer back (docs/privacy.md, "Forget"; docs/operations.md, "Backups").
//
// A file beside the database (storage.path + ".forgets", mode 0600), one
// JSON line per forget: {"seq", "at", "suppress", "subjects"}. The subjects
// are keyed hashes (forget_hash, keyed with the forget key) of "buyer:ID",
// "order:ID" and "conversation:ID", the material a suppression entry holds:
// nobody without the vault key can test an id against them, and the ledger
// names no one. Each database remembers the last record it has had applied
// (a mark the daemon keeps in daemon_state); a restored copy's mark is
// older than the ledger's last record, and the daemon, at start and then
// every retention pass, finds the records' subjects among the ids the copy
// holds and forgets them again (reapply_forgets).
//
// Records go after retention.forget_records() (the longest of the
// retention periods: a restored copy's older data, and its audit entries,
// are purged by the retention purge by then), except those of forgets with
// suppression: the `forgotten` table keeps those for good, and so does the
// ledger, to put them back into an older copy.
#pragma once

#include "storage/buyer_data.hpp"
#include "storage/database.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace orderflow::storage {

// An append that waited 5 s for the ledger's lock: another process holds
// it (a stuck orderflowctl buyer forget, say). Unlike a ledger that cannot
// be written at all, this passes: a forget seeing it erases nothing and
// says to run it again.
class ledger_locked : public storage_error {
public:
    using storage_error::storage_error;
};

struct forget_record {
    std::int64_t seq = 0;                 // 1, 2, ... never reused
    std::int64_t at = 0;                  // when the forget ran (unix seconds)
    bool suppress = false;                // made with privacy.suppress_forgotten
    std::vector<std::string> subjects;    // forget_hash of "buyer:ID", "order:ID", "conversation:ID"
};

// storage.path + ".forgets".
std::filesystem::path forget_ledger_path(const std::filesystem::path& database_file);

// The subjects of a forget: the keyed hashes of every id find_buyer found
// (and of the id it was given, found or not).
std::vector<std::string> forget_subjects(std::span<const unsigned char> key, const buyer_subject& who);

struct ledger_contents {
    std::vector<forget_record> records;   // oldest first
    int unreadable_lines = 0;             // skipped (an append a crash tore, an edit by hand)
    std::int64_t numbered_up_to = 0;      // the highest number given, kept when its record went
    std::int64_t last_seq() const { return std::max(numbered_up_to, records.empty() ? 0 : records.back().seq); }
};

// Reads the ledger; a missing file is an empty ledger. Throws storage_error
// (code 0) when the file exists but cannot be read, naming it.
ledger_contents read_forget_ledger(const std::filesystem::path& file);

// Drops the records made before `drop_before` (unix seconds) that are not
// suppressions, and lines that cannot be read, by writing the ledger anew (a
// temporary file, synced, renamed over it; its first line keeps the highest
// number given, so numbers are never reused). Returns how many records
// went; with nothing to drop the file is not touched. Throws storage_error
// naming the file when it cannot be read or written.
int prune_forget_ledger(const std::filesystem::path& file, std::int64_t drop_before);

// Appends a record with seq = max(the ledger's last, `at_least`) + 1 (the
// caller passes the database's mark as well, in case the ledger was lost),
// and syncs it to disk before returning its seq. With `drop_before` (0: none)
// the ledger is pruned first (prune_forget_ledger). Both hold an exclusive
// lock on the ledger's folder meanwhile, so concurrent forgets each keep
// their record. Throws storage_error naming the file when it cannot be
// written, and ledger_locked when another holds the lock for 5 s.
std::int64_t append_forget_record(const std::filesystem::path& file, std::int64_t at, bool suppress,
                                  const std::vector<std::string>& subjects, std::int64_t at_least, std::int64_t drop_before);

// What reapply_forgets did.
struct reapplied_forgets {
    int records = 0;            // records applied
    int found = 0;              // records whose buyer this database still held in the clear
    forget_counts erased;       // summed over the forgets it ran
    int suppressed = 0;         // suppression entries written or put back (horizons not counted)
    std::int64_t through = 0;   // the seq of the last record applied (the new mark)
    std::string refused;        // why it stopped before the rest (forget_refused's text), or ""
};

// Forgets again, in this database, the buyers the records name: every id the
// database holds in the clear (cached orders and their buyers, events,
// actions, conversations, review items, tags, answers, audit entries) is
// hashed and looked up among the records' subjects; each match is forgotten
// as `buyer forget` would (find_buyer, then forget_buyer with `by`), and
// audit entries the retention purge has since pseudonymised are found by
// the subjects themselves. Sends to the buyer with an unknown outcome in
// the copy are given up, never sent (in_flight::give_up): the buyer was
// forgotten after the copy was taken. A send in flight (an API call under
// way) makes it stop before that record (`refused`), to be tried again. A
// record's subjects also go back into `forgotten` (note_forgotten), whether
// or not the copy held the buyer: with `suppress` as suppression entries,
// without as the forget's horizon, so the changes from before the forget
// that the poll reads again since the copy's cursors are set aside.
// `applied` (may be empty) is called with each record's seq once it is done,
// so the caller can move its mark record by record. Must be called outside
// a transaction.
reapplied_forgets reapply_forgets(database& db, std::span<const unsigned char> key, std::span<const forget_record> records,
                                  std::int64_t now, std::string_view by,
                                  const std::function<void(std::int64_t)>& applied = {});

}  // namespace orderflow::storage
