// tikapi::client against a tiny in-test TikTok (fake_tiktok.hpp): the
// generic signed call, envelopes and errors, retries and their modes, the
// rate limiter in the call path, customer-service counting, and the token
// and messaging calls.
#include "tikapi/client.hpp"

#include "tests/tikapi/fake_tiktok.hpp"
#include "tests/tikapi/test_support.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using namespace orderflow::tikapi;
using namespace orderflow::tikapi::test;
using orderflow::secret;
using json = nlohmann::json;

namespace {

const secret access_token("TTP_access_token_value");

}  // namespace

TEST_CASE("a signed call carries the common parameters and returns data on code 0", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"message":"Success","request_id":"r1","data":{"answer":42}})");
    };

    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query{{"page_token", "a/b+c= d"}, {"page_size", "20"}};
        co_return co_await c.call("GET", "/customer_service/202309/conversations", std::move(query), nullptr,
                                  access_token);
    });

    REQUIRE(res.ok());
    CHECK(res.value() == json{{"answer", 42}});
    REQUIRE(tiktok.received.size() == 1);
    const auto& req = tiktok.received[0];
    auto q = req.query();
    CHECK(req.method == "GET");
    CHECK(req.path() == "/customer_service/202309/conversations");
    CHECK(q.at("app_key") == app_key);
    CHECK(q.at("timestamp") == std::to_string(now));
    CHECK(q.at("shop_cipher") == "GCP_XF90");
    CHECK(q.at("page_token") == "a/b+c= d");   // decoded on the server, signed decoded
    CHECK(q.count("access_token") == 0);
    CHECK(req.header("x-tts-access-token") == "TTP_access_token_value");
    CHECK(req.header("content-type") == "application/json");
    CHECK(req.target.find("TTP_access_token_value") == std::string::npos);
}

TEST_CASE("calls that are not shop scoped leave out shop_cipher", "[client]") {
    fake_tiktok tiktok;
    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/authorization/202309/shops", std::move(query), nullptr, access_token,
                                  false);
    });
    REQUIRE(res.ok());
    CHECK(res.value() == json::object());
    REQUIRE(tiktok.received.size() == 1);
    CHECK(tiktok.received[0].query().count("shop_cipher") == 0);
}

TEST_CASE("code 105002 is an api error that says the token expired", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return http_response::json(
            401, R"({"code":105002,"message":"Expired credentials","request_id":"2022030707490001","data":null})");
    };
    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token);
    });

    REQUIRE_FALSE(res.ok());
    const auto& e = res.error();
    CHECK(e.kind == error_kind::api);
    CHECK(e.token_expired());
    CHECK(e.code == 105002);
    CHECK(e.http_status == 401);
    CHECK(e.request_id == "2022030707490001");
    CHECK(e.request_sent);
    CHECK_FALSE(e.retryable());
    CHECK(e.describe() == "TikTok error 105002: /order/202309/orders: Expired credentials (request_id 2022030707490001)");
}

TEST_CASE("rate limiting and internal errors are retryable api errors", "[client]") {
    // A plain call is at_most_once: only the rate-limit rejection is tried again
    // (4 attempts in all); the internal errors are returned at once.
    auto [status, code, attempts] =
        GENERATE(table<int, int, std::size_t>({{429, 36009002, 4}, {200, 36009003, 1}, {503, 36009003, 1}}));
    fake_tiktok tiktok;
    tiktok.respond = [status = status, code = code](const http_request&) {
        return http_response::json(status, json{{"code", code}, {"message", "try later"}, {"request_id", "x"}}.dump());
    };
    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::api);
    CHECK(res.error().code == code);
    CHECK(res.error().retryable());
    CHECK(tiktok.received.size() == attempts);
}

TEST_CASE("a non-JSON 502 is an http_status error", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        http_response r = http_response::text(502, "<html>Bad Gateway</html>");
        return r;
    };
    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::http_status);
    CHECK(res.error().http_status == 502);
    CHECK(res.error().retryable());
}

