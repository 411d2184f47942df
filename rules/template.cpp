// Template compilation (placeholder scanning and checking) and rendering.
#include "rules/template.hpp"

#include "rules/detail/text.hpp"
#include "rules/fields.hpp"

namespace orderflow::rules {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
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
        std::string_view name = trim(text.substr(open + 2, close - open - 2));
        std::string written = "{{" + std::string(text.substr(open + 2, close - open - 2)) + "}}";
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
        part p;
        p.literal = std::move(literal);
        literal.clear();
        p.has_field = true;
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
        if (!value || blank || !detail::append_scalar(*value, result.text) || result.text.size() == before) {
            result.text.clear();
            result.error = "missing value for " + p.field.path;
            return result;
        }
    }
    return result;
}

}  // namespace orderflow::rules
