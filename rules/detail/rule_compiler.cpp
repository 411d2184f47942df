// Compiling one rule object of a rule file: its id, events ("on"), mode,
// once_per scope, guards, locale and actions ("then"), each checked and
// turned into the compiled form of rules/detail/compiled.hpp, with a
// diagnostic at the exact key for every mistake. Part of the loader
// (rules/detail/loader.hpp); the rule's "if" condition is compiled in
// rules/detail/condition_compiler.cpp, its templates resolved in
// rules/ruleset.cpp once every file is read.
#include "rules/detail/loader.hpp"

#include "rules/fields.hpp"

#include "common/duration.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <set>

namespace orderflow::rules::detail {

namespace {

const std::vector<std::string_view> rule_keys = {"id", "description", "on", "if", "then",
                                                 "enabled", "mode", "once_per", "locale", "guards"};
const std::vector<std::string_view> guard_keys = {"quiet_hours", "messages_per_order_per_day", "messages_per_buyer_per_day",
                                                  "cancelled"};
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

std::string join_on(const rule& r) {
    std::string out;
    for (const auto& e : r.on) out += (out.empty() ? "" : ", ") + e;
    return out;
}

}  // namespace

// ---- rules --------------------------------------------------------------

void loader::compile_rule(std::size_t doc, const pointer& ptr, const json& node) {
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
        if (r.has_condition) package_field_warnings(doc, r, r.when);
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

void loader::compile_on(std::size_t doc, const pointer& ptr, const json& node, detail::rule& r) {
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

void loader::scope_warnings(std::size_t doc, const pointer& ptr, const json& node, const detail::rule& r) {
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
bool loader::known_params(std::size_t doc, const pointer& p, const std::string& action, const json& params,
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

void loader::compile_action(std::size_t doc, const pointer& ptr, const json& node, detail::rule& r, std::vector<template_ref>& refs) {
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
void loader::compile_flag_review(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
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
void loader::compile_update_tracking(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
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
void loader::compile_tag(std::size_t doc, const pointer& p, const std::string& name, const json& params, detail::rule& r) {
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
void loader::compile_schedule(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
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

// A timer that no rule listens to would fire into the void.
void loader::check_timers() {
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
void loader::compile_guards(std::size_t doc, const pointer& p, const json& g, detail::rule& r) {
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
void loader::compile_stop(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
    if (!(params.is_boolean() && params.get<bool>()) && !(params.is_object() && params.empty())) {
        error(doc, p, "expected {\"stop\": true}, found " + describe(params));
        return;
    }
    detail::action a;
    a.kind = "stop";
    r.then.push_back(std::move(a));
    r.stops = true;
}

}  // namespace orderflow::rules::detail
