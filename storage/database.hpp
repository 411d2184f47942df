// A small RAII layer over SQLite: one connection (`database`), prepared
// statements (`statement`), transactions, schema migrations and the error type
// every storage function throws (`storage_error`).
//
// A connection is used by one thread (it is opened without SQLite's own
// mutexes), so nothing here locks: the daemon's event loop, its inbox writer
// and its checkpointer each open their own (docs/architecture.md, "Threading
// model"). Durability comes from WAL + synchronous=FULL: a commit that
// returned is on disk, unless it asked for less (durability). Errors carry the
// SQLite extended result code so callers can tell "try again" (busy) from "the
// disk is full" (ingress answers 503 in both cases, but logs them differently).
#pragma once

#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

struct sqlite3_stmt;

namespace orderflow::storage {

namespace detail {
struct connection;
}

// Thrown by every storage function on a database failure. The message names
// the file and, where there is one, what the operator should do.
class storage_error : public std::runtime_error {
public:
    // code: the SQLite extended result code (0 when the error did not come
    // from SQLite, e.g. a vault entry that does not decrypt).
    storage_error(int code, const std::string& message);

    int code() const { return code_; }
    // SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock past the
    // busy timeout. Retrying later can succeed.
    bool busy() const;
    // SQLITE_FULL or an I/O error: the disk is full or failing.
    bool full() const;
    // A trigger refused the change: the outbox's state machine does not
    // allow that transition (migrations.cpp, outbox_transition_check; the
    // schema's only trigger that refuses).
    bool refused_transition() const;

private:
    int code_;
};

// One prepared statement. Move-only. Obtained from database::prepare; when it
// is destroyed it is reset and handed back to the database's cache. A
// statement may outlive its database (it is then simply finalized), but it can
// no longer be stepped usefully.
//
// Parameter indexes are 1-based and column indexes 0-based, as in SQLite.
class statement {
public:
    statement() = default;
    statement(statement&& other) noexcept;
    statement& operator=(statement&& other) noexcept;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement();

    statement& bind(int index, std::int64_t v);
    statement& bind(int index, std::string_view text);  // copied by SQLite
    statement& bind(int index, std::nullptr_t);
    statement& bind_blob(int index, std::span<const unsigned char> bytes);

    // true: a row is available; false: the statement is done. Throws
    // storage_error on failure (and resets the statement).
    bool step();

    std::int64_t int64(int col) const;
    std::string text(int col) const;  // "" for NULL
    std::optional<std::string> text_or_null(int col) const;
    std::vector<unsigned char> blob(int col) const;
    bool is_null(int col) const;

    // Back to the start, ready to step again. Bindings are kept (as in
    // sqlite3_reset); bind again to change them.
    void reset();

private:
    friend class database;
    statement(sqlite3_stmt* stmt, std::weak_ptr<detail::connection> owner, std::vector<sqlite3_stmt*>* slot);
    void release() noexcept;

    sqlite3_stmt* stmt_ = nullptr;
    std::weak_ptr<detail::connection> owner_;
    std::vector<sqlite3_stmt*>* slot_ = nullptr;  // where the cache keeps idle copies of this SQL
};

// One SQLite connection. Move-only; owns the sqlite3 handle.
class database {
public:
    // Opens or creates the file (created with mode 0600); sets journal_mode=WAL, synchronous=FULL,
    // busy_timeout=5000, foreign_keys=ON and secure_delete=ON (freed bytes are zeroed, so a
    // buyer forget leaves no stale copy behind); runs pending migrations (each in
    // its own transaction, recorded in PRAGMA user_version). Throws
    // storage_error whose message names the file and says what to do (missing
    // or unwritable directory, read-only file, not a database, a schema newer
    // than this build).
    static database open(const std::filesystem::path& file);

