// Tests for database::wal_writes::gathered (storage/detail/batched_wal.cpp):
// a connection's WAL writes gathered into one write per commit, with every
// commit still on disk when it returns and visible to other connections,
// and nothing held for a rolled-back transaction written later over another
// connection's frames.
#include "storage/database.hpp"
#include "storage/detail/batched_wal.hpp"

#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::storage::database;
using orderflow::storage::testing::temp_dir;

namespace {

constexpr auto gathered = database::wal_writes::gathered;

std::int64_t count(database& db, const std::string& sql) {
    auto st = db.prepare(sql);
    REQUIRE(st.step());
    return st.int64(0);
}

std::string integrity(database& db) {
    auto st = db.prepare("PRAGMA integrity_check");
    REQUIRE(st.step());
    return st.text(0);
}

// A new database with the table t, through a connection that writes as SQLite does.
database with_table(const temp_dir& dir) {
    auto plain = database::open(dir / "of.db");
    plain.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, n INTEGER, body BLOB)");
    return plain;
}

// Rows of 300 bytes: 40 of them, with the index on body, are 12 pages (each a WAL frame).
void insert_rows(database& db, const std::string& who, int from, int n) {
    auto st = db.prepare("INSERT INTO t(who, n, body) VALUES (?, ?, ?)");
    for (int i = from; i < from + n; ++i) {
        st.reset();
        st.bind(1, who);
        st.bind(2, static_cast<std::int64_t>(i));
        st.bind(3, std::string(300, static_cast<char>('a' + i % 26)));
        st.step();
    }
}

}  // namespace

TEST_CASE("A connection that gathers its WAL writes makes one write per commit, and others read every row at once",
          "[database][wal]") {
    temp_dir dir;
    auto plain = with_table(dir);
    plain.exec("CREATE INDEX t_body ON t(body)");   // more pages per commit
    auto writer = database::open(dir / "of.db", gathered);

    writer.transaction([&] { insert_rows(writer, "w", 0, 5); });   // the WAL's header is written and synced once
    const long before = orderflow::storage::detail::batched_wal_writes_made();
    writer.transaction([&] { insert_rows(writer, "w", 5, 40); });
    const long writes = orderflow::storage::detail::batched_wal_writes_made() - before;
    // 40 rows of 300 bytes and their index entries are 12 pages (49 KB of
    // WAL), which SQLite writes as two calls each: here, one call.
    CHECK(writes == 1);

    // A commit larger than the default VFS writes in one call (128 KiB):
    // in pieces of that size, and nothing is refused as a full disk.
    const long before_large = orderflow::storage::detail::batched_wal_writes_made();
    writer.transaction([&] { insert_rows(writer, "w", 45, 1000); });
    const long large_writes = orderflow::storage::detail::batched_wal_writes_made() - before_large;
    CHECK(large_writes >= 5);    // more than 0.5 MB of frames
    CHECK(large_writes <= 12);   // not one per frame
    CHECK(count(plain, "SELECT count(*) FROM t WHERE who = 'w'") == 1045);
    CHECK(count(writer, "PRAGMA wal_checkpoint(PASSIVE)") == 0);   // checkpoint ran without error
    CHECK(integrity(plain) == "ok");
}

TEST_CASE("A gathering connection's commits survive closing every connection, and each is durable to power loss",
          "[database][wal]") {
    temp_dir dir;
    {
        auto plain = with_table(dir);
        auto writer = database::open(dir / "of.db", gathered);
        for (int i = 0; i < 10; ++i) writer.transaction([&] { insert_rows(writer, "w", i * 10, 10); });
        // A gathering connection never commits without its fsync.
        writer.transaction([&] { insert_rows(writer, "w", 100, 1); }, database::durability::process_crash);
        CHECK_FALSE(writer.has_unsynced_commits());
    }
    auto again = database::open(dir / "of.db");
    CHECK(count(again, "SELECT count(*) FROM t") == 101);
    CHECK(integrity(again) == "ok");
}

TEST_CASE("What a rolled-back transaction held is never written over another connection's later commit",
          "[database][wal]") {
    temp_dir dir;
    auto plain = with_table(dir);
    auto writer = database::open(dir / "of.db", gathered);
    writer.transaction([&] { insert_rows(writer, "w", 0, 10); });
    // A small page cache spills a large transaction's pages to the WAL
    // before it commits: frames are held (some written when SQLite reads a
    // spilled page back, harmless while the writer holds the write lock),
    // then the transaction is rolled back.
    writer.exec("PRAGMA cache_size = 10");
    CHECK_THROWS_AS(writer.transaction([&] {
        insert_rows(writer, "w", 10, 400);
        throw std::runtime_error("the body failed");
    }),
                    std::runtime_error);
    // The other connection appends its frames where the held ones would have gone.
    plain.transaction([&] { insert_rows(plain, "p", 0, 400); });
    // The writer's next commit starts after them; had it written what it
    // held, the other connection's frames would be overwritten.
    writer.transaction([&] { insert_rows(writer, "w", 10, 5); });

    CHECK(count(plain, "SELECT count(*) FROM t WHERE who = 'p'") == 400);
    CHECK(count(plain, "SELECT count(*) FROM t WHERE who = 'w'") == 15);
    CHECK(integrity(plain) == "ok");
    plain.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    auto fresh = database::open(dir / "of.db");
    CHECK(count(fresh, "SELECT count(*) FROM t") == 415);
    CHECK(integrity(fresh) == "ok");
}

TEST_CASE("A gathering writer, a relaxed writer and checkpoints that restart the WAL, on three threads, lose nothing",
          "[database][wal]") {
    temp_dir dir;
    with_table(dir);
    std::atomic<bool> writing{true};
    std::atomic<int> failures{0};
    auto guarded = [&](auto body) {
        return [&, body] {
            try {
                body();
            } catch (const std::exception& e) {
                ++failures;
                UNSCOPED_INFO(e.what());
            }
        };
    };
    std::thread gathering(guarded([&] {
        auto db = database::open(dir / "of.db", gathered);
        for (int i = 0; i < 150; ++i) db.transaction([&] { insert_rows(db, "g", i * 8, 8); });
    }));
    std::thread relaxed(guarded([&] {
        auto db = database::open(dir / "of.db");
        for (int i = 0; i < 150; ++i)
            db.transaction([&] { insert_rows(db, "r", i * 3, 3); },
                           i % 2 ? database::durability::process_crash : database::durability::power_loss);
    }));
    std::thread checkpoints(guarded([&] {
        auto db = database::open(dir / "of.db");
        for (int i = 0; writing; ++i) {
            db.exec(i % 4 == 0 ? "PRAGMA wal_checkpoint(RESTART)" : "PRAGMA wal_checkpoint(PASSIVE)");
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }));
    gathering.join();
    relaxed.join();
    writing = false;
    checkpoints.join();
    REQUIRE(failures == 0);

    auto db = database::open(dir / "of.db");
    CHECK(count(db, "SELECT count(*) FROM t WHERE who = 'g'") == 1200);
    CHECK(count(db, "SELECT count(DISTINCT n) FROM t WHERE who = 'g'") == 1200);
    CHECK(count(db, "SELECT count(*) FROM t WHERE who = 'r'") == 450);
    CHECK(integrity(db) == "ok");
}

}  // namespace ORDERFLOW_TEST_FILE
