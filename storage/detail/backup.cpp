// The online copy behind database::backup_to (see database.hpp): one
// consistent snapshot, its unfinished messages marked so a restore sends
// nothing twice, checked, synced, and only then given its name.
#include "storage/detail/backup.hpp"

#include "storage/database.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <system_error>
#include <unistd.h>

namespace orderflow::storage::detail {

namespace fs = std::filesystem;

std::int64_t backup_copy(sqlite3* source, const fs::path& dest) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(dest, ec)))
        throw storage_error(SQLITE_CANTOPEN, "the backup file " + dest.string() + " already exists; name a new file (nothing is overwritten)");
    const fs::path tmp = dest.string() + ".partial";
    fs::remove(tmp, ec);   // left by a backup that died; never a finished one
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        throw storage_error(SQLITE_CANTOPEN, "cannot create the backup's temporary file " + tmp.string() + ": " + std::strerror(errno) +
                                                 "; check that the directory exists and is writable");
    ::close(fd);
    sqlite3* out = nullptr;
    auto fail = [&](int rc, const std::string& what) {
        std::string why = out ? sqlite3_errmsg(out) : sqlite3_errstr(rc);
        if (out) sqlite3_close_v2(out);
        fs::remove(tmp, ec);
        throw storage_error(rc, "backup to " + dest.string() + " failed while " + what + ": " + why +
                                    ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR ? "; the disk is full or failing" : ""));
    };
    int rc = sqlite3_open_v2(tmp.c_str(), &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
    if (rc != SQLITE_OK) fail(rc, "opening the copy");
    sqlite3_busy_timeout(out, 5000);
    // One step of every page: the source is read in one read transaction,
    // so the copy is one consistent snapshot however busy the writers are.
    sqlite3_backup* b = sqlite3_backup_init(out, "main", source, "main");
    if (b == nullptr) fail(sqlite3_errcode(out), "starting the copy");
    for (int tries = 0;; ++tries) {
        rc = sqlite3_backup_step(b, -1);
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && tries < 50) {
            sqlite3_sleep(100);
            continue;
        }
        break;
    }
    const int finish = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) fail(rc, "copying");
    if (finish != SQLITE_OK) fail(finish, "finishing the copy");
    // A message planned when the copy was taken may have been sent since.
    // In the copy it is 'sending': a daemon started on it finds it
    // interrupted (unknown) and reconciles it against the conversation
    // before anything is sent, so a restore never sends a message twice.
    if ((rc = sqlite3_exec(out,
                           "UPDATE outbox SET state = 'sending', reason = 'in a backup: may have been sent after the copy was taken' "
                           "WHERE state IN ('planned', 'deferred') AND kind IN ('send_message', 'reply')",
                           nullptr, nullptr, nullptr)) != SQLITE_OK)
        fail(rc, "marking the copy's unfinished messages");
    // The copy knows when it was taken: a daemon started on it reconciles
    // every message for a day before sending it (daemon/executor/
    // message_sender.cpp), because changes after this moment may have been
    // messaged already and the copy cannot know.
    if ((rc = sqlite3_exec(out,
                           "INSERT OR REPLACE INTO daemon_state (name, value, updated_at) "
                           "VALUES ('backup', json_object('taken_at', unixepoch()), unixepoch())",
                           nullptr, nullptr, nullptr)) != SQLITE_OK)
        fail(rc, "marking the copy");
    // The copy is in WAL mode like its source; fold its WAL in, so the one
    // file is the whole backup.
    if ((rc = sqlite3_exec(out, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr)) != SQLITE_OK) fail(rc, "checkpointing the copy");
    {
        sqlite3_stmt* st = nullptr;
        rc = sqlite3_prepare_v2(out, "PRAGMA integrity_check", -1, &st, nullptr);
        if (rc != SQLITE_OK) fail(rc, "checking the copy");
        std::string verdict = sqlite3_step(st) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "";
        sqlite3_finalize(st);
        if (verdict != "ok") fail(SQLITE_CORRUPT, "checking the copy (integrity_check: " + verdict + ")");
    }
    rc = sqlite3_close(out);
    out = nullptr;
    if (rc != SQLITE_OK) fail(rc, "closing the copy");
    fs::remove(tmp.string() + "-wal", ec);
    fs::remove(tmp.string() + "-shm", ec);
    fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        if (fd >= 0) ::close(fd);
        fail(SQLITE_IOERR, "syncing the copy");
    }
    ::close(fd);
    if (::link(tmp.c_str(), dest.c_str()) != 0) {   // not rename: never replaces a file that appeared meanwhile
        const int err = errno;
        fs::remove(tmp, ec);
        throw storage_error(SQLITE_CANTOPEN, "cannot name the backup " + dest.string() + ": " + std::strerror(err));
    }
    fs::remove(tmp, ec);
    if (int dir = ::open(dest.parent_path().empty() ? "." : dest.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return static_cast<std::int64_t>(fs::file_size(dest, ec));
}

}  // namespace orderflow::storage::detail
