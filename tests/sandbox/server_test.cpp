// The sandbox on a real socket (tikapi/sandbox/server.cpp): a webhook
// receiver on port 0 in the same io_context gets a correctly signed
// notification for a new order, the first attempt is failed on purpose and
// retried (with a tiny retry scale), and a redelivery repeats the same id.
#include "tikapi/sandbox/server.hpp"

#include "tests/sandbox/helpers.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("Over a socket, a new order arrives as a signed webhook, retried after a failure", "[server][webhooks]") {
    asio::io_context io;
    orderflow::sandbox::shop_options options;
    options.app_key = app_key;
    options.app_secret = orderflow::secret(app_secret);
    options.shop_cipher = cipher;
    options.retry_scale = 0.0001;   // 2 min -> 12 ms
    orderflow::sandbox::shop shop(std::move(options));
    orderflow::sandbox::server sandbox(io.get_executor(), shop, "127.0.0.1", 0);
    sandbox.start();
    REQUIRE(sandbox.port() != 0);

    std::vector<http_request> received;
    orderflow::tikapi::http_server receiver(
        io.get_executor(), "127.0.0.1", 0, [&](http_request& r) -> asio::awaitable<http_response> {
            received.push_back(r);
            co_return http_response::text(received.size() == 1 ? 500 : 200, "");
        });
    receiver.start();

    auto run_until = [&](auto done) {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
        return done();
    };

    // Drive the sandbox through its socket, as the demo and the daemon do.
    std::vector<http_response> answers;
    auto send = [&](http_request request) {
        asio::co_spawn(
            io,
            [&, request]() mutable -> asio::awaitable<void> {
                orderflow::tikapi::http_client client(io.get_executor());
                auto base = *orderflow::tikapi::url::parse("http://127.0.0.1:" + std::to_string(sandbox.port()));
                auto r = co_await client.send(base, std::move(request), 5s);
                answers.push_back(r ? r.value() : http_response::text(599, r.error().describe()));
            },
            asio::detached);
        const auto before = answers.size();
        REQUIRE(run_until([&] { return answers.size() > before; }));
        return body_of(answers.back());
    };

    const std::string hook = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hooks/tiktok";
    CHECK(send(plain("POST", "/control/webhook", json{{"url", hook}}.dump()))["url"] == hook);
    json order = send(plain("POST", "/control/orders",
                            json{{"buyer_name", "山田 花子"},
                                 {"status", "AWAITING_SHIPMENT"},
                                 {"line_items", json::array({{{"seller_sku", "ENG-RING-01"},
                                                              {"product_name", "刻印リング"},
                                                              {"sale_price", "4980"}}})}}
                                .dump()));
    REQUIRE(order["id"].is_string());

    REQUIRE(run_until([&] { return shop.find_delivery(1) && shop.find_delivery(1)->delivered; }));
    REQUIRE(received.size() == 2);
    for (const auto& r : received) {
        CHECK(r.method == "POST");
        CHECK(r.path() == "/hooks/tiktok");
        CHECK(r.header("Authorization") == hmac_hex(app_secret, std::string(app_key) + r.body));
    }
    CHECK(received[0].body == received[1].body);
    json payload = json::parse(received[1].body, nullptr, false);
    CHECK(payload["type"] == 1);
    CHECK(payload["data"]["order_id"] == order["id"]);
    CHECK(payload["data"]["order_status"] == "AWAITING_SHIPMENT");

    json log = send(plain("GET", "/control/webhooks"))["webhooks"][0];
    CHECK(log["attempts"] == 2);
    CHECK(log["delivered"] == true);
    CHECK(log["last_status"] == 200);

    SECTION("a redelivery repeats the notification id") {
        send(plain("POST", "/control/webhooks/redeliver", "{}"));
        REQUIRE(run_until([&] { return received.size() == 3; }));
        CHECK(json::parse(received[2].body)["tts_notification_id"] == payload["tts_notification_id"]);
        CHECK(received[2].header("Authorization") == received[1].header("Authorization"));
    }
    SECTION("the Open API answers over the socket with the envelope") {
        json env = send(plain("GET", "/order/202309/orders?ids=1"));
        CHECK(env["code"] == 36009004);
        CHECK(env["request_id"].is_string());
    }

    sandbox.stop();
    receiver.stop();
    io.run_for(5s);
}

