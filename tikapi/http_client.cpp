// The HTTP/1.1 client on Beast with C++20 coroutines (see tikapi/http.hpp):
// one connection per request (resolve, connect, TLS handshake, write, read)
// under one deadline; every failure becomes an api_error, never an
// exception, and no error message contains the request target, because the
// token endpoints carry the app secret in the query (docs/tiktok-shop-api.md §3).
#include "tikapi/http.hpp"

#include "tikapi/detail/beast.hpp"
#include "tikapi/detail/http.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <stdexcept>

namespace orderflow::tikapi {

namespace {

using detail::host_header;
using detail::is_http_parse_error;
using detail::use_tuple;

bool is_timeout(const error_code& ec) {
    return ec == beast::error::timeout || ec == asio::error::timed_out || ec == asio::error::operation_aborted;
}

api_error make_error(error_kind kind, std::string message, bool sent) {
    api_error e;
    e.kind = kind;
    e.message = std::move(message);
    e.request_sent = sent;
    return e;
}

// Writes the request and reads the whole response on a connected stream.
template <class Stream>
asio::awaitable<result<http_response>> exchange(Stream& stream, bhttp::request<bhttp::string_body>& req,
                                                std::chrono::steady_clock::time_point deadline,
                                                const std::string& where,
                                                const std::function<asio::awaitable<bool>()>& before_write) {
    if (before_write) {
        const auto waiting_since = std::chrono::steady_clock::now();
        if (!co_await before_write()) co_return make_error(error_kind::timeout, "cancelled before sending to " + where, false);
        deadline += std::chrono::steady_clock::now() - waiting_since;
    }
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto r_wec = co_await bhttp::async_write(stream, req, use_tuple);
    auto wec = std::get<0>(std::move(r_wec));
    auto written = std::get<1>(std::move(r_wec));
    (void)written;
    if (wec) {
        co_return make_error(is_timeout(wec) ? error_kind::timeout : error_kind::connect,
                             "sending to " + where + ": " + wec.message(), false);
    }

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto r_rec = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
    auto rec = std::get<0>(std::move(r_rec));
    auto read = std::get<1>(std::move(r_rec));
    (void)read;
    if (rec) {
        error_kind kind = error_kind::connect;
        if (is_timeout(rec)) kind = error_kind::timeout;
        else if (is_http_parse_error(rec) && rec != bhttp::error::end_of_stream && rec != bhttp::error::partial_message)
            kind = error_kind::protocol;
        co_return make_error(kind, "reading the response from " + where + ": " + rec.message(), true);
    }

    auto msg = parser.release();
    http_response response;
    response.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
        response.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    response.body = std::move(msg.body());
    co_return response;
}

}  // namespace

struct http_client::impl {
    asio::any_io_executor executor;
    tls_options tls;
    ssl::context ssl_context{ssl::context::tls_client};
};

http_client::http_client(asio::any_io_executor ex, tls_options tls) : impl_(std::make_unique<impl>()) {
    impl_->executor = std::move(ex);
    impl_->tls = std::move(tls);
    auto& ctx = impl_->ssl_context;
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    if (impl_->tls.verify) {
        error_code ec;
        if (impl_->tls.ca_file.empty()) ctx.set_default_verify_paths(ec);
        else ctx.load_verify_file(impl_->tls.ca_file, ec);
        if (ec) {
            throw std::runtime_error("cannot load the CA certificates" +
                                     (impl_->tls.ca_file.empty() ? std::string() : " from " + impl_->tls.ca_file) +
                                     ": " + ec.message());
        }
        ctx.set_verify_mode(ssl::verify_peer);
    } else {
        ctx.set_verify_mode(ssl::verify_none);
    }
}

http_client::~http_client() = default;

asio::awaitable<result<http_response>> http_client::send(const url& base, http_request request,
                                                         std::chrono::milliseconds timeout,
                                                         const std::function<asio::awaitable<bool>()>& before_write) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string where = host_header(base);

