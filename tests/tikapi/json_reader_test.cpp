// The webhook's JSON reader (tikapi/detail/json_reader.hpp) against
// nlohmann's parser: for every text, both accept or both refuse, and what
// they accept is the same value with the same types (json_identical.hpp).
#include "tikapi/detail/json_reader.hpp"
#include "tikapi/webhook.hpp"
#include "tests/tikapi/json_identical.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using json = nlohmann::json;
using orderflow::tikapi::detail::read_json;

namespace {

// Empty when the reader agrees with nlohmann on `text`, else what differs.
std::string disagreement(const std::string& text) {
    const json expected = json::parse(text, nullptr, false);
    json got;
    const bool read = read_json(text, got, 1000);
    if (expected.is_discarded() != !read)
        return std::string(read ? "the reader accepts" : "the reader refuses") + " what nlohmann " +
               (read ? "refuses" : "accepts");
    if (read && !orderflow::testing::json_identical(expected, got)) return "values differ: nlohmann " + expected.dump() + ", reader " + got.dump();
    return {};
}

}  // namespace

TEST_CASE("the webhook's JSON reader accepts and refuses what nlohmann does, with the same values and types", "[json]") {
    const std::vector<std::string> texts{
        // Webhook bodies.
        R"({"type":1,"tts_notification_id":"7400000000000000000","shop_id":"7494049642642441621","timestamp":1796486051,"data":{"order_id":"571498594643035641","order_status":"AWAITING_SHIPMENT","update_time":1796486051}})",
        R"({"type":4,"data":{"package_id":1152921504606846976,"order_id":[576460752303423488,"x"],"sc":null,"ok":true,"no":false}})",
        // Scalars and blanks.
        "0", "-0", "1", "-1", "01", "-01", "00", "-", "+1", ".5", "5.", "1.5", "-1.5e3", "1E+2", "1e-2", "1e", "1e+", "2.e1",
        "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
        "1e308", "1e309", "-1e309", "1e-400", "123456789012345678901234567890", "0.1e1", "0e0", "-0.0",
        "true", "false", "null", "tru", "nul", "truex", "True", " \t\r\n true \t\r\n ", "", " ", "\v1", "1 2",
        // Strings: escapes, surrogates, control characters, UTF-8.
        R"("")", R"("plain")", R"("\"\\\/\b\f\n\r\t")", R"("\u0041\u00e9\u20AC\uFFFF")", R"("\u0000")",
        R"("\ud83d\ude00")", R"("\uD83D\uDE00")", R"("\ud83d")", R"("\ud83dx")", R"("\ud83d\u0041")", R"("\ude00")",
        R"("\u12")", R"("\u12G4")", R"("\x")", R"("\)", R"("abc)", "\"a\tb\"", "\"a\nb\"", std::string("\"a\0b\"", 5),
        "\"\x7f\"", "\"\xc3\xa9\"", "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xc2\x80\"", "\"\xdf\xbf\"", "\"\xe0\x9f\xbf\"",
        "\"\xe0\xa0\x80\"", "\"\xed\x9f\xbf\"", "\"\xed\xa0\x80\"", "\"\xee\x80\x80\"", "\"\xef\xbf\xbf\"",
        "\"\xf0\x8f\xbf\xbf\"", "\"\xf0\x90\x80\x80\"", "\"\xf4\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\x80\"", "\"\xc3\"", "\"\xe2\x82\"", "\"\xe2\x82\xac\"", "\"\xff\"", "\"\xc3\xa9",
        // Byte order mark.
        "\xEF\xBB\xBF{}", "\xEF\xBB\xBF", "\xEF\xBB{}", "{}\xEF\xBB\xBF", " \xEF\xBB\xBF{}",
        // Arrays and objects.
        "[]", "[ ]", "[1,2,3]", "[1,]", "[,1]", "[1 2]", "[", "]", "[[[]]]", "[{}]", "{}", "{ }", R"({"a":1})",
        R"({"a":1,})", R"({,"a":1})", R"({"a" 1})", R"({"a":})", R"({a:1})", R"({"a":1 "b":2})", R"({"a":1}})",
        R"({"a":1,"a":2})", R"({"a":{"b":1},"a":[2]})", R"({"b":1,"a":2,"c":3})", R"({"":0})", R"({"\u0061":1,"a":2})",
        R"({"a":[1,{"b":[null,true,{"c":"d"}]}]})", "{\"a\":1}\n", std::string("{\"a\":1}\0", 8), std::string("1 \0 ]junk", 9), std::string("[1\0]", 4), "{\"a\"\n:\n1\n}",
    };
    for (const auto& text : texts) {
        INFO("text: " << json(text).dump(-1, ' ', true, json::error_handler_t::replace));
        CHECK(disagreement(text).empty());
    }
}

// Random edits of webhook-like bodies, the same every run: each text is
// judged by both parsers (the fuzz harness tests/fuzz/json_fuzz.cpp does
// the same without end under `make fuzz`).
TEST_CASE("the webhook's JSON reader agrees with nlohmann on 50,000 edited bodies", "[json]") {
    const std::vector<std::string> seeds{
        R"({"type":1,"tts_notification_id":"74","shop_id":"7494","timestamp":1796486051,"data":{"order_id":"5714","order_status":"AWAITING_SHIPMENT"}})",
        R"({"type":14,"data":{"message_id":"m\u00e9\ud83d\ude00","content":"{\"text\":\"hi\\n\"}","n":[-0,1.5e-3,18446744073709551616]}})",
        R"([true,false,null,"\u0000",{"a":{"a":{}}},[[],[]]])",
    };
    const std::string alphabet = std::string("{}[]\":,\\ \t\n-+.0123456789eEabfnrtuDd") + "\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80\xef\xbb\xbf" +
                                 std::string(1, '\0');
    std::mt19937 random(20261205);
    int failures = 0;
    for (int i = 0; i < 50000 && failures < 5; ++i) {
        std::string text = seeds[random() % seeds.size()];
        const int edits = 1 + static_cast<int>(random() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = random() % (text.size() + 1);
            const char c = alphabet[random() % alphabet.size()];
            switch (random() % 3) {
                case 0: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
                case 1: if (at < text.size()) text.erase(at, 1); break;
                default: if (at < text.size()) text[at] = c; break;
            }
        }
        const auto problem = disagreement(text);
        if (!problem.empty()) {
            ++failures;
            FAIL_CHECK(problem << " for " << json(text).dump(-1, ' ', true, json::error_handler_t::replace));
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("the reader refuses nesting deeper than its limit, and parse_webhook names the depth first", "[json]") {
    json out;
    CHECK(read_json("[[1]]", out, 2));
    CHECK_FALSE(read_json("[[[1]]]", out, 2));
    CHECK_FALSE(read_json(R"({"a":{"b":{}}})", out, 2));
    const auto refused = orderflow::tikapi::parse_webhook(std::string(65, '[') + "x");
    REQUIRE(std::holds_alternative<std::string>(refused));
    CHECK(std::get<std::string>(refused) == "body is JSON nested deeper than 64 levels");
    const auto broken = orderflow::tikapi::parse_webhook(R"({"type":1,"data":{}})" "x");
    REQUIRE(std::holds_alternative<std::string>(broken));
    CHECK(std::get<std::string>(broken) == "body is not valid JSON");
}

}  // namespace ORDERFLOW_TEST_FILE
