// The SQLite connection, statement cache, transactions and migrations behind
// database.hpp.
//
// Prepared statements are cached per SQL text: the daemon runs the same few
// statements for every webhook, and preparing is a large share of a small
// INSERT's cost. A statement handed out by prepare() goes back to the cache
// when destroyed. The connection lives in a shared_ptr that statements only
// observe (weak_ptr), so a statement outliving its database finalizes itself
// instead of touching freed memory; sqlite3_close_v2 defers the real close
// until then.
#include "storage/database.hpp"

#include "common/log.hpp"
#include "storage/detail/backup.hpp"
#include "storage/detail/batched_wal.hpp"
#include "storage/detail/migrations.hpp"
#include "storage/detail/sodium.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <atomic>
#include <map>
#include <system_error>

namespace orderflow::storage {

namespace fs = std::filesystem;

namespace detail {

struct connection {
    sqlite3* db = nullptr;
    fs::path path;
    // The file's identity when it was opened: file_intact() compares it with
    // what the path names now (deleted or replaced under the daemon's feet).
    dev_t device = 0;
    ino_t inode = 0;
    // The same for its write-ahead log once open (0: none to compare). The
    // last connection to a file deletes its -wal when it closes: another
    // program that opens a new file at the path while this one is moved
    // away deletes this connection's WAL, and its commits then go to an
    // unlinked file, lost in a crash.
    dev_t wal_device = 0;
    ino_t wal_inode = 0;
    std::map<std::string, std::vector<sqlite3_stmt*>, std::less<>> cache;
    bool in_tx = false;
    bool relaxed_tx = false;      // the open transaction commits with synchronous=NORMAL
    bool gathered_wal = false;    // opened with wal_writes::gathered
    bool unsynced = false;        // see database::has_unsynced_commits
    std::uint64_t commits = 0;    // commits that wrote something (database::commits_written)
    sqlite3_int64 changes_at_begin = 0;
    // database::begin_batch: whether process_crash transactions join one
    // SQLite transaction, whether it is open (BEGIN ran), whether the open
    // transaction is a savepoint in it, and whether SQLite rolled the
    // batch's transaction back under it (an error such as SQLITE_FULL).
    bool batching = false;
    bool batch_open = false;
    bool in_savepoint = false;
    bool batch_lost = false;
    // database::set_busy_timeout: how long to wait, and since when this
    // wait began.
    std::chrono::milliseconds busy_timeout{0};
    std::chrono::steady_clock::time_point busy_since;
    std::function<void(std::string_view)> observer;  // database::observe_prepares
    std::function<bool(int)> wal_grew;                // database::hand_off_checkpoints

    connection(sqlite3* handle, fs::path file) : db(handle), path(std::move(file)) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() {
        for (auto& [sql, idle] : cache) {
            for (sqlite3_stmt* s : idle) sqlite3_finalize(s);
        }
        sqlite3_close_v2(db);
    }
};

}  // namespace detail

namespace {

// The last time any connection of the process polled for a lock, and
// which (database::others_want_the_lock).
std::atomic<std::int64_t> lock_wanted_at_ns{0};
std::atomic<const detail::connection*> lock_wanted_by{nullptr};
// The last time any connection of the process took the write lock, and
// which (database::others_writing).
std::atomic<std::int64_t> lock_taken_at_ns{0};
std::atomic<const detail::connection*> lock_taken_by{nullptr};

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// SQLite's busy handler for set_busy_timeout: `count` is how many times it
// was called for this wait. Returning 0 gives up (SQLITE_BUSY).
int poll_for_lock(void* arg, int count) {
    auto* conn = static_cast<detail::connection*>(arg);
    const auto now = std::chrono::steady_clock::now();
    if (count == 0) conn->busy_since = now;
    if (now - conn->busy_since >= conn->busy_timeout) return 0;
    lock_wanted_by.store(conn, std::memory_order_relaxed);
    lock_wanted_at_ns.store(steady_ns(), std::memory_order_relaxed);
    ::usleep(count < 100 ? 100 : 1000);
    return 1;
}

// The statement's SQL on one line, shortened, for error messages. Only SQL
// text appears, never bound values, so no personal data or secret leaks.
std::string sql_excerpt(sqlite3_stmt* stmt) {
    const char* sql = stmt ? sqlite3_sql(stmt) : nullptr;
    if (sql == nullptr) return {};
    std::string out;
    bool space = false;
    for (const char* p = sql; *p != '\0' && out.size() < 80; ++p) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            space = !out.empty();
            continue;
        }
        if (space) out.push_back(' ');
        space = false;
        out.push_back(*p);
    }
    if (out.size() >= 80) out += "...";
    return out;
}

