// Tests for storage/database.hpp: pragmas, migrations, transactions,
// statements, error classification and the messages an operator sees when the
// database cannot be opened.
#include "storage/database.hpp"

#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <stdexcept>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::storage::database;
using orderflow::storage::statement;
using orderflow::storage::storage_error;
using orderflow::storage::testing::temp_dir;

namespace {

std::int64_t count_rows(database& db, const std::string& table) {
    auto st = db.prepare("SELECT count(*) FROM " + table);
    REQUIRE(st.step());
    return st.int64(0);
}

std::string pragma_text(database& db, const std::string& name) {
    auto st = db.prepare("PRAGMA " + name);
    REQUIRE(st.step());
    return st.text(0);
}

// The message of the storage_error that opening file throws ("" if none).
std::string open_error(const std::filesystem::path& file) {
    try {
        database::open(file);
    } catch (const storage_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("Opening a database sets WAL, full sync, a busy timeout, foreign keys and temporary data in memory", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK(pragma_text(db, "journal_mode") == "wal");
    CHECK(pragma_text(db, "synchronous") == "2");  // FULL
    CHECK(pragma_text(db, "busy_timeout") == "5000");
    CHECK(pragma_text(db, "foreign_keys") == "1");
    CHECK(pragma_text(db, "temp_store") == "2");   // MEMORY
    CHECK(db.path() == dir / "orderflow.db");
}

TEST_CASE("Opening a new database creates every table at the latest schema version", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK(database::latest_schema_version() >= 1);
    CHECK(db.schema_version() == database::latest_schema_version());
    for (const char* table : {"inbox", "orders", "outbox", "conversations", "audit_log", "vault"}) {
        INFO(table);
        auto st = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
        st.bind(1, std::string_view(table));
        REQUIRE(st.step());
        CHECK(st.int64(0) == 1);
    }
}

TEST_CASE("Reopening a database keeps its data and runs no migration twice", "[database]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    {
        auto db = database::open(file);
        db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o1', 'UNPAID', '{}', 1)");
    }
    for (int i = 0; i < 2; ++i) {
        // A migration that ran again would fail on CREATE TABLE (or wipe data).
        auto db = database::open(file);
        CHECK(db.schema_version() == database::latest_schema_version());
        CHECK(count_rows(db, "orders") == 1);
    }
}

TEST_CASE("A database written by a newer build is refused with a message saying so", "[database]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    {
        auto db = database::open(file);
        db.exec("PRAGMA user_version = " + std::to_string(database::latest_schema_version() + 1));
    }
    const std::string message = open_error(file);
    CHECK_THAT(message, Catch::Contains(file.string()));
    CHECK_THAT(message, Catch::Contains("newer than this build"));
}

TEST_CASE("A transaction commits its writes and returns the body's value", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    int answer = db.transaction([&] {
        CHECK(db.in_transaction());
        db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o1', 'UNPAID', '{}', 1)");
        return 42;
    });
    CHECK(answer == 42);
    CHECK_FALSE(db.in_transaction());
    CHECK(count_rows(db, "orders") == 1);

    SECTION("and a void body works too") {
        db.transaction([&] { db.exec("DELETE FROM orders"); });
        CHECK(count_rows(db, "orders") == 0);
    }
}

TEST_CASE("A transaction whose body throws is rolled back and the exception propagates", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");

    SECTION("an exception of the body's own") {
        CHECK_THROWS_WITH(db.transaction([&] {
            db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o1', 'UNPAID', '{}', 1)");
            throw std::runtime_error("rule engine blew up");
        }),
                          "rule engine blew up");
    }
    SECTION("a storage_error from a later statement in the body") {
        CHECK_THROWS_AS(db.transaction([&] {
            db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o1', 'UNPAID', '{}', 1)");
            db.exec("INSERT INTO inbox (dedupe_key, source, event, payload, received_at, state) "
                    "VALUES ('k', 'webhook', 'x', '{}', 1, 'no-such-state')");
        }),
                        storage_error);
    }
    CHECK_FALSE(db.in_transaction());
    CHECK(count_rows(db, "orders") == 0);

    // The connection is usable again afterwards.
    db.transaction([&] {
        db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o2', 'UNPAID', '{}', 1)");
    });
    CHECK(count_rows(db, "orders") == 1);
}

TEST_CASE("A committed transaction is visible to another connection", "[database]") {
    temp_dir dir;
    auto writer = database::open(dir / "orderflow.db");
    auto reader = database::open(dir / "orderflow.db");
    writer.transaction([&] {
        writer.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o1', 'UNPAID', '{}', 1)");
        CHECK(count_rows(reader, "orders") == 0);  // not before COMMIT
    });
    CHECK(count_rows(reader, "orders") == 1);
}

TEST_CASE("Statements bind and read back integers, text, NULL and blobs", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    db.exec("CREATE TABLE t (i INTEGER, s TEXT, n TEXT, b BLOB)");
    const std::string with_nul("a\0b", 3);
    const unsigned char raw[] = {0x00, 0xff, 0x10};
    auto insert = db.prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4)");
    insert.bind(1, std::int64_t{-9'000'000'000}).bind(2, with_nul).bind(3, nullptr).bind_blob(4, raw);
    CHECK_FALSE(insert.step());
    CHECK(db.changes() == 1);
    CHECK(db.last_insert_rowid() == 1);

    auto st = db.prepare("SELECT i, s, n, b FROM t");
    REQUIRE(st.step());
    CHECK(st.int64(0) == -9'000'000'000);
    CHECK(st.text(1) == with_nul);
    CHECK(st.text_or_null(1) == with_nul);
    CHECK(st.is_null(2));
    CHECK(st.text(2).empty());
    CHECK_FALSE(st.text_or_null(2).has_value());
    CHECK(st.blob(3) == std::vector<unsigned char>{0x00, 0xff, 0x10});
    CHECK_FALSE(st.step());

    SECTION("reset steps the same query again") {
        st.reset();
        REQUIRE(st.step());
        CHECK(st.int64(0) == -9'000'000'000);
    }
    SECTION("an empty string is stored as '' and not as NULL") {
        db.prepare("DELETE FROM t").step();
        db.prepare("INSERT INTO t (s) VALUES (?1)").bind(1, std::string_view{}).step();
        auto q = db.prepare("SELECT s IS NULL, s FROM t");
        REQUIRE(q.step());
        CHECK(q.int64(0) == 0);
        CHECK(q.text_or_null(1) == std::string{});
    }
}

TEST_CASE("A statement handed back to the cache starts fresh when prepared again", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    db.exec("CREATE TABLE t (i INTEGER)");
    db.exec("INSERT INTO t VALUES (1), (2), (3)");
    const std::string sql = "SELECT i FROM t WHERE i >= ?1 ORDER BY i";
    {
        auto st = db.prepare(sql);
        st.bind(1, std::int64_t{2});
        REQUIRE(st.step());
        CHECK(st.int64(0) == 2);
        // Destroyed mid-iteration: must not keep a read transaction open.
    }
    db.exec("INSERT INTO t VALUES (4)");
    auto again = db.prepare(sql);
    again.bind(1, std::int64_t{4});
    REQUIRE(again.step());
    CHECK(again.int64(0) == 4);

    SECTION("two copies of the same SQL can be open at once") {
        auto other = db.prepare(sql);
        other.bind(1, std::int64_t{1});
        REQUIRE(other.step());
        CHECK(other.int64(0) == 1);
        CHECK(again.int64(0) == 4);
    }
}

TEST_CASE("A statement that outlives its database can still be destroyed", "[database]") {
    temp_dir dir;
    statement survivor;
    {
        auto db = database::open(dir / "orderflow.db");
        survivor = db.prepare("SELECT 1");
    }
    survivor = statement{};  // finalizes; must not touch the freed connection
    SUCCEED();
}

TEST_CASE("prepare refuses more than one statement", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK_THROWS_AS(db.prepare("SELECT 1; SELECT 2"), storage_error);
    CHECK_NOTHROW(db.prepare("SELECT 1;"));
}

TEST_CASE("Failed statements throw storage_error carrying the SQLite extended code", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");

    SECTION("a CHECK constraint") {
        auto st = db.prepare(
            "INSERT INTO inbox (dedupe_key, source, event, payload, received_at, state) "
            "VALUES ('k', 'webhook', 'x', '{}', 1, 'bogus')");
        try {
            st.step();
            FAIL("no exception");
        } catch (const storage_error& e) {
            CHECK(e.code() == SQLITE_CONSTRAINT_CHECK);
            CHECK_FALSE(e.busy());
            CHECK_FALSE(e.full());
            CHECK_THAT(e.what(), Catch::Contains("orderflow.db"));
        }
    }
    SECTION("a syntax error in exec") {
        try {
            db.exec("SELEKT 1");
            FAIL("no exception");
        } catch (const storage_error& e) {
            CHECK((e.code() & 0xff) == SQLITE_ERROR);
            CHECK_THAT(e.what(), Catch::Contains("SELEKT"));
        }
    }
    SECTION("another connection holding the write lock is reported as busy") {
        auto other = database::open(dir / "orderflow.db");
        other.exec("PRAGMA busy_timeout = 0");  // fail at once instead of waiting 5 s
        db.transaction([&] {
            db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o1', 'UNPAID', '{}', 1)");
            try {
                other.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('o2', 'X', '{}', 1)");
                FAIL("no exception");
            } catch (const storage_error& e) {
                CHECK(e.busy());
                CHECK_FALSE(e.full());
            }
        });
    }
}

TEST_CASE("storage_error classifies full disks and I/O errors", "[database]") {
    using Catch::Generators::table;
    auto [code, busy, full] = GENERATE(table<int, bool, bool>({
        {SQLITE_FULL, false, true},
        {SQLITE_IOERR_WRITE, false, true},
        {SQLITE_IOERR_FSYNC, false, true},
        {SQLITE_BUSY, true, false},
        {SQLITE_BUSY_SNAPSHOT, true, false},
        {SQLITE_LOCKED, true, false},
        {SQLITE_CONSTRAINT_UNIQUE, false, false},
        {0, false, false},
    }));
    storage_error e(code, "x");
    CHECK(e.code() == code);
    CHECK(e.busy() == busy);
    CHECK(e.full() == full);
}

TEST_CASE("Opening a database where it cannot be created gives a clear storage_error", "[database]") {
    temp_dir dir;

    SECTION("the directory does not exist") {
        const auto file = dir / "missing" / "orderflow.db";
        const std::string message = open_error(file);
        CHECK_THAT(message, Catch::Contains(file.string()));
        CHECK_THAT(message, Catch::Contains("does not exist"));
        CHECK_THAT(message, Catch::Contains("storage.path"));
        CHECK_FALSE(std::filesystem::exists(dir / "missing"));
    }
    SECTION("the directory is a regular file") {
        std::ofstream(dir / "plain").put('x');
        const std::string message = open_error(dir / "plain" / "orderflow.db");
        CHECK_THAT(message, Catch::Contains("is not a directory"));
    }
    SECTION("the path is a directory") {
        std::filesystem::create_directory(dir / "db");
        CHECK_THAT(open_error(dir / "db"), Catch::Contains("is a directory"));
    }
    SECTION("the directory is not writable") {
        if (::geteuid() == 0) {
            // root ignores permission bits; /proc refuses new files even to root.
            const std::string message = open_error("/proc/orderflow-storage-test.db");
            CHECK_THAT(message, Catch::Contains("cannot open database /proc/orderflow-storage-test.db"));
            CHECK_THAT(message, Catch::Contains("writable"));
        } else {
            std::filesystem::create_directory(dir / "ro");
            std::filesystem::permissions(dir / "ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
            const std::string message = open_error(dir / "ro" / "orderflow.db");
            CHECK_THAT(message, Catch::Contains((dir / "ro" / "orderflow.db").string()));
            CHECK_THAT(message, Catch::Contains("writable"));
        }
    }
    SECTION("the file is not a database") {
        std::ofstream(dir / "notes.txt") << std::string(4096, 'x');
        const std::string message = open_error(dir / "notes.txt");
        CHECK_THAT(message, Catch::Contains("notes.txt"));
        CHECK_THAT(message, Catch::Contains("not an SQLite database"));
        CHECK(message.find("notes.txt") == message.rfind("notes.txt"));  // named once, not repeated
    }
}

TEST_CASE("open_existing refuses a missing database and creates nothing but opens one that exists", "[database]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    for (const auto& missing : {file, dir / "missing" / "orderflow.db"}) {
        CAPTURE(missing);
        std::string message;
        try {
            database::open_existing(missing);
        } catch (const storage_error& e) {
            message = e.what();
            CHECK((e.code() & 0xff) == SQLITE_CANTOPEN);
        }
        CHECK(message == "no database at " + missing.string() + ": has orderflowd run here? is storage.path right?");
    }
    CHECK(std::filesystem::is_empty(dir.path()));

    database::open(file).exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)");
    auto db = database::open_existing(file);
    CHECK(count_rows(db, "t") == 1);
}

TEST_CASE("hash_key is lowercase hex SHA-256", "[database]") {
    using orderflow::storage::hash_key;
    CHECK(hash_key("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hash_key("rule-1|0|order:123") != hash_key("rule-1|0|order:124"));
}

TEST_CASE("A new database file is created readable and writable by its owner only, whatever the umask", "[database]") {
    temp_dir dir;
    const mode_t old = ::umask(0);
    auto db = database::open(dir.path() / "new.db");
    ::umask(old);
    struct stat st {};
    REQUIRE(::stat((dir.path() / "new.db").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // SQLite gives the WAL the main file's mode.
    db.exec("CREATE TABLE t (x INTEGER)");
    REQUIRE(::stat((dir.path() / "new.db-wal").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("file_intact says whether the path still names the file that was opened", "[database]") {
    temp_dir dir;
    const auto path = dir.path() / "orders.db";
    auto db = database::open(path);
    CHECK(db.file_intact());
    SECTION("deleted") {
        std::filesystem::remove(path);
        CHECK_FALSE(db.file_intact());
    }
    SECTION("moved away and back") {
        std::filesystem::rename(path, dir.path() / "aside.db");
        CHECK_FALSE(db.file_intact());
        std::filesystem::rename(dir.path() / "aside.db", path);
        CHECK(db.file_intact());
    }
    SECTION("replaced by another file") {
        std::filesystem::remove(path);
        std::ofstream(path) << "x";
        CHECK_FALSE(db.file_intact());
    }
    SECTION("moved away, another program opens a new file at the path, moved back: its write-ahead log is gone") {
        db.exec("CREATE TABLE t (x)");
        std::filesystem::rename(path, dir.path() / "aside.db");
        // Another program (the sqlite3 shell, an old orderflowctl) opens the
        // path: a new file, which takes the -wal left there as its own and,
        // as its last connection, deletes it on close.
        sqlite3* stray = nullptr;
        REQUIRE(sqlite3_open_v2(path.c_str(), &stray, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
        sqlite3_exec(stray, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
        sqlite3_exec(stray, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
        sqlite3_close(stray);
        REQUIRE_FALSE(std::filesystem::exists(dir.path() / "orders.db-wal"));
        std::filesystem::remove(path);
        std::filesystem::rename(dir.path() / "aside.db", path);
        CHECK_FALSE(db.file_intact());
    }
}

namespace {

// A VFS over the default one that counts xSync calls (fsync, fdatasync):
// registered as the default for one test, so database::open uses it and the
// test sees how many times a commit went to the disk.
struct counting_file {
    sqlite3_file base;
    sqlite3_file* real;   // lives right after this struct
};

int syncs = 0;
sqlite3_vfs* real_vfs = nullptr;
sqlite3_io_methods counting_methods{};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<counting_file*>(f)->real; }

int counting_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    auto* cf = reinterpret_cast<counting_file*>(file);
    cf->real = reinterpret_cast<sqlite3_file*>(cf + 1);
    int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
    // xClose is called on the file even when xOpen fails, if methods are set.
    cf->base.pMethods = cf->real->pMethods ? &counting_methods : nullptr;
    if (cf->real->pMethods && counting_methods.iVersion == 0) {
        const sqlite3_io_methods* m = cf->real->pMethods;
        counting_methods = *m;
        counting_methods.xClose = [](sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); };
        counting_methods.xRead = [](sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return real_of(f)->pMethods->xRead(real_of(f), b, n, o); };
        counting_methods.xWrite = [](sqlite3_file* f, const void* b, int n, sqlite3_int64 o) { return real_of(f)->pMethods->xWrite(real_of(f), b, n, o); };
        counting_methods.xTruncate = [](sqlite3_file* f, sqlite3_int64 n) { return real_of(f)->pMethods->xTruncate(real_of(f), n); };
        counting_methods.xSync = [](sqlite3_file* f, int fl) {
            ++syncs;
            return real_of(f)->pMethods->xSync(real_of(f), fl);
        };
        counting_methods.xFileSize = [](sqlite3_file* f, sqlite3_int64* n) { return real_of(f)->pMethods->xFileSize(real_of(f), n); };
        counting_methods.xLock = [](sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); };
        counting_methods.xUnlock = [](sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); };
        counting_methods.xCheckReservedLock = [](sqlite3_file* f, int* r) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), r); };
        counting_methods.xFileControl = [](sqlite3_file* f, int op, void* a) { return real_of(f)->pMethods->xFileControl(real_of(f), op, a); };
        counting_methods.xSectorSize = [](sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); };
        counting_methods.xDeviceCharacteristics = [](sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); };
        counting_methods.xShmMap = [](sqlite3_file* f, int r, int sz, int e, void volatile** p) { return real_of(f)->pMethods->xShmMap(real_of(f), r, sz, e, p); };
        counting_methods.xShmLock = [](sqlite3_file* f, int o, int n, int fl) { return real_of(f)->pMethods->xShmLock(real_of(f), o, n, fl); };
        counting_methods.xShmBarrier = [](sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); };
        counting_methods.xShmUnmap = [](sqlite3_file* f, int d) { return real_of(f)->pMethods->xShmUnmap(real_of(f), d); };
        counting_methods.xFetch = [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return real_of(f)->pMethods->xFetch(real_of(f), o, n, p); };
        counting_methods.xUnfetch = [](sqlite3_file* f, sqlite3_int64 o, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), o, p); };
    }
    return rc;
}

// Registered as the default VFS while it lives.
class counting_vfs {
public:
    counting_vfs() {
        real_vfs = sqlite3_vfs_find(nullptr);
        vfs_ = *real_vfs;
        vfs_.zName = "orderflow-counting";
        vfs_.szOsFile = static_cast<int>(sizeof(counting_file)) + real_vfs->szOsFile;
        vfs_.xOpen = counting_open;
        sqlite3_vfs_register(&vfs_, 1);
    }
    ~counting_vfs() {
        sqlite3_vfs_unregister(&vfs_);
        sqlite3_vfs_register(real_vfs, 1);
    }
    counting_vfs(const counting_vfs&) = delete;
    counting_vfs& operator=(const counting_vfs&) = delete;

private:
    sqlite3_vfs vfs_{};
};

void insert_order(database& db, const std::string& id) {
    db.exec("INSERT INTO orders (order_id, status, snapshot, updated_at) VALUES ('" + id + "', 'UNPAID', '{}', 1)");
}

}  // namespace

TEST_CASE("A crash-safe commit goes to the disk only with the next durable commit that writes", "[database]") {
    temp_dir dir;
    counting_vfs vfs;
    auto db = database::open(dir / "orderflow.db");
    const auto crash_safe = database::durability::process_crash;
    CHECK_FALSE(db.has_unsynced_commits());

    syncs = 0;
    db.transaction([&] { insert_order(db, "o1"); });
    CHECK(syncs > 0);   // the default: synchronous=FULL, the WAL synced at commit
    CHECK_FALSE(db.has_unsynced_commits());

    syncs = 0;
    db.transaction([&] { insert_order(db, "o2"); }, crash_safe);
    db.transaction([&] { insert_order(db, "o3"); }, crash_safe);
    CHECK(syncs == 0);   // handed to the kernel only
    CHECK(db.has_unsynced_commits());
    CHECK(pragma_text(db, "synchronous") == "2");   // FULL again for everything else
    CHECK(count_rows(db, "orders") == 3);

    // A durable transaction that writes nothing syncs nothing, so it
    // leaves the earlier commits unsynced.
    db.transaction([&] { count_rows(db, "orders"); });
    CHECK(db.has_unsynced_commits());

    db.transaction([&] { insert_order(db, "o4"); });
    CHECK(syncs > 0);
    CHECK_FALSE(db.has_unsynced_commits());
}

TEST_CASE("A crash-safe transaction that is rolled back leaves nothing unsynced and full sync in force", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK_THROWS(db.transaction([&] {
        insert_order(db, "o1");
        throw std::runtime_error("no");
    }, database::durability::process_crash));
    CHECK_FALSE(db.has_unsynced_commits());
    CHECK(pragma_text(db, "synchronous") == "2");
    CHECK(count_rows(db, "orders") == 0);
}

TEST_CASE("A batch commits its crash-safe transactions together, and a body that throws takes back only its own", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    auto reader = database::open(dir / "orderflow.db");
    const auto crash_safe = database::durability::process_crash;
    db.begin_batch();
    CHECK(db.batching());
    db.transaction([&] { insert_order(db, "o1"); }, crash_safe);
    CHECK_THROWS_WITH(db.transaction([&] {
        insert_order(db, "o2");
        throw std::runtime_error("rule engine blew up");
    }, crash_safe), "rule engine blew up");
    db.transaction([&] { insert_order(db, "o3"); }, crash_safe);
    CHECK_FALSE(db.in_transaction());
    CHECK(count_rows(db, "orders") == 2);       // this connection sees its batch
    CHECK(count_rows(reader, "orders") == 0);   // nobody else before it ends
    db.end_batch();
    CHECK_FALSE(db.batching());
    CHECK(count_rows(reader, "orders") == 2);
    CHECK(db.has_unsynced_commits());
    CHECK(pragma_text(db, "synchronous") == "2");   // FULL again for everything else
}

// SQLite's temporary files are opened and unlinked at once, so a listing
// never shows them: the folder is watched for files created instead.
TEST_CASE("A batch's savepoint that changes a few hundred KB keeps its journal in memory, not in a temporary file", "[database]") {
    temp_dir dir;
    const auto tmp = dir / "sqlite-tmp";
    std::filesystem::create_directory(tmp);
    auto db = database::open(dir / "orderflow.db");
    db.exec("CREATE TABLE scratch (x TEXT NOT NULL)");
    db.transaction([&] {
        for (int i = 0; i < 300; ++i) db.exec("INSERT INTO scratch (x) VALUES (printf('%.1000c', 'a'))");
    });

    char* before = sqlite3_temp_directory;
    sqlite3_temp_directory = sqlite3_mprintf("%s", tmp.c_str());
    int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    REQUIRE(watch >= 0);
    REQUIRE(inotify_add_watch(watch, tmp.c_str(), IN_CREATE) >= 0);

    // About 300 KB of pages that existed before the savepoint, changed in
    // it: SQLite's own threshold (64 KiB) would move them to a file.
    db.begin_batch();
    db.transaction([&] { db.exec("UPDATE scratch SET x = printf('%.1000c', 'b')"); },
                   database::durability::process_crash);
    CHECK_THROWS(db.transaction([&] {
        db.exec("UPDATE scratch SET x = printf('%.1000c', 'c')");
        throw std::runtime_error("taken back");
    }, database::durability::process_crash));
    db.end_batch();

    alignas(inotify_event) char events[4096];
    ssize_t got = ::read(watch, events, sizeof events);
    CHECK(got < 0);   // nothing created (EAGAIN)
    ::close(watch);
    sqlite3_free(sqlite3_temp_directory);
    sqlite3_temp_directory = before;

    // The journal did its work: the second savepoint was taken back.
    auto st = db.prepare("SELECT count(*) FROM scratch WHERE x = printf('%.1000c', 'b')");
    REQUIRE(st.step());
    CHECK(st.int64(0) == 300);
}

TEST_CASE("A durable transaction in a batch first commits what the batch holds, then syncs with its own commit", "[database]") {
    temp_dir dir;
    counting_vfs vfs;
    auto db = database::open(dir / "orderflow.db");
    auto reader = database::open(dir / "orderflow.db");
    const auto crash_safe = database::durability::process_crash;
    db.begin_batch();
    db.transaction([&] { insert_order(db, "o1"); }, crash_safe);
    CHECK(count_rows(reader, "orders") == 0);
    syncs = 0;
    db.transaction([&] { insert_order(db, "o2"); });
    CHECK(syncs > 0);
    CHECK_FALSE(db.has_unsynced_commits());
    CHECK(count_rows(reader, "orders") == 2);
    db.transaction([&] { insert_order(db, "o3"); }, crash_safe);   // the batch goes on
    CHECK(count_rows(reader, "orders") == 2);
    db.end_batch();
    CHECK(count_rows(reader, "orders") == 3);
}

TEST_CASE("When SQLite rolls a batch back under it, end_batch says so and nothing of the batch is kept", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    const auto crash_safe = database::durability::process_crash;
    db.begin_batch();
    db.transaction([&] { insert_order(db, "o1"); }, crash_safe);
    // What SQLite does by itself on some errors (a full disk): the whole
    // transaction is rolled back, not just the failing statement.
    CHECK_THROWS(db.transaction([&] {
        insert_order(db, "o2");
        db.exec("ROLLBACK");
        throw std::runtime_error("database or disk is full");
    }, crash_safe));
    // Nothing more joins a lost batch, crash-safe or durable: the caller learns at once.
    CHECK_THROWS_WITH(db.transaction([&] { insert_order(db, "o3"); }, crash_safe), Catch::Contains("end the batch first"));
    CHECK_THROWS_AS(db.transaction([&] { insert_order(db, "o3"); }), storage_error);
    CHECK_THROWS_WITH(db.end_batch(), Catch::Contains("rolled back a batch") && Catch::Contains("none of them was kept"));
    CHECK_FALSE(db.batching());
    CHECK(count_rows(db, "orders") == 0);   // not o1, and not o3
    CHECK(pragma_text(db, "synchronous") == "2");
    db.transaction([&] { insert_order(db, "o4"); }, crash_safe);   // the connection goes on
    CHECK(count_rows(db, "orders") == 1);
}

TEST_CASE("An abandoned batch is rolled back", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    db.begin_batch();
    db.transaction([&] { insert_order(db, "o1"); }, database::durability::process_crash);
    db.abandon_batch();
    CHECK_FALSE(db.batching());
    CHECK(count_rows(db, "orders") == 0);
    CHECK_FALSE(db.has_unsynced_commits());
    CHECK(pragma_text(db, "synchronous") == "2");
}

TEST_CASE("A connection with set_busy_timeout waits for the write lock and is seen waiting by the holder", "[database]") {
    temp_dir dir;
    auto holder = database::open(dir / "orderflow.db");
    auto waiter = database::open(dir / "orderflow.db");
    waiter.set_busy_timeout(std::chrono::seconds(10));
    CHECK_FALSE(holder.others_want_the_lock());
    bool seen = false;
    std::atomic<bool> seen_once_in = true;
    std::thread other;
    holder.transaction([&] {
        insert_order(holder, "o1");
        other = std::thread([&] {
            waiter.transaction([&] {
                // Got the lock: no longer seen waiting, at once.
                seen_once_in = holder.others_want_the_lock();
                insert_order(waiter, "o2");
            });
        });
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!seen && std::chrono::steady_clock::now() < give_up) {
            seen = holder.others_want_the_lock();
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    });
    other.join();
    CHECK(seen);
    CHECK_FALSE(seen_once_in.load());
    CHECK(count_rows(holder, "orders") == 2);   // the waiter got the lock once it was free
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    CHECK_FALSE(holder.others_want_the_lock());   // nobody waits any more
}

TEST_CASE("others_writing says another connection took the write lock within the last 2 ms", "[database]") {
    temp_dir dir;
    auto writer = database::open(dir / "orderflow.db");
    auto other = database::open(dir / "orderflow.db");
    std::this_thread::sleep_for(std::chrono::milliseconds(3));   // the migrations' writes are old news
    CHECK_FALSE(other.others_writing());
    writer.transaction([&] {
        CHECK(other.others_writing());
        CHECK_FALSE(writer.others_writing());   // its own write is not another's
        insert_order(writer, "o1");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    CHECK_FALSE(other.others_writing());
    other.transaction([&] {
        CHECK(writer.others_writing());
        CHECK_FALSE(other.others_writing());
        insert_order(other, "o2");
    });
}

TEST_CASE("set_busy_timeout gives up after its timeout with a busy error", "[database]") {
    temp_dir dir;
    auto holder = database::open(dir / "orderflow.db");
    auto waiter = database::open(dir / "orderflow.db");
    waiter.set_busy_timeout(std::chrono::milliseconds(50));
    holder.transaction([&] {
        insert_order(holder, "o1");
        try {
            waiter.transaction([&] { insert_order(waiter, "o2"); });
            FAIL("the waiter got a lock that was held");
        } catch (const storage_error& e) {
            CHECK(e.busy());
        }
    });
    CHECK(count_rows(waiter, "orders") == 1);
}

TEST_CASE("A batch rolled back by a statement outside a transaction is found lost, not committed piecemeal", "[database]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    const auto crash_safe = database::durability::process_crash;
    db.begin_batch();
    db.transaction([&] { insert_order(db, "o1"); }, crash_safe);
    db.exec("ROLLBACK");   // as SQLite does by itself when a statement hits a full disk
    CHECK_THROWS_AS(db.transaction([&] { insert_order(db, "o2"); }, crash_safe), storage_error);
    CHECK_THROWS_WITH(db.end_batch(), Catch::Contains("none of them was kept"));
    CHECK(count_rows(db, "orders") == 0);
}

}  // namespace ORDERFLOW_TEST_FILE
