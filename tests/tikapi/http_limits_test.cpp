// http_server under connection floods (server_options' caps and deadlines,
// tikapi/http_server.cpp): slow clients give way to genuine requests, busy
// caps get 503, oversized headers 431, running out of file descriptors neither hangs
// nor kills the accept loop, every limit is logged by its name, valid
// requests are served while and after a limit is hit, and afterwards the
// process's descriptors are back to their count and the server holds no
// connection (http_server::connections(): its bookkeeping is released). Clients are raw sockets on loopback; one
// bound to 127.0.0.2 is "another peer" (all of 127/8 is loopback on Linux).
// The tests that exhaust descriptors lower this process's soft
// RLIMIT_NOFILE for a moment and restore it.
#include "tikapi/http.hpp"

#include "tests/common/log_capture.hpp"
#include "tests/tikapi/test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace orderflow::tikapi;
using orderflow::tikapi::test::run;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

using orderflow::testing::log_capture;
using orderflow::testing::log_lines;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// How long a test waits for an answer before it calls the server silent.
// A guard against hanging, not a speed requirement.
constexpr auto guard = 10s;

const std::string half_header = "POST /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Type: appl";

std::string get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"; }

using client = std::unique_ptr<beast::tcp_stream>;

// A socket opened and bound to `source`, not yet connected.
client open_from(asio::io_context& ioc, const std::string& source) {
    auto c = std::make_unique<beast::tcp_stream>(ioc);
    c->socket().open(tcp::v4());
    c->socket().bind({asio::ip::make_address(source), 0});
    return c;
}

asio::awaitable<void> connect_and_send(beast::tcp_stream& c, std::uint16_t port, const std::string& text) {
    c.expires_after(guard);
    co_await c.async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
    co_await asio::async_write(c, asio::buffer(text), asio::use_awaitable);
}

asio::awaitable<client> connect_from(const std::string& source, std::uint16_t port, const std::string& text) {
    auto c = std::make_unique<beast::tcp_stream>(co_await asio::this_coro::executor);
    c->socket().open(tcp::v4());
    c->socket().bind({asio::ip::make_address(source), 0});
    co_await connect_and_send(*c, port, text);
    co_return c;
}

struct reply {
    std::string text;
    bool closed = false;   // the server closed the connection (false: it stayed silent for `guard`)
};

// Reads until the server closes the connection.
asio::awaitable<reply> read_to_end(beast::tcp_stream& c) {
    reply r;
    c.expires_after(guard);
    auto [ec, n] = co_await asio::async_read(c, asio::dynamic_buffer(r.text), use_tuple);
    (void)n;
    r.closed = ec != beast::error::timeout;
    co_return r;
}

