// A VFS that gathers a connection's writes to its WAL file into one write
// per commit (database::open_options::batched_wal; see batched_wal.cpp for
// why it is safe and when it is not).
#pragma once

struct sqlite3;

namespace orderflow::storage::detail {

// The VFS's name for sqlite3_open_v2, registered on the first call.
const char* batched_wal_vfs();

// Drops the writes a connection opened with that VFS holds for its WAL file
// and has not written yet. Called when a transaction starts or is rolled
// back: what is held then belongs to a transaction that did not commit (a
// commit writes everything before its fsync), and writing it later, after
// another connection has appended to the WAL, would overwrite that
// connection's frames. Does nothing for other connections.
void discard_pending_wal_writes(sqlite3* db);

// The connection's next commit writes its frames but leaves its fsync
// owed (see batched_wal.cpp, "A connection may also leave..."). False when
// the connection is not this VFS's or has no WAL file open yet (nothing is
// deferred then).
bool defer_next_wal_sync(sqlite3* db);
// Whether a commit left its sync owed since the last call, with no sync of
// the WAL by this connection after it; ends a deferral the commit did not
// use (it failed, or wrote nothing).
bool take_owed_wal_sync(sqlite3* db);

// How many writes the VFS has made to WAL files (not how many SQLite asked
// for), and how many syncs of them, process-wide: for tests.
long batched_wal_writes_made();
long batched_wal_syncs_made();

}  // namespace orderflow::storage::detail
