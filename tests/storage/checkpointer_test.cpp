// Tests for storage/checkpointer.hpp: a connection that hands its
// checkpoints off stops checkpointing itself, the checkpointer's thread
// copies the WAL back and lets it start over, and a reader that never
// leaves the WAL is waited out by a RESTART. Real files, real threads: the
// checkpointer is asynchronous, so the checks wait (with a deadline) for what
// must eventually be true.
#include "storage/checkpointer.hpp"

#include "storage/database.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

bool eventually(const std::function<bool()>& ok) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        if (ok()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return ok();
}

// One commit of about one page (a 3,000-byte row).
void commit_a_page(database& db, int i) {
    db.transaction([&] {
        auto st = db.prepare("INSERT INTO filler (n, pad) VALUES (?1, ?2)");
        st.bind(1, std::int64_t{i}).bind(2, std::string(3000, static_cast<char>('a' + i % 26)));
        st.step();
    });
}

database filled_db(const fs::path& file) {
    auto db = database::open(file);
    db.exec("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY, pad TEXT NOT NULL)");
    return db;
}

std::uintmax_t wal_size(const fs::path& file) {
    std::error_code ec;
    auto n = fs::file_size(fs::path(file.string() + "-wal"), ec);
    return ec ? 0 : n;
}

// A database whose WAL holds `pages` commits of a page each that nobody has
// copied back yet (its connection hands its checkpoints to no one until a
// test serves it).
database uncopied_wal(const fs::path& file, int pages) {
    auto db = filled_db(file);
    db.hand_off_checkpoints([](int) { return false; });
    for (int i = 0; i < pages; ++i) commit_a_page(db, i);
    return db;
}

std::int64_t rows(database& db) {
    auto st = db.prepare("SELECT count(*) FROM filler");
    st.step();
    return st.int64(0);
}

}  // namespace

TEST_CASE("A connection that hands off its checkpoints no longer makes them itself", "[checkpointer]") {
    temp_dir dir;
    auto db = filled_db(dir / "orderflow.db");
    db.hand_off_checkpoints([](int) { return false; });   // handed to no one
    for (int i = 0; i < 1500; ++i) commit_a_page(db, i);
    // SQLite's own checkpoint would have restarted the WAL near 1,000 pages.
    CHECK(wal_size(dir / "orderflow.db") > 1400 * 4096);

    db.hand_off_checkpoints({});   // back to SQLite: the next commit past 1,000 pages checkpoints
    commit_a_page(db, 1500);
    auto st = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    st.step();
    CHECK(st.int64(1) == st.int64(2));   // everything was copied already
}

TEST_CASE("The checkpointer copies the WAL back on its thread and the WAL starts over", "[checkpointer]") {
    temp_dir dir;
    auto db = filled_db(dir / "orderflow.db");
    checkpointer ck(dir / "orderflow.db", 100);
    ck.serve(db);
    for (int i = 0; i < 2000; ++i) {
        commit_a_page(db, i);
        if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(2));   // gives the thread a moment
    }
    REQUIRE(eventually([&] { return ck.checkpoints() > 0; }));
    // 2,000 commits of a page each, against a threshold of 100 pages: had
    // the WAL never restarted it would hold 2,000 pages.
    CHECK(wal_size(dir / "orderflow.db") < 1000 * 4096);
    CHECK(rows(db) == 2000);
    db.hand_off_checkpoints({});
}

TEST_CASE("At four thresholds the committing connection checkpoints itself, so the WAL starts over", "[checkpointer]") {
    temp_dir dir;
    auto db = filled_db(dir / "orderflow.db");
    checkpointer ck(dir / "orderflow.db", 50);
    ck.serve(db);
    CHECK_FALSE(ck.wal_grew(10));
    CHECK(ck.wal_grew(200));

    // A read transaction keeps its snapshot: nothing after it can be copied
    // back, so the WAL grows past four thresholds and cannot start over.
    commit_a_page(db, 0);
    auto reader = database::open(dir / "orderflow.db");
    reader.exec("BEGIN");
    CHECK(rows(reader) == 1);
    for (int i = 1; i < 400; ++i) commit_a_page(db, i);
    CHECK(wal_size(dir / "orderflow.db") > 350 * 4096);
    reader.exec("COMMIT");

    // The reader gone, the next commit copies the rest itself and the one
    // after starts the WAL over (or the one after that, should the thread's
    // pass have held the checkpoint at that moment).
    auto wal_frames = [&] {
        auto st = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
        st.step();
        return st.int64(1);
    };
    int n = 400;
    while (n < 410) {
        commit_a_page(db, n++);
        if (n > 401 && wal_frames() < 50) break;
    }
    CHECK(wal_frames() < 50);   // the WAL holds only what came after it started over
    CHECK(rows(db) == n);
    db.hand_off_checkpoints({});
}

