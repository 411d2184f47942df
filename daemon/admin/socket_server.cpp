// See socket_server.hpp.
#include "daemon/admin/socket_server.hpp"

#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/admin/commands.hpp"
#include "daemon/supervisor.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>

namespace orderflow::daemon {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using json = nlohmann::json;

namespace {

constexpr std::size_t max_request = 64 * 1024;
// How long a client may take to read its reply and hang up.
constexpr auto max_linger = std::chrono::milliseconds(1000);

}  // namespace

struct admin_socket_server::impl {
    impl(asio::any_io_executor e, std::filesystem::path p, admin_commands& c, supervisor& s, admin_socket_options o)
        : ex(std::move(e)), path(std::move(p)), commands(c), sup(s), options(o) {}

    asio::any_io_executor ex;
    std::filesystem::path path;
    admin_commands& commands;
    supervisor& sup;
    admin_socket_options options;
    std::unique_ptr<local::acceptor> acceptor;
    bool stopping = false;
    std::size_t open_connections = 0;   // served and refused
    std::size_t refusing = 0;           // of those, being told "too many"
    std::uint64_t next_id = 0;
    std::map<std::uint64_t, local::socket*> reading;   // still waiting for their request: stop() closes them

    // Counts a connection for as long as its coroutine runs.
    struct counted {
        std::size_t& n;
        explicit counted(std::size_t& count) : n(count) { ++n; }
        ~counted() { --n; }
        counted(const counted&) = delete;
        counted& operator=(const counted&) = delete;
    };

    // Closes `sock` when `timer` expires first (a client that stalls). The
    // handler shares the socket: a timer that expired just as the work it
    // guards finished has its handler queued already, and cancel() cannot
    // take it back, so it may run after the coroutine that owned the timer
    // is gone.
    static void close_on_expiry(asio::steady_timer& timer, std::shared_ptr<local::socket> sock) {
        timer.async_wait([sock = std::move(sock)](boost::system::error_code ec) {
            boost::system::error_code ignored;
            if (!ec) sock->close(ignored);
        });
    }

    // Writes the reply, then stops sending and reads whatever the client
    // still sends until it hangs up: closing with unread data would reset
    // the connection, and the client would see "connection reset" instead
    // of the reply (e.g. after a request over 64 KiB).
    asio::awaitable<void> answer(const std::shared_ptr<local::socket>& shared, const json& reply) {
        local::socket& sock = *shared;
        const std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
        auto reply_buffer = asio::buffer(out);
        auto [wec, written] = co_await asio::async_write(sock, reply_buffer, asio::as_tuple(asio::use_awaitable));
        (void)written;
        boost::system::error_code ignored;
        if (!wec) {
            sock.shutdown(local::socket::shutdown_send, ignored);
            asio::steady_timer linger(ex);
            linger.expires_after(std::min<std::chrono::milliseconds>(options.request_timeout, max_linger));
            close_on_expiry(linger, shared);
            std::array<char, 4096> sink{};
            for (std::size_t total = 0; total < 16 * max_request;) {
                auto [rec, n] = co_await sock.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
                if (rec) break;
                total += n;
            }
            linger.cancel();
        }
        sock.close(ignored);
    }

    asio::awaitable<void> session(local::socket accepted) {
        counted live(open_connections);
        const auto shared = std::make_shared<local::socket>(std::move(accepted));
        local::socket& sock = *shared;
        const std::string peer = peer_user(sock.native_handle());
        const std::uint64_t id = next_id++;
        asio::steady_timer deadline(ex);
        deadline.expires_after(options.request_timeout);
        close_on_expiry(deadline, shared);   // a client that never finishes its request
        reading.emplace(id, &sock);
        std::string line;
        // Named arguments only: GCC 12 mishandles class-type temporaries inside co_await.
        auto buffer = asio::dynamic_buffer(line, max_request);
        auto [ec, n] = co_await asio::async_read_until(sock, buffer, '\n', asio::as_tuple(asio::use_awaitable));
        reading.erase(id);
        deadline.cancel();
        json reply;
        if (ec == asio::error::not_found) {
            reply = admin_commands::malformed("the request is longer than 64 KiB");
        } else if (ec) {
            boost::system::error_code ignored;
            sock.close(ignored);
            co_return;
        } else {
            line.resize(n);
            reply = co_await commands.dispatch(std::move(line), peer);
        }
        co_await answer(shared, reply);
    }

