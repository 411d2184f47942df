// See inbox_writer.hpp.
#include "daemon/ingress/inbox_writer.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "daemon/storage_watch.hpp"
#include "storage/checkpointer.hpp"
#include "storage/database.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <utility>

namespace orderflow::daemon {

namespace asio = boost::asio;

namespace {

// A caller's executor that counts as work while an event waits for its
// commit, so the caller's event loop does not run dry meanwhile.
asio::any_io_executor tracked(const asio::any_io_executor& ex) {
    return asio::prefer(ex, asio::execution::outstanding_work.tracked);
}

}  // namespace

inbox_writer::inbox_writer(context ctx, storage_watch& watch, std::chrono::milliseconds busy_timeout,
                           storage::checkpointer* checkpoints, std::function<void()> sync_wal)
    : ctx_(std::move(ctx)), watch_(watch), sync_wal_(std::move(sync_wal)) {
    db_ = std::make_unique<storage::database>(storage::database::open(ctx_.db.path(), storage::database::wal_writes::gathered));
    db_->set_busy_timeout(busy_timeout);
    if (checkpoints) checkpoints->serve(*db_);
    store_ = std::make_unique<storage::store>(*db_);
    if (!sync_wal_) {
        wal_syncer_ = std::make_unique<storage::wal_syncer>(*db_);
        sync_wal_ = [syncer = wal_syncer_.get()] { syncer->sync(); };
    }
    db_->leave_syncs_owed(true);
    leaving_syncs_ = true;
    sync_thread_ = std::thread([this] { run_syncs(); });
    thread_ = std::thread([this] { run(); });
}

inbox_writer::~inbox_writer() { stop(); }

void inbox_writer::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_one();
    if (!thread_.joinable()) return;
    thread_.join();
    // The writer handed over its last batches: synced and answered, then the sync thread ends.
    {
        std::lock_guard lock(sync_mutex_);
        syncs_stopping_ = true;
    }
    to_sync_.notify_one();
    sync_thread_.join();
    if (commits_ > 0)
        log::info("inbox_writer_stopped", {{"commits", commits_.load()}, {"events", committed_events_.load()}, {"syncs", syncs_.load()}});
}

asio::awaitable<write_outcome> inbox_writer::enqueue(storage::new_event e) {
    std::vector<storage::new_event> one;
    one.push_back(std::move(e));
    // Named first: no temporary inside a co_await expression (GCC 12).
    const write_outcome outcome = co_await enqueue_all(std::move(one));
    co_return outcome;
}

asio::awaitable<write_outcome> inbox_writer::enqueue_all(std::vector<storage::new_event> events) {
    auto ex = co_await asio::this_coro::executor;
    const write_outcome outcome = co_await asio::async_initiate<decltype(asio::use_awaitable), void(write_outcome)>(
        [this, ex](auto handler, std::vector<storage::new_event> rows) {
            submit(pending{std::move(rows), std::move(handler), tracked(ex)});
        },
        asio::use_awaitable, std::move(events));
    co_return outcome;
}

void inbox_writer::submit(pending p) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back(std::move(p));
            queued_.notify_one();
            return;
        }
    }
    auto work = p.work;
    asio::post(work, [done = std::move(p.done)]() mutable { std::move(done)(write_outcome::unavailable); });
}

// The writer thread: everything queued since the last commit is the next
// batch, so the batch grows while the disk is slow and stays small when it
// is fast.
void inbox_writer::run() {
    name_this_thread("of-inbox");
    for (;;) {
        std::vector<pending> batch;
        {
            std::unique_lock lock(mutex_);
            queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;   // stopping, and everything answered
            batch.swap(queue_);
        }
        bool file_lost = false, sync_owed = false;
        auto outcomes = commit(batch, file_lost, sync_owed);
        if (file_lost) {
            // The watch raises the alarm on the event loop (posted first, so
            // a caller there hears unavailable only after it is raised).
            asio::post(ctx_.ex, [watch = &watch_] { watch->lost(); });
        }
        if (!sync_owed) {
            answer(batch, outcomes);
            continue;
        }
        {
            std::lock_guard lock(sync_mutex_);
            unsynced_.push_back(written{std::move(batch), std::move(outcomes)});
        }
        to_sync_.notify_one();
    }
}

