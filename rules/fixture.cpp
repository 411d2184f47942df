// Fixture files for `orderflowctl rules test` and event files for
// `orderflowctl rules explain`: parsing with positioned diagnostics, running
// a case through rules::evaluate, and the expected-versus-planned diff.
#include "rules/fixture.hpp"

#include "rules/fields.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

namespace orderflow::rules {

namespace {

using json = nlohmann::json;
using pointer = json::json_pointer;

const std::vector<std::string_view> top_keys = {"cases", "description"};
const std::vector<std::string_view> case_keys = {"name", "description", "event", "event_id", "event_data", "order",
                                                 "previous_order", "message", "conversation", "shop", "now", "locale", "expect"};
const std::vector<std::string_view> expect_keys = {"rule", "action", "text", "error", "shadow", "fire_at"};

std::string with_hint(std::string message, const std::string& hint) {
    if (!hint.empty()) message += "; " + hint;
    return message;
}

std::string describe(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "a number";
    }
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// True for a path whose entries the catalogue names by pattern
// ("order.attributes" for "order.attributes.<NAME>").
bool is_entry_map(const std::string& path) {
    const std::string prefix = path + ".";
    return std::any_of(field_catalogue().begin(), field_catalogue().end(), [&](const field_info& f) {
        return is_entry_pattern(f.path) && f.path.substr(0, prefix.size()) == prefix;
    });
}

// Checks the values of one object (an order view, a message, event data)
// against the field catalogue: keys the rules cannot name are warnings (a
// typo in a fixture would otherwise silently test a missing field), and
// timestamp fields written as RFC 3339 become unix seconds.
class object_checker {
public:
    object_checker(const jsonc_document& doc, std::vector<diagnostic>& diags) : doc_(doc), diags_(diags) {}

    void check(const pointer& ptr, json& value, std::string_view root) {
        if (!value.is_object()) return;
        std::vector<std::string_view> names;
        std::string prefix = std::string(root) + ".";
        for (const auto& f : field_catalogue()) {
            if (f.path.substr(0, prefix.size()) == prefix && f.path.find('<') == std::string_view::npos) {
                names.push_back(f.path.substr(prefix.size()));
            }
        }
        for (auto it = value.begin(); it != value.end(); ++it) {
            const std::string& key = it.key();
            auto info = find_field(prefix + key);
            // A map whose entries rules name one by one (order.attributes as
            // {"engraving": "HANAKO"}, docs/rules.md "rules test"): the
            // whole object is how a fixture gives them.
            if (!info && it->is_object() && is_entry_map(prefix + key)) continue;
            if (!info) {
                diags_.push_back(doc_.warning_at(ptr / key,
                                                 with_hint(std::string(root) + " field \"" + key + "\" is not one rules can name",
                                                           did_you_mean(key, names)),
                                                 true));
                continue;
            }
            if (info->type == field_type::timestamp) convert_time(ptr / key, *it);
            if (info->type == field_type::object_list && it->is_array()) {
                std::string list = prefix + key;
                for (std::size_t i = 0; i < it->size(); ++i) check_element(ptr / key / i, (*it)[i], list);
            }
        }
    }

private:
    void check_element(const pointer& ptr, json& element, const std::string& list) {
        if (!element.is_object()) return;
        std::vector<std::string_view> names;
        for (const auto& f : element_fields(list)) names.push_back(f.path);
        for (auto it = element.begin(); it != element.end(); ++it) {
            if (!find_element_field(list, it.key())) {
                diags_.push_back(doc_.warning_at(ptr / it.key(),
                                                 with_hint(list + " element field \"" + it.key() + "\" is not one rules can name",
                                                           did_you_mean(it.key(), names)),
                                                 true));
            }
        }
    }

    void convert_time(const pointer& ptr, json& value) {
        if (!value.is_string() || all_digits(value.get_ref<const std::string&>())) return;
        if (auto t = parse_rfc3339(value.get_ref<const std::string&>())) {
            value = *t;
        } else {
            diags_.push_back(doc_.error_at(ptr, "expected unix seconds or an RFC 3339 time such as \"2026-11-23T10:00:00+09:00\", found \"" +
                                                    value.get<std::string>() + "\""));
        }
    }

