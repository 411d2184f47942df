// The typed order, fulfilment, logistics, customer-service, shop and event
// calls of tikapi::client against the fake TikTok: method, path, query and
// body as docs/tiktok-shop-api.md §3, §5 and §6 describe them, pagination,
// and argument checks that refuse without calling.
#include "tikapi/client.hpp"

#include "tests/tikapi/fake_tiktok.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using namespace orderflow::tikapi;
using namespace orderflow::tikapi::test;
using orderflow::secret;
using json = nlohmann::json;

namespace {

const secret access_token("TTP_access_token_value");

json order_json(const std::string& id, const std::string& status = "AWAITING_SHIPMENT") {
    return json{{"id", id}, {"status", status}, {"update_time", 1700000000}};
}

}  // namespace

TEST_CASE("search_orders pages through three pages passing each page_token back", "[client][pagination]") {
    fake_tiktok tiktok;
    // The tokens hold characters that must be percent-encoded on the wire and signed decoded.
    tiktok.respond = [](const http_request& req) {
        auto q = req.query();
        const std::string token = q.count("page_token") ? q.at("page_token") : "";
        if (token.empty()) return ok_envelope({{"orders", {order_json("1"), order_json("2")}}, {"next_page_token", "p2/+="}, {"total_count", 5}});
        if (token == "p2/+=") return ok_envelope({{"orders", {order_json("3"), order_json("4")}}, {"next_page_token", "p 3"}, {"total_count", 5}});
        if (token == "p 3") return ok_envelope({{"orders", {order_json("5")}}, {"next_page_token", ""}, {"total_count", 5}});
        return error_envelope(200, 36009004, "bad page token");
    };
    using pages = std::vector<order_page>;
    auto res = tiktok.call<result<pages>>([](client& c) -> asio::awaitable<result<pages>> {
        order_search q;
        q.update_time_ge = 1700000000;
        q.page_size = 2;
        pages out;
        for (int i = 0; i < 10; ++i) {
            auto page = co_await c.search_orders(q, access_token);
            if (!page.ok()) co_return page.error();
            out.push_back(page.value());
            q.page_token = page.value().next_page_token;
            if (q.page_token.empty()) break;
        }
        co_return out;
    });
    REQUIRE(res.ok());
    REQUIRE(res.value().size() == 3);
    std::vector<std::string> ids;
    for (const auto& p : res.value()) {
        CHECK(p.total_count == 5);
        for (const auto& o : p.orders) ids.push_back(o.id);
    }
    CHECK(ids == std::vector<std::string>{"1", "2", "3", "4", "5"});
    CHECK(tiktok.page_tokens() == std::vector<std::string>{"", "p2/+=", "p 3"});

    const auto& first = tiktok.received.at(0);
    CHECK(first.method == "POST");
    CHECK(first.path() == "/order/202309/orders/search");
    auto q = first.query();
    CHECK(q.at("page_size") == "2");
    CHECK(q.at("sort_field") == "update_time");
    CHECK(q.at("sort_order") == "ASC");
    CHECK(q.at("shop_cipher") == "GCP_XF90");
    CHECK(json::parse(first.body) == json{{"update_time_ge", 1700000000}});
}

