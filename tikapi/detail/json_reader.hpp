// A JSON reader for webhook bodies, the one text every webhook costs a parse
// of: it gives the same value as nlohmann::json::parse(text, nullptr, false)
// and refuses the same texts (RFC 8259 with nlohmann's choices: a leading
// UTF-8 byte order mark is skipped, strings must be well-formed UTF-8, a
// repeated name keeps its last value, an integer that fits neither int64
// nor uint64 becomes a double, a number too large for a double is refused,
// and a NUL byte after the value ends the text: what follows it is ignored).
// It reads in one pass and copies each string's plain runs whole, where
// nlohmann's lexer handles the text a character at a time: it was about three
// quarters of nlohmann's parse of a webhook (bench/README.md, "Twelfth round").
//
// tests/tikapi/json_reader_test.cpp and tests/fuzz/json_fuzz.cpp compare it
// with nlohmann's parser, value for value and type for type.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string_view>

namespace orderflow::tikapi::detail {

// Reads `text` into `out`. False, with `out` unspecified, for text that
// nlohmann's parser refuses, and for arrays and objects nested deeper than
// `max_depth` (callers check the depth first, with the message for it:
// common/json_limits.hpp).
bool read_json(std::string_view text, nlohmann::json& out, std::size_t max_depth);

}  // namespace orderflow::tikapi::detail
