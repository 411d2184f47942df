// The warehouse's tracking feed (docs/architecture.md, "Ingress"): what it
// submits, through POST /v1/tracking on the admin listener or as CSV files in
// the drop folder, turned into tracking.received inbox events; and the mapping
// of the warehouse's carrier names to TikTok shipping provider ids. Pure
// functions: no I/O, so each rule is unit-tested on its own.
#pragma once

#include "storage/store.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace orderflow::daemon {

struct tracking_submission {
    std::string order_id;
    std::string package_id;        // optional: the order's only package when empty
    std::string carrier;           // the warehouse's name for it: "ヤマト運輸", "Yamato Transport", ...
    std::string tracking_number;
};

// An empty string when the submission is complete and plausible (every field
// valid UTF-8 without control characters); otherwise what is wrong, for the
// warehouse ("order_id is missing", ...), itself always valid UTF-8.
std::string check_submission(const tracking_submission& s);

// The JSON body of POST /v1/tracking:
// {"order_id": "...", "package_id": "..." (optional), "carrier": "...", "tracking_number": "..."}.
// Ids may be strings or integers. Returns the submission or what is wrong.
std::variant<tracking_submission, std::string> parse_tracking_request(std::string_view body);

struct csv_row {
    int line = 0;                  // 1-based line in the file
    tracking_submission submission;
};
struct csv_problem {
    int line = 0;                  // 0: the file as a whole
    std::string why;
};
struct csv_result {
    std::vector<csv_row> rows;
    std::vector<csv_problem> problems;
    // What the file was read as, for the log: "utf-8", "utf-8-bom", "cp932"
    // (Shift_JIS as Windows and Excel write it, converted) or "utf-16" (not
    // read: one problem says how to save it).
    std::string encoding;
};

// The longest CSV line taken; a longer one is a bad row (a tracking row is
// about 100 bytes, so a longer line is not one).
constexpr std::size_t max_csv_line = 4096;

// A CSV file with a header row naming the columns order_id, package_id
// (optional), carrier and tracking_number, in any order (RFC 4180 quoting,
// comma separated, CRLF or LF). The encoding is detected: UTF-8 with or
// without a BOM is taken as is; a file that is not valid UTF-8 and has no
// row that is (a row with non-ASCII UTF-8 text means the file is UTF-8) is
// converted from CP932 when all of it converts; otherwise each row that is
// not valid UTF-8 is a bad row. Blank lines are skipped. Each bad row is a
// problem with its line number (also a line longer than max_csv_line); the
// good rows are returned whatever the bad ones are. A missing header column
// is one problem at line 1 and no rows. Never throws on any input, and every
// row and problem text it returns is valid UTF-8.
csv_result parse_tracking_csv(std::string_view text);

// The inbox row: tracking.received for the order, source "tracking_feed".
// The same submission twice (a re-posted request, the same CSV row in two
// files) has the same dedupe key, so it is one event. Never throws for
// invalid UTF-8 (check_submission refuses it; should any reach here, it is
// replaced by U+FFFD in the payload). The key is "trk:" and a hash of the
// submission keyed with `key` (storage/idempotency.hpp; a plain hash
// without a key).
storage::new_event tracking_event(const tracking_submission& s, std::string_view via, std::int64_t now,
                                  std::span<const unsigned char> key = {});

// Finds the shipping provider id for a carrier name. `aliases` (config
// tracking.carriers) maps the warehouse's name to a provider name or id;
// names compare ignoring ASCII case, spaces and - _ . characters. nullopt
// when nothing matches.
std::optional<std::string> resolve_provider(std::string_view carrier,
                                            const std::vector<std::pair<std::string, std::string>>& aliases,
                                            const std::vector<std::pair<std::string, std::string>>& providers /* id, name */);

}  // namespace orderflow::daemon