TEST_CASE("a 200 whose body is not an envelope is a decode error", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return http_response::json(200, R"({"unexpected":true})"); };
    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::decode);
    CHECK(res.error().request_sent);   // an answer came: TikTok may have acted
}

TEST_CASE("an answer nested 10,000 levels deep is a decode error that names the limit", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"message":"Success","data":{"deep":)" + std::string(10'000, '[') +
                                            std::string(10'000, ']') + "}}");
    };
    auto res = tiktok.call<result<json>>([](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::decode);
    CHECK_FALSE(res.error().retryable());
    CHECK(res.error().message == "/order/202309/orders: the response is JSON nested deeper than 64 levels");
    CHECK(tiktok.received.size() == 1);   // not retried: the same answer would come back
}

TEST_CASE("a wrong app secret is caught by the server's signature check", "[client]") {
    fake_tiktok tiktok;
    client_options o = tiktok.options();
    o.app_secret = secret("wrong-secret");
    client c(tiktok.ioc.get_executor(), std::move(o));
    auto res = run(tiktok.ioc, [&]() -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        auto r = co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token);
        tiktok.server.stop();
        co_return r;
    }());
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == 106001);
    CHECK(res.error().describe().find("wrong-secret") == std::string::npos);
}

TEST_CASE("get_order_detail asks for the ids comma-joined and decodes the orders", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        json orders = json::array();
        for (const char* id : {"1", "2"}) {
            orders.push_back({{"id", id}, {"status", "AWAITING_SHIPMENT"}, {"user_id", "buyer"},
                              {"line_items", {{{"id", "li"}, {"seller_sku", "ENG-1"}}}}});
        }
        CHECK(req.query().at("ids") == "1,2");
        return http_response::json(200, json{{"code", 0}, {"message", "Success"}, {"data", {{"orders", orders}}}}.dump());
    };
    auto res = tiktok.call<result<std::vector<order>>>([](client& c) -> asio::awaitable<result<std::vector<order>>> {
        std::vector<std::string> ids{"1", "2"};
        co_return co_await c.get_order_detail(ids, access_token);
    });
    REQUIRE(res.ok());
    REQUIRE(res.value().size() == 2);
    CHECK(res.value()[1].id == "2");
    CHECK(res.value()[0].line_items.at(0).seller_sku == "ENG-1");
    CHECK(tiktok.received.at(0).path() == "/order/202309/orders");
}