    const jsonc_document& doc_;
    std::vector<diagnostic>& diags_;
};

class fixture_reader {
public:
    fixture_reader(const jsonc_document& doc, const fixture_defaults& defaults, std::vector<diagnostic>& diags)
        : doc_(doc), defaults_(defaults), diags_(diags), objects_(doc, diags) {}

    void error(const pointer& p, std::string message, bool of_key = false) {
        diags_.push_back(doc_.error_at(p, std::move(message), of_key));
    }

    // Reads the event part of a case (everything but name and expect) into ctx.
    // False when it had an error.
    bool read_event(const pointer& ptr, const json& node, const std::vector<std::string_view>& allowed, context& ctx) {
        std::size_t errors = error_count();
        for (const auto& [key, value] : node.items()) {
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                error(ptr / key, with_hint("unknown key \"" + key + "\"; allowed keys: " + join(allowed), did_you_mean(key, allowed)), true);
            }
        }
        auto event = node.find("event");
        if (event == node.end()) {
            error(ptr, "no \"event\"; expected an event name such as \"order.status_changed\"");
        } else if (!event->is_string()) {
            error(ptr / "event", "expected \"event\" to be an event name, found " + describe(*event));
        } else if (!is_known_event(event->get_ref<const std::string&>())) {
            const auto& name = event->get_ref<const std::string&>();
            std::string hint = did_you_mean(name, known_events());
            if (hint.empty()) hint = "known events: " + join(known_events()) + ", timer.<name>";
            error(ptr / "event", with_hint("unknown event \"" + name + "\"", hint));
        } else {
            ctx.event = event->get<std::string>();
        }
        if (auto id = node.find("event_id"); id != node.end()) {
            if (id->is_string() && !id->get_ref<const std::string&>().empty()) {
                ctx.event_id = id->get<std::string>();
            } else {
                error(ptr / "event_id", "expected \"event_id\" to be a non-empty string, found " + describe(*id));
            }
        }
        read_object(ptr, node, "event_data", "event", ctx.event_data);
        read_object(ptr, node, "order", "order", ctx.order);
        read_object(ptr, node, "previous_order", "order", ctx.previous_order);
        read_object(ptr, node, "message", "message", ctx.message);
        read_object(ptr, node, "conversation", "conversation", ctx.conversation);
        read_object(ptr, node, "shop", "shop", ctx.shop);
        ctx.now = defaults_.now;
        if (auto now = node.find("now"); now != node.end()) {
            std::optional<std::int64_t> t;
            if (now->is_number_integer()) t = now->get<std::int64_t>();
            if (now->is_string()) t = parse_rfc3339(now->get_ref<const std::string&>());
            if (t) {
                ctx.now = *t;
            } else {
                error(ptr / "now", "expected \"now\" as an RFC 3339 time such as \"2026-11-23T10:00:00+09:00\" or unix seconds, found " +
                                       (now->is_string() ? "\"" + now->get<std::string>() + "\"" : describe(*now)));
            }
        }
        ctx.default_locale = defaults_.locale;
        ctx.utc_offset = defaults_.utc_offset;
        if (auto locale = node.find("locale"); locale != node.end()) {
            if (locale->is_string() && !locale->get_ref<const std::string&>().empty()) {
                ctx.default_locale = locale->get<std::string>();
            } else {
                error(ptr / "locale", "expected \"locale\" to be a locale such as \"ja\" or \"en\", found " + describe(*locale));
            }
        }
        return error_count() == errors;
    }

