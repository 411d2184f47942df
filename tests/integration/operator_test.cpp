// What an operator does: check rule files, reload, stop; and what the owner
// was promised: no secret in any log.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/vault.hpp"
#include "tikapi/models.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

const char* good_rules = R"({
  "templates": { "hello": { "ja": "{{order.buyer_name}}様、ご注文ありがとうございます。" } },
  "rules": [
    { "id": "hello", "on": "order.status_changed",
      "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "send_message": { "template": "hello" } } ] }
  ]
}
)";

const char* second_rule = R"({
  "templates": { "bye": { "ja": "{{order.buyer_name}}様、お届けしました。" } },
  "rules": [
    { "id": "delivered", "on": "order.status_changed",
      "if": { "order.status": { "eq": "DELIVERED" } },
      "then": [ { "send_message": { "template": "bye" } } ] }
  ]
}
)";

// A missing comma: the parser stops at line 4, column 7 (the "on" key).
const char* syntax_error = "{\n  \"rules\": [\n    { \"id\": \"x\"\n      \"on\": \"order.status_changed\" }\n  ]\n}\n";
// A misspelt action at line 4, column 19.
const char* unknown_action =
    "{\n  \"rules\": [\n    { \"id\": \"broken\", \"on\": \"order.status_changed\",\n      \"then\": [ { \"send_mesage\": { \"template\": \"x\" } } ] }\n  ]\n}\n";

struct offline_stack : stack {
    offline_stack() {
        sandbox_port = 9;   // no sandbox: a base URL check accepts (port 0 is not one), where nobody answers
        write_file(dir / "app_secret", app_secret, 0600);
        write_config();
        auto r = run({(bin_dir() / "orderflowctl").string(), "keygen", (dir / "vault.key").string()});
        REQUIRE(r.exit_code == 0);
    }
    run_result check() { return run({(bin_dir() / "orderflowctl").string(), "check", "--config", config_path().string()}); }
};

}  // namespace

TEST_CASE("orderflowctl check reports rule errors with file, line and column and exits 1", "[integration]") {
    offline_stack s;
    SECTION("a syntax error") {
        s.write_rules("20-broken.json", syntax_error);
        auto r = s.check();
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("20-broken.json:4:7:"));
    }
    SECTION("an unknown action") {
        s.write_rules("20-broken.json", unknown_action);
        auto r = s.check();
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("20-broken.json:4:19:"));
        CHECK_THAT(r.output, Catch::Contains("send_mesage"));
    }
    SECTION("valid rules") {
        s.write_rules("10-good.json", good_rules);
        auto r = s.check();
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("ok:"));
    }
}

TEST_CASE("orderflowctl check reports config errors naming the key path and position", "[integration]") {
    offline_stack s;
    s.write_rules("10-good.json", good_rules);
    write_file(s.config_path(), "{\n  \"webhook\": { \"lissen\": \"127.0.0.1:1\" },\n  \"storage\": { \"path\": 5 }\n}\n");
    auto r = s.check();
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("orderflow.json:2:16:"));
    CHECK_THAT(r.output, Catch::Contains("webhook.lissen"));
    CHECK_THAT(r.output, Catch::Contains("orderflow.json:3:24:"));
    CHECK_THAT(r.output, Catch::Contains("'storage.path' must be a string"));
    CHECK_THAT(r.output, Catch::Contains("missing required key 'tiktok.app_key'"));
}

namespace {

// A stand-in for systemd's notify socket: a datagram socket in the test's folder.
struct notify_socket {
    explicit notify_socket(const std::filesystem::path& p) : path(p.string()) {
        fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    }
    ~notify_socket() {
        ::unsetenv("NOTIFY_SOCKET");
        ::close(fd);
    }
    // Every message received so far, joined with '|'.
    std::string drain() {
        char buf[256];
        for (;;) {
            auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) break;
            received += std::string(buf, n) + "|";
        }
        return received;
    }
    std::string path;
    std::string received;
    int fd = -1;
};

}  // namespace

