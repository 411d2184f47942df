// The HTTP/1.1 server on Beast with C++20 coroutines (see tikapi/http.hpp):
// an accept loop coroutine and one coroutine per connection with
// keep-alive. Limits: header_limit and max_header_count (431) and body_limit
// (413), each then a lingering close so the client can read the answer;
// header_timeout for the request header (TLS handshake included),
// read_timeout for the body, idle_timeout between requests; malformed
// requests get 400; handler exceptions get 500 and a log line.
//
// Connection floods: each listener counts its connections, in all and per
// peer address. Over a cap, the connection that has waited longest for its
// header gives way (slow clients cannot crowd out a genuine request, which
// sends its header at once); when none is waiting the newcomer gets 503 with
// Retry-After. When the process runs out of file descriptors, a waiting
// connection gives way too, or else a reserve descriptor (an open /dev/null)
// is given up to take pending connections off the backlog and close them,
// so accept neither spins nor leaves clients hanging. Every limit hit is
// logged with the limit's name, at most once a second per limit with a count.
// A handler may return a response with `drop` set: the connection is then
// closed without an answer (fault injection in the sandbox). With
// server_options tls_cert_file / tls_key_file every connection starts with a
// TLS handshake (TLS 1.2+, within read_timeout); the same session code then
// runs on the TLS stream.
#include "tikapi/http.hpp"

#include "tikapi/detail/beast.hpp"

#include "common/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/read_size.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <exception>
#include <iterator>
#include <map>
#include <system_error>
#include <type_traits>

namespace orderflow::tikapi {

namespace {

using detail::is_http_parse_error;
using detail::use_tuple;

std::string endpoint_string(const tcp::endpoint& ep) {
    auto addr = ep.address();
    std::string host = addr.to_string();
    if (addr.is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(ep.port());
}

using steady = std::chrono::steady_clock;

// At most one log line per event and limit in this interval; the line says
// how many times the limit was hit since the previous one.
constexpr auto limit_log_interval = std::chrono::seconds(1);
// Connections over a cap that are still being told 503; beyond this many
// they are closed without an answer, so refusing costs little itself.
constexpr std::size_t max_refusing = 64;
// How long a refused connection may take to receive its 503.
constexpr std::chrono::milliseconds refusal_time{1000};
// Pause after the accept loop had to shed connections or failed otherwise.
constexpr std::chrono::milliseconds accept_backoff{50};
// Connections taken off the backlog and closed per shedding round.
constexpr std::size_t max_shed = 64;

// Connections are counted per peer address; an IPv6 host usually owns a
// whole /64, so IPv6 peers are counted per /64 prefix.
std::string peer_key(const asio::ip::address& addr) {
    if (!addr.is_v6()) return addr.to_string();
    auto v6 = addr.to_v6();
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    auto bytes = v6.to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), static_cast<unsigned char>(0));
    return asio::ip::address_v6(bytes).to_string() + "/64";
}

bool is_out_of_descriptors(const error_code& ec) {
    return ec == asio::error::no_descriptors || ec == error_code(ENFILE, asio::error::get_system_category());
}

// The spare descriptor the accept loop gives up when the process is out of
// descriptors, so it can still take a pending connection off the backlog
// (and close it) instead of leaving clients to hang.
int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
    impl(asio::any_io_executor ex, http_handler h, server_options o)
        : executor(ex), acceptor(ex), handler(std::move(h)), options(o), limit_log_timer(ex) {}
    ~impl() {
        if (reserve_fd >= 0) ::close(reserve_fd);
    }

    asio::any_io_executor executor;
    tcp::acceptor acceptor;
    http_handler handler;
    server_options options;
    std::uint16_t port = 0;
    bool started = false;
    bool stopped = false;
    int reserve_fd = -1;
    std::uint64_t next_connection = 0;
    struct connection {
        std::weak_ptr<beast::tcp_stream> stream;
        std::string peer;                  // peer_key
        bool busy = false;                 // between a complete request and its written response
        bool waiting = true;               // idle or still receiving a request header: may give way
        steady::time_point waiting_since;
    };
    std::map<std::uint64_t, connection> connections;
    std::map<std::string, std::size_t> per_peer;                        // live connections per peer_key
    std::map<std::uint64_t, std::weak_ptr<beast::tcp_stream>> refusing;   // being told 503

