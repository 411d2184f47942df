// Tests of the command line (tikapi/sandbox/cli.cpp).
#include "tikapi/sandbox/cli.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

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
