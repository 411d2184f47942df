// See durable_commits.hpp.
#include "daemon/durable_commits.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "daemon/telemetry.hpp"
#include "storage/checkpointer.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace orderflow::daemon {

namespace asio = boost::asio;

struct durable_commits::shared {
    struct waiter {
        std::uint64_t through;   // the commits it waits for
        asio::any_completion_handler<void(std::string)> done;
        asio::any_io_executor work;   // keeps the loop's io_context running meanwhile
    };

    asio::any_io_executor ex;
    storage::database* db;   // null once durable_commits is gone
    std::string wal;         // the WAL's path, for messages
    int fd = -1;
    sync_fn sync;
    telemetry::histogram& took = telemetry::timing("orderflow_wal_sync_seconds");

    // The thread's side, under mutex.
    std::mutex mutex;
    std::condition_variable wake;
    bool stopping = false;
    std::uint64_t asked = 0;   // the highest commit count a waiter asked for
    std::atomic<std::int64_t> syncs{0};

    // The loop's side.
    // A list: a waiter is never copied (any_completion_handler's template
    // constructor would wrap a copy of one inside another).
    std::list<waiter> waiting;
    std::string failed;         // why the WAL can no longer be synced

    // On the loop: a sync that began once `through` commits were written
    // ended (error: its errno, 0 when it succeeded).
    void ended(std::uint64_t through, int error, double seconds) {
        took.observe(seconds);
        if (error != 0 && failed.empty()) {
            failed = "fdatasync of " + wal + " failed (" + std::strerror(error) +
                     "): commits can no longer be confirmed on stable storage, so nothing more is sent; "
                     "check the disk (dmesg), then restart orderflowd";
            log::error("wal_sync_failed", {{"file", wal}, {"error", std::strerror(error)},
                                           {"advice", "nothing more is sent until orderflowd restarts; check the disk (dmesg), then restart it"}});
        }
        if (error == 0 && db) db->synced_through(through);
        // Resumed by posts, not from here: a resumed caller may ask again,
        // and so change `waiting` while it is walked.
        std::list<waiter> ready;
        for (auto it = waiting.begin(); it != waiting.end();) {
            const auto next = std::next(it);
            if (!failed.empty() || it->through <= through) ready.splice(ready.end(), waiting, it);
            it = next;
        }
        for (auto& w : ready)
            asio::post(w.work, [done = std::move(w.done), why = failed]() mutable { std::move(done)(why); });
    }
};

namespace {

// A caller's executor that counts as work while it waits for the sync, so
// the event loop does not run dry meanwhile.
asio::any_io_executor tracked(const asio::any_io_executor& ex) {
    return asio::prefer(ex, asio::execution::outstanding_work.tracked);
}

}  // namespace

durable_commits::durable_commits(asio::any_io_executor ex, storage::database& db, sync_fn sync)
    : state_(std::make_shared<shared>()), db_(db) {
    state_->ex = std::move(ex);
    state_->sync = sync ? std::move(sync) : sync_fn([](int fd) { return ::fdatasync(fd) == 0 ? 0 : errno; });
    state_->db = &db;
    state_->wal = db.path().string() + "-wal";
    // The WAL file SQLite writes (it exists while db is open). Synced by
    // this descriptor, it is the same file: fsync works on the file, not on
    // the descriptor. Its directory entry is synced once, as SQLite syncs a
    // new WAL's directory at its first sync.
    state_->fd = ::open(state_->wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (state_->fd < 0)
        throw storage::storage_error(SQLITE_CANTOPEN, "cannot open " + state_->wal + " to sync it: " + std::strerror(errno));
    const int dir = ::open(db.path().parent_path().empty() ? "." : db.path().parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    thread_ = std::thread([s = state_] { run(s); });
}

durable_commits::~durable_commits() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
    }
    state_->wake.notify_one();
    if (thread_.joinable()) thread_.join();
    state_->db = nullptr;
    ::close(state_->fd);
}

asio::awaitable<void> durable_commits::durable() {
    auto& s = *state_;
    if (!s.failed.empty()) throw storage::storage_error(SQLITE_IOERR_FSYNC, s.failed);
    if (!db_.has_unsynced_commits()) co_return;
    const std::uint64_t through = db_.commits_written();
    auto ex = co_await asio::this_coro::executor;
    // Named, not a temporary inside the co_await: GCC 12 destroys such a
    // temporary twice (a shared_ptr captured there lost a reference).
    auto ask = [&s, through, &ex](auto handler) {
        s.waiting.emplace_back(through, std::move(handler), tracked(ex));
        {
            std::lock_guard lock(s.mutex);
            s.asked = std::max(s.asked, through);
        }
        s.wake.notify_one();
    };
    const std::string error = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::string)>(ask, asio::use_awaitable);
    if (!error.empty()) throw storage::storage_error(SQLITE_IOERR_FSYNC, error);
}

std::int64_t durable_commits::syncs() const { return state_->syncs.load(); }

asio::awaitable<void> durable_commits::let_wal_catch_up() {
    if (checkpoints_ == nullptr || !checkpoints_->behind()) co_return;
    ++catch_ups_;
    auto ex = co_await asio::this_coro::executor;
    storage::checkpointer* ck = checkpoints_;
    // Named, not a temporary inside the co_await (GCC 12). The handler is
    // held by a shared_ptr: catch_up takes a copyable std::function.
    auto ask = [ck, &ex](auto handler) {
        auto h = std::make_shared<asio::any_completion_handler<void()>>(std::move(handler));
        ck->catch_up([h, work = tracked(ex)] { asio::post(work, [h] { std::move(*h)(); }); });
    };
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(ask, asio::use_awaitable);
}

// Syncs whenever a waiter asked for more than the last sync covered. What
// was asked for is written already (the loop committed before it asked),
// so the sync that starts after the ask covers it; asks that come while a
// sync runs share the next one.
void durable_commits::run(const std::shared_ptr<shared>& s) {
    name_this_thread("of-wal-sync");
    std::uint64_t covered = 0;
    for (;;) {
        std::uint64_t through = 0;
        {
            std::unique_lock lock(s->mutex);
            s->wake.wait(lock, [&] { return s->stopping || s->asked > covered; });
            if (s->asked <= covered) return;   // stopping, nobody waits
            through = s->asked;
        }
        const auto began = std::chrono::steady_clock::now();
        const int error = s->sync(s->fd);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        ++s->syncs;
        covered = through;
        asio::post(s->ex, [s, through, error, seconds] { s->ended(through, error, seconds); });
    }
}

}  // namespace orderflow::daemon
