// Durations as operators write them in config and rule files: "90s", "10m",
// "24h", "7d", or a sum such as "1h30m". Returns nullopt on anything else,
// and on a sum longer than max_duration_seconds (about three billion years:
// no setting means that; a sum of thousands of parts would otherwise leave
// int64). A single part may be up to 10^10 units, so that a setting's own
// bound can name what was written ("must be at most 1d, found 9999999999d").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace orderflow {

inline constexpr std::int64_t max_duration_seconds = 100'000'000'000'000'000;

inline std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::int64_t n = 0;
        std::size_t digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            n = n * 10 + (text[i] - '0');
            if (n > 10'000'000'000) return std::nullopt;
            ++i;
            ++digits;
        }
        if (digits == 0 || i >= text.size()) return std::nullopt;
        switch (text[i]) {
            case 's': total += n; break;
            case 'm': total += n * 60; break;
            case 'h': total += n * 3600; break;
            case 'd': total += n * 86400; break;
            default: return std::nullopt;
        }
        // Each part adds at most 10^10 days (8.64e14 s), so the sum is
        // checked before it can leave int64.
        if (total > max_duration_seconds) return std::nullopt;
        ++i;
    }
    return std::chrono::seconds(total);
}

}  // namespace orderflow