    struct limit_log_entry {
        std::string event;
        steady::time_point last;
        std::size_t pending = 0;        // hits since `last` not yet logged
        nlohmann::json fields;          // of the latest hit
    };
    std::map<std::string, limit_log_entry> limit_log;   // by event and limit
    asio::steady_timer limit_log_timer;
    bool limit_log_armed = false;

    std::unique_ptr<ssl::context> tls;   // set: every connection starts with a TLS handshake

    static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self);
    static void admit(const std::shared_ptr<impl>& self, tcp::socket socket);
    static asio::awaitable<void> refuse_connection(std::shared_ptr<impl> self, std::shared_ptr<beast::tcp_stream> stream,
                                                   std::uint64_t id);
    // remote: the peer's "ip:port" (for the handler); peer: its peer_key (for the log).
    template <class Stream>
    static asio::awaitable<void> session(std::shared_ptr<impl> self, std::shared_ptr<Stream> stream,
                                         std::string remote, std::string peer, std::uint64_t id);
    template <class Stream>
    static asio::awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<Stream> stream,
                                       std::string remote, std::string peer, std::uint64_t id,
                                       steady::time_point header_deadline);

    // Forgets a connection (idempotent: an evicted one is forgotten at once,
    // before its coroutine notices).
    void release(std::uint64_t id) {
        auto it = connections.find(id);
        if (it == connections.end()) return;
        auto p = per_peer.find(it->second.peer);
        if (p != per_peer.end() && --p->second == 0) per_peer.erase(p);
        connections.erase(it);
    }

    void set_busy(std::uint64_t id, bool busy) {
        if (auto it = connections.find(id); it != connections.end()) it->second.busy = busy;
    }

    void set_waiting(std::uint64_t id, bool waiting) {
        auto it = connections.find(id);
        if (it == connections.end()) return;
        it->second.waiting = waiting;
        if (waiting) it->second.waiting_since = steady::now();
    }

    // Closes the connection that has waited longest for a request header
    // (only among `peer`'s when given), to make room for a new one. A
    // genuine client sends its header within a round trip, so the oldest
    // waiting connection is the likeliest to be a slow or abandoned one.
    // False when every connection is past its header.
    bool evict(const std::string* peer, std::string_view limit, std::size_t max = 0) {
        auto victim = connections.end();
        for (auto it = connections.begin(); it != connections.end(); ++it) {
            const auto& c = it->second;
            if (!c.waiting || (peer && c.peer != *peer)) continue;
            if (victim == connections.end() || c.waiting_since < victim->second.waiting_since) victim = it;
        }
        if (victim == connections.end()) return false;
        nlohmann::json fields{{"peer", victim->second.peer}};
        if (max != 0) fields["max"] = max;
        note_limit("http_connection_evicted", limit, std::move(fields));
        if (auto stream = victim->second.stream.lock()) {
            error_code ignored;
            stream->socket().close(ignored);
        }
        release(victim->first);
        return true;
    }

    // Logs that a limit was hit (or accept failed: no limit), at most once
    // per limit_log_interval per event and limit: a flood must not become a
    // flood of log lines. Each line's `count` covers the hits since the last.
    void note_limit(std::string_view event, std::string_view limit, nlohmann::json fields, std::size_t hits = 1) {
        fields["port"] = port;
        if (!limit.empty()) fields["limit"] = limit;
        std::string key = std::string(event) + " " + std::string(limit);
        auto [it, fresh] = limit_log.try_emplace(key);
        auto& entry = it->second;
        const auto now = steady::now();
        if (fresh || now - entry.last >= limit_log_interval) {
            fields["count"] = entry.pending + hits;
            log::warn(event, std::move(fields));
            entry.last = now;
            entry.pending = 0;
            return;
        }
        entry.event = std::string(event);
        entry.pending += hits;
        entry.fields = std::move(fields);
        if (limit_log_armed || stopped) return;
        limit_log_armed = true;
        limit_log_timer.expires_at(entry.last + limit_log_interval);
        limit_log_timer.async_wait([weak = weak_from_this()](const error_code& ec) {
            if (ec) return;
            if (auto self = weak.lock()) {
                self->limit_log_armed = false;
                self->flush_limit_log();
            }
        });
    }

    void flush_limit_log() {
        const auto now = steady::now();
        for (auto& [key, entry] : limit_log) {
            if (entry.pending == 0) continue;
            entry.fields["count"] = entry.pending;
            log::warn(entry.event, entry.fields);
            entry.last = now;
            entry.pending = 0;
        }
    }

    // Out of descriptors and no connection to give way: take pending
    // connections off the backlog with the reserve descriptor and close
    // them, so their clients learn at once instead of waiting in the
    // backlog (where the kernel has already completed their handshake).
    std::size_t shed_pending() {
        if (reserve_fd < 0) reserve_fd = open_reserve();
        if (reserve_fd < 0) return 0;
        ::close(reserve_fd);
        reserve_fd = -1;
        std::size_t shed = 0;
        while (shed < max_shed) {
            error_code ec;
            auto socket = acceptor.accept(ec);   // the acceptor is non-blocking: would_block ends the round
            if (ec) break;
            socket.close(ec);
            ++shed;
        }
        reserve_fd = open_reserve();
        return shed;
    }
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