std::string db_name(sqlite3* db) {
    const char* name = db ? sqlite3_db_filename(db, "main") : nullptr;
    return name && *name ? name : "(unknown)";
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view context) {
    std::string msg = "database " + db_name(db) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (!context.empty()) {
        msg += " (while running `";
        msg += context;
        msg += "`)";
    }
    throw storage_error(rc, msg);
}

// What an operator should do about an error met while opening the database.
std::string open_hint(int code) {
    switch (code & 0xff) {
        case SQLITE_NOTADB:
            return "the file is not an SQLite database; check that storage.path points at orderflow's database";
        case SQLITE_CORRUPT:
            return "the database is corrupt; stop orderflowd and restore it from a backup";
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return "make the file and its directory writable by the user orderflowd runs as "
                   "(WAL mode creates -wal and -shm files next to it), or fix storage.path";
        case SQLITE_FULL:
        case SQLITE_IOERR:
            return "the disk is full or failing; free space or check the device, then start again";
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return "another process held a lock on it for more than 5 s; look for a stuck orderflowctl or sqlite3 shell";
        default:
            return "check storage.path in the config";
    }
}

}  // namespace

// ---------------------------------------------------------------- storage_error

storage_error::storage_error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}

bool storage_error::busy() const {
    int primary = code_ & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

bool storage_error::full() const {
    int primary = code_ & 0xff;
    return primary == SQLITE_FULL || primary == SQLITE_IOERR;
}

bool storage_error::refused_transition() const { return code_ == SQLITE_CONSTRAINT_TRIGGER; }

// -------------------------------------------------------------------- statement

statement::statement(sqlite3_stmt* stmt, std::weak_ptr<detail::connection> owner, std::vector<sqlite3_stmt*>* slot)
    : stmt_(stmt), owner_(std::move(owner)), slot_(slot) {}

statement::statement(statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      owner_(std::move(other.owner_)),
      slot_(std::exchange(other.slot_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
    if (this != &other) {
        release();
        stmt_ = std::exchange(other.stmt_, nullptr);
        owner_ = std::move(other.owner_);
        slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
}

statement::~statement() { release(); }

void statement::release() noexcept {
    if (stmt_ == nullptr) return;
    sqlite3_stmt* s = std::exchange(stmt_, nullptr);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (auto conn = owner_.lock(); conn && slot_ != nullptr) {
        try {
            slot_->push_back(s);
            s = nullptr;
        } catch (...) {
            // Out of memory: just finalize below.
        }
    }
    if (s != nullptr) sqlite3_finalize(s);
    owner_.reset();
    slot_ = nullptr;
}

statement& statement::bind(int index, std::int64_t v) {
    assert(stmt_ != nullptr);
    int rc = sqlite3_bind_int64(stmt_, index, v);
    if (rc != SQLITE_OK) throw_sqlite(sqlite3_db_handle(stmt_), rc, sql_excerpt(stmt_));
    return *this;
}

statement& statement::bind(int index, std::string_view text) {
    assert(stmt_ != nullptr);
    // A zero-length non-NULL pointer: an empty string is '' in SQL, not NULL.
    const char* data = text.data() != nullptr ? text.data() : "";
    int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) throw_sqlite(sqlite3_db_handle(stmt_), rc, sql_excerpt(stmt_));
    return *this;
}

statement& statement::bind(int index, std::nullptr_t) {
    assert(stmt_ != nullptr);
    int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) throw_sqlite(sqlite3_db_handle(stmt_), rc, sql_excerpt(stmt_));
    return *this;
}

statement& statement::bind_blob(int index, std::span<const unsigned char> bytes) {
    assert(stmt_ != nullptr);
    static const unsigned char empty = 0;
    const void* data = bytes.data() != nullptr ? static_cast<const void*>(bytes.data()) : &empty;
    int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) throw_sqlite(sqlite3_db_handle(stmt_), rc, sql_excerpt(stmt_));
    return *this;
}

bool statement::step() {
    assert(stmt_ != nullptr);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(stmt_);
    std::string sql = sql_excerpt(stmt_);
    std::string msg = "database " + db_name(db) + ": " + sqlite3_errmsg(db) + " (while running `" + sql + "`)";
    sqlite3_reset(stmt_);
    throw storage_error(rc, msg);
}

std::int64_t statement::int64(int col) const {
    assert(stmt_ != nullptr);
    return sqlite3_column_int64(stmt_, col);
}

std::string statement::text(int col) const {
    assert(stmt_ != nullptr);
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<std::string> statement::text_or_null(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
}

std::vector<unsigned char> statement::blob(int col) const {
    assert(stmt_ != nullptr);
    const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, col));
    if (p == nullptr) return {};
    return std::vector<unsigned char>(p, p + sqlite3_column_bytes(stmt_, col));
}

