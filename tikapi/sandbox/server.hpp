// The sandbox on a socket: a `shop` behind an http_server, plus the coroutine
// that delivers the shop's queued webhooks, one at a time in queue order, each
// signed and retried on TikTok's schedule (docs/tiktok-shop-api.md §5) scaled
// by --retry-scale.
//
// The server does not own the shop, so tests can create orders and read the
// logs directly while the server runs. Both live on one io_context thread.
#pragma once

#include "tikapi/sandbox/shop.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace orderflow::sandbox {

class server {
public:
    // Binds host:port at once (port 0 picks a free port). Refuses a host that
    // is not a loopback address (std::invalid_argument); a failed bind
    // throws std::system_error. `shop` must outlive the server. With
    // tls_cert and tls_key (PEM files) it serves HTTPS instead of HTTP.
    server(boost::asio::any_io_executor ex, shop& shop, const std::string& host, std::uint16_t port,
           const std::string& tls_cert = "", const std::string& tls_key = "");
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    std::uint16_t port() const;
    // Starts accepting requests and delivering webhooks.
    void start();
    // Stops accepting, closes connections and ends the delivery loop (an
    // attempt in flight is abandoned when the io_context stops).
    void stop();

    // How long a webhook receiver may take to answer (TikTok's is 3 s, §5).
    static constexpr std::chrono::milliseconds webhook_timeout{3000};

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace orderflow::sandbox