asio::awaitable<reply> exchange(const std::string& source, std::uint16_t port, const std::string& text) {
    auto c = co_await connect_from(source, port, text);
    co_return co_await read_to_end(*c);
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// Answers "/slow" only once the gate opens; everything else at once.
struct gated {
    explicit gated(asio::io_context& ioc) : gate(ioc), entered_signal(ioc) {
        gate.expires_at(asio::steady_timer::time_point::max());
        entered_signal.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer gate;
    asio::steady_timer entered_signal;
    bool open = false;
    int entered = 0;

    http_handler handler() {
        return [this](http_request& r) -> asio::awaitable<http_response> {
            if (r.path() == "/slow") {
                ++entered;
                entered_signal.cancel();
                if (!open) co_await gate.async_wait(use_tuple);
                co_return http_response::text(200, "slow done");
            }
            co_return http_response::text(200, "ok " + r.path());
        };
    }
    asio::awaitable<void> wait_entered(int n) {
        while (entered < n) co_await entered_signal.async_wait(use_tuple);
    }
    void release() {
        open = true;
        gate.cancel();
    }
};

asio::awaitable<http_response> plain(http_request& r) { co_return http_response::text(200, "ok " + r.path()); }

std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

// Polls until the process has `n` descriptors open again (the server closes
// its side of a connection once it notices the client is gone).
asio::awaitable<std::size_t> wait_for_fds(std::size_t n) {
    asio::steady_timer tick(co_await asio::this_coro::executor);
    for (int i = 0; i < 1000 && open_fds() != n; ++i) {
        tick.expires_after(10ms);
        co_await tick.async_wait(use_tuple);
    }
    co_return open_fds();
}

// What a flood left behind once its clients have gone: the process's open
// descriptors and the connections the server still holds (its bookkeeping:
// 0 means every connection's state and per-peer count was released).
struct aftermath {
    std::size_t fds = 0;
    std::size_t connections = 0;
};

// Polls (bounded) until the process has `baseline` descriptors again and the
// server holds no connection.
asio::awaitable<aftermath> settle(const http_server& server, std::size_t baseline) {
    asio::steady_timer tick(co_await asio::this_coro::executor);
    for (int i = 0; i < 1000 && (open_fds() != baseline || server.connections() != 0); ++i) {
        tick.expires_after(10ms);
        co_await tick.async_wait(use_tuple);
    }
    co_return aftermath{open_fds(), server.connections()};
}

// Lowers the soft descriptor limit and fills every free descriptor below
// it, so the next accept fails with EMFILE; restores both when released.
struct descriptor_famine {
    rlimit saved{};
    std::vector<int> fillers;
    bool active = false;

    // Leaves `room` descriptors free under a lowered limit.
    void limit_to_room(int room) {
        REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
        int highest = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
            highest = std::max(highest, std::stoi(entry.path().filename().string()));
        rlimit low = saved;
        low.rlim_cur = static_cast<rlim_t>(highest + 1 + room);
        REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
        active = true;
    }
    // Takes every descriptor still free.
    void fill() {
        for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
    }
    void end() {
        for (int fd : fillers) ::close(fd);
        fillers.clear();
        if (active) setrlimit(RLIMIT_NOFILE, &saved);
        active = false;
    }
    ~descriptor_famine() { end(); }
};

}  // namespace

TEST_CASE("slow clients over the per-peer cap give way to a genuine request from the same address and do not affect another", "[http][limits]") {
    asio::io_context ioc;
    server_options options;
    options.max_connections_per_peer = 3;
    options.header_timeout = 500ms;
    options.read_timeout = 60s;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, plain, options);
    server.start();

    struct outcome {
        reply same_peer, other_peer;
        std::vector<reply> slow;
    };
    auto o = run(ioc, [&]() -> asio::awaitable<outcome> {
        outcome out;
        std::vector<client> slow;
        for (int i = 0; i < 10; ++i) slow.push_back(co_await connect_from("127.0.0.1", server.port(), half_header));
        out.other_peer = co_await exchange("127.0.0.2", server.port(), get("/other"));
        out.same_peer = co_await exchange("127.0.0.1", server.port(), get("/same"));
        for (auto& c : slow) out.slow.push_back(co_await read_to_end(*c));
        server.stop();
        co_return out;
    }());

    CHECK(starts_with(o.other_peer.text, "HTTP/1.1 200"));
    CHECK(o.other_peer.text.find("ok /other") != std::string::npos);
    CHECK(starts_with(o.same_peer.text, "HTTP/1.1 200"));
    CHECK(o.same_peer.text.find("ok /same") != std::string::npos);
    // Every slow client was closed: the older ones to make room, the last
    // ones at the header deadline; none got an answer to half a header.
    for (const auto& r : o.slow) {
        CHECK(r.closed);
        CHECK(r.text.find("200") == std::string::npos);
    }
}

TEST_CASE("slow clients from many addresses give way to a genuine request when max_connections is reached", "[http][limits]") {
    asio::io_context ioc;
    server_options options;
    options.max_connections = 4;
    options.max_connections_per_peer = 0;
    options.header_timeout = 30s;
    options.read_timeout = 60s;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, plain, options);
    server.start();

    auto [genuine, evicted] = run(ioc, [&]() -> asio::awaitable<std::pair<reply, int>> {
        std::vector<client> slow;
        for (int i = 1; i <= 8; ++i)
            slow.push_back(co_await connect_from("127.0.0." + std::to_string(10 + i), server.port(), half_header));
        auto r = co_await exchange("127.0.0.2", server.port(), get("/webhook"));
        // Five of the eight slow ones had to go (four live at a time, one
        // of them the genuine request's); the last three are still held,
        // until stop() below.
        int closed = 0;
        for (int i = 0; i < 5; ++i) closed += (co_await read_to_end(*slow[static_cast<std::size_t>(i)])).closed ? 1 : 0;
        server.stop();
        co_return std::pair{std::move(r), closed};
    }());

    CHECK(starts_with(genuine.text, "HTTP/1.1 200"));
    CHECK(evicted == 5);
}

