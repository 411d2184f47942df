// Template compilation (placeholder scanning and checking) and rendering.
#include "rules/template.hpp"

#include "rules/detail/text.hpp"
#include "rules/fields.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace orderflow::rules {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Filters (docs/rules.md "Templates"): a value as people in the shop read it.
const std::vector<std::string_view> filter_names = {"date", "date_ja", "time", "datetime", "money"};

bool is_time_filter(std::string_view f) { return f == "date" || f == "date_ja" || f == "time" || f == "datetime"; }

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm): no
// time-zone library, the offset comes in with the context.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

bool apply_time_filter(std::string_view filter, const nlohmann::json& v, std::int64_t utc_offset, std::string& out) {
    if (!v.is_number()) return false;
    const std::int64_t t = static_cast<std::int64_t>(v.get<double>()) + utc_offset;
    std::int64_t days = t / 86400, secs = t % 86400;
    if (secs < 0) { secs += 86400; --days; }
    int y; unsigned m, d;
    civil_from_days(days, y, m, d);
    char buf[64];
    const int hh = static_cast<int>(secs / 3600), mm = static_cast<int>(secs % 3600 / 60);
    if (filter == "date") std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
    else if (filter == "date_ja") std::snprintf(buf, sizeof buf, "%d年%u月%u日", y, m, d);
    else if (filter == "time") std::snprintf(buf, sizeof buf, "%02d:%02d", hh, mm);
    else std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d", y, m, d, hh, mm);
    out += buf;
    return true;
}

// 4980 JPY -> "¥4,980"; 12.5 USD -> "$12.50"; 1234.5 EUR -> "1,234.50 EUR".
bool apply_money(const nlohmann::json& v, const nlohmann::json* currency, std::string& out) {
    double amount = 0;
    if (v.is_number()) amount = v.get<double>();
    else if (v.is_string()) {
        char* end = nullptr;
        const std::string& text = v.get_ref<const std::string&>();
        amount = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return false;
    } else {
        return false;
    }
    const std::string code = currency && currency->is_string() ? currency->get<std::string>() : "";
    const bool no_minor = code == "JPY" || code == "KRW" || code == "VND" || code == "IDR";
    const bool negative = amount < 0;
    const long long minor = std::llround(std::fabs(amount) * (no_minor ? 1 : 100));
    std::string whole = std::to_string(no_minor ? minor : minor / 100), grouped;
    for (std::size_t i = 0; i < whole.size(); ++i) {
        if (i > 0 && (whole.size() - i) % 3 == 0) grouped += ',';
        grouped += whole[i];
    }
    if (!no_minor) {
        char cents[8];
        std::snprintf(cents, sizeof cents, ".%02lld", minor % 100);
        grouped += cents;
    }
    if (negative) out += '-';
    if (code == "JPY") out += "¥" + grouped;
    else if (code == "USD") out += "$" + grouped;
    else if (code == "GBP") out += "£" + grouped;
    else out += grouped + (code.empty() ? "" : " " + code);
    return true;
}

std::vector<std::string_view> catalogue_paths() {
    std::vector<std::string_view> out;
    for (const auto& f : field_catalogue()) out.push_back(f.path);
    return out;
}

}  // namespace

std::variant<template_text, std::string> template_text::compile(std::string_view text) {
    template_text out;
    std::size_t pos = 0;
    std::string literal;
    while (true) {
        auto open = text.find("{{", pos);
        if (open == std::string_view::npos) {
            literal.append(text.substr(pos));
            break;
        }
        literal.append(text.substr(pos, open - pos));
        auto close = text.find("}}", open + 2);
        auto next_open = text.find("{{", open + 2);
        if (close == std::string_view::npos || (next_open != std::string_view::npos && next_open < close)) {
            auto shown = text.substr(open, std::min<std::size_t>(24, text.size() - open));
            return "unclosed '{{' in \"" + std::string(shown) + "\": expected '}}' after the field name";
        }
        std::string_view inside = text.substr(open + 2, close - open - 2);
        std::string written = "{{" + std::string(inside) + "}}";
        std::string_view filter;
        if (auto bar = inside.find('|'); bar != std::string_view::npos) {
            filter = trim(inside.substr(bar + 1));
            inside = inside.substr(0, bar);
            if (std::find(filter_names.begin(), filter_names.end(), filter) == filter_names.end()) {
                std::string names;
                for (auto f : filter_names) names += (names.empty() ? "" : ", ") + std::string(f);
                return "unknown filter \"" + std::string(filter) + "\" in " + written + "; filters: " + names;
            }
        }
        std::string_view name = trim(inside);
        if (name.empty()) return "empty placeholder " + written + ": expected a field such as {{order.buyer_name}}";
        auto ref = detail::make_field_ref(name);
        if (!ref) {
            std::string message = "unknown placeholder " + written;
            auto hint = did_you_mean(name, catalogue_paths());
            message += hint.empty() ? "; placeholders name fields such as order.buyer_name or order.id" : "; " + hint;
            return message;
        }
        if (ref->type == field_type::string_list || ref->type == field_type::object_list ||
            ref->type == field_type::count_map) {
            return "placeholder " + written + " names a " + std::string(type_name(ref->type)) +
                   ", which cannot be rendered as text";
        }
        if (is_time_filter(filter) && ref->type != field_type::timestamp)
            return "filter \"" + std::string(filter) + "\" in " + written + " needs a time, but " + std::string(name) + " is a " +
                   std::string(type_name(ref->type));
        if (filter == "money" && ref->type != field_type::number && ref->type != field_type::string)
            return "filter \"money\" in " + written + " needs an amount, but " + std::string(name) + " is a " + std::string(type_name(ref->type));
        part p;
        p.literal = std::move(literal);
        literal.clear();
        p.has_field = true;
        p.filter = std::string(filter);
        p.field = std::move(*ref);
        out.placeholders_.emplace_back(name);
        out.parts_.push_back(std::move(p));
        pos = close + 2;
    }
    if (!literal.empty() || out.parts_.empty()) {
        part tail;
        tail.literal = std::move(literal);
        out.parts_.push_back(std::move(tail));
    }
    return out;
}

render_result template_text::render(const context& ctx) const {
    render_result result;
    for (const auto& p : parts_) {
        result.text += p.literal;
        if (!p.has_field) continue;
        const nlohmann::json* value = detail::resolve(p.field, ctx);
        std::size_t before = result.text.size();
        // A blank string counts as missing: "  様" is as much a hole as "様".
        bool blank = value && value->is_string() && detail::is_blank(value->get_ref<const std::string&>());
        bool ok = value && !blank;
        if (ok && is_time_filter(p.filter)) ok = apply_time_filter(p.filter, *value, ctx.utc_offset, result.text);
        else if (ok && p.filter == "money") ok = apply_money(*value, ctx.order.is_object() && ctx.order.contains("currency") ? &ctx.order["currency"] : nullptr, result.text);
        else if (ok) ok = detail::append_scalar(*value, result.text);
        if (!ok || result.text.size() == before) {
            result.text.clear();
            result.error = "missing value for " + p.field.path;
            return result;
        }
    }
    return result;
}

}  // namespace orderflow::rules
