// Loading rule files into an immutable ruleset.
//
// Every *.json file in the rules directory is read in lexical order; each may
// hold "templates" and "rules" (docs/rules.md). Loading validates everything
// (fields, operators, regexes, durations, templates, references between files)
// and returns ALL diagnostics found. A ruleset is only produced when there are
// no errors, so a reload either swaps in a fully valid set or keeps the old one
// (docs/architecture.md, "Reload"). The daemon shares the result as
// shared_ptr<const ruleset>; evaluation never modifies it.
#pragma once

#include "rules/diagnostic.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::rules {

namespace detail {
struct ruleset_data;
}

struct context;
struct evaluation;
struct rule_trace;

class ruleset {
public:
    explicit ruleset(std::unique_ptr<const detail::ruleset_data> data);
    ~ruleset();
    ruleset(const ruleset&) = delete;
    ruleset& operator=(const ruleset&) = delete;

    // Number of rules loaded (enabled or not).
    std::size_t size() const;
    // FNV-1a 64 of the loaded files' names and bytes, as 16 hex digits;
    // equal for equal inputs, so a reload can tell whether anything changed.
    const std::string& hash() const;
    // Rule ids in evaluation order (file order, then position).
    std::vector<std::string> rule_ids() const;
    // Template names, sorted.
    std::vector<std::string> template_names() const;
    // True when at least one enabled rule listens to `event`.
    bool handles(std::string_view event) const;

private:
    friend evaluation evaluate(const ruleset& rules, const context& ctx);
    friend std::vector<rule_trace> explain(const ruleset& rules, const context& ctx);
    std::unique_ptr<const detail::ruleset_data> data_;
};

struct load_result {
    std::shared_ptr<const ruleset> rules;   // null when any error-level diagnostic exists
    std::vector<diagnostic> diagnostics;    // all errors and warnings, by file then position
    bool ok() const;
};

// Limits on what one load takes in (docs/rules.md, "Files"), far above what
// a person writes (a generous hand-written rule file is tens of KB) and low
// enough that a load stays quick and small. Each one exceeded is an ordinary
// error diagnostic, so check and reload say it the same way.
// A file's size is checked before it is read.
inline constexpr std::uintmax_t max_rule_file_bytes = 1024 * 1024;
// The files of one load together, checked the same way, file by file.
inline constexpr std::uintmax_t max_rule_directory_bytes = 4 * 1024 * 1024;
inline constexpr std::size_t max_rules = 1000;       // across all files
inline constexpr std::size_t max_templates = 1000;   // across all files
// The nesting of [ and { in a rule file is limited by the JSONC parser
// (rules/jsonc.hpp, max_jsonc_depth).

// Every *.json file directly in `dir`, in lexical order of file name (names
// starting with '.' are skipped, as editors use them for temporary files).
// A missing or unreadable directory is an error diagnostic. An entry that
// looks like a rule file but is not read (*.jsonc, *.JSON, a link to
// nothing) is a warning naming it. A directory that yields no rule at all
// is an error, unless a file holds "rules": [] to say that running without
// rules is meant: the daemon's start, a reload and `check` all refuse it.
load_result load_directory(const std::filesystem::path& dir);
// The files in the order given.
load_result load_files(const std::vector<std::filesystem::path>& files);
// One file's text (for tests and `orderflowctl` checks of a single snippet).
load_result load_text(std::string_view text, std::string file_name);

}  // namespace orderflow::rules
