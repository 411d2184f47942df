// The inbox's one writer for what arrives from outside: group commit on a
// thread of its own. Events are queued from any thread; the writer thread
// takes everything queued since its last commit and writes it in ONE
// transaction on its own connection, so durability (synchronous=FULL) costs
// one fsync per batch, not per webhook, and the fsync never blocks the
// threads that read and parse requests or run the loops: while one commit
// waits for the disk, the next batch gathers (docs/architecture.md,
// "Ingress"). A caller learns its event's outcome only after the commit, on
// its own executor: ingress answers 200 only then.
//
// While the database file is missing or replaced nothing is committed: the
// outcome is `unavailable` (webhooks get 503) and the storage watch raises
// the alarm.
#pragma once

#include "daemon/context.hpp"
#include "daemon/detail/once_a_minute.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace orderflow::storage {
class checkpointer;
}

namespace orderflow::daemon {

class storage_watch;
namespace telemetry {
class histogram;
}

enum class write_outcome { inserted, duplicate, unavailable };

class inbox_writer {
public:
    // Opens a second connection to ctx.db's file and starts the writer
    // thread. busy_timeout: how long a commit waits for another
    // connection's write lock before its events are answered unavailable.
    // checkpoints: when given, it checkpoints this connection's WAL on its
    // own thread, so a batch never waits for a checkpoint. slow_commit: a
    // commit that takes this long (the wait for the write lock, the writes
    // and the WAL's fsync) is logged as inbox_commit_slow, at most once a
    // minute of ctx.clock; every commit's time is in
    // orderflow_inbox_commit_seconds (failed commits are not timed: they
    // are inbox_commit_failed, also at most once a minute).
    inbox_writer(context ctx, storage_watch& watch, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5),
                 storage::checkpointer* checkpoints = nullptr, std::chrono::milliseconds slow_commit = std::chrono::seconds(1));
    ~inbox_writer();   // stop()
    inbox_writer(const inbox_writer&) = delete;
    inbox_writer& operator=(const inbox_writer&) = delete;

    // Queues the event for the next group commit and waits for it; safe to
    // call from any thread, and resumes on the caller's executor.
    boost::asio::awaitable<write_outcome> enqueue(storage::new_event e);
    // The same for the rows of one webhook (a package update fans out into
    // several): all of them go into the same transaction, so they are
    // committed together or not at all. inserted when any row was new,
    // duplicate when every row was already in.
    boost::asio::awaitable<write_outcome> enqueue_all(std::vector<storage::new_event> events);

    // Commits these events now, in one transaction on the caller's
    // connection (ctx.db: the poller's pages, on the event loop). Returns
    // how many were new. Throws storage_error.
    int add_now(const std::vector<storage::new_event>& events);

    // Commits what is queued, then ends the thread; later enqueues are
    // answered unavailable at once. Call from the event loop's thread.
    void stop();

    // Transactions committed by the writer thread (for tests and the
    // shutdown log line: events per commit is the batching achieved).
    std::uint64_t commits() const { return commits_.load(); }
    std::uint64_t committed_events() const { return committed_events_.load(); }

private:
    struct pending {
        std::vector<storage::new_event> events;   // one webhook's rows, committed together
        boost::asio::any_completion_handler<void(write_outcome)> done;
        boost::asio::any_io_executor work;   // the caller's, where `done` runs
    };
    void submit(pending p);
    void run();
    std::vector<write_outcome> commit(const std::vector<pending>& batch, bool& file_lost);
    void answer(std::vector<pending>& batch, const std::vector<write_outcome>& outcomes);
    void observe_commit(std::chrono::steady_clock::duration took, std::size_t waiting);
    void log_failed_commit(const std::string& error, std::size_t events);

    context ctx_;
    storage_watch& watch_;
    std::unique_ptr<storage::database> db_;   // the writer thread's own connection
    std::unique_ptr<storage::store> store_;
    std::mutex mutex_;
    std::condition_variable queued_;
    std::vector<pending> queue_;
    bool stopping_ = false;
    std::atomic<std::uint64_t> commits_{0}, committed_events_{0};
    telemetry::histogram& commit_time_;
    // inbox_commit_slow: the threshold, and its lines at most once a
    // minute (touched on the writer thread only).
    std::chrono::milliseconds slow_commit_;
    detail::once_a_minute slow_told_;
    // inbox_commit_failed, paced the same way (writer thread only).
    detail::once_a_minute failed_told_;
    std::thread thread_;
};

}  // namespace orderflow::daemon