    void read_case(const pointer& ptr, const json& node, std::vector<fixture_case>& out, std::set<std::string>& names) {
        if (!node.is_object()) {
            error(ptr, "expected a case object with \"name\", \"event\" and \"expect\", found " + describe(node));
            return;
        }
        std::size_t errors = error_count();
        fixture_case c;
        c.file = doc_.file();
        std::tie(c.line, c.column) = doc_.position(ptr);
        auto name = node.find("name");
        if (name == node.end()) {
            error(ptr, "case has no \"name\"; every case needs a name to report PASS or FAIL under");
        } else if (!name->is_string() || name->get_ref<const std::string&>().empty()) {
            error(ptr / "name", "expected \"name\" to be a non-empty string, found " + describe(*name));
        } else if (!names.insert(name->get<std::string>()).second) {
            error(ptr / "name", "duplicate case name \"" + name->get<std::string>() + "\"");
        } else {
            c.name = name->get<std::string>();
        }
        read_event(ptr, node, case_keys, c.ctx);
        if (c.ctx.event_id.empty()) c.ctx.event_id = "fixture:" + c.name;
        auto expect = node.find("expect");
        if (expect == node.end()) {
            error(ptr, "case has no \"expect\"; list the actions the rules must plan, or [] for none");
        } else if (!expect->is_array()) {
            error(ptr / "expect", "expected \"expect\" to be an array of actions such as [{\"rule\": \"...\", \"action\": \"send_message\"}], found " +
                                      describe(*expect));
        } else {
            for (std::size_t i = 0; i < expect->size(); ++i) read_expectation(ptr / "expect" / i, (*expect)[i], c.expect);
        }
        if (error_count() == errors) out.push_back(std::move(c));
    }

    std::size_t error_count() const {
        return static_cast<std::size_t>(std::count_if(diags_.begin(), diags_.end(), [](const diagnostic& d) { return !d.warning; }));
    }

    static std::string join(const std::vector<std::string_view>& words) {
        std::string out;
        for (std::size_t i = 0; i < words.size(); ++i) {
            if (i > 0) out += ", ";
            out += words[i];
        }
        return out;
    }

private:
    void read_object(const pointer& ptr, const json& node, const char* key, std::string_view root, json& out) {
        auto it = node.find(key);
        if (it == node.end() || it->is_null()) return;
        if (!it->is_object()) {
            error(ptr / key, "expected \"" + std::string(key) + "\" to be an object, found " + describe(*it));
            return;
        }
        out = *it;
        objects_.check(ptr / key, out, root);
    }

    void read_expectation(const pointer& ptr, const json& node, std::vector<expected_action>& out) {
        if (!node.is_object()) {
            error(ptr, "expected an action object such as {\"rule\": \"thanks-awaiting-shipment\", \"action\": \"send_message\"}, found " +
                           describe(node));
            return;
        }
        std::size_t errors = error_count();
        expected_action e;
        std::tie(e.line, e.column) = doc_.position(ptr);
        for (const auto& [key, value] : node.items()) {
            if (std::find(expect_keys.begin(), expect_keys.end(), key) == expect_keys.end()) {
                error(ptr / key, with_hint("unknown key \"" + key + "\" in an expected action; allowed keys: " + join(expect_keys),
                                           did_you_mean(key, expect_keys)),
                      true);
            }
        }
        auto required = [&](const char* key, std::string& into) {
            auto it = node.find(key);
            if (it == node.end()) {
                error(ptr, "expected action has no \"" + std::string(key) + "\"");
            } else if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
                error(ptr / key, "expected \"" + std::string(key) + "\" to be a non-empty string, found " + describe(*it));
            } else {
                into = it->get<std::string>();
            }
        };
        required("rule", e.rule);
        required("action", e.action);
        for (auto [key, into] : {std::pair{"text", &e.text}, std::pair{"error", &e.error}}) {
            auto it = node.find(key);
            if (it == node.end()) continue;
            if (it->is_string()) {
                *into = it->get<std::string>();
            } else {
                error(ptr / key, "expected \"" + std::string(key) + "\" to be a string, found " + describe(*it));
            }
        }
        if (e.text && e.error) error(ptr / "error", "an expected action has either \"text\" (it renders) or \"error\" (it cannot), not both", true);
        if (auto it = node.find("shadow"); it != node.end()) {
            if (it->is_boolean()) {
                e.shadow = it->get<bool>();
            } else {
                error(ptr / "shadow", "expected \"shadow\" to be true or false, found " + describe(*it));
            }
        }
        if (auto it = node.find("fire_at"); it != node.end()) {
            std::optional<std::int64_t> t;
            if (it->is_number_integer()) t = it->get<std::int64_t>();
            else if (it->is_string()) t = parse_rfc3339(it->get_ref<const std::string&>());
            if (t) e.fire_at = t;
            else error(ptr / "fire_at", "expected \"fire_at\" as an RFC 3339 time such as \"2026-11-23T10:00:00+09:00\" or unix seconds, found " + describe(*it));
        }
        if (error_count() == errors) out.push_back(std::move(e));
    }