bool statement::is_null(int col) const {
    assert(stmt_ != nullptr);
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

void statement::reset() {
    assert(stmt_ != nullptr);
    sqlite3_reset(stmt_);
}

// --------------------------------------------------------------------- database

database::database(std::shared_ptr<detail::connection> conn) : conn_(std::move(conn)) {}
database::database(database&&) noexcept = default;
database& database::operator=(database&&) noexcept = default;
database::~database() = default;

database database::open(const fs::path& file) { return open(file, wal_writes::as_made); }

database database::open(const fs::path& file, wal_writes writes) { return open_file(file, writes, true); }

database database::open_existing(const fs::path& file) { return open_file(file, wal_writes::as_made, false); }

namespace {

// For the operator's tools, which must not create a database: a missing
// file (or folder) is no database.
void require_existing(const std::string& name) {
    struct stat st {};
    if (::stat(name.c_str(), &st) != 0 && errno == ENOENT)
        throw storage_error(SQLITE_CANTOPEN, "no database at " + name + ": has orderflowd run here? is storage.path right?");
}

}  // namespace

database database::open_read_only(const fs::path& file) {
    const std::string name = file.string();
    require_existing(name);
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(name.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
        sqlite3_close_v2(raw);
        throw storage_error(rc, "cannot open database " + name + ": " + why + "; " + open_hint(rc));
    }
    sqlite3_extended_result_codes(raw, 1);
    database db(std::make_shared<detail::connection>(raw, file));
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA query_only = ON");
    return db;
}

database database::open_file(const fs::path& file, wal_writes writes, bool create) {
    const std::string name = file.string();
    // A missing folder is a missing database too: for a tool that must
    // not create one, there is nothing to create the folder for.
    if (!create) require_existing(name);
    fs::path dir = file.parent_path();
    if (dir.empty()) dir = ".";

    // SQLite's own message for a missing directory is "unable to open
    // database file"; say what is actually wrong.
    std::error_code ec;
    auto dir_status = fs::status(dir, ec);
    if (!fs::exists(dir_status)) {
        throw storage_error(SQLITE_CANTOPEN, "cannot open database " + name + ": directory " + dir.string() +
                                                 " does not exist; create it (writable by the user orderflowd runs as) "
                                                 "or fix storage.path in the config");
    }
    if (!fs::is_directory(dir_status)) {
        throw storage_error(SQLITE_CANTOPEN, "cannot open database " + name + ": " + dir.string() +
                                                 " is not a directory; fix storage.path in the config");
    }
    if (fs::is_directory(fs::status(file, ec))) {
        throw storage_error(SQLITE_CANTOPEN, "cannot open database " + name +
                                                 ": it is a directory; storage.path must name a file");
    }

    // Created 0600: the file holds buyer names, addresses and messages, and
    // SQLite gives the -wal and -shm files the main file's mode. Done here,
    // not by SQLite, so the mode does not depend on the caller's umask.
    if (create && !fs::exists(fs::symlink_status(file, ec))) {
        int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) ::close(fd);
    }

    // SQLite counts every allocation under one process-wide mutex unless told
    // not to, before it initializes; nothing here reads those counts, and the
    // inbox writer, the checkpointer and the event loop would contend for it.
    static const bool configured = [] {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);   // SQLITE_MISUSE if already initialized: harmless
        return true;
    }();
    (void)configured;

    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(name.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             writes == wal_writes::gathered ? detail::batched_wal_vfs() : nullptr);
    if (rc != SQLITE_OK) {
        std::string why = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
        int err = raw ? sqlite3_system_errno(raw) : 0;
        if (err != 0) why += std::string(" (") + std::strerror(err) + ")";
        sqlite3_close_v2(raw);
        throw storage_error(rc, "cannot open database " + name + ": " + why + "; " + open_hint(rc));
    }
    sqlite3_extended_result_codes(raw, 1);
    auto conn = std::make_shared<detail::connection>(raw, file);
    conn->gathered_wal = writes == wal_writes::gathered;
    struct stat st {};
    if (::stat(name.c_str(), &st) == 0) {
        conn->device = st.st_dev;
        conn->inode = st.st_ino;
    }
    database db(std::move(conn));

    try {
        if (sqlite3_db_readonly(raw, "main") == 1) {
            throw storage_error(SQLITE_READONLY, "the file is read-only for this user");
        }
        db.exec("PRAGMA busy_timeout = 5000");
        // Every connection zeroes what it frees, all the time: a row's old
        // copy left by an UPDATE or DELETE, a cell moved by a page split
        // (the old root keeps the rows it held before its first split),
        // a page put on the freelist. A buyer forget (storage/buyer_data.hpp)
        // promises that not one byte of the buyer stays in the file; it can
        // only zero the pages it rewrites itself, so stale copies written
        // earlier must never have been left behind. ON rather than FAST:
        // FAST leaves freed pages' content when zeroing would cost a write.
        // Nothing else changes; a write that frees pages writes them zeroed.
        db.exec("PRAGMA secure_delete = ON");
        // A savepoint's journal (the pipeline's one per event in its batch,
        // and each statement's inside it) holds the pages it changed, as
        // they were. SQLite moves one past 64 KiB to a temporary file in
        // /var/tmp, and an event's statements pass that: a file created,
        // written and deleted for nearly every batch, on the event loop's
        // thread, with buyer data in it. In memory instead, as is every
        // other temporary table or index a statement builds. So is a sort
        // that no index serves, which SQLite would otherwise spill to a file
        // past the page cache's 2 MB. The daemon's sorts each keep at most a
        // LIMIT of rows; the one without (`orderflowctl rules coverage`, in
        // that process) holds a record per action since the time asked.
        db.exec("PRAGMA temp_store = MEMORY");
        // A new file gives the space the retention purge frees back to the
        // file system (storage/retention.hpp, return_free_pages); this can
        // only be chosen before the first table exists.
        bool empty = false;
        {
            auto tables = db.prepare("SELECT count(*) FROM sqlite_schema");
            empty = tables.step() && tables.int64(0) == 0;
        }
        if (empty) db.exec("PRAGMA auto_vacuum = INCREMENTAL");
        std::string mode;
        {
            auto st = db.prepare("PRAGMA journal_mode = WAL");
            if (st.step()) mode = st.text(0);
        }
        db.exec("PRAGMA synchronous = FULL");
        db.exec("PRAGMA foreign_keys = ON");
        if (mode != "wal") {
            // Still durable (synchronous=FULL), just slower; e.g. a
            // filesystem without shared-memory support.
            log::warn("storage_wal_unavailable", {{"file", name}, {"journal_mode", mode}});
        }
        db.migrate();
        if (mode == "wal") {
            struct stat wal {};
            if (::stat((name + "-wal").c_str(), &wal) == 0) {
                db.conn_->wal_device = wal.st_dev;
                db.conn_->wal_inode = wal.st_ino;
            }
        }
    } catch (const storage_error& e) {
        // Errors from statements already start with "database FILE: ".
        std::string why = e.what();
        const std::string prefix = "database " + db_name(raw) + ": ";
        if (why.starts_with(prefix)) why.erase(0, prefix.size());
        throw storage_error(e.code(), "cannot open database " + name + ": " + why + "; " + open_hint(e.code()));
    }
    return db;
}

