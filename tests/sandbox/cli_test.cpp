// Tests of the command line (tikapi/sandbox/cli.cpp).
#include "tikapi/sandbox/cli.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace {

struct temp_file {
    std::filesystem::path path;
    explicit temp_file(const std::string& content) {
        char name[] = "/tmp/sandbox_cli_test_XXXXXX";
        int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        close(fd);
        path = name;
        std::ofstream(path) << content;
    }
    ~temp_file() { std::filesystem::remove(path); }
};

std::variant<orderflow::sandbox::command_line, std::string> parse(std::vector<std::string> args) {
    std::vector<const char*> argv = {"orderflow-sandbox"};
    for (auto& a : args) argv.push_back(a.c_str());
    return orderflow::sandbox::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("The command line reads every option and the secret from its file", "[cli]") {
    temp_file secret("s3cr3t-value\n");
    auto result = parse({"--listen", "127.0.0.1:0", "--app-key", "KEY", "--app-secret-file", secret.path.string(),
                         "--shop-cipher", "CIPHER", "--shop-id", "123", "--webhook-url", "http://127.0.0.1:9000/hook",
                         "--retry-scale", "0.001", "--access-ttl", "60", "--seed", "7"});
    REQUIRE(std::holds_alternative<orderflow::sandbox::command_line>(result));
    auto& cl = std::get<orderflow::sandbox::command_line>(result);
    CHECK(cl.host == "127.0.0.1");
    CHECK(cl.port == 0);
    CHECK(cl.shop.app_key == "KEY");
    CHECK(cl.shop.app_secret.reveal() == "s3cr3t-value");   // trailing newline dropped
    CHECK(cl.shop.shop_cipher == "CIPHER");
    CHECK(cl.shop.shop_id == "123");
    CHECK(cl.shop.webhook_url == "http://127.0.0.1:9000/hook");
    CHECK(cl.shop.retry_scale == Approx(0.001));
    CHECK(cl.shop.access_ttl == 60);
    CHECK(cl.shop.seed == 7u);
}

TEST_CASE("The command line refuses what would be wrong, saying why", "[cli]") {
    temp_file secret("s3cr3t-value");
    temp_file empty("\n");
    // The generator outlives one run of the test case and the temp files do
    // not, so the table names them with placeholders.
    auto [args, expected] = GENERATE(table<std::vector<std::string>, std::string>({
        {{"--listen", "127.0.0.1:0", "--app-key", "K", "--shop-cipher", "C"}, "required"},
        {{"--listen", "0.0.0.0:8080", "--app-key", "K", "--app-secret-file", "$SECRET", "--shop-cipher", "C"}, "loopback"},
        {{"--listen", "127.0.0.1", "--app-key", "K", "--app-secret-file", "$SECRET", "--shop-cipher", "C"}, "HOST:PORT"},
        {{"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file", "/nonexistent/secret", "--shop-cipher", "C"}, "cannot read"},
        {{"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file", "$EMPTY", "--shop-cipher", "C"}, "empty"},
        {{"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file", "$SECRET", "--shop-cipher", "C", "--webhook-url", "https://example.com/x"}, "this machine"},
        {{"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file", "$SECRET", "--shop-cipher", "C", "--retry-scale", "fast"}, "retry-scale"},
        {{"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file", "$SECRET", "--shop-cipher", "C", "--bogus", "1"}, "unknown option"},
    }));
    for (auto& a : args) {
        if (a == "$SECRET") a = secret.path.string();
        if (a == "$EMPTY") a = empty.path.string();
    }
    auto result = parse(args);
    REQUIRE(std::holds_alternative<std::string>(result));
    const auto& message = std::get<std::string>(result);
    CHECK_THAT(message, Catch::Contains(expected));
    CHECK(message.find("s3cr3t-value") == std::string::npos);
}

TEST_CASE("The command line reads the time, fault and load options", "[cli]") {
    temp_file secret("s3cr3t-value");
    auto result = parse({"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file", secret.path.string(),
                         "--shop-cipher", "C", "--hold-seconds", "0", "--auto-advance", "5,20",
                         "--webhook-cancel-status", "CANCELLED", "--require-subscription", "true",
                         "--rate-limit-qps", "10", "--fault-error-share", "0.1", "--fault-throttle-share", "0.05",
                         "--fault-drop-share", "0.02", "--fault-drop-after-share", "0.03", "--fault-slow-share", "0.04",
                         "--fault-slow-ms", "12000", "--webhook-lose-share", "0.1", "--webhook-duplicate-share", "0.2",
                         "--webhook-reorder-ms", "500", "--token-early-share", "0.5", "--token-early-after", "30",
                         "--load-orders", "100", "--load-rate", "20", "--load-custom-share", "0.5",
                         "--load-note-share", "0.1", "--load-message-share", "0.2"});
    REQUIRE(std::holds_alternative<orderflow::sandbox::command_line>(result));
    auto& cl = std::get<orderflow::sandbox::command_line>(result);
    CHECK(cl.shop.hold_seconds == 0);
    CHECK(cl.shop.auto_in_transit_after == 5);
    CHECK(cl.shop.auto_delivered_after == 20);
    CHECK(cl.shop.webhook_cancel_status == "CANCELLED");
    CHECK(cl.shop.require_subscription);
    CHECK(cl.shop.rate_limit_qps == 10);
    const auto& f = cl.shop.faults;
    CHECK(f.error_share == Approx(0.1));
    CHECK(f.throttle_share == Approx(0.05));
    CHECK(f.drop_share == Approx(0.02));
    CHECK(f.drop_after_share == Approx(0.03));
    CHECK(f.slow_share == Approx(0.04));
    CHECK(f.slow_ms == 12000);
    CHECK(f.webhook_lose_share == Approx(0.1));
    CHECK(f.webhook_duplicate_share == Approx(0.2));
    CHECK(f.webhook_reorder_ms == 500);
    CHECK(f.token_early_share == Approx(0.5));
    CHECK(f.token_early_after == 30);
    CHECK(cl.load.orders == 100);
    CHECK(cl.load.rate == Approx(20));
    CHECK(cl.load.custom_share == Approx(0.5));
    CHECK(cl.load.note_share == Approx(0.1));
    CHECK(cl.load.message_share == Approx(0.2));
}

TEST_CASE("The command line refuses bad time, fault and load options", "[cli]") {
    temp_file secret("s3cr3t-value");
    auto [extra, expected] = GENERATE(table<std::vector<std::string>, std::string>({
        {{"--hold-seconds", "-1"}, "--hold-seconds"},
        {{"--auto-advance", "20,5"}, "--auto-advance"},
        {{"--auto-advance", "5"}, "--auto-advance"},
        {{"--webhook-cancel-status", "CANCELED"}, "CANCEL or CANCELLED"},
        {{"--require-subscription", "yes"}, "true or false"},
        {{"--fault-error-share", "1.5"}, "share from 0 to 1"},
        {{"--fault-error-share", "0.6", "--fault-slow-share", "0.6"}, "at most 1"},
        {{"--fault-slow-ms", "soon"}, "--fault-slow-ms"},
        {{"--load-rate", "0"}, "--load-rate"},
        {{"--tls-cert", "/tmp/cert.pem"}, "go together"},
    }));
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--app-key", "K", "--app-secret-file",
                                     secret.path.string(), "--shop-cipher", "C"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = parse(args);
    REQUIRE(std::holds_alternative<std::string>(result));
    CHECK_THAT(std::get<std::string>(result), Catch::Contains(expected));
}

TEST_CASE("Asked for help the sandbox prints its usage on standard output and exits 0, a bad option still exits 1", "[cli]") {
    auto run = [](std::vector<std::string> args, std::string& out) {
        std::vector<const char*> argv = {"orderflow-sandbox"};
        for (auto& a : args) argv.push_back(a.c_str());
        std::fflush(stdout);
        char name[] = "/tmp/sandbox_cli_out_XXXXXX";
        const int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        const int saved = dup(STDOUT_FILENO);
        dup2(fd, STDOUT_FILENO);
        const int status = orderflow::sandbox::run(static_cast<int>(argv.size()), argv.data());
        std::fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        close(fd);
        std::ifstream in(name);
        out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        std::filesystem::remove(name);
        return status;
    };
    std::string out;
    for (const char* flag : {"--help", "-h"}) {
        CHECK(run({flag}, out) == 0);
        CHECK(out.rfind("usage: orderflow-sandbox --listen", 0) == 0);
    }
    CHECK(run({"--listen", "127.0.0.1:0", "--help"}, out) == 0);
    // "--help" as an option's value is that value, not a request for help.
    CHECK(run({"--app-key", "--help"}, out) == 1);
    CHECK(out.empty());
    CHECK(run({"--no-such-option", "x"}, out) == 1);
    CHECK(out.empty());
}

}  // namespace ORDERFLOW_TEST_FILE