TEST_CASE("a connection over the per-peer cap gets 503 while every connection of that peer is busy", "[http][limits]") {
    asio::io_context ioc;
    gated g(ioc);
    server_options options;
    options.max_connections_per_peer = 2;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, g.handler(), options);
    server.start();

    struct outcome {
        reply over_cap, other_peer;
        std::vector<reply> busy;
    };
    auto o = run(ioc, [&]() -> asio::awaitable<outcome> {
        outcome out;
        std::vector<client> busy;
        for (int i = 0; i < 2; ++i) busy.push_back(co_await connect_from("127.0.0.1", server.port(), get("/slow")));
        co_await g.wait_entered(2);
        out.over_cap = co_await exchange("127.0.0.1", server.port(), get("/third"));
        out.other_peer = co_await exchange("127.0.0.2", server.port(), get("/other"));
        g.release();
        for (auto& c : busy) out.busy.push_back(co_await read_to_end(*c));
        server.stop();
        co_return out;
    }());

    CHECK(starts_with(o.over_cap.text, "HTTP/1.1 503"));
    CHECK(o.over_cap.text.find("Retry-After: 1") != std::string::npos);
    CHECK(o.over_cap.text.find("Connection: close") != std::string::npos);
    CHECK(starts_with(o.other_peer.text, "HTTP/1.1 200"));
    for (const auto& r : o.busy) CHECK(r.text.find("slow done") != std::string::npos);
}

TEST_CASE("a connection over max_connections gets 503 and the server serves again once connections finish", "[http][limits]") {
    asio::io_context ioc;
    gated g(ioc);
    server_options options;
    options.max_connections = 2;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, g.handler(), options);
    server.start();

    auto [refused, later] = run(ioc, [&]() -> asio::awaitable<std::pair<reply, reply>> {
        std::vector<client> busy;
        busy.push_back(co_await connect_from("127.0.0.1", server.port(), get("/slow")));
        busy.push_back(co_await connect_from("127.0.0.3", server.port(), get("/slow")));
        co_await g.wait_entered(2);
        auto r = co_await exchange("127.0.0.2", server.port(), get("/refused"));
        g.release();
        for (auto& c : busy) co_await read_to_end(*c);
        auto l = co_await exchange("127.0.0.2", server.port(), get("/later"));
        server.stop();
        co_return std::pair{std::move(r), std::move(l)};
    }());

    CHECK(starts_with(refused.text, "HTTP/1.1 503"));
    CHECK(refused.text.find("Retry-After") != std::string::npos);
    CHECK(starts_with(later.text, "HTTP/1.1 200"));
    CHECK(later.text.find("ok /later") != std::string::npos);
}

TEST_CASE("a client that sends half a header is cut at the header deadline even though the body timeout is long", "[http][limits]") {
    asio::io_context ioc;
    int calls = 0;
    server_options options;
    options.header_timeout = 200ms;
    options.read_timeout = 60s;
    http_server server(
        ioc.get_executor(), "127.0.0.1", 0,
        [&](http_request&) -> asio::awaitable<http_response> {
            ++calls;
            co_return http_response::text(200, "ok");
        },
        options);
    server.start();

    auto [half, silent] = run(ioc, [&]() -> asio::awaitable<std::pair<reply, reply>> {
        auto h = co_await exchange("127.0.0.1", server.port(), half_header);
        auto s = co_await exchange("127.0.0.1", server.port(), "");   // connects and says nothing
        server.stop();
        co_return std::pair{std::move(h), std::move(s)};
    }());

    CHECK(half.closed);
    CHECK(silent.closed);
    CHECK(calls == 0);
}