    // A connection over max_connections: told so at once, without reading
    // its request, so orderflowctl prints why and exits 2.
    asio::awaitable<void> refuse(local::socket accepted) {
        const auto shared = std::make_shared<local::socket>(std::move(accepted));
        counted live(open_connections);
        counted refused(refusing);
        // Built before co_await: GCC 12 mishandles class-type temporaries inside it.
        const std::string why = "orderflowd: too many admin requests at once (" + std::to_string(options.max_connections) +
                                " are being served); try again in a moment\n";
        json reply = json::object();
        reply["exit"] = 2;
        reply["stdout"] = "";
        reply["stderr"] = why;
        co_await answer(shared, reply);
    }
};

admin_socket_server::admin_socket_server(asio::any_io_executor ex, std::filesystem::path socket, admin_commands& commands, supervisor& sup,
                                         admin_socket_options options)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(socket), commands, sup, options)) {}

admin_socket_server::~admin_socket_server() = default;

void admin_socket_server::open() {
    auto& s = *impl_;
    std::error_code fs_ec;
    std::filesystem::create_directories(s.path.parent_path(), fs_ec);
    if (std::filesystem::exists(s.path)) {
        // A socket left by a daemon that died can be replaced; a live one cannot.
        local::socket probe(s.ex);
        boost::system::error_code ec;
        probe.connect(local::endpoint(s.path.string()), ec);
        if (!ec) throw std::runtime_error("another orderflowd is listening on admin.socket " + s.path.string() + "; stop it first");
        std::filesystem::remove(s.path, fs_ec);
    }
    s.acceptor = std::make_unique<local::acceptor>(s.ex);
    boost::system::error_code ec;
    s.acceptor->open(local(), ec);
    if (!ec) s.acceptor->bind(local::endpoint(s.path.string()), ec);
    if (!ec) s.acceptor->listen(16, ec);
    if (ec)
        throw std::runtime_error("cannot listen on admin.socket " + s.path.string() + ": " + ec.message() +
                                 " (check that its folder exists and is writable by the service)");
    ::chmod(s.path.c_str(), 0660);
    log::info("admin_listening", {{"socket", s.path.string()}});
}

asio::awaitable<void> admin_socket_server::loop() {
    auto& s = *impl_;
    // A connection is not supervised (it ends by itself), but what escapes
    // it is logged and harms nothing else.
    const auto session_ended = [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            log::error("admin_session_failed", {{"error", e.what()}});
        }
    };
    while (!s.stopping) {
        // Waiting for a connection is its normal state, for as long as it takes.
        s.sup.beat("admin", std::chrono::hours(24 * 365));
        auto [ec, sock] = co_await s.acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            if (s.stopping || ec == asio::error::operation_aborted) co_return;
            log::warn("admin_accept_failed", {{"error", ec.message()}});
            // E.g. out of file descriptors: pause rather than spin on the error.
            asio::steady_timer pause(s.ex);
            pause.expires_after(std::chrono::milliseconds(200));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        const std::size_t served = s.open_connections - s.refusing;
        if (served >= s.options.max_connections) {
            log::warn("admin_request_refused", {{"limit", "max_connections"}, {"max", s.options.max_connections},
                                                {"peer", peer_user(sock.native_handle())},
                                                {"advice", "a script may be opening admin connections without finishing them"}});
            // Refusing costs a descriptor too: past as many refusals again, close at once.
            if (s.refusing >= s.options.max_connections) continue;
            asio::co_spawn(s.ex, s.refuse(std::move(sock)), session_ended);
            continue;
        }
        asio::co_spawn(s.ex, s.session(std::move(sock)), session_ended);
    }
}

void admin_socket_server::stop() {
    auto& s = *impl_;
    s.stopping = true;
    if (s.acceptor) {
        boost::system::error_code ignored;
        s.acceptor->close(ignored);
        std::error_code fs_ignored;
        std::filesystem::remove(s.path, fs_ignored);
    }
    // A client still to send its request would hold the event loop open
    // for up to the request timeout; a request already read is answered.
    auto reading = s.reading;
    for (auto& [id, sock] : reading) {
        boost::system::error_code ignored;
        sock->close(ignored);
    }
}

std::size_t admin_socket_server::connections() const { return impl_->open_connections; }

}  // namespace orderflow::daemon
