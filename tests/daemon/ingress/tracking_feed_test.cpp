// Tests for daemon/ingress/tracking_feed.hpp: POST /v1/tracking through
// handle() (requests built here; the listener is bound on port 0 only so the
// feed reads its token file), and scan() over a temporary drop folder, with
// files read on a background thread as in the daemon. What the warehouse
// relies on is checked in the real inbox, the review queue and the folder:
// each good row one event, each bad line named, refused files moved aside.
#include "daemon/ingress/tracking_feed.hpp"

#include "daemon/admin/console.hpp"
#include "daemon/admin/http_admin.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/security_watch.hpp"
#include "daemon/storage_watch.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <sys/stat.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace orderflow;
using namespace orderflow::daemon;
using namespace std::chrono_literals;
using orderflow::daemon::testing::log_capture;
using orderflow::daemon::testing::log_lines;
using orderflow::daemon::testing::runtime_env;

namespace {

constexpr const char* admin_token = "feed-token-3f9a61";
// ヤマト運輸 in CP932, as Excel saves it in Japan (printf 'ヤマト運輸' | iconv -f UTF-8 -t CP932 | xxd).
const std::string yamato_cp932 = "\x83\x84\x83\x7d\x83\x67\x89\x5e\x97\x41";

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
}

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file whose writer finished long ago: scan() takes only files unchanged for 2 s.
void settle(const fs::path& file) { fs::last_write_time(file, fs::file_time_type::clock::now() - 1h); }

bool present(const fs::path& p) { return fs::exists(fs::symlink_status(p)); }

// The feed and what it needs, on runtime_env, with an admin listener and a
// drop folder (`sub` in the environment's folder).
struct feed_env {
    runtime_env env;
    fs::path drop;
    std::unique_ptr<rules_in_force> in_force;
    storage_watch watch{env.ctx, *env.desk, env.sup, {}};
    inbox_writer writer{env.ctx, watch};
    asio::thread_pool background{1};
    int wakes = 0;
    std::unique_ptr<tracking_feed> feed;
    security_watch security{env.ctx, *env.desk};
    std::unique_ptr<breaker> brk;
    std::unique_ptr<console> ui;
    std::unique_ptr<http_admin> admin;

    explicit feed_env(const std::string& sub = "drop") : drop(env.dir / sub) {
        write_file(env.dir / "admin.token", std::string(admin_token) + "\n");
        ::chmod((env.dir / "admin.token").c_str(), 0600);
        fs::create_directories(drop);
        in_force = env.in_force_with([this](config& c) {
            c.admin.listen = listen_address{"127.0.0.1", 0};
            c.admin.token_file = secret_path(env.dir / "admin.token", "admin.token_file");
            c.tracking.feed_dir = drop;
        });
        feed = std::make_unique<tracking_feed>(env.ctx, *in_force, writer, *env.desk, env.sup, background.get_executor(),
                                               [this] { ++wakes; });
        brk = std::make_unique<breaker>(env.ctx, *in_force, *env.desk, nullptr);
        ui = std::make_unique<console>(env.ctx, *in_force, console::parts{*brk, security, nullptr, nullptr});
        admin = std::make_unique<http_admin>(env.ctx, *in_force, *feed, security, *ui,
                                             http_admin::sources{[] { return std::vector<readiness_check>{}; }, [] { return std::string(); }});
        admin->start();
    }
    ~feed_env() {
        admin->stop();
        feed->stop();
        background.join();
    }

    tikapi::http_response handle(tikapi::http_request req) {
        std::optional<tikapi::http_response> got;
        env.drive([&]() -> asio::awaitable<void> { got = co_await admin->handle(req); });
        REQUIRE(got.has_value());
        return *got;
    }
    void scan() {
        env.drive([&]() -> asio::awaitable<void> { co_await feed->scan(); });
    }
    std::vector<storage::event_row> events() { return env.store.recent_events(100); }
    std::vector<storage::review_item> reviews() { return env.store.reviews(false, 100); }
};

tikapi::http_request tracking_post(const std::string& body, const std::string& authorization = std::string("Bearer ") + admin_token) {
    tikapi::http_request req;
    req.method = "POST";
    req.target = "/v1/tracking";
    req.body = body;
    req.remote = "127.0.0.1:40001";
    if (!authorization.empty()) req.headers.push_back({"Authorization", authorization});
    return req;
}

const std::string good_post =
    json{{"order_id", "576461413038785001"}, {"carrier", "ヤマト運輸"}, {"tracking_number", "4912-0001"}}.dump();

}  // namespace

