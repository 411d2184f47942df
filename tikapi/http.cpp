// HTTP/1.1 client and server on Beast with C++20 coroutines (see http.hpp).
//
// Client: one connection per request (resolve, connect, TLS handshake, write,
// read) under one deadline; every failure becomes an api_error, never an
// exception, and no error message contains the request target, because the
// token endpoints carry the app secret in the query (docs/tiktok-shop-api.md §3).
//
// Server: an accept loop coroutine and one coroutine per connection with
// keep-alive. Limits: body_limit (413, then a lingering close so the client
// can read the answer), read_timeout per request, idle_timeout between
// requests; malformed requests get 400; handler exceptions get 500 and a log line.
// A handler may return a response with `drop` set: the connection is then
// closed without an answer (fault injection in the sandbox). With
// server_options tls_cert_file / tls_key_file every connection starts with a
// TLS handshake (TLS 1.2+, within read_timeout); the same session code then
// runs on the TLS stream.
#include "tikapi/http.hpp"

#include "common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <system_error>

namespace orderflow::tikapi {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view find_header(const std::vector<http_header>& headers, std::string_view name) {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return h.value;
    }
    return {};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string endpoint_string(const tcp::endpoint& ep) {
    auto addr = ep.address();
    std::string host = addr.to_string();
    if (addr.is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(ep.port());
}

std::uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

std::string host_header(const url& base) {
    std::string host = base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host;
    if (base.port != default_port(base.scheme)) host += ":" + std::to_string(base.port);
    return host;
}

bool is_timeout(const error_code& ec) {
    return ec == beast::error::timeout || ec == asio::error::timed_out || ec == asio::error::operation_aborted;
}

bool is_http_parse_error(const error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
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
                                                const std::string& where) {
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

// ---------------------------------------------------------------------------
// Value types

std::string_view http_request::header(std::string_view name) const { return find_header(headers, name); }

std::string http_request::path() const {
    auto q = target.find('?');
    return q == std::string::npos ? target : target.substr(0, q);
}

std::map<std::string, std::string> http_request::query() const {
    std::map<std::string, std::string> out;
    auto q = target.find('?');
    if (q == std::string::npos) return out;
    std::string_view rest = std::string_view(target).substr(q + 1);
    auto decode = [](std::string_view s) {
        std::string plus_as_space(s);
        std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
        return percent_decode(plus_as_space);
    };
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        std::string key = decode(pair.substr(0, eq));
        std::string value = eq == std::string_view::npos ? std::string{} : decode(pair.substr(eq + 1));
        out.emplace(std::move(key), std::move(value));   // the first occurrence wins
    }
    return out;
}

std::string_view http_response::header(std::string_view name) const { return find_header(headers, name); }

http_response http_response::json(int status, std::string body) {
    http_response r;
    r.status = status;
    r.headers.push_back({"content-type", "application/json"});
    r.body = std::move(body);
    return r;
}

http_response http_response::text(int status, std::string body) {
    http_response r;
    r.status = status;
    r.headers.push_back({"content-type", "text/plain; charset=utf-8"});
    r.body = std::move(body);
    return r;
}

std::optional<url> url::parse(std::string_view text) {
    auto sep = text.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    url u;
    for (char c : text.substr(0, sep)) u.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (u.scheme != "http" && u.scheme != "https") return std::nullopt;

    std::string_view rest = text.substr(sep + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (path.find_first_of("?# ") != std::string_view::npos) return std::nullopt;
    if (authority.find_first_of("@ ") != std::string_view::npos) return std::nullopt;

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port_text = after.substr(1);
            if (port_text.empty()) return std::nullopt;
        }
    } else {
        auto colon = authority.find(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return std::nullopt;
        }
    }
    if (u.host.empty()) return std::nullopt;

    u.port = default_port(u.scheme);
    if (!port_text.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 || value > 65535)
            return std::nullopt;
        u.port = static_cast<std::uint16_t>(value);
    }

    u.base_path = std::string(path);
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    return u;
}

std::string url::to_string() const { return scheme + "://" + host_header(*this) + base_path; }

std::string percent_encode(std::string_view s) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    return out;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);   // a stray '%' stays as it is
    }
    return out;
}

// ---------------------------------------------------------------------------
// Client

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
                                                         std::chrono::milliseconds timeout) {
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
        auto response = co_await exchange(stream, req, deadline, where);
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
    auto response = co_await exchange(stream, req, deadline, where);
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    co_return response;
}