// A header name or value with a line break or NUL would let whoever chose
// it add headers of their own (Beast writes them as they are).
bool header_safe(std::string_view text) { return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

bhttp::response<bhttp::string_body> to_beast(const http_response& given, bool keep_alive) {
    const bool safe = std::all_of(given.headers.begin(), given.headers.end(),
                                  [](const http_header& h) { return header_safe(h.name) && header_safe(h.value); });
    http_response refused;
    if (!safe) {
        log::error("http_header_refused", {{"status", given.status}, {"reason", "a header held a line break or NUL"}});
        refused = http_response::text(500, "internal error: a response header was malformed\n");
    }
    const http_response& r = safe ? given : refused;
    bhttp::response<bhttp::string_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(r.status));
    for (const auto& h : r.headers) res.set(h.name, h.value);
    res.body() = r.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

// The head of the answer to_beast would build, in the bytes Beast would
// write for it, into `out`: for the answers a server gives nearly always
// (headers with distinct names, none that Beast rewrites itself, values
// without the blanks it trims, a status that may have a body). False for
// any other answer, which then goes through Beast as before. Beast's
// serializer took 12,400 of the webhook listener's 92,300 instructions per
// webhook, for an answer of 38 bytes (bench/README.md, "Twelfth round").
bool plain_head(std::string& out, const http_response& r, bool keep_alive) {
    if (r.status < 200 || r.status > 599 || r.status == 204 || r.status == 304) return false;
    constexpr std::size_t longest = 4096;
    const auto blank = [](char c) { return c == ' ' || c == '\t'; };
    for (std::size_t i = 0; i < r.headers.size(); ++i) {
        const auto& h = r.headers[i];
        if (h.name.empty() || h.name.size() > longest || h.value.size() > longest) return false;
        if (!header_safe(h.name) || !header_safe(h.value)) return false;
        if (!h.value.empty() && (blank(h.value.front()) || blank(h.value.back()))) return false;
        if (beast::iequals(h.name, "connection") || beast::iequals(h.name, "content-length") ||
            beast::iequals(h.name, "transfer-encoding"))
            return false;
        for (std::size_t j = 0; j < i; ++j)
            if (beast::iequals(h.name, r.headers[j].name)) return false;
    }
    out.assign("HTTP/1.1 ");
    out.append(std::to_string(r.status));
    out.push_back(' ');
    const auto reason = bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(r.status)));
    out.append(reason.data(), reason.size());
    out.append("\r\n");
    for (const auto& h : r.headers) {
        out.append(h.name);
        out.append(": ");
        out.append(h.value);
        out.append("\r\n");
    }
    if (!keep_alive) out.append("Connection: close\r\n");
    out.append("Content-Length: ");
    out.append(std::to_string(r.body.size()));
    out.append("\r\n\r\n");
    return true;
}