TEST_CASE("search_orders sends one order_status in the body and filters several itself", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return ok_envelope({{"orders", {order_json("1", "UNPAID"), order_json("2", "AWAITING_SHIPMENT"),
                                        order_json("3", "CANCELLED")}},
                            {"next_page_token", "more"},
                            {"total_count", 30}});
    };
    auto [one, several] = tiktok.call<std::pair<result<order_page>, result<order_page>>>(
        [](client& c) -> asio::awaitable<std::pair<result<order_page>, result<order_page>>> {
            order_search q;
            q.order_status = {"AWAITING_SHIPMENT"};
            q.create_time_ge = 10;
            q.create_time_lt = 20;
            q.update_time_lt = 30;
            q.buyer_user_id = "7021436810468230000";
            q.sort_field = "create_time";
            q.sort_order = "DESC";
            q.page_size = 100;
            auto a = co_await c.search_orders(q, access_token);
            order_search q2;
            q2.order_status = {"AWAITING_SHIPMENT", "CANCELLED"};
            auto b = co_await c.search_orders(q2, access_token);
            co_return std::pair{std::move(a), std::move(b)};
        });
    REQUIRE(one.ok());
    CHECK(one.value().orders.size() == 3);   // TikTok filters; the fake does not
    CHECK(json::parse(tiktok.received.at(0).body) == json{{"order_status", "AWAITING_SHIPMENT"},
                                                          {"create_time_ge", 10},
                                                          {"create_time_lt", 20},
                                                          {"update_time_lt", 30},
                                                          {"buyer_user_id", "7021436810468230000"}});
    auto q = tiktok.received.at(0).query();
    CHECK(q.at("sort_field") == "create_time");
    CHECK(q.at("sort_order") == "DESC");
    CHECK(q.at("page_size") == "100");

    REQUIRE(several.ok());
    CHECK(json::parse(tiktok.received.at(1).body) == json::object());   // no status sent
    REQUIRE(several.value().orders.size() == 2);
    CHECK(several.value().orders[0].id == "2");
    CHECK(several.value().orders[1].id == "3");
    CHECK(several.value().next_page_token == "more");
    CHECK(several.value().total_count == 30);
}

TEST_CASE("page sizes out of range are refused without calling", "[client]") {
    fake_tiktok tiktok;
    auto errors = tiktok.call<std::vector<api_error>>([](client& c) -> asio::awaitable<std::vector<api_error>> {
        std::vector<api_error> out;
        order_search orders;
        orders.page_size = 101;
        auto a = co_await c.search_orders(orders, access_token);
        out.push_back(a.error());
        orders.page_size = 0;
        auto b = co_await c.search_orders(orders, access_token);
        out.push_back(b.error());
        package_search packages;
        packages.page_size = 51;
        auto p = co_await c.search_packages(packages, access_token);
        out.push_back(p.error());
        auto conversations = co_await c.get_conversations(21, "", access_token);
        out.push_back(conversations.error());
        auto messages = co_await c.get_conversation_messages("conv-1", 11, "", access_token);
        out.push_back(messages.error());
        co_return out;
    });
    REQUIRE(errors.size() == 5);
    for (const auto& e : errors) {
        CAPTURE(e.message);
        CHECK(e.kind == error_kind::decode);
        CHECK(e.message.find("page_size must be 1..") != std::string::npos);
    }
    CHECK(tiktok.received.empty());
}

TEST_CASE("ids in paths are percent-encoded, and empty ones refused without calling", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) { return ok_envelope({{"package_id", "a/b c"}}); };
    auto [good, empty, dots] = tiktok.call<std::tuple<result<package>, result<package>, result<nothing>>>(
        [](client& c) -> asio::awaitable<std::tuple<result<package>, result<package>, result<nothing>>> {
            auto a = co_await c.get_package_detail("a/b c", access_token);
            auto b = co_await c.get_package_detail("", access_token);
            auto d = co_await c.mark_read("..", access_token);
            co_return std::tuple{std::move(a), std::move(b), std::move(d)};
        });
    REQUIRE(good.ok());
    CHECK(good.value().id == "a/b c");
    REQUIRE(tiktok.received.size() == 1);   // the signature checked out on the encoded path
    CHECK(tiktok.received[0].path() == "/fulfillment/202309/packages/a%2Fb%20c");
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().kind == error_kind::decode);
    CHECK(empty.error().message.find("package id is empty") != std::string::npos);
    REQUIRE_FALSE(dots.ok());
    CHECK(dots.error().kind == error_kind::decode);
}