namespace {

// Whether path names the file (device, inode). statx asks for the inode
// number alone, not stat's timestamps: since Linux 6.13 a file's change time
// that was read is made fine-grained at its next write, so its inode is dirty
// after every write, and ext4 without a journal writes a dirty inode out at
// every fdatasync. The inbox writer asks before each commit: with stat, every
// commit's flush was two writes to the disk, one after the other (the WAL's
// frames, then its inode), about 60 µs more on an idle disk and twice the
// device's round trips under load (bench/README.md, sixteenth round).
bool names_file(const fs::path& path, dev_t device, ino_t inode) {
    struct statx sx {};
    const int rc = ::statx(AT_FDCWD, path.c_str(), 0, STATX_INO, &sx);
    if (rc == 0 && (sx.stx_mask & STATX_INO) != 0)
        return makedev(sx.stx_dev_major, sx.stx_dev_minor) == device && sx.stx_ino == inode;
    // Gone, or not ours to look at. Otherwise a kernel older than 4.11, a
    // sandbox that refuses statx, or a file system without inode numbers in
    // statx: stat, as before.
    if (rc != 0 && errno != ENOSYS && errno != EPERM) return false;
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && st.st_dev == device && st.st_ino == inode;
}

}  // namespace

bool database::file_intact() const {
    if (!names_file(conn_->path, conn_->device, conn_->inode)) return false;
    if (conn_->wal_inode == 0) return true;
    return names_file(conn_->path.string() + "-wal", conn_->wal_device, conn_->wal_inode);
}