    const jsonc_document& doc_;
    const fixture_defaults& defaults_;
    std::vector<diagnostic>& diags_;
    object_checker objects_;
};

void sort_diagnostics(std::vector<diagnostic>& diags) {
    std::stable_sort(diags.begin(), diags.end(), [](const diagnostic& a, const diagnostic& b) {
        if (a.line != b.line) return a.line < b.line;
        return a.column < b.column;
    });
}

bool has_error(const std::vector<diagnostic>& diags) {
    return std::any_of(diags.begin(), diags.end(), [](const diagnostic& d) { return !d.warning; });
}

// ---- comparing -------------------------------------------------------------

std::string quoted(const std::string& text) { return json(text).dump(-1, ' ', false, json::error_handler_t::replace); }

std::string describe_expected(const expected_action& e) {
    std::string out = e.rule + " " + e.action;
    if (e.text) out += " " + quoted(*e.text);
    if (e.error) out += " error " + quoted(*e.error);
    if (e.shadow) out += *e.shadow ? " (shadow)" : " (live)";
    if (e.fire_at) out += " at " + format_utc(*e.fire_at);
    return out;
}

const std::string* text_of(const planned_action& a) {
    auto it = a.params.find("text");
    return it != a.params.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

// 1-based character (not byte) position of the first difference.
std::size_t first_difference(const std::string& a, const std::string& b) {
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    std::size_t chars = 1;
    for (std::size_t k = 0; k < i; ++k) {
        if ((static_cast<unsigned char>(a[k]) & 0xC0) != 0x80) ++chars;
    }
    // The difference may start inside a multi-byte character: count it as that character.
    if (i < a.size() && i > 0 && (static_cast<unsigned char>(a[i]) & 0xC0) == 0x80) --chars;
    return chars;
}

// Why a planned action does not meet the expectation for it (same rule and
// action); empty when it does.
std::string mismatch(const expected_action& e, const planned_action& a) {
    if (e.error) {
        if (a.error.empty()) return "expected the error " + quoted(*e.error) + ", but the action was prepared";
        if (a.error != *e.error) return "the error differs";
    } else if (!a.error.empty()) {
        return "the action could not be prepared: " + a.error;
    }
    if (e.text) {
        const std::string* text = text_of(a);
        std::string actual = text ? *text : std::string();
        if (actual != *e.text) return "the text differs from character " + std::to_string(first_difference(*e.text, actual));
    }
    if (e.fire_at) {
        const auto at = a.params.find("fire_at");
        if (at == a.params.end() || !at->is_number_integer()) return "expected a timer at " + format_utc(*e.fire_at) + ", but the action sets none";
        if (at->get<std::int64_t>() != *e.fire_at)
            return "the timer fires at " + format_utc(at->get<std::int64_t>()) + ", not at " + format_utc(*e.fire_at);
    }
    if (e.shadow && *e.shadow != a.shadow) return *e.shadow ? "expected a shadow action, planned a live one" : "expected a live action, planned a shadow one";
    return {};
}

}  // namespace

bool fixture_parse_result::ok() const { return !has_error(diagnostics); }