// ---------------------------------------------------------------------------
// Server

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
    impl(asio::any_io_executor ex, http_handler h, server_options o)
        : executor(ex), acceptor(ex), handler(std::move(h)), options(o) {}

    asio::any_io_executor executor;
    tcp::acceptor acceptor;
    http_handler handler;
    server_options options;
    std::uint16_t port = 0;
    bool started = false;
    bool stopped = false;
    std::uint64_t next_connection = 0;
    struct connection {
        std::weak_ptr<beast::tcp_stream> stream;
        bool busy = false;   // between a complete request and its written response
    };
    std::map<std::uint64_t, connection> connections;

    std::unique_ptr<ssl::context> tls;   // set: every connection starts with a TLS handshake

    static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self);
    static asio::awaitable<void> session(std::shared_ptr<impl> self, tcp::socket socket);
    template <class Stream>
    static asio::awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<Stream> stream,
                                       std::string remote, std::uint64_t id);
};

namespace {

// After an early answer (413, 400) the client may still be sending; closing
// with unread data would reset the connection and could destroy the answer
// before the client reads it. So stop sending, then read and discard until
// the client closes or the deadline passes.
asio::awaitable<void> lingering_close(beast::tcp_stream& stream, std::chrono::milliseconds limit) {
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(std::min(limit, std::chrono::milliseconds(2000)));
    std::array<char, 8192> sink{};
    std::size_t total = 0;
    while (total < 16 * 1024 * 1024) {
        auto r_rec = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
        auto rec = std::get<0>(std::move(r_rec));
        auto n = std::get<1>(std::move(r_rec));
        if (rec) break;
        total += n;
    }
    stream.close();
}

bhttp::response<bhttp::string_body> to_beast(const http_response& r, bool keep_alive) {
    bhttp::response<bhttp::string_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(r.status));
    for (const auto& h : r.headers) res.set(h.name, h.value);
    res.body() = r.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

// Answers a request the server will not handle (413, 400) and closes the
// connection gracefully, so the client can read the answer.
template <class Stream>
asio::awaitable<void> refuse(Stream& stream, int status, std::string text, std::chrono::milliseconds limit) {
    auto res = to_beast(http_response::text(status, std::move(text)), false);
    beast::get_lowest_layer(stream).expires_after(limit);
    auto r_wec = co_await bhttp::async_write(stream, res, use_tuple);
    auto wec = std::get<0>(std::move(r_wec));
    if (!wec) co_await lingering_close(beast::get_lowest_layer(stream), limit);
}

}  // namespace

asio::awaitable<void> http_server::impl::accept_loop(std::shared_ptr<impl> self) {
    while (!self->stopped) {
        auto r_ec = co_await self->acceptor.async_accept(use_tuple);
        auto ec = std::get<0>(std::move(r_ec));
        auto socket = std::get<1>(std::move(r_ec));
        if (self->stopped || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Out of file descriptors and the like: say so, back off, go on.
            log::warn("http_accept_failed", {{"port", self->port}, {"error", ec.message()}});
            asio::steady_timer pause(self->executor, std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        asio::co_spawn(self->executor, session(self, std::move(socket)), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::error("http_connection_failed", {{"error", ex.what()}});
            }
        });
    }
}

asio::awaitable<void> http_server::impl::session(std::shared_ptr<impl> self, tcp::socket socket) {
    error_code ep_ec;
    auto peer = socket.remote_endpoint(ep_ec);
    const std::string remote = ep_ec ? std::string() : endpoint_string(peer);
    const auto id = self->next_connection++;
    struct unregister {
        impl* owner;
        std::uint64_t id;
        ~unregister() { owner->connections.erase(id); }
    } guard{self.get(), id};

    if (!self->tls) {
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        self->connections.emplace(id, connection{stream, false});
        co_await serve(self, stream, remote, id);
        co_return;
    }
    auto stream = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), *self->tls);
    // stop() closes the TCP layer; the aliasing pointer shares the TLS stream's lifetime.
    self->connections.emplace(id, connection{std::shared_ptr<beast::tcp_stream>(stream, &stream->next_layer()), false});
    beast::get_lowest_layer(*stream).expires_after(self->options.read_timeout);
    auto r_hs = co_await stream->async_handshake(ssl::stream_base::server, use_tuple);
    auto hs_ec = std::get<0>(std::move(r_hs));
    if (hs_ec) {
        error_code ignored;
        beast::get_lowest_layer(*stream).socket().close(ignored);
        co_return;
    }
    co_await serve(self, stream, remote, id);
}

