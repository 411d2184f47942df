// A tiny in-test TikTok for the client tests: an http_server on 127.0.0.1
// (port 0) that checks every signature with sign_request, as TikTok would,
// and answers with the envelopes of docs/tiktok-shop-api.md §4.
#pragma once

#include "tikapi/client.hpp"

#include "tikapi/signing.hpp"
#include "tests/tikapi/test_support.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace orderflow::tikapi::test {

inline constexpr const char* app_key = "29a39d";
inline constexpr const char* app_secret = "e59af819cc";
inline constexpr std::int64_t now = 1623812664;

// {"code":0,"message":"Success","request_id":"r1","data":<data>}
inline http_response ok_envelope(const nlohmann::json& data) {
    return http_response::json(
        200, nlohmann::json{{"code", 0}, {"message", "Success"}, {"request_id", "r1"}, {"data", data}}.dump());
}

inline http_response error_envelope(int status, std::int64_t code, const std::string& message = "error") {
    return http_response::json(
        status, nlohmann::json{{"code", code}, {"message", message}, {"request_id", "err"}, {"data", nullptr}}.dump());
}

// `respond` decides the answer once the signature checked out; a bad
// signature gets the real error (106001, HTTP 401). The first
// `slow_requests` requests are answered only after `slow_delay` (to make the
// client time out after sending).
struct fake_tiktok {
    boost::asio::io_context ioc;
    std::vector<http_request> received;
    std::int64_t clock_now = now;
    int slow_requests = 0;
    std::chrono::milliseconds slow_delay{0};
    std::function<http_response(const http_request&)> respond = [](const http_request&) {
        return http_response::json(200, R"({"code":0,"message":"Success","request_id":"r1","data":{}})");
    };
    http_server server{ioc.get_executor(), "127.0.0.1", 0,
                       [this](http_request& req) -> boost::asio::awaitable<http_response> {
                           received.push_back(req);
                           if (static_cast<int>(received.size()) <= slow_requests) {
                               boost::asio::steady_timer timer(ioc.get_executor());
                               timer.expires_after(slow_delay);
                               co_await timer.async_wait(boost::asio::use_awaitable);
                           }
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

    // Options for a client of this server. Retries back off for at most a
    // few milliseconds and a 429 pauses the API for 1-2 ms, so the tests stay
    // fast; the seeds make the jitter repeatable.
    client_options options() {
        client_options o;
        o.api_base = *url::parse("http://127.0.0.1:" + std::to_string(server.port()));
        o.auth_base = o.api_base;
        o.app_key = app_key;
        o.app_secret = secret(app_secret);
        o.shop_cipher = "GCP_XF90";
        o.timeout = std::chrono::milliseconds(5000);
        o.clock = [this] { return clock_now; };
        o.backoff_base = std::chrono::milliseconds(1);
        o.backoff_cap = std::chrono::milliseconds(4);
        o.random_seed = 7;
        rate_limiter_options lo;
        lo.penalty = std::chrono::milliseconds(1);
        lo.penalty_jitter = std::chrono::milliseconds(1);
        lo.seed = 7;
        o.limiter = std::make_shared<rate_limiter>(lo);
        return o;
    }

    // Runs `body` with a client made from `o` to completion, then stops the server.
    template <class T>
    T call_with(client_options o, std::function<boost::asio::awaitable<T>(client&)> body) {
        client c(ioc.get_executor(), std::move(o));
        return run(ioc, [&]() -> boost::asio::awaitable<T> {
            auto r = co_await body(c);
            server.stop();
            co_return r;
        }());
    }

    template <class T>
    T call(std::function<boost::asio::awaitable<T>(client&)> body) {
        return call_with<T>(options(), std::move(body));
    }

    // The page_token each request carried ("" when absent).
    std::vector<std::string> page_tokens() const {
        std::vector<std::string> out;
        for (const auto& r : received) {
            auto q = r.query();
            out.push_back(q.count("page_token") ? q.at("page_token") : "");
        }
        return out;
    }
};

}  // namespace orderflow::tikapi::test
