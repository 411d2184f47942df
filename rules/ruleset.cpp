// The rule file loader: JSONC documents in, a compiled ruleset_data (or a
// list of diagnostics) out. Validation keeps going after an error so that
// one load reports every problem; a rule or template with an error is left
// out, and any error at all means no ruleset is produced. References between
// files (rules naming templates) are resolved after every file is read.
#include "rules/ruleset.hpp"

#include "rules/detail/compiled.hpp"
#include "rules/detail/io.hpp"
#include "rules/detail/text.hpp"
#include "rules/fields.hpp"
#include "rules/jsonc.hpp"

#include "common/duration.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace orderflow::rules {

namespace {

using json = nlohmann::json;
using pointer = json::json_pointer;
using detail::op_kind;

const std::vector<std::string_view> rule_keys = {"id", "description", "on", "if", "then",
                                                 "enabled", "mode", "once_per", "locale", "guards"};
const std::vector<std::string_view> guard_keys = {"quiet_hours", "messages_per_order_per_day", "messages_per_buyer_per_day",
                                                  "cancelled"};
const std::vector<std::string_view> top_keys = {"templates", "rules"};
const std::vector<std::string_view> supported_actions = {"send_message", "reply", "update_tracking", "flag_review",
                                                          "tag",          "untag", "schedule",        "stop"};
const std::vector<std::string_view> update_tracking_keys = {"carrier"};
const std::vector<std::string_view> schedule_keys = {"after", "event"};
const std::vector<std::string_view> flag_review_keys = {"reason", "severity", "note"};
const std::vector<std::string_view> severities = {"info", "warning", "critical"};

// Review reasons and tags are short stable codes: staff filter and rules test on them.
bool is_code(const std::string& s, bool allow_upper) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ':' ||
                        (allow_upper && c >= 'A' && c <= 'Z');
        if (!ok) return false;
    }
    return true;
}
const std::vector<std::string_view> send_message_keys = {"template", "locale"};
const std::vector<std::string_view> scopes = {"order", "package", "order_status", "message", "event"};

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

std::string join(const std::vector<std::string_view>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i > 0) out += ", ";
        out += words[i];
    }
    return out;
}

// A short description of a JSON value for "found ..." in messages.
std::string describe(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::string: {
            const auto& s = v.get_ref<const std::string&>();
            return s.size() <= 40 ? "the string \"" + s + "\"" : "a string";
        }
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        case json::value_t::number_float:
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "the number " + v.dump();
        default: return "a value";
    }
}

std::string with_hint(std::string message, const std::string& hint) {
    if (!hint.empty()) message += "; " + hint;
    return message;
}

bool is_scalar(const json& v) { return v.is_string() || v.is_number() || v.is_boolean() || v.is_null(); }

// "ja", "en", "zh-Hant", "pt-BR".
bool is_locale(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
    if (i < 2 || i > 3) return false;
    while (i < s.size()) {
        if (s[i] != '-') return false;
        std::size_t start = ++i;
        while (i < s.size() && std::isalnum(static_cast<unsigned char>(s[i]))) ++i;
        if (i - start < 2 || i - start > 8) return false;
    }
    return true;
}

