// tikapi::client against a tiny in-test TikTok: an http_server on 127.0.0.1
// (port 0) that checks every signature with sign_request, as TikTok would,
// and answers with the envelopes of docs/tiktok-shop-api.md §4.
#include "tikapi/client.hpp"

#include "tikapi/signing.hpp"
#include "tests/tikapi/test_support.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

namespace asio = boost::asio;
using namespace orderflow::tikapi;
using orderflow::secret;
using orderflow::tikapi::test::run;
using json = nlohmann::json;

namespace {

constexpr const char* app_key = "29a39d";
constexpr const char* app_secret = "e59af819cc";
constexpr std::int64_t now = 1623812664;

// The fake TikTok. `respond` decides the answer once the signature checked
// out; a bad signature gets the real error (106001, HTTP 401).
struct fake_tiktok {
    asio::io_context ioc;
    std::vector<http_request> received;
    std::function<http_response(const http_request&)> respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"message":"Success","request_id":"r1","data":{}})");
    };
    http_server server{ioc.get_executor(), "127.0.0.1", 0,
                       [this](http_request& req) -> asio::awaitable<http_response> {
                           received.push_back(req);
                           if (req.path().rfind("/api/v2/token/", 0) != 0) {
                               auto q = req.query();
                               auto it = q.find("sign");
                               if (it == q.end() || it->second != sign_request(app_secret, req.path(), q, req.body)) {
                                   co_return http_response::json(
                                       401, R"({"code":106001,"message":"signature is invalid","request_id":"bad"})");
                               }
                           }
                           co_return respond(req);
                       }};

    fake_tiktok() { server.start(); }

    client_options options() {
        client_options o;
        o.api_base = *url::parse("http://127.0.0.1:" + std::to_string(server.port()));
        o.auth_base = o.api_base;
        o.app_key = app_key;
        o.app_secret = secret(app_secret);
        o.shop_cipher = "GCP_XF90";
        o.timeout = std::chrono::milliseconds(5000);
        o.clock = [] { return now; };
        return o;
    }

    // Runs one client call to completion, then stops the server.
    template <class T>
    T call(std::function<asio::awaitable<T>(client&)> body) {
        client c(ioc.get_executor(), options());
        return run(ioc, [&]() -> asio::awaitable<T> {
            auto r = co_await body(c);
            server.stop();
            co_return r;
        }());
    }
};

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
    auto [status, code] = GENERATE(table<int, int>({{429, 36009002}, {200, 36009003}, {503, 36009003}}));
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
    CHECK(res.error().message.find("order.create_time must be an integer") != std::string::npos);
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
