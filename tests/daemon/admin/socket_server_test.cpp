// Tests for daemon/admin/socket_server.hpp, as orderflowctl uses the admin
// socket: one request line in, one reply out; a malformed request, a silent
// client or one connection too many gets a clear answer (or is closed) while
// the next connection is served; the socket is mode 0660; and once clients
// have gone, the process holds as many descriptors as before and the server
// no connection. The server runs on the environment's event loop in a
// thread of its own; the test plays the clients with blocking sockets, as
// orderflowctl does (admin_call is the real client).
#include "daemon/admin/socket_server.hpp"

#include "daemon/admin.hpp"
#include "daemon/admin/commands.hpp"
#include "daemon/executor/breaker.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// How long a client waits for the server before calling it silent: a guard
// against hanging, not a speed requirement.
constexpr int guard_seconds = 10;

std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

// A blocking client socket connected to `path`, or -1.
int connect_to(const fs::path& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{guard_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::string& bytes) {
    for (std::size_t off = 0; off < bytes.size();) {
        const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

struct raw_reply {
    std::string text;
    bool closed = false;   // the server hung up cleanly (not reset, not silent for the guard)
    int error = 0;         // errno of a failed read (ECONNRESET: the reply may be lost)
};

// Reads until the server hangs up.
raw_reply read_to_end(int fd) {
    raw_reply r;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r.error = errno;
            return r;
        }
        if (n == 0) break;
        r.text.append(buf, static_cast<std::size_t>(n));
    }
    r.closed = true;
    return r;
}

raw_reply send_and_read(const fs::path& path, const std::string& bytes) {
    const int fd = connect_to(path);
    REQUIRE(fd >= 0);
    raw_reply r;
    if (send_all(fd, bytes)) r = read_to_end(fd);
    ::close(fd);
    return r;
}

// The admin socket server over the real commands, served by the
// environment's event loop on a thread of its own while the test is the client.
struct admin_rig {
    explicit admin_rig(runtime_env& env_, admin_socket_options options = {})
        : env(env_),
          path(env.dir / "run" / "admin.sock"),
          brk(env.ctx, *env.in_force, *env.desk, nullptr),
          commands(env.ctx, *env.in_force, brk, []() -> asio::awaitable<rules_in_force::reload_outcome> { co_return rules_in_force::reload_outcome{}; }),
          server(env.io.get_executor(), path, commands, env.sup, options) {
        server.open();
        asio::co_spawn(env.io, server.loop(), [this](std::exception_ptr) { loop_done = true; });
        env.io.restart();   // drive() may have left it stopped
        io_thread = std::thread([this] {
            auto work = asio::make_work_guard(env.io);
            env.io.run();
        });
    }

    // Runs `f` on the event loop's thread and returns what it returns.
    template <class F>
    auto on_io(F f) {
        auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
        auto result = task->get_future();
        asio::post(env.io, [task] { (*task)(); });
        return result.get();
    }

    ~admin_rig() {
        on_io([this] {
            server.stop();
            return 0;
        });
        // The accept loop and every session end by themselves once stopped.
        for (int i = 0; i < 500 && !on_io([this] { return loop_done && server.connections() == 0; }); ++i) std::this_thread::sleep_for(10ms);
        env.io.stop();
        io_thread.join();
        env.io.restart();
    }

    std::size_t connections() {
        return on_io([this] { return server.connections(); });
    }

    // Polls (bounded) until the server has held `n` connections for 200 ms
    // in a row; returns how many it holds. In a row: a connection that is
    // about to end (another server's probe, accepted and at its end of
    // file) must not pass for one that stays.
    std::size_t wait_for_connections(std::size_t n) {
        std::size_t seen = connections();
        for (int i = 0, in_a_row = 0; i < 1000 && in_a_row < 20; ++i) {
            std::this_thread::sleep_for(10ms);
            const std::size_t now = connections();
            in_a_row = now == n && now == seen ? in_a_row + 1 : 0;
            seen = now;
        }
        return seen;
    }

    json call(const json& request) { return admin_call(path, request, std::chrono::seconds(guard_seconds)); }

    runtime_env& env;
    fs::path path;
    breaker brk;
    admin_commands commands;
    admin_socket_server server;
    bool loop_done = false;   // on the event loop's thread
    std::thread io_thread;
};

// Polls (bounded) until the process has `n` descriptors open again (the
// server closes its side once it notices the client has gone).
std::size_t wait_for_fds(std::size_t n) {
    for (int i = 0; i < 500 && open_fds() != n; ++i) std::this_thread::sleep_for(10ms);
    return open_fds();
}

const json metrics_request{{"argv", {"metrics"}}, {"by", "hanako"}};

bool is_metrics_reply(const json& reply) {
    return reply.value("exit", -1) == 0 && reply.value("stdout", "").find("orderflow_sending_paused 0\n") != std::string::npos;
}

}  // namespace