bool is_template_name(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

std::vector<std::string_view> catalogue_paths() {
    std::vector<std::string_view> out;
    for (const auto& f : field_catalogue()) {
        if (f.path != "order.sku_counts.<SKU>") out.push_back(f.path);
    }
    return out;
}

std::vector<std::string_view> element_names(std::string_view list) {
    std::vector<std::string_view> out;
    for (const auto& f : element_fields(list)) out.push_back(f.path);
    return out;
}

struct site {
    std::size_t doc = 0;
    pointer ptr;
    bool of_key = false;
};

struct template_ref {
    std::size_t doc = 0;
    pointer name_ptr;             // .../send_message/template
    std::string name;
    std::string action_locale;    // explicit, may be empty
    pointer action_locale_ptr;
    std::string rule_locale;
    pointer rule_locale_ptr;
    std::size_t rule_index = SIZE_MAX;  // SIZE_MAX when the rule had errors
    std::size_t action_index = 0;
};

class loader {
public:
    void add_file(const std::string& name, std::string_view bytes) {
        note_file(name);
        hash_bytes(name);
        hash_bytes(bytes);
        auto parsed = parse_jsonc(bytes, name);
        if (auto* d = std::get_if<diagnostic>(&parsed)) {
            diags_.push_back(std::move(*d));
            return;
        }
        docs_.push_back(std::move(std::get<jsonc_document>(parsed)));
        add_document(docs_.size() - 1);
    }

    void add_failure(diagnostic d) {
        note_file(d.file);
        hash_bytes(d.file);
        diags_.push_back(std::move(d));
    }

    load_result finish() {
        resolve_templates();
        check_timers();
        load_result result;
        std::stable_sort(diags_.begin(), diags_.end(), [&](const diagnostic& a, const diagnostic& b) {
            auto fa = file_order_[a.file], fb = file_order_[b.file];
            if (fa != fb) return fa < fb;
            if (a.line != b.line) return a.line < b.line;
            return a.column < b.column;
        });
        result.diagnostics = std::move(diags_);
        bool failed = std::any_of(result.diagnostics.begin(), result.diagnostics.end(),
                                  [](const diagnostic& d) { return !d.warning; });
        if (failed) return result;
        for (std::size_t i = 0; i < data_->rules.size(); ++i) {
            const auto& r = data_->rules[i];
            if (!r.enabled) continue;
            for (const auto& e : r.on) data_->by_event[e].push_back(i);
        }
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
        data_->hash = hex;
        data_->field_count = field_ids_.size();
        result.rules = std::make_shared<const ruleset>(std::move(data_));
        return result;
    }

private:
    void note_file(const std::string& name) { file_order_.emplace(name, static_cast<int>(file_order_.size())); }

    void hash_bytes(std::string_view bytes) {
        for (unsigned char c : bytes) {
            hash_ ^= c;
            hash_ *= 0x100000001b3ULL;
        }
        hash_ ^= 0;  // a separator byte between name and content
        hash_ *= 0x100000001b3ULL;
    }

    std::size_t error_count() const {
        return static_cast<std::size_t>(std::count_if(diags_.begin(), diags_.end(), [](const diagnostic& d) { return !d.warning; }));
    }

    void error(std::size_t doc, const pointer& p, std::string message, bool of_key = false) {
        diags_.push_back(docs_[doc].error_at(p, std::move(message), of_key));
    }

    void warning(std::size_t doc, const pointer& p, std::string message, bool of_key = false) {
        diags_.push_back(docs_[doc].warning_at(p, std::move(message), of_key));
    }

    // Where `p` was written, kept in the compiled form for rules::explain.
    detail::source_position position_of(std::size_t doc, const pointer& p, bool of_key = false) const {
        auto [line, column] = docs_[doc].position(p, of_key);
        return {line, column};
    }

    std::string where(const site& s) const {
        auto [line, column] = docs_[s.doc].position(s.ptr, s.of_key);
        return docs_[s.doc].file() + ":" + std::to_string(line) + ":" + std::to_string(column);
    }

    void add_document(std::size_t doc) {
        const json& root = docs_[doc].root();
        pointer top;
        if (!root.is_object()) {
            error(doc, top, "expected a rule file object with \"templates\" and/or \"rules\", found " + describe(root));
            return;
        }
        for (const auto& [key, value] : root.items()) {
            if (std::find(top_keys.begin(), top_keys.end(), key) == top_keys.end()) {
                error(doc, top / key,
                      with_hint("unknown top-level key \"" + key + "\"; allowed keys: templates, rules",
                                did_you_mean(key, top_keys)),
                      true);
            }
        }
        if (auto it = root.find("templates"); it != root.end()) load_templates(doc, top / "templates", *it);
        if (auto it = root.find("rules"); it != root.end()) {
            if (!it->is_array()) {
                error(doc, top / "rules", "expected \"rules\" to be an array of rule objects, found " + describe(*it));
            } else {
                for (std::size_t i = 0; i < it->size(); ++i) {
                    if (!within_limit(rules_seen_, max_rules, doc, top / "rules" / i, "rules", false)) break;
                    compile_rule(doc, top / "rules" / i, (*it)[i]);
                }
            }
        }
    }

    // Counts one more rule or template against `limit` (ruleset.hpp). The
    // first one past it is an error at its place (templates come in name
    // order, as nlohmann keeps them); it and all after it, in this file and
    // later ones, are not checked, so a huge file costs no more than the limit.
    bool within_limit(std::size_t& seen, std::size_t limit, std::size_t doc, const pointer& p, const char* what, bool of_key) {
        if (seen > limit) return false;
        if (++seen <= limit) return true;
        error(doc, p,
              std::string("more than ") + std::to_string(limit) + " " + what + " in the rule files together (the limit); the " +
                  what + " from here on were not checked. Remove " + what + " that are not needed or combine similar ones",
              of_key);
        return false;
    }

    // ---- templates ----------------------------------------------------------

    void load_templates(std::size_t doc, const pointer& ptr, const json& node) {
        if (!node.is_object()) {
            error(doc, ptr, "expected \"templates\" to be an object of name -> texts, found " + describe(node));
            return;
        }
        for (const auto& [name, value] : node.items()) {
            pointer p = ptr / name;
            if (!within_limit(templates_seen_, max_templates, doc, p, "templates", true)) break;
            if (!is_template_name(name)) {
                error(doc, p, "template name \"" + name + "\" may use only letters, digits, '_', '-' and '.'", true);
                continue;
            }
            if (auto it = template_sites_.find(name); it != template_sites_.end()) {
                error(doc, p, "duplicate template \"" + name + "\"; first defined at " + where(it->second), true);
                continue;
            }
            template_sites_[name] = site{doc, p, true};
            std::size_t errors = error_count();
            detail::message_template t;
            t.name = name;
            if (value.is_string()) {
                add_variant(doc, p, "", value.get_ref<const std::string&>(), t);
            } else if (value.is_object() && !value.empty()) {
                // nlohmann sorts keys; the file order decides the fallback locale, so restore it.
                std::vector<std::pair<std::pair<int, int>, std::string>> locales;
                for (const auto& [locale, text] : value.items()) locales.push_back({docs_[doc].position(p / locale, true), locale});
                std::sort(locales.begin(), locales.end());
                for (const auto& [position, locale] : locales) {
                    const json& text = value.at(locale);
                    if (!is_locale(locale)) {
                        error(doc, p / locale, "expected a locale such as \"ja\" or \"en\" as the key, found \"" + locale + "\"", true);
                    } else if (!text.is_string()) {
                        error(doc, p / locale, "expected the template text as a string, found " + describe(text));
                    } else {
                        add_variant(doc, p / locale, locale, text.get_ref<const std::string&>(), t);
                    }
                }
            } else {
                error(doc, p, "expected a template text (string) or an object of locale -> text such as {\"ja\": \"...\", \"en\": \"...\"}, found " + describe(value));
            }
            if (error_count() == errors) {
                template_index_[name] = data_->templates.size();
                data_->templates.push_back(std::move(t));
            }
        }
    }

    void add_variant(std::size_t doc, const pointer& p, std::string locale, const std::string& text, detail::message_template& t) {
        if (detail::is_blank(text)) {
            error(doc, p, "empty template text");
            return;
        }
        auto compiled = template_text::compile(text);
        if (auto* message = std::get_if<std::string>(&compiled)) {
            error(doc, p, std::move(*message));
            return;
        }
        t.variants.push_back({std::move(locale), std::move(std::get<template_text>(compiled))});
    }

    void resolve_templates() {
        std::vector<bool> used(data_->templates.size(), false);
        auto has_locale = [](const detail::message_template& t, const std::string& locale) {
            return std::any_of(t.variants.begin(), t.variants.end(),
                               [&](const auto& v) { return v.locale.empty() || v.locale == locale; });
        };
        auto locales_of = [](const detail::message_template& t) {
            std::string out;
            for (const auto& v : t.variants) out += (out.empty() ? "" : ", ") + v.locale;
            return out;
        };
        for (const auto& ref : refs_) {
            if (!template_sites_.count(ref.name)) {
                std::vector<std::string_view> names;
                for (const auto& [n, s] : template_sites_) names.push_back(n);
                std::string hint = did_you_mean(ref.name, names);
                if (hint.empty()) hint = names.empty() ? "no templates are defined" : "defined templates: " + join(names);
                error(ref.doc, ref.name_ptr, with_hint("unknown template \"" + ref.name + "\"", hint));
                continue;
            }
            auto it = template_index_.find(ref.name);
            if (it == template_index_.end()) continue;  // the template itself had an error, already reported
            const auto& t = data_->templates[it->second];
            used[it->second] = true;
            if (!ref.action_locale.empty() && !has_locale(t, ref.action_locale)) {
                error(ref.doc, ref.action_locale_ptr,
                      "template \"" + ref.name + "\" has no \"" + ref.action_locale + "\" text; it has: " + locales_of(t));
            } else if (ref.action_locale.empty() && !ref.rule_locale.empty() && !has_locale(t, ref.rule_locale)) {
                warning(ref.doc, ref.rule_locale_ptr,
                        "template \"" + ref.name + "\" has no \"" + ref.rule_locale +
                            "\" text, so the fallback order applies (docs/rules.md, \"Locales\"); it has: " + locales_of(t));
            }
            if (ref.rule_index != SIZE_MAX) data_->rules[ref.rule_index].then[ref.action_index].template_index = it->second;
        }
        for (std::size_t i = 0; i < used.size(); ++i) {
            if (used[i]) continue;
            const auto& s = template_sites_[data_->templates[i].name];
            warning(s.doc, s.ptr, "template \"" + data_->templates[i].name + "\" is not used by any rule", true);
        }
    }

    // ---- rules --------------------------------------------------------------

    void compile_rule(std::size_t doc, const pointer& ptr, const json& node) {
        if (!node.is_object()) {
            error(doc, ptr, "expected a rule object with \"id\", \"on\" and \"then\", found " + describe(node));
            return;
        }
        std::size_t errors = error_count();
        detail::rule r;
        r.file = docs_[doc].file();
        r.at = position_of(doc, ptr);
        for (const auto& [key, value] : node.items()) {
            if (std::find(rule_keys.begin(), rule_keys.end(), key) == rule_keys.end()) {
                error(doc, ptr / key,
                      with_hint("unknown rule key \"" + key + "\"; allowed keys: " + join(rule_keys), did_you_mean(key, rule_keys)),
                      true);
            }
        }

        auto id = node.find("id");
        if (id == node.end()) {
            error(doc, ptr, "rule has no \"id\"; every rule needs a unique id such as \"thanks-awaiting-shipment\"");
        } else if (!id->is_string()) {
            error(doc, ptr / "id", "expected the rule id as a string, found " + describe(*id));
        } else if (!is_identifier(id->get_ref<const std::string&>())) {
            error(doc, ptr / "id",
                  "rule id \"" + id->get<std::string>() + "\" must match [a-z0-9][a-z0-9._-]* (lower-case letters, digits, '.', '_', '-')");
        } else if (auto first = rule_sites_.find(id->get<std::string>()); first != rule_sites_.end()) {
            error(doc, ptr / "id", "duplicate rule id \"" + id->get<std::string>() + "\"; first defined at " + where(first->second));
        } else {
            r.id = id->get<std::string>();
            rule_sites_[r.id] = site{doc, ptr / "id", false};
        }

        if (auto d = node.find("description"); d != node.end()) {
            if (d->is_string()) {
                r.description = d->get<std::string>();
            } else {
                error(doc, ptr / "description", "expected \"description\" to be a string, found " + describe(*d));
            }
        }

        compile_on(doc, ptr, node, r);

        if (auto c = node.find("if"); c != node.end()) {
            r.has_condition = compile_condition(doc, ptr / "if", *c, "", r.when);
            if (r.has_condition) contradiction_warnings(doc, r.when);
        }

        if (auto e = node.find("enabled"); e != node.end()) {
            if (e->is_boolean()) {
                r.enabled = e->get<bool>();
            } else {
                error(doc, ptr / "enabled", "expected \"enabled\" to be true or false, found " + describe(*e));
            }
        }
        if (auto m = node.find("mode"); m != node.end()) {
            if (m->is_string() && (*m == "live" || *m == "shadow")) {
                r.shadow = *m == "shadow";
            } else {
                error(doc, ptr / "mode", "expected \"mode\" to be \"live\" or \"shadow\", found " + describe(*m));
            }
        }
        if (auto o = node.find("once_per"); o != node.end()) {
            auto found = o->is_string() ? std::find(scopes.begin(), scopes.end(), o->get_ref<const std::string&>()) : scopes.end();
            if (found == scopes.end()) {
                error(doc, ptr / "once_per", "expected \"once_per\" to be one of " + join(scopes) + ", found " + describe(*o));
            } else {
                r.once_per = static_cast<detail::scope>(found - scopes.begin());
                r.once_per_name = std::string(*found);
            }
        }
        if (auto g = node.find("guards"); g != node.end()) compile_guards(doc, ptr / "guards", *g, r);
        pointer locale_ptr = ptr / "locale";
        if (auto l = node.find("locale"); l != node.end()) {
            if (l->is_string() && is_locale(l->get_ref<const std::string&>())) {
                r.locale = l->get<std::string>();
            } else {
                error(doc, locale_ptr, "expected \"locale\" to be a locale such as \"ja\" or \"en\", found " + describe(*l));
            }
        }

        std::vector<template_ref> refs;
        auto then = node.find("then");
        if (then == node.end()) {
            error(doc, ptr, "rule has no \"then\"; expected an array of actions such as [{\"send_message\": {\"template\": \"...\"}}]");
        } else if (!then->is_array() || then->empty()) {
            error(doc, ptr / "then", "expected \"then\" to be a non-empty array of actions, found " + describe(*then));
        } else {
            for (std::size_t i = 0; i < then->size(); ++i) {
                compile_action(doc, ptr / "then" / i, (*then)[i], r, refs);
            }
        }
        for (auto& ref : refs) {
            ref.rule_locale = r.locale;
            ref.rule_locale_ptr = locale_ptr;
        }
        // Tracking updates are per package by default (docs/architecture.md,
        // "Effects").
        if (!node.contains("once_per") &&
            std::any_of(r.then.begin(), r.then.end(), [](const detail::action& a) { return a.kind == "update_tracking"; })) {
            r.once_per = detail::scope::package;
            r.once_per_name = "package";
        }

        scope_warnings(doc, ptr, node, r);

        bool ok = error_count() == errors;
        for (auto& ref : refs) {
            ref.rule_index = ok ? data_->rules.size() : SIZE_MAX;
            refs_.push_back(std::move(ref));
        }
        if (ok) data_->rules.push_back(std::move(r));
    }

    static std::string join_on(const detail::rule& r) {
        std::string out;
        for (const auto& e : r.on) out += (out.empty() ? "" : ", ") + e;
        return out;
    }

    void compile_on(std::size_t doc, const pointer& ptr, const json& node, detail::rule& r) {
        auto on = node.find("on");
        if (on == node.end()) {
            error(doc, ptr, "rule has no \"on\"; expected an event such as \"order.status_changed\" or an array of events");
            return;
        }
        auto add = [&](const json& e, const pointer& p) {
            if (!e.is_string()) {
                error(doc, p, "expected an event name, found " + describe(e));
                return;
            }
            const auto& name = e.get_ref<const std::string&>();
            if (!is_known_event(name)) {
                std::string hint = did_you_mean(name, known_events());
                if (hint.empty()) hint = "known events: " + join(known_events()) + ", timer.<name>";
                error(doc, p, with_hint("unknown event \"" + name + "\"", hint));
                return;
            }
            if (std::find(r.on.begin(), r.on.end(), name) == r.on.end()) r.on.push_back(name);
        };
        if (on->is_string()) {
            add(*on, ptr / "on");
        } else if (on->is_array() && !on->empty()) {
            for (std::size_t i = 0; i < on->size(); ++i) add((*on)[i], ptr / "on" / i);
        } else {
            error(doc, ptr / "on", "expected \"on\" to be an event name or a non-empty array of event names, found " + describe(*on));
        }
    }

    void scope_warnings(std::size_t doc, const pointer& ptr, const json& node, const detail::rule& r) {
        if (r.on.empty()) return;
        // Buyer messages and shop events come without an order: nothing to tag.
        const bool orderless = std::all_of(r.on.begin(), r.on.end(), [](const std::string& e) {
            return e == "message.received" || e == "conversation.created" || e.rfind("shop.", 0) == 0;
        });
        if (orderless)
            for (std::size_t i = 0; i < r.then.size(); ++i)
                if (r.then[i].kind == "tag" || r.then[i].kind == "untag" || r.then[i].kind == "schedule")
                    warning(doc, ptr / "then" / i, "\"" + r.then[i].kind + "\" needs an order, but " + join_on(r) +
                                                       " carries none; it will be skipped");
        pointer where_ptr = node.contains("once_per") ? ptr / "once_per" : ptr;
        bool any_message = std::find(r.on.begin(), r.on.end(), "message.received") != r.on.end();
        bool only_shop = std::all_of(r.on.begin(), r.on.end(), [](const std::string& e) { return e.rfind("shop.", 0) == 0; });
        if (r.once_per == detail::scope::message && !any_message) {
            warning(doc, where_ptr, "once_per \"message\" needs a message, but the rule does not listen to message.received");
        } else if (only_shop && r.once_per != detail::scope::event) {
            warning(doc, where_ptr, "shop events carry no order, so once_per \"" + r.once_per_name +
                                        "\" cannot be satisfied; use once_per \"event\"");
        }
    }

    // Every key of an action's parameters must be one it takes; each stray
    // one is reported at its key. False when there was one.
    bool known_params(std::size_t doc, const pointer& p, const std::string& action, const json& params,
                      const std::vector<std::string_view>& allowed) {
        bool ok = true;
        for (const auto& [key, value] : params.items()) {
            if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
            error(doc, p / key, with_hint("unknown " + action + " key \"" + key + "\"; allowed keys: " + join(allowed), did_you_mean(key, allowed)),
                  true);
            ok = false;
        }
        return ok;
    }

    void compile_action(std::size_t doc, const pointer& ptr, const json& node, detail::rule& r, std::vector<template_ref>& refs) {
        if (!node.is_object() || node.size() != 1) {
            error(doc, ptr, "expected an action object with exactly one key such as {\"send_message\": {\"template\": \"...\"}}, found " +
                                (node.is_object() ? "an object with " + std::to_string(node.size()) + " keys" : describe(node)));
            return;
        }
        // Named iterator: GCC 12 at -O2 flags a binding into items()'s temporary.
        auto first = node.begin();
        const std::string& name = first.key();
        const json& params = first.value();
        pointer p = ptr / name;
        if (std::find(supported_actions.begin(), supported_actions.end(), name) == supported_actions.end()) {
            error(doc, p, with_hint("unknown action \"" + name + "\"; known actions: " + join(supported_actions),
                                    did_you_mean(name, supported_actions)),
                  true);
            return;
        }
        if (name == "flag_review") return compile_flag_review(doc, p, params, r);
        if (name == "tag" || name == "untag") return compile_tag(doc, p, name, params, r);
        if (name == "stop") return compile_stop(doc, p, params, r);
        if (name == "schedule") return compile_schedule(doc, p, params, r);
        if (name == "update_tracking") return compile_update_tracking(doc, p, params, r);
        if (name == "reply") {
            // A reply goes to the conversation of the buyer message being handled.
            const bool only_messages = !r.on.empty() && std::all_of(r.on.begin(), r.on.end(), [](const std::string& e) {
                return e == "message.received";
            });
            if (!only_messages) {
                error(doc, p, "\"reply\" answers a buyer message: the rule must listen only to \"message.received\" (use send_message otherwise)", true);
                return;
            }
        }
        if (!params.is_object()) {
            error(doc, p, "expected " + name + " parameters such as {\"template\": \"thanks_for_order\"}, found " + describe(params));
            return;
        }
        bool ok = known_params(doc, p, name, params, send_message_keys);
        detail::action a;
        a.kind = name;
        template_ref ref;
        ref.doc = doc;
        auto t = params.find("template");
        if (t == params.end()) {
            error(doc, p, name + " has no \"template\"; expected the name of a template");
            ok = false;
        } else if (!t->is_string() || t->get_ref<const std::string&>().empty()) {
            error(doc, p / "template", "expected \"template\" to be a template name, found " + describe(*t));
            ok = false;
        } else {
            a.template_name = t->get<std::string>();
        }
        if (auto l = params.find("locale"); l != params.end()) {
            if (l->is_string() && is_locale(l->get_ref<const std::string&>())) {
                a.locale = l->get<std::string>();
            } else {
                error(doc, p / "locale", "expected \"locale\" to be a locale such as \"ja\" or \"en\", found " + describe(*l));
                ok = false;
            }
        }
        if (!ok) return;
        ref.name_ptr = p / "template";
        ref.name = a.template_name;
        ref.action_locale = a.locale;
        ref.action_locale_ptr = p / "locale";
        ref.action_index = r.then.size();
        refs.push_back(std::move(ref));
        r.then.push_back(std::move(a));
    }

    // {"flag_review": {"reason": "damage_reported", "severity": "warning", "note": "..."}}
    void compile_flag_review(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
        if (!params.is_object()) {
            error(doc, p, "expected flag_review parameters such as {\"reason\": \"damage_reported\", \"severity\": \"warning\"}, found " + describe(params));
            return;
        }
        bool ok = known_params(doc, p, "flag_review", params, flag_review_keys);
        detail::action a;
        a.kind = "flag_review";
        auto reason = params.find("reason");
        if (reason == params.end()) {
            error(doc, p, "flag_review has no \"reason\"; expected a short code such as \"damage_reported\"");
            ok = false;
        } else if (!reason->is_string() || !is_code(reason->get<std::string>(), false)) {
            error(doc, p / "reason", "expected \"reason\" to be a short code of a-z, 0-9 and _ - . : (at most 64) such as \"damage_reported\", found " + describe(*reason));
            ok = false;
        } else {
            a.reason = reason->get<std::string>();
        }
        a.severity = "warning";
        if (auto sev = params.find("severity"); sev != params.end()) {
            if (sev->is_string() && std::find(severities.begin(), severities.end(), sev->get_ref<const std::string&>()) != severities.end()) {
                a.severity = sev->get<std::string>();
            } else {
                error(doc, p / "severity", "expected \"severity\" to be one of " + join(severities) + ", found " + describe(*sev));
                ok = false;
            }
        }
        if (auto note = params.find("note"); note != params.end()) {
            if (note->is_string()) {
                a.note = note->get<std::string>();
            } else {
                error(doc, p / "note", "expected \"note\" to be text for staff, found " + describe(*note));
                ok = false;
            }
        }
        if (ok) r.then.push_back(std::move(a));
    }

    // {"update_tracking": {}} or {"update_tracking": {"carrier": "ヤマト運輸"}}:
    // ships the package (or corrects its shipping info) with the carrier and
    // tracking number of the tracking.received event being handled.
    void compile_update_tracking(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
        const bool only_tracking = !r.on.empty() && std::all_of(r.on.begin(), r.on.end(), [](const std::string& e) {
            return e == "tracking.received";
        });
        if (!only_tracking) {
            error(doc, p, "\"update_tracking\" uses the carrier and tracking number of a tracking.received event: the rule must listen only to \"tracking.received\"",
                  true);
            return;
        }
        if (!params.is_object()) {
            error(doc, p, "expected update_tracking parameters such as {} or {\"carrier\": \"ヤマト運輸\"}, found " + describe(params));
            return;
        }
        bool ok = known_params(doc, p, "update_tracking", params, update_tracking_keys);
        detail::action a;
        a.kind = "update_tracking";
        if (auto c = params.find("carrier"); c != params.end()) {
            if (c->is_string() && !c->get_ref<const std::string&>().empty()) {
                a.carrier = c->get<std::string>();
            } else {
                error(doc, p / "carrier", "expected \"carrier\" to be a carrier name such as \"ヤマト運輸\", found " + describe(*c));
                ok = false;
            }
        }
        if (ok) r.then.push_back(std::move(a));
    }

    // {"tag": "vip"} / {"untag": "awaiting_reply"}
    void compile_tag(std::size_t doc, const pointer& p, const std::string& name, const json& params, detail::rule& r) {
        if (!params.is_string() || !is_code(params.get<std::string>(), true)) {
            error(doc, p, "expected " + name + " to name a tag of letters, digits, _ - . : (at most 64), such as {\"" + name + "\": \"vip\"}, found " + describe(params));
            return;
        }
        detail::action a;
        a.kind = name;
        a.tag = params.get<std::string>();
        r.then.push_back(std::move(a));
    }

    // {"schedule": {"after": "24h", "event": "engraving.reminder"}}: a durable
    // timer that fires timer.engraving.reminder for the order after 24 h.
    void compile_schedule(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
        if (!params.is_object()) {
            error(doc, p, "expected schedule parameters such as {\"after\": \"24h\", \"event\": \"engraving.reminder\"}, found " + describe(params));
            return;
        }
        bool ok = known_params(doc, p, "schedule", params, schedule_keys);
        detail::action a;
        a.kind = "schedule";
        auto after = params.find("after");
        std::optional<std::chrono::seconds> d;
        if (after != params.end() && after->is_string()) d = parse_duration(after->get<std::string>());
        if (after == params.end()) {
            error(doc, p, "schedule has no \"after\"; expected a duration such as \"24h\"");
            ok = false;
        } else if (!d || d->count() <= 0) {
            error(doc, p / "after", "expected \"after\" to be a duration such as \"30m\", \"24h\" or \"3d\", found " + describe(*after));
            ok = false;
        } else {
            a.after_s = d->count();
        }
        auto event = params.find("event");
        std::string name = event != params.end() && event->is_string() ? event->get<std::string>() : "";
        if (name.rfind("timer.", 0) == 0) name = name.substr(6);
        if (event == params.end()) {
            error(doc, p, "schedule has no \"event\"; expected a timer name such as \"engraving.reminder\" (it fires timer.<name>)");
            ok = false;
        } else if (!is_identifier(name)) {
            error(doc, p / "event", "expected \"event\" to be a timer name of a-z, 0-9, . _ - such as \"engraving.reminder\", found " + describe(*event));
            ok = false;
        } else {
            a.timer = "timer." + name;
            schedule_sites_.push_back({a.timer, site{doc, p / "event", false}});
        }
        if (ok) r.then.push_back(std::move(a));
    }

    // Conditions that can never all hold ("can never fire"): within one
    // "all" (or one field test with several operators), the same field must
    // equal two different values, equal a value it must not, lie outside its
    // "in" list, be missing and tested, or fall in an empty numeric range.
    void contradiction_warnings(std::size_t doc, const detail::condition& c) {
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
                    case op_kind::eq:
                        if (b.eq && *b.eq != op.operand) warn(op, t->field.path, "must equal both " + b.eq->dump() + " and " + op.operand.dump());
                        else if (std::find(b.excluded.begin(), b.excluded.end(), op.operand) != b.excluded.end()) warn(op, t->field.path, "must equal and not equal " + op.operand.dump());
                        else if (b.in && std::find(b.in->begin(), b.in->end(), op.operand) == b.in->end()) warn(op, t->field.path, "must equal " + op.operand.dump() + ", which its \"in\" list does not hold");
                        b.eq = op.operand;
                        b.tested = true;
                        break;
                    case op_kind::ne:
                        if (b.eq && *b.eq == op.operand) warn(op, t->field.path, "must equal and not equal " + op.operand.dump());
                        b.excluded.push_back(op.operand);
                        break;
                    case op_kind::in:
                        if (op.operand.is_array()) {
                            std::vector<json> list(op.operand.begin(), op.operand.end());
                            if (b.eq && std::find(list.begin(), list.end(), *b.eq) == list.end())
                                warn(op, t->field.path, "must equal " + b.eq->dump() + ", which this \"in\" list does not hold");
                            if (b.in) {
                                std::vector<json> both;
                                for (const auto& v : list)
                                    if (std::find(b.in->begin(), b.in->end(), v) != b.in->end()) both.push_back(v);
                                if (both.empty()) warn(op, t->field.path, "must be in two lists that share no value");
                                list = both;
                            }
                            b.in = list;
                            b.tested = true;
                        }
                        break;
                    case op_kind::exists:
                        if (!op.flag) b.missing = true;
                        else b.tested = true;
                        if (b.missing && b.tested) warn(op, t->field.path, "must be missing and present at once");
                        break;
                    case op_kind::gt: case op_kind::gte:
                        if (op.number > b.low || (op.number == b.low && op.kind == op_kind::gt)) { b.low = op.number; b.low_open = op.kind == op_kind::gt; }
                        b.tested = true;
                        if (b.low > b.high || (b.low == b.high && (b.low_open || b.high_open))) warn(op, t->field.path, "has no number in its range");
                        break;
                    case op_kind::lt: case op_kind::lte:
                        if (op.number < b.high || (op.number == b.high && op.kind == op_kind::lt)) { b.high = op.number; b.high_open = op.kind == op_kind::lt; }
                        b.tested = true;
                        if (b.low > b.high || (b.low == b.high && (b.low_open || b.high_open))) warn(op, t->field.path, "has no number in its range");
                        break;
                    default:
                        if (op.kind != op_kind::empty) b.tested = true;   // every other test needs a value
                        break;
                }
                if (b.missing && b.tested && op.kind != op_kind::exists) warn(op, t->field.path, "must be missing and present at once");
            }
        }
    }

    // A timer that no rule listens to would fire into the void.
    void check_timers() {
        std::set<std::string> heard;
        for (const auto& r : data_->rules)
            if (r.enabled) heard.insert(r.on.begin(), r.on.end());
        for (const auto& [timer, where] : schedule_sites_) {
            if (heard.count(timer)) continue;
            warning(where.doc, where.ptr, "no rule listens to \"" + timer + "\", so this timer fires without effect");
        }
    }

    // Per-rule guards, overriding the config's for this rule's messages:
    // {"quiet_hours": false | {"from": "21:00", "to": "09:00"},
    //  "messages_per_order_per_day": 2, "messages_per_buyer_per_day": 3,
    //  "cancelled": true (message cancelled orders too)}
    void compile_guards(std::size_t doc, const pointer& p, const json& g, detail::rule& r) {
        if (!g.is_object()) {
            error(doc, p, "expected \"guards\" to be an object such as {\"quiet_hours\": false}, found " + describe(g));
            return;
        }
        json out = json::object();
        auto hhmm = [](const json& v) -> int {
            if (!v.is_string()) return -1;
            const auto& t = v.get_ref<const std::string&>();
            if (t.size() != 5 || t[2] != ':' || !std::isdigit(static_cast<unsigned char>(t[0])) || !std::isdigit(static_cast<unsigned char>(t[1])) ||
                !std::isdigit(static_cast<unsigned char>(t[3])) || !std::isdigit(static_cast<unsigned char>(t[4])))
                return -1;
            int h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
            return h < 24 && m < 60 ? h * 60 + m : -1;
        };
        for (const auto& [key, value] : g.items()) {
            const pointer kp = p / key;
            if (std::find(guard_keys.begin(), guard_keys.end(), key) == guard_keys.end()) {
                error(doc, kp, with_hint("unknown guard \"" + key + "\"; allowed: " + join(guard_keys), did_you_mean(key, guard_keys)), true);
            } else if (key == "quiet_hours") {
                if (value.is_boolean() && !value.get<bool>()) {
                    out["quiet_hours"] = false;
                } else if (value.is_object() && value.size() == 2 && hhmm(value.value("from", json())) >= 0 && hhmm(value.value("to", json())) >= 0 &&
                           hhmm(value["from"]) != hhmm(value["to"])) {
                    out["quiet_hours"] = {{"from", hhmm(value["from"])}, {"to", hhmm(value["to"])}};
                } else {
                    error(doc, kp, "expected \"quiet_hours\" to be false (no quiet hours for this rule) or {\"from\": \"21:00\", \"to\": \"09:00\"}, found " + describe(value));
                }
            } else if (key == "cancelled") {
                if (value.is_boolean()) out["cancelled"] = value.get<bool>();
                else error(doc, kp, "expected \"cancelled\" to be true (message cancelled orders too) or false, found " + describe(value));
            } else {
                if (value.is_number_integer() && value.get<std::int64_t>() >= 1 && value.get<std::int64_t>() <= 1000) out[key] = value;
                else error(doc, kp, "expected \"" + key + "\" to be a whole number from 1 to 1000, found " + describe(value));
            }
        }
        r.guards = std::move(out);
    }

    // {"stop": true}: no further rules for this event.
    void compile_stop(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
        if (!(params.is_boolean() && params.get<bool>()) && !(params.is_object() && params.empty())) {
            error(doc, p, "expected {\"stop\": true}, found " + describe(params));
            return;
        }
        detail::action a;
        a.kind = "stop";
        r.then.push_back(std::move(a));
        r.stops = true;
    }

    // ---- conditions ---------------------------------------------------------

    // Compiles a condition object. `element_list` names the list whose
    // elements the condition tests ("order.line_items"), empty at top level.
    bool compile_condition(std::size_t doc, const pointer& ptr, const json& node, std::string_view element_list,
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
                if (!compile_test(doc, kp, value, std::move(*ref), part)) ok = false;
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
    bool compile_test(std::size_t doc, const pointer& ptr, const json& ops, detail::field_ref ref, detail::condition& out) {
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
                        op.operand = operand;
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
                        }
                    }
                    break;
                case op_kind::gt:
                case op_kind::gte:
                case op_kind::lt:
                case op_kind::lte:
                    if (!operand.is_number()) {
                        reject(p, "expected a number for \"" + name + "\", found " + describe(operand), false);
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
                                         : compile_test(doc, p, operand, detail::make_element_ref("", field_type::string), *nested);
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

    std::vector<jsonc_document> docs_;
    std::vector<diagnostic> diags_;
    std::unique_ptr<detail::ruleset_data> data_ = std::make_unique<detail::ruleset_data>();
    std::map<std::string, site> rule_sites_;
    std::map<std::string, site> template_sites_;
    std::vector<std::pair<std::string, site>> schedule_sites_;
    std::unordered_map<std::string, std::size_t> template_index_;
    std::vector<template_ref> refs_;
    std::map<std::string, int> file_order_;
    std::unordered_map<std::string, std::uint32_t> field_ids_;
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;
    std::size_t rules_seen_ = 0;       // against max_rules
    std::size_t templates_seen_ = 0;   // against max_templates
};

}  // namespace