TEST_CASE("get_order_detail refuses more than 50 ids without calling", "[client]") {
    fake_tiktok tiktok;
    auto res = tiktok.call<result<std::vector<order>>>([](client& c) -> asio::awaitable<result<std::vector<order>>> {
        std::vector<std::string> ids(51, "1");
        co_return co_await c.get_order_detail(ids, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::decode);
    CHECK_FALSE(res.error().request_sent);   // refused before calling
    CHECK(tiktok.received.empty());
}

TEST_CASE("a malformed order in the response is a decode error", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"data":{"orders":[{"id":"1","create_time":"yesterday"}]}})");
    };
    auto res = tiktok.call<result<std::vector<order>>>([](client& c) -> asio::awaitable<result<std::vector<order>>> {
        std::vector<std::string> ids{"1"};
        co_return co_await c.get_order_detail(ids, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::decode);
    CHECK(res.error().message == "/order/202309/orders: data.orders[0].create_time must be an integer");
    CHECK(res.error().request_sent);
}

TEST_CASE("a send answered code 0 without its message id is a decode error about a request that was sent", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return http_response::json(200, R"({"code":0,"message":"Success","data":{}})"); };
    auto res = tiktok.call<result<std::string>>([](client& c) -> asio::awaitable<result<std::string>> {
        co_return co_await c.send_text_message("conv-1", "hello", access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::decode);
    CHECK(res.error().request_sent);
    CHECK(res.error().message.find("data.message_id is missing") != std::string::npos);
    CHECK(tiktok.received.size() == 1);   // at most once: not repeated
}

TEST_CASE("create_conversation posts the buyer id in a signed body", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        CHECK(json::parse(req.body) == json{{"buyer_user_id", "7021436810468230000"}});
        return http_response::json(200, R"({"code":0,"message":"Success","data":{"conversation_id":"conv-1"}})");
    };
    auto res = tiktok.call<result<std::string>>([](client& c) -> asio::awaitable<result<std::string>> {
        co_return co_await c.create_conversation("7021436810468230000", access_token);
    });
    REQUIRE(res.ok());
    CHECK(res.value() == "conv-1");
    REQUIRE(tiktok.received.size() == 1);
    CHECK(tiktok.received[0].method == "POST");
    CHECK(tiktok.received[0].path() == "/customer_service/202309/conversations");
}

TEST_CASE("send_text_message sends TEXT with the content as a JSON string", "[client]") {
    fake_tiktok tiktok;
    const std::string text = "ハナコ様、ご注文ありがとうございます。\n\"quotes\" too";
    tiktok.respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"message":"Success","data":{"message_id":"m-9"}})");
    };
    auto res = tiktok.call<result<std::string>>([&](client& c) -> asio::awaitable<result<std::string>> {
        co_return co_await c.send_text_message("conv-1", text, access_token);
    });
    REQUIRE(res.ok());
    CHECK(res.value() == "m-9");
    REQUIRE(tiktok.received.size() == 1);
    const auto& req = tiktok.received[0];
    CHECK(req.path() == "/customer_service/202309/conversations/conv-1/messages");
    auto body = json::parse(req.body);
    CHECK(body.at("type") == "TEXT");
    REQUIRE(body.at("content").is_string());
    CHECK(json::parse(body.at("content").get<std::string>()) == json{{"content", text}});
}

TEST_CASE("a text message is limited to 2000 characters, not bytes", "[client]") {
    std::string at_limit;
    for (int i = 0; i < 2000; ++i) at_limit += "あ";   // 6000 bytes, 2000 characters
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"data":{"message_id":"m-1"}})");
    };
    auto [fits, too_long] = tiktok.call<std::pair<result<std::string>, result<std::string>>>(
        [&](client& c) -> asio::awaitable<std::pair<result<std::string>, result<std::string>>> {
            auto a = co_await c.send_text_message("conv-1", at_limit, access_token);
            std::string longer = at_limit + "a";
            auto b = co_await c.send_text_message("conv-1", longer, access_token);
            co_return std::pair{std::move(a), std::move(b)};
        });
    CHECK(fits.ok());
    REQUIRE_FALSE(too_long.ok());
    CHECK(too_long.error().kind == error_kind::decode);
    CHECK(too_long.error().message.find("too long") != std::string::npos);
    CHECK(tiktok.received.size() == 1);   // the long one was never sent
}

TEST_CASE("get_token trades the code on the auth host and never leaks the secret", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        auto q = req.query();
        bool good = req.path() == "/api/v2/token/get" && q["app_key"] == app_key && q["app_secret"] == app_secret &&
                    q["auth_code"] == "CODE+/=1" && q["grant_type"] == "authorized_code" && q.count("sign") == 0;
        if (!good) {
            return http_response::json(200, R"({"code":36004004,"message":"invalid auth code","request_id":"t"})");
        }
        return http_response::json(200, R"({"code":0,"message":"success","request_id":"t","data":{
            "access_token":"TTP_new","access_token_expire_in":1660556783,
            "refresh_token":"TTP_refresh","refresh_token_expire_in":1691570783,
            "open_id":"o","seller_name":"Shop","seller_base_region":"JP","user_type":0}})");
    };
    auto res = tiktok.call<result<token_set>>([](client& c) -> asio::awaitable<result<token_set>> {
        co_return co_await c.get_token("CODE+/=1");
    });
    REQUIRE(res.ok());
    CHECK(res.value().access_token.reveal() == "TTP_new");
    CHECK(res.value().refresh_token.reveal() == "TTP_refresh");
    CHECK(res.value().access_expires_at == 1660556783);
    CHECK(res.value().seller_base_region == "JP");
}

