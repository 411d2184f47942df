// SQLite writes each WAL frame as two write(2)s, its 24-byte header and then
// the page, so a commit of 27 pages costs 54 system calls before its fsync;
// on a virtual machine a system call costs several times what it does on
// bare metal, and the inbox writer's commits were 3.6 writes per webhook
// (bench/ingest-history.md, "Fifth round"). This VFS wraps the default one and, for
// WAL files only, keeps consecutive writes in memory and makes them one
// write when SQLite next syncs, reads, sizes, truncates or closes the file.
// The database file and the shared-memory index go straight to the default
// VFS (the file is opened by it, in place), so locking and the wal-index
// are shared with every other connection as before.
//
// Why that keeps every promise, and the one condition it needs:
//  - A commit with synchronous=FULL syncs the WAL after writing its frames
//    and before it appends them to the wal-index, which is what makes them
//    visible to other connections. The sync writes what is held first, so
//    no connection can see a frame that is not in the file, and a commit
//    that returned is on disk as before.
//  - A commit with synchronous=NORMAL does not sync: its frames would be
//    published while still held here. So a connection on this VFS must
//    commit with FULL only (database::begin_transaction makes every
//    transaction of such a connection durable to power loss).
//  - Frames held for a transaction that did not commit must never be
//    written after the write lock is released: another connection may
//    append frames at the same offsets meanwhile. database's
//    begin_transaction and rollback_transaction discard them
//    (discard_pending_wal_writes); within the transaction, while this
//    connection holds the write lock, writing them is harmless (frames
//    beyond the last commit are ignored), so a read that flushes first is
//    fine.
//  - SQLite overwrites a frame of the open transaction when it writes the
//    page again; an overwrite inside what is held changes the held copy.
#include "storage/detail/batched_wal.hpp"

#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>

namespace orderflow::storage::detail {

namespace {

constexpr sqlite3_int64 max_held = 8 << 20;        // a larger write goes out at once
constexpr sqlite3_int64 capacity_kept = 1 << 20;   // a larger buffer is freed after a flush

std::atomic<long> writes_made{0};

struct wal_file {
    sqlite3_file base;    // pMethods = &wal_methods
    sqlite3_file* real;   // the default VFS's file, right after this struct
    char* held;           // bytes for offsets [at, at + length)
    sqlite3_int64 at;
    sqlite3_int64 length;
    sqlite3_int64 capacity;
};

constexpr std::size_t header_size = (sizeof(wal_file) + 15) & ~std::size_t{15};

sqlite3_vfs* base_vfs = nullptr;
sqlite3_vfs batched{};
sqlite3_io_methods wal_methods{};

wal_file* as_wal(sqlite3_file* f) { return reinterpret_cast<wal_file*>(f); }

void release(wal_file* f) {
    f->length = 0;
    if (f->capacity > capacity_kept) {
        sqlite3_free(f->held);
        f->held = nullptr;
        f->capacity = 0;
    }
}

// The default VFS writes at most 128 KiB - 1 bytes per call (os_unix.c
// masks the length with 0x1ffff: a longer write comes out short and is
// reported as SQLITE_FULL), so larger runs go in pieces of that size.
constexpr int largest_write = 0x1ffff;

int write_through(wal_file* f, const void* data, sqlite3_int64 amount, sqlite3_int64 offset) {
    const char* from = static_cast<const char*>(data);
    while (amount > 0) {
        const int piece = static_cast<int>(amount < largest_write ? amount : largest_write);
        ++writes_made;
        if (const int rc = f->real->pMethods->xWrite(f->real, from, piece, offset); rc != SQLITE_OK) return rc;
        from += piece;
        offset += piece;
        amount -= piece;
    }
    return SQLITE_OK;
}

// Writes what is held. On failure the bytes are dropped as well: SQLite
// fails the transaction they belong to, and nothing refers to them.
int flush(wal_file* f) {
    if (f->length == 0) return SQLITE_OK;
    const int rc = write_through(f, f->held, f->length, f->at);
    release(f);
    return rc;
}

bool hold(wal_file* f, const void* data, int amount, sqlite3_int64 offset) {
    const sqlite3_int64 need = f->length + amount;
    if (need > max_held) return false;
    if (need > f->capacity) {
        sqlite3_int64 grown = f->capacity > 0 ? f->capacity : 64 * 1024;
        while (grown < need) grown *= 2;
        void* p = sqlite3_realloc64(f->held, static_cast<sqlite3_uint64>(grown));
        if (p == nullptr) return false;
        f->held = static_cast<char*>(p);
        f->capacity = grown;
    }
    if (f->length == 0) f->at = offset;
    std::memcpy(f->held + f->length, data, static_cast<std::size_t>(amount));
    f->length = need;
    return true;
}

int wal_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
    wal_file* f = as_wal(file);
    const sqlite3_int64 end = f->at + f->length;
    if (f->length > 0 && offset >= f->at && offset + amount <= end) {
        std::memcpy(f->held + (offset - f->at), data, static_cast<std::size_t>(amount));
        return SQLITE_OK;
    }
    if (f->length > 0 && offset == end && hold(f, data, amount, offset)) return SQLITE_OK;
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    if (hold(f, data, amount, offset)) return SQLITE_OK;
    return write_through(f, data, amount, offset);
}

int wal_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
    wal_file* f = as_wal(file);
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int wal_sync(sqlite3_file* file, int flags) {
    wal_file* f = as_wal(file);
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    return f->real->pMethods->xSync(f->real, flags);
}

int wal_truncate(sqlite3_file* file, sqlite3_int64 size) {
    wal_file* f = as_wal(file);
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    return f->real->pMethods->xTruncate(f->real, size);
}

int wal_file_size(sqlite3_file* file, sqlite3_int64* size) {
    wal_file* f = as_wal(file);
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    return f->real->pMethods->xFileSize(f->real, size);
}

// Anything still held at close belongs to a transaction that did not commit.
int wal_close(sqlite3_file* file) {
    wal_file* f = as_wal(file);
    sqlite3_free(f->held);
    f->held = nullptr;
    f->length = f->capacity = 0;
    return f->real->pMethods->xClose(f->real);
}

int wal_lock(sqlite3_file* file, int level) { return as_wal(file)->real->pMethods->xLock(as_wal(file)->real, level); }
int wal_unlock(sqlite3_file* file, int level) { return as_wal(file)->real->pMethods->xUnlock(as_wal(file)->real, level); }
int wal_check_reserved(sqlite3_file* file, int* out) {
    return as_wal(file)->real->pMethods->xCheckReservedLock(as_wal(file)->real, out);
}
int wal_file_control(sqlite3_file* file, int op, void* arg) {
    return as_wal(file)->real->pMethods->xFileControl(as_wal(file)->real, op, arg);
}
int wal_sector_size(sqlite3_file* file) { return as_wal(file)->real->pMethods->xSectorSize(as_wal(file)->real); }
int wal_device(sqlite3_file* file) {
    return as_wal(file)->real->pMethods->xDeviceCharacteristics(as_wal(file)->real);
}

int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    // Everything but the WAL is the default VFS's own file, in place.
    if ((flags & SQLITE_OPEN_WAL) == 0) return base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
    wal_file* f = as_wal(file);
    std::memset(f, 0, sizeof(wal_file));
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + header_size);
    const int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
        return rc;
    }
    f->base.pMethods = &wal_methods;
    return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs*, const char* name, int sync_dir) { return base_vfs->xDelete(base_vfs, name, sync_dir); }
