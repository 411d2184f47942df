// Small pure helpers shared by the sandbox's handlers: number parsing that
// never throws, path splitting, UTF-8 length, constant-time comparison and
// the loopback check that keeps the sandbox on this machine.
#pragma once

#include "common/loopback.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::sandbox::detail {

// A whole decimal number ("1623812664", "-5"); nullopt for anything else.
inline std::optional<std::int64_t> parse_int(std::string_view s) {
    std::int64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// A JPY amount as TikTok writes it: digits, optionally ".00"-style decimals
// (dropped, yen has no minor unit). nullopt when not a non-negative amount.
inline std::optional<std::int64_t> parse_amount(std::string_view s) {
    auto dot = s.find('.');
    std::string_view whole = s.substr(0, dot);
    if (dot != std::string_view::npos) {
        std::string_view frac = s.substr(dot + 1);
        if (frac.empty() || frac.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    }
    if (whole.empty() || whole.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    return parse_int(whole);
}

// "/a/b/c" -> {"a","b","c"}; empty segments are kept so "/a//b" does not match "/a/b".
inline std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) return out;
    std::size_t start = 0;
    for (;;) {
        auto slash = path.find('/', start);
        out.emplace_back(path.substr(start, slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return out;
}

// Number of code points, counting each byte that does not continue a UTF-8
// sequence. TikTok's "max 2000 chars" counts characters, not bytes.
inline std::size_t utf8_length(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

// Compares without an early exit, so the time taken does not reveal where a
// forged signature first differs.
inline bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

// The loopback check is shared with the daemon (common/loopback.hpp).
using orderflow::is_loopback_host;

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace orderflow::sandbox::detail
