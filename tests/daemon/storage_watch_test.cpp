// Tests for daemon/storage_watch.cpp: lost() notices the database file being
// deleted, moved away or replaced while it is open, tells staff once with a
// critical review item, and when the file is back at its path says so and
// calls on_back so the idle loops resume.
#include "daemon/storage_watch.hpp"

#include "tests/daemon/runtime_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace fs = std::filesystem;
using namespace orderflow;
using namespace orderflow::daemon;
using orderflow::daemon::testing::runtime_env;

namespace {

std::vector<storage::review_item> missing_items(runtime_env& env) {
    std::vector<storage::review_item> out;
    for (auto& r : env.store.reviews(true, 100))
        if (r.reason == "database_file_missing") out.push_back(r);
    return out;
}

struct watch_rig {
    runtime_env env;
    int backs = 0;
    storage_watch watch{env.ctx, *env.desk, env.sup, [this] { ++backs; }};
    fs::path file = env.db.path();
    fs::path aside = env.dir / "moved-away.db";
};

}  // namespace

TEST_CASE("The database file in place is not lost and nobody is told anything", "[storage_watch]") {
    watch_rig rig;

    CHECK_FALSE(rig.watch.lost());
    CHECK_FALSE(rig.watch.lost());

    CHECK_FALSE(rig.watch.known_lost());
    CHECK(missing_items(rig.env).empty());
    CHECK(rig.backs == 0);
}

TEST_CASE("A database file deleted, moved away or replaced is lost and staff are told once", "[storage_watch]") {
    watch_rig rig;
    const std::string how = GENERATE(std::string("deleted"), std::string("moved"), std::string("replaced"));
    if (how == "deleted") {
        fs::remove(rig.file);
    } else if (how == "moved") {
        fs::rename(rig.file, rig.aside);
    } else {
        fs::rename(rig.file, rig.aside);
        std::ofstream(rig.file) << "not the database that was opened";
    }

    CHECK(rig.watch.lost());
    CHECK(rig.watch.known_lost());
    CHECK(rig.watch.lost());   // asked again: still lost, told once

    auto items = missing_items(rig.env);
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "critical");
    CHECK(items[0].occurrences == 1);
    CHECK(items[0].summary.find(rig.file.string()) != std::string::npos);
    CHECK(rig.backs == 0);
}

TEST_CASE("A database file moved back is no longer lost and the loops are woken once", "[storage_watch]") {
    watch_rig rig;
    // Deleted, but still linked elsewhere (as a mistaken mv, or a hard link kept by hand).
    const bool was_deleted = GENERATE(true, false);
    if (was_deleted) {
        fs::create_hard_link(rig.file, rig.aside);
        fs::remove(rig.file);
    } else {
        fs::rename(rig.file, rig.aside);
    }
    REQUIRE(rig.watch.lost());

    fs::rename(rig.aside, rig.file);

    CHECK_FALSE(rig.watch.lost());
    CHECK_FALSE(rig.watch.known_lost());
    CHECK(rig.backs == 1);
    CHECK_FALSE(rig.watch.lost());
    CHECK(rig.backs == 1);
}

TEST_CASE("A database file lost a second time raises the count of the open item", "[storage_watch]") {
    watch_rig rig;
    fs::rename(rig.file, rig.aside);
    REQUIRE(rig.watch.lost());
    fs::rename(rig.aside, rig.file);
    REQUIRE_FALSE(rig.watch.lost());

    fs::rename(rig.file, rig.aside);
    CHECK(rig.watch.lost());

    auto items = missing_items(rig.env);
    REQUIRE(items.size() == 1);
    CHECK(items[0].occurrences == 2);
}

}  // namespace ORDERFLOW_TEST_FILE
