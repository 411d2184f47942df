// Tests for daemon/tracking.hpp: the warehouse's submissions (JSON and CSV),
// their inbox events, and carrier name -> shipping provider mapping.
#include "daemon/tracking.hpp"

#include "storage/idempotency.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::daemon;
using json = nlohmann::json;

TEST_CASE("A tracking request is read from JSON and checked", "[tracking]") {
    auto ok = parse_tracking_request(
        R"({"order_id": "576461413038785752", "carrier": " ヤマト運輸 ", "tracking_number": "4912-3456-7890"})");
    REQUIRE(std::holds_alternative<tracking_submission>(ok));
    const auto& s = std::get<tracking_submission>(ok);
    CHECK(s.order_id == "576461413038785752");
    CHECK(s.package_id.empty());
    CHECK(s.carrier == "ヤマト運輸");
    CHECK(s.tracking_number == "4912-3456-7890");

    auto numeric = parse_tracking_request(R"({"order_id": 576461413038785752, "package_id": 1152921504606846976, "carrier": "x", "tracking_number": "1"})");
    REQUIRE(std::holds_alternative<tracking_submission>(numeric));
    CHECK(std::get<tracking_submission>(numeric).package_id == "1152921504606846976");

    auto [body, why] = GENERATE(table<std::string, std::string>({
        {"not json", "the body is not valid JSON"},
        {std::string(10000, '[') + std::string(10000, ']'), "the body is JSON nested deeper than 64 levels"},
        {R"({"order_id": "1", "carrier": "x", "tracking_number": "1", "package_id": )" + std::string(70, '[') + std::string(70, ']') + "}",
         "the body is JSON nested deeper than 64 levels"},
        {"[1]", "expected a JSON object {\"order_id\", \"carrier\", \"tracking_number\", \"package_id\"?}"},
        {R"({"carrier": "x", "tracking_number": "1"})", "order_id is missing"},
        {R"({"order_id": "1", "tracking_number": "1"})", "carrier is missing"},
        {R"({"order_id": "1", "carrier": "x", "tracking_number": ""})", "tracking_number is missing"},
        {R"({"order_id": "12a", "carrier": "x", "tracking_number": "1"})", "order_id must be digits, found \"12a\""},
        {R"({"order_id": "1", "carrier": "x", "tracking_number": "1", "carier": "y"})",
         "unknown field \"carier\"; expected order_id, package_id, carrier, tracking_number"},
        {R"({"order_id": "1", "carrier": ["x"], "tracking_number": "1"})", "carrier must be a string"},
        {R"({"order_id": "1", "carrier": "x", "tracking_number": "1\n2"})", "tracking_number contains control characters"},
    }));
    CAPTURE(body);
    auto bad = parse_tracking_request(body);
    REQUIRE(std::holds_alternative<std::string>(bad));
    CHECK(std::get<std::string>(bad) == why);
}

TEST_CASE("A CSV file gives its good rows and names each bad line", "[tracking][csv]") {
    const std::string text =
        "\xEF\xBB\xBF" "Tracking Number,order_id,carrier,package_id\r\n"
        "4912-0001,576461413038785001,ヤマト運輸,\r\n"
        "\r\n"
        "4912-0002,57646141303878500X,ヤマト運輸,\r\n"
        "\"4912,0003\",576461413038785003,\"Sagawa \"\"Express\"\"\",1152921504606846976\n"
        ",576461413038785004,ヤマト運輸,\n"
        "4912-0005,576461413038785005,佐川急便\n";
    auto r = parse_tracking_csv(text);
    REQUIRE(r.rows.size() == 3);
    CHECK(r.rows[0].line == 2);
    CHECK(r.rows[0].submission.tracking_number == "4912-0001");
    CHECK(r.rows[0].submission.order_id == "576461413038785001");
    CHECK(r.rows[1].line == 5);
    CHECK(r.rows[1].submission.tracking_number == "4912,0003");
    CHECK(r.rows[1].submission.carrier == "Sagawa \"Express\"");
    CHECK(r.rows[1].submission.package_id == "1152921504606846976");
    CHECK(r.rows[2].line == 7);
    CHECK(r.rows[2].submission.carrier == "佐川急便");
    REQUIRE(r.problems.size() == 2);
    CHECK(r.problems[0].line == 4);
    CHECK(r.problems[0].why == "order_id must be digits, found \"57646141303878500X\"");
    CHECK(r.problems[1].line == 6);
    CHECK(r.problems[1].why == "tracking_number is missing");

    SECTION("a header without the needed columns is one problem and no rows") {
        auto h = parse_tracking_csv("order,number\n1,2\n");
        CHECK(h.rows.empty());
        REQUIRE(h.problems.size() == 1);
        CHECK(h.problems[0].line == 1);
        CHECK(h.problems[0].why.find("order_id carrier tracking_number") != std::string::npos);
    }
    SECTION("an unclosed quote stops at its line, keeping the rows before") {
        auto u = parse_tracking_csv("order_id,carrier,tracking_number\n1,x,2\n3,\"x,4\n5,x,6\n");
        CHECK(u.rows.size() == 1);
        REQUIRE(u.problems.size() == 1);
        CHECK(u.problems[0].line == 3);
        CHECK(u.problems[0].why == "a quoted field is not closed");
    }
}

