// Tests for daemon/review_cli.hpp's command line against a real database: a
// list cut at its limit says how many items it left out and the --limit that
// shows them, and an extra argument is a usage error rather than ignored.
#include "daemon/review_cli.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;

namespace {

struct rig {
    storage::testing::temp_dir dir;
    storage::database db = storage::database::open(dir / "orderflow.db");
    storage::store store{db};
    std::int64_t now = 1'790'000'000;
    std::string out, err;

    int run(review_args a) {
        std::ostringstream o, e;
        const int code = review_command(db, store, a, o, e, now);
        out = o.str();
        err = e.str();
        return code;
    }
    std::int64_t raise(int n) {
        return store.raise_review("O-" + std::to_string(n), "send_failed", "warning", "item " + std::to_string(n), nlohmann::json::object(),
                                  now + n);
    }
};

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("review list shows the newest 200 by default and says how many more open items there are", "[review]") {
    rig r;
    std::int64_t first = 0;
    for (int i = 0; i < 205; ++i) {
        const auto id = r.raise(i);
        if (i == 0) first = id;
    }
    review_args a;
    a.positional = {"review", "list"};
    CHECK(a.limit == 200);
    REQUIRE(r.run(a) == 0);
    CHECK(count(r.out, "send_failed") == 200);
    CHECK_THAT(r.out, !Catch::Contains("#" + std::to_string(first) + " "));   // the oldest is the one cut
    CHECK_THAT(r.out, Catch::EndsWith("\n5 more open items not shown: --limit 205\n"));

    a.limit = 205;
    REQUIRE(r.run(a) == 0);
    CHECK(count(r.out, "send_failed") == 205);
    CHECK_THAT(r.out, !Catch::Contains("not shown"));
    a.limit = 204;
    REQUIRE(r.run(a) == 0);
    CHECK_THAT(r.out, Catch::EndsWith("\n1 more open item not shown: --limit 205\n"));

    SECTION("with --all the count is of every item") {
        REQUIRE(r.store.set_review_state(first, "resolved", "hanako", "done", r.now));
        review_args all;
        all.positional = {"review", "list"};
        all.all = true;
        all.limit = 10;
        REQUIRE(r.run(all) == 0);
        CHECK_THAT(r.out, Catch::EndsWith("\n195 more items not shown: --limit 205\n"));
    }
}

TEST_CASE("review refuses an extra argument with a usage error", "[review]") {
    rig r;
    const auto id = std::to_string(r.raise(1));
    const auto [argv, extra] = GENERATE_COPY(table<std::vector<std::string>, std::string>({
        {{"review", "list", "open"}, "open"},
        {{"review", "show", id, "extra"}, "extra"},
        {{"review", "ack", id, "looking"}, "looking"},
        {{"review", "resolve", id, "told", "the buyer"}, "told"},
    }));
    CAPTURE(argv);
    review_args a;
    a.positional = argv;
    a.note = "a note";
    CHECK(r.run(a) == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("orderflowctl review " + argv[1] + ": unexpected argument '" + extra + "'\nusage: "));
    CHECK(r.store.get_review(std::stoll(id))->state == "open");
}

}  // namespace ORDERFLOW_TEST_FILE
