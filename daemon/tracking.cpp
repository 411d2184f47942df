// See tracking.hpp.
#include "daemon/tracking.hpp"

#include "common/json_limits.hpp"

#include "storage/database.hpp"
#include "storage/idempotency.hpp"

#include <nlohmann/json.hpp>

#include <iconv.h>

#include <algorithm>
#include <array>

namespace orderflow::daemon {

using json = nlohmann::json;

namespace {

constexpr std::size_t max_field = 128;
constexpr const char* not_utf8 = "not valid UTF-8 (save the file as UTF-8 or Shift_JIS)";

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. nlohmann::json refuses to dump anything else (type_error.316).
bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        // n continuation bytes; the first of them in [lo, hi] (RFC 3629's table).
        std::size_t n = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0) lo = 0xA0;        // overlong
            if (c == 0xED) hi = 0x9F;        // surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0) lo = 0x90;        // overlong
            if (c == 0xF4) hi = 0x8F;        // above U+10FFFF
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;   // cut short
        for (std::size_t k = 1; k <= n; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
        }
        i += n + 1;
    }
    return true;
}

// Whether some line is valid UTF-8 with non-ASCII text in it. Shift_JIS text
// practically never forms valid UTF-8, so such a line says the file is UTF-8
// and its invalid rows are damage, not another encoding.
bool has_utf8_text_line(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        if (std::any_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }) && valid_utf8(line))
            return true;
        start = end + 1;
    }
    return false;
}

// All of `text` from CP932 (Shift_JIS as Windows and Excel write it) to
// UTF-8; nullopt when some byte sequence is not CP932 or iconv lacks it.
std::optional<std::string> cp932_to_utf8(std::string_view text) {
    iconv_t cd = ::iconv_open("UTF-8", "CP932");
    if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
    std::string out(text.size() * 3 + 4, '\0');   // one CP932 byte is at most 3 UTF-8 bytes
    char* in = const_cast<char*>(text.data());    // iconv's signature; it does not write the input
    std::size_t in_left = text.size();
    char* to = out.data();
    std::size_t out_left = out.size();
    const bool ok = ::iconv(cd, &in, &in_left, &to, &out_left) != static_cast<std::size_t>(-1) && in_left == 0 &&
                    ::iconv(cd, nullptr, nullptr, &to, &out_left) != static_cast<std::size_t>(-1);
    ::iconv_close(cd);
    if (!ok) return std::nullopt;
    out.resize(out.size() - out_left);
    if (!valid_utf8(out)) return std::nullopt;
    return out;
}

// The longest line of a record's text (line ends not counted).
std::size_t longest_line(std::string_view record) {
    std::size_t longest = 0, start = 0;
    while (start <= record.size()) {
        std::size_t end = record.find('\n', start);
        if (end == std::string_view::npos) end = record.size();
        std::size_t length = end - start;
        if (length > 0 && record[end - 1] == '\r') --length;
        longest = std::max(longest, length);
        start = end + 1;
    }
    return longest;
}

std::string too_long(std::size_t length) {
    return "the line is " + std::to_string(length) + " bytes long; a CSV line may have at most " + std::to_string(max_csv_line) +
           " (is this the tracking CSV?)";
}

bool printable(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

// Case, spaces and separators do not distinguish carriers: "Yamato-Transport" == "yamato transport".
std::string carrier_key(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == ' ' || c == '-' || c == '_' || c == '.' || c == '\t') continue;
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    return out;
}

