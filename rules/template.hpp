// One message text with {{ placeholders }}, compiled once at load.
//
// Placeholders name catalogue fields (rules/fields.hpp): `{{order.buyer_name}}`,
// spaces inside the braces allowed, with an optional filter:
// `{{order.create_time | date_ja}}` (date, date_ja, time, datetime: in the
// shop's time, context::utc_offset) and `{{order.total_amount | money}}`
// (with order.currency: ¥4,980, $12.50, 1,234.50 EUR). An unknown filter, or
// one that does not fit the field's type, is a load error. Compiling checks every placeholder, so an
// unknown field, a list or map that cannot be rendered, or an unclosed `{{`
// is a load error. Rendering never produces a message with a hole: a missing,
// null or empty value makes the render fail with "missing value for <field>".
#pragma once

#include "rules/context.hpp"
#include "rules/detail/path.hpp"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace orderflow::rules {

struct render_result {
    std::string text;   // the rendered text; empty on error
    std::string error;  // "missing value for order.buyer_name"; empty on success
    bool ok() const { return error.empty(); }
};

class template_text {
public:
    // The compiled text, or an error message naming the placeholder
    // ("unknown placeholder {{order.buyer_nme}}; did you mean order.buyer_name?").
    static std::variant<template_text, std::string> compile(std::string_view text);

    // Field paths of the placeholders, in order of appearance.
    const std::vector<std::string>& placeholders() const { return placeholders_; }

    // Renders against the event's values. Numbers that are integral render
    // without ".0"; booleans as true/false.
    render_result render(const context& ctx) const;

private:
    struct part {
        std::string literal;       // text before the placeholder (or the tail)
        bool has_field = false;
        detail::field_ref field;
        std::string filter;        // "", "date", "date_ja", "time", "datetime", "money"
    };
    std::vector<part> parts_;
    std::vector<std::string> placeholders_;
};

}  // namespace orderflow::rules