TEST_CASE("token refresh failures describe the path without the query", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        CHECK(req.path() == "/api/v2/token/refresh");
        CHECK(req.query()["refresh_token"] == "TTP_old_refresh");
        CHECK(req.query()["grant_type"] == "refresh_token");
        return http_response::text(500, "oops");
    };
    auto res = tiktok.call<result<token_set>>([](client& c) -> asio::awaitable<result<token_set>> {
        secret refresh("TTP_old_refresh");
        co_return co_await c.refresh_token(refresh);
    });
    REQUIRE_FALSE(res.ok());
    auto text = res.error().describe();
    CHECK(text.find("/api/v2/token/refresh") != std::string::npos);
    CHECK(text.find(app_secret) == std::string::npos);
    CHECK(text.find("TTP_old_refresh") == std::string::npos);
}

TEST_CASE("an unreachable API is a connect error that names only the path", "[client]") {
    asio::io_context ioc;
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    client_options o;
    o.api_base = *url::parse("http://127.0.0.1:" + std::to_string(port));
    o.auth_base = o.api_base;
    o.app_key = app_key;
    o.app_secret = secret(app_secret);
    client c(ioc.get_executor(), std::move(o));
    auto res = run(ioc, [&]() -> asio::awaitable<result<token_set>> { co_return co_await c.get_token("abc"); }());
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::connect);
    CHECK(res.error().describe().find(app_secret) == std::string::npos);
    CHECK(res.error().describe().find("/api/v2/token/get") != std::string::npos);
}

TEST_CASE("utf8_length counts characters", "[client]") {
    CHECK(utf8_length("") == 0);
    CHECK(utf8_length("abc") == 3);
    CHECK(utf8_length("あい") == 2);
    CHECK(utf8_length("\xF0\x9F\x98\x80") == 1);
}

// ---------------------------------------------------------------------------
// Retries, the rate limiter in the call path, customer-service counting.

TEST_CASE("an idempotent call is retried through two 36009003s and then succeeds", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.respond = [&tiktok](const http_request&) {
        if (tiktok.received.size() <= 2) return error_envelope(200, 36009003, "internal error, retry");
        return ok_envelope({{"orders", {{{"id", "1"}}}}});
    };
    auto res = tiktok.call<result<std::vector<order>>>([](client& c) -> asio::awaitable<result<std::vector<order>>> {
        std::vector<std::string> ids{"1"};
        co_return co_await c.get_order_detail(ids, access_token);
    });
    REQUIRE(res.ok());
    CHECK(res.value().at(0).id == "1");
    REQUIRE(tiktok.received.size() == 3);
    // Each attempt is signed anew (the fake checked every signature) with the same body.
    for (const auto& r : tiktok.received) CHECK(r.query().at("ids") == "1");
}

TEST_CASE("retries stop after max_attempts and return the last error", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return error_envelope(503, 36009003); };
    auto attempts = GENERATE(1, 2, 4);
    auto o = tiktok.options();
    o.max_attempts = attempts;
    auto res = tiktok.call_with<result<json>>(std::move(o), [](client& c) -> asio::awaitable<result<json>> {
        std::map<std::string, std::string> query;
        co_return co_await c.call("GET", "/order/202309/orders", std::move(query), nullptr, access_token, true,
                                  retry::idempotent);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == 36009003);
    CHECK(tiktok.received.size() == static_cast<std::size_t>(attempts));
}

