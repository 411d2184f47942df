// Retention: at start and then every retention.interval (an hour), personal
// data of finished rows older than retention.personal_data is purged (rows
// that never finished and were untouched that long are settled first and
// purged with them: logged as retention_expired_unfinished), then
// whole rows past their own periods (retention.keys, .reviews, .audit) are
// deleted, both in batches with the event loop's other work in between, and
// the space is given back (storage/retention.hpp).
// Keys stay until retention.keys, long after anything could bring their
// change back, so nothing purged can be sent again. With the forget key
// (set_forget_key), the purge also hashes the ids in what it keeps, so no
// order id outlives the buyer's personal data (docs/privacy.md).
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "daemon/detail/wakeup.hpp"
#include "storage/retention.hpp"

#include <boost/asio/awaitable.hpp>

namespace orderflow::daemon {

class rules_in_force;
class supervisor;

class housekeeping {
public:
    housekeeping(context ctx, const rules_in_force& in_force, supervisor& sup);

    boost::asio::awaitable<void> loop();   // supervised as "housekeeping"
    void stop();
    // The key buyer forget hashes ids with (daemon/data_rights.hpp,
    // forget_key): the purge hashes the ids it keeps with it. Without it
    // (tests), ids in kept rows stay as they are.
    void set_forget_key(orderflow::secret key) { forget_key_ = std::move(key); }
    // Forgets from the forget ledger this database has not had applied (a
    // restore from an older backup; one refused before): done again now
    // (daemon/data_rights.hpp, catch_up_forgets). At start (`at_start`: a
    // ledger that cannot be read stops the start), before anything is
    // processed, and at the top of every pass after the first (which comes
    // right after start). Needs the forget key.
    void catch_up_forgets(bool at_start);
    // One whole purge now, its batches back to back (public for tests); logs
    // what it did. Throws storage_error.
    void purge();

private:
    // Rows per table per transaction: the write lock (which webhooks' commits
    // wait for) and the event loop are held for one batch at a time.
    static constexpr int batch_rows = 2000;
    // Personal data older than this (unix seconds) goes; taken once per
    // purge, so its batches all work towards the same end.
    std::int64_t personal_data_cutoff() const;
    // One batch of personal data; adds to `sum`. Returns how many rows it changed.
    int purge_personal_data(std::int64_t cutoff, storage::purge_counts& sum);
    // Logs the purge and records it (storage::last_purge_state) once it is whole.
    void report_personal_data(const storage::purge_counts& sum, int batches, std::int64_t cutoff, bool whole);
    // One batch of whole rows; adds to `sum`. Returns how many it deleted.
    int delete_rows(storage::row_purge_counts& sum);
    void finish(const storage::row_purge_counts& sum);
    context ctx_;
    const rules_in_force& in_force_;
    supervisor& sup_;
    detail::wakeup wake_;
    bool stopping_ = false;
    orderflow::secret forget_key_;
};

}  // namespace orderflow::daemon