TEST_CASE("SIGHUP swaps in valid rules, keeps the old ones when a file is broken, and SIGTERM exits 0", "[integration]") {
    stack s;
    s.write_rules("10-good.json", good_rules);
    s.start_sandbox();
    s.write_config();
    s.authorize();
    notify_socket systemd(s.dir / "notify.sock");
    s.start_daemon();
    REQUIRE(eventually([&] { return systemd.drain().find("READY=1") != std::string::npos; }));

    s.write_rules("20-second.json", unknown_action);
    s.daemon.signal(SIGHUP);
    auto kept = wait_for_log(s.daemon.log(), "rules_kept");
    CHECK(kept.at("rules").get<int>() == 1);
    CHECK_FALSE(log_lines(s.daemon.log(), "rules_reload_failed").empty());
    REQUIRE(s.daemon.running());

    // The old rule still works after the failed reload.
    auto order = s.create_order({{"buyer_name", "佐藤 太郎"}, {"line_items", {{{"seller_sku", "TEA-02"}, {"product_name", "煎茶"}, {"sale_price", "1200"}}}}});
    std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));

    s.write_rules("20-second.json", second_rule);
    s.daemon.signal(SIGHUP);
    auto reloaded = wait_for_log(s.daemon.log(), "rules_reloaded");
    CHECK(reloaded.at("rules").get<int>() == 2);

    s.daemon.signal(SIGTERM);
    auto status = s.daemon.wait(std::chrono::seconds(10));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
    CHECK(log_lines(s.daemon.log(), "daemon_stopped").size() == 1);
    auto notes = systemd.drain();
    CHECK_THAT(notes, Catch::Contains("RELOADING=1"));
    CHECK_THAT(notes, Catch::Contains("STOPPING=1"));
}

TEST_CASE("No log line of a whole run contains the app secret or a token", "[integration]") {
    stack s;
    s.write_rules("10-good.json", good_rules);
    s.start_all();
    auto order = s.create_order({{"buyer_name", "鈴木 一郎"}, {"line_items", {{{"seller_sku", "CUP-03"}, {"product_name", "湯呑み"}, {"sale_price", "2500"}}}}});
    std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    wait_for_log(s.daemon.log(), "action_done");
    // A failing token makes the daemon refresh, so the rotated tokens are in play too.
    auto processed_before = log_lines(s.daemon.log(), "event_processed").size();
    s.control("POST", "/control/tokens/expire", json::object());
    s.set_status(id, "AWAITING_COLLECTION");
    wait_for_log(s.daemon.log(), "token_refreshed");
    REQUIRE(eventually([&] { return log_lines(s.daemon.log(), "event_processed").size() > processed_before; }));
    s.daemon.signal(SIGTERM);
    s.daemon.wait();

    // The tokens as stored (decrypted with the vault key, as the daemon does).
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::vault vault(db, orderflow::storage::read_vault_key(s.dir / "vault.key"));
    auto stored = vault.get("tiktok_tokens");
    REQUIRE(stored);
    auto tokens = orderflow::tikapi::parse_tokens(*stored);
    REQUIRE(tokens);
    REQUIRE(tokens->access_token.reveal().size() > 8);

    std::string everything = read_file(s.sandbox.log()) + s.ctl_log();
    for (int i = 1; i <= s.daemon_starts; ++i) everything += read_file(s.dir / ("orderflowd-" + std::to_string(i) + ".log"));
    REQUIRE(everything.find("webhook_listening") != std::string::npos);   // the logs are really there
    CHECK(everything.find(stack::app_secret) == std::string::npos);
    CHECK(everything.find(tokens->access_token.reveal()) == std::string::npos);
    CHECK(everything.find(tokens->refresh_token.reveal()) == std::string::npos);
    CHECK(everything.find("TTP_") == std::string::npos);
}

}  // namespace ORDERFLOW_TEST_FILE