TEST_CASE("an at_most_once call is not retried after an internal error", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return error_envelope(200, 36009003); };
    auto res = tiktok.call<result<std::string>>([](client& c) -> asio::awaitable<result<std::string>> {
        co_return co_await c.send_text_message("conv-1", "hello", access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == 36009003);
    CHECK(tiktok.received.size() == 1);
}

TEST_CASE("an at_most_once call is retried after a rate-limit rejection", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.respond = [&tiktok](const http_request&) {
        if (tiktok.received.size() == 1) return error_envelope(429, 36009002, "Too many requests");
        return ok_envelope({{"message_id", "m-1"}});
    };
    auto res = tiktok.call<result<std::string>>([](client& c) -> asio::awaitable<result<std::string>> {
        co_return co_await c.send_text_message("conv-1", "hello", access_token);
    });
    REQUIRE(res.ok());
    CHECK(res.value() == "m-1");
    CHECK(tiktok.received.size() == 2);
}

TEST_CASE("a send that times out after sending is not retried", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.slow_requests = 1;
    tiktok.slow_delay = std::chrono::milliseconds(400);
    tiktok.respond = [](const http_request&) { return ok_envelope({{"message_id", "m-1"}}); };
    auto o = tiktok.options();
    o.timeout = std::chrono::milliseconds(100);
    auto res = tiktok.call_with<result<std::string>>(std::move(o), [](client& c) -> asio::awaitable<result<std::string>> {
        co_return co_await c.send_text_message("conv-1", "hello", access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::timeout);
    CHECK(res.error().request_sent);   // the caller's outbox records it as unknown
    CHECK(tiktok.received.size() == 1);
}

TEST_CASE("an idempotent read that times out is retried", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.slow_requests = 1;
    tiktok.slow_delay = std::chrono::milliseconds(400);
    tiktok.respond = [](const http_request&) { return ok_envelope({{"tracking", json::array()}}); };
    auto o = tiktok.options();
    o.timeout = std::chrono::milliseconds(100);
    auto res = tiktok.call_with<result<std::vector<tracking_event>>>(
        std::move(o), [](client& c) -> asio::awaitable<result<std::vector<tracking_event>>> {
            co_return co_await c.get_tracking("576486316948490001", access_token);
        });
    REQUIRE(res.ok());
    CHECK(tiktok.received.size() == 2);
}

TEST_CASE("an expired token (105002) is returned at once, for the daemon to refresh", "[client][retry]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return error_envelope(401, 105002, "Expired credentials"); };
    auto res = tiktok.call<result<std::vector<order>>>([](client& c) -> asio::awaitable<result<std::vector<order>>> {
        std::vector<std::string> ids{"1"};
        co_return co_await c.get_order_detail(ids, access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().token_expired());
    CHECK(tiktok.received.size() == 1);
}

TEST_CASE("the backoff is capped exponential with full jitter", "[client][retry]") {
    using std::chrono::milliseconds;
    const milliseconds base{200}, cap{5000};
    CHECK(backoff_ceiling(1, base, cap) == milliseconds(200));
    CHECK(backoff_ceiling(2, base, cap) == milliseconds(400));
    CHECK(backoff_ceiling(3, base, cap) == milliseconds(800));
    CHECK(backoff_ceiling(5, base, cap) == milliseconds(3200));
    CHECK(backoff_ceiling(6, base, cap) == milliseconds(5000));
    CHECK(backoff_ceiling(1000, base, cap) == milliseconds(5000));   // no overflow
    CHECK(backoff_ceiling(0, base, cap) == milliseconds(0));

    CHECK(retry_delay(3, base, cap, 0.0) == milliseconds(0));
    CHECK(retry_delay(3, base, cap, 0.5) == milliseconds(400));
    CHECK(retry_delay(3, base, cap, 0.999) == milliseconds(799));
    CHECK(retry_delay(10, base, cap, 0.25) == milliseconds(1250));
    CHECK(retry_delay(2, base, cap, 1.0) == milliseconds(400));   // clamped to the ceiling
}

TEST_CASE("all callers of one shared limiter draw from the same bucket", "[client][rate_limit]") {
    fake_tiktok tiktok;
    rate_limiter_options lo;
    lo.rate = 0.001;   // nothing refills while the test runs
    lo.burst = 3;
    auto shared = std::make_shared<rate_limiter>(lo);
    auto o = tiktok.options();
    o.limiter = shared;
    auto res = tiktok.call_with<result<conversation_page>>(
        std::move(o), [](client& c) -> asio::awaitable<result<conversation_page>> {
            auto a = co_await c.get_conversation_messages("conv-1", 10, "", access_token);
            auto b = co_await c.get_conversation_messages("conv-2", 10, "", access_token);
            (void)a;
            (void)b;
            co_return co_await c.get_conversations(20, "", access_token);
        });
    REQUIRE(res.ok());
    const auto now = rate_limiter::clock::now();
    // Two conversations share the messages bucket: its burst of 3 has one token left.
    CHECK(shared->reserve("/customer_service/202309/conversations/{id}/messages", now) == std::chrono::nanoseconds(0));
    CHECK(shared->reserve("/customer_service/202309/conversations/{id}/messages", now) > std::chrono::nanoseconds(0));
    // The conversations list has its own bucket, of which one token was used.
    CHECK(shared->reserve("/customer_service/202309/conversations", now) == std::chrono::nanoseconds(0));
    CHECK(shared->reserve("/customer_service/202309/conversations", now) == std::chrono::nanoseconds(0));
    CHECK(shared->reserve("/customer_service/202309/conversations", now) > std::chrono::nanoseconds(0));
}

// orderflow_tiktok_call_seconds is what TikTok took, so the wait for the
// second's count (admit, after connecting) is not part of an attempt's time.
TEST_CASE("an attempt's time leaves out its wait for the rate limit", "[client][rate_limit]") {
    fake_tiktok tiktok;
    rate_limiter_options lo;
    lo.rate = 1;    // one send a second: the second call waits about a second to be admitted
    lo.burst = 5;   // while its slot is free at once
    auto o = tiktok.options();
    o.limiter = std::make_shared<rate_limiter>(lo);
    std::vector<std::chrono::nanoseconds> took;
    o.on_attempt = [&](const attempt_report& r) { took.push_back(r.took); };
    const auto started = std::chrono::steady_clock::now();
    auto res = tiktok.call_with<result<conversation_page>>(
        std::move(o), [](client& c) -> asio::awaitable<result<conversation_page>> {
            auto first = co_await c.get_conversations(20, "", access_token);
            (void)first;
            co_return co_await c.get_conversations(20, "", access_token);
        });
    const auto elapsed = std::chrono::steady_clock::now() - started;
    REQUIRE(res.ok());
    REQUIRE(took.size() == 2);
    CHECK(elapsed >= std::chrono::milliseconds(900));      // it did wait
    CHECK(took[1] < std::chrono::milliseconds(500));       // and that wait is not the call's time
}

TEST_CASE("a 429 throttles that API in the limiter", "[client][rate_limit]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return error_envelope(429, 36009002, "Too many requests"); };
    rate_limiter_options lo;
    lo.penalty = std::chrono::minutes(1);   // long, so the check below cannot race it
    auto shared = std::make_shared<rate_limiter>(lo);
    auto o = tiktok.options();
    o.limiter = shared;
    o.max_attempts = 1;   // do not wait out the penalty
    auto res = tiktok.call_with<result<std::vector<tracking_event>>>(
        std::move(o), [](client& c) -> asio::awaitable<result<std::vector<tracking_event>>> {
            co_return co_await c.get_tracking("576486316948490001", access_token);
        });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().rate_limited());
    const auto now = rate_limiter::clock::now();
    CHECK(shared->reserve("/fulfillment/202309/orders/{id}/tracking", now) > std::chrono::seconds(30));
    CHECK(shared->reserve("/fulfillment/202309/packages/{id}", now) == std::chrono::nanoseconds(0));
}

TEST_CASE("the client makes its own limiter when none is given", "[client][rate_limit]") {
    fake_tiktok tiktok;
    auto o = tiktok.options();
    o.limiter = nullptr;
    o.rate_limit_qps = 7;
    client c(tiktok.ioc.get_executor(), std::move(o));
    REQUIRE(c.options().limiter);
    CHECK(c.options().limiter->options().rate == 7);
    CHECK(c.options().limiter->options().burst == 7);
}

TEST_CASE("customer-service calls are counted per UTC day", "[client][quota]") {
    fake_tiktok tiktok;
    tiktok.respond = [&tiktok](const http_request& req) {
        // The first conversations call fails twice with 36009003: retries count too.
        if (req.path() == "/customer_service/202309/conversations" && tiktok.received.size() <= 2) {
            return error_envelope(200, 36009003);
        }
        return ok_envelope(json::object());
    };
    client c(tiktok.ioc.get_executor(), tiktok.options());
    CHECK(c.cs_calls_today() == 0);
    auto counts = run(tiktok.ioc, [&]() -> asio::awaitable<std::vector<std::int64_t>> {
        std::vector<std::int64_t> out;
        auto a = co_await c.get_conversations(20, "", access_token);   // 3 requests
        out.push_back(c.cs_calls_today());
        auto b = co_await c.mark_read("conv-1", access_token);
        auto d = co_await c.get_conversation_messages("conv-1", 10, "", access_token);
        out.push_back(c.cs_calls_today());
        auto e = co_await c.get_tracking("576486316948490001", access_token);   // not customer service
        out.push_back(c.cs_calls_today());
        auto f = co_await c.get_conversations(21, "", access_token);   // refused: nothing sent
        (void)a, (void)b, (void)d, (void)e, (void)f;

        tiktok.clock_now = 1623887999;   // 23:59:59 UTC, same day
        out.push_back(c.cs_calls_today());
        tiktok.clock_now = 1623888000;   // midnight UTC: a new day
        out.push_back(c.cs_calls_today());
        auto g = co_await c.mark_read("conv-1", access_token);
        (void)g;
        out.push_back(c.cs_calls_today());
        tiktok.server.stop();
        co_return out;
    }());
    CHECK(counts == std::vector<std::int64_t>{3, 5, 5, 5, 0, 1});
}

TEST_CASE("requests that never reached TikTok are not counted against the quota", "[client][quota]") {
    asio::io_context ioc;
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    client_options o;
    o.api_base = *url::parse("http://127.0.0.1:" + std::to_string(port));
    o.auth_base = o.api_base;
    o.app_key = app_key;
    o.app_secret = secret(app_secret);
    o.backoff_base = std::chrono::milliseconds(1);
    o.backoff_cap = std::chrono::milliseconds(2);
    client c(ioc.get_executor(), std::move(o));
    auto res = run(ioc, [&]() -> asio::awaitable<result<conversation_page>> {
        co_return co_await c.get_conversations(20, "", access_token);
    }());
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::connect);
    CHECK_FALSE(res.error().request_sent);
    CHECK(c.cs_calls_today() == 0);
}

TEST_CASE("a 45101004 sets the day's customer-service count to the quota, and a stored count resumes", "[client][quota]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        if (req.path() == "/customer_service/202309/conversations/conv-1/messages/read") return error_envelope(200, 45101004);
        return ok_envelope(json::object());
    };
    auto options = tiktok.options();
    options.cs_daily_quota = 30;
    std::vector<std::int64_t> told;
    options.on_cs_count = [&told](std::int64_t n) { told.push_back(n); };
    client c(tiktok.ioc.get_executor(), std::move(options));
    c.resume_cs_calls(7);   // as after a restart
    CHECK(c.cs_calls_today() == 7);
    c.resume_cs_calls(3);   // never lower than what was counted
    CHECK(c.cs_calls_today() == 7);
    auto counts = run(tiktok.ioc, [&]() -> asio::awaitable<std::vector<std::int64_t>> {
        std::vector<std::int64_t> out;
        auto a = co_await c.get_conversations(20, "", access_token);
        out.push_back(c.cs_calls_today());
        auto b = co_await c.mark_read("conv-1", access_token);   // TikTok: the quota is reached
        CHECK_FALSE(b.ok());
        out.push_back(c.cs_calls_today());
        (void)a;
        tiktok.server.stop();
        co_return out;
    }());
    CHECK(counts == std::vector<std::int64_t>{8, 30});
    CHECK(told == std::vector<std::int64_t>{8, 30});
}

}  // namespace ORDERFLOW_TEST_FILE