// One CSV record starting at `pos`; advances `pos` past its line end and
// counts the lines it spans. False with `why` on an unterminated quote.
bool read_record(std::string_view text, std::size_t& pos, std::vector<std::string>& fields, int& lines, std::string& why) {
    fields.assign(1, std::string());
    bool quoted = false;
    lines = 1;
    while (pos < text.size()) {
        char c = text[pos++];
        if (quoted) {
            if (c == '"') {
                if (pos < text.size() && text[pos] == '"') {
                    fields.back().push_back('"');
                    ++pos;
                } else {
                    quoted = false;
                }
            } else {
                if (c == '\n') ++lines;
                fields.back().push_back(c);
            }
            continue;
        }
        if (c == '"' && fields.back().empty()) quoted = true;
        else if (c == ',') fields.emplace_back();
        else if (c == '\n') return true;
        else if (c != '\r') fields.back().push_back(c);
    }
    if (quoted) {
        why = "a quoted field is not closed";
        return false;
    }
    return true;
}

}  // namespace

std::string check_submission(const tracking_submission& s) {
    struct field {
        const char* name;
        const std::string& value;
        bool required;
    };
    const std::array<field, 4> fields{{{"order_id", s.order_id, true},
                                       {"package_id", s.package_id, false},
                                       {"carrier", s.carrier, true},
                                       {"tracking_number", s.tracking_number, true}}};
    for (const auto& f : fields) {
        if (f.value.empty()) {
            if (f.required) return std::string(f.name) + " is missing";
            continue;
        }
        if (f.value.size() > max_field) return std::string(f.name) + " is longer than " + std::to_string(max_field) + " bytes";
        if (!valid_utf8(f.value)) return std::string(f.name) + " is not valid UTF-8";
        if (!printable(f.value)) return std::string(f.name) + " contains control characters";
    }
    auto digits = [](const std::string& v) { return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }); };
    if (!digits(s.order_id)) return "order_id must be digits, found \"" + s.order_id + "\"";
    if (!digits(s.package_id)) return "package_id must be digits, found \"" + s.package_id + "\"";
    return {};
}

std::variant<tracking_submission, std::string> parse_tracking_request(std::string_view body) {
    // Depth-limited before anything is built (docs/operations.md, "Limits on every door").
    auto parsed = parse_untrusted_json(body);
    if (auto* why = std::get_if<std::string>(&parsed)) return "the body is " + *why;
    json j = std::move(std::get<json>(parsed));
    if (!j.is_object()) return std::string("expected a JSON object {\"order_id\", \"carrier\", \"tracking_number\", \"package_id\"?}");
    tracking_submission s;
    static const char* const known[] = {"order_id", "package_id", "carrier", "tracking_number"};
    for (const auto& [key, value] : j.items()) {
        if (std::find(std::begin(known), std::end(known), key) == std::end(known))
            return "unknown field \"" + key + "\"; expected order_id, package_id, carrier, tracking_number";
        std::string text;
        if (value.is_string()) text = trim(value.get<std::string>());
        else if (value.is_number_unsigned()) text = std::to_string(value.get<std::uint64_t>());
        else if (!value.is_null()) return key + " must be a string";
        if (key == "order_id") s.order_id = text;
        else if (key == "package_id") s.package_id = text;
        else if (key == "carrier") s.carrier = text;
        else s.tracking_number = text;
    }
    if (auto why = check_submission(s); !why.empty()) return why;
    return s;
}