ruleset::ruleset(std::unique_ptr<const detail::ruleset_data> data) : data_(std::move(data)) {}
ruleset::~ruleset() = default;

std::size_t ruleset::size() const { return data_->rules.size(); }
const std::string& ruleset::hash() const { return data_->hash; }

std::vector<std::string> ruleset::rule_ids() const {
    std::vector<std::string> out;
    out.reserve(data_->rules.size());
    for (const auto& r : data_->rules) out.push_back(r.id);
    return out;
}

std::vector<std::string> ruleset::template_names() const {
    std::vector<std::string> out;
    for (const auto& t : data_->templates) out.push_back(t.name);
    std::sort(out.begin(), out.end());
    return out;
}

bool ruleset::handles(std::string_view event) const { return data_->by_event.count(std::string(event)) > 0; }

bool load_result::ok() const {
    return rules != nullptr &&
           std::none_of(diagnostics.begin(), diagnostics.end(), [](const diagnostic& d) { return !d.warning; });
}

namespace {

// The messages spell the limits out for people too.
static_assert(max_rule_file_bytes == 1024 * 1024 && max_rule_directory_bytes == 4 * 1024 * 1024);
const std::string file_limit = "the limit for one rule file is " + std::to_string(max_rule_file_bytes) +
                               " bytes (1 MiB); split it into several files";
const std::string directory_limit = "the limit for all rule files together is " +
                                    std::to_string(max_rule_directory_bytes) +
                                    " bytes (4 MiB); remove files that are not needed";

}  // namespace

