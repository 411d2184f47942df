// database::backup_to's work, on the source connection's handle (detail/backup.cpp).
#pragma once

#include <cstdint>
#include <filesystem>

struct sqlite3;

namespace orderflow::storage::detail {

// Copies the database behind `source` to `dest` (which must not exist) as
// database::backup_to documents; the size of the copy in bytes. Throws
// storage_error saying what failed.
std::int64_t backup_copy(sqlite3* source, const std::filesystem::path& dest);

}  // namespace orderflow::storage::detail
