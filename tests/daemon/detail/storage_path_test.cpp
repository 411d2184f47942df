// Tests for daemon/detail/storage_path.hpp: a storage.path naming no file
// is refused only beside a database orderflowd has run on (an SQLite file
// with its .lock), however many other files the folder holds.
#include "daemon/detail/storage_path.hpp"

#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::daemon::detail::new_database_refusal;
using orderflow::storage::testing::temp_dir;

namespace {

void write(const std::filesystem::path& file, const std::string& text) { std::ofstream(file, std::ios::binary) << text; }

const std::string sqlite_header("SQLite format 3\0rest of the page", 32);

}  // namespace

TEST_CASE("A new database is refused beside one orderflowd ran on, past stray lock files, and allowed otherwise", "[storage_path]") {
    temp_dir dir;
    const auto typo = dir / "orderflw.db";
    CHECK(new_database_refusal(typo, "orderflow.json").empty());   // an empty folder: a first start

    write(dir / "orderflow.db", sqlite_header);
    CHECK(new_database_refusal(typo, "orderflow.json").empty());   // a database no daemon ran on (a copy)

    // Locks of databases moved away, and a lock of something not SQLite:
    // many, so that the walk meets some before the one that matters.
    for (int i = 0; i < 40; ++i) write(dir / ("moved-" + std::to_string(i) + ".db.lock"), "1\n");
    write(dir / "notes.txt", "not a database");
    write(dir / "notes.txt.lock", "1\n");
    CHECK(new_database_refusal(typo, "orderflow.json").empty());

    write(dir / "orderflow.db.lock", "4242\n");
    const std::string why = new_database_refusal(typo, "orderflow.json");
    CHECK_THAT(why, Catch::Contains("storage.path in orderflow.json names " + typo.string() + ", which does not exist, but "
                                    "orderflowd has run on " + (dir / "orderflow.db").string()));
    CHECK(new_database_refusal(dir / "orderflow.db", "orderflow.json").empty());   // the path that exists
}

}  // namespace ORDERFLOW_TEST_FILE