    // How a connection writes its WAL file.
    enum class wal_writes {
        // SQLite's way: each frame's header and page as they are made.
        as_made,
        // Gathered into one write before each commit's fsync: a commit of
        // 27 pages is one system call instead of 54. Every transaction of
        // such a connection is then durable to power loss (process_crash
        // is raised to power_loss), because a commit without an fsync would
        // publish frames still held in memory (storage/detail/batched_wal.cpp).
        // For a connection that only commits what must be durable anyway:
        // the inbox writer's.
        gathered,
    };
    static database open(const std::filesystem::path& file, wal_writes writes);
    // As open(file), but a file that does not exist is an error instead of a
    // new, empty database: storage_error (SQLITE_CANTOPEN) "no database at
    // FILE: has orderflowd run here? is storage.path right?". For the
    // operator's tools, which read or change what the daemon stored: one
    // run with a mistyped path, or before the first start, must not leave an
    // empty database (owned by whoever ran it) where the daemon's belongs.
    static database open_existing(const std::filesystem::path& file);
    // For `orderflowctl check`, which compares what orderflowd would compare
    // at its start and must change nothing: the file opened read-only, no
    // pragma that writes, no migration. A missing file is an error, as for
    // open_existing. A database in WAL mode still needs its -shm file
    // (SQLite makes it if the folder allows, owned as the database is).
    static database open_read_only(const std::filesystem::path& file);

    database(database&&) noexcept;
    database& operator=(database&&) noexcept;
    database(const database&) = delete;
    database& operator=(const database&) = delete;
    ~database();

    // Runs one or more SQL statements that return no rows we need.
    void exec(std::string_view sql);
    // Prepares one statement. Statements are cached by their SQL text, so
    // preparing the same text again is cheap.
    statement prepare(std::string_view sql);
    // For tests: while set, every SQL text prepare() is given (cache hits
    // too) is passed to `observer`, so a test can run EXPLAIN QUERY PLAN on
    // every statement a code path uses. An empty function stops it.
    void observe_prepares(std::function<void(std::string_view sql)> observer);

    // Hands this connection's checkpoints to someone else: SQLite's own
    // (wal_autocheckpoint, run by the committing connection right after its
    // commit) stops, and `wal_grew` hears the WAL's length in pages after
    // every commit of this connection (storage::checkpointer does the work
    // on its thread). When it answers true, this connection checkpoints
    // right away (PASSIVE), as SQLite's own would have. An empty function
    // gives the checkpoints back to SQLite.
    void hand_off_checkpoints(std::function<bool(int wal_pages)> wal_grew);

    // How far a commit must reach before transaction() returns.
    enum class durability {
        // synchronous=FULL: on stable storage, so it survives a power loss.
        // For what orderflow promises outside: a webhook's 200, and the
        // intent recorded before an effect (a send, a shipment).
        power_loss,
        // synchronous=NORMAL (WAL): handed to the kernel, so it survives the
        // process crashing, not the machine. For work that can be done again
        // from what is durable (the pipeline's bookkeeping), so a commit
        // costs no fsync. The next power_loss commit syncs the WAL, and
        // with it every earlier commit (has_unsynced_commits()).
        process_crash,
    };

    // Runs body inside BEGIN IMMEDIATE ... COMMIT and returns what it
    // returns. If body throws, or COMMIT fails, the transaction is rolled back
    // and the exception propagates. Not nestable. In a batch, a
    // process_crash transaction is a savepoint of the batch's transaction
    // (begin_batch()).
    template <class F>
    decltype(auto) transaction(F&& body, durability d = durability::power_loss) {
        begin_transaction(d);
        try {
            if constexpr (std::is_void_v<std::invoke_result_t<F&&>>) {
                std::invoke(std::forward<F>(body));
                commit_transaction();
            } else {
                decltype(auto) result = std::invoke(std::forward<F>(body));
                commit_transaction();
                return result;
            }
        } catch (...) {
            rollback_transaction();
            throw;
        }
    }
    bool in_transaction() const;

    // For a connection whose thread must not sleep long for the write lock
    // (the inbox writer: webhooks wait for its commit; the event loop's):
    // how long a statement waits for a lock another connection holds before
    // it fails with SQLITE_BUSY. It polls every 0.1 ms at first, then every
    // 1 ms, and while it waits it is seen by others_want_the_lock(). Other
    // connections keep SQLite's own busy_timeout (5 s, set by open()), which
    // sleeps 1, 2, 5 ... 100 ms between tries: against a writer that
    // commits a thousand times a second they can wait for seconds.
    void set_busy_timeout(std::chrono::milliseconds timeout);
    // True when another connection of this process with set_busy_timeout()
    // is waiting for a lock right now (it polled within the last 0.6 ms and
    // has not got the write lock since). A batch asks this to give the
    // write lock back early (pipeline::pass).
    bool others_want_the_lock() const;
    // True when another connection of this process began a write
    // transaction within the last 2 ms: the inbox writer, in a burst of
    // webhooks, does so about every millisecond. Bulk work on the event
    // loop waits for a gap in such a run before it takes the lock
    // (daemon/detail/let_others_in.hpp).
    bool others_writing() const;