fixture_parse_result parse_fixture(const jsonc_document& doc, const fixture_defaults& defaults) {
    fixture_parse_result result;
    fixture_reader reader(doc, defaults, result.diagnostics);
    const json& root = doc.root();
    pointer top;
    if (!root.is_object()) {
        reader.error(top, "expected a fixture object {\"cases\": [...]}, found " + describe(root));
        return result;
    }
    for (const auto& [key, value] : root.items()) {
        if (std::find(top_keys.begin(), top_keys.end(), key) == top_keys.end()) {
            reader.error(top / key,
                         with_hint("unknown top-level key \"" + key + "\"; allowed keys: " + fixture_reader::join(top_keys),
                                   did_you_mean(key, top_keys)),
                         true);
        }
    }
    auto cases = root.find("cases");
    if (cases == root.end()) {
        reader.error(top, "fixture has no \"cases\"; expected {\"cases\": [{\"name\": ..., \"event\": ..., \"expect\": [...]}]}");
    } else if (!cases->is_array() || cases->empty()) {
        reader.error(top / "cases", "expected \"cases\" to be a non-empty array of cases, found " + describe(*cases));
    } else {
        std::set<std::string> names;
        for (std::size_t i = 0; i < cases->size(); ++i) reader.read_case(top / "cases" / i, (*cases)[i], result.cases, names);
    }
    sort_diagnostics(result.diagnostics);
    return result;
}

fixture_parse_result read_fixture_file(const std::filesystem::path& path, const fixture_defaults& defaults) {
    auto parsed = read_jsonc_file(path);
    if (auto* d = std::get_if<diagnostic>(&parsed)) {
        fixture_parse_result r;
        r.diagnostics.push_back(std::move(*d));
        return r;
    }
    return parse_fixture(std::get<jsonc_document>(parsed), defaults);
}

event_parse_result parse_event(const jsonc_document& doc, const fixture_defaults& defaults) {
    event_parse_result result;
    fixture_reader reader(doc, defaults, result.diagnostics);
    const json& root = doc.root();
    if (!root.is_object()) {
        reader.error(pointer(), "expected an event object such as {\"event\": \"order.status_changed\", \"order\": {...}}, found " + describe(root));
        return result;
    }
    context ctx;
    bool ok = reader.read_event(pointer(), root, case_keys, ctx);
    if (ctx.event_id.empty()) ctx.event_id = "explain";
    sort_diagnostics(result.diagnostics);
    if (ok && !has_error(result.diagnostics)) result.ctx = std::move(ctx);
    return result;
}

event_parse_result read_event_file(const std::filesystem::path& path, const fixture_defaults& defaults) {
    auto parsed = read_jsonc_file(path);
    if (auto* d = std::get_if<diagnostic>(&parsed)) {
        event_parse_result r;
        r.diagnostics.push_back(std::move(*d));
        return r;
    }
    return parse_event(std::get<jsonc_document>(parsed), defaults);
}

object_parse_result read_object_file(const std::filesystem::path& path, std::string_view root) {
    object_parse_result result;
    auto parsed = read_jsonc_file(path);
    if (auto* d = std::get_if<diagnostic>(&parsed)) {
        result.diagnostics.push_back(std::move(*d));
        return result;
    }
    const auto& doc = std::get<jsonc_document>(parsed);
    if (!doc.root().is_object()) {
        result.diagnostics.push_back(doc.error_at(pointer(), "expected a JSON object with " + std::string(root) + " fields, found " + describe(doc.root())));
        return result;
    }
    json value = doc.root();
    object_checker(doc, result.diagnostics).check(pointer(), value, root);
    sort_diagnostics(result.diagnostics);
    if (!has_error(result.diagnostics)) result.value = std::move(value);
    return result;
}

