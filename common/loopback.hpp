// Whether a host names this machine's loopback interface: "localhost",
// "::1" ("[::1]"), or 127.0.0.0/8 in dotted form (four numbers 0..255, so
// "127.example.com", a name that resolves anywhere, is not). Used where
// something may only be served, or sent, locally: the sandbox's listeners
// and webhook targets, and the daemon's admin.open_metrics.
#pragma once

#include <charconv>
#include <string_view>

namespace orderflow {

inline bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") return true;
    if (host.substr(0, 4) != "127.") return false;
    int parts = 0;
    std::size_t start = 0;
    for (;;) {
        const auto dot = host.find('.', start);
        const auto part = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        int v = -1;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || part.size() > 3 || ec != std::errc{} || end != part.data() + part.size() || v < 0 || v > 255) return false;
        ++parts;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return parts == 4;
}

}  // namespace orderflow
