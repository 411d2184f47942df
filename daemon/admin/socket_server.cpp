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

namespace orderflow::daemon {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using json = nlohmann::json;

struct admin_socket_server::impl {
    asio::any_io_executor ex;
    std::filesystem::path path;
    admin_commands& commands;
    supervisor& sup;
    std::unique_ptr<local::acceptor> acceptor;
    bool stopping = false;

    asio::awaitable<void> session(local::socket sock) {
        const std::string peer = peer_user(sock.native_handle());
        asio::steady_timer deadline(ex);
        deadline.expires_after(std::chrono::seconds(10));
        deadline.async_wait([&sock](boost::system::error_code ec) {
            if (!ec) sock.close();   // a client that never finishes its request
        });
        std::string line;
        // Named arguments only: GCC 12 mishandles class-type temporaries inside co_await.
        auto buffer = asio::dynamic_buffer(line, 64 * 1024);
        auto [ec, n] = co_await asio::async_read_until(sock, buffer, '\n', asio::as_tuple(asio::use_awaitable));
        json reply;
        if (ec == asio::error::not_found) {
            reply = admin_commands::malformed("the request is longer than 64 KiB");
        } else if (ec) {
            deadline.cancel();
            co_return;
        } else {
            line.resize(n);
            reply = co_await commands.dispatch(std::move(line), peer);
        }
        const std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
        auto reply_buffer = asio::buffer(out);
        auto [wec, written] = co_await asio::async_write(sock, reply_buffer, asio::as_tuple(asio::use_awaitable));
        (void)wec;
        (void)written;
        deadline.cancel();
        boost::system::error_code ignored;
        sock.shutdown(local::socket::shutdown_both, ignored);
    }
};

admin_socket_server::admin_socket_server(asio::any_io_executor ex, std::filesystem::path socket, admin_commands& commands, supervisor& sup)
    : impl_(std::make_unique<impl>(impl{std::move(ex), std::move(socket), commands, sup, nullptr, false})) {}

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
        // One connection: not supervised (it ends by itself), but what
        // escapes it is logged and harms nothing else.
        asio::co_spawn(s.ex, s.session(std::move(sock)), [](std::exception_ptr ep) {
            if (!ep) return;
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                log::error("admin_session_failed", {{"error", e.what()}});
            }
        });
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
}

}  // namespace orderflow::daemon