TEST_CASE("a header over header_limit or with more fields than max_header_count gets 431", "[http][limits]") {
    asio::io_context ioc;
    server_options options;
    options.header_limit = 1024;
    options.max_header_count = 10;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, plain, options);
    server.start();

    auto header_fields = [](int n, std::size_t value_size) {
        std::string text = "GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
        for (int i = 0; i < n; ++i) text += "X-Field-" + std::to_string(i) + ": " + std::string(value_size, 'v') + "\r\n";
        return text + "\r\n";
    };
    auto [large, many, fine] = run(ioc, [&]() -> asio::awaitable<std::tuple<reply, reply, reply>> {
        auto l = co_await exchange("127.0.0.1", server.port(), header_fields(1, 2000));
        auto m = co_await exchange("127.0.0.1", server.port(), header_fields(20, 1));
        auto f = co_await exchange("127.0.0.1", server.port(), header_fields(8, 50));
        server.stop();
        co_return std::tuple{std::move(l), std::move(m), std::move(f)};
    }());

    CHECK(starts_with(large.text, "HTTP/1.1 431"));
    CHECK(starts_with(many.text, "HTTP/1.1 431"));
    CHECK(starts_with(fine.text, "HTTP/1.1 200"));
}

TEST_CASE("when the process is out of file descriptors a slow client gives way to a genuine request", "[http][limits]") {
#ifdef __SANITIZE_ADDRESS__
    // UBSan's vptr check probes memory through a pipe, which cannot be made
    // while every descriptor is taken: under the sanitizers it would report
    // false type errors. The plain build runs this test.
    SUCCEED("not run under the sanitizers: they need free file descriptors themselves");
    return;
#endif
    asio::io_context ioc;
    server_options options;
    options.max_connections = 0;
    options.max_connections_per_peer = 0;
    options.header_timeout = 60s;
    options.read_timeout = 60s;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, plain, options);
    server.start();
    log_capture capture;
    const std::size_t baseline = open_fds();
    descriptor_famine famine;

    auto [genuine, slow_count, after] = run(ioc, [&]() -> asio::awaitable<std::tuple<reply, std::size_t, aftermath>> {
        auto genuine_client = open_from(ioc, "127.0.0.2");   // its descriptor is taken before the famine
        famine.limit_to_room(40);
        std::vector<client> slow;
        for (int i = 0; i < 100; ++i) {
            auto c = std::make_unique<beast::tcp_stream>(ioc);
            boost::system::error_code ec;
            c->socket().open(tcp::v4(), ec);
            if (ec) break;   // out of descriptors, as the server will be
            co_await connect_and_send(*c, server.port(), half_header);
            slow.push_back(std::move(c));
        }
        famine.fill();
        co_await connect_and_send(*genuine_client, server.port(), get("/webhook"));
        auto r = co_await read_to_end(*genuine_client);
        famine.end();
        const std::size_t n = slow.size();
        slow.clear();
        genuine_client.reset();
        auto a = co_await settle(server, baseline);
        server.stop();
        co_return std::tuple{std::move(r), n, a};
    }());
    const auto evicted = log_lines(capture.finish(), "http_connection_evicted");

    CHECK(slow_count > 5);   // the famine really was made of slow clients
    CHECK(starts_with(genuine.text, "HTTP/1.1 200"));
    REQUIRE_FALSE(evicted.empty());
    for (const auto& line : evicted) CHECK(line["limit"] == "file_descriptors");
    CHECK(after.fds == baseline);
    CHECK(after.connections == 0);
}

TEST_CASE("when the process is out of file descriptors and no connection can give way a new connection is closed at once and serving resumes afterwards", "[http][limits]") {
#ifdef __SANITIZE_ADDRESS__
    // UBSan's vptr check probes memory through a pipe, which cannot be made
    // while every descriptor is taken: under the sanitizers it would report
    // false type errors. The plain build runs this test.
    SUCCEED("not run under the sanitizers: they need free file descriptors themselves");
    return;
#endif
    asio::io_context ioc;
    gated g(ioc);
    http_server server(ioc.get_executor(), "127.0.0.1", 0, g.handler());
    server.start();
    log_capture capture;
    const std::size_t baseline = open_fds();
    descriptor_famine famine;

    struct outcome {
        reply starved, after;
        std::vector<reply> busy;
        aftermath left;
    };
    auto o = run(ioc, [&]() -> asio::awaitable<outcome> {
        outcome out;
        std::vector<client> busy;
        for (int i = 0; i < 3; ++i) busy.push_back(co_await connect_from("127.0.0.1", server.port(), get("/slow")));
        co_await g.wait_entered(3);
        auto starved_client = open_from(ioc, "127.0.0.2");
        famine.limit_to_room(8);
        famine.fill();
        co_await connect_and_send(*starved_client, server.port(), get("/starved"));
        out.starved = co_await read_to_end(*starved_client);
        famine.end();
        g.release();
        for (auto& c : busy) out.busy.push_back(co_await read_to_end(*c));
        out.after = co_await exchange("127.0.0.2", server.port(), get("/after"));
        busy.clear();
        starved_client.reset();
        out.left = co_await settle(server, baseline);
        server.stop();
        co_return out;
    }());
    const auto refused = log_lines(capture.finish(), "http_connection_refused");

    CHECK(o.starved.closed);   // told at once, not left in the backlog
    CHECK(o.starved.text.empty());
    for (const auto& r : o.busy) CHECK(r.text.find("slow done") != std::string::npos);
    CHECK(starts_with(o.after.text, "HTTP/1.1 200"));
    REQUIRE_FALSE(refused.empty());
    for (const auto& line : refused) {
        CHECK(line["limit"] == "file_descriptors");
        CHECK(line["advice"].get<std::string>().find("LimitNOFILE") != std::string::npos);
    }
    CHECK(o.left.fds == baseline);
    CHECK(o.left.connections == 0);
}