TEST_CASE("A connection served to checkpoint itself later leaves four thresholds to the thread", "[checkpointer]") {
    temp_dir dir;
    auto db = filled_db(dir / "orderflow.db");
    checkpointer ck(dir / "orderflow.db", 50);
    ck.serve(db, 16);   // as the event loop's connection is (daemon/app.cpp)
    // The thread is woken, the committing connection is not asked to checkpoint.
    CHECK_FALSE(ck.wal_grew(200, 16));
    CHECK_FALSE(ck.wal_grew(799, 16));
    CHECK(ck.wal_grew(800, 16));
    CHECK(ck.wal_grew(200));   // another connection, served with four
    CHECK(eventually([&] { return ck.checkpoints() > 0; }));   // the thread was woken and ran its passes
    db.hand_off_checkpoints({});
}

TEST_CASE("A checkpointer stops at once when nothing is due", "[checkpointer]") {
    temp_dir dir;
    auto db = filled_db(dir / "orderflow.db");
    {
        checkpointer ck(dir / "orderflow.db");
        ck.serve(db);
        commit_a_page(db, 1);
        CHECK(ck.checkpoints() == 0);   // one page is far below the threshold
        db.hand_off_checkpoints({});
    }
    commit_a_page(db, 2);
    CHECK(rows(db) == 2);
}

TEST_CASE("After a pass that copied the whole WAL the checkpointer starts it over itself, before any other commit", "[checkpointer]") {
    temp_dir dir;
    auto db = uncopied_wal(dir / "orderflow.db", 120);
    checkpointer ck(dir / "orderflow.db", 50);
    ck.serve(db);
    CHECK_FALSE(ck.wal_grew(120));   // wakes the thread, as the last commit would have
    // No commit after these: only the thread's own write can start the WAL
    // over. Before, the WAL kept its 120 pages until the next commit.
    REQUIRE(eventually([&] { return ck.starts_over() > 0; }));
    auto st = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    st.step();
    CHECK(st.int64(1) < 5);   // the WAL holds the thread's write, not the 120 pages
    CHECK(rows(db) == 120);
    db.hand_off_checkpoints({});
}

TEST_CASE("catch_up runs the passes at once, starts the WAL over and calls back, and behind() says when the WAL is two thresholds long", "[checkpointer]") {
    temp_dir dir;
    auto db = uncopied_wal(dir / "orderflow.db", 120);
    checkpointer ck(dir / "orderflow.db", 50);
    CHECK_FALSE(ck.behind());   // nobody said how long the WAL is
    CHECK_FALSE(ck.wal_grew(99));
    CHECK_FALSE(ck.behind());
    // A commit at 120 pages would wake the thread; a writer that sees it
    // behind waits for it instead of committing.
    ck.serve(db);
    CHECK_FALSE(ck.wal_grew(120));
    CHECK(ck.behind());
    std::atomic<int> called{0};
    ck.catch_up([&] { ++called; });
    REQUIRE(eventually([&] { return called.load() == 1; }));
    CHECK(ck.starts_over() >= 1);
    CHECK_FALSE(ck.behind());
    auto st = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    st.step();
    CHECK(st.int64(1) < 5);   // started over before any other commit
    CHECK(rows(db) == 120);
    db.hand_off_checkpoints({});
}

TEST_CASE("A catch_up while another connection writes does not wait for its lock, and the next one starts the WAL over", "[checkpointer]") {
    temp_dir dir;
    auto db = uncopied_wal(dir / "orderflow.db", 120);
    checkpointer ck(dir / "orderflow.db", 50);
    ck.serve(db);
    auto writer = database::open(dir / "orderflow.db");
    writer.exec("BEGIN IMMEDIATE");   // a write under way, as the inbox writer's nearly always is in a burst
    orderflow::testing::log_capture logs;
    std::atomic<int> called{0};
    ck.catch_up([&] { ++called; });
    // The writer commits a second later, or once the round is over. Had the
    // thread's own write waited for the lock (SQLite's wait: up to 5 s),
    // it would have got it then and started the WAL over.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (called.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    writer.exec("INSERT INTO filler (n, pad) VALUES (1000, 'x')");
    writer.exec("COMMIT");
    REQUIRE(eventually([&] { return called.load() == 1; }));
    // The passes copied everything; the thread's own write found the lock
    // taken and gave way at once.
    CHECK(ck.starts_over() == 0);
    CHECK(orderflow::testing::log_lines(logs.finish(), "checkpoint_failed").empty());
    // The next round, with nobody writing, ends with the WAL started over.
    ck.catch_up([&] { ++called; });
    REQUIRE(eventually([&] { return called.load() == 2; }));
    CHECK(ck.starts_over() == 1);
    auto st = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    st.step();
    CHECK(st.int64(1) < 5);   // the WAL holds the thread's write only
    CHECK(rows(db) == 121);
    db.hand_off_checkpoints({});
}

TEST_CASE("A catch_up asked as the checkpointer stops is still called back", "[checkpointer]") {
    temp_dir dir;
    auto db = filled_db(dir / "orderflow.db");
    int called = 0;
    {
        checkpointer ck(dir / "orderflow.db");
        ck.catch_up([&] { ++called; });
    }
    CHECK(called == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
