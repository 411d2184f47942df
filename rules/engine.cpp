// Condition evaluation over the compiled trees and action planning
// (locale choice, template rendering, key material), and the trace of the
// same evaluation for operators (`explain`).
#include "rules/engine.hpp"

#include "rules/detail/compiled.hpp"
#include "rules/detail/text.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <optional>

namespace orderflow::rules {

namespace {

using json = nlohmann::json;
using detail::condition;
using detail::op_kind;
using detail::operation;

bool equals(const json* value, const json& operand) {
    if (operand.is_null()) return value == nullptr;
    return value != nullptr && detail::loose_equal(*value, operand);
}

bool is_empty(const json* value) {
    if (!value) return true;
    if (value->is_string()) return detail::is_blank(value->get_ref<const std::string&>());
    if (value->is_array() || value->is_object()) return value->empty();
    return false;
}

// The value's text for contains/matches; false when it has none.
bool text_of(const json* value, std::string& buffer, const std::string*& text) {
    if (!value) return false;
    if (value->is_string()) {
        text = &value->get_ref<const std::string&>();
        return true;
    }
    buffer.clear();
    if (!detail::append_scalar(*value, buffer)) return false;
    text = &buffer;
    return true;
}

// Per-evaluation memory: each catalogue field is resolved once per event
// (many rules test order.status), and each text is folded once for
// `contains`. Kept thread_local and reused, so steady-state evaluation of
// rules that do not fire allocates nothing.
class eval_state {
public:
    void reset(const context& ctx, std::size_t field_count) {
        ctx_ = &ctx;
        values_.assign(field_count, nullptr);
        resolved_.assign(field_count, 0);
        previous_resolved_.assign(field_count, 0);
        previous_values_.resize(field_count);
        folds_used_ = 0;
    }

    const context& ctx() const { return *ctx_; }

    const json* value(const detail::field_ref& ref, const json* element) {
        if (ref.id == detail::field_ref::no_id) return detail::resolve(ref, *ctx_, element);
        if (!resolved_[ref.id]) {
            values_[ref.id] = detail::resolve(ref, *ctx_, element);
            resolved_[ref.id] = 1;
        }
        return values_[ref.id];
    }

    // The value of `ref` in the previous order view (changed_to/changed_from),
    // resolved once per event like value().
    const json* previous(const detail::field_ref& ref) {
        if (ref.id == detail::field_ref::no_id) return detail::resolve_in(ref, ctx_->previous_order);
        if (!previous_resolved_[ref.id]) {
            previous_values_[ref.id] = detail::resolve_in(ref, ctx_->previous_order);
            previous_resolved_[ref.id] = 1;
        }
        return previous_values_[ref.id];
    }

    // The folded form of `text`, which lives inside `key` (a JSON value of the context).
    const std::string& folded(const json* key, std::string_view text) {
        for (std::size_t i = 0; i < folds_used_; ++i) {
            if (folds_[i].first == key) return folds_[i].second;
        }
        if (folds_used_ == folds_.size()) {
            if (folds_.size() >= max_folds) {
                scratch_.clear();
                detail::fold(text, scratch_);
                return scratch_;
            }
            folds_.emplace_back();
        }
        auto& slot = folds_[folds_used_++];
        slot.first = key;
        slot.second.clear();
        detail::fold(text, slot.second);
        return slot.second;
    }

