// Tests for rules/jsonc.hpp: values, comments, positions of values and keys,
// and the exact place and wording of syntax errors.
#include "rules/jsonc.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;
using pointer = json::json_pointer;

namespace {

jsonc_document parse_ok(const std::string& text) {
    auto r = parse_jsonc(text, "t.json");
    if (auto* d = std::get_if<diagnostic>(&r)) FAIL(d->to_string());
    return std::move(std::get<jsonc_document>(r));
}

}  // namespace

TEST_CASE("JSONC with line and block comments parses to the same values as JSON", "[jsonc]") {
    auto doc = parse_ok(R"(// leading comment
{
  /* block
     comment */ "a": 1, // trailing
  "b": [true, false, null, -2.5, 1e3, "x\n\u00e9\ud83d\ude00"],
  "c": {"nested": "値"}
})");
    json expected = json::parse(R"({"a": 1, "b": [true, false, null, -2.5, 1000.0, "x\né😀"], "c": {"nested": "値"}})");
    CHECK(doc.root() == expected);
    CHECK(doc.file() == "t.json");
    CHECK(doc.root()["a"].is_number_integer());
}

TEST_CASE("Large integers keep their exact value", "[jsonc]") {
    auto doc = parse_ok(R"({"id": 576461413038785752, "big": 18446744073709551615})");
    CHECK(doc.root()["id"].get<std::int64_t>() == 576461413038785752LL);
    CHECK(doc.root()["big"].get<std::uint64_t>() == 18446744073709551615ULL);
}

TEST_CASE("Positions of values and keys are 1-based and count UTF-8 characters", "[jsonc]") {
    auto doc = parse_ok("{\n  \"名前\": \"山田\", \"x\": [10,\n   20]\n}");
    CHECK(doc.position(pointer("")) == std::pair{1, 1});
    CHECK(doc.position(pointer("/名前"), true) == std::pair{2, 3});
    CHECK(doc.position(pointer("/名前")) == std::pair{2, 9});
    // "山田" is 2 characters but 6 bytes: "x" starts at column 15, not 19.
    CHECK(doc.position(pointer("/x"), true) == std::pair{2, 15});
    CHECK(doc.position(pointer("/x")) == std::pair{2, 20});
    CHECK(doc.position(pointer("/x/0")) == std::pair{2, 21});
    CHECK(doc.position(pointer("/x/1")) == std::pair{3, 4});
}

TEST_CASE("A position without its own entry falls back to the nearest ancestor", "[jsonc]") {
    auto doc = parse_ok("{\n  \"a\": {\"b\": 1}\n}");
    CHECK(doc.position(pointer("/a/missing/deeper")) == std::pair{2, 8});
    // A key position is asked for, but array elements have none: the value's is used.
    CHECK(doc.position(pointer("/a/b"), true) == std::pair{2, 9});
    auto d = doc.error_at(pointer("/a/b"), "bad value");
    CHECK(d.to_string() == "t.json:2:14: error: bad value");
    auto w = doc.warning_at(pointer("/a"), "hmm", true);
    CHECK(w.to_string() == "t.json:2:3: warning: hmm");
}

TEST_CASE("Keys containing '/' and '~' are found by their escaped JSON pointer", "[jsonc]") {
    auto doc = parse_ok("{\"a/b\": 1,\n \"c~d\": 2}");
    CHECK(doc.position(pointer("/a~1b")) == std::pair{1, 9});
    CHECK(doc.position(pointer("/c~0d"), true) == std::pair{2, 2});
}

TEST_CASE("Syntax errors are reported at the exact line and column with what was expected", "[jsonc]") {
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        {"{\"a\": 1 \"b\": 2}", "t.json:1:9: error: expected ',' or '}' after object member, found '\"'"},
        {"{\"a\": 1,\n \"b\": 2,\n}", "t.json:3:1: error: expected a string key after ',', found '}' (trailing commas are not allowed)"},
        {"[1, 2,]", "t.json:1:7: error: expected a value after ',', found ']' (trailing commas are not allowed)"},
        {"[1 2]", "t.json:1:4: error: expected ',' or ']' after array element, found '2'"},
        {"{a: 1}", "t.json:1:2: error: expected a string key in double quotes, found 'a'"},
        {"{\"a\" 1}", "t.json:1:6: error: expected ':' after object key \"a\", found '1'"},
        {"{\"a\": tru}", "t.json:1:7: error: expected a JSON value (object, array, string, number, true, false or null), found 'tru'"},
        {"{\"a\": 'x'}", "t.json:1:7: error: strings use double quotes, found '"},
        {"{\"名前\": ＠}", "t.json:1:8: error: expected a JSON value (object, array, string, number, true, false or null), found '＠'"},
        {"{\"a\": \"open\n}", "t.json:1:7: error: unterminated string: expected a closing '\"' before end of line"},
        {"{\"a\": \"x\\q\"}", "t.json:1:9: error: unknown escape sequence '\\q'; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"},
        {"{\"a\": 1, \"a\": 2}", "t.json:1:10: error: duplicate key \"a\" (first at line 1, column 2)"},
        {"{\"a\": 01}", "t.json:1:7: error: numbers must not have leading zeros"},
        {"{\"a\": 1} x", "t.json:1:10: error: expected end of input after the top-level value, found 'x'"},
        {"", "t.json:1:1: error: expected a JSON value, found end of input"},
        {"{\"a\": [1,\n", "t.json:2:1: error: expected a value or ']', found end of input"},
        {"{ /* never closed\n", "t.json:1:3: error: unterminated '/*' comment: expected '*/' before end of input"},
        {"{ / }", "t.json:1:3: error: expected '//' or '/*' to start a comment, found '/' followed by ' '"},
        {"{\"a\": \"\\ud800\"}", "t.json:1:8: error: expected a \\u low surrogate after a high surrogate"},
        {"{\"a\": \"tab\there\"}", "t.json:1:11: error: control character 9 in string; write it as an escape such as \\n or \\t"},
        {"{\"a\": \"\xff\"}", "t.json:1:8: error: invalid UTF-8 in string"},
    }));
    CAPTURE(text);
    auto r = parse_jsonc(text, "t.json");
    REQUIRE(std::holds_alternative<diagnostic>(r));
    CHECK(std::get<diagnostic>(r).to_string() == expected);
}

