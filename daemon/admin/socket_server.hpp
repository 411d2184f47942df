// The admin socket (admin.socket): a Unix socket, mode 0660, so the service's
// user and group may use it and nobody else. Each connection carries one
// request line and gets one reply (admin/commands.hpp); a client that does
// not finish its request within the request timeout (10 s) is disconnected.
// Requests are served on the event loop's thread, so a command sees the same
// database state as the loops and needs no locks. At most 64 KiB per
// request, and at most 16 connections at once: one more is answered exit 2
// "too many admin requests at once" and closed, so a stuck script cannot
// make the daemon hold descriptors and buffers without end
// (docs/operations.md, "Limits on every door").
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>

namespace orderflow::daemon {

class admin_commands;
class supervisor;

struct admin_socket_options {
    // A client must send its whole request line within this, from connect.
    std::chrono::milliseconds request_timeout{10'000};
    // Connections served at once (reading, running or answering a request).
    std::size_t max_connections = 16;
};

class admin_socket_server {
public:
    admin_socket_server(boost::asio::any_io_executor ex, std::filesystem::path socket, admin_commands& commands, supervisor& sup,
                        admin_socket_options options = {});
    ~admin_socket_server();

    // Binds the socket (replacing one left by a daemon that died; refusing
    // when another daemon is listening). Throws std::runtime_error saying what to do.
    void open();
    boost::asio::awaitable<void> loop();   // supervised as "admin"
    void stop();                           // closes and removes the socket

    // Connections open now, served or being refused (call on the executor's
    // thread): 0 once every client has gone.
    std::size_t connections() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace orderflow::daemon
