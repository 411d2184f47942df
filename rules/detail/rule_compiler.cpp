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
                                                          "tag",          "untag", "schedule",        "capture", "stop"};
const std::vector<std::string_view> update_tracking_keys = {"carrier"};
const std::vector<std::string_view> schedule_keys = {"after", "before", "at", "event"};
const std::vector<std::string_view> capture_keys = {"attribute"};
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
    rule_id_ = id != node.end() && id->is_string() ? id->get<std::string>() : std::string();
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
    if (r.has_condition) after_sales_warnings(doc, r, r.when);

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
    // Shop events and new conversations come without an order: nothing to
    // tag. A buyer message has one when it could be linked (its rules test
    // conversation.order_link; an action needing an order is skipped otherwise).
    const bool orderless = std::all_of(r.on.begin(), r.on.end(), [](const std::string& e) {
        return e == "conversation.created" || e.rfind("shop.", 0) == 0;
    });
    if (orderless)
        for (std::size_t i = 0; i < r.then.size(); ++i)
            if (r.then[i].kind == "tag" || r.then[i].kind == "untag" || r.then[i].kind == "schedule")
                warning(doc, ptr / "then" / i, "\"" + r.then[i].kind + "\" needs an order, but " + join_on(r) +
                                                   " carries none; it will be skipped");
    if (!orderless) anchor_warnings(doc, ptr, r);
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

// A schedule "at" an order's (or a message's) time, in a rule some of whose
// events carry no order (no message): for those events the time is missing,
// and the schedule is skipped with a review item.
void loader::anchor_warnings(std::size_t doc, const pointer& ptr, const detail::rule& r) {
    for (std::size_t i = 0; i < r.then.size(); ++i) {
        const auto& a = r.then[i];
        if (a.kind != "schedule" || !a.anchored) continue;
        std::vector<std::string> without;
        for (const auto& e : r.on) {
            // A buyer message has its order when it is linked to one (docs/rules.md); the others never.
            const bool has_order = !(e == "conversation.created" || e.rfind("shop.", 0) == 0);
            const bool has_message = e == "message.received";
            if ((a.anchor.root == detail::root_kind::order && !has_order) || (a.anchor.root == detail::root_kind::message && !has_message))
                without.push_back(e);
        }
        if (without.empty()) continue;
        std::string events;
        for (const auto& e : without) events += (events.empty() ? "" : ", ") + e;
        warning(doc, ptr / "then" / i / "schedule" / "at",
                "\"at\": \"" + a.anchor.path + "\" has no value for " + events + "; there the schedule is skipped with a review item");
    }
}

