// The shop's authorization as the operator lives it: the seller removes the
// app (webhook 6), orderflow stops and says so in status and to staff; the
// operator re-authorizes and it resumes without a restart; a late retry of
// the old deauthorization does not undo the new authorization.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <ctime>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

std::string status_of(stack& s) {
    return run({(bin_dir() / "orderflowctl").string(), "status", "--config", s.config_path().string()}).output;
}

}  // namespace

TEST_CASE("Deauthorization stops orderflow with advice, a new authorization resumes it, and a late retry is ignored",
          "[integration][auth]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();

    REQUIRE(s.control("POST", "/control/deauthorize", json::object()).status == 200);
    wait_for_log(s.daemon.log(), "shop_deauthorized");
    REQUIRE(eventually([&] { return status_of(s).find("auth:     STOPPED") != std::string::npos; }));
    CHECK(status_of(s).find("orderflowctl auth url") != std::string::npos);
    {
        auto db = orderflow::storage::database::open(s.db_path());
        bool critical = false;
        for (const auto& r : orderflow::storage::store(db).reviews(false, 100))
            critical = critical || (r.reason == "deauthorized" && r.severity == "critical");
        CHECK(critical);
    }

    // The operator authorizes again; the running daemon takes the new tokens.
    s.authorize();
    REQUIRE(eventually([&] { return status_of(s).find("daemon: authorized") != std::string::npos; }));
    auto order = s.create_order({{"buyer_name", "山田 花子"},
                                 {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグカップ"}, {"sale_price", "1800"}}}}});
    const std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));

    // TikTok retries an old notification hours later: it was sent before the new tokens.
    json late = {{"type", 6}, {"tts_notification_id", "itest-late-deauth"}, {"shop_id", "7494049642642441621"},
                 {"timestamp", static_cast<std::int64_t>(std::time(nullptr)) - 3600},
                 {"data", {{"message", "seller deauthorized"}}}};
    REQUIRE(s.post_webhook(late.dump()).status == 200);
    wait_for_log(s.daemon.log(), "deauthorization_ignored");
    CHECK(status_of(s).find("daemon: authorized") != std::string::npos);
}

namespace {

bool tokens_stored(stack& s) {
    auto db = orderflow::storage::database::open(s.db_path());
    auto st = db.prepare("SELECT count(*) FROM vault WHERE name = 'tiktok_tokens'");
    st.step();
    return st.int64(0) > 0;
}

std::size_t calls_so_far(stack& s) {
    return s.control("GET", "/control/calls").json_body().at("calls").size();
}

}  // namespace

TEST_CASE("auth disconnect on a running daemon stops its TikTok calls at once and deletes the tokens for good",
          "[integration][auth]") {
    stack s;
    s.extra_config = {{"poll", {{"interval", "1s"}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    REQUIRE(tokens_stored(s));
    wait_for_log(s.daemon.log(), "poll_done");

    auto r = run({(bin_dir() / "orderflowctl").string(), "auth", "disconnect", "--config", s.config_path().string()});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("tokens deleted") != std::string::npos);
    wait_for_log(s.daemon.log(), "shop_disconnected");
    CHECK_FALSE(tokens_stored(s));

    // Polls every second before; now nothing, and a refresh never writes the tokens back.
    const auto before = calls_so_far(s);
    eventually([] { return false; }, std::chrono::seconds(3));
    CHECK(calls_so_far(s) == before);
    CHECK_FALSE(tokens_stored(s));
    CHECK(status_of(s).find("orderflowctl auth url") != std::string::npos);
}

TEST_CASE("A deauthorization webhook deletes the stored tokens", "[integration][auth]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    REQUIRE(tokens_stored(s));
    REQUIRE(s.control("POST", "/control/deauthorize", json::object()).status == 200);
    wait_for_log(s.daemon.log(), "shop_deauthorized");
    REQUIRE(eventually([&] { return !tokens_stored(s); }));
}

TEST_CASE("notify test says so and exits 1 when the daemon is not running, and queues nothing", "[integration][auth]") {
    stack s;
    s.extra_config = {{"notify", {{"heartbeat", "off"}, {"channels", {{"ops", {{"type", "command"}, {"command", {"/bin/cat"}}}}}}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const auto ctl = (bin_dir() / "orderflowctl").string();
    auto up = run({ctl, "notify", "test", "ops", "--config", s.config_path().string()});
    INFO(up.output);
    CHECK(up.exit_code == 0);
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    auto down = run({ctl, "notify", "test", "ops", "--config", s.config_path().string()});
    INFO(down.output);
    CHECK(down.exit_code == 1);
    CHECK(down.output.find("is it running?") != std::string::npos);
    CHECK(down.output.find("nothing was queued") != std::string::npos);
}

}  // namespace ORDERFLOW_TEST_FILE
