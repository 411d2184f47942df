// Tests for daemon/tracking.hpp: the warehouse's submissions (JSON and CSV),
// their inbox events, and carrier name -> shipping provider mapping.
#include "daemon/tracking.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

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
        {"not json", "the body is not JSON"},
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