// After-sales fields exist only on their own events: a test of
// event.cancel_status in a rule that does not listen to
// order.cancellation_changed always sees the field missing. So do a buyer
// message's fields (message.*, conversation.*) outside message.received.
void loader::after_sales_warnings(std::size_t doc, const detail::rule& r, const detail::condition& c) {
    for (const auto& child : c.children) after_sales_warnings(doc, r, child);
    if (c.k != detail::condition::kind::test || r.on.empty()) return;
    auto listens = [&](std::string_view e) { return std::find(r.on.begin(), r.on.end(), e) != r.on.end(); };
    static const std::set<std::string> cancel_fields = {"event.cancel_id", "event.cancel_status", "event.cancellations_role"};
    static const std::set<std::string> return_fields = {"event.return_id", "event.return_type", "event.return_status",
                                                        "event.return_role"};
    std::string needs;
    if (c.field.root == root_kind::message || c.field.root == root_kind::conversation) {
        if (!listens("message.received")) needs = "message.received";
    } else if (cancel_fields.count(c.field.path) && !listens("order.cancellation_changed")) needs = "order.cancellation_changed";
    else if (return_fields.count(c.field.path) && !listens("order.return_changed")) needs = "order.return_changed";
    else if (c.field.path == "event.create_time" && !listens("order.cancellation_changed") && !listens("order.return_changed"))
        needs = "order.cancellation_changed or order.return_changed";
    if (needs.empty()) return;
    diagnostic d;
    d.file = docs_[doc].file();
    d.line = c.at.line;
    d.column = c.at.column;
    d.warning = true;
    d.message = c.field.path + " is set only on " + needs + ", and this rule listens to " + join_on(r) +
                ": here it is always missing";
    diags_.push_back(std::move(d));
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
    if (name == "capture") return compile_capture(doc, p, params, r);
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
// With "at", the time counts from a timestamp of the event instead of from
// now: {"schedule": {"before": "6h", "at": "order.rts_sla_time", "event": "sla.warning"}}
// fires 6 h before the order's ready-to-ship deadline, {"after": "1h", "at": ...}
// an hour after it, and "at" alone at that very time (docs/rules.md, "Actions").
void loader::compile_schedule(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
    if (!params.is_object()) {
        error(doc, p, "expected schedule parameters such as {\"after\": \"24h\", \"event\": \"engraving.reminder\"}, found " + describe(params));
        return;
    }
    bool ok = known_params(doc, p, "schedule", params, schedule_keys);
    detail::action a;
    a.kind = "schedule";
    ok = compile_schedule_anchor(doc, p, params, a) && ok;
    ok = compile_schedule_offset(doc, p, params, a) && ok;
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

// "at": a timestamp field of the catalogue, such as "order.rts_sla_time".
// Absent: the timer counts from when it is planned. False on an error.
bool loader::compile_schedule_anchor(std::size_t doc, const pointer& p, const json& params, detail::action& a) {
    auto at = params.find("at");
    if (at == params.end()) return true;
    std::vector<std::string_view> timestamps;
    for (const auto& f : field_catalogue())
        if (f.type == field_type::timestamp) timestamps.push_back(f.path);
    const std::string path = at->is_string() ? at->get<std::string>() : "";
    auto info = find_field(path);
    if (!at->is_string() || !info) {
        error(doc, p / "at", with_hint("expected \"at\" to name a timestamp field such as \"order.rts_sla_time\", found " + describe(*at),
                                       path.empty() ? "timestamp fields: " + join(timestamps) : did_you_mean(path, timestamps)));
        return false;
    }
    if (info->type != field_type::timestamp) {
        error(doc, p / "at", "\"at\" must name a timestamp field, but " + path + " is a " + std::string(type_name(info->type)) +
                                 "; timestamp fields: " + join(timestamps));
        return false;
    }
    a.anchored = true;
    a.anchor = *make_field_ref(path);
    return true;
}

// "after" (from now, or after "at") or "before" (only with "at"): a
// duration above zero. "at" alone fires at that time. False on an error.
bool loader::compile_schedule_offset(std::size_t doc, const pointer& p, const json& params, detail::action& a) {
    auto after = params.find("after"), before = params.find("before");
    if (after != params.end() && before != params.end()) {
        error(doc, p / "before", "schedule takes \"after\" or \"before\", not both");
        return false;
    }
    if (before != params.end() && !a.anchored) {
        error(doc, p / "before", "\"before\" needs \"at\": the timestamp to count back from, such as \"at\": \"order.rts_sla_time\"");
        return false;
    }
    if (after == params.end() && before == params.end()) {
        if (a.anchored || params.contains("at")) return a.anchored;   // at the time itself (or "at" was already reported)
        error(doc, p, "schedule has no \"after\"; expected a duration such as \"24h\", or \"at\" with a timestamp such as \"order.rts_sla_time\"");
        return false;
    }
    const bool is_before = before != params.end();
    const json& written = is_before ? *before : *after;
    const char* key = is_before ? "before" : "after";
    std::optional<std::chrono::seconds> d;
    if (written.is_string()) d = parse_duration(written.get<std::string>());
    if (!d || d->count() <= 0) {
        error(doc, p / key, std::string("expected \"") + key + "\" to be a duration such as \"30m\", \"24h\" or \"3d\", found " + describe(written));
        return false;
    }
    a.after_s = is_before ? -d->count() : d->count();
    return true;
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

namespace orderflow::rules::detail {

// {"capture": {"attribute": "engraving"}}: the buyer's text, kept as
// order.attributes.engraving on the order the message is linked to.
void loader::compile_capture(std::size_t doc, const pointer& p, const json& params, detail::rule& r) {
    const bool only_messages = !r.on.empty() && std::all_of(r.on.begin(), r.on.end(), [](const std::string& e) {
        return e == "message.received";
    });
    if (!only_messages) {
        error(doc, p, "\"capture\" keeps what a buyer wrote: the rule must listen only to \"message.received\"", true);
        return;
    }
    if (!params.is_object()) {
        error(doc, p, "expected capture parameters such as {\"attribute\": \"engraving\"}, found " + describe(params));
        return;
    }
    bool ok = known_params(doc, p, "capture", params, capture_keys);
    auto attribute = params.find("attribute");
    if (attribute == params.end()) {
        error(doc, p, "capture has no \"attribute\"; expected the name to keep the answer as, such as \"engraving\" (order.attributes.engraving)");
        return;
    }
    if (!attribute->is_string() || !is_code(attribute->get<std::string>(), false)) {
        error(doc, p / "attribute", "expected \"attribute\" to be a name of lower-case letters, digits, _ - . : (at most 64), such as \"engraving\", found " +
                                        describe(*attribute));
        return;
    }
    if (!ok) return;
    detail::action a;
    a.kind = "capture";
    a.attribute = attribute->get<std::string>();
    r.then.push_back(std::move(a));
}

}  // namespace orderflow::rules::detail
