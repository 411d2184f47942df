// Makes the event loop's commits survive a power loss without an fsync on
// the loop's thread.
//
// Before an effect outside (a message sent, a package shipped) its intent
// must be on stable storage: a power loss must never leave a sent message
// looking unsent. The loop commits that intent with
// durability::process_crash (written to the WAL, no fsync) and then
// co_awaits durable(): a thread of its own fdatasyncs the WAL file while the
// loop goes on with the pipeline, the listener's hand-offs and the other
// lanes. Every caller waiting when a sync starts shares it, so the lanes'
// intents within one fsync's time cost one fsync between them.
//
// An fdatasync of the WAL file makes every frame written to it before the
// call durable, whichever connection wrote them: what SQLite's own
// synchronous=FULL commit does, on the same file, after the commit instead
// of inside it. The loop's thread once made ~90 of those fsyncs a second in
// a drain, each stalling everything on it (up to 72 ms measured; a stalled
// loop then released the sends it held back together, past TikTok's rate
// limit: bench/README.md, eighteenth round).
//
// A failed fsync is final: Linux may drop the pages it could not write and
// report success to the next fsync, so after one failure no commit is
// confirmed durable again: durable() throws until orderflowd restarts
// (the sends wait; wal_sync_failed in the log says why).
#pragma once

#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace orderflow::storage {
class checkpointer;
}

namespace orderflow::daemon {

class durable_commits {
public:
    // How the WAL is synced: 0, or the errno of a failure. For tests; the
    // default is fdatasync(fd). Called on the thread.
    using sync_fn = std::function<int(int fd)>;

    // db: the loop's connection (its WAL file must exist: db is open).
    // Opens the WAL file and starts the thread. ex: the loop's executor,
    // where durable() is called and resumes.
    durable_commits(boost::asio::any_io_executor ex, storage::database& db, sync_fn sync = {});
    ~durable_commits();   // stops the thread (a sync under way finishes first)
    durable_commits(const durable_commits&) = delete;
    durable_commits& operator=(const durable_commits&) = delete;

    // Returns once every commit db made before the call is on stable
    // storage: at once when none is unsynced. Throws storage::storage_error
    // when the sync fails (or failed before). Not cancellable: a caller
    // cancelled meanwhile resumes when the sync under way ends (the disk's
    // time, milliseconds). Call only between transactions (never with a
    // batch open).
    boost::asio::awaitable<void> durable();

    // fdatasyncs of the WAL so far (for tests and metrics).
    std::int64_t syncs() const;

    // The checkpointer that copies the WAL back (app.cpp); without one,
    // let_wal_catch_up() returns at once. ck must outlive this object's use.
    void checkpoints_by(storage::checkpointer& ck) { checkpoints_ = &ck; }
    // For a writer between its transactions (the pipeline, between
    // batches): when the WAL has grown two thresholds long, waits (without
    // blocking the loop) until the checkpointer has copied it whole and
    // started it over; else returns at once. The loop's other work goes on,
    // and the WAL seldom grows long enough for a commit of the loop's to
    // checkpoint on its thread (storage/checkpointer.hpp; bench/README.md,
    // eighteenth and nineteenth rounds).
    boost::asio::awaitable<void> let_wal_catch_up();
    std::int64_t catch_ups() const { return catch_ups_; }   // waits so far, for tests

    struct shared;   // what the thread and the loop share (durable_commits.cpp)

private:
    static void run(const std::shared_ptr<shared>& s);

    std::shared_ptr<shared> state_;
    storage::database& db_;
    storage::checkpointer* checkpoints_ = nullptr;
    std::int64_t catch_ups_ = 0;
    std::thread thread_;   // last: started once everything above exists
};

}  // namespace orderflow::daemon