// Writes the answer to a request; false when the connection failed. A plain
// answer on a TCP connection is written at once when the socket takes it
// whole (an answer of a few hundred bytes nearly always fits its send
// buffer): no trip through the event loop and no timer. What the socket
// does not take, and every answer on TLS, is written asynchronously within
// `limit`.
template <class Stream>
asio::awaitable<bool> send_answer(Stream& stream, std::string& head, const http_response& r, bool keep_alive,
                                  bool head_request, std::chrono::milliseconds limit) {
    auto& lowest = beast::get_lowest_layer(stream);
    if (!plain_head(head, r, keep_alive)) {
        auto res = to_beast(r, keep_alive);
        if (head_request) res.body().clear();
        lowest.expires_after(limit);
        auto r_wec = co_await bhttp::async_write(stream, res, use_tuple);
        co_return !std::get<0>(r_wec);
    }
    const std::string_view body = head_request ? std::string_view() : std::string_view(r.body);
    std::size_t written = 0;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        const std::array<asio::const_buffer, 2> both{asio::buffer(head), asio::buffer(body)};
        error_code ec;
        written = lowest.socket().write_some(both, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            written = 0;
        } else if (ec) {
            co_return false;
        }
    }
    if (written == head.size() + body.size()) co_return true;
    const std::array<asio::const_buffer, 2> rest{
        asio::buffer(head) + std::min(written, head.size()),
        asio::buffer(body) + (written > head.size() ? written - head.size() : 0)};
    lowest.expires_after(limit);
    auto r_wec = co_await asio::async_write(stream, rest, use_tuple);
    co_return !std::get<0>(r_wec);
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

// The log event and the limit a failed request read ran into, with the
// answer the client gets (0: none, the connection is just closed).
struct read_failure {
    int status = 0;
    std::string text;
    std::string_view event;   // empty: nothing to log (closed by the client, by stop() or by eviction)
    std::string_view limit;
};

read_failure classify(const error_code& ec, bool header) {
    if (ec == bhttp::error::header_limit)
        return {431, "request header too large\n", "http_request_refused", "header_limit"};
    if (ec == bhttp::error::body_limit) return {413, "request body too large\n", "http_request_refused", "body_limit"};
    if (ec == beast::error::timeout)
        return {0, {}, "http_connection_timed_out", header ? "header_timeout" : "read_timeout"};
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return {};
    if (is_http_parse_error(ec)) return {400, "bad request\n", {}, {}};
    return {};
}

}  // namespace

asio::awaitable<void> http_server::impl::accept_loop(std::shared_ptr<impl> self) {
    while (!self->stopped) {
        auto r_ec = co_await self->acceptor.async_accept(use_tuple);
        auto ec = std::get<0>(std::move(r_ec));
        auto socket = std::get<1>(std::move(r_ec));
        if (self->stopped || ec == asio::error::operation_aborted) co_return;
        if (!ec) {
            admit(self, std::move(socket));
            continue;
        }
        if (is_out_of_descriptors(ec)) {
            // The process is out of file descriptors. A connection still
            // waiting for its header gives way (its descriptor then takes
            // the pending connection at once); failing that, the reserve
            // descriptor lets the pending connections be closed instead of
            // hanging. Never a busy loop: the pause below follows shedding.
            if (self->evict(nullptr, "file_descriptors")) continue;
            std::size_t shed = self->shed_pending();
            self->note_limit("http_connection_refused", "file_descriptors",
                             {{"error", ec.message()},
                              {"advice", "the process is out of file descriptors: raise LimitNOFILE or lower "
                                         "the listeners' max_connections"}},
                             std::max<std::size_t>(shed, 1));
        } else {
            self->note_limit("http_accept_failed", {}, {{"error", ec.message()}});
        }
        asio::steady_timer pause(self->executor, accept_backoff);
        co_await pause.async_wait(use_tuple);
    }
}