// The sync thread: one fsync for every batch written since the last, then
// their answers. While it waits for the disk the writer writes the next
// batches, which the next fsync carries.
void inbox_writer::run_syncs() {
    name_this_thread("of-inbox-sync");
    for (;;) {
        std::vector<written> due;
        {
            std::unique_lock lock(sync_mutex_);
            to_sync_.wait(lock, [&] { return syncs_stopping_ || !unsynced_.empty(); });
            if (unsynced_.empty()) return;   // stopping, and everything answered
            due.swap(unsynced_);
        }
        bool synced = true;
        try {
            sync_wal_();
            ++syncs_;
        } catch (const std::exception& e) {
            synced = false;
            std::size_t webhooks = 0;
            for (const auto& w : due) webhooks += w.batch.size();
            log::error("inbox_sync_failed", {{"error", e.what()}, {"webhooks", webhooks},
                                             {"advice", "those webhooks get 503 and TikTok retries them; from now on every inbox commit "
                                                        "syncs itself, so a failing disk fails them; check the disk (dmesg)"}});
            sync_failed_ = true;
        }
        for (auto& w : due) {
            if (!synced) w.outcomes.assign(w.outcomes.size(), write_outcome::unavailable);
            answer(w.batch, w.outcomes);
        }
    }
}

// One post per caller's executor for the whole batch (in the daemon, all of
// a batch's webhooks wait on the listener's thread), not one per webhook:
// each post takes that executor's lock and may wake its thread.
void inbox_writer::answer(std::vector<pending>& batch, const std::vector<write_outcome>& outcomes) {
    using answers = std::vector<std::pair<asio::any_completion_handler<void(write_outcome)>, write_outcome>>;
    std::vector<std::pair<asio::any_io_executor, answers>> by_executor;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto group = std::find_if(by_executor.begin(), by_executor.end(), [&](const auto& g) { return g.first == batch[i].work; });
        if (group == by_executor.end()) group = by_executor.insert(by_executor.end(), {batch[i].work, answers{}});
        group->second.emplace_back(std::move(batch[i].done), outcomes[i]);
    }
    for (auto& [work, list] : by_executor)
        asio::post(work, [list = std::move(list)]() mutable {
            for (auto& [done, outcome] : list) std::move(done)(outcome);
        });
}

std::vector<write_outcome> inbox_writer::commit(const std::vector<pending>& batch, bool& file_lost, bool& sync_owed) {
    std::vector<write_outcome> outcomes(batch.size(), write_outcome::unavailable);
    // A commit into a deleted file is lost at the next start: 503, and TikTok retries.
    if (!db_->file_intact()) {
        file_lost = true;
        return outcomes;
    }
    if (leaving_syncs_ && sync_failed_) {
        db_->leave_syncs_owed(false);
        leaving_syncs_ = false;
    }
    try {
        std::size_t rows = 0;
        db_->transaction([&] {
            for (std::size_t i = 0; i < batch.size(); ++i) {
                outcomes[i] = write_outcome::duplicate;
                for (const auto& event : batch[i].events)
                    if (store_->add_event(event)) outcomes[i] = write_outcome::inserted;
                rows += batch[i].events.size();
            }
        });
        sync_owed = db_->sync_owed();
        ++commits_;
        committed_events_ += rows;
    } catch (const std::exception& e) {
        outcomes.assign(batch.size(), write_outcome::unavailable);
        log::error("inbox_commit_failed", {{"error", e.what()}, {"events", batch.size()},
                                           {"advice", "webhooks get 503 and TikTok retries them; check the disk and the database file"}});
    }
    return outcomes;
}

int inbox_writer::add_now(const std::vector<storage::new_event>& events) {
    int added = 0;
    if (events.empty()) return 0;
    ctx_.db.transaction([&] {
        for (const auto& e : events)
            if (ctx_.store.add_event(e)) ++added;
    });
    return added;
}

}  // namespace orderflow::daemon