TEST_CASE("after a flood of slow clients the process has as many file descriptors open as before", "[http][limits]") {
    asio::io_context ioc;
    server_options options;
    options.max_connections = 64;
    options.max_connections_per_peer = 16;
    options.header_timeout = 300ms;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, plain, options);
    server.start();
    const std::size_t baseline = open_fds();

    auto [during, genuine, after] = run(ioc, [&]() -> asio::awaitable<std::tuple<std::size_t, reply, std::size_t>> {
        std::vector<client> flood;
        for (int i = 0; i < 200; ++i)
            flood.push_back(co_await connect_from("127.0.0." + std::to_string(1 + i % 8), server.port(), half_header));
        const std::size_t peak = open_fds();
        auto r = co_await exchange("127.0.0.20", server.port(), get("/webhook"));
        flood.clear();   // the flood ends: every client goes away
        auto left = co_await wait_for_fds(baseline);
        server.stop();
        co_return std::tuple{peak, std::move(r), left};
    }());

    CHECK(during >= baseline + 200);   // the flood did hold descriptors
    CHECK(starts_with(genuine.text, "HTTP/1.1 200"));
    CHECK(after == baseline);
}

TEST_CASE("refused connections are logged with the limit's name and a count instead of one line each", "[http][limits]") {
    asio::io_context ioc;
    gated g(ioc);
    server_options options;
    options.max_connections_per_peer = 1;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, g.handler(), options);
    server.start();
    log_capture capture;

    auto refused = run(ioc, [&]() -> asio::awaitable<int> {
        auto busy = co_await connect_from("127.0.0.1", server.port(), get("/slow"));
        co_await g.wait_entered(1);
        int n = 0;
        for (int i = 0; i < 20; ++i)
            n += starts_with((co_await exchange("127.0.0.1", server.port(), get("/more"))).text, "HTTP/1.1 503") ? 1 : 0;
        g.release();
        co_await read_to_end(*busy);
        server.stop();   // says what the throttled log still holds
        co_return n;
    }());
    auto lines = log_lines(capture.finish(), "http_connection_refused");

    CHECK(refused == 20);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.size() < 20);
    std::size_t total = 0;
    for (const auto& line : lines) {
        CHECK(line["limit"] == "max_connections_per_peer");
        CHECK(line["max"] == 1);
        CHECK(line["peer"] == "127.0.0.1");
        total += line["count"].get<std::size_t>();
    }
    CHECK(total == 20);
}

TEST_CASE("raising the open file limit leaves the soft limit at the hard limit", "[http][limits]") {
    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit low = saved;
    low.rlim_cur = std::min<rlim_t>(saved.rlim_max, 512);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);

    auto soft = raise_open_file_limit();
    rlimit now{};
    getrlimit(RLIMIT_NOFILE, &now);
    setrlimit(RLIMIT_NOFILE, &saved);

    CHECK(soft == now.rlim_cur);
    if (saved.rlim_max != RLIM_INFINITY) CHECK(now.rlim_cur == now.rlim_max);
    else CHECK(now.rlim_cur > 512);   // an infinite hard limit: as far as the kernel allows (fs.nr_open)
}