void database::migrate() {
    const auto list = detail::migrations();
    const int known = static_cast<int>(list.size());
    const int current = schema_version();
    if (current > known) {
        throw storage_error(SQLITE_ERROR, "schema version " + std::to_string(current) +
                                              " is newer than this build of orderflow knows (" + std::to_string(known) +
                                              "); run the newer orderflowd that wrote it, or restore a backup");
    }
    for (int v = current + 1; v <= known; ++v) {
        try {
            transaction([&] {
                // Re-read under the write lock: another process (orderflowctl)
                // may have migrated since we looked.
                if (schema_version() >= v) return;
                exec(list[static_cast<std::size_t>(v - 1)]);
                exec("PRAGMA user_version = " + std::to_string(v));
            });
        } catch (const storage_error& e) {
            throw storage_error(e.code(), "migration " + std::to_string(v) + " failed, the database stays at version " +
                                              std::to_string(v - 1) + ": " + e.what());
        }
        log::info("storage_migrated", {{"file", conn_->path.string()}, {"version", v}});
    }
}

int database::latest_schema_version() { return static_cast<int>(detail::migrations().size()); }

void database::exec(std::string_view sql) {
    assert(conn_);
    std::string text(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(conn_->db, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string why = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        int code = sqlite3_extended_errcode(conn_->db);
        if ((code & 0xff) != (rc & 0xff)) code = rc;
        std::string excerpt = text.substr(0, 60);
        for (char& c : excerpt) {
            if (c == '\n' || c == '\t' || c == '\r') c = ' ';
        }
        throw storage_error(code, "database " + db_name(conn_->db) + ": " + why + " (while running `" + excerpt +
                                      (text.size() > 60 ? "...`)" : "`)"));
    }
}

void database::observe_prepares(std::function<void(std::string_view sql)> observer) {
    assert(conn_);
    conn_->observer = std::move(observer);
}

void database::hand_off_checkpoints(std::function<bool(int wal_pages)> wal_grew) {
    assert(conn_);
    conn_->wal_grew = std::move(wal_grew);
    if (!conn_->wal_grew) {
        sqlite3_wal_autocheckpoint(conn_->db, 1000);   // SQLite's default
        return;
    }
    // Replaces the hook wal_autocheckpoint installed: SQLite no longer checkpoints after commits.
    sqlite3_wal_hook(
        conn_->db,
        [](void* arg, sqlite3* db, const char* name, int pages) {
            // As SQLite's own hook does: a checkpoint that cannot run now
            // (another is running) is simply not made.
            if (static_cast<detail::connection*>(arg)->wal_grew(pages))
                sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            return SQLITE_OK;
        },
        conn_.get());
}

statement database::prepare(std::string_view sql) {
    assert(conn_);
    if (conn_->observer) conn_->observer(sql);
    auto& cache = conn_->cache;
    auto it = cache.find(sql);
    if (it == cache.end()) it = cache.emplace(std::string(sql), std::vector<sqlite3_stmt*>{}).first;
    auto& idle = it->second;
    if (!idle.empty()) {
        sqlite3_stmt* s = idle.back();
        idle.pop_back();
        return statement(s, conn_, &idle);
    }
    sqlite3_stmt* s = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(conn_->db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                                &tail);
    if (rc != SQLITE_OK) throw_sqlite(conn_->db, rc, sql.substr(0, 80));
    if (s == nullptr) throw storage_error(SQLITE_MISUSE, "database " + db_name(conn_->db) + ": empty SQL statement");
    for (const char* p = tail; p != nullptr && p < sql.data() + sql.size(); ++p) {
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') {
            sqlite3_finalize(s);
            throw storage_error(SQLITE_MISUSE, "database " + db_name(conn_->db) +
                                                   ": prepare() takes one statement; use exec() for several");
        }
    }
    return statement(s, conn_, &idle);
}