TEST_CASE("Nesting deeper than the limit is an error, not a stack overflow", "[jsonc]") {
    std::string text(100000, '[');
    auto r = parse_jsonc(text, "deep.json");
    REQUIRE(std::holds_alternative<diagnostic>(r));
    CHECK(std::get<diagnostic>(r).to_string() ==
          "deep.json:1:129: error: nested deeper than 128 levels of [ and {, the limit for rule and config files; "
          "rules need far fewer, so flatten the nesting");
}

TEST_CASE("Nesting of exactly the limit parses and one level more is an error at that bracket", "[jsonc]") {
    auto nested = [](int depth) {
        std::string text;
        for (int i = 0; i < depth; ++i) text += (i % 2 == 0) ? "{\"k\": " : "[";
        text += "1";
        for (int i = depth - 1; i >= 0; --i) text += (i % 2 == 0) ? "}" : "]";
        return text;
    };
    REQUIRE(max_jsonc_depth == 128);
    auto doc = parse_ok(nested(max_jsonc_depth));
    CHECK(doc.root().is_object());

    auto r = parse_jsonc("\n  " + nested(max_jsonc_depth + 1), "t.json");
    REQUIRE(std::holds_alternative<diagnostic>(r));
    const auto& d = std::get<diagnostic>(r);
    CHECK(d.line == 2);
    CHECK(d.column == 3 + 64 * 6 + 64);   // after "  ", 64 of `{"k": ` (6 characters each) and 64 of `[`
    CHECK(d.message.rfind("nested deeper than 128 levels", 0) == 0);
}

TEST_CASE("A byte order mark at the start of a file is skipped", "[jsonc]") {
    auto doc = parse_ok("\xEF\xBB\xBF{\"a\": 1}");
    CHECK(doc.root()["a"] == 1);
}

TEST_CASE("Reading a file parses it and names the file in positions", "[jsonc]") {
    orderflow::rules::test::temp_dir dir;
    auto path = dir.write("c.json", "{\n  // comment\n  \"k\": \"v\"\n}\n");
    auto r = read_jsonc_file(path);
    REQUIRE(std::holds_alternative<jsonc_document>(r));
    const auto& doc = std::get<jsonc_document>(r);
    CHECK(doc.file() == path.string());
    CHECK(doc.error_at(pointer("/k"), "x").to_string() == path.string() + ":3:8: error: x");
}

TEST_CASE("An unreadable file gives a diagnostic with the file name and the system's reason", "[jsonc]") {
    orderflow::rules::test::temp_dir dir;
    SECTION("missing file") {
        auto r = read_jsonc_file(dir.path() / "absent.json");
        REQUIRE(std::holds_alternative<diagnostic>(r));
        const auto& d = std::get<diagnostic>(r);
        CHECK(d.line == 0);
        CHECK(d.column == 0);
        CHECK(d.to_string() == (dir.path() / "absent.json").string() + ": error: cannot read file: No such file or directory");
    }
    SECTION("a directory") {
        auto r = read_jsonc_file(dir.path());
        REQUIRE(std::holds_alternative<diagnostic>(r));
        CHECK(std::get<diagnostic>(r).message == "cannot read file: Is a directory");
    }
}

TEST_CASE("Diagnostics format as file:line:column with error or warning", "[jsonc]") {
    CHECK(diagnostic{"a.json", 3, 7, "bad", false}.to_string() == "a.json:3:7: error: bad");
    CHECK(diagnostic{"a.json", 3, 7, "odd", true}.to_string() == "a.json:3:7: warning: odd");
    CHECK(diagnostic{"a.json", 0, 0, "unreadable", false}.to_string() == "a.json: error: unreadable");
}

}  // namespace ORDERFLOW_TEST_FILE