TEST_CASE("search_packages sends its filters and decodes the page", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return ok_envelope({{"packages", {{{"id", "1152331870948577560"}, {"status", "PROCESSING"}}}},
                            {"next_page_token", ""},
                            {"total_count", 1}});
    };
    auto res = tiktok.call<result<package_page>>([](client& c) -> asio::awaitable<result<package_page>> {
        package_search q;
        q.update_time_ge = 100;
        q.update_time_lt = 200;
        q.package_status = "PROCESSING";
        q.page_token = "t1";
        co_return co_await c.search_packages(q, access_token);
    });
    REQUIRE(res.ok());
    REQUIRE(res.value().packages.size() == 1);
    CHECK(res.value().packages[0].status == "PROCESSING");
    CHECK(res.value().total_count == 1);
    const auto& req = tiktok.received.at(0);
    CHECK(req.method == "POST");
    CHECK(req.path() == "/fulfillment/202309/packages/search");
    CHECK(json::parse(req.body) == json{{"update_time_ge", 100}, {"update_time_lt", 200}, {"package_status", "PROCESSING"}});
    auto q = req.query();
    CHECK(q.at("page_size") == "50");
    CHECK(q.at("page_token") == "t1");
    CHECK(q.at("sort_field") == "update_time");
}

TEST_CASE("ship_package and the shipping info updates post the documented bodies", "[client]") {
    fake_tiktok tiktok;
    auto results = tiktok.call<std::vector<bool>>([](client& c) -> asio::awaitable<std::vector<bool>> {
        std::vector<bool> ok;
        auto a = co_await c.ship_package("1152331870948577560", "JP123", "6617675021119438597", access_token);
        ok.push_back(a.ok());
        auto b = co_await c.update_order_shipping_info("576486316948490001", "JP124", "6617675021119438597",
                                                       access_token);
        ok.push_back(b.ok());
        auto d = co_await c.update_package_shipping_info("1152331870948577560", "JP125", "6617675021119438597",
                                                         access_token);
        ok.push_back(d.ok());
        auto refused = co_await c.ship_package("1152331870948577560", "", "6617675021119438597", access_token);
        ok.push_back(refused.ok());
        co_return ok;
    });
    CHECK(results == std::vector<bool>{true, true, true, false});
    REQUIRE(tiktok.received.size() == 3);   // the empty tracking number was not sent
    CHECK(tiktok.received[0].method == "POST");
    CHECK(tiktok.received[0].path() == "/fulfillment/202309/packages/1152331870948577560/ship");
    CHECK(json::parse(tiktok.received[0].body) ==
          json{{"self_shipment", {{"tracking_number", "JP123"}, {"shipping_provider_id", "6617675021119438597"}}}});
    CHECK(tiktok.received[1].path() == "/fulfillment/202309/orders/576486316948490001/shipping_info/update");
    CHECK(json::parse(tiktok.received[1].body) ==
          json{{"tracking_number", "JP124"}, {"shipping_provider_id", "6617675021119438597"}});
    CHECK(tiktok.received[2].path() == "/fulfillment/202309/packages/1152331870948577560/shipping_info/update");
    CHECK(json::parse(tiktok.received[2].body) ==
          json{{"tracking_number", "JP125"}, {"shipping_provider_id", "6617675021119438597"}});
}

TEST_CASE("a second ship is TikTok's 11006021, returned as it is", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return error_envelope(200, 11006021, "Package has been shipped. Please not ship the package again.");
    };
    auto res = tiktok.call<result<nothing>>([](client& c) -> asio::awaitable<result<nothing>> {
        co_return co_await c.ship_package("1152331870948577560", "JP123", "6617675021119438597", access_token);
    });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == 11006021);
    CHECK(tiktok.received.size() == 1);   // not retried
}