    // A batch: from begin_batch() to end_batch(), this connection's
    // process_crash transactions share one SQLite transaction, each a
    // savepoint in it (a body that throws takes back its own writes only),
    // and are committed together by end_batch(). So a page of the
    // pipeline's events costs one commit, and the pages they all touch
    // (the inbox's, the outbox's tail, the order cache's) are written to
    // the WAL once instead of once per event. A power_loss transaction in
    // a batch first commits what the batch holds, then runs as always.
    //
    // The batch holds SQLite's write lock from its first transaction to
    // its end: every other connection's writes wait for it. End it before
    // anything that waits (a co_await that may suspend), and keep it
    // short. A batch is one caller's: code that runs on the same connection
    // while the batch is open joins it.
    //
    // end_batch() throws storage_error when the commit fails, or when an
    // earlier error made SQLite roll the whole transaction back (a full
    // disk): then none of the batch is kept, and the caller must treat
    // every transaction of it as not done. After such a rollback every
    // transaction throws until end_batch(): nothing joins a lost batch.
    // abandon_batch() rolls back what the batch holds and never throws (for
    // unwinding).
    void begin_batch();
    void end_batch();
    void abandon_batch() noexcept;
    bool batching() const;

    // True when a process_crash commit has not yet been followed by a
    // power_loss commit that wrote something, nor by a sync of the WAL
    // (synced_through): a power loss now could take those commits back.
    // Before an effect that depends on them, sync the WAL
    // (daemon/durable_commits.hpp) or write something with
    // durability::power_loss.
    bool has_unsynced_commits() const;
    // How many commits of this connection wrote something, of either
    // durability (a batch counts once, when it commits).
    std::uint64_t commits_written() const;
    // The WAL file was synced (fdatasync) after the first `commits` commits
    // were written (daemon/durable_commits.hpp): when no commit came since,
    // nothing is unsynced.
    void synced_through(std::uint64_t commits);

    int schema_version();
    // The version a freshly opened database ends up at (the number of
    // migrations this build knows).
    static int latest_schema_version();

    std::int64_t last_insert_rowid();
    int changes();
    const std::filesystem::path& path() const;
    // A consistent copy of the whole database in a new file `dest` (mode
    // 0600; refused if it exists), taken with SQLite's online backup API
    // in one read transaction: writers go on meanwhile (WAL), the copy is
    // the database as of one commit, never torn. The copy is checked
    // (PRAGMA integrity_check) and synced before it is given its name, so
    // `dest` either is a whole database or does not exist. Messages still
    // planned in the copy are marked 'sending' there, so a daemon started on
    // a restored copy reconciles them before sending (one may have gone out
    // after the copy was taken). Returns its size
    // in bytes. Throws storage_error saying what went wrong.
    std::int64_t backup_to(const std::filesystem::path& dest);
    // False when the path no longer names the file that was opened: it was
    // deleted (writes would go to an unlinked file, lost at the next start)
    // or replaced by another file; or when its -wal is no longer the one
    // this connection writes (deleted by another program that opened a new
    // file at the path while this one was moved away: a restart is the way
    // back, its clean stop saves what the WAL holds). Two stat(2) calls;
    // cheap enough per commit.
    bool file_intact() const;

private:
    explicit database(std::shared_ptr<detail::connection> conn);
    static database open_file(const std::filesystem::path& file, wal_writes writes, bool create);
    void begin_transaction(durability d);
    void begin_immediate(durability d);
    void commit_transaction();
    void rollback_transaction() noexcept;
    void end_relaxed() noexcept;
    void commit_open_batch();
    void lose_batch() noexcept;
    void migrate();

    std::shared_ptr<detail::connection> conn_;
};

// What is wrong with the modes of the database file, its -wal and -shm
// files (they hold buyer data): one line each for a file that others may
// read or write, or that its group may write. Group read is allowed (a
// deliberate 0640 to a group staff do not get by default) and not reported.
// Missing files are skipped.
std::vector<std::string> permission_warnings(const std::filesystem::path& file);

// Lowercase hex SHA-256 of material (libsodium crypto_hash_sha256). Used for
// idempotency keys, which are kept after personal data is purged because a
// hash does not reveal what it was made from.
std::string hash_key(std::string_view material);

}  // namespace orderflow::storage