    // Resolve under the same deadline: the resolver has no expiry of its own,
    // so a timer cancels it. The timer's handler owns the resolver, so it may
    // run after this coroutine has finished.
    auto resolver = std::make_shared<tcp::resolver>(impl_->executor);
    asio::steady_timer resolve_timer(impl_->executor);
    resolve_timer.expires_at(deadline);
    resolve_timer.async_wait([resolver](const error_code& ec) {
        if (!ec) resolver->cancel();
    });
    auto r_resolve_ec = co_await resolver->async_resolve(base.host, std::to_string(base.port), use_tuple);
    auto resolve_ec = std::get<0>(std::move(r_resolve_ec));
    auto endpoints = std::get<1>(std::move(r_resolve_ec));
    resolve_timer.cancel();
    if (resolve_ec) {
        co_return make_error(is_timeout(resolve_ec) ? error_kind::timeout : error_kind::connect,
                             "resolving " + base.host + ": " + resolve_ec.message(), false);
    }

    bhttp::request<bhttp::string_body> req;
    req.method_string(request.method);
    std::string target = request.target.empty() ? "/" : request.target;
    if (target.front() != '/') target.insert(target.begin(), '/');
    req.target(base.base_path + target);
    req.version(11);
    req.set(bhttp::field::host, where);
    req.set(bhttp::field::user_agent, "orderflow/0.1");
    for (const auto& h : request.headers) req.set(h.name, h.value);
    req.body() = std::move(request.body);
    req.keep_alive(false);
    req.prepare_payload();

    if (base.scheme == "https") {
        beast::ssl_stream<beast::tcp_stream> stream(impl_->executor, impl_->ssl_context);
        error_code addr_ec;
        asio::ip::make_address(base.host, addr_ec);
        // SNI carries names only (RFC 6066), never IP literals.
        if (addr_ec && !SSL_set_tlsext_host_name(stream.native_handle(), base.host.c_str())) {
            co_return make_error(error_kind::tls, "cannot set the TLS server name for " + where, false);
        }
        if (impl_->tls.verify) stream.set_verify_callback(ssl::host_name_verification(base.host));

        beast::get_lowest_layer(stream).expires_at(deadline);
        auto r_connect_ec = co_await beast::get_lowest_layer(stream).async_connect(endpoints, use_tuple);
        auto connect_ec = std::get<0>(std::move(r_connect_ec));
        auto ep = std::get<1>(std::move(r_connect_ec));
        (void)ep;
        if (connect_ec) {
            co_return make_error(is_timeout(connect_ec) ? error_kind::timeout : error_kind::connect,
                                 "connecting to " + where + ": " + connect_ec.message(), false);
        }
        beast::get_lowest_layer(stream).expires_at(deadline);
        auto r_hs_ec = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
        auto hs_ec = std::get<0>(std::move(r_hs_ec));
        if (hs_ec) {
            std::string reason = hs_ec.message();
            long verify = SSL_get_verify_result(stream.native_handle());
            if (verify != X509_V_OK) reason += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
            co_return make_error(is_timeout(hs_ec) ? error_kind::timeout : error_kind::tls,
                                 "TLS handshake with " + where + ": " + reason, false);
        }
        auto response = co_await exchange(stream, req, deadline, where, before_write);
        error_code ignored;
        beast::get_lowest_layer(stream).socket().close(ignored);
        co_return response;
    }

    beast::tcp_stream stream(impl_->executor);
    stream.expires_at(deadline);
    auto plain_connect = co_await stream.async_connect(endpoints, use_tuple);
    auto plain_connect_ec = std::get<0>(plain_connect);
    if (plain_connect_ec) {
        co_return make_error(is_timeout(plain_connect_ec) ? error_kind::timeout : error_kind::connect,
                             "connecting to " + where + ": " + plain_connect_ec.message(), false);
    }
    auto response = co_await exchange(stream, req, deadline, where, before_write);
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    co_return response;
}

}  // namespace orderflow::tikapi