// The synchronous level is the pager's and applies to the next commit; it
// is set outside the transaction and put back to FULL once it has ended, so
// every other statement keeps the default.
void database::begin_transaction(durability d) {
    assert(conn_);
    assert(!conn_->in_tx && "database::transaction is not nestable");
    // SQLite rolled the batch back after a statement outside transaction()
    // failed: what it held is gone.
    if (conn_->batching && conn_->batch_open && sqlite3_get_autocommit(conn_->db) != 0) lose_batch();
    if (conn_->batching && conn_->batch_lost)
        throw storage_error(SQLITE_ABORT, "database " + db_name(conn_->db) +
                                              ": an error rolled back this batch of transactions; end the batch first");
    if (conn_->batching && d == durability::process_crash && !conn_->gathered_wal) {
        if (!conn_->batch_open) {
            begin_immediate(durability::process_crash);
            conn_->batch_open = true;
        }
        prepare("SAVEPOINT orderflow_batched").step();
        conn_->in_tx = conn_->in_savepoint = true;
        return;
    }
    // Whatever the batch holds is committed before a transaction of its own.
    if (conn_->batch_open) commit_open_batch();
    if (conn_->gathered_wal) {
        // What the WAL file still holds is from a transaction that did not
        // commit (SQLite may roll back by itself); and every commit here
        // must sync (wal_writes::gathered).
        detail::discard_pending_wal_writes(conn_->db);
        d = durability::power_loss;
    }
    begin_immediate(d);
    conn_->in_tx = true;
}