load_result load_files(const std::vector<std::filesystem::path>& files) {
    loader l;
    std::uintmax_t total = 0;
    for (const auto& f : files) {
        // Sizes are checked before reading, so an oversized file costs a
        // stat, not its bytes. A file without a size (not a regular file)
        // is bounded by the read itself.
        std::error_code ec;
        const std::uintmax_t size = std::filesystem::file_size(f, ec);
        if (!ec && size > max_rule_file_bytes) {
            l.add_failure(diagnostic{f.string(), 0, 0, "file is " + std::to_string(size) + " bytes; " + file_limit, false});
            continue;
        }
        const std::uintmax_t room = max_rule_directory_bytes - total;
        if (!ec && size > room) {
            l.add_failure(diagnostic{f.string(), 0, 0,
                                     "file is " + std::to_string(size) + " bytes and the rule files before it " +
                                         std::to_string(total) + " bytes; " + directory_limit +
                                         " (this file and the ones after it were not read)",
                                     false});
            break;
        }
        auto bytes = room >= max_rule_file_bytes ? detail::read_file_bytes(f, max_rule_file_bytes, file_limit)
                                                 : detail::read_file_bytes(f, room, directory_limit);
        if (auto* d = std::get_if<diagnostic>(&bytes)) {
            l.add_failure(std::move(*d));
        } else {
            total += std::get<std::string>(bytes).size();
            l.add_file(f.string(), std::get<std::string>(bytes));
        }
    }
    return l.finish();
}