TEST_CASE("a connection cap makes a waiting connection give way and answers 503 when all are busy, logs both by the limit's name and leaves nothing behind", "[http][limits]") {
    const std::string limit = GENERATE(std::string("max_connections"), std::string("max_connections_per_peer"));
    CAPTURE(limit);
    const bool per_peer = limit == "max_connections_per_peer";
    // The flood's addresses: one for the per-peer cap, many for the listener's.
    auto flood_address = [&](int i) { return per_peer ? std::string("127.0.0.1") : "127.0.0." + std::to_string(10 + i); };
    asio::io_context ioc;
    gated g(ioc);
    server_options options;
    options.max_connections = per_peer ? 0 : 4;
    options.max_connections_per_peer = per_peer ? 4 : 0;
    options.header_timeout = 30s;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, g.handler(), options);
    server.start();
    log_capture capture;
    const std::size_t baseline = open_fds();

    struct outcome {
        std::vector<reply> waiting, busy;
        reply refused, later;
        aftermath after;
    };
    auto o = run(ioc, [&]() -> asio::awaitable<outcome> {
        outcome out;
        std::vector<client> waiting, busy;
        for (int i = 0; i < 4; ++i) waiting.push_back(co_await connect_from(flood_address(i), server.port(), half_header));
        // Each of these takes the place of a waiting one.
        for (int i = 0; i < 4; ++i) busy.push_back(co_await connect_from(flood_address(4 + i), server.port(), get("/slow")));
        co_await g.wait_entered(4);
        out.refused = co_await exchange(flood_address(8), server.port(), get("/refused"));
        g.release();
        for (auto& c : busy) out.busy.push_back(co_await read_to_end(*c));
        for (auto& c : waiting) out.waiting.push_back(co_await read_to_end(*c));
        out.later = co_await exchange(flood_address(9), server.port(), get("/later"));
        busy.clear();
        waiting.clear();
        out.after = co_await settle(server, baseline);
        server.stop();   // says what the throttled log still holds
        co_return out;
    }());
    const std::string log = capture.finish();

    for (const auto& r : o.waiting) {
        CHECK(r.closed);
        CHECK(r.text.empty());
    }
    for (const auto& r : o.busy) CHECK(r.text.find("slow done") != std::string::npos);
    CHECK(starts_with(o.refused.text, "HTTP/1.1 503"));
    CHECK(o.refused.text.find("Retry-After: 1") != std::string::npos);
    CHECK(starts_with(o.later.text, "HTTP/1.1 200"));
    CHECK(o.later.text.find("ok /later") != std::string::npos);
    std::size_t evicted = 0, refused = 0;
    for (const auto& line : log_lines(log, "http_connection_evicted")) {
        CHECK(line["limit"] == limit);
        CHECK(line["max"] == 4);
        evicted += line["count"].get<std::size_t>();
    }
    for (const auto& line : log_lines(log, "http_connection_refused")) {
        CHECK(line["limit"] == limit);
        CHECK(line["max"] == 4);
        refused += line["count"].get<std::size_t>();
    }
    CHECK(evicted == 4);
    CHECK(refused == 1);
    CHECK(o.after.fds == baseline);
    CHECK(o.after.connections == 0);
}

TEST_CASE("a client too slow for header_timeout or read_timeout is closed, logged by the limit's name, and others are served meanwhile", "[http][limits]") {
    const std::string limit = GENERATE(std::string("header_timeout"), std::string("read_timeout"));
    CAPTURE(limit);
    const bool header = limit == "header_timeout";
    asio::io_context ioc;
    int calls = 0;
    server_options options;
    options.header_timeout = header ? 200ms : 30s;
    options.read_timeout = header ? 30s : 200ms;
    http_server server(
        ioc.get_executor(), "127.0.0.1", 0,
        [&](http_request& r) -> asio::awaitable<http_response> {
            ++calls;
            co_return http_response::text(200, "ok " + r.path());
        },
        options);
    server.start();
    log_capture capture;
    const std::size_t baseline = open_fds();
    // Half a header, or a whole header and half the body it announces.
    const std::string slow_request =
        header ? half_header : "POST /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":";

    auto [slow, meanwhile, after] = run(ioc, [&]() -> asio::awaitable<std::tuple<reply, reply, aftermath>> {
        auto c = co_await connect_from("127.0.0.1", server.port(), slow_request);
        auto m = co_await exchange("127.0.0.1", server.port(), get("/meanwhile"));
        auto s = co_await read_to_end(*c);   // returns when the server closes it
        c.reset();
        auto a = co_await settle(server, baseline);
        server.stop();
        co_return std::tuple{std::move(s), std::move(m), a};
    }());
    const auto lines = log_lines(capture.finish(), "http_connection_timed_out");

    CHECK(slow.closed);
    CHECK(slow.text.empty());
    CHECK(starts_with(meanwhile.text, "HTTP/1.1 200"));
    CHECK(calls == 1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["limit"] == limit);
    CHECK(lines[0]["peer"] == "127.0.0.1");
    CHECK(after.fds == baseline);
    CHECK(after.connections == 0);
}

