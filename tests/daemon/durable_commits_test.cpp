// Tests for daemon/durable_commits.hpp: durable() returns at once when
// nothing is unsynced, and otherwise only after a sync of the WAL file that
// began once the caller's commit was written; callers waiting together share
// a sync; a failed sync fails its waiters and every later call. A real
// database and a real thread; the sync itself is replaced where a test must
// hold it or make it fail.
#include "daemon/durable_commits.hpp"

#include "common/log.hpp"
#include "storage/checkpointer.hpp"
#include "storage/database.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/storage/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
namespace asio = boost::asio;
using orderflow::storage::testing::temp_dir;

namespace {

constexpr auto crash_safe = storage::database::durability::process_crash;

// A sync that records the file each call synced and can be held until
// released, or made to fail.
struct recorded_sync {
    std::mutex mutex;
    std::condition_variable cv;
    bool held = false;
    std::atomic<int> entered{0};
    std::vector<ino_t> files;   // the inode each call synced
    int error = 0;

    durable_commits::sync_fn fn() {
        return [this](int fd) {
            struct stat st {};
            ::fstat(fd, &st);
            std::unique_lock lock(mutex);
            files.push_back(st.st_ino);
            ++entered;
            cv.notify_all();
            cv.wait(lock, [&] { return !held; });
            if (error != 0) return error;
            return ::fdatasync(fd) == 0 ? 0 : errno;
        };
    }
    void release() {
        std::lock_guard lock(mutex);
        held = false;
        cv.notify_all();
    }
};

struct rig {
    temp_dir dir;
    asio::io_context io;
    storage::database db = storage::database::open(dir / "orderflow.db");
    recorded_sync sync;
    durable_commits durable{io.get_executor(), db, sync.fn()};

    rig() { db.exec("CREATE TABLE t (n INTEGER)"); }
    void commit(int n) {
        db.transaction([&] {
            auto st = db.prepare("INSERT INTO t (n) VALUES (?1)");
            st.bind(1, std::int64_t{n});
            st.step();
        }, crash_safe);
    }
    // Runs the io_context until `done` or 10 s.
    bool run_until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            io.restart();
            io.run_for(std::chrono::milliseconds(5));
        }
        return done();
    }
};

}  // namespace

TEST_CASE("durable() returns at once when nothing is unsynced, and after a crash-safe commit once the WAL file was synced", "[durable_commits]") {
    rig r;
    bool done = false;
    asio::co_spawn(r.io, [&]() -> asio::awaitable<void> {
        co_await r.durable.durable();   // the table's creation was a full commit: nothing to sync
        done = true;
    }, asio::detached);
    REQUIRE(r.run_until([&] { return done; }));
    CHECK(r.durable.syncs() == 0);

    r.commit(1);
    REQUIRE(r.db.has_unsynced_commits());
    done = false;
    asio::co_spawn(r.io, [&]() -> asio::awaitable<void> {
        co_await r.durable.durable();
        done = true;
    }, asio::detached);
    REQUIRE(r.run_until([&] { return done; }));
    CHECK(r.durable.syncs() == 1);
    CHECK_FALSE(r.db.has_unsynced_commits());
    // The file synced is the WAL SQLite writes.
    struct stat wal {};
    REQUIRE(::stat((r.db.path().string() + "-wal").c_str(), &wal) == 0);
    REQUIRE(r.sync.files.size() == 1);
    CHECK(r.sync.files[0] == wal.st_ino);
}

TEST_CASE("Callers that commit while a sync runs share the next one, and none returns before a sync that began after its commit", "[durable_commits]") {
    rig r;
    r.sync.held = true;
    std::vector<int> returned;
    auto lane = [&](int n) -> asio::awaitable<void> {
        r.commit(n);
        co_await r.durable.durable();
        returned.push_back(n);
    };
    asio::co_spawn(r.io, lane(0), asio::detached);
    // The first lane's sync is under way (held); the loop goes on meanwhile.
    REQUIRE(r.run_until([&] { return r.sync.entered == 1; }));
    for (int n = 1; n <= 19; ++n) asio::co_spawn(r.io, lane(n), asio::detached);
    r.io.restart();
    r.io.run_for(std::chrono::milliseconds(50));
    CHECK(returned.empty());   // the sync that began before their commits covers none of them
    CHECK(r.sync.entered == 1);

    r.sync.release();
    REQUIRE(r.run_until([&] { return returned.size() == 20; }));
    CHECK(returned.front() == 0);
    CHECK(r.durable.syncs() == 2);   // 20 callers, two syncs
    CHECK_FALSE(r.db.has_unsynced_commits());
}

TEST_CASE("A failed sync fails its waiters and every later call, and says what to do", "[durable_commits]") {
    orderflow::testing::log_capture logs;
    rig r;
    r.sync.error = EIO;
    r.commit(1);
    std::string first, second;
    bool done = false;
    asio::co_spawn(r.io, [&]() -> asio::awaitable<void> {
        try {
            co_await r.durable.durable();
        } catch (const storage::storage_error& e) {
            first = e.what();
            CHECK(e.code() == SQLITE_IOERR_FSYNC);
        }
        // Whatever comes after: refused at once, without another sync.
        try {
            co_await r.durable.durable();
        } catch (const storage::storage_error& e) {
            second = e.what();
        }
        done = true;
    }, asio::detached);
    REQUIRE(r.run_until([&] { return done; }));
    CHECK_THAT(first, Catch::Contains("fdatasync of " + r.db.path().string() + "-wal failed") && Catch::Contains("restart orderflowd"));
    CHECK(second == first);
    CHECK(r.durable.syncs() == 1);
    CHECK(r.db.has_unsynced_commits());
    const auto said = orderflow::testing::log_lines(logs.finish(), "wal_sync_failed");
    REQUIRE(said.size() == 1);
    CHECK_THAT(said[0].value("advice", ""), Catch::Contains("restart"));
}

TEST_CASE("let_wal_catch_up returns at once without a checkpointer or a long WAL, and otherwise once the WAL started over", "[durable_commits]") {
    rig r;
    bool done = false;
    auto wait = [&]() -> asio::awaitable<void> {
        co_await r.durable.let_wal_catch_up();
        done = true;
    };
    asio::co_spawn(r.io, wait(), asio::detached);
    REQUIRE(r.run_until([&] { return done; }));
    CHECK(r.durable.catch_ups() == 0);   // no checkpointer

    r.db.hand_off_checkpoints([](int) { return false; });
    for (int i = 0; i < 120; ++i) r.commit(i);
    storage::checkpointer ck(r.db.path(), 50);
    r.durable.checkpoints_by(ck);
    done = false;
    asio::co_spawn(r.io, wait(), asio::detached);
    REQUIRE(r.run_until([&] { return done; }));
    CHECK(r.durable.catch_ups() == 0);   // nobody said the WAL is long

    ck.serve(r.db);
    CHECK_FALSE(ck.wal_grew(120));   // as the last commit would have
    done = false;
    asio::co_spawn(r.io, wait(), asio::detached);
    REQUIRE(r.run_until([&] { return done; }));
    CHECK(r.durable.catch_ups() == 1);
    CHECK(ck.starts_over() >= 1);
    auto st = r.db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    st.step();
    CHECK(st.int64(1) < 5);
    r.db.hand_off_checkpoints({});
}

}  // namespace ORDERFLOW_TEST_FILE