load_result load_text(std::string_view text, std::string file_name) {
    loader l;
    if (text.size() > max_rule_file_bytes) {
        l.add_failure(diagnostic{file_name, 0, 0, "file is " + std::to_string(text.size()) + " bytes; " + file_limit, false});
    } else {
        l.add_file(file_name, text);
    }
    return l.finish();
}

load_result load_directory(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    auto failure = [&](std::string message) {
        load_result r;
        r.diagnostics.push_back(diagnostic{dir.string(), 0, 0, std::move(message), false});
        return r;
    };
    std::error_code ec;
    auto status = fs::status(dir, ec);
    if (ec || !fs::exists(status)) {
        return failure("cannot read rules directory: " + (ec ? ec.message() : std::string("No such file or directory")));
    }
    if (!fs::is_directory(status)) return failure("rules directory is not a directory");
    std::vector<fs::path> files;
    fs::directory_iterator end;
    for (fs::directory_iterator it(dir, ec); !ec && it != end; it.increment(ec)) {
        const auto& path = it->path();
        std::string name = path.filename().string();
        if (name.empty() || name.front() == '.' || path.extension() != ".json") continue;
        std::error_code type_ec;
        if (!it->is_regular_file(type_ec)) continue;
        files.push_back(path);
    }
    if (ec) return failure("cannot read rules directory: " + ec.message());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    return load_files(files);
}

}  // namespace orderflow::rules