// BEGIN IMMEDIATE, its commit with synchronous=NORMAL when d asks only for
// surviving a crash of the process.
void database::begin_immediate(durability d) {
    if (d == durability::process_crash) {
        prepare("PRAGMA synchronous = NORMAL").step();
        conn_->relaxed_tx = true;
    }
    try {
        prepare("BEGIN IMMEDIATE").step();
    } catch (...) {
        end_relaxed();
        throw;
    }
    // Got it: no longer waiting, whatever others_want_the_lock() saw last.
    const detail::connection* waiting = conn_.get();   // replaced by the current value when another's
    lock_wanted_by.compare_exchange_strong(waiting, nullptr, std::memory_order_relaxed);
    lock_taken_by.store(conn_.get(), std::memory_order_relaxed);
    lock_taken_at_ns.store(steady_ns(), std::memory_order_relaxed);
    conn_->changes_at_begin = sqlite3_total_changes64(conn_->db);
}

void database::commit_transaction() {
    if (conn_->in_savepoint) {
        prepare("RELEASE orderflow_batched").step();
        conn_->in_tx = conn_->in_savepoint = false;
        return;
    }
    prepare("COMMIT").step();
    conn_->in_tx = false;
    const bool wrote = sqlite3_total_changes64(conn_->db) != conn_->changes_at_begin;
    if (wrote) ++conn_->commits;
    if (conn_->relaxed_tx) {
        if (wrote) conn_->unsynced = true;
        end_relaxed();
    } else if (wrote) {
        conn_->unsynced = false;   // this commit's fsync carried the WAL before it too
    }
}

void database::end_relaxed() noexcept {
    if (!conn_->relaxed_tx) return;
    conn_->relaxed_tx = false;
    sqlite3_exec(conn_->db, "PRAGMA synchronous = FULL", nullptr, nullptr, nullptr);
}

bool database::has_unsynced_commits() const { return conn_ && conn_->unsynced; }

std::uint64_t database::commits_written() const { return conn_ ? conn_->commits : 0; }

void database::synced_through(std::uint64_t commits) {
    if (conn_ && commits >= conn_->commits) conn_->unsynced = false;
}

