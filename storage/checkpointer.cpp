// See checkpointer.hpp.
#include "storage/checkpointer.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"

#include <chrono>
#include <ctime>
#include <string>

namespace orderflow::storage {

namespace {

// Passes never wait for a lock (PASSIVE), and start_over() tries once: with
// SQLite's own wait it slept up to 100 ms a try behind a busy writer, and a
// pipeline waiting in catch_up() with it (bench/README.md, nineteenth round).
database open_not_waiting(const std::filesystem::path& file) {
    auto db = database::open(file);
    db.set_busy_timeout(std::chrono::milliseconds(0));
    return db;
}

}  // namespace

checkpointer::checkpointer(const std::filesystem::path& file, int wal_pages)
    : db_(open_not_waiting(file)), threshold_(wal_pages), thread_([this] { run(); }) {}

checkpointer::~checkpointer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    for (auto& done : caught_up_) done();   // asked after the last pass
}

void checkpointer::catch_up(std::function<void()> done) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            caught_up_.push_back(std::move(done));
            due_ = true;
            done = nullptr;
        }
    }
    if (done) {
        done();
        return;
    }
    wake_.notify_one();
}

void checkpointer::serve(database& db, int self_at) {
    db.hand_off_checkpoints([this, self_at](int pages) { return wal_grew(pages, self_at); });
}

// Wakes the thread when the WAL passed the threshold, and again each time it
// grew by another threshold since the last pass looked (so not after every
// commit while a WAL that cannot start over yet stays long).
bool checkpointer::wal_grew(int pages, int self_at) {
    pages_.store(pages, std::memory_order_relaxed);
    if (pages >= self_at * threshold_) return true;
    {
        std::lock_guard lock(mutex_);
        if (pages < seen_) seen_ = 0;   // the WAL started over
        if (due_ || pages < seen_ + threshold_) return false;
        due_ = true;
    }
    wake_.notify_one();
    return false;
}

// A pass copies what was committed when it started; commits go on
// meanwhile, so it passes again (each pass shorter) until the WAL is copied
// whole, or a few times.
void checkpointer::run() {
    name_this_thread("of-checkpoint");
    using clock = std::chrono::steady_clock;
    clock::time_point last_failure_logged{};
    for (;;) {
        std::vector<std::function<void()>> waiting;   // catch_up's callers before these passes
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || due_; });
            if (stopping_) return;
            waiting.swap(caught_up_);
        }
        std::int64_t wal = 0;
        try {
            bool whole = false;
            for (int pass = 0; pass < 4 && !whole; ++pass) {
                auto st = db_.prepare("PRAGMA wal_checkpoint(PASSIVE)");
                st.step();
                wal = st.int64(1);
                whole = wal > 0 && st.int64(2) >= wal;
                ++checkpoints_;
            }
            if (whole) start_over();
            pages_.store(whole ? 0 : static_cast<int>(wal), std::memory_order_relaxed);
        } catch (const storage_error& e) {
            // The next wake tries again; a full disk is told by the commits too.
            if (clock::now() - last_failure_logged > std::chrono::minutes(1)) {
                last_failure_logged = clock::now();
                log::warn("checkpoint_failed", {{"error", e.what()},
                                                {"advice", "the WAL file grows until a checkpoint succeeds; check the disk"}});
            }
        }
        {
            std::lock_guard lock(mutex_);
            seen_ = static_cast<int>(wal);
            due_ = !caught_up_.empty();   // asked during these passes: one more round for them
        }
        for (auto& done : waiting) done();
    }
}

// The WAL starts over at the first write that finds it copied whole; until
// then a pass that copied everything leaves it as long as it was, for the
// next commit to find. So the thread writes first, right after such a pass:
// one row, crash-safe only (no fsync while it holds the write lock). When
// no commit came in between, that write starts the WAL over; when one did,
// it costs a page and a later pass tries again. It never waits for the lock:
// a connection that holds it is writing, which is the commit that came
// first. Under a drain the pipeline commits during every pass, so a pass
// seldom ends whole; the pipeline then waits for catch_up(), and a commit
// at its connection's `self_at` thresholds checkpoints itself
// (bench/README.md, eighteenth and nineteenth rounds).
void checkpointer::start_over() {
    try {
        db_.transaction([&] {
            auto st = db_.prepare(
                "INSERT INTO daemon_state (name, value, updated_at) VALUES ('wal_start_over', ?1, ?2) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at");
            st.bind(1, std::to_string(starts_over_ + 1)).bind(2, static_cast<std::int64_t>(std::time(nullptr)));
            st.step();
        }, database::durability::process_crash);
    } catch (const storage_error& e) {
        if (e.busy()) return;   // another connection is writing: its commit came first
        throw;
    }
    ++starts_over_;
}

}  // namespace orderflow::storage