TEST_CASE("a kept-alive connection idle for idle_timeout is closed without a log line and the next connection is served", "[http][limits]") {
    asio::io_context ioc;
    server_options options;
    options.idle_timeout = 200ms;
    options.header_timeout = 30s;
    http_server server(ioc.get_executor(), "127.0.0.1", 0, plain, options);
    server.start();
    log_capture capture;
    const std::size_t baseline = open_fds();

    auto [idle, next, after] = run(ioc, [&]() -> asio::awaitable<std::tuple<reply, reply, aftermath>> {
        // HTTP/1.1 keeps the connection alive: the answer comes, then silence until idle_timeout.
        auto i = co_await exchange("127.0.0.1", server.port(), "GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
        auto n = co_await exchange("127.0.0.1", server.port(), get("/next"));
        auto a = co_await settle(server, baseline);
        server.stop();
        co_return std::tuple{std::move(i), std::move(n), a};
    }());
    const std::string log = capture.finish();

    CHECK(starts_with(idle.text, "HTTP/1.1 200"));
    CHECK(idle.text.find("ok /first") != std::string::npos);
    CHECK(idle.closed);   // by the server, at idle_timeout, not by the test's guard
    CHECK(starts_with(next.text, "HTTP/1.1 200"));
    CHECK(log_lines(log, "http_connection_timed_out").empty());
    CHECK(after.fds == baseline);
    CHECK(after.connections == 0);
}

TEST_CASE("a request over header_limit, max_header_count or body_limit is refused with its status, logged by the limit's name, and the next request is served", "[http][limits]") {
    auto header_fields = [](int n, std::size_t value_size) {
        std::string text = "GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
        for (int i = 0; i < n; ++i) text += "X-Field-" + std::to_string(i) + ": " + std::string(value_size, 'v') + "\r\n";
        return text + "\r\n";
    };
    const std::string big_body(4096, 'b');
    const auto [limit, request, status] = GENERATE_COPY(table<std::string, std::string, std::string>({
        {"header_limit", header_fields(1, 2000), "HTTP/1.1 431"},
        {"max_header_count", header_fields(20, 1), "HTTP/1.1 431"},
        {"body_limit", "POST /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4096\r\n\r\n" + big_body, "HTTP/1.1 413"},
    }));
    CAPTURE(limit);
    asio::io_context ioc;
    int calls = 0;
    server_options options;
    options.header_limit = 1024;
    options.max_header_count = 10;
    options.body_limit = 1024;
    http_server server(
        ioc.get_executor(), "127.0.0.1", 0,
        [&](http_request& r) -> asio::awaitable<http_response> {
            ++calls;
            co_return http_response::text(200, "ok " + r.path());
        },
        options);
    server.start();
    log_capture capture;
    const std::size_t baseline = open_fds();

    auto [refused, next, after] = run(ioc, [&]() -> asio::awaitable<std::tuple<reply, reply, aftermath>> {
        auto r = co_await exchange("127.0.0.1", server.port(), request);
        auto n = co_await exchange("127.0.0.1", server.port(), get("/next"));
        auto a = co_await settle(server, baseline);
        server.stop();
        co_return std::tuple{std::move(r), std::move(n), a};
    }());
    const auto lines = log_lines(capture.finish(), "http_request_refused");

    CHECK(starts_with(refused.text, status));
    CHECK(starts_with(next.text, "HTTP/1.1 200"));
    CHECK(calls == 1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["limit"] == limit);
    CHECK(lines[0]["max"] == (limit == "max_header_count" ? 10 : 1024));
    CHECK(after.fds == baseline);
    CHECK(after.connections == 0);
}

}  // namespace ORDERFLOW_TEST_FILE