TEST_CASE("A tracking post without the right bearer token is refused with 401 and nothing is stored", "[tracking_feed]") {
    feed_env f;
    const auto authorization = GENERATE(as<std::string>{}, "", "Bearer ", "Bearer wrong-token", std::string("Basic ") + admin_token,
                                        std::string("Bearer ") + admin_token + "x");
    CAPTURE(authorization);
    auto r = f.handle(tracking_post(good_post, authorization));
    CHECK(r.status == 401);
    CHECK_THAT(r.body, Catch::Contains("admin.token_file"));
    CHECK(f.events().empty());
    CHECK(f.wakes == 0);
}

TEST_CASE("The tracking endpoint answers 404 for another path and 405 for a GET", "[tracking_feed]") {
    feed_env f;
    auto other = tracking_post(good_post);
    other.target = "/v1/orders";
    CHECK(f.handle(other).status == 404);
    auto get = tracking_post(good_post);
    get.method = "GET";
    CHECK(f.handle(get).status == 405);
    CHECK(f.events().empty());
}

TEST_CASE("A tracking post that is not a complete submission is refused with 400 saying what is wrong", "[tracking_feed]") {
    feed_env f;
    auto [body, why] = GENERATE(table<std::string, std::string>({
        {R"({"order_id":"576461413038785001","carrier":"ヤマト運輸"})", "tracking_number is missing"},
        {R"({"order_id":"57646141303878500X","carrier":"ヤマト運輸","tracking_number":"4912-0001"})",
         "order_id must be digits, found \"57646141303878500X\""},
    }));
    CAPTURE(body);
    auto r = f.handle(tracking_post(body));
    CHECK(r.status == 400);
    CHECK(json::parse(r.body).value("error", "") == why);
    CHECK(f.events().empty());
}

TEST_CASE("A new tracking post is accepted with 202 and the same post again with 200 as a duplicate", "[tracking_feed]") {
    feed_env f;
    auto first = f.handle(tracking_post(good_post));
    CHECK(first.status == 202);
    CHECK(json::parse(first.body) == json{{"accepted", true}, {"duplicate", false}});
    auto events = f.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].event == "tracking.received");
    CHECK(events[0].order_id == "576461413038785001");
    CHECK(json::parse(events[0].payload)["data"]["tracking_number"] == "4912-0001");
    CHECK(f.wakes == 1);

    auto again = f.handle(tracking_post(good_post));
    CHECK(again.status == 200);
    CHECK(json::parse(again.body) == json{{"accepted", true}, {"duplicate", true}});
    CHECK(f.events().size() == 1);
    CHECK(f.wakes == 1);
}

TEST_CASE("A tracking post while the database file is missing is answered 503", "[tracking_feed]") {
    feed_env f;
    const fs::path file = f.env.db.path();
    fs::rename(file, f.env.dir / "moved-away.db");
    auto r = f.handle(tracking_post(good_post));
    CHECK(r.status == 503);
    CHECK(f.wakes == 0);
    fs::rename(f.env.dir / "moved-away.db", file);
    CHECK(f.events().empty());
}

TEST_CASE("A dropped CSV file becomes events for its good rows and moves to processed with its bad lines named", "[tracking_feed]") {
    feed_env f;
    write_file(f.drop / "ship.csv",
               "order_id,carrier,tracking_number\r\n"
               "576461413038785001,ヤマト運輸,4912-0001\r\n"
               "57646141303878500X,ヤマト運輸,4912-0002\r\n"
               "576461413038785003,佐川急便,4912-0003\r\n");
    settle(f.drop / "ship.csv");
    write_file(f.drop / "notes.txt", "not a feed file");
    settle(f.drop / "notes.txt");
    f.scan();

    auto events = f.events();
    REQUIRE(events.size() == 2);
    std::vector<std::string> orders;
    for (const auto& e : events) {
        CHECK(e.event == "tracking.received");
        orders.push_back(e.order_id);
    }
    std::sort(orders.begin(), orders.end());
    CHECK(orders == std::vector<std::string>{"576461413038785001", "576461413038785003"});
    CHECK(f.wakes == 1);

    CHECK_FALSE(present(f.drop / "ship.csv"));
    CHECK(present(f.drop / "processed" / "ship.csv"));
    CHECK(read_text(f.drop / "processed" / "ship.csv.errors.txt") ==
          "ship.csv:3: order_id must be digits, found \"57646141303878500X\"\n");
    CHECK(present(f.drop / "notes.txt"));   // only *.csv files are the feed's

    auto items = f.reviews();
    REQUIRE(items.size() == 1);
    CHECK(items[0].reason == "tracking_feed_bad_rows");
    CHECK_THAT(items[0].summary, Catch::Contains("ship.csv: 1 bad row(s), first line 3"));

    SECTION("the same rows in another file add nothing") {
        write_file(f.drop / "again.csv", "order_id,carrier,tracking_number\n576461413038785001,ヤマト運輸,4912-0001\n");
        settle(f.drop / "again.csv");
        f.scan();
        CHECK(f.events().size() == 2);
        CHECK(f.wakes == 1);
        CHECK(present(f.drop / "processed" / "again.csv"));
        CHECK_FALSE(present(f.drop / "processed" / "again.csv.errors.txt"));
    }
}

