// Copies the WAL back into the database file on a thread of its own.
//
// In WAL mode a commit appends pages to the -wal file; a checkpoint copies
// them into the database file (and syncs both) so the WAL can start over.
// SQLite's default runs it inside the commit that pushes the WAL past 1,000
// pages, so that commit's caller waits for a few thousand page copies and
// two more fsyncs: for the inbox writer, every webhook waiting in that batch.
// Connections that hand_off_checkpoints() to a checkpointer only wake it; it
// runs PASSIVE checkpoints (never waiting for a lock, never blocking a
// writer or a reader) until everything is copied.
//
// The WAL starts over only when a write finds it copied whole (and no reader
// in it), and commits go on while the thread copies. So after a pass that
// copied everything the thread writes one row itself, which starts the WAL
// over unless a commit came first. Should the WAL still grow (a reader that
// holds an old snapshot, a load that never leaves a gap), at four
// thresholds the committing connection checkpoints itself, as SQLite would
// have, and the next commit starts the WAL over (a connection served with
// a higher `self_at` waits longer; see serve()). A writer that can wait
// avoids that: at two thresholds it asks the thread to catch up
// (catch_up()) and commits nothing until it has.
//
// Only in-process connections hand off; orderflowctl's own connections keep
// SQLite's default, which is harmless beside this one (a checkpoint that
// finds another running simply does nothing).
#pragma once

#include "storage/database.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace orderflow::storage {

class checkpointer {
public:
    // Opens its own connection to `file` (which must exist, migrated).
    // wal_pages: the WAL length that starts a checkpoint (SQLite's own
    // threshold is 1,000 pages, 4 MiB).
    explicit checkpointer(const std::filesystem::path& file, int wal_pages = 1000);
    ~checkpointer();   // stops (a checkpoint under way finishes first)
    checkpointer(const checkpointer&) = delete;
    checkpointer& operator=(const checkpointer&) = delete;

    // Makes db's commits wake this checkpointer instead of checkpointing
    // themselves, until one leaves the WAL `self_at` thresholds long: that
    // one checkpoints on its own connection, as SQLite would have. Four for
    // a connection whose thread may wait for it (the inbox writer's); more
    // for one whose thread runs everything else (the event loop's), which
    // leaves those checkpoints to the others and to its own waits
    // (catch_up()). The checkpointer must outlive db's use of it: call
    // db.hand_off_checkpoints({}) or destroy db first.
    void serve(database& db, int self_at = 4);
    // A commit left the WAL `pages` long (any thread); true: that commit's
    // connection should checkpoint now, itself (at `self_at` thresholds).
    bool wal_grew(int pages, int self_at = 4);

    // For a writer that can wait between its transactions (the pipeline,
    // between batches): true once a commit left the WAL two thresholds
    // long, a sign that the passes cannot end whole while it writes.
    bool behind() const { return pages_.load(std::memory_order_relaxed) >= 2 * threshold_; }
    // Runs passes now until the WAL is copied whole (at most four) and then
    // starts it over as after any whole pass, then calls `done` on the
    // thread. A writer that waits for it meanwhile lets the pass end whole,
    // so the WAL starts over without a commit checkpointing itself. `done`
    // is called once, also when the checkpointer stops first.
    void catch_up(std::function<void()> done);

    std::int64_t checkpoints() const { return checkpoints_; }   // passes on the thread, for tests
    std::int64_t starts_over() const { return starts_over_; }   // writes after a whole pass, for tests

private:
    void run();
    void start_over();

    database db_;
    const int threshold_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool due_ = false;
    int seen_ = 0;   // the WAL's length when the last pass ended
    bool stopping_ = false;
    std::vector<std::function<void()>> caught_up_;   // catch_up's callers, called after the next passes
    std::atomic<int> pages_{0};                       // the WAL's length after the last commit or pass
    std::atomic<std::int64_t> checkpoints_{0};
    std::atomic<std::int64_t> starts_over_{0};
    std::thread thread_;   // last: started once everything above exists
};

}  // namespace orderflow::storage