TEST_CASE("An admin request over the socket gets its reply from the daemon", "[admin][admin_socket]") {
    runtime_env env;
    admin_rig rig(env);
    const json reply = rig.call(metrics_request);
    CHECK(is_metrics_reply(reply));
    CHECK(reply["stderr"] == "");
    const json unknown = rig.call(json{{"argv", {"frobnicate"}}});
    CHECK(unknown["exit"] == 2);
    CHECK_THAT(unknown["stderr"].get<std::string>(), Catch::Contains("unknown admin command 'frobnicate'"));
    CHECK(rig.wait_for_connections(0) == 0);
}

TEST_CASE("A malformed admin request gets exit 2 naming what is wrong and the next connection is served", "[admin][admin_socket]") {
    runtime_env env;
    admin_rig rig(env);
    const auto [request, problem] = GENERATE(table<std::string, std::string>({
        {"review list\n", "the request is not valid JSON"},
        {R"({"argv":["metrics"],"by":1})" "\n", "\"by\" must be a string"},
        {R"({"argv":["metrics"],"x":)" + std::string(70, '[') + std::string(70, ']') + "}\n",
         "the request is JSON nested deeper than 64 levels"},
        {R"({"argv":["metrics"],"note":")" + std::string(70 * 1024, 'x') + "\"}\n", "the request is longer than 64 KiB"},
        {R"({"by":"hanako"})" "\n", "\"argv\" must be a non-empty array of strings"},
    }));
    CAPTURE(request.substr(0, 60));
    log_capture capture;
    const raw_reply r = send_and_read(rig.path, request);
    const json next = rig.call(metrics_request);
    const auto logged = log_lines(capture.finish(), "admin_request_malformed");

    // The reply arrives whole and the connection ends cleanly: no reset,
    // even when the client sent more than the server read.
    CHECK(r.closed);
    CHECK(r.error == 0);
    const json reply = json::parse(r.text, nullptr, false);
    REQUIRE(reply.is_object());
    CHECK(reply["exit"] == 2);
    CHECK(reply["stdout"] == "");
    CHECK(reply["stderr"] == "orderflowd: malformed request: " + problem + "\n");
    REQUIRE(logged.size() == 1);
    CHECK(logged[0]["error"] == problem);
    CHECK(is_metrics_reply(next));
    CHECK(rig.wait_for_connections(0) == 0);
}

