// Reading a rule or config file whole, with the failure as a diagnostic.
// Shared by read_jsonc_file and the ruleset loader (which also hashes the bytes).
#pragma once

#include "rules/diagnostic.hpp"

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

namespace orderflow::rules::detail {

// The file's bytes, or a diagnostic naming the file and the errno text
// (line and column 0). Reading stops past `max_bytes`: then the diagnostic
// says "file is larger than N bytes; " followed by `too_large`, which says
// what the limit is for and what to do. Callers check the size first; this
// bound is for a file that grows meanwhile or has no size (a pipe).
std::variant<std::string, diagnostic> read_file_bytes(
    const std::filesystem::path& path, std::uintmax_t max_bytes = std::numeric_limits<std::uintmax_t>::max(),
    std::string_view too_large = {});

}  // namespace orderflow::rules::detail