TEST_CASE("get_tracking and get_shipping_providers read the logistics data", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        if (req.path().find("/tracking") != std::string::npos) {
            return ok_envelope({{"tracking", {{{"description", "Delivered"}, {"update_time_millis", 1700090000123}}}}});
        }
        return ok_envelope({{"shipping_providers", {{{"id", "7117858858072016686"}, {"name", "USPS"}}}}});
    };
    using both = std::pair<result<std::vector<tracking_event>>, result<std::vector<shipping_provider>>>;
    auto [tracking, providers] = tiktok.call<both>([](client& c) -> asio::awaitable<both> {
        auto t = co_await c.get_tracking("576486316948490001", access_token);
        auto p = co_await c.get_shipping_providers("7091146663229654785", access_token);
        co_return both{std::move(t), std::move(p)};
    });
    REQUIRE(tracking.ok());
    REQUIRE(tracking.value().size() == 1);
    CHECK(tracking.value()[0].update_time_millis == 1700090000123);
    REQUIRE(providers.ok());
    REQUIRE(providers.value().size() == 1);
    CHECK(providers.value()[0].name == "USPS");
    CHECK(tiktok.received.at(0).method == "GET");
    CHECK(tiktok.received.at(0).path() == "/fulfillment/202309/orders/576486316948490001/tracking");
    CHECK(tiktok.received.at(1).path() == "/logistics/202309/delivery_options/7091146663229654785/shipping_providers");
}

TEST_CASE("get_conversation_messages pages with page_size and page_token", "[client][pagination]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        auto q = req.query();
        const std::string token = q.count("page_token") ? q.at("page_token") : "";
        auto message = [](const std::string& id, const std::string& text) {
            return json{{"id", id}, {"type", "TEXT"}, {"content", json{{"content", text}}.dump()},
                        {"index", id}, {"sender", {{"role", "BUYER"}, {"im_user_id", "b"}}}};
        };
        if (token.empty()) return ok_envelope({{"messages", {message("3", "c")}}, {"next_page_token", "m2"}});
        if (token == "m2") return ok_envelope({{"messages", {message("2", "b")}}, {"next_page_token", "m3"}});
        return ok_envelope({{"messages", {message("1", "a")}}, {"next_page_token", ""}});
    };
    auto texts = tiktok.call<std::vector<std::string>>([](client& c) -> asio::awaitable<std::vector<std::string>> {
        std::vector<std::string> out;
        std::string token;
        for (int i = 0; i < 10; ++i) {
            auto page = co_await c.get_conversation_messages("conv-1", 10, token, access_token);
            if (!page.ok()) break;
            for (const auto& m : page.value().messages) out.push_back(m.text);
            token = page.value().next_page_token;
            if (token.empty()) break;
        }
        co_return out;
    });
    CHECK(texts == std::vector<std::string>{"c", "b", "a"});
    CHECK(tiktok.page_tokens() == std::vector<std::string>{"", "m2", "m3"});
    for (const auto& r : tiktok.received) {
        CHECK(r.method == "GET");
        CHECK(r.path() == "/customer_service/202309/conversations/conv-1/messages");
        CHECK(r.query().at("page_size") == "10");
    }
}

TEST_CASE("get_conversations and mark_read use the customer-service paths", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        if (req.method == "GET") {
            return ok_envelope({{"conversations",
                                 {{{"id", "conv-1"},
                                   {"participants", {{{"role", "BUYER"}, {"user_id", "buyer-1"}}}},
                                   {"unread_count", 2}}}},
                                {"next_page_token", "c2"}});
        }
        return ok_envelope(json::object());
    };
    using both = std::pair<result<conversation_page>, result<nothing>>;
    auto [page, read] = tiktok.call<both>([](client& c) -> asio::awaitable<both> {
        auto p = co_await c.get_conversations(20, "c1", access_token);
        auto r = co_await c.mark_read("conv-1", access_token);
        co_return both{std::move(p), std::move(r)};
    });
    REQUIRE(page.ok());
    REQUIRE(page.value().conversations.size() == 1);
    CHECK(page.value().conversations[0].buyer_user_id() == "buyer-1");
    CHECK(page.value().conversations[0].unread_count == 2);
    CHECK(page.value().next_page_token == "c2");
    CHECK(read.ok());
    auto q = tiktok.received.at(0).query();
    CHECK(tiktok.received.at(0).path() == "/customer_service/202309/conversations");
    CHECK(q.at("page_size") == "20");
    CHECK(q.at("page_token") == "c1");
    CHECK(tiktok.received.at(1).method == "POST");
    CHECK(tiktok.received.at(1).path() == "/customer_service/202309/conversations/conv-1/messages/read");
    CHECK(tiktok.received.at(1).body.empty());
}

