// A depth limit for JSON that comes from outside: webhook bodies, TikTok API
// answers, message contents, tracking posts and admin requests.
//
// nlohmann's parser is iterative and takes any depth, but dump(), copies and
// comparisons of the parsed value recurse once per level: a body nested
// 70,000 levels deep (140 KB of "[[[...") overflows the stack the first time
// it is hashed or copied, long after it was accepted. So untrusted text is
// measured first, with a linear scan that recurses on nothing, and refused
// before anything is built from it. TikTok's payloads nest fewer than 10
// levels; the limit, max_json_depth, is documented in docs/operations.md
// ("Limits on every door").
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace orderflow {

// The deepest nesting of [ and { accepted from outside: "{}" and "[]" are 1
// level, {"a":[1]} is 2.
inline constexpr std::size_t max_json_depth = 64;

// True when `text` opens more than `max_depth` arrays or objects inside one
// another. Brackets inside strings do not count (escaped quotes such as \"
// do not end a string). Linear, no recursion, no allocation; text that is
// not valid JSON gets an answer too, which the parser then judges.
inline bool json_nests_deeper_than(std::string_view text, std::size_t max_depth) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // the escaped character, whatever it is, cannot end the string
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

// The reason text from outside is refused for its depth, in words that read
// after "body is " / "the response is "; "" when it is within max_depth.
inline std::string json_depth_problem(std::string_view text, std::size_t max_depth = max_json_depth) {
    if (!json_nests_deeper_than(text, max_depth)) return {};
    return "JSON nested deeper than " + std::to_string(max_depth) + (max_depth == 1 ? " level" : " levels");
}

// Parses JSON from outside: the value, or a reason that reads after "body
// is " / "the response is ": "not valid JSON" or "JSON nested deeper than 64
// levels". Never throws on bad input.
inline std::variant<nlohmann::json, std::string> parse_untrusted_json(std::string_view text,
                                                                      std::size_t max_depth = max_json_depth) {
    using outcome = std::variant<nlohmann::json, std::string>;
    // in_place_index: a json converts to a string and back, so say which.
    if (auto problem = json_depth_problem(text, max_depth); !problem.empty())
        return outcome(std::in_place_index<1>, std::move(problem));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return outcome(std::in_place_index<1>, "not valid JSON");
    return outcome(std::in_place_index<0>, std::move(j));
}

}  // namespace orderflow
