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

// How many writes the VFS has made to WAL files (not how many SQLite asked
// for), process-wide: for tests.
long batched_wal_writes_made();

}  // namespace orderflow::storage::detail
