// JSON with comments ("JSONC"), as operators write rule and config files:
// standard JSON plus `// line` and `/* block */` comments. The parser keeps
// the source position of every value and every object key, so that later
// validation can point at the exact line and column of a mistake; nlohmann's
// own parser cannot report positions, hence this small recursive-descent one.
//
// Strict where it helps the operator: duplicate keys, trailing commas,
// control characters and invalid UTF-8 in strings are errors, each reported
// at the offending character with what was expected.
#pragma once

#include "rules/diagnostic.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

namespace orderflow::rules {

namespace detail {
class jsonc_parser;
}

class jsonc_document {
public:
    const nlohmann::json& root() const { return root_; }
    const std::string& file() const { return file_; }

    // 1-based line/column of the value at `ptr` (or of its key when `of_key`
    // and the value is an object member), falling back to the nearest ancestor
    // that has a position. Columns count UTF-8 characters, not bytes.
    std::pair<int, int> position(const nlohmann::json::json_pointer& ptr, bool of_key = false) const;

    // An error (or warning) diagnostic located at `ptr`.
    diagnostic error_at(const nlohmann::json::json_pointer& ptr, std::string message, bool of_key = false) const;
    diagnostic warning_at(const nlohmann::json::json_pointer& ptr, std::string message, bool of_key = false) const;

private:
    friend class detail::jsonc_parser;
    jsonc_document() = default;

    std::string file_;
    nlohmann::json root_;
    // Keyed by the JSON pointer's string form ("/rules/0/id").
    std::unordered_map<std::string, std::pair<int, int>> values_;
    std::unordered_map<std::string, std::pair<int, int>> keys_;
};

// The deepest nesting of [ and { the parser takes. It recurses once per
// level, so a deeper file is an error at the line:column of the first value
// past the limit rather than a stack overflow. Rule and config files nest
// fewer than 10 levels.
inline constexpr int max_jsonc_depth = 128;

// Parses `text`; on a syntax error returns one diagnostic at the exact
// line:column, e.g. "expected ',' or '}' after object member, found ']'".
std::variant<jsonc_document, diagnostic> parse_jsonc(std::string_view text, std::string file_name);

// Reads and parses a file. An unreadable file gives a diagnostic naming the
// file and the system's reason (errno text), with line and column 0.
std::variant<jsonc_document, diagnostic> read_jsonc_file(const std::filesystem::path& path);

}  // namespace orderflow::rules
