// Minimal HTTP/1.1 over Beast: a client (HTTP and HTTPS with certificate and
// host-name verification) and a server (HTTP, or HTTPS with a certificate and
// key file), both on coroutines.
//
// Beast stays out of this header (pimpl): only the small value types below
// and asio::awaitable are visible, so including it costs little. The daemon's
// ingress and admin listener and the sandbox use http_server; tikapi::client
// and the daemon's notifiers use http_client. http_server guards itself
// against connection floods (server_options); raise_open_file_limit gives
// the process the file descriptors those limits assume.
#pragma once

#include "tikapi/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::tikapi {

struct http_header {
    std::string name;
    std::string value;
};

struct http_request {
    std::string method = "GET";        // "GET", "POST", ...
    std::string target = "/";          // path plus optional "?query" (already percent-encoded)
    std::vector<http_header> headers;
    std::string body;
    std::string remote;                // server side: peer address "ip:port"

    std::string_view header(std::string_view name) const;   // case-insensitive; "" if absent
    std::string path() const;                               // target without the query
    std::map<std::string, std::string> query() const;       // percent-decoded query parameters
};

struct http_response {
    int status = 200;
    std::vector<http_header> headers;
    std::string body;
    // Server side only: close the connection without writing anything (the
    // sandbox's "dropped connection" fault). Clients never see it set.
    bool drop = false;

    std::string_view header(std::string_view name) const;   // case-insensitive; "" if absent
    static http_response json(int status, std::string body);   // sets content-type: application/json
    static http_response text(int status, std::string body);   // text/plain; charset=utf-8
};

// "https://host[:port][/base/path]"; base_path has no trailing slash.
struct url {
    std::string scheme;    // "http" or "https"
    std::string host;
    std::uint16_t port = 0;
    std::string base_path;

    static std::optional<url> parse(std::string_view text);
    std::string to_string() const;
};

std::string percent_encode(std::string_view s);     // RFC 3986 unreserved kept
std::string percent_decode(std::string_view s);

struct tls_options {
    bool verify = true;       // verify the chain and the host name
    std::string ca_file;      // empty: the system CA store
};

class http_client {
public:
    explicit http_client(boost::asio::any_io_executor ex, tls_options tls = {});
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // Sends one request to base (request.target is appended to base.base_path)
    // and reads the whole response. Every step (resolve, connect, handshake,
    // write, read) shares one deadline. Failures come back as api_error with
    // kind connect/timeout/tls/protocol and request_sent set once the request
    // was fully written. Non-2xx responses are returned as responses, not errors.
    //
    // before_write, when given, is awaited once the connection is up (after
    // the TLS handshake), just before the first byte is written; false
    // abandons the request (kind timeout, not sent). Its wait is not taken
    // from the timeout. A caller pacing its requests (tikapi::client and its
    // rate limiter) counts them here, where they go out: resolving and
    // connecting each take a turn of the event loop, which a busy loop
    // delays by tens of milliseconds, so a count taken before them let
    // requests held back meet those behind them on the wire.
    boost::asio::awaitable<result<http_response>> send(
        const url& base, http_request request, std::chrono::milliseconds timeout,
        const std::function<boost::asio::awaitable<bool>()>& before_write = {});

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Limits of one listener. The defaults suit the daemon's webhook listener
// on the internet (directly or behind a reverse proxy); docs/operations.md
// ("Limits on every door") lists what a client gets when it hits each one.
struct server_options {
    std::size_t body_limit = 64 * 1024;                 // larger bodies get 413 without calling the handler
    std::size_t header_limit = 16 * 1024;               // request line plus header fields; larger get 431
    std::size_t max_header_count = 100;                 // more header fields get 431
    // From accept (TLS handshake included), or from the first byte of a
    // later request on a kept-alive connection, the request line and all
    // header fields must arrive within header_timeout; a client that sends
    // its header slowly ("slowloris") is cut then. A genuine client sends its
    // header in one round trip.
    std::chrono::milliseconds header_timeout{3000};
    std::chrono::milliseconds read_timeout{5000};       // the body, once the header is in; and writing the answer
    std::chrono::milliseconds idle_timeout{30000};      // keep-alive idle
    // Concurrent connections, on the whole listener and per peer address
    // (IPv6: per /64, which one host typically owns); 0: no cap. When a cap
    // is reached, the oldest connection that is still idle or still sending
    // its header is closed to make room, so a flood of slow clients cannot
    // keep a genuine request out; if every connection is past its header,
    // the new one gets 503 with Retry-After (over HTTPS it is closed). Behind a reverse proxy every
    // connection comes from the proxy's address: give the proxy its own
    // limits and keep max_connections_per_peer at least its upstream
    // concurrency.
    std::size_t max_connections = 256;
    std::size_t max_connections_per_peer = 32;
    // Both set: serve HTTPS (TLS 1.2+) with this PEM certificate chain and
    // private key, read when the server is constructed (std::system_error
    // naming the file when that fails).
    std::string tls_cert_file;
    std::string tls_key_file;
};

// A handler gets the request and returns the response. Exceptions escaping a
// handler become a 500 and are logged (event "http_handler_failed").
using http_handler = std::function<boost::asio::awaitable<http_response>(http_request&)>;

class http_server {
public:
    // Binds and listens immediately (port 0 picks a free port); throws
    // std::system_error naming the address when the bind fails.
    http_server(boost::asio::any_io_executor ex, const std::string& host, std::uint16_t port,
                http_handler handler, server_options options = {});
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    std::uint16_t port() const;
    void start();   // spawns the accept loop on the executor
    // Stops accepting and closes idle connections; a request already in the
    // handler still gets its response (with Connection: close). Call it on
    // the executor's thread. Once handlers finish, io_context::run() returns.
    void stop();
    // Connections the server holds now, served or being refused (call on
    // the executor's thread): 0 once every client has gone, so a test can
    // tell that a flood left nothing behind.
    std::size_t connections() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit, so
// that a listener runs out of connections (its caps) long before the process
// runs out of file descriptors. Call it once at start-up, before any thread
// is started. Never throws: when the limit cannot be raised it stays as it
// was. Returns the soft limit in force afterwards and logs it (event
// "open_file_limit"; a warning when it is below 4096).
std::uint64_t raise_open_file_limit();

}  // namespace orderflow::tikapi
