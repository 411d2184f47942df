// See inbox_writer.hpp.
#include "daemon/ingress/inbox_writer.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "daemon/storage_watch.hpp"
#include "daemon/telemetry.hpp"
#include "storage/checkpointer.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <iterator>
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
                           storage::checkpointer* checkpoints, std::chrono::milliseconds slow_commit)
    : ctx_(std::move(ctx)),
      watch_(watch),
      commit_time_(telemetry::timing("orderflow_inbox_commit_seconds")),
      slow_commit_(slow_commit) {
    db_ = std::make_unique<storage::database>(storage::database::open(ctx_.db.path(), storage::database::wal_writes::gathered));
    db_->set_busy_timeout(busy_timeout);
    if (checkpoints) checkpoints->serve(*db_);
    store_ = std::make_unique<storage::store>(*db_);
    thread_ = std::thread([this] { run(); });
}

inbox_writer::~inbox_writer() { stop(); }

void inbox_writer::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
        if (commits_ > 0)
            log::info("inbox_writer_stopped", {{"commits", commits_.load()}, {"events", committed_events_.load()}});
    }
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
        bool file_lost = false;
        const auto started = std::chrono::steady_clock::now();
        const auto outcomes = commit(batch, file_lost);
        // A commit that failed (logged as inbox_commit_failed, answered 503)
        // is not a time the disk took: only commits are timed.
        const bool committed = !outcomes.empty() && outcomes.front() != write_outcome::unavailable;
        if (committed) observe_commit(std::chrono::steady_clock::now() - started, batch.size());
        if (file_lost) {
            // The watch raises the alarm on the event loop (posted first, so
            // a caller there hears unavailable only after it is raised).
            asio::post(ctx_.ex, [watch = &watch_] { watch->lost(); });
        }
        answer(batch, outcomes);
    }
}

// A commit's time is what every webhook (or tracking submission) of its
// batch waited before its answer could go: the write lock, the writes, the
// WAL's fsync, which on a busy or failing disk can take seconds (TikTok
// gives up on an answer after 3 s and delivers the webhook again), and the
// checkpoint this connection makes itself when the WAL has grown to four
// times the checkpointer's threshold. A slow one is told, at most once a
// minute, with how many others were slow since the last line.
void inbox_writer::observe_commit(std::chrono::steady_clock::duration took, std::size_t waiting) {
    commit_time_.observe(std::chrono::duration<double>(took).count());
    if (took < slow_commit_) return;
    // The context's clock, called here on the writer's thread as the
    // listener calls it on its own.
    const std::int64_t now = ctx_.clock();
    if (!slow_told_.due(now)) return;
    log::warn("inbox_commit_slow",
              {{"ms", std::chrono::duration_cast<std::chrono::milliseconds>(took).count()},
               {"waiting", waiting},
               {"slow_since_last_line", slow_told_.held_back()},
               {"advice", "webhooks wait for this commit before their 200 (TikTok gives up after 3 s and delivers them again); "
                          "the time is mostly the disk making the write durable (fsync): check the disk and what else writes to it "
                          "(iostat -x, the host's storage), and orderflow_inbox_commit_seconds"}});
    slow_told_.told(now);
}

// One post per caller's executor for the whole batch (in the daemon, all of
// a batch's webhooks wait on the listener's thread), not one per webhook:
// each post takes that executor's lock and may wake its thread. The events
// go back with their answers and are freed there, on the thread that
// allocated them: freed here, each of their strings went back to the
// listener's malloc arena under its lock (about a twentieth of the writer's
// time in a profile; the rest of its time in free() is SQLite's own).
void inbox_writer::answer(std::vector<pending>& batch, const std::vector<write_outcome>& outcomes) {
    struct answered {
        asio::any_completion_handler<void(write_outcome)> done;
        write_outcome outcome;
        std::vector<storage::new_event> events;
    };
    std::vector<std::pair<asio::any_io_executor, std::vector<answered>>> by_executor;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto group = std::find_if(by_executor.begin(), by_executor.end(), [&](const auto& g) { return g.first == batch[i].work; });
        if (group == by_executor.end()) {
            by_executor.emplace_back(batch[i].work, std::vector<answered>{});
            group = std::prev(by_executor.end());
        }
        group->second.push_back({std::move(batch[i].done), outcomes[i], std::move(batch[i].events)});
    }
    for (auto& [work, list] : by_executor)
        asio::post(work, [list = std::move(list)]() mutable {
            for (auto& a : list) std::move(a.done)(a.outcome);
        });
}

std::vector<write_outcome> inbox_writer::commit(const std::vector<pending>& batch, bool& file_lost) {
    std::vector<write_outcome> outcomes(batch.size(), write_outcome::unavailable);
    // A commit into a deleted file is lost at the next start: 503, and TikTok retries.
    if (!db_->file_intact()) {
        file_lost = true;
        return outcomes;
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
        ++commits_;
        committed_events_ += rows;
    } catch (const std::exception& e) {
        outcomes.assign(batch.size(), write_outcome::unavailable);
        log_failed_commit(e.what(), batch.size());
    }
    return outcomes;
}

// While the disk is full every commit fails, and TikTok retries each webhook
// several times: one line per failed commit was dozens a minute saying the
// same thing. At most one a minute of ctx.clock, as the loops'
// *_storage_failed lines, with how many failed since the last line; each
// webhook still gets its 503.
void inbox_writer::log_failed_commit(const std::string& error, std::size_t events) {
    const std::int64_t now = ctx_.clock();
    if (!failed_told_.due(now)) return;
    log::error("inbox_commit_failed", {{"error", error}, {"events", events}, {"failed_since_last_line", failed_told_.held_back()},
                                       {"advice", "webhooks get 503 and TikTok retries them; check the disk and the database file"}});
    failed_told_.told(now);
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