case_result run_case(const ruleset& rules, const fixture_case& c) {
    case_result result;
    result.actual = evaluate(rules, c.ctx);
    const auto& expected = c.expect;
    const auto& actual = result.actual.actions;

    // Align expected and planned actions on (rule, action) with a longest
    // common subsequence, so one missing action does not shift every line.
    auto same = [&](std::size_t i, std::size_t j) { return expected[i].rule == actual[j].rule_id && expected[i].action == actual[j].kind; };
    const std::size_t n = expected.size(), m = actual.size();
    std::vector<std::vector<std::size_t>> lcs(n + 1, std::vector<std::size_t>(m + 1, 0));
    for (std::size_t i = n; i-- > 0;) {
        for (std::size_t j = m; j-- > 0;) {
            lcs[i][j] = same(i, j) ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
        }
    }
    std::string lines;
    bool passed = true;
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && same(i, j)) {
            std::string why = mismatch(expected[i], actual[j]);
            if (why.empty()) {
                lines += "  = " + describe_action(actual[j]) + "\n";
            } else {
                passed = false;
                lines += "  - " + describe_expected(expected[i]) + "\n";
                lines += "  + " + describe_action(actual[j]) + "\n";
                lines += "    ^ " + why + "\n";
            }
            ++i;
            ++j;
        } else if (j < m && (i == n || lcs[i][j + 1] > lcs[i + 1][j])) {
            passed = false;
            lines += "  + " + describe_action(actual[j]) + "\n";
            lines += "    ^ planned but not expected\n";
            ++j;
        } else {
            passed = false;
            lines += "  - " + describe_expected(expected[i]) + "\n";
            lines += "    ^ expected but not planned\n";
            ++i;
        }
    }
    result.passed = passed;
    if (passed) return result;

    auto count = [](std::size_t k) { return std::to_string(k) + (k == 1 ? " action" : " actions"); };
    std::string diff = "  expected " + count(n) + ", planned " + count(m) + " (- expected, + planned, = as expected):\n" + lines;
    if (n == 0 && m == 0) diff += "  (nothing)\n";
    // An expectation naming a rule that does not exist is the likeliest typo.
    auto ids = rules.rule_ids();
    for (const auto& e : expected) {
        if (std::find(ids.begin(), ids.end(), e.rule) == ids.end()) {
            std::vector<std::string_view> candidates(ids.begin(), ids.end());
            diff += "  note: no rule \"" + e.rule + "\" is loaded" +
                    (did_you_mean(e.rule, candidates).empty() ? "" : "; " + did_you_mean(e.rule, candidates)) + "\n";
        }
    }
    result.diff = std::move(diff);
    return result;
}

std::string describe_action(const planned_action& a) {
    std::string out = a.rule_id + " " + a.kind;
    if (!a.error.empty()) {
        out += " error " + quoted(a.error);
    } else if (const std::string* text = text_of(a)) {
        out += " " + quoted(*text);
    }
    if (a.shadow) out += " (shadow)";
    return out;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
    auto digits = [&](std::size_t at, std::size_t count, int& out) {
        if (at + count > s.size()) return false;
        out = 0;
        for (std::size_t k = at; k < at + count; ++k) {
            if (s[k] < '0' || s[k] > '9') return false;
            out = out * 10 + (s[k] - '0');
        }
        return true;
    };
    int year, month, day, hour, minute, second;
    if (s.size() < 20 || !digits(0, 4, year) || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' || !digits(8, 2, day) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, hour) || s[13] != ':' || !digits(14, 2, minute) ||
        s[16] != ':' || !digits(17, 2, second)) {
        return std::nullopt;
    }
    static constexpr int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1] || (month == 2 && day == 29 && !leap) || hour > 23 ||
        minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::size_t i = 19;
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == start) return std::nullopt;
    }
    std::int64_t offset = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (!digits(i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(i + 4, 2, om) || oh > 23 || om > 59) return std::nullopt;
        offset = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    return days * 86400 + hour * 3600 + minute * 60 + std::min(second, 59) - offset;
}

std::string format_utc(std::int64_t t) {
    std::int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    std::int64_t secs = t - days * 86400;
    // civil_from_days (H. Hinnant).
    std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
    char out[80];
    std::snprintf(out, sizeof out, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m, d, static_cast<int>(secs / 3600),
                  static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
    return out;
}

}  // namespace orderflow::rules