void http_server::impl::admit(const std::shared_ptr<impl>& self, tcp::socket socket) {
    error_code ep_ec;
    auto endpoint = socket.remote_endpoint(ep_ec);
    if (ep_ec) return;   // the peer has gone already; the socket closes here
    const std::string remote = endpoint_string(endpoint);
    std::string peer = peer_key(endpoint.address());
    const auto& o = self->options;

    // Over a cap, a connection that is idle or still sending its header
    // gives way; only when there is none is the new connection refused.
    std::string_view refused;
    std::size_t max = 0;
    auto peer_count = self->per_peer.find(peer);
    if (o.max_connections_per_peer != 0 && peer_count != self->per_peer.end() &&
        peer_count->second >= o.max_connections_per_peer &&
        !self->evict(&peer, "max_connections_per_peer", o.max_connections_per_peer)) {
        refused = "max_connections_per_peer";
        max = o.max_connections_per_peer;
    } else if (o.max_connections != 0 && self->connections.size() >= o.max_connections &&
               !self->evict(nullptr, "max_connections", o.max_connections)) {
        refused = "max_connections";
        max = o.max_connections;
    }
    const auto id = self->next_connection++;
    if (!refused.empty()) {
        self->note_limit("http_connection_refused", refused, {{"max", max}, {"peer", peer}});
        // A TLS listener cannot answer before a handshake, and a flood of
        // refusals must not hold descriptors itself: then just close.
        if (self->tls || self->refusing.size() >= max_refusing) return;
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        self->refusing.emplace(id, stream);
        asio::co_spawn(self->executor, refuse_connection(self, stream, id), asio::detached);
        return;
    }

    auto on_done = [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("http_connection_failed", {{"error", ex.what()}});
        }
    };
    ++self->per_peer[peer];
    connection c{{}, peer, false, true, steady::now()};
    if (!self->tls) {
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        c.stream = stream;
        self->connections.emplace(id, std::move(c));
        asio::co_spawn(self->executor, session(self, stream, remote, peer, id), on_done);
        return;
    }
    auto stream = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), *self->tls);
    // stop() and eviction close the TCP layer; the aliasing pointer shares the TLS stream's lifetime.
    c.stream = std::shared_ptr<beast::tcp_stream>(stream, &stream->next_layer());
    self->connections.emplace(id, std::move(c));
    asio::co_spawn(self->executor, session(self, stream, remote, peer, id), on_done);
}

// Tells a connection over a cap "503, retry later" (before reading its
// request) and closes it so the client can read the answer.
asio::awaitable<void> http_server::impl::refuse_connection(std::shared_ptr<impl> self,
                                                           std::shared_ptr<beast::tcp_stream> stream,
                                                           std::uint64_t id) {
    auto res = to_beast(http_response::text(503, "too many connections, retry later\n"), false);
    res.set(bhttp::field::retry_after, "1");
    stream->expires_after(refusal_time);
    auto r_wec = co_await bhttp::async_write(*stream, res, use_tuple);
    if (!std::get<0>(r_wec)) co_await lingering_close(*stream, refusal_time);
    stream->close();
    self->refusing.erase(id);
}

template <class Stream>
asio::awaitable<void> http_server::impl::session(std::shared_ptr<impl> self, std::shared_ptr<Stream> stream,
                                                 std::string remote, std::string peer, std::uint64_t id) {
    struct unregister {
        impl* owner;
        std::uint64_t id;
        ~unregister() { owner->release(id); }
    } guard{self.get(), id};

    // The first request's header deadline starts at accept and covers the
    // TLS handshake: a handshake is as cheap to drag out as a header.
    const auto header_deadline = steady::now() + self->options.header_timeout;
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
        beast::get_lowest_layer(*stream).expires_at(header_deadline);
        auto r_hs = co_await stream->async_handshake(ssl::stream_base::server, use_tuple);
        auto hs_ec = std::get<0>(std::move(r_hs));
        if (hs_ec) {
            if (hs_ec == beast::error::timeout)
                self->note_limit("http_connection_timed_out", "header_timeout", {{"peer", peer}});
            error_code ignored;
            beast::get_lowest_layer(*stream).socket().close(ignored);
            co_return;
        }
    }
    co_await serve(self, stream, std::move(remote), std::move(peer), id, header_deadline);
}

