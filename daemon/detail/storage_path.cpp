// See storage_path.hpp.
#include "daemon/detail/storage_path.hpp"

#include <cstring>
#include <fstream>
#include <system_error>

namespace orderflow::daemon::detail {

namespace fs = std::filesystem;

namespace {

bool is_sqlite_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    char header[16] = {};
    return in.read(header, sizeof header) && std::memcmp(header, "SQLite format 3", 16) == 0;
}

}  // namespace

std::string new_database_refusal(const fs::path& database_file, const fs::path& where) {
    std::error_code ec;
    if (fs::symlink_status(database_file, ec).type() != fs::file_type::not_found) return "";   // there (or unreadable: open says)
    const fs::path dir = database_file.parent_path().empty() ? fs::path(".") : database_file.parent_path();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path lock = it->path();
        if (lock.extension() != ".lock") continue;
        const fs::path used = lock.parent_path() / lock.stem();   // NAME.db.lock -> NAME.db
        if (used == database_file || !fs::is_regular_file(used, ec) || !is_sqlite_file(used)) continue;
        return "storage.path in " + where.string() + " names " + database_file.string() +
               ", which does not exist, but orderflowd has run on " + used.string() +
               " in the same folder. A new database would start without that one's tokens, planned messages, timers and "
               "review queue, and without its record of what was sent. If storage.path is mistyped, correct it; to start a "
               "new database on purpose, move " + used.filename().string() + " and its -wal, -shm, .lock and .forgets files "
               "out of the folder first (keep them: they are the shop's history)";
    }
    return "";
}

}  // namespace orderflow::daemon::detail