TEST_CASE("get_authorized_shops is not shop scoped", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return ok_envelope({{"shops",
                             {{{"id", "7000714532876273420"}, {"name", "Maomao beauty shop"}, {"region", "GB"},
                               {"seller_type", "CROSS_BORDER"}, {"cipher", "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3"},
                               {"code", "CNGBCBA4LLU8"}}}}});
    };
    auto res = tiktok.call<result<std::vector<authorized_shop>>>(
        [](client& c) -> asio::awaitable<result<std::vector<authorized_shop>>> {
            co_return co_await c.get_authorized_shops(access_token);
        });
    REQUIRE(res.ok());
    REQUIRE(res.value().size() == 1);
    CHECK(res.value()[0].cipher == "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
    const auto& req = tiktok.received.at(0);
    CHECK(req.method == "GET");
    CHECK(req.path() == "/authorization/202309/shops");
    CHECK(req.query().count("shop_cipher") == 0);
}

TEST_CASE("webhooks are listed, put and deleted through the Event API", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request& req) {
        if (req.method == "GET") {
            return ok_envelope({{"webhooks",
                                 {{{"event_type", "ORDER_STATUS_CHANGE"},
                                   {"address", "https://hooks.example.com/tiktok"},
                                   {"create_time", 1700000000},
                                   {"update_time", 1700000100}}}},
                                {"total_count", 1}});
        }
        return ok_envelope(json::object());
    };
    struct outcome {
        result<std::vector<webhook_subscription>> list;
        result<nothing> put, del, too_long;
    };
    auto out = tiktok.call<outcome>([](client& c) -> asio::awaitable<outcome> {
        auto l = co_await c.get_webhooks(access_token);
        auto p = co_await c.put_webhook("NEW_MESSAGE", "https://hooks.example.com/tiktok", access_token);
        auto d = co_await c.delete_webhook("NEW_MESSAGE", access_token);
        std::string address = "https://hooks.example.com/" + std::string(240, 'a');
        auto t = co_await c.put_webhook("NEW_MESSAGE", address, access_token);
        co_return outcome{std::move(l), std::move(p), std::move(d), std::move(t)};
    });
    REQUIRE(out.list.ok());
    REQUIRE(out.list.value().size() == 1);
    CHECK(out.list.value()[0].event_type == "ORDER_STATUS_CHANGE");
    CHECK(out.put.ok());
    CHECK(out.del.ok());
    REQUIRE_FALSE(out.too_long.ok());
    CHECK(out.too_long.error().kind == error_kind::decode);
    REQUIRE(tiktok.received.size() == 3);
    CHECK(tiktok.received[0].path() == "/event/202309/webhooks");
    CHECK(tiktok.received[0].query().at("shop_cipher") == "GCP_XF90");
    CHECK(tiktok.received[1].method == "PUT");
    CHECK(json::parse(tiktok.received[1].body) ==
          json{{"address", "https://hooks.example.com/tiktok"}, {"event_type", "NEW_MESSAGE"}});
    CHECK(tiktok.received[2].method == "DELETE");
    CHECK(json::parse(tiktok.received[2].body) == json{{"event_type", "NEW_MESSAGE"}});
}

TEST_CASE("a malformed model in a typed response is a decode error naming the path and field", "[client]") {
    fake_tiktok tiktok;
    tiktok.respond = [](const http_request&) {
        return ok_envelope({{"shipping_providers", {{{"id", 7117858858072016686LL}, {"name", "USPS"}}}}});
    };
    auto res = tiktok.call<result<std::vector<shipping_provider>>>(
        [](client& c) -> asio::awaitable<result<std::vector<shipping_provider>>> {
            co_return co_await c.get_shipping_providers("7091146663229654785", access_token);
        });
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().kind == error_kind::decode);
    CHECK(res.error().message ==
          "/logistics/202309/delivery_options/7091146663229654785/shipping_providers: "
          "data.shipping_providers[0].id must be a string");
}

}  // namespace ORDERFLOW_TEST_FILE
