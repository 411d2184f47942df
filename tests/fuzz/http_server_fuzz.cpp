// Fuzzes the HTTP server's request handling (tikapi/http.hpp, http_server):
// the input is the raw bytes a client sends on one connection.
//
// The server's session is written against a TCP stream (it needs the
// socket for lingering close, timeouts and eviction), so there is no
// in-memory stream to hand it. The harness therefore runs the real server
// in-process on 127.0.0.1, port 0, once for the whole run, and for each
// input opens a loopback connection, writes the bytes, half-closes, and
// reads the answer until the server closes. Everything runs on one thread:
// the io_context is driven until the client's read ends, so each input is
// served completely before the next.
//
// The limits are set low (header 2 KiB, 20 fields, body 1 KiB) so short
// inputs reach the 431 and 413 paths. The handler reads what handlers read
// (path, query, headers, body) and answers with their sizes.
//
// Invariants: nothing crashes; the server answers every connection with
// at most the bytes of well-formed HTTP/1.1 responses (each starts with
// "HTTP/1.1 "), or closes it without an answer.
#include "tests/fuzz/fuzz_support.hpp"
#include "tikapi/http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <memory>
#include <stdexcept>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace orderflow;

asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req) {
    std::string answer = req.method + " " + req.path() + "\n";
    for (const auto& [key, value] : req.query()) answer += key + "=" + std::to_string(value.size()) + "\n";
    answer += "content-type: " + std::string(req.header("Content-Type")) + "\n";
    answer += "headers: " + std::to_string(req.headers.size()) + ", body: " + std::to_string(req.body.size()) + "\n";
    if (req.path() == "/drop") {
        tikapi::http_response r;
        r.drop = true;
        co_return r;
    }
    if (req.path() == "/throw") throw std::runtime_error("the handler failed");
    co_return tikapi::http_response::text(200, std::move(answer));
}

struct rig {
    asio::io_context io;
    std::unique_ptr<tikapi::http_server> server;
    tcp::endpoint endpoint;

    rig() {
        tikapi::server_options opts;
        opts.header_limit = 2048;
        opts.max_header_count = 20;
        opts.body_limit = 1024;
        // Generous: every input ends with a half-close, so no wait runs out
        // unless the server hangs, which the fuzzer's -timeout then reports.
        opts.header_timeout = std::chrono::seconds(5);
        opts.read_timeout = std::chrono::seconds(5);
        opts.idle_timeout = std::chrono::seconds(5);
        server = std::make_unique<tikapi::http_server>(io.get_executor(), "127.0.0.1", 0, handle, opts);
        server->start();
        endpoint = tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port());
    }
};

asio::awaitable<void> client(tcp::endpoint to, std::string bytes, std::string& answer, bool& done) {
    tcp::socket socket(co_await asio::this_coro::executor);
    auto [cec] = co_await socket.async_connect(to, asio::as_tuple(asio::use_awaitable));
    if (!cec) {
        auto [wec, written] = co_await asio::async_write(socket, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
        (void)written;
        boost::system::error_code ignored;
        // The server reads until the end of the stream: half-closing says
        // "that was all" so it answers (or refuses) and closes at once.
        if (!wec) socket.shutdown(tcp::socket::shutdown_send, ignored);
        std::array<char, 4096> chunk{};
        for (;;) {
            auto [rec, n] = co_await socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
            answer.append(chunk.data(), n);
            if (rec) break;
        }
        socket.close(ignored);
    }
    done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_logs();
    static rig r;
    std::string answer;
    bool done = false;
    asio::co_spawn(r.io, client(r.endpoint, std::string(fuzz::as_text(data, size)), answer, done), asio::detached);
    while (!done) r.io.run_one();
    ORDERFLOW_FUZZ_CHECK(answer.empty() || answer.rfind("HTTP/1.1 ", 0) == 0);
    return 0;
}