int vfs_access(sqlite3_vfs*, const char* name, int flags, int* out) { return base_vfs->xAccess(base_vfs, name, flags, out); }
int vfs_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return base_vfs->xFullPathname(base_vfs, name, n, out);
}
void* vfs_dl_open(sqlite3_vfs*, const char* name) { return base_vfs->xDlOpen(base_vfs, name); }
void vfs_dl_error(sqlite3_vfs*, int n, char* out) { base_vfs->xDlError(base_vfs, n, out); }
void (*vfs_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) { return base_vfs->xDlSym(base_vfs, handle, symbol); }
void vfs_dl_close(sqlite3_vfs*, void* handle) { base_vfs->xDlClose(base_vfs, handle); }
int vfs_randomness(sqlite3_vfs*, int n, char* out) { return base_vfs->xRandomness(base_vfs, n, out); }
int vfs_sleep(sqlite3_vfs*, int micros) { return base_vfs->xSleep(base_vfs, micros); }
int vfs_current_time(sqlite3_vfs*, double* out) { return base_vfs->xCurrentTime(base_vfs, out); }
int vfs_last_error(sqlite3_vfs*, int n, char* out) { return base_vfs->xGetLastError(base_vfs, n, out); }
int vfs_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) { return base_vfs->xCurrentTimeInt64(base_vfs, out); }

}  // namespace

const char* batched_wal_vfs() {
    static std::once_flag once;
    std::call_once(once, [] {
        sqlite3_initialize();
        base_vfs = sqlite3_vfs_find(nullptr);
        wal_methods.iVersion = 1;   // no shared memory or mmap: those are the database file's
        wal_methods.xClose = wal_close;
        wal_methods.xRead = wal_read;
        wal_methods.xWrite = wal_write;
        wal_methods.xTruncate = wal_truncate;
        wal_methods.xSync = wal_sync;
        wal_methods.xFileSize = wal_file_size;
        wal_methods.xLock = wal_lock;
        wal_methods.xUnlock = wal_unlock;
        wal_methods.xCheckReservedLock = wal_check_reserved;
        wal_methods.xFileControl = wal_file_control;
        wal_methods.xSectorSize = wal_sector_size;
        wal_methods.xDeviceCharacteristics = wal_device;

        batched.iVersion = 2;
        batched.szOsFile = static_cast<int>(header_size) + base_vfs->szOsFile;
        batched.mxPathname = base_vfs->mxPathname;
        batched.zName = "orderflow-batched-wal";
        batched.xOpen = vfs_open;
        batched.xDelete = vfs_delete;
        batched.xAccess = vfs_access;
        batched.xFullPathname = vfs_full_pathname;
        batched.xDlOpen = vfs_dl_open;
        batched.xDlError = vfs_dl_error;
        batched.xDlSym = vfs_dl_sym;
        batched.xDlClose = vfs_dl_close;
        batched.xRandomness = vfs_randomness;
        batched.xSleep = vfs_sleep;
        batched.xCurrentTime = vfs_current_time;
        batched.xGetLastError = vfs_last_error;
        batched.xCurrentTimeInt64 = vfs_current_time_int64;
        sqlite3_vfs_register(&batched, 0);
    });
    return batched.zName;
}

void discard_pending_wal_writes(sqlite3* db) {
    sqlite3_file* wal = nullptr;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || wal == nullptr) return;
    if (wal->pMethods != &wal_methods) return;
    release(as_wal(wal));
}

long batched_wal_writes_made() { return writes_made.load(); }

}  // namespace orderflow::storage::detail