void database::rollback_transaction() noexcept {
    conn_->in_tx = false;
    if (conn_->in_savepoint) {
        conn_->in_savepoint = false;
        if (sqlite3_get_autocommit(conn_->db) == 0 &&
            sqlite3_exec(conn_->db, "ROLLBACK TO orderflow_batched; RELEASE orderflow_batched", nullptr, nullptr, nullptr) == SQLITE_OK) {
            return;
        }
        // SQLite rolled back the batch's whole transaction by itself, or the
        // savepoint could not be taken back alone: the whole batch goes,
        // the earlier transactions of the batch with it.
        lose_batch();
        return;
    }
    // SQLite rolls back by itself on some errors (e.g. SQLITE_FULL); then
    // there is nothing left to roll back.
    if (sqlite3_get_autocommit(conn_->db) == 0) sqlite3_exec(conn_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    if (conn_->gathered_wal) detail::discard_pending_wal_writes(conn_->db);
    end_relaxed();
}

bool database::in_transaction() const { return conn_ && conn_->in_tx; }

void database::set_busy_timeout(std::chrono::milliseconds timeout) {
    conn_->busy_timeout = timeout;
    sqlite3_busy_handler(conn_->db, timeout.count() > 0 ? poll_for_lock : nullptr, conn_.get());
}

bool database::others_writing() const {
    constexpr std::int64_t lately_ns = 2'000'000;
    const detail::connection* by = lock_taken_by.load(std::memory_order_relaxed);
    return by != nullptr && by != conn_.get() && steady_ns() - lock_taken_at_ns.load(std::memory_order_relaxed) < lately_ns;
}

bool database::others_want_the_lock() const {
    constexpr std::int64_t fresh_ns = 600'000;
    const detail::connection* by = lock_wanted_by.load(std::memory_order_relaxed);
    return by != nullptr && by != conn_.get() && steady_ns() - lock_wanted_at_ns.load(std::memory_order_relaxed) < fresh_ns;
}

void database::begin_batch() {
    assert(conn_);
    assert(!conn_->in_tx && !conn_->batching && "begin_batch: a transaction or a batch is open");
    conn_->batching = true;
    conn_->batch_lost = false;
}

void database::commit_open_batch() {
    try {
        prepare("COMMIT").step();
    } catch (...) {
        lose_batch();
        throw;
    }
    conn_->batch_open = false;
    if (sqlite3_total_changes64(conn_->db) != conn_->changes_at_begin) {
        conn_->unsynced = true;
        ++conn_->commits;
    }
    end_relaxed();
}

// Rolls back what is left of the batch's transaction, if anything, and
// marks the batch lost: end_batch() then says so.
void database::lose_batch() noexcept {
    if (sqlite3_get_autocommit(conn_->db) == 0) sqlite3_exec(conn_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    conn_->batch_open = false;
    conn_->batch_lost = true;
    end_relaxed();
}

void database::end_batch() {
    assert(conn_ && conn_->batching && !conn_->in_tx);
    conn_->batching = false;
    if (conn_->batch_open && sqlite3_get_autocommit(conn_->db) != 0) conn_->batch_lost = true;
    if (conn_->batch_lost) {
        abandon_batch();
        throw storage_error(SQLITE_ABORT, "database " + db_name(conn_->db) +
                                              ": an error rolled back a batch of transactions; none of them was kept");
    }
    if (conn_->batch_open) commit_open_batch();
}

void database::abandon_batch() noexcept {
    if (!conn_) return;
    if (conn_->batch_open) lose_batch();
    conn_->batching = conn_->batch_lost = false;
}

bool database::batching() const { return conn_ && conn_->batching; }

int database::schema_version() {
    auto st = prepare("PRAGMA user_version");
    st.step();
    return static_cast<int>(st.int64(0));
}

std::int64_t database::last_insert_rowid() { return sqlite3_last_insert_rowid(conn_->db); }

int database::changes() { return sqlite3_changes(conn_->db); }

const fs::path& database::path() const { return conn_->path; }

// -------------------------------------------------------------------- backup_to

std::int64_t database::backup_to(const fs::path& dest) {
    assert(conn_);
    return detail::backup_copy(conn_->db, dest);
}

std::vector<std::string> permission_warnings(const fs::path& file) {
    std::vector<std::string> out;
    for (const char* suffix : {"", "-wal", "-shm"}) {
        const fs::path p = file.string() + suffix;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) continue;
        const unsigned mode = st.st_mode & 0777;
        if ((mode & 0027) == 0) continue;
        char octal[8];
        std::snprintf(octal, sizeof octal, "%04o", mode);
        out.push_back(p.string() + " has mode " + octal + ((mode & 0007) ? ": anyone on this machine" : ": its group") +
                      " may " + ((mode & 0022) ? "change" : "read") +
                      " it, and it holds buyers' names, addresses and messages; chmod 600 it (and the -wal and -shm files), "
                      "or 640 to a group only trusted staff are in");
    }
    return out;
}

// --------------------------------------------------------------------- hash_key

std::string hash_key(std::string_view material) {
    detail::ensure_sodium();
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(material.data()), material.size());
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

}  // namespace orderflow::storage
