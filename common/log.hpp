// Structured logging: one JSON object per line on stderr, with a stable
// `event` name per kind of line (docs/operations.md lists them). journald
// keeps stderr, so this is the whole logging story for a systemd service.
//
// Fields are JSON values; orderflow::secret has no JSON conversion, so a
// secret cannot be passed here without an explicit reveal().
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace orderflow::log {

enum class level { debug, info, warn, error };

inline const char* level_name(level l) {
    switch (l) {
        case level::debug: return "debug";
        case level::info: return "info";
        case level::warn: return "warn";
        case level::error: return "error";
    }
    return "info";
}

// "debug", "info", "warn", "error" (config log_level); anything else is info.
inline level parse_level(std::string_view name) {
    return name == "debug" ? level::debug : name == "warn" ? level::warn : name == "error" ? level::error : level::info;
}

// The process-wide minimum level; lines below it are dropped. Atomic: the
// webhook listener's thread reads it while a reload may change it.
inline std::atomic<level>& threshold() {
    static std::atomic<level> l{level::info};
    return l;
}

inline void write(level l, std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    if (l < threshold()) return;
    using namespace std::chrono;
    auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    nlohmann::json line = fields.is_object() ? std::move(fields) : nlohmann::json::object();
    // The reserved keys always win, so `event` stays the stable name.
    line["ts"] = static_cast<double>(now) / 1000.0;
    line["level"] = level_name(l);
    line["event"] = event;
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
}

inline void debug(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(level::debug, e, std::move(f)); }
inline void info(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(level::info, e, std::move(f)); }
inline void warn(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(level::warn, e, std::move(f)); }
inline void error(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(level::error, e, std::move(f)); }

}  // namespace orderflow::log