TEST_CASE("The same submission is the same inbox event, another number is another", "[tracking]") {
    tracking_submission s{"576461413038785752", "", "ヤマト運輸", "4912-3456-7890"};
    auto a = tracking_event(s, "api", 100);
    auto b = tracking_event(s, "csv", 200);
    CHECK(a.dedupe_key == b.dedupe_key);
    CHECK(a.event == "tracking.received");
    CHECK(a.source == "tracking_feed");
    CHECK(a.order_id == s.order_id);
    auto payload = json::parse(a.payload);
    CHECK(payload["data"]["carrier"] == "ヤマト運輸");
    CHECK(payload["data"]["tracking_number"] == "4912-3456-7890");
    s.tracking_number = "4912-3456-7891";
    CHECK(tracking_event(s, "api", 100).dedupe_key != a.dedupe_key);
    // With the daemon's key (storage/idempotency.hpp): the keyed hash of the
    // same submission, the same from either door.
    const std::vector<unsigned char> key(32, 0x21);
    s.tracking_number = "4912-3456-7890";
    const auto keyed = tracking_event(s, "api", 100, key);
    CHECK(keyed.dedupe_key == "trk:" + orderflow::storage::keyed_hash(key, a.dedupe_key.substr(4)));
    CHECK(keyed.dedupe_key == tracking_event(s, "csv", 200, key).dedupe_key);
}

TEST_CASE("Carrier names map to shipping provider ids through aliases or by name", "[tracking]") {
    const std::vector<std::pair<std::string, std::string>> providers = {
        {"7117858858072016686", "Yamato Transport"}, {"7117858858072016687", "Sagawa Express"}, {"7117858858072016688", "Japan Post"}};
    const std::vector<std::pair<std::string, std::string>> aliases = {
        {"ヤマト運輸", "Yamato Transport"}, {"佐川急便", "7117858858072016687"}};
    CHECK(resolve_provider("ヤマト運輸", aliases, providers) == "7117858858072016686");
    CHECK(resolve_provider("佐川急便", aliases, providers) == "7117858858072016687");
    CHECK(resolve_provider("japan-post", aliases, providers) == "7117858858072016688");
    CHECK(resolve_provider("YAMATO TRANSPORT", {}, providers) == "7117858858072016686");
    CHECK_FALSE(resolve_provider("西濃運輸", aliases, providers).has_value());
    CHECK_FALSE(resolve_provider("ヤマト運輸", aliases, {}).has_value());
}

namespace {

// Whether the event's payload holds the submission's carrier, as UTF-8.
bool event_carries(const tracking_submission& s, const std::string& carrier) {
    return json::parse(tracking_event(s, "csv", 1).payload)["data"]["carrier"] == carrier;
}

}  // namespace

TEST_CASE("A Shift_JIS (CP932) CSV, as Excel saves it in Japan, is converted and its rows read", "[tracking][csv]") {
    // ヤマト運輸, 佐川急便 and halfwidth ﾔﾏﾄ in CP932 (printf '...' | iconv -f UTF-8 -t CP932 | xxd).
    const std::string yamato = "\x83\x84\x83\x7d\x83\x67\x89\x5e\x97\x41";
    const std::string sagawa = "\x8d\xb2\x90\xec\x8b\x7d\x95\xd6";
    const std::string halfwidth_yamato = "\xd4\xcf\xc4";
    const std::string text = "order_id,carrier,tracking_number\r\n"
                             "576461413038785001," + yamato + ",4912-0001\r\n"
                             "576461413038785002," + sagawa + ",4912-0002\r\n"
                             "57646141303878500X," + halfwidth_yamato + ",4912-0003\r\n";
    auto r = parse_tracking_csv(text);
    CHECK(r.encoding == "cp932");
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].submission.carrier == "ヤマト運輸");
    CHECK(r.rows[1].submission.carrier == "佐川急便");
    CHECK(r.rows[1].line == 3);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].line == 4);
    CHECK(r.problems[0].why == "order_id must be digits, found \"57646141303878500X\"");
    CHECK(event_carries(r.rows[0].submission, "ヤマト運輸"));
}

