// Tests for common/json_limits.hpp: the depth scan counts [ and { outside
// strings only, the limit is inclusive, and parse_untrusted_json refuses
// text nested too deep before parsing it.
#include "common/json_limits.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::json_nests_deeper_than;
using orderflow::max_json_depth;
using orderflow::parse_untrusted_json;

namespace {

std::string nested(std::size_t depth, char open = '[', char close = ']') {
    return std::string(depth, open) + std::string(depth, close);
}

}  // namespace

TEST_CASE("The depth scan counts arrays and objects opened inside one another", "[json_limits]") {
    auto [text, depth] = GENERATE(table<std::string, std::size_t>({
        {"1", 0},
        {"\"text\"", 0},
        {"[]", 1},
        {"{}", 1},
        {"[1, [2], [3]]", 2},
        {R"({"a": {"b": [1, {"c": null}]}})", 4},
        {R"([{}, {}, {}, {}])", 2},
    }));
    CAPTURE(text);
    CHECK_FALSE(json_nests_deeper_than(text, depth));
    if (depth > 0) CHECK(json_nests_deeper_than(text, depth - 1));
}

TEST_CASE("Brackets inside strings do not count, escaped quotes included", "[json_limits]") {
    auto text = GENERATE(as<std::string>{},
                         R"(["[[[[{{{{"])",
                         R"(["a \" [[[[ \" {{{{"])",
                         R"({"key [[[[": "value {{{{"})",
                         R"(["ends in a backslash \\", "[[[["])",
                         R"(["\\\" still inside [[[["])");
    CAPTURE(text);
    CHECK_FALSE(json_nests_deeper_than(text, 1));
}

TEST_CASE("A string that ends in an escaped backslash closes, so brackets after it count", "[json_limits]") {
    CHECK(json_nests_deeper_than(R"(["\\", [[1]]])", 2));
    CHECK_FALSE(json_nests_deeper_than(R"(["\\", [[1]]])", 3));
}

TEST_CASE("parse_untrusted_json accepts the limit and refuses one level more", "[json_limits]") {
    auto at_limit = parse_untrusted_json(nested(max_json_depth));
    REQUIRE(std::holds_alternative<nlohmann::json>(at_limit));
    CHECK(std::get<nlohmann::json>(at_limit).is_array());

    auto over = parse_untrusted_json(nested(max_json_depth + 1, '{', '}'));
    REQUIRE(std::holds_alternative<std::string>(over));
    CHECK(std::get<std::string>(over) == "JSON nested deeper than 64 levels");
}

TEST_CASE("parse_untrusted_json refuses 70,000 levels without overflowing the stack", "[json_limits]") {
    auto deep = parse_untrusted_json(nested(70'000));
    REQUIRE(std::holds_alternative<std::string>(deep));
    CHECK(std::get<std::string>(deep) == "JSON nested deeper than 64 levels");
    // Unclosed brackets are refused by depth too, before the parser sees them.
    CHECK(std::get<std::string>(parse_untrusted_json(std::string(100, '['))) == "JSON nested deeper than 64 levels");
}

TEST_CASE("parse_untrusted_json says when text is not JSON and takes a smaller limit", "[json_limits]") {
    CHECK(std::get<std::string>(parse_untrusted_json("{not json")) == "not valid JSON");
    CHECK(std::get<std::string>(parse_untrusted_json("")) == "not valid JSON");
    CHECK(std::get<std::string>(parse_untrusted_json("[[1]]", 1)) == "JSON nested deeper than 1 level");
    auto ok = parse_untrusted_json(R"({"content": "[[[ not nesting ]]]"})", 1);
    REQUIRE(std::holds_alternative<nlohmann::json>(ok));
    CHECK(std::get<nlohmann::json>(ok)["content"] == "[[[ not nesting ]]]");
}

}  // namespace ORDERFLOW_TEST_FILE