    std::string& scratch_text() { return text_; }

private:
    static constexpr std::size_t max_folds = 32;
    const context* ctx_ = nullptr;
    std::vector<const json*> values_;
    std::vector<std::uint8_t> resolved_;
    std::vector<const json*> previous_values_;
    std::vector<std::uint8_t> previous_resolved_;
    std::vector<std::pair<const json*, std::string>> folds_;
    std::size_t folds_used_ = 0;
    std::string scratch_;
    std::string text_;
};

bool holds(const condition& c, eval_state& state, const json* element);

bool apply(const operation& op, const json* value, const condition& test, eval_state& state) {
    switch (op.kind) {
        case op_kind::eq: return equals(value, op.operand);
        case op_kind::ne: return !equals(value, op.operand);
        case op_kind::in:
            return std::any_of(op.operand.begin(), op.operand.end(), [&](const json& v) { return equals(value, v); });
        case op_kind::not_in:
            return std::none_of(op.operand.begin(), op.operand.end(), [&](const json& v) { return equals(value, v); });
        case op_kind::exists: return (value != nullptr) == op.flag;
        case op_kind::empty: return is_empty(value) == op.flag;
        case op_kind::contains: {
            if (!value) return false;
            if (value->is_array()) {
                return std::any_of(value->begin(), value->end(), [&](const json& e) {
                    return e.is_string() && state.folded(&e, e.get_ref<const std::string&>()) == op.folded;
                });
            }
            const std::string* text = nullptr;
            if (!text_of(value, state.scratch_text(), text)) return false;
            return state.folded(value, *text).find(op.folded) != std::string::npos;
        }
        case op_kind::matches: {
            const std::string* text = nullptr;
            if (!text_of(value, state.scratch_text(), text)) return false;
            return RE2::PartialMatch(*text, *op.regex);
        }
        case op_kind::gt:
        case op_kind::gte:
        case op_kind::lt:
        case op_kind::lte: {
            if (!value) return false;
            auto n = detail::as_number(*value);
            if (!n) return false;
            switch (op.kind) {
                case op_kind::gt: return *n > op.number;
                case op_kind::gte: return *n >= op.number;
                case op_kind::lt: return *n < op.number;
                default: return *n <= op.number;
            }
        }
        case op_kind::older_than:
        case op_kind::within: {
            if (!value) return false;
            auto ts = detail::as_number(*value);
            if (!ts) return false;
            double age = static_cast<double>(state.ctx().now) - *ts;
            return op.kind == op_kind::older_than ? age > static_cast<double>(op.seconds)
                                                  : age <= static_cast<double>(op.seconds);
        }
        case op_kind::changed_to:
        case op_kind::changed_from: {
            bool now_is = equals(value, op.operand);
            // The change itself taken as given (context::edges_given): only
            // the present is tested, as the side of the edge it ends on.
            if (state.ctx().edges_given) return op.kind == op_kind::changed_to ? now_is : !now_is;
            const json* before = state.previous(test.field);
            bool was = equals(before, op.operand);
            return op.kind == op_kind::changed_to ? now_is && !was : was && !now_is;
        }
        case op_kind::any:
        case op_kind::all: {
            if (!value || !value->is_array()) return false;
            auto element_holds = [&](const json& e) { return holds(*op.nested, state, &e); };
            return op.kind == op_kind::any ? std::any_of(value->begin(), value->end(), element_holds)
                                           : std::all_of(value->begin(), value->end(), element_holds);
        }
    }
    return false;
}

bool holds(const condition& c, eval_state& state, const json* element) {
    switch (c.k) {
        case condition::kind::all:
            return std::all_of(c.children.begin(), c.children.end(), [&](const condition& x) { return holds(x, state, element); });
        case condition::kind::any:
            return std::any_of(c.children.begin(), c.children.end(), [&](const condition& x) { return holds(x, state, element); });
        case condition::kind::negate: return !holds(c.children.front(), state, element);
        case condition::kind::test: {
            const json* value = state.value(c.field, element);
            return std::all_of(c.ops.begin(), c.ops.end(), [&](const operation& op) { return apply(op, value, c, state); });
        }
    }
    return false;
}

// The text of `root[key]` when it is a string or a number; "" otherwise.
std::string string_at(const json& root, const char* key) {
    if (!root.is_object()) return {};
    auto it = root.find(key);
    if (it == root.end()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
    return {};
}

// Appends the text of `root[key]` (non-empty scalar) to key material.
bool append_scope_value(const json& root, const char* key, std::string& out) {
    if (!root.is_object()) return false;
    auto it = root.find(key);
    if (it == root.end()) return false;
    std::size_t before = out.size();
    out.push_back('\x1f');
    if (!detail::append_scalar(*it, out) || out.size() == before + 1) {
        out.resize(before);
        return false;
    }
    return true;
}

bool append_scope(detail::scope scope, const context& ctx, std::string& out) {
    switch (scope) {
        case detail::scope::order: return append_scope_value(ctx.order, "id", out);
        case detail::scope::package:
            return append_scope_value(ctx.event_data, "package_id", out) || append_scope_value(ctx.order, "id", out);
        case detail::scope::order_status:
            return append_scope_value(ctx.order, "id", out) && append_scope_value(ctx.order, "status", out);
        case detail::scope::message: return append_scope_value(ctx.message, "id", out);
        case detail::scope::event:
            if (ctx.event_id.empty()) return false;
            out.push_back('\x1f');
            out += ctx.event_id;
            return true;
    }
    return false;
}

// Locale order: the action's, the rule's, the context default, then "en";
// a template without any of them uses its first text.
const detail::template_variant& choose_variant(const detail::message_template& t, const detail::action& a,
                                               const detail::rule& r, const context& ctx, std::string& locale) {
    const std::string* candidates[] = {&a.locale, &r.locale, &ctx.default_locale, nullptr};
    static const std::string english = "en";
    candidates[3] = &english;
    for (const std::string* c : candidates) {
        if (c->empty()) continue;
        for (const auto& v : t.variants) {
            if (v.locale.empty() || v.locale == *c) {
                locale = v.locale.empty() ? *c : v.locale;
                return v;
            }
        }
    }
    const auto& first = t.variants.front();
    locale = first.locale;
    return first;
}

// A schedule "at" a timestamp of the event (docs/rules.md, "Actions"): it
// fires at that time plus after_s (minus, for "before"); a time already past
// fires at once. The timestamp is part of the key, so the same deadline seen
// again plans nothing new while a moved deadline gets a timer of its own. A
// missing timestamp is an error, as a missing template value is: the daemon
// skips the action with a review item rather than guess a time.
template <typename per_event>
planned_action plan_anchored(const detail::action& a, const context& ctx, planned_action p, std::string key, bool scoped,
                             const per_event& per_event_key) {
    p.params = {{"event", a.timer}, {"at", a.anchor.path}, {"offset_s", a.after_s}};
    if (!scoped) return p;
    const json* value = detail::resolve(a.anchor, ctx);
    const auto anchor = value ? detail::as_number(*value) : std::nullopt;
    if (!anchor || *anchor <= 0) {
        p.error = "missing value for " + a.anchor.path;
        p.key_material = per_event_key();
        return p;
    }
    const auto at = static_cast<std::int64_t>(*anchor);
    p.params["anchor"] = at;
    p.params["fire_at"] = at + a.after_s;
    p.params["after_s"] = std::max<std::int64_t>(0, at + a.after_s - ctx.now);
    key.push_back('\x1f');
    key += a.anchor.path;
    p.series_material = key;
    key.push_back('=');
    key += std::to_string(at);
    p.key_material = std::move(key);
    return p;
}

planned_action plan_one(const detail::ruleset_data& data, const detail::rule& r, std::size_t index, const context& ctx) {
    const detail::action& a = r.then[index];
    planned_action p;
    p.rule_id = r.id;
    p.index = static_cast<int>(index);
    p.kind = a.kind;
    p.once_per = r.once_per_name;
    p.shadow = r.shadow;

    // rule id, index, once_per: the prefix of every key this action can have.
    std::string key = r.id;
    key.push_back('\x1f');
    key += std::to_string(index);
    key.push_back('\x1f');
    key += r.once_per_name;
    // An action that cannot be prepared is keyed to this event, not to its
    // scope: the daemon records the skip for this event, and a later event
    // that can be prepared still gets the real key (an error never sends, so
    // this cannot double anything).
    const std::size_t prefix = key.size();
    auto per_event_key = [&] { return key.substr(0, prefix) + "\x1f!error\x1f" + ctx.event_id; };   // built only on an error
    const bool scoped = append_scope(r.once_per, ctx, key);
    if (!scoped) {
        p.error = "no " + r.once_per_name + " for once_per";
        p.key_material = per_event_key();
    }

    if (a.kind == "update_tracking") {
        // The tracking number and carrier are part of the key: the same
        // number twice is one update, a corrected number is a new one.
        std::string carrier = a.carrier.empty() ? string_at(ctx.event_data, "carrier") : a.carrier;
        std::string number = string_at(ctx.event_data, "tracking_number");
        p.params = {{"order_id", string_at(ctx.order, "id")},
                    {"package_id", string_at(ctx.event_data, "package_id")},
                    {"carrier", carrier},
                    {"tracking_number", number}};
        if (!scoped) return p;
        if (number.empty() || carrier.empty()) {
            p.error = number.empty() ? "missing value for event.tracking_number" : "missing value for event.carrier";
            p.key_material = per_event_key();
            return p;
        }
        key.push_back('\x1f');
        key += number;
        key.push_back('\x1f');
        key += carrier;
        p.key_material = std::move(key);
        return p;
    }
    if (a.kind == "capture") {
        // The buyer's words, for the order the message was linked to. Without
        // an order there is nothing to keep them on: a visible skip, keyed to
        // this event, never a silent no-op.
        std::string text = string_at(ctx.message, "text");
        p.params = {{"attribute", a.attribute}, {"message_id", string_at(ctx.message, "id")}};
        if (string_at(ctx.order, "id").empty()) {
            const std::string link = string_at(ctx.conversation, "order_link");
            p.error = "no order to keep the answer on: the message was not linked to one order" +
                      (link.empty() ? std::string() : " (conversation.order_link " + link + ")");
            p.key_material = per_event_key();
            return p;
        }
        if (!scoped) return p;
        if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
            p.error = "missing value for message.text";
            p.key_material = per_event_key();
            return p;
        }
        p.params["value"] = std::move(text);
        p.key_material = std::move(key);
        return p;
    }
    // `key` by copy: per_event_key reads it if the anchor turns out missing.
    if (a.kind == "schedule" && a.anchored) return plan_anchored(a, ctx, std::move(p), key, scoped, per_event_key);
    if (a.kind == "flag_review" || a.kind == "tag" || a.kind == "untag" || a.kind == "schedule") {
        if (a.kind == "flag_review") p.params = {{"reason", a.reason}, {"severity", a.severity}, {"note", a.note}};
        else if (a.kind == "schedule") p.params = {{"event", a.timer}, {"after_s", a.after_s}, {"fire_at", ctx.now + a.after_s}};
        else p.params = {{"tag", a.tag}};
        if (scoped) p.key_material = std::move(key);
        return p;
    }

    const auto& t = data.templates[a.template_index];
    std::string locale;
    const auto& variant = choose_variant(t, a, r, ctx, locale);
    p.params = json::object();
    p.params["template"] = t.name;
    p.params["locale"] = locale;
    if (!scoped) return p;
    auto rendered = variant.text.render(ctx);
    if (!rendered.ok()) {
        p.error = std::move(rendered.error);
        p.key_material = per_event_key();
        return p;
    }
    p.key_material = std::move(key);
    p.params["text"] = std::move(rendered.text);
    if (r.guards.is_object() && !r.guards.empty()) p.params["guards"] = r.guards;
    return p;
}

// A shadow rule's keys end in "shadow" (docs/rules.md, "Once per"): its row
// records what would happen and sends nothing, so it must not use up the key
// the rule's live action will have. Once the rule is live, the first real
// effect for a scope is the live row; switching back and forth again meets
// the same two keys, so nothing happens twice.
planned_action plan(const detail::ruleset_data& data, const detail::rule& r, std::size_t index, const context& ctx) {
    planned_action p = plan_one(data, r, index, ctx);
    if (r.shadow && !p.key_material.empty()) p.key_material += "\x1fshadow";
    return p;
}

// ---- explain ----------------------------------------------------------------
//
// `blame` walks a condition that does not hold down to the part that made it
// false. It decides nothing itself: every true/false comes from `holds` and
// `apply`, the functions evaluate runs, so the trace cannot drift from the
// real evaluation.

std::optional<json> seen_value(const json* value) {
    if (!value) return std::nullopt;
    return *value;
}

condition_failure blame(const detail::rule& r, const condition& c, eval_state& state, const json* element);

// The failure of one operation of a test, with the value it saw.
condition_failure blame_operation(const detail::rule& r, const condition& test, const operation& op, const json* value,
                                  eval_state& state) {
    condition_failure f;
    f.file = r.file;
    f.line = op.at.line;
    f.column = op.at.column;
    f.field = test.field.path.empty() ? "the element" : test.field.path;
    f.op = std::string(detail::op_name(op.kind));
    f.operand = op.written;
    f.seen = seen_value(value);
    if ((op.kind == op_kind::changed_to || op.kind == op_kind::changed_from) && !state.ctx().edges_given) {
        f.has_before = true;
        f.before = seen_value(detail::resolve_in(test.field, state.ctx().previous_order));
    }
    if ((op.kind == op_kind::any || op.kind == op_kind::all) && value && value->is_array()) {
        // Name the element that decided it: for "all" the first that fails;
        // for "any" (none holds) the first element's reason.
        std::size_t index = 0;
        for (const json& e : *value) {
            if (!holds(*op.nested, state, &e)) {
                condition_failure inner = blame(r, *op.nested, state, &e);
                std::string shown = inner.to_string();
                // The element's failure without its file name: it is in the same file.
                if (auto at = shown.find(": "); at != std::string::npos) shown = shown.substr(at + 2);
                f.note = (op.kind == op_kind::any ? "no element matched; element " : "element ") + std::to_string(index) +
                         ": " + shown;
                break;
            }
            ++index;
        }
        if (value->empty()) f.note = "the list is empty";
    }
    return f;
}

condition_failure blame(const detail::rule& r, const condition& c, eval_state& state, const json* element) {
    switch (c.k) {
        case condition::kind::all:
            for (const auto& child : c.children) {
                if (!holds(child, state, element)) return blame(r, child, state, element);
            }
            break;
        case condition::kind::any: {
            // Every alternative failed; the first one's reason stands for them.
            condition_failure f = blame(r, c.children.front(), state, element);
            std::string note = "none of the " + std::to_string(c.children.size()) + " alternatives of \"any\" held; the first failed";
            f.note = f.note.empty() ? note : note + "; " + f.note;
            return f;
        }
        case condition::kind::negate: {
            const condition& inner = c.children.front();
            condition_failure f;
            f.file = r.file;
            f.line = c.at.line;
            f.column = c.at.column;
            f.op = "not";
            if (inner.k == condition::kind::test && inner.ops.size() == 1) {
                const auto& op = inner.ops.front();
                const json* value = state.value(inner.field, element);
                f.field = inner.field.path;
                f.op = "not " + std::string(detail::op_name(op.kind));
                f.operand = op.written;
                f.seen = seen_value(value);
            } else {
                f.note = "the negated condition held";
            }
            return f;
        }
        case condition::kind::test: {
            const json* value = state.value(c.field, element);
            for (const auto& op : c.ops) {
                if (!apply(op, value, c, state)) return blame_operation(r, c, op, value, state);
            }
            break;
        }
    }
    // Only reached when `c` holds after all, which callers rule out.
    condition_failure f;
    f.file = r.file;
    f.line = c.at.line;
    f.column = c.at.column;
    f.note = "the condition holds";
    return f;
}

// A JSON value for one line of output: compact, UTF-8 kept, at most ~120 bytes.
std::string short_json(const json& v) {
    std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
    constexpr std::size_t limit = 120;
    if (text.size() <= limit) return text;
    std::size_t cut = limit - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    text.resize(cut);
    text += "…";
    return text;
}

std::string shown_value(const std::optional<json>& v) { return v ? short_json(*v) : "(missing)"; }

}  // namespace

std::string condition_failure::to_string() const {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
    out += ": ";
    if (!field.empty()) out += field + " ";
    out += op;
    if (op != "not" || !field.empty()) out += " " + short_json(operand);
    if (op != "not" || !field.empty()) {
        out += ": saw " + shown_value(seen);
        if (has_before) out += ", before " + shown_value(before);
    }
    if (!note.empty()) out += " (" + note + ")";
    return out;
}

std::vector<rule_trace> explain(const ruleset& rules, const context& ctx) {
    const detail::ruleset_data& data = *rules.data_;
    std::vector<rule_trace> out;
    out.reserve(data.rules.size());
    eval_state state;
    state.reset(ctx, data.field_count);
    bool stopped = false;   // an earlier matched rule had {"stop": true}
    for (const detail::rule& r : data.rules) {
        rule_trace t;
        t.rule_id = r.id;
        t.file = r.file;
        t.line = r.at.line;
        t.column = r.at.column;
        t.on = r.on;
        t.shadow = r.shadow;
        if (!r.enabled) {
            t.verdict = rule_verdict::disabled;
        } else if (stopped && std::find(r.on.begin(), r.on.end(), ctx.event) != r.on.end()) {
            t.verdict = rule_verdict::after_stop;
        } else if (std::find(r.on.begin(), r.on.end(), ctx.event) == r.on.end()) {
            t.verdict = rule_verdict::not_listening;
        } else if (r.has_condition && !holds(r.when, state, nullptr)) {
            t.verdict = rule_verdict::not_matched;
            t.failure = blame(r, r.when, state, nullptr);
        } else {
            t.verdict = rule_verdict::matched;
            for (std::size_t k = 0; k < r.then.size(); ++k)
                if (r.then[k].kind != "stop") t.actions.push_back(plan(data, r, k, ctx));
            // A shadow rule's stop is recorded, not obeyed: it sends nothing,
            // so it must not silence the live rules after it.
            t.would_stop = r.stops && r.shadow;
            stopped = r.stops && !r.shadow;
        }
        out.push_back(std::move(t));
    }
    return out;
}

evaluation evaluate(const ruleset& rules, const context& ctx) {
    evaluation out;
    const detail::ruleset_data& data = *rules.data_;
    auto it = data.by_event.find(ctx.event);
    if (it == data.by_event.end()) return out;
    thread_local eval_state state;
    state.reset(ctx, data.field_count);
    for (std::size_t i : it->second) {
        const detail::rule& r = data.rules[i];
        if (r.has_condition && !holds(r.when, state, nullptr)) continue;
        out.matched_rules.push_back(r.id);
        for (std::size_t k = 0; k < r.then.size(); ++k)
            if (r.then[k].kind != "stop") out.actions.push_back(plan(data, r, k, ctx));
        if (r.stops && r.shadow) out.shadow_stops.push_back(r.id);   // recorded; the later rules still run
        else if (r.stops) break;   // {"stop": true}: no further rules for this event
    }
    return out;
}

}  // namespace orderflow::rules
