// See tracking.hpp.
#include "daemon/tracking.hpp"

#include "storage/database.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace orderflow::daemon {

using json = nlohmann::json;

namespace {

constexpr std::size_t max_field = 128;

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
        if (!printable(f.value)) return std::string(f.name) + " contains control characters";
    }
    auto digits = [](const std::string& v) { return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }); };
    if (!digits(s.order_id)) return "order_id must be digits, found \"" + s.order_id + "\"";
    if (!digits(s.package_id)) return "package_id must be digits, found \"" + s.package_id + "\"";
    return {};
}

std::variant<tracking_submission, std::string> parse_tracking_request(std::string_view body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return std::string("the body is not JSON");
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

csv_result parse_tracking_csv(std::string_view text) {
    csv_result out;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    std::size_t pos = 0;
    int line = 1;
    std::vector<std::string> fields;
    int lines = 0;
    std::string why;
    // The header: which column is which.
    int col_order = -1, col_package = -1, col_carrier = -1, col_number = -1;
    if (!read_record(text, pos, fields, lines, why)) {
        out.problems.push_back({1, "header: " + why});
        return out;
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
        return out;
    }
    line += lines;
    while (pos < text.size()) {
        const int at = line;
        if (!read_record(text, pos, fields, lines, why)) {
            out.problems.push_back({at, why});
            break;
        }
        line += lines;
        if (fields.size() == 1 && trim(fields[0]).empty()) continue;   // a blank line
        auto get = [&](int col) { return col >= 0 && static_cast<std::size_t>(col) < fields.size() ? trim(fields[col]) : std::string(); };
        tracking_submission s{get(col_order), get(col_package), get(col_carrier), get(col_number)};
        if (auto problem = check_submission(s); !problem.empty()) out.problems.push_back({at, problem});
        else out.rows.push_back({at, std::move(s)});
    }
    return out;
}

storage::new_event tracking_event(const tracking_submission& s, std::string_view via, std::int64_t now) {
    storage::new_event e;
    e.dedupe_key = "trk:" + storage::hash_key(s.order_id + "\x1f" + s.package_id + "\x1f" + carrier_key(s.carrier) + "\x1f" +
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
                    .dump();
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