TEST_CASE("A client that does not finish its request within the request timeout is disconnected while others are served", "[admin][admin_socket]") {
    runtime_env env;
    admin_socket_options options;
    options.request_timeout = 200ms;
    admin_rig rig(env, options);
    const std::string sent = GENERATE(std::string(), std::string(R"({"argv":["met)"));
    CAPTURE(sent);

    const int slow = connect_to(rig.path);
    REQUIRE(slow >= 0);
    REQUIRE(send_all(slow, sent));
    const json meanwhile = rig.call(metrics_request);
    const raw_reply r = read_to_end(slow);   // returns when the server hangs up (or after the guard)
    ::close(slow);

    CHECK(is_metrics_reply(meanwhile));
    CHECK(r.closed);   // closed by the server, not left hanging
    CHECK(r.text.empty());
    CHECK(rig.wait_for_connections(0) == 0);
    CHECK(admin_socket_options{}.request_timeout == 10s);   // the documented default
}

TEST_CASE("The admin socket may be used by its owner and group only", "[admin][admin_socket]") {
    runtime_env env;
    // Even with a umask that would leave it open to everyone.
    const mode_t saved_umask = ::umask(0);
    std::unique_ptr<admin_rig> rig;
    try {
        rig = std::make_unique<admin_rig>(env);
    } catch (...) {
        ::umask(saved_umask);
        throw;
    }
    ::umask(saved_umask);
    struct stat st{};
    REQUIRE(::stat(rig->path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0660);
    CHECK(is_metrics_reply(rig->call(metrics_request)));
}

TEST_CASE("Concurrent admin clients each get the reply to their own request", "[admin][admin_socket]") {
    runtime_env env;
    admin_rig rig(env);
    constexpr int clients = 12;
    std::vector<int> fds;
    for (int i = 0; i < clients; ++i) fds.push_back(connect_to(rig.path));
    for (int fd : fds) REQUIRE(fd >= 0);
    REQUIRE(rig.wait_for_connections(clients) == clients);
    // Requests sent in the reverse order of connecting, half of them from threads at once.
    std::vector<std::thread> senders;
    for (int i = clients - 1; i >= 0; --i) {
        const std::string request = json{{"argv", {"command-" + std::to_string(i)}}}.dump() + "\n";
        if (i % 2 == 0) senders.emplace_back([fd = fds[static_cast<std::size_t>(i)], request] { send_all(fd, request); });
        else REQUIRE(send_all(fds[static_cast<std::size_t>(i)], request));
    }
    for (auto& t : senders) t.join();
    std::vector<raw_reply> replies;
    for (int fd : fds) {
        replies.push_back(read_to_end(fd));
        ::close(fd);
    }

    for (int i = 0; i < clients; ++i) {
        CAPTURE(i);
        const json reply = json::parse(replies[static_cast<std::size_t>(i)].text, nullptr, false);
        REQUIRE(reply.is_object());
        CHECK(reply["exit"] == 2);
        CHECK(reply["stderr"] == "orderflowd: unknown admin command 'command-" + std::to_string(i) + "'\n");
    }
    CHECK(rig.wait_for_connections(0) == 0);
}

TEST_CASE("One admin connection over the limit is told to try again and the next request after is served", "[admin][admin_socket][limits]") {
    CHECK(admin_socket_options{}.max_connections == 16);   // the documented default
    runtime_env env;
    admin_socket_options options;
    options.max_connections = 4;
    options.request_timeout = 60s;   // the held connections stay until their clients go
    admin_rig rig(env, options);
    REQUIRE(is_metrics_reply(rig.call(metrics_request)));   // the database's files are open
    REQUIRE(rig.wait_for_connections(0) == 0);   // its server side closed too
    log_capture capture;
    const std::size_t baseline = open_fds();

    std::vector<int> held;
    for (int i = 0; i < 4; ++i) held.push_back(connect_to(rig.path));
    REQUIRE(rig.wait_for_connections(4) == 4);
    const json refused = rig.call(metrics_request);   // admin_call: what orderflowctl prints
    for (int fd : held) ::close(fd);
    const std::size_t left = rig.wait_for_connections(0);
    const json after = rig.call(metrics_request);
    const std::size_t fds_after = wait_for_fds(baseline);
    const auto logged = log_lines(capture.finish(), "admin_request_refused");

    CHECK(refused["exit"] == 2);
    CHECK(refused["stdout"] == "");
    CHECK(refused["stderr"] == "orderflowd: too many admin requests at once (4 are being served); try again in a moment\n");
    REQUIRE(logged.size() == 1);
    CHECK(logged[0]["limit"] == "max_connections");
    CHECK(logged[0]["max"] == 4);
    CHECK(left == 0);
    CHECK(is_metrics_reply(after));
    CHECK(fds_after == baseline);
}

TEST_CASE("After a flood of silent admin clients the descriptors and connections are back to where they were", "[admin][admin_socket][limits]") {
    runtime_env env;
    admin_socket_options options;
    options.max_connections = 4;
    options.request_timeout = 300ms;
    admin_rig rig(env, options);
    REQUIRE(is_metrics_reply(rig.call(metrics_request)));
    REQUIRE(rig.wait_for_connections(0) == 0);   // its server side closed too
    log_capture capture;
    const std::size_t baseline = open_fds();

    std::vector<int> flood;
    for (int i = 0; i < 40; ++i) {
        const int fd = connect_to(rig.path);
        if (fd >= 0) flood.push_back(fd);
    }
    const std::size_t peak = open_fds();
    std::vector<raw_reply> ends;
    for (int fd : flood) ends.push_back(read_to_end(fd));   // each is answered or closed, none left hanging
    for (int fd : flood) ::close(fd);
    const std::size_t left = rig.wait_for_connections(0);
    const json after = rig.call(metrics_request);
    const std::size_t fds_after = wait_for_fds(baseline);
    capture.finish();

    CHECK(flood.size() == 40);
    CHECK(peak >= baseline + 40);   // the flood did hold descriptors
    int told = 0;
    for (const auto& r : ends) {
        CHECK(r.closed);
        if (r.text.find("too many admin requests at once") != std::string::npos) ++told;
    }
    CHECK(told >= 1);
    CHECK(left == 0);
    CHECK(is_metrics_reply(after));
    CHECK(fds_after == baseline);
}

TEST_CASE("A socket left by a dead daemon is replaced, a live one is refused, and stop removes the socket and ends waiting clients", "[admin][admin_socket]") {
    runtime_env env;
    const fs::path path = env.dir / "run" / "admin.sock";
    {
        // A socket file nobody listens on, as a daemon killed with SIGKILL leaves it.
        fs::create_directories(path.parent_path());
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::close(fd);
        REQUIRE(fs::exists(path));
    }
    admin_socket_options options;
    options.request_timeout = 60s;
    auto rig = std::make_unique<admin_rig>(env, options);
    CHECK(is_metrics_reply(rig->call(metrics_request)));

    breaker other_brk(env.ctx, *env.in_force, *env.desk, nullptr);
    admin_commands other_commands(env.ctx, *env.in_force, other_brk, nullptr);
    admin_socket_server second(env.io.get_executor(), path, other_commands, env.sup);
    CHECK_THROWS_WITH(second.open(), Catch::Contains("another orderflowd is listening on admin.socket " + path.string()));

    const int waiting = connect_to(path);
    REQUIRE(waiting >= 0);
    REQUIRE(rig->wait_for_connections(1) == 1);
    rig->on_io([&] {
        rig->server.stop();
        return 0;
    });
    const raw_reply r = read_to_end(waiting);   // ended by stop, long before its request timeout
    ::close(waiting);
    CHECK(r.closed);
    CHECK_FALSE(fs::exists(path));
    CHECK(rig->wait_for_connections(0) == 0);
}

}  // namespace ORDERFLOW_TEST_FILE