TEST_CASE("Read and refused tracking files go once older than the retention of personal data, their reports too", "[tracking_feed]") {
    feed_env f;
    write_file(f.drop / "old.csv", "order_id,carrier,tracking_number\n57646141303878500X,ヤマト運輸,4912-0002\n");
    settle(f.drop / "old.csv");
    // Copied in with its old time kept (cp -p): its age counts from when it was read.
    write_file(f.drop / "copied.csv", "order_id,carrier,tracking_number\n576461413038785002,ヤマト運輸,4912-0003\n");
    fs::last_write_time(f.drop / "copied.csv", fs::file_time_type::clock::now() - std::chrono::hours(24 * 100));
    f.scan();
    const fs::path processed = f.drop / "processed" / "old.csv", report = f.drop / "processed" / "old.csv.errors.txt";
    REQUIRE(present(processed));
    REQUIRE(present(report));
    // The report quotes the file's rows: the service's user only.
    CHECK((fs::status(report).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
    fs::create_directories(f.drop / "rejected");
    const fs::path refused = f.drop / "rejected" / "big.csv";
    write_file(refused, "order_id\n");

    // Ninety-one days later (retention.personal_data is 90 days).
    const auto aged = fs::file_time_type::clock::now() - std::chrono::hours(24 * 91);
    for (const auto& p : {processed, report, refused}) fs::last_write_time(p, aged);
    write_file(f.drop / "new.csv", "order_id,carrier,tracking_number\n576461413038785001,ヤマト運輸,4912-0001\n");
    settle(f.drop / "new.csv");
    f.env.now += 1800;   // within the hour: not looked at again yet
    f.scan();
    CHECK(present(processed));
    f.env.now += 1800;
    f.scan();
    CHECK_FALSE(present(processed));
    CHECK_FALSE(present(report));
    CHECK_FALSE(present(refused));
    CHECK(present(f.drop / "processed" / "new.csv"));   // read just now: kept
    CHECK(present(f.drop / "processed" / "copied.csv"));
}

TEST_CASE("A CSV file changed in the last two seconds is left for the next scan", "[tracking_feed]") {
    feed_env f;
    write_file(f.drop / "writing.csv", "order_id,carrier,tracking_number\n576461413038785001,ヤマト運輸,4912-0001\n");
    // Set ahead of now, so that however slow the machine the file is still "just written".
    fs::last_write_time(f.drop / "writing.csv", fs::file_time_type::clock::now() + 1h);
    f.scan();
    CHECK(present(f.drop / "writing.csv"));
    CHECK(f.events().empty());
    settle(f.drop / "writing.csv");
    f.scan();
    CHECK(f.events().size() == 1);
    CHECK_FALSE(present(f.drop / "writing.csv"));
}

TEST_CASE("A symbolic link or a FIFO in the drop folder is never read and moves to rejected with a review item", "[tracking_feed]") {
    feed_env f;
    const auto kind = GENERATE(as<std::string>{}, "symlink", "fifo");
    CAPTURE(kind);
    const fs::path entry = f.drop / "planted.csv";
    std::string why;
    if (kind == "symlink") {
        // The link points at a perfectly good CSV file elsewhere: it must still not be followed.
        write_file(f.env.dir / "elsewhere.csv", "order_id,carrier,tracking_number\n576461413038785001,ヤマト運輸,4912-0001\n");
        fs::create_symlink(f.env.dir / "elsewhere.csv", entry);
        why = "it is a symbolic link; put the file itself in the folder";
    } else {
        REQUIRE(::mkfifo(entry.c_str(), 0600) == 0);
        why = "it is not a regular file";
    }
    f.scan();

    CHECK(f.events().empty());
    CHECK_FALSE(present(entry));
    CHECK(present(f.drop / "rejected" / "planted.csv"));
    CHECK(read_text(f.drop / "rejected" / "planted.csv.errors.txt") == "planted.csv: " + why + "\n");
    auto items = f.reviews();
    REQUIRE(items.size() == 1);
    CHECK(items[0].reason == "tracking_file_refused");
    CHECK(items[0].summary == "planted.csv was not read: " + why);
    CHECK(f.wakes == 0);
}

TEST_CASE("A CSV file over the size limit is refused unread and moves to rejected with a review item", "[tracking_feed]") {
    feed_env f;
    const fs::path big = f.drop / "huge.csv";
    write_file(big, "order_id,carrier,tracking_number\n");
    fs::resize_file(big, tracking_feed::max_file_bytes + 1);   // sparse: no 10 MiB written
    settle(big);
    f.scan();

    CHECK(f.events().empty());
    CHECK(present(f.drop / "rejected" / "huge.csv"));
    auto items = f.reviews();
    REQUIRE(items.size() == 1);
    CHECK(items[0].reason == "tracking_file_refused");
    CHECK_THAT(items[0].summary, Catch::Contains("over the limit of 10485760 bytes") && Catch::Contains("split it into smaller files"));
}

TEST_CASE("A CP932 file from Excel in the drop folder becomes events with the carrier in UTF-8", "[tracking_feed]") {
    feed_env f;
    write_file(f.drop / "excel.csv", "order_id,carrier,tracking_number\r\n576461413038785001," + yamato_cp932 + ",4912-0001\r\n");
    settle(f.drop / "excel.csv");
    f.scan();
    auto events = f.events();
    REQUIRE(events.size() == 1);
    CHECK(json::parse(events[0].payload)["data"]["carrier"] == "ヤマト運輸");
    CHECK(present(f.drop / "processed" / "excel.csv"));
    CHECK(f.reviews().empty());
}

TEST_CASE("read_file parses a regular file and tells a missing file from a refused one", "[tracking_feed]") {
    orderflow::storage::testing::temp_dir dir;
    write_file(dir / "excel.csv", "order_id,carrier,tracking_number\r\n576461413038785001," + yamato_cp932 + ",4912-0001\r\n");
    auto good = tracking_feed::read_file(dir / "excel.csv");
    CHECK(good.refused.empty());
    CHECK_FALSE(good.unreadable);
    CHECK(good.parsed.encoding == "cp932");
    REQUIRE(good.parsed.rows.size() == 1);
    CHECK(good.parsed.rows[0].submission.carrier == "ヤマト運輸");

    // Gone between the scan and the read: tried again later, not refused.
    auto missing = tracking_feed::read_file(dir / "gone.csv");
    CHECK(missing.unreadable);
    CHECK(missing.refused.empty());

    fs::create_symlink(dir / "excel.csv", dir / "link.csv");
    auto link = tracking_feed::read_file(dir / "link.csv");
    CHECK_FALSE(link.unreadable);
    CHECK(link.refused == "it is a symbolic link; put the file itself in the folder");
    CHECK(link.parsed.rows.empty());

    write_file(dir / "exact.csv", "");
    fs::resize_file(dir / "exact.csv", tracking_feed::max_file_bytes);   // at the limit is taken
    CHECK(tracking_feed::read_file(dir / "exact.csv").refused.empty());
}

TEST_CASE("While the database refuses writes a CSV file stays in the folder and a post gets 503, and both go in once afterwards", "[tracking_feed]") {
    feed_env f;
    write_file(f.drop / "ship.csv",
               "order_id,carrier,tracking_number\n"
               "576461413038785001,ヤマト運輸,4912-0001\n"
               "57646141303878500X,ヤマト運輸,4912-0002\n"
               "576461413038785003,佐川急便,4912-0003\n");
    settle(f.drop / "ship.csv");
    {
        daemon::testing::outside_write_lock lock(f.env);
        f.scan();
        CHECK(present(f.drop / "ship.csv"));
        CHECK_FALSE(present(f.drop / "processed" / "ship.csv"));
        CHECK(f.handle(tracking_post(good_post)).status == 503);
        CHECK(f.events().empty());
        CHECK(f.reviews().empty());
    }
    f.scan();
    CHECK(f.handle(tracking_post(good_post)).status == 200);   // the file brought the same row
    CHECK(f.events().size() == 2);
    CHECK(present(f.drop / "processed" / "ship.csv"));
    REQUIRE(f.reviews().size() == 1);
    CHECK(f.reviews()[0].reason == "tracking_feed_bad_rows");
    f.scan();
    CHECK(f.events().size() == 2);
}

TEST_CASE("A tracking post nested deeper than 64 levels is refused with 400 naming the limit and the next post is accepted", "[tracking_feed]") {
    feed_env f;
    const std::string deep = R"({"order_id":"576461413038785001","carrier":"ヤマト運輸","tracking_number":"4912-0001","x":)" +
                             std::string(70, '[') + std::string(70, ']') + "}";
    log_capture capture;
    const auto refused = f.handle(tracking_post(deep));
    const auto next = f.handle(tracking_post(good_post));
    const auto lines = log_lines(capture.finish(), "tracking_rejected");

    CHECK(refused.status == 400);
    CHECK(json::parse(refused.body).value("error", "") == "the body is JSON nested deeper than 64 levels");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["error"] == "the body is JSON nested deeper than 64 levels");
    CHECK(next.status == 202);
    CHECK(f.events().size() == 1);
}

TEST_CASE("A large CSV file is committed 500 rows at a time with the event loop free between the commits", "[tracking_feed]") {
    feed_env f;
    constexpr int rows = 1234;
    std::string text = "order_id,carrier,tracking_number\n";
    for (int i = 0; i < rows; ++i) text += std::to_string(576461413038780000LL + i) + ",ヤマト運輸,4912-" + std::to_string(i) + "\n";
    write_file(f.drop / "big.csv", text);
    settle(f.drop / "big.csv");
    auto inbox_rows = [&] {
        auto q = f.env.db.prepare("SELECT count(*) FROM inbox");
        REQUIRE(q.step());
        return q.int64(0);
    };

    // A probe that runs whenever the event loop is free, as a webhook would,
    // and notes how many rows the inbox holds then.
    std::set<std::int64_t> seen;
    bool scanning = true, probe_done = false;
    f.env.drive([&]() -> asio::awaitable<void> {
        asio::co_spawn(
            f.env.io,
            [&]() -> asio::awaitable<void> {
                while (scanning) {
                    seen.insert(inbox_rows());
                    co_await asio::post(f.env.io, asio::use_awaitable);
                }
                probe_done = true;
            },
            asio::detached);
        co_await f.feed->scan();
        scanning = false;
        while (!probe_done) co_await asio::post(f.env.io, asio::use_awaitable);
    });

    CHECK(inbox_rows() == rows);
    CHECK(present(f.drop / "processed" / "big.csv"));
    // The loop ran after each commit of 500 rows, and never saw part of one.
    CHECK(seen.count(500) == 1);
    CHECK(seen.count(1000) == 1);
    for (auto n : seen) CHECK((n == 0 || n == 500 || n == 1000 || n == rows));
}

TEST_CASE("A drop folder that cannot be created is logged once and reported until it can, then created", "[tracking_feed]") {
    feed_env f("blocked/drop");
    // A file where the folder's parent should be: not even root can create it.
    fs::remove_all(f.env.dir / "blocked");
    write_file(f.env.dir / "blocked", "not a folder\n");

    log_capture capture;
    f.scan();
    f.scan();
    f.scan();
    const std::string while_blocked = capture.finish();
    const auto unavailable = log_lines(while_blocked, "tracking_feed_unavailable");
    REQUIRE(unavailable.size() == 1);   // once, not at every scan
    CHECK(unavailable[0]["level"] == "error");
    CHECK(unavailable[0]["dir"] == f.drop.string());
    CHECK_THAT(unavailable[0]["error"].get<std::string>(), Catch::Contains("cannot be created") && Catch::Contains("Not a directory"));
    CHECK_THAT(unavailable[0]["advice"].get<std::string>(), Catch::Contains("mkdir -p " + f.drop.string()));
    CHECK_THAT(f.feed->unavailable(), Catch::Contains(f.drop.string()) && Catch::Contains("cannot be created"));

    // The operator makes room: the next scan creates the folder, says so once, and reads what comes.
    fs::remove(f.env.dir / "blocked");
    log_capture again;
    f.scan();
    f.scan();
    const std::string after = again.finish();
    CHECK(log_lines(after, "tracking_feed_available").size() == 1);
    CHECK(log_lines(after, "tracking_feed_unavailable").empty());
    CHECK(fs::is_directory(f.drop));
    CHECK(f.feed->unavailable().empty());
}

TEST_CASE("A drop folder path that is a file is reported as not a folder", "[tracking_feed]") {
    feed_env f;
    fs::remove_all(f.drop);
    write_file(f.drop, "order_id,carrier,tracking_number\n");
    log_capture capture;
    f.scan();
    const auto lines = log_lines(capture.finish(), "tracking_feed_unavailable");
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0]["error"].get<std::string>(), Catch::Contains("is not a folder"));
    CHECK_THAT(lines[0]["advice"].get<std::string>(), Catch::StartsWith("CSV files are not read until it is a folder: move what is there"));
    CHECK_FALSE(f.feed->unavailable().empty());
}

}  // namespace ORDERFLOW_TEST_FILE
