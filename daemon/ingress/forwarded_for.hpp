// The client behind a trusted reverse proxy. Behind a proxy on the same host
// (docs/operations.md recommends one for TLS) every connection comes from
// the proxy's address; with `webhook.trusted_proxies` / `admin.trusted_proxies`
// set, a request whose TCP peer is one of those addresses is taken to come
// from the client the proxy names in X-Forwarded-For: the rightmost address
// there that is not itself a trusted proxy (every proxy appends the address
// it received the request from, so what lies left of that is whatever the
// client chose to send and is never believed). That address replaces the
// request's `remote`, so the logs, the refusals counted towards security
// alerts and the console's per-address login limit name the client.
//
// Without the setting X-Forwarded-For is never read, and nothing here runs
// (the listeners test the list for emptiness first: no allocation, no
// header scan on the webhook's hot path). The per-peer connection cap is
// applied when a connection is accepted, before any header exists, so it
// still counts the proxy as one peer (docs/operations.md, "Limits on every
// door").
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::tikapi {
struct http_request;
}

namespace orderflow::daemon {

// An IP address, IPv4 held as IPv4-mapped IPv6, so that "127.0.0.1" and
// "::ffff:127.0.0.1" (a dual-stack listener's view of it) are one address.
struct ip_address {
    std::array<std::uint8_t, 16> bytes{};
    bool operator==(const ip_address&) const = default;
    bool is_unspecified() const;   // 0.0.0.0 or ::
};

// A bare address ("127.0.0.1", "::1", "2001:db8::7"); nullopt for anything
// else: host names, ports, brackets, prefixes, zone ids.
std::optional<ip_address> parse_ip_address(std::string_view text);

// "203.0.113.5", or "[2001:db8::1]" for IPv6: the HTTP server's form of a
// remote ("ip:port", "[v6]:port") without a port.
std::string remote_text(const ip_address& a);

// The address of a remote as the HTTP server writes it, or as remote_text
// does: "203.0.113.5:40112" and "203.0.113.5" -> "203.0.113.5";
// "[2001:db8::1]:443" and "[2001:db8::1]" -> "2001:db8::1".
std::string_view address_of(std::string_view remote);

// What X-Forwarded-For says about one request.
struct forwarded_client {
    enum class verdict {
        not_a_proxy,   // the peer is not a trusted proxy: the peer is the client
        no_header,     // a trusted proxy sent no X-Forwarded-For (its own request, e.g. a health check)
        client,        // `client` is the address the proxy names
        malformed,     // an entry that must be read is not an address: the peer stands
    };
    verdict what = verdict::not_a_proxy;
    ip_address client;
};

// Pure (the tests and the listeners share it). `trusted` must not be empty:
// the callers skip the whole thing then. Every X-Forwarded-For field counts,
// in order, as one comma-separated list (RFC 9110 §5.3). An entry is an
// address, optionally "v4:port", "[v6]" or "[v6]:port", as proxies write them.
forwarded_client find_forwarded_client(const std::vector<ip_address>& trusted, const tikapi::http_request& req);

// Applies it: when the peer is a trusted proxy that names a client,
// req.remote becomes remote_text(client). A malformed X-Forwarded-For leaves
// the peer's address and is logged once per `reported` flag
// (`forwarded_for_invalid`, naming `setting`). Safe from any thread.
void use_forwarded_client(const std::vector<ip_address>& trusted, tikapi::http_request& req, std::atomic<bool>& reported,
                          std::string_view setting);

}  // namespace orderflow::daemon
