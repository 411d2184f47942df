// Compiling a rule's "if" condition: "all", "any" and "not" into a tree,
// field names checked against the catalogue (rules/fields.hpp), each
// operator's operand checked against the field's type and pre-processed
// (regexes compiled, durations parsed, `contains` operands folded), and a
// warning for a combination of tests that can never all hold. Part of the
// loader (rules/detail/loader.hpp).
#include "rules/detail/loader.hpp"

#include "rules/detail/text.hpp"
#include "rules/fields.hpp"

#include "common/duration.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <optional>

namespace orderflow::rules::detail {

namespace {

struct op_spec {
    std::string_view name;
    op_kind kind;
};

const std::vector<op_spec> operators = {
    {"eq", op_kind::eq},           {"ne", op_kind::ne},
    {"in", op_kind::in},           {"not_in", op_kind::not_in},
    {"exists", op_kind::exists},   {"empty", op_kind::empty},
    {"contains", op_kind::contains}, {"matches", op_kind::matches},
    {"gt", op_kind::gt},           {"gte", op_kind::gte},
    {"lt", op_kind::lt},           {"lte", op_kind::lte},
    {"older_than", op_kind::older_than}, {"within", op_kind::within},
    {"changed_to", op_kind::changed_to}, {"changed_from", op_kind::changed_from},
    {"any", op_kind::any},         {"all", op_kind::all},
};

bool is_scalar(const json& v) { return v.is_string() || v.is_number() || v.is_boolean() || v.is_null(); }

std::vector<std::string_view> catalogue_paths() {
    std::vector<std::string_view> out;
    for (const auto& f : field_catalogue()) {
        if (!is_entry_pattern(f.path)) out.push_back(f.path);
    }
    return out;
}

std::vector<std::string_view> element_names(std::string_view list) {
    std::vector<std::string_view> out;
    for (const auto& f : element_fields(list)) out.push_back(f.path);
    return out;
}

}  // namespace

// ---- conditions ---------------------------------------------------------

namespace {

// Whether some value can equal both operands as evaluation compares
// (rules/engine.cpp: null means missing, loose_equal otherwise): 4980 and
// "4980" can, and so can "4980" and "4980.0" (the number 4980 equals both).
bool can_equal_both(const json& a, const json& b) {
    if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
    if (a == b) return true;
    const auto x = (a.is_number() || a.is_string()) ? as_number(a) : std::nullopt;
    const auto y = (b.is_number() || b.is_string()) ? as_number(b) : std::nullopt;
    return x && y && *x == *y;
}

bool can_equal_one_of(const json& value, const std::vector<json>& list) {
    return std::any_of(list.begin(), list.end(), [&](const json& v) { return can_equal_both(value, v); });
}

// Whether the operator can hold on a missing field (docs/rules.md,
// "Conditions"): those tests do not need a value, so they do not contradict
// exists: false.
bool holds_when_missing(const operation& op) {
    switch (op.kind) {
        case op_kind::eq: return op.operand.is_null();
        case op_kind::ne: return !op.operand.is_null();
        case op_kind::in: return op.operand.is_array() && std::any_of(op.operand.begin(), op.operand.end(), [](const json& v) { return v.is_null(); });
        case op_kind::not_in: return op.operand.is_array() && std::none_of(op.operand.begin(), op.operand.end(), [](const json& v) { return v.is_null(); });
        case op_kind::exists: return !op.flag;
        case op_kind::empty: return op.flag;
        case op_kind::changed_to: return op.operand.is_null();       // missing now, present before
        case op_kind::changed_from: return !op.operand.is_null();    // the value before, missing now
        default: return false;
    }
}

}  // namespace

// Conditions that can never all hold ("can never fire"): within one
// "all" (or one field test with several operators), the same field must
// equal two different values, equal a value it must not, lie outside its
// "in" list, be missing and tested with an operator that needs a value, or
// fall in an empty numeric range. Values compare as evaluation compares
// them (4980 equals "4980"), so a warning never names a rule that can fire.
void loader::contradiction_warnings(std::size_t doc, const detail::condition& c) {
    if (c.k == detail::condition::kind::any || c.k == detail::condition::kind::negate) {
        for (const auto& child : c.children) contradiction_warnings(doc, child);
        return;
    }
    std::vector<const detail::condition*> tests;
    if (c.k == detail::condition::kind::test) tests.push_back(&c);
    for (const auto& child : c.children) {
        if (child.k == detail::condition::kind::test) tests.push_back(&child);
        else contradiction_warnings(doc, child);
    }
    struct bounds {
        std::optional<json> eq;
        std::vector<json> excluded;
        std::optional<std::vector<json>> in;
        bool missing = false, tested = false;
        double low = -1e300, high = 1e300;
        bool low_open = false, high_open = false;
    };
    std::map<std::string, bounds> by_field;
    auto warn = [&](const detail::operation& op, const std::string& field, const std::string& why) {
        diagnostic d;
        d.file = docs_[doc].file();
        d.line = op.at.line;
        d.column = op.at.column;
        d.warning = true;
        d.message = "this rule can never fire: " + field + " " + why;
        diags_.push_back(std::move(d));
    };
    for (const auto* t : tests) {
        auto& b = by_field[t->field.path];
        for (const auto& op : t->ops) {
            switch (op.kind) {
                // An eq and a ne contradict only for the very same value:
                // eq 4980 with ne "4980.0" still holds for the text "4980".
                case op_kind::eq:
                    if (b.eq && !can_equal_both(*b.eq, op.operand)) warn(op, t->field.path, "must equal both " + b.eq->dump() + " and " + op.operand.dump());
                    else if (std::find(b.excluded.begin(), b.excluded.end(), op.operand) != b.excluded.end()) warn(op, t->field.path, "must equal and not equal " + op.operand.dump());
                    else if (b.in && !can_equal_one_of(op.operand, *b.in)) warn(op, t->field.path, "must equal " + op.operand.dump() + ", which its \"in\" list does not hold");
                    b.eq = op.operand;
                    break;
                case op_kind::ne:
                    if (b.eq && *b.eq == op.operand) warn(op, t->field.path, "must equal and not equal " + op.operand.dump());
                    b.excluded.push_back(op.operand);
                    break;
                case op_kind::in:
                    if (op.operand.is_array()) {
                        std::vector<json> list(op.operand.begin(), op.operand.end());
                        if (b.eq && !can_equal_one_of(*b.eq, list))
                            warn(op, t->field.path, "must equal " + b.eq->dump() + ", which this \"in\" list does not hold");
                        if (b.in) {
                            std::vector<json> both;
                            for (const auto& v : list)
                                if (can_equal_one_of(v, *b.in)) both.push_back(v);
                            if (both.empty()) warn(op, t->field.path, "must be in two lists that share no value");
                            list = both;
                        }
                        b.in = list;
                    }
                    break;
                case op_kind::exists:
                    if (!op.flag) b.missing = true;
                    if (b.missing && b.tested) warn(op, t->field.path, "must be missing and present at once");
                    break;
                case op_kind::gt: case op_kind::gte:
                    if (op.number > b.low || (op.number == b.low && op.kind == op_kind::gt)) { b.low = op.number; b.low_open = op.kind == op_kind::gt; }
                    if (b.low > b.high || (b.low == b.high && (b.low_open || b.high_open))) warn(op, t->field.path, "has no number in its range");
                    break;
                case op_kind::lt: case op_kind::lte:
                    if (op.number < b.high || (op.number == b.high && op.kind == op_kind::lt)) { b.high = op.number; b.high_open = op.kind == op_kind::lt; }
                    if (b.low > b.high || (b.low == b.high && (b.low_open || b.high_open))) warn(op, t->field.path, "has no number in its range");
                    break;
                default:
                    break;
            }
            // Whether this test needs a value: ne, not_in, eq: null,
            // changed_from and the like hold on a missing field too.
            if (!holds_when_missing(op)) {
                const bool was_tested = b.tested;
                b.tested = true;
                if (b.missing && (op.kind != op_kind::exists || !was_tested)) warn(op, t->field.path, "must be missing and present at once");
            }
        }
    }
}

// Compiles a condition object. `element_list` names the list whose
// elements the condition tests ("order.line_items"), empty at top level.
bool loader::compile_condition(std::size_t doc, const pointer& ptr, const json& node, std::string_view element_list,
                       detail::condition& out) {
    if (!node.is_object()) {
        error(doc, ptr, "expected a condition object such as {\"order.status\": {\"eq\": \"AWAITING_SHIPMENT\"}}, found " + describe(node));
        return false;
    }
    if (node.empty()) {
        error(doc, ptr, "empty condition: expected a field test, \"all\", \"any\" or \"not\"");
        return false;
    }
    bool ok = true;
    std::vector<detail::condition> parts;
    for (const auto& [key, value] : node.items()) {
        pointer kp = ptr / key;
        detail::condition part;
        part.at = position_of(doc, kp, true);
        if (key == "all" || key == "any") {
            part.k = key == "all" ? detail::condition::kind::all : detail::condition::kind::any;
            if (!value.is_array() || value.empty()) {
                error(doc, kp, "expected \"" + key + "\" to be a non-empty array of conditions, found " + describe(value));
                ok = false;
                continue;
            }
            for (std::size_t i = 0; i < value.size(); ++i) {
                detail::condition child;
                if (compile_condition(doc, kp / i, value[i], element_list, child)) {
                    part.children.push_back(std::move(child));
                } else {
                    ok = false;
                }
            }
        } else if (key == "not") {
            part.k = detail::condition::kind::negate;
            detail::condition child;
            if (compile_condition(doc, kp, value, element_list, child)) {
                part.children.push_back(std::move(child));
            } else {
                ok = false;
            }
        } else {
            std::optional<detail::field_ref> ref;
            if (element_list.empty()) {
                ref = detail::make_field_ref(key);
                if (!ref) {
                    std::string hint = did_you_mean(key, catalogue_paths());
                    if (hint.empty()) hint = "fields start with order., event., message. or shop. (docs/rules.md lists them)";
                    error(doc, kp, with_hint("unknown field \"" + key + "\"", hint), true);
                }
            } else if (auto info = find_element_field(element_list, key)) {
                ref = detail::make_element_ref(key, info->type);
            } else {
                auto names = element_names(element_list);
                std::string hint = did_you_mean(key, names);
                error(doc, kp,
                      with_hint("unknown field \"" + key + "\" of " + std::string(element_list) +
                                    " elements; they have: " + join(names),
                                hint),
                      true);
            }
            if (!ref) {
                ok = false;
                continue;
            }
            if (ref->root != detail::root_kind::element) {
                auto [it, inserted] = field_ids_.emplace(ref->path, static_cast<std::uint32_t>(field_ids_.size()));
                ref->id = it->second;
            }
            part.k = detail::condition::kind::test;
            if (!compile_test(doc, kp, value, std::move(*ref), element_list, part)) ok = false;
        }
        parts.push_back(std::move(part));
    }
    if (!ok) return false;
    if (parts.size() == 1) {
        out = std::move(parts.front());
    } else {
        out.k = detail::condition::kind::all;
        out.children = std::move(parts);
        out.at = position_of(doc, ptr);
    }
    return true;
}

// Compiles {"<op>": operand, ...} on one field into a test condition.
// `element_list` names the list whose elements `ref` is a field of, empty
// at top level.
bool loader::compile_test(std::size_t doc, const pointer& ptr, const json& ops, detail::field_ref ref, std::string_view element_list,
                          detail::condition& out) {
    const std::string shown = ref.path.empty() ? "the element" : ref.path;
    if (!ops.is_object() || ops.empty()) {
        error(doc, ptr, "expected an object of operators for " + shown + " such as {\"eq\": \"...\"}, found " + describe(ops));
        return false;
    }
    bool ok = true;
    const field_type type = ref.type;
    const bool is_list = type == field_type::string_list || type == field_type::object_list;
    const bool is_map = type == field_type::count_map;
    auto reject = [&](const pointer& p, std::string message, bool of_key = true) {
        error(doc, p, std::move(message), of_key);
        ok = false;
    };
    for (const auto& [key, operand] : ops.items()) {
        pointer p = ptr / key;
        // A lambda captures the name, not the structured binding: clang
        // before 16 cannot capture bindings.
        const std::string& written = key;
        auto spec = std::find_if(operators.begin(), operators.end(), [&written](const op_spec& s) { return s.name == written; });
        if (spec == operators.end()) {
            std::vector<std::string_view> names;
            for (const auto& s : operators) names.push_back(s.name);
            reject(p, with_hint("unknown operator \"" + key + "\"; known operators: " + join(names), did_you_mean(key, names)));
            continue;
        }
        detail::operation op;
        op.kind = spec->kind;
        op.written = operand;
        op.at = position_of(doc, p, true);
        const std::string name(spec->name);
        switch (op.kind) {
            case op_kind::eq:
            case op_kind::ne:
            case op_kind::changed_to:
            case op_kind::changed_from:
                if (!is_scalar(operand)) {
                    reject(p, "expected a string, number, boolean or null for \"" + name + "\", found " + describe(operand), false);
                } else if ((op.kind == op_kind::changed_to || op.kind == op_kind::changed_from) && ref.root != detail::root_kind::order) {
                    reject(p, "\"" + name + "\" compares the order before and after the event, so it works on order.* fields only");
                } else if (is_list || is_map) {
                    reject(p, "\"" + name + "\" compares single values, but " + shown + " is a " + std::string(type_name(type)) +
                                  (is_list ? "; use \"any\" or \"contains\"" : "; name one entry, e.g. order.sku_counts.<SKU>"));
                } else if (!check_value(doc, p, operand, ref, element_list, op.kind)) {
                    ok = false;
                } else {
                    op.operand = operand;
                }
                break;
            case op_kind::in:
            case op_kind::not_in:
                if (!operand.is_array() || operand.empty() || !std::all_of(operand.begin(), operand.end(), is_scalar)) {
                    reject(p, "expected a non-empty array of values for \"" + name + "\", found " + describe(operand), false);
                } else if (is_list || is_map) {
                    reject(p, "\"" + name + "\" tests a single value, but " + shown + " is a " + std::string(type_name(type)));
                } else {
                    // Each value on its own, at its place in the list.
                    bool values_ok = true;
                    for (std::size_t i = 0; i < operand.size(); ++i)
                        values_ok = check_value(doc, p / i, operand[i], ref, element_list, op.kind) && values_ok;
                    if (values_ok) op.operand = operand;
                    else ok = false;
                }
                break;
            case op_kind::exists:
            case op_kind::empty:
                if (!operand.is_boolean()) {
                    reject(p, "expected true or false for \"" + name + "\", found " + describe(operand), false);
                } else {
                    op.flag = operand.get<bool>();
                }
                break;
            case op_kind::contains:
                if (!operand.is_string() || operand.get_ref<const std::string&>().empty()) {
                    reject(p, "expected a non-empty string for \"contains\", found " + describe(operand), false);
                } else if (type == field_type::object_list || is_map || type == field_type::boolean) {
                    reject(p, "\"contains\" works on text and lists of strings, but " + shown + " is a " + std::string(type_name(type)) +
                                  (type == field_type::object_list ? "; use \"any\" with a condition on the elements" : ""));
                } else {
                    op.folded = detail::fold(operand.get_ref<const std::string&>());
                    if (!check_text_test(doc, p, op, ref, element_list)) ok = false;
                }
                break;
            case op_kind::matches:
                if (!operand.is_string()) {
                    reject(p, "expected a regular expression string for \"matches\", found " + describe(operand), false);
                } else if (is_list || is_map || type == field_type::boolean) {
                    reject(p, "\"matches\" works on text, but " + shown + " is a " + std::string(type_name(type)) +
                                  (is_list ? "; use \"any\" with \"matches\" on the elements" : ""));
                } else {
                    RE2::Options options;
                    options.set_log_errors(false);
                    auto re = std::make_shared<RE2>(operand.get_ref<const std::string&>(), options);
                    if (!re->ok()) {
                        reject(p, "invalid regular expression: " + re->error(), false);
                    } else {
                        op.regex = std::move(re);
                        if (!check_text_test(doc, p, op, ref, element_list)) ok = false;
                    }
                }
                break;
            case op_kind::gt:
            case op_kind::gte:
            case op_kind::lt:
            case op_kind::lte:
                if (!operand.is_number()) {
                    // "5" for 5: the quotes are the mistake.
                    const bool spells_number = operand.is_string() && as_number(operand);
                    reject(p, "expected a number for \"" + name + "\", found " + describe(operand) +
                                  (spells_number ? "; write " + operand.get<std::string>() + " without quotes" : ""),
                           false);
                } else if (type != field_type::number && type != field_type::timestamp) {
                    reject(p, "\"" + name + "\" compares numbers, but " + shown + " is a " + std::string(type_name(type)));
                } else {
                    op.number = operand.get<double>();
                }
                break;
            case op_kind::older_than:
            case op_kind::within: {
                auto d = operand.is_string() ? parse_duration(operand.get_ref<const std::string&>()) : std::nullopt;
                if (!d) {
                    reject(p, "expected a duration such as \"24h\", \"30m\" or \"7d\" for \"" + name + "\", found " + describe(operand), false);
                } else if (type != field_type::timestamp) {
                    reject(p, "\"" + name + "\" works on timestamps (such as order.create_time), but " + shown + " is a " +
                                  std::string(type_name(type)));
                } else {
                    op.seconds = d->count();
                }
                break;
            }
            case op_kind::any:
            case op_kind::all: {
                if (!is_list) {
                    reject(p, "\"" + name + "\" tests the elements of a list (order.line_items, order.tags), but " + shown +
                                  " is a " + std::string(type_name(type)));
                    break;
                }
                auto nested = std::make_shared<detail::condition>();
                bool nested_ok = type == field_type::object_list
                                     ? compile_condition(doc, p, operand, ref.path, *nested)
                                     : compile_test(doc, p, operand, detail::make_element_ref("", field_type::string), ref.path, *nested);
                if (nested_ok) {
                    op.nested = std::move(nested);
                } else {
                    ok = false;
                }
                break;
            }
        }
        out.ops.push_back(std::move(op));
    }
    out.field = std::move(ref);
    return ok;
}

// ---- values that can never match ----------------------------------------
//
// A condition value the field can never hold makes its test constant: a
// typo such as "DELIVERD", or "true" in quotes for a boolean, would load and
// silently never fire (or, under "ne", always hold). Values compare as
// evaluation compares them (rules/detail/text.hpp, loose_equal): the same
// JSON type, or a number and a string that spells it, so 4980 and "4980"
// stay interchangeable where a field may be either (ids, amounts).

namespace {

// "order.status", or "the status of order.packages" for an element field.
std::string field_shown(const detail::field_ref& ref, std::string_view element_list) {
    if (element_list.empty()) return ref.path;
    if (ref.path.empty()) return "an element of " + std::string(element_list);
    return "the " + ref.path + " of " + std::string(element_list);
}

const std::vector<std::string_view>& values_of(const detail::field_ref& ref, std::string_view element_list) {
    return element_list.empty() ? closed_values(ref.path) : closed_element_values(element_list, ref.path);
}

bool is_closed_value(const json& v, const std::vector<std::string_view>& values, field_type type) {
    if (v.is_string() && v.get_ref<const std::string&>().empty()) return true;   // what a field TikTok left out holds
    if (type == field_type::number) {
        const auto n = (v.is_number() || v.is_string()) ? as_number(v) : std::nullopt;
        return n && std::any_of(values.begin(), values.end(), [&](std::string_view s) { return as_number(json(s)) == n; });
    }
    return v.is_string() && std::find(values.begin(), values.end(), v.get_ref<const std::string&>()) != values.end();
}

// "did you mean DELIVERED?" for a value that differs in case or by a typo.
std::string closest_value(const json& v, const std::vector<std::string_view>& values) {
    if (!v.is_string()) return {};
    const auto& text = v.get_ref<const std::string&>();
    auto upper = [](std::string_view s) {
        std::string out(s);
        for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return out;
    };
    for (auto value : values)
        if (upper(value) == upper(text)) return "did you mean " + std::string(value) + "?";
    // A shortened or retired spelling: CANCEL (webhooks' old word) for CANCELLED.
    const std::string shown = upper(text);
    if (shown.size() >= 4)
        for (auto value : values)
            if (upper(value).starts_with(shown)) return "did you mean " + std::string(value) + "?";
    return did_you_mean(text, values);
}

// The sets orderflow itself makes (daemon/events.cpp, conversation_linker):
// no other value can ever come.
bool set_is_ours(const detail::field_ref& ref, std::string_view element_list) {
    return element_list.empty() && (ref.path == "event.type" || ref.path == "event.source" || ref.path == "conversation.order_link");
}

// Whether a value outside a field's set is refused (an error) or only
// warned about. TikTok may add a value to its lists before orderflow's copy
// knows it, and a rule that loaded yesterday must not stop the daemon
// starting today over it, so only what is surely a mistake is refused:
// - any value of a set orderflow makes itself;
// - a number where the values are codes;
// - a near miss of a listed value ("DELIVERD", "delivered", a retired
//   spelling such as CANCEL) in a test that then never holds, or, for "ne",
//   always holds (the rule fires for the very value it meant to exclude).
// A value far from every listed one, and any value of "not_in" (the list's
// other values still exclude), is a warning.
bool refuses_unlisted(const detail::field_ref& ref, std::string_view element_list, op_kind kind, const std::string& hint,
                      const json& value) {
    if (set_is_ours(ref, element_list)) return true;
    if (value.is_number() && ref.type != field_type::number) return true;   // a number is never one of the codes
    return kind != op_kind::not_in && !hint.empty();
}

constexpr const char* unlisted_advice = "; if TikTok has added this value since, the rule works as written";

// What a value the field never equals does to the operator's test.
std::string consequence(op_kind kind) {
    switch (kind) {
        case op_kind::ne: return "so \"ne\" always holds";
        case op_kind::in: return "so this value of \"in\" never matches";
        case op_kind::not_in: return "so this value of \"not_in\" excludes nothing";
        default: return "so \"" + std::string(op_name(kind)) + "\" never holds";
    }
}

}  // namespace

// Refuses an eq, ne, in, not_in, changed_to or changed_from value the field
// can never equal: one of the wrong JSON type, or outside the field's closed
// set of values (rules/fields.hpp, closed_values). null (missing) fits every
// field. False when refused.
bool loader::check_value(std::size_t doc, const pointer& p, const json& v, const detail::field_ref& ref, std::string_view element_list,
                         op_kind kind) {
    if (v.is_null()) return true;
    const std::string field = field_shown(ref, element_list);
    const std::string rule = rule_id_.empty() ? "" : "rule \"" + rule_id_ + "\": ";
    auto refuse = [&](const std::string& is, const std::string& fix) {
        error(doc, p, rule + field + " is " + is + ", never " + describe(v) + ", " + consequence(kind) + "; " + fix);
        return false;
    };
    const bool text = v.is_string();
    const std::string written = text ? v.get<std::string>() : v.dump();
    switch (ref.type) {
        case field_type::boolean:
            if (v.is_boolean()) return true;
            if (text && (written == "true" || written == "false")) return refuse("true or false", "write " + written + " without quotes");
            return refuse("true or false", "write true or false");
        case field_type::number:
        case field_type::timestamp: {
            if (v.is_number() || (text && (written.empty() || as_number(v)))) break;
            if (ref.type == field_type::number) return refuse("a number", "write a number such as 4980");
            return refuse("a timestamp (unix seconds)", "write unix seconds such as 1764547200, or test the time with \"older_than\" or \"within\"");
        }
        default:
            if (v.is_boolean()) return refuse("text", "write \"" + written + "\" in quotes to compare with the text");
            break;
    }
    const auto& values = values_of(ref, element_list);
    if (values.empty() || is_closed_value(v, values, ref.type)) return true;
    // A near miss among codes is a typo; among topic numbers it is not.
    const std::string hint = ref.type == field_type::number ? std::string() : closest_value(v, values);
    const std::string said = rule + field + " is never " + v.dump() + " (its values: " + join(values) + "), " + consequence(kind);
    if (refuses_unlisted(ref, element_list, kind, hint, v)) {
        error(doc, p, with_hint(said, hint));
        return false;
    }
    warning(doc, p, with_hint(said + unlisted_advice, hint));
    return true;
}

// Refuses a "contains" or "matches" that no value of a field with a closed
// set can satisfy: "contains": "DELIVERD" on order.status. False when refused.
bool loader::check_text_test(std::size_t doc, const pointer& p, const operation& op, const detail::field_ref& ref,
                             std::string_view element_list) {
    const auto& values = values_of(ref, element_list);
    if (values.empty()) return true;
    auto satisfied_by = [&](std::string_view value) {
        return op.kind == op_kind::contains ? detail::fold(value).find(op.folded) != std::string::npos
                                            : RE2::PartialMatch(value, *op.regex);
    };
    if (std::any_of(values.begin(), values.end(), satisfied_by) || satisfied_by("")) return true;
    const std::string field = field_shown(ref, element_list);
    const std::string rule = rule_id_.empty() ? "" : "rule \"" + rule_id_ + "\": ";
    const std::string& written = op.written.get_ref<const std::string&>();
    std::string what = "no value of " + field + " (" + join(values) + ") " +
                       (op.kind == op_kind::contains ? "contains \"" + written + "\"" : "matches " + op.written.dump());
    const std::string hint = closest_value(op.written, values);
    const std::string said = rule + what + ", so \"" + std::string(op_name(op.kind)) + "\" never holds";
    if (refuses_unlisted(ref, element_list, op.kind, hint, op.written)) {
        error(doc, p, with_hint(said, hint));
        return false;
    }
    warning(doc, p, with_hint(said + unlisted_advice, hint));
    return true;
}

}  // namespace orderflow::rules::detail