TEST_CASE("A receiver that never answers 200 is given up after the 4th retry", "[server][webhooks]") {
    asio::io_context io;
    orderflow::sandbox::shop_options options;
    options.app_key = app_key;
    options.app_secret = orderflow::secret(app_secret);
    options.shop_cipher = cipher;
    options.retry_scale = 0.00001;   // 2 min .. 12 h -> 1.2 ms .. 432 ms
    orderflow::sandbox::shop shop(std::move(options));
    orderflow::sandbox::server sandbox(io.get_executor(), shop, "127.0.0.1", 0);
    sandbox.start();

    int hits = 0;
    orderflow::tikapi::http_server receiver(io.get_executor(), "127.0.0.1", 0,
                                            [&](http_request&) -> asio::awaitable<http_response> {
                                                ++hits;
                                                co_return http_response::text(503, "busy");
                                            });
    receiver.start();
    REQUIRE_FALSE(shop.set_webhook_url("http://127.0.0.1:" + std::to_string(receiver.port()) + "/"));
    shop.handle(plain("POST", "/control/orders",
                      json{{"buyer_name", "a"},
                           {"line_items", json::array({{{"seller_sku", "S"}, {"product_name", "p"}, {"sale_price", "1"}}})}}
                          .dump()));

    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!shop.find_delivery(1)->gave_up && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
    const auto& d = *shop.find_delivery(1);
    CHECK(d.gave_up);
    CHECK(d.attempts == 5);
    CHECK(hits == 5);
    CHECK(d.last_status == 503);

    sandbox.stop();
    receiver.stop();
    io.run_for(5s);
}

TEST_CASE("The server refuses to listen anywhere but loopback", "[server]") {
    asio::io_context io;
    fixture f;
    CHECK_THROWS_AS(orderflow::sandbox::server(io.get_executor(), f.shop, "0.0.0.0", 0), std::invalid_argument);
}

namespace {

// A sandbox on a socket with a client, for the fault tests below.
struct socket_rig {
    asio::io_context io;
    fixture f;
    orderflow::sandbox::server sandbox{io.get_executor(), f.shop, "127.0.0.1", 0};

    explicit socket_rig(tweak_options change = {}) : f(std::move(change)) { sandbox.start(); }
    ~socket_rig() {
        sandbox.stop();
        io.run_for(std::chrono::seconds(2));
    }

    orderflow::tikapi::result<http_response> send(http_request request, std::chrono::milliseconds timeout) {
        std::optional<orderflow::tikapi::result<http_response>> answer;
        asio::co_spawn(
            io,
            [&, request]() mutable -> asio::awaitable<void> {
                orderflow::tikapi::http_client client(io.get_executor());
                auto base = *orderflow::tikapi::url::parse("http://127.0.0.1:" + std::to_string(sandbox.port()));
                auto r = co_await client.send(base, std::move(request), timeout);
                answer.emplace(std::move(r));
            },
            asio::detached);
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!answer && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
        REQUIRE(answer.has_value());
        return std::move(*answer);
    }
};

}  // namespace

TEST_CASE("Over a socket, a dropped call closes the connection unanswered, after the request was sent",
          "[server][faults]") {
    socket_rig rig([](auto& o) { o.faults.drop_after_share = 1.0; });
    rig.f.authorize();
    json order = rig.f.create_order("AWAITING_SHIPMENT");
    const std::string package = order["packages"][0]["id"];
    auto answer = rig.send(rig.f.signed_request("POST", "/fulfillment/202309/packages/" + package + "/ship", {},
                                                json{{"self_shipment", {{"tracking_number", "YMT-1234567"},
                                                                        {"shipping_provider_id", yamato}}}}.dump()),
                           5s);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().request_sent);
    // Processed before the drop, as a timed-out write at TikTok may have been.
    CHECK(rig.f.shop.find_order(order["id"].get<std::string>())->status == "AWAITING_COLLECTION");
    // Control paths are never faulted.
    auto control = rig.send(plain("GET", "/control/orders"), 5s);
    REQUIRE(control.ok());
    CHECK(control.value().status == 200);
}

TEST_CASE("Over a socket, a slow answer outlasts the client's timeout although the call was processed",
          "[server][faults]") {
    socket_rig rig([](auto& o) { o.faults.slow_share = 1.0; o.faults.slow_ms = 400; });
    rig.f.authorize();
    auto answer = rig.send(rig.f.signed_request("GET", "/authorization/202309/shops", {}, "", false), 100ms);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().kind == orderflow::tikapi::error_kind::timeout);
    REQUIRE(rig.f.shop.calls().size() == 2);
    CHECK(rig.f.shop.calls().back().fault == "slow");
    CHECK(rig.f.shop.calls().back().code == 0);
}

TEST_CASE("The server's timer ends the ON_HOLD window without any request", "[server][time]") {
    asio::io_context io;
    orderflow::sandbox::shop_options options;
    options.app_key = app_key;
    options.app_secret = orderflow::secret(app_secret);
    options.shop_cipher = cipher;
    options.hold_seconds = 0;   // due at once: the timer, not a request, must move it
    orderflow::sandbox::shop shop(std::move(options));
    orderflow::sandbox::server sandbox(io.get_executor(), shop, "127.0.0.1", 0);
    sandbox.start();
    shop.handle(plain("POST", "/control/load", json{{"orders", 3}, {"rate", 1000}, {"message_share", 0}}.dump()));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto all_ready = [&] {
        auto orders = shop.orders();
        return orders.size() == 3 && std::all_of(orders.begin(), orders.end(),
                                                 [](const auto& o) { return o.status == "AWAITING_SHIPMENT"; });
    };
    while (!all_ready() && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
    CHECK(all_ready());
    sandbox.stop();
    io.run_for(2s);
}

}  // namespace ORDERFLOW_TEST_FILE
