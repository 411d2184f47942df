// The shipped orderflow-sandbox binary (tikapi/sandbox/main.cpp, cli.cpp):
// it logs {"event":"sandbox_listening","port":N} on stderr, serves, and
// exits 0 on SIGTERM. The binary is found through ORDERFLOW_BIN (ctest sets
// it; the test is skipped with a warning when it is not set).
#include "tikapi/sandbox/cli.hpp"

#include "tests/sandbox/helpers.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;
using namespace std::chrono_literals;

namespace {

// Reads stderr lines until one has the listening event; returns its JSON.
json wait_for_listening(int fd) {
    std::string buffer;
    for (int rounds = 0; rounds < 100; ++rounds) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t newline;
        while ((newline = buffer.find('\n')) != std::string::npos) {
            json line = json::parse(buffer.substr(0, newline), nullptr, false);
            buffer.erase(0, newline + 1);
            if (line.is_object() && line.value("event", "") == "sandbox_listening") return line;
        }
    }
    return nullptr;
}

}  // namespace

TEST_CASE("The binary logs its port, answers, keeps the secret out of its logs and exits 0 on SIGTERM",
          "[main]") {
    const char* bin_dir = std::getenv("ORDERFLOW_BIN");
    if (!bin_dir) {
        WARN("ORDERFLOW_BIN is not set; run through ctest");
        return;
    }
    const std::string binary = std::string(bin_dir) + "/orderflow-sandbox";
    REQUIRE(std::filesystem::exists(binary));
    char secret_name[] = "/tmp/sandbox_main_test_XXXXXX";
    int secret_fd = mkstemp(secret_name);
    REQUIRE(secret_fd >= 0);
    REQUIRE(write(secret_fd, "bin-secret-123\n", 15) == 15);
    close(secret_fd);

    int err_pipe[2];
    REQUIRE(pipe(err_pipe) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(err_pipe[1], STDERR_FILENO);
        close(err_pipe[0]);
        close(err_pipe[1]);
        execl(binary.c_str(), binary.c_str(), "--listen", "127.0.0.1:0", "--app-key", "KEY", "--app-secret-file",
              secret_name, "--shop-cipher", "CIPHER", "--seed", "3", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(err_pipe[1]);
    json listening = wait_for_listening(err_pipe[0]);
    REQUIRE(listening.is_object());
    const int port = listening["port"].get<int>();
    CHECK(port > 0);
    CHECK(listening["shop_cipher"] == "CIPHER");

    // One request over the socket: an order created through the control API.
    boost::asio::io_context io;
    std::optional<orderflow::tikapi::result<http_response>> answer;
    // Built outside the coroutine: g++ 12 rejects braced string literals
    // inside a co_await expression ("array used as initializer").
    const auto request = plain(
        "POST", "/control/orders",
        json{{"buyer_name", "a"},
             {"line_items", json::array({{{"seller_sku", "S"}, {"product_name", "p"}, {"sale_price", "1"}}})}}
            .dump());
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            orderflow::tikapi::http_client client(io.get_executor());
            auto base = *orderflow::tikapi::url::parse("http://127.0.0.1:" + std::to_string(port));
            answer.emplace(co_await client.send(base, request, 5s));
        },
        boost::asio::detached);
    io.run_for(10s);
    REQUIRE(answer.has_value());
    REQUIRE(answer->ok());
    CHECK(answer->value().status == 200);

    kill(pid, SIGTERM);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    std::string rest;
    char chunk[4096];
    ssize_t n;
    while ((n = read(err_pipe[0], chunk, sizeof chunk)) > 0) rest.append(chunk, static_cast<std::size_t>(n));
    close(err_pipe[0]);
    CHECK(rest.find("sandbox_stopping") != std::string::npos);
    CHECK(rest.find("bin-secret-123") == std::string::npos);
    std::filesystem::remove(secret_name);
}

}  // namespace ORDERFLOW_TEST_FILE
