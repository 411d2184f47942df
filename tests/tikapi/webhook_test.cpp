// Webhook signature verification and envelope parsing
// (docs/tiktok-shop-api.md §5), on the documented sample payload.
#include "tikapi/webhook.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::tikapi;
using orderflow::secret;

namespace {

const std::string sample =
    R"({"type":1,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621",)"
    R"("timestamp":1644412885,"data":{"order_id":"576486316948490001","order_status":"UNPAID",)"
    R"("is_on_hold_order":false,"update_time":1644412885}})";
// hmac.new(b"fake_app_secret", b"fake_app_key" + sample, sha256).hexdigest() in Python
const std::string sample_signature = "ac186cd7844706fd26fcbfaa6fbe93591881f6b2b1696c60583d1b399271f12d";

}  // namespace

TEST_CASE("the webhook signature is HMAC-SHA256 of app key plus body keyed by the app secret", "[webhook]") {
    CHECK(webhook_signature("fake_app_key", "fake_app_secret", sample) == sample_signature);
}

TEST_CASE("webhook signatures are verified against the raw body", "[webhook]") {
    secret app_secret("fake_app_secret");

    SECTION("a correct signature is accepted") {
        CHECK(verify_webhook_signature("fake_app_key", app_secret, sample, sample_signature));
    }
    SECTION("surrounding whitespace and upper-case hex are tolerated") {
        std::string upper = sample_signature;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        CHECK(verify_webhook_signature("fake_app_key", app_secret, sample, " \t" + upper + "\r\n"));
    }
    SECTION("a signature for a different body is rejected") {
        CHECK_FALSE(verify_webhook_signature("fake_app_key", app_secret, sample + " ", sample_signature));
    }
    SECTION("a signature made with another app key is rejected") {
        CHECK_FALSE(verify_webhook_signature("other_app_key", app_secret, sample, sample_signature));
    }
    SECTION("a signature made with another secret is rejected") {
        secret other("other_secret");
        CHECK_FALSE(verify_webhook_signature("fake_app_key", other, sample, sample_signature));
    }
    SECTION("a tampered signature is rejected") {
        std::string bad = sample_signature;
        bad[10] = bad[10] == 'a' ? 'b' : 'a';
        CHECK_FALSE(verify_webhook_signature("fake_app_key", app_secret, sample, bad));
    }
    SECTION("an empty or truncated header is rejected") {
        CHECK_FALSE(verify_webhook_signature("fake_app_key", app_secret, sample, ""));
        CHECK_FALSE(verify_webhook_signature("fake_app_key", app_secret, sample, "   "));
        CHECK_FALSE(verify_webhook_signature("fake_app_key", app_secret, sample, sample_signature.substr(0, 32)));
    }
    SECTION("an empty configured secret never verifies") {
        secret empty;
        CHECK_FALSE(verify_webhook_signature("fake_app_key", empty, sample, webhook_signature("fake_app_key", "", sample)));
    }
}

TEST_CASE("the documented sample webhook parses into an event", "[webhook]") {
    auto parsed = parse_webhook(sample);
    REQUIRE(std::holds_alternative<webhook_event>(parsed));
    const auto& event = std::get<webhook_event>(parsed);
    CHECK(event.type == 1);
    CHECK(topic_name(event.type) == "ORDER_STATUS_CHANGE");
    CHECK(event.notification_id == "7327112393057371910");
    CHECK(event.shop_id == "7494049642642441621");
    CHECK(event.timestamp == 1644412885);
    CHECK(event.data.at("order_id") == "576486316948490001");
    CHECK(event.data.at("order_status") == "UNPAID");
}

TEST_CASE("a webhook without tts_notification_id is accepted with an empty id", "[webhook]") {
    auto parsed = parse_webhook(R"({"type":3,"shop_id":"1","timestamp":5,"data":{"order_id":"9","update_time":5}})");
    REQUIRE(std::holds_alternative<webhook_event>(parsed));
    CHECK(std::get<webhook_event>(parsed).notification_id.empty());
    CHECK(std::get<webhook_event>(parsed).type == topic::recipient_address_update);
}