namespace {

// The CSV itself, once the encoding is known: `text` is UTF-8 except for
// rows that are damaged, each reported as a bad row.
void parse_csv_rows(std::string_view text, csv_result& out) {
    std::size_t pos = 0;
    int line = 1;
    std::vector<std::string> fields;
    int lines = 0;
    std::string why;
    // The header: which column is which.
    int col_order = -1, col_package = -1, col_carrier = -1, col_number = -1;
    if (!read_record(text, pos, fields, lines, why)) {
        out.problems.push_back({1, "header: " + why});
        return;
    }
    if (std::size_t n = longest_line(text.substr(0, pos)); n > max_csv_line) {
        out.problems.push_back({1, "header: " + too_long(n)});
        return;
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
        std::string name = carrier_key(trim(fields[i]));
        if (name == "orderid") col_order = static_cast<int>(i);
        else if (name == "packageid") col_package = static_cast<int>(i);
        else if (name == "carrier") col_carrier = static_cast<int>(i);
        else if (name == "trackingnumber") col_number = static_cast<int>(i);
    }
    std::string missing;
    if (col_order < 0) missing += " order_id";
    if (col_carrier < 0) missing += " carrier";
    if (col_number < 0) missing += " tracking_number";
    if (!missing.empty()) {
        out.problems.push_back({1, "the header row lacks the column(s)" + missing +
                                       "; expected a first row such as order_id,package_id,carrier,tracking_number"});
        return;
    }
    line += lines;
    while (pos < text.size()) {
        const int at = line;
        const std::size_t start = pos;
        if (!read_record(text, pos, fields, lines, why)) {
            out.problems.push_back({at, why});
            break;
        }
        line += lines;
        const std::string_view record = text.substr(start, pos - start);
        if (std::size_t n = longest_line(record); n > max_csv_line) {
            out.problems.push_back({at, too_long(n)});
            continue;
        }
        if (!valid_utf8(record)) {
            out.problems.push_back({at, not_utf8});
            continue;
        }
        if (fields.size() == 1 && trim(fields[0]).empty()) continue;   // a blank line
        auto get = [&](int col) { return col >= 0 && static_cast<std::size_t>(col) < fields.size() ? trim(fields[col]) : std::string(); };
        tracking_submission s{get(col_order), get(col_package), get(col_carrier), get(col_number)};
        if (auto problem = check_submission(s); !problem.empty()) out.problems.push_back({at, problem});
        else out.rows.push_back({at, std::move(s)});
    }
}

}  // namespace

csv_result parse_tracking_csv(std::string_view text) {
    csv_result out;
    if (text.substr(0, 2) == "\xFF\xFE" || text.substr(0, 2) == "\xFE\xFF") {
        out.encoding = "utf-16";
        out.problems.push_back({0, "the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" or as CSV (Shift_JIS)"});
        return out;
    }
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        // A BOM says UTF-8: rows that are not are damaged, not another encoding.
        out.encoding = "utf-8-bom";
        parse_csv_rows(text.substr(3), out);
        return out;
    }
    out.encoding = "utf-8";
    if (!valid_utf8(text) && !has_utf8_text_line(text)) {
        if (auto converted = cp932_to_utf8(text)) {
            out.encoding = "cp932";
            parse_csv_rows(*converted, out);
            return out;
        }
    }
    parse_csv_rows(text, out);
    return out;
}

storage::new_event tracking_event(const tracking_submission& s, std::string_view via, std::int64_t now,
                                  std::span<const unsigned char> key) {
    storage::new_event e;
    e.dedupe_key = "trk:" + storage::idempotency_hash(key, s.order_id + "\x1f" + s.package_id + "\x1f" + carrier_key(s.carrier) + "\x1f" +
                                               s.tracking_number);
    e.source = "tracking_feed";
    e.event = "tracking.received";
    e.order_id = s.order_id;
    e.payload = json{{"source", "tracking_feed"},
                     {"via", via},
                     {"data",
                      {{"order_id", s.order_id},
                       {"package_id", s.package_id},
                       {"carrier", s.carrier},
                       {"tracking_number", s.tracking_number}}}}
                    .dump(-1, ' ', false, json::error_handler_t::replace);
    e.received_at = now;
    return e;
}

std::optional<std::string> resolve_provider(std::string_view carrier,
                                            const std::vector<std::pair<std::string, std::string>>& aliases,
                                            const std::vector<std::pair<std::string, std::string>>& providers) {
    std::string wanted = carrier_key(carrier);
    for (const auto& [alias, target] : aliases) {
        if (carrier_key(alias) == wanted) {
            wanted = carrier_key(target);
            break;
        }
    }
    for (const auto& [id, name] : providers)
        if (id == wanted || carrier_key(name) == wanted) return id;
    return std::nullopt;
}

}  // namespace orderflow::daemon
