// Text helpers for conditions and templates: case and width folding for
// `contains`, rendering scalar JSON values as text, and the loose comparisons
// conditions use (a numeric string equals the number it spells).
#pragma once

#include "common/json_text.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orderflow::rules::detail {

// Appends `text` to `out` folded for matching: ASCII lower case, full-width
// ASCII (Ａ, ０, ！) to ASCII, the ideographic space to a space, half-width
// katakana (ｶﾞ) to full-width (ガ). Invalid UTF-8 bytes are copied as is.
void fold(std::string_view text, std::string& out);
std::string fold(std::string_view text);

// A code point as UTF-8 (common/json_text.hpp).
using orderflow::append_utf8;

// True when the text is only spaces (ASCII whitespace or U+3000).
bool is_blank(std::string_view text);

// Appends a scalar as text: strings as is, integral numbers without ".0",
// booleans as true/false. False (and nothing appended) for null, arrays and objects.
bool append_scalar(const nlohmann::json& value, std::string& out);

// A number, or a string that spells one completely ("1200", "12.5").
std::optional<double> as_number(const nlohmann::json& value);

// Equality for conditions: same-typed values compare as JSON; a number and a
// numeric string compare as numbers.
bool loose_equal(const nlohmann::json& value, const nlohmann::json& operand);

}  // namespace orderflow::rules::detail