template <class Stream>
asio::awaitable<void> http_server::impl::serve(std::shared_ptr<impl> self, std::shared_ptr<Stream> stream,
                                               std::string remote, std::string peer, std::uint64_t id,
                                               steady::time_point header_deadline) {
    const auto& options = self->options;
    auto& lowest = beast::get_lowest_layer(*stream);
    beast::flat_buffer buffer;
    // One request object for the connection's life: each request overwrites
    // it, and its strings keep their capacity, so a keep-alive client's
    // requests cost no allocation for their method, target and headers.
    http_request request;
    std::string answer_head;   // the answer's status line and headers, reused likewise
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        // For send_answer's write at once: a full send buffer then says
        // would_block instead of blocking the thread. So a synchronous
        // operation on this socket gets would_block too; the session makes
        // none other (Asio's and Beast's asynchronous ones ignore the flag).
        error_code ignored;
        lowest.socket().non_blocking(true, ignored);
    }
    bool first = true;
    while (!self->stopped) {
        // Between requests the connection may idle for idle_timeout; once a
        // request has begun, its header must arrive within header_timeout
        // and then its body within read_timeout.
        if (!first) {
            self->set_waiting(id, true);
            if (buffer.size() == 0) {
                lowest.expires_after(options.idle_timeout);
                auto r_ec = co_await stream->async_read_some(buffer.prepare(8192), use_tuple);
                auto ec = std::get<0>(std::move(r_ec));
                auto n = std::get<1>(std::move(r_ec));
                if (ec) break;
                buffer.commit(n);
            }
            header_deadline = steady::now() + options.header_timeout;
        }
        first = false;

        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(options.header_limit, UINT32_MAX)));
        parser.body_limit(options.body_limit);
        // What the buffer holds is parsed in place, and the stream is read
        // only while the parser needs more: a request that came whole in one
        // read (a webhook does) costs no further trip through the event loop,
        // where Beast's async_read_header and async_read post their
        // completion even when there is nothing left to read
        // (bench/ingest-history.md, "Eleventh round"). The header must be in by
        // header_deadline, the body within read_timeout after the header.
        error_code ec;
        bool in_header = true;
        bool too_many_fields = false;
        steady::time_point body_deadline{};
        for (;;) {
            bool need_more = buffer.size() == 0;
            std::size_t used = 0;
            if (!need_more) {
                used = parser.put(buffer.data(), ec);
                buffer.consume(used);
                if (ec == bhttp::error::need_more) {
                    ec = {};
                    need_more = true;
                } else if (ec) {
                    break;
                }
            }
            if (in_header && parser.is_header_done()) {
                in_header = false;
                self->set_waiting(id, false);
                const auto& fields = parser.get();
                if (static_cast<std::size_t>(std::distance(fields.begin(), fields.end())) > options.max_header_count) {
                    too_many_fields = true;
                    break;
                }
                body_deadline = steady::now() + options.read_timeout;
            }
            if (parser.is_done()) break;
            if (!need_more && used > 0) continue;   // the rest of the buffer: the body, or more of it
            lowest.expires_at(in_header ? header_deadline : body_deadline);
            auto r_rec = co_await stream->async_read_some(buffer.prepare(beast::read_size(buffer, 65536)), use_tuple);
            ec = std::get<0>(std::move(r_rec));
            const auto received = std::get<1>(std::move(r_rec));
            if (ec == asio::error::eof) {
                // Closed between requests, or in the middle of one.
                if (!parser.got_some()) {
                    ec = bhttp::error::end_of_stream;
                } else {
                    ec = {};
                    parser.put_eof(ec);
                    if (!ec) ec = bhttp::error::partial_message;
                }
            }
            if (ec) break;
            buffer.commit(received);
        }
        if (too_many_fields) {
            self->note_limit("http_request_refused", "max_header_count",
                             {{"status", 431}, {"max", options.max_header_count}, {"peer", peer}});
            co_await refuse(*stream, 431, "too many header fields\n", options.read_timeout);
            break;
        }
        if (ec) {
            auto failure = classify(ec, in_header);
            if (!failure.event.empty()) {
                nlohmann::json fields{{"peer", peer}};
                if (failure.status != 0) fields["status"] = failure.status;
                if (failure.limit == "header_limit") fields["max"] = options.header_limit;
                if (failure.limit == "body_limit") fields["max"] = options.body_limit;
                self->note_limit(failure.event, failure.limit, std::move(fields));
            }
            if (failure.status != 0) co_await refuse(*stream, failure.status, failure.text, options.read_timeout);
            break;   // also: timeout, reset, closed by the client, by stop() or to make room
        }

        self->set_busy(id, true);
        auto& msg = parser.get();
        request.method.assign(msg.method_string());
        request.target.assign(msg.target());
        std::size_t header_count = 0;
        for (const auto& field : msg) {
            if (header_count == request.headers.size()) request.headers.emplace_back();
            auto& header = request.headers[header_count++];
            header.name.assign(field.name_string());
            header.value.assign(field.value());
        }
        request.headers.resize(header_count);
        request.body = std::move(msg.body());
        request.remote.assign(remote);   // set again: a handler takes the request by reference
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
        // The body is not kept for the next request: it may hold what a
        // client should not have sitting in memory while the connection idles
        // (a console login's password, say).
        std::string().swap(request.body);
        if (failed) {
            log::error("http_handler_failed",
                       {{"method", request.method}, {"path", request.path()}, {"error", failure}});
            response = http_response::text(500, "internal error\n");
        }
        if (response.drop) {
            // The handler asked for no answer at all: reset-free close, as a
            // server that dies mid-request would leave the client.
            self->set_busy(id, false);
            break;
        }
        // A request in flight when stop() came still gets its answer (an
        // acknowledged webhook must not look lost), then the connection closes.
        const bool keep = keep_alive && !self->stopped;
        const bool sent = co_await send_answer(*stream, answer_head, response, keep, request.method == "HEAD", options.read_timeout);
        self->set_busy(id, false);
        if (!sent || !keep) break;
        // Headers a handler chose (the console's session cookie, say) are not
        // kept in memory while the connection idles, as the body is not.
        if (!response.headers.empty()) std::string().swap(answer_head);
        if (buffer.size() > 0) {
            // More requests of this client are already here. An answer
            // written at once made no trip through the event loop, so one
            // is made before the next request: a client that pipelines
            // hundreds of requests does not hold the other connections up.
            const auto ex = co_await asio::this_coro::executor;
            co_await asio::post(ex, asio::use_awaitable);
        }
    }
    error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.close();
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
    // The accept loop's shedding takes connections off the backlog
    // synchronously; it must find the backlog empty, not wait on it.
    acceptor.non_blocking(true, ec);
    if (ec) throw std::system_error(std::error_code(ec), "cannot listen on " + where);
    impl_->reserve_fd = open_reserve();
}

http_server::~http_server() { stop(); }

std::uint16_t http_server::port() const { return impl_->port; }

std::size_t http_server::connections() const { return impl_->connections.size() + impl_->refusing.size(); }

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
    auto refusing = impl_->refusing;
    for (auto& [id, weak] : refusing) {
        if (auto stream = weak.lock()) stream->socket().close(ignored);
    }
    // Say now what the throttled log still holds, and let run() return.
    impl_->limit_log_timer.cancel();
    impl_->limit_log_armed = false;
    impl_->flush_limit_log();
}

}  // namespace orderflow::tikapi