TEST_CASE("A UTF-8 CSV with a BOM or without one is read as it is", "[tracking][csv]") {
    const std::string body = "order_id,carrier,tracking_number\n576461413038785001,ヤマト運輸,4912-0001\n";
    auto plain = parse_tracking_csv(body);
    CHECK(plain.encoding == "utf-8");
    REQUIRE(plain.rows.size() == 1);
    CHECK(plain.rows[0].submission.carrier == "ヤマト運輸");
    auto bom = parse_tracking_csv("\xEF\xBB\xBF" + body);
    CHECK(bom.encoding == "utf-8-bom");
    REQUIRE(bom.rows.size() == 1);
    CHECK(bom.rows[0].submission.carrier == "ヤマト運輸");
    CHECK(bom.problems.empty());
}

TEST_CASE("A row that is not valid UTF-8 is a bad row by line, and the good rows are kept", "[tracking][csv]") {
    // A byte sequence that is neither UTF-8 nor CP932 (0xFF, and a lead byte cut short by the line end).
    const std::string garbage = "\xff\xfe\x81";
    auto [label, good_carrier] = GENERATE(table<std::string, std::string>({
        {"Japanese UTF-8 rows", "ヤマト運輸"},
        {"ASCII rows", "Yamato Transport"},
    }));
    CAPTURE(label);
    const std::string text = "order_id,carrier,tracking_number\n"
                             "576461413038785001," + good_carrier + ",4912-0001\n"
                             "576461413038785002," + garbage + ",4912-0002\n"
                             "576461413038785003," + good_carrier + ",4912-0003\n";
    csv_result r;
    REQUIRE_NOTHROW(r = parse_tracking_csv(text));
    CHECK(r.encoding == "utf-8");
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].line == 2);
    CHECK(r.rows[1].line == 4);
    CHECK(r.rows[1].submission.carrier == good_carrier);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].line == 3);
    CHECK(r.problems[0].why == "not valid UTF-8 (save the file as UTF-8 or Shift_JIS)");
    for (const auto& row : r.rows) CHECK(event_carries(row.submission, row.submission.carrier));
}

TEST_CASE("Building the event never throws, whatever bytes a submission holds", "[tracking]") {
    auto carrier = GENERATE(as<std::string>{},
                            "\xff\x83 broken",      // not UTF-8 at all
                            "\xc0\xaf",              // an overlong "/"
                            "\xed\xa0\x80",          // a surrogate
                            "\xf4\x90\x80\x80",      // above U+10FFFF
                            "\xe3\x83");             // cut short
    CAPTURE(carrier);
    const tracking_submission s{"576461413038785001", "", carrier, "4912-0001"};
    CHECK(check_submission(s) == "carrier is not valid UTF-8");
    orderflow::storage::new_event e;
    REQUIRE_NOTHROW(e = tracking_event(s, "csv", 1));
    CHECK(json::parse(e.payload)["data"]["order_id"] == "576461413038785001");
}

TEST_CASE("Four-byte UTF-8 is valid in a submission", "[tracking]") {
    CHECK(check_submission({"576461413038785001", "", "\xf0\x9f\x9a\x9a 𠮷", "4912-0001"}).empty());
}

TEST_CASE("A CSV line longer than 4 KiB is a bad row that says so", "[tracking][csv]") {
    const std::string text = "order_id,carrier,tracking_number,note\n"
                             "576461413038785001,ヤマト運輸,4912-0001," + std::string(max_csv_line, 'n') + "\n"
                             "576461413038785002,ヤマト運輸,4912-0002,short\n";
    auto r = parse_tracking_csv(text);
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0].line == 3);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].line == 2);
    CHECK_THAT(r.problems[0].why, Catch::Contains("a CSV line may have at most 4096"));

    SECTION("a header that long is the file's only problem") {
        auto h = parse_tracking_csv("order_id,carrier,tracking_number," + std::string(max_csv_line, 'h') + "\n1,x,2\n");
        CHECK(h.rows.empty());
        REQUIRE(h.problems.size() == 1);
        CHECK(h.problems[0].line == 1);
    }
}

TEST_CASE("A UTF-16 CSV is refused as a whole, saying how to save it", "[tracking][csv]") {
    auto r = parse_tracking_csv(std::string("\xff\xfeo\0r\0d\0", 8));
    CHECK(r.encoding == "utf-16");
    CHECK(r.rows.empty());
    REQUIRE(r.problems.size() == 1);
    CHECK_THAT(r.problems[0].why, Catch::Contains("save it as \"CSV UTF-8\""));
}

}  // namespace ORDERFLOW_TEST_FILE
