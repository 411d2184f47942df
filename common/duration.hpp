// Durations as operators write them in config and rule files: "90s", "10m",
// "24h", "7d", or a sum such as "1h30m". Returns nullopt on anything else.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace orderflow {

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
        ++i;
    }
    return std::chrono::seconds(total);
}

}  // namespace orderflow
