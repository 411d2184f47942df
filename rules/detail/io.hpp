// Reading a rule or config file whole, with the failure as a diagnostic.
// Shared by read_jsonc_file and the ruleset loader (which also hashes the bytes).
#pragma once

#include "rules/diagnostic.hpp"

#include <filesystem>
#include <string>
#include <variant>

namespace orderflow::rules::detail {

// The file's bytes, or a diagnostic naming the file and the errno text
// (line and column 0).
std::variant<std::string, diagnostic> read_file_bytes(const std::filesystem::path& path);

}  // namespace orderflow::rules::detail
