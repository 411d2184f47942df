// A mistyped storage.path must not quietly start a new database: one
// without the shop's tokens, its planned messages and timers, its review
// queue, and its record of what was sent (docs/operations.md, "Files").
#pragma once

#include <filesystem>
#include <string>

namespace orderflow::daemon::detail {

// When `database_file` does not exist but orderflowd has run on another
// database in the same folder (an SQLite file NAME with NAME.lock beside
// it, the file every start of orderflowd leaves), why a new one is refused and what
// to do; "" otherwise (the file exists, or the folder holds no database a
// daemon ran on: a first start, a fresh folder, only backups). `where`
// names the config file, for the message.
std::string new_database_refusal(const std::filesystem::path& database_file, const std::filesystem::path& where);

}  // namespace orderflow::daemon::detail