TEST_CASE("malformed webhooks are rejected with a clear reason", "[webhook]") {
    auto [body, reason] = GENERATE(table<std::string, std::string>({
        {"not json at all", "body is not valid JSON"},
        {"", "body is not valid JSON"},
        {R"({"type":1,"data":{})", "body is not valid JSON"},
        {R"([1,2,3])", "body must be a JSON object"},
        {R"({"data":{}})", "field 'type' is missing"},
        {R"({"type":"1","data":{}})", "field 'type' must be an integer"},
        {R"({"type":1.5,"data":{}})", "field 'type' must be an integer"},
        {R"({"type":-1,"data":{}})", "field 'type' is out of range"},
        {R"({"type":1})", "field 'data' is missing"},
        {R"({"type":1,"data":null})", "field 'data' is missing"},
        {R"({"type":1,"data":"x"})", "field 'data' must be an object"},
        {R"({"type":1,"timestamp":"now","data":{}})", "field 'timestamp' must be an integer"},
        {R"({"type":1,"tts_notification_id":[1],"data":{}})", "field 'tts_notification_id' must be a string"},
        {R"({"type":1,"shop_id":{},"data":{}})", "field 'shop_id' must be a string"},
    }));
    CAPTURE(body);
    auto parsed = parse_webhook(body);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    CHECK(std::get<std::string>(parsed) == reason);
}

TEST_CASE("topic numbers map to the documented event type names", "[webhook]") {
    auto [type, name] = GENERATE(table<int, std::string>({
        {1, "ORDER_STATUS_CHANGE"}, {3, "RECIPIENT_ADDRESS_UPDATE"}, {4, "PACKAGE_UPDATE"},
        {6, "SELLER_DEAUTHORIZATION"}, {7, "UPCOMING_AUTHORIZATION_EXPIRATION"},
        {11, "CANCELLATION_STATUS_CHANGE"}, {12, "RETURN_STATUS_CHANGE"}, {13, "NEW_CONVERSATION"},
        {14, "NEW_MESSAGE"}, {0, "UNKNOWN"}, {999, "UNKNOWN"},
    }));
    CHECK(topic_name(type) == name);
}

namespace {

// A NEW_MESSAGE webhook whose data holds `depth` levels in all: the envelope
// object and `data` count as two.
std::string webhook_nested(std::size_t depth) {
    const std::size_t inner = depth - 2;
    return R"({"type":14,"tts_notification_id":"1","shop_id":"7494049642642441621","timestamp":1,"data":{"deep":)" +
           std::string(inner, '[') + std::string(inner, ']') + "}}";
}

}  // namespace

TEST_CASE("a correctly signed webhook nested 70,000 levels deep is malformed, naming the limit", "[webhook]") {
    const std::string body = webhook_nested(70'000);
    REQUIRE(body.size() < 256 * 1024);   // under the default webhook.max_body
    secret app_secret("fake_app_secret");
    REQUIRE(verify_webhook_signature("fake_app_key", app_secret, body,
                                     webhook_signature("fake_app_key", "fake_app_secret", body)));
    auto parsed = parse_webhook(body);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    CHECK(std::get<std::string>(parsed) == "body is JSON nested deeper than 64 levels");
}

TEST_CASE("a webhook nested exactly 64 levels is accepted and 65 levels is not", "[webhook]") {
    auto at_limit = parse_webhook(webhook_nested(64));
    REQUIRE(std::holds_alternative<webhook_event>(at_limit));
    CHECK(std::get<webhook_event>(at_limit).data.at("deep").is_array());

    auto over = parse_webhook(webhook_nested(65));
    REQUIRE(std::holds_alternative<std::string>(over));
    CHECK(std::get<std::string>(over) == "body is JSON nested deeper than 64 levels");
}

}  // namespace ORDERFLOW_TEST_FILE
