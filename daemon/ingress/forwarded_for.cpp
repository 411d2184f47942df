// See forwarded_for.hpp.
#include "daemon/ingress/forwarded_for.hpp"

#include "common/log.hpp"
#include "tikapi/http.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace orderflow::daemon {

namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_v4_mapped(const ip_address& a) { return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), a.bytes.begin()); }

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// ":443": a port as a proxy may append it.
bool port_suffix(std::string_view s) {
    return s.size() >= 2 && s.size() <= 6 && s.front() == ':' &&
           std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One X-Forwarded-For entry: "v4", "v6", "v4:port", "[v6]" or "[v6]:port".
std::optional<ip_address> parse_entry(std::string_view s) {
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view rest = s.substr(close + 1);
        if (!rest.empty() && !port_suffix(rest)) return std::nullopt;
        return parse_ip_address(s.substr(1, close - 1));
    }
    const auto colon = s.find(':');
    if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
        if (!port_suffix(s.substr(colon))) return std::nullopt;
        return parse_ip_address(s.substr(0, colon));
    }
    return parse_ip_address(s);
}

bool trusted_address(const std::vector<ip_address>& trusted, const ip_address& a) {
    return std::find(trusted.begin(), trusted.end(), a) != trusted.end();
}

}  // namespace

bool ip_address::is_unspecified() const {
    const bool all_zero = std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
    return all_zero || (is_v4_mapped(*this) && bytes[12] == 0 && bytes[13] == 0 && bytes[14] == 0 && bytes[15] == 0);
}

std::optional<ip_address> parse_ip_address(std::string_view text) {
    char buffer[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    ip_address out;
    if (text.find(':') != std::string_view::npos) {
        if (::inet_pton(AF_INET6, buffer, out.bytes.data()) != 1) return std::nullopt;
        return out;
    }
    std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), out.bytes.begin());
    if (::inet_pton(AF_INET, buffer, out.bytes.data() + 12) != 1) return std::nullopt;
    return out;
}

std::string remote_text(const ip_address& a) {
    char buffer[INET6_ADDRSTRLEN];
    if (is_v4_mapped(a)) {
        ::inet_ntop(AF_INET, a.bytes.data() + 12, buffer, sizeof buffer);
        return buffer;
    }
    ::inet_ntop(AF_INET6, a.bytes.data(), buffer, sizeof buffer);
    return "[" + std::string(buffer) + "]";
}

std::string_view address_of(std::string_view remote) {
    if (!remote.empty() && remote.front() == '[') {
        const auto end = remote.find(']');
        return remote.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
    }
    const auto colon = remote.rfind(':');
    if (colon != std::string_view::npos && remote.find(':') == colon) return remote.substr(0, colon);
    return remote;
}

forwarded_client find_forwarded_client(const std::vector<ip_address>& trusted, const tikapi::http_request& req) {
    forwarded_client out;
    const auto peer = parse_ip_address(address_of(req.remote));
    if (!peer || !trusted_address(trusted, *peer)) return out;
    out.what = forwarded_client::verdict::no_header;
    // From the right: the last proxy's entry first. Every entry up to the
    // first one that is not a trusted proxy must be an address; what lies
    // left of it is never read.
    std::optional<ip_address> leftmost;
    for (auto field = req.headers.rbegin(); field != req.headers.rend(); ++field) {
        if (!same_name(field->name, "X-Forwarded-For")) continue;
        std::string_view rest = field->value;
        for (;;) {
            const auto comma = rest.rfind(',');
            const std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
            const auto address = parse_entry(trimmed(entry));
            if (!address) {
                out.what = forwarded_client::verdict::malformed;
                return out;
            }
            if (!trusted_address(trusted, *address)) {
                out.what = forwarded_client::verdict::client;
                out.client = *address;
                return out;
            }
            leftmost = address;
            if (comma == std::string_view::npos) break;
            rest = rest.substr(0, comma);
        }
    }
    // Every entry is a trusted proxy: the first of the chain is as far as it is known.
    if (leftmost) {
        out.what = forwarded_client::verdict::client;
        out.client = *leftmost;
    }
    return out;
}

void use_forwarded_client(const std::vector<ip_address>& trusted, tikapi::http_request& req, std::atomic<bool>& reported,
                          std::string_view setting) {
    const forwarded_client found = find_forwarded_client(trusted, req);
    if (found.what == forwarded_client::verdict::client) {
        req.remote.assign(remote_text(found.client));
        return;
    }
    if (found.what != forwarded_client::verdict::malformed || reported.exchange(true, std::memory_order_relaxed)) return;
    // What the proxy sent, bounded: it is the client's text up to the proxy's own entry.
    std::string sent;
    for (const auto& field : req.headers)
        if (same_name(field.name, "X-Forwarded-For")) sent += (sent.empty() ? "" : ", ") + field.value;
    if (sent.size() > 200) sent = sent.substr(0, 200) + "...";
    log::warn("forwarded_for_invalid",
              {{"setting", std::string(setting)}, {"proxy", std::string(address_of(req.remote))}, {"x_forwarded_for", sent},
               {"advice", "a trusted proxy sent an X-Forwarded-For whose entries are not IP addresses; its requests are taken to "
                          "come from the proxy itself until it sends the client's address (nginx: proxy_set_header X-Forwarded-For "
                          "$proxy_add_x_forwarded_for). Logged once until orderflowd restarts"}});
}

}  // namespace orderflow::daemon