template <class Stream>
asio::awaitable<void> http_server::impl::serve(std::shared_ptr<impl> self, std::shared_ptr<Stream> stream,
                                               std::string remote, std::uint64_t id) {
    const auto& options = self->options;
    beast::flat_buffer buffer;
    bool first = true;
    while (!self->stopped) {
        // Between requests the connection may idle for idle_timeout; once a
        // request has begun it must arrive whole within read_timeout.
        if (!first && buffer.size() == 0) {
            beast::get_lowest_layer(*stream).expires_after(options.idle_timeout);
            auto r_ec = co_await stream->async_read_some(buffer.prepare(8192), use_tuple);
            auto ec = std::get<0>(std::move(r_ec));
            auto n = std::get<1>(std::move(r_ec));
            if (ec) break;
            buffer.commit(n);
        }
        first = false;

        bhttp::request_parser<bhttp::string_body> parser;
        parser.body_limit(options.body_limit);
        beast::get_lowest_layer(*stream).expires_after(options.read_timeout);
        auto r_ec = co_await bhttp::async_read(*stream, buffer, parser, use_tuple);
        auto ec = std::get<0>(std::move(r_ec));
        auto n = std::get<1>(std::move(r_ec));
        (void)n;
        if (ec == bhttp::error::body_limit) {
            co_await refuse(*stream, 413, "request body too large\n", options.read_timeout);
            break;
        }
        if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) break;
        if (ec && is_http_parse_error(ec)) {
            co_await refuse(*stream, 400, "bad request\n", options.read_timeout);
            break;
        }
        if (ec) break;   // timeout, reset, closed by stop()

        self->connections[id].busy = true;
        auto& msg = parser.get();
        http_request request;
        request.method = std::string(msg.method_string());
        request.target = std::string(msg.target());
        for (const auto& field : msg) {
            request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
        }
        request.body = std::move(msg.body());
        request.remote = remote;
        const bool keep_alive = msg.keep_alive();

        http_response response;
        bool failed = false;
        std::string failure;
        try {
            response = co_await self->handler(request);
        } catch (const std::exception& e) {
            failed = true;
            failure = e.what();
        } catch (...) {
            failed = true;
            failure = "unknown exception";
        }
        if (failed) {
            log::error("http_handler_failed",
                       {{"method", request.method}, {"path", request.path()}, {"error", failure}});
            response = http_response::text(500, "internal error\n");
        }
        if (response.drop) {
            // The handler asked for no answer at all: reset-free close, as a
            // server that dies mid-request would leave the client.
            self->connections[id].busy = false;
            break;
        }
        // A request in flight when stop() came still gets its answer (an
        // acknowledged webhook must not look lost), then the connection closes.
        auto res = to_beast(response, keep_alive && !self->stopped);
        if (request.method == "HEAD") res.body().clear();
        beast::get_lowest_layer(*stream).expires_after(options.read_timeout);
        auto r_wec = co_await bhttp::async_write(*stream, res, use_tuple);
        auto wec = std::get<0>(std::move(r_wec));
        auto wn = std::get<1>(std::move(r_wec));
        (void)wn;
        self->connections[id].busy = false;
        if (wec || !res.keep_alive()) break;
    }
    error_code ignored;
    beast::get_lowest_layer(*stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(*stream).close();
}

http_server::http_server(asio::any_io_executor ex, const std::string& host, std::uint16_t port,
                         http_handler handler, server_options options)
    : impl_(std::make_shared<impl>(ex, std::move(handler), options)) {
    const std::string where = host + ":" + std::to_string(port);
    if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
        auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
        context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        error_code tls_ec;
        context->use_certificate_chain_file(options.tls_cert_file, tls_ec);
        if (tls_ec)
            throw std::system_error(std::error_code(tls_ec), "cannot load the TLS certificate " + options.tls_cert_file);
        context->use_private_key_file(options.tls_key_file, ssl::context::pem, tls_ec);
        if (tls_ec) throw std::system_error(std::error_code(tls_ec), "cannot load the TLS key " + options.tls_key_file);
        impl_->tls = std::move(context);
    }
    tcp::endpoint endpoint;
    error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (!ec) {
        endpoint = tcp::endpoint(address, port);
    } else {
        // A name such as "localhost": resolve once, at start-up.
        tcp::resolver resolver(ex);
        auto results = resolver.resolve(host, std::to_string(port), ec);
        if (ec || results.empty()) {
            throw std::system_error(ec ? std::error_code(ec) : std::make_error_code(std::errc::invalid_argument),
                                    "cannot resolve listen address " + where);
        }
        endpoint = results.begin()->endpoint();
    }

    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(std::error_code(ec), "cannot listen on " + where);
    impl_->port = acceptor.local_endpoint().port();
}

http_server::~http_server() { stop(); }

std::uint16_t http_server::port() const { return impl_->port; }

void http_server::start() {
    if (impl_->started || impl_->stopped) return;
    impl_->started = true;
    asio::co_spawn(impl_->executor, impl::accept_loop(impl_), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("http_accept_loop_failed", {{"error", ex.what()}});
        }
    });
}

void http_server::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    error_code ignored;
    impl_->acceptor.close(ignored);
    // Closing cancels whatever an idle or still-reading connection waits
    // for; its coroutine then finishes and unregisters itself. Connections
    // busy in the handler write their answer first and then close.
    auto connections = impl_->connections;
    for (auto& [id, c] : connections) {
        if (c.busy) continue;
        if (auto stream = c.stream.lock()) stream->socket().close(ignored);
    }
}

}  // namespace orderflow::tikapi
