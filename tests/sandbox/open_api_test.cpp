// Handler-level tests of the Open API and auth paths (tikapi/sandbox/open_api.cpp):
// the checks in the order TikTok makes them, OAuth, orders, customer service
// and the call log. No sockets: requests go straight to shop::handle.
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

namespace {

bool is_envelope(const json& j) {
    return j.is_object() && j.contains("code") && j["code"].is_number_integer() && j.contains("message") &&
           j.contains("request_id") && j["request_id"].is_string() && j.contains("data");
}

}  // namespace

TEST_CASE("The official signing example from the TikTok docs is accepted", "[open_api][signing]") {
    // docs/tiktok-shop-api.md §2, vector V1: the sign is taken from the docs,
    // not computed here.
    std::int64_t now = 1623812664;
    orderflow::sandbox::shop_options o;
    o.app_key = "29a39d";
    o.app_secret = orderflow::secret("e59af819cc");
    o.shop_cipher = "C";
    o.clock = [&] { return now; };
    orderflow::sandbox::shop shop(std::move(o));
    json code = body_of(shop.handle(plain("POST", "/control/authorize", "{}")));
    json tokens = body_of(shop.handle(plain(
        "GET", "/api/v2/token/get?app_key=29a39d&app_secret=e59af819cc&grant_type=authorized_code&auth_code=" +
                   code["code"].get<std::string>())));
    REQUIRE(tokens["code"] == 0);

    auto request = plain("GET", "/authorization/202309/shops?app_key=29a39d&timestamp=1623812664&sign="
                                "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");
    request.headers.push_back({"x-tts-access-token", tokens["data"]["access_token"].get<std::string>()});
    auto response = shop.handle(request);
    CHECK(response.status == 200);
    json env = body_of(response);
    CHECK(env["code"] == 0);
    CHECK(env["data"]["shops"][0]["cipher"] == "C");
}

TEST_CASE("A correctly signed request is accepted and answered in the envelope", "[open_api][signing]") {
    fixture f;
    f.authorize();
    SECTION("GET without a body") {
        json env = f.call("GET", "/authorization/202309/shops", {}, "", false);
        REQUIRE(is_envelope(env));
        CHECK(env["code"] == 0);
        CHECK(env["message"] == "Success");
        const json& shop = env["data"]["shops"][0];
        CHECK(shop["cipher"] == cipher);
        CHECK(shop["region"] == "JP");
        CHECK(shop["seller_type"] == "LOCAL");
        CHECK(shop["id"].is_string());
        CHECK(shop["code"].is_string());
    }
    SECTION("POST with the body included in the signature") {
        json order = f.create_order();
        std::string body = json{{"buyer_user_id", order["user_id"]}}.dump();
        json env = f.call("POST", "/customer_service/202309/conversations", {}, body);
        CHECK(env["code"] == 0);
        CHECK(env["data"]["conversation_id"].is_string());
    }
    SECTION("a value that needs percent-encoding is signed decoded") {
        json env = f.call("GET", "/customer_service/202309/conversations", {{"page_size", "5"}, {"locale", "ja JP/+"}});
        CHECK(env["code"] == 0);
    }
    SECTION("upper-case hex in sign is accepted") {
        auto request = f.signed_request("GET", "/authorization/202309/shops", {}, "", false);
        auto at = request.target.find("sign=") + 5;
        for (auto i = at; i < at + 64; ++i) request.target[i] = static_cast<char>(std::toupper(request.target[i]));
        CHECK(body_of(f.shop.handle(request))["code"] == 0);
    }
}

TEST_CASE("A request whose sign does not match is rejected with 106001 and HTTP 401", "[open_api][signing]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    const std::string path = "/order/202309/orders";
    std::map<std::string, std::string> query = {{"app_key", app_key},
                                                {"timestamp", std::to_string(f.clock)},
                                                {"shop_cipher", cipher},
                                                {"ids", order["id"].get<std::string>()}};
    std::string sign;
    std::string target_query;
    // Variants by GENERATE, not SECTION: a section that only sets up counts
    // as a section without assertions, which fails the run.
    const std::string how = GENERATE(as<std::string>{}, "signed with another secret", "a parameter added after signing",
                                     "plain SHA-256 style: the secret not wrapped around the string");
    CAPTURE(how);
    if (how == "signed with another secret") {
        sign = client_sign("not_the_secret", path, query, "");
        target_query = encode_query(query);
    } else if (how == "a parameter added after signing") {
        sign = client_sign(app_secret, path, query, "");
        auto more = query;
        more["page_size"] = "10";
        target_query = encode_query(more);
    } else {
        std::string s = path;
        for (auto& [k, v] : query) s += k + v;
        sign = hmac_hex(app_secret, s);
        target_query = encode_query(query);
    }
    auto request = plain("GET", path + "?" + target_query + "&sign=" + sign);
    request.headers.push_back({"x-tts-access-token", f.access_token});
    auto response = f.shop.handle(request);
    CHECK(response.status == 401);
    json env = body_of(response);
    REQUIRE(is_envelope(env));
    CHECK(env["code"] == 106001);
    CHECK(env["data"].is_null());
}

TEST_CASE("A POST body changed after signing is rejected with 106001", "[open_api][signing]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    auto request = f.signed_request("POST", "/customer_service/202309/conversations", {},
                                    json{{"buyer_user_id", order["user_id"]}}.dump());
    request.body += " ";
    CHECK(body_of(f.shop.handle(request))["code"] == 106001);
}

TEST_CASE("The timestamp must lie within 5 minutes before and 30 seconds after now", "[open_api][signing]") {
    fixture f;
    f.authorize();
    auto [offset, accepted] = GENERATE(table<std::int64_t, bool>({
        {0, true}, {-300, true}, {30, true}, {-301, false}, {31, false}, {-86400, false}}));
    CAPTURE(offset);
    const std::int64_t now = f.clock;
    f.clock = now + offset;   // the client's clock
    auto request = f.signed_request("GET", "/authorization/202309/shops", {}, "", false);
    f.clock = now;            // the sandbox's clock
    auto response = f.shop.handle(request);
    json env = body_of(response);
    if (accepted) {
        CHECK(env["code"] == 0);
    } else {
        CHECK(env["code"] == 36009004);
        CHECK(response.status == 401);
        CHECK_THAT(env["message"].get<std::string>(), Catch::Contains("timestamp"));
    }
}

TEST_CASE("Missing common parameters are rejected with 36009004", "[open_api][signing]") {
    fixture f;
    f.authorize();
    SECTION("no timestamp") {
        std::map<std::string, std::string> q = {{"app_key", app_key}};
        auto request = plain("GET", "/authorization/202309/shops?" + encode_query(q) + "&sign=" +
                                        client_sign(app_secret, "/authorization/202309/shops", q, ""));
        request.headers.push_back({"x-tts-access-token", f.access_token});
        CHECK(body_of(f.shop.handle(request))["code"] == 36009004);
    }
    SECTION("no sign") {
        auto request = plain("GET", "/authorization/202309/shops?app_key=" + std::string(app_key) +
                                        "&timestamp=" + std::to_string(f.clock));
        request.headers.push_back({"x-tts-access-token", f.access_token});
        CHECK(body_of(f.shop.handle(request))["code"] == 36009004);
    }
    SECTION("another app's key") {
        std::map<std::string, std::string> q = {{"app_key", "other"}, {"timestamp", std::to_string(f.clock)}};
        auto request = plain("GET", "/authorization/202309/shops?" + encode_query(q) + "&sign=" +
                                        client_sign(app_secret, "/authorization/202309/shops", q, ""));
        request.headers.push_back({"x-tts-access-token", f.access_token});
        CHECK(body_of(f.shop.handle(request))["code"] == 36009004);
    }
}

TEST_CASE("shop_cipher is required on shop-scoped paths, must match, and is refused where not expected",
          "[open_api]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    const std::string id = order["id"].get<std::string>();
    SECTION("missing on order detail -> 106013") {
        auto response = f.shop.handle(f.signed_request("GET", "/order/202309/orders", {{"ids", id}}, "", false));
        CHECK(body_of(response)["code"] == 106013);
        CHECK(response.status == 400);
    }
    SECTION("another shop's cipher -> 101000") {
        json env = f.call("GET", "/order/202309/orders", {{"ids", id}, {"shop_cipher", "ROW_other"}}, "", false);
        CHECK(env["code"] == 101000);
    }
    SECTION("sent to /authorization/202309/shops -> 36009004") {
        json env = f.call("GET", "/authorization/202309/shops", {}, "", true);
        CHECK(env["code"] == 36009004);
    }
}

TEST_CASE("The access token header is checked: unknown 105001, expired 105002", "[open_api][oauth]") {
    fixture f;
    f.authorize();
    SECTION("missing header") {
        auto request = f.signed_request("GET", "/authorization/202309/shops", {}, "", false);
        request.headers.pop_back();
        auto response = f.shop.handle(request);
        CHECK(response.status == 401);
        CHECK(body_of(response)["code"] == 105001);
    }
    SECTION("a token the shop never issued") {
        f.access_token = "TTP_made_up";
        CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 105001);
    }
    SECTION("the token's lifetime (7 days by default) has passed") {
        f.clock += 604800;
        auto response = f.shop.handle(f.signed_request("GET", "/authorization/202309/shops", {}, "", false));
        CHECK(response.status == 401);
        CHECK(body_of(response)["code"] == 105002);
    }
    SECTION("expired through the control API") {
        CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
        CHECK(body_of(f.control("POST", "/control/tokens/expire"))["expired"] == 1);
        CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 105002);
    }
}

TEST_CASE("An unknown path answers 36009009 with HTTP 404, a wrong method 36009010", "[open_api]") {
    fixture f;
    f.authorize();
    auto response = f.shop.handle(f.signed_request("GET", "/order/202309/nothing_here"));
    CHECK(response.status == 404);
    CHECK(body_of(response)["code"] == 36009009);
    CHECK(is_envelope(body_of(response)));
    auto wrong = f.shop.handle(f.signed_request("DELETE", "/order/202309/orders"));
    CHECK(body_of(wrong)["code"] == 36009010);
}

TEST_CASE("An authorization code can be exchanged once, within 30 minutes", "[oauth]") {
    fixture f;
    std::string code = body_of(f.control("POST", "/control/authorize", {{"state", "xyz"}}))["code"];
    SECTION("first use succeeds, second fails") {
        json first = f.token_get(code);
        REQUIRE(first["code"] == 0);
        const json& d = first["data"];
        CHECK(d["access_token"].get<std::string>().rfind("TTP_", 0) == 0);
        CHECK(d["access_token_expire_in"] == f.clock + 604800);   // absolute, not a duration
        CHECK(d["refresh_token_expire_in"].get<std::int64_t>() > f.clock);
        CHECK(d["seller_base_region"] == "JP");
        CHECK(d["granted_scopes"].is_array());
        json second = f.token_get(code);
        CHECK(second["code"] != 0);
        CHECK(second["data"].is_null());
    }
    SECTION("after 30 minutes it has expired") {
        f.clock += 1800;
        CHECK(f.token_get(code)["code"] != 0);
    }
    SECTION("just before 30 minutes it still works") {
        f.clock += 1799;
        CHECK(f.token_get(code)["code"] == 0);
    }
    SECTION("the wrong app secret is refused and does not use up the code") {
        CHECK(f.token_get(code, "wrong")["code"] == 36009004);
        CHECK(f.token_get(code)["code"] == 0);
    }
    SECTION("a made-up code is refused") { CHECK(f.token_get("nonsense")["code"] == 36004005); }
}

TEST_CASE("Refreshing rotates both tokens, the old pair works only for the 60 s reuse window", "[oauth]") {
    fixture f;
    f.authorize();
    const std::string old_access = f.access_token;
    const std::string old_refresh = f.refresh_token;
    auto refresh = [&](const std::string& rt) {
        return body_of(f.shop.handle(plain("GET", "/api/v2/token/refresh?" +
                                                      encode_query({{"app_key", app_key},
                                                                    {"app_secret", app_secret},
                                                                    {"refresh_token", rt},
                                                                    {"grant_type", "refresh_token"}}))));
    };
    f.clock += 100;
    json env = refresh(old_refresh);
    REQUIRE(env["code"] == 0);
    const std::string new_access = env["data"]["access_token"];
    CHECK(new_access != old_access);
    CHECK(env["data"]["refresh_token"] != old_refresh);
    CHECK(env["data"]["access_token_expire_in"] == f.clock + 604800);

    // Within the window: the old access token still works (calls in flight),
    // and the spent refresh token gets the same new pair (an answer lost in transit).
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
    json again = refresh(old_refresh);
    REQUIRE(again["code"] == 0);
    CHECK(again["data"]["access_token"] == new_access);
    // After it: the old access token has expired and the old refresh token is spent.
    f.clock += 61;
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 105002);
    f.access_token = new_access;
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
    CHECK(refresh(old_refresh)["code"] == 36004005);
}

TEST_CASE("The legacy authorize link redirects to redirect_uri with code and state", "[oauth]") {
    fixture f;
    SECTION("with redirect_uri: 302") {
        auto response = f.shop.handle(plain(
            "GET", "/oauth/authorize?app_key=" + std::string(app_key) +
                       "&state=s%201&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"));
        CHECK(response.status == 302);
        std::string location(response.header("Location"));
        CHECK(location.rfind("http://127.0.0.1:9/callback?code=", 0) == 0);
        CHECK_THAT(location, Catch::EndsWith("&state=s%201"));
        std::string code = location.substr(location.find("code=") + 5);
        code = code.substr(0, code.find('&'));
        CHECK(f.token_get(code)["code"] == 0);
    }
    SECTION("without: the code in the envelope") {
        json env = body_of(f.shop.handle(plain("GET", "/oauth/authorize?app_key=" + std::string(app_key) + "&state=abc")));
        REQUIRE(env["code"] == 0);
        CHECK(env["data"]["state"] == "abc");
        CHECK(f.token_get(env["data"]["code"])["code"] == 0);
    }
    SECTION("another app's key is refused") {
        CHECK(body_of(f.shop.handle(plain("GET", "/oauth/authorize?app_key=other")))["code"] == 36009004);
    }
}

TEST_CASE("Order detail returns realistic 202309 order objects", "[open_api][orders]") {
    fixture f;
    f.authorize();
    json paid = f.create_order("AWAITING_SHIPMENT");
    json unpaid = f.create_order("UNPAID");
    json env = f.call("GET", "/order/202309/orders",
                      {{"ids", paid["id"].get<std::string>() + "," + unpaid["id"].get<std::string>()}});
    REQUIRE(env["code"] == 0);
    REQUIRE(env["data"]["orders"].size() == 2);
    const json& o = env["data"]["orders"][0];
    CHECK(o["id"] == paid["id"]);
    CHECK(o["status"] == "AWAITING_SHIPMENT");
    CHECK(o["shipping_type"] == "SELLER");
    CHECK(o["payment"]["currency"] == "JPY");
    CHECK(o["payment"]["total_amount"] == "4980");
    CHECK(o["recipient_address"]["name"] == "山田 花子");
    CHECK(o["recipient_address"]["last_name"] == "山田");
    CHECK(o["recipient_address"]["first_name"] == "花子");
    CHECK(o["recipient_address"]["region_code"] == "JP");
    const json& item = o["line_items"][0];
    CHECK_FALSE(item.contains("quantity"));
    CHECK(item["seller_sku"] == "ENG-RING-01");
    CHECK(item["sale_price"] == "4980");
    CHECK(item["display_status"] == "AWAITING_SHIPMENT");
    CHECK(item["package_id"].is_string());
    // §6: no address under UNPAID / ON_HOLD.
    CHECK_FALSE(env["data"]["orders"][1].contains("recipient_address"));
    CHECK_FALSE(env["data"]["orders"][1].contains("paid_time"));

    SECTION("an unknown id -> 21008111") {
        CHECK(f.call("GET", "/order/202309/orders", {{"ids", "576486316948490001"}})["code"] == 21008111);
    }
    SECTION("more than 50 ids -> error") {
        std::string ids = paid["id"];
        for (int i = 0; i < 50; ++i) ids += "," + paid["id"].get<std::string>();
        json too_many = f.call("GET", "/order/202309/orders", {{"ids", ids}});
        CHECK(too_many["code"] == 36009004);
    }
}

TEST_CASE("Order search filters by update time and pages with next_page_token", "[open_api][orders]") {
    fixture f;
    f.authorize();
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(f.create_order()["id"]);
        f.clock += 10;
    }
    std::string body = json{{"update_time_ge", 1'700'000'010}}.dump();
    json page1 = f.call("POST", "/order/202309/orders/search",
                        {{"page_size", "3"}, {"sort_field", "update_time"}, {"sort_order", "ASC"}}, body);
    REQUIRE(page1["code"] == 0);
    CHECK(page1["data"]["total_count"] == 4);
    REQUIRE(page1["data"]["orders"].size() == 3);
    CHECK(page1["data"]["orders"][0]["id"] == ids[1]);
    std::string token = page1["data"]["next_page_token"];
    REQUIRE_FALSE(token.empty());
    json page2 = f.call("POST", "/order/202309/orders/search",
                        {{"page_size", "3"}, {"sort_field", "update_time"}, {"sort_order", "ASC"}, {"page_token", token}},
                        body);
    REQUIRE(page2["data"]["orders"].size() == 1);
    CHECK(page2["data"]["orders"][0]["id"] == ids[4]);
    CHECK(page2["data"]["next_page_token"] == "");
}

TEST_CASE("Creating a conversation twice reopens the same one", "[open_api][messages]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    std::string body = json{{"buyer_user_id", order["user_id"]}}.dump();
    json first = f.call("POST", "/customer_service/202309/conversations", {}, body);
    json second = f.call("POST", "/customer_service/202309/conversations", {}, body);
    REQUIRE(first["code"] == 0);
    CHECK(first["data"]["conversation_id"] == second["data"]["conversation_id"]);
    SECTION("a buyer who never ordered cannot be contacted") {
        json env = f.call("POST", "/customer_service/202309/conversations", {},
                          json{{"buyer_user_id", "7000000000000000001"}}.dump());
        CHECK(env["code"] == 45109003);
    }
}

TEST_CASE("A message the shop sends is stored and shows in the control API", "[open_api][messages]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    json conv = f.call("POST", "/customer_service/202309/conversations", {},
                       json{{"buyer_user_id", order["user_id"]}}.dump());
    const std::string id = conv["data"]["conversation_id"];
    const std::string path = "/customer_service/202309/conversations/" + id + "/messages";
    const std::string text = "山田 花子様、ご注文ありがとうございます。";
    json sent = f.call("POST", path, {},
                       json{{"type", "TEXT"}, {"content", json{{"content", text}}.dump()}}.dump());
    REQUIRE(sent["code"] == 0);
    CHECK(sent["data"]["message_id"].is_string());

    json listed = body_of(f.control("GET", "/control/messages?sender=SHOP"));
    REQUIRE(listed["messages"].size() == 1);
    const json& m = listed["messages"][0];
    CHECK(m["text"] == text);
    CHECK(m["sender"] == "SHOP");
    CHECK(m["conversation_id"] == id);
    CHECK(m["user_id"] == order["user_id"]);
    CHECK(m["id"] == sent["data"]["message_id"]);

    SECTION("the API lists it too, newest first, with its content as a JSON string") {
        f.control("POST", "/control/messages", {{"order_id", order["id"]}, {"text", "ありがとう"}});
        json page = f.call("GET", path, {{"page_size", "1"}});
        REQUIRE(page["code"] == 0);
        REQUIRE(page["data"]["messages"].size() == 1);
        CHECK(page["data"]["messages"][0]["sender"]["role"] == "BUYER");
        CHECK(page["data"]["messages"][0]["content"] == json{{"content", "ありがとう"}}.dump());
        std::string token = page["data"]["next_page_token"];
        REQUIRE_FALSE(token.empty());
        json older = f.call("GET", path, {{"page_size", "1"}, {"page_token", token}});
        CHECK(older["data"]["messages"][0]["sender"]["role"] == "SHOP");
        CHECK(older["data"]["next_page_token"] == "");
    }
    SECTION("a text of 2001 characters is refused, 2000 accepted") {
        std::string long_text;
        for (int i = 0; i < 2000; ++i) long_text += "あ";
        json ok = f.call("POST", path, {}, json{{"type", "TEXT"}, {"content", json{{"content", long_text}}.dump()}}.dump());
        CHECK(ok["code"] == 0);
        json too_long = f.call("POST", path, {},
                               json{{"type", "TEXT"}, {"content", json{{"content", long_text + "x"}}.dump()}}.dump());
        CHECK(too_long["code"] != 0);
    }
    SECTION("content that is not a JSON string is refused") {
        json env = f.call("POST", path, {}, json{{"type", "TEXT"}, {"content", {{"content", "x"}}}}.dump());
        CHECK(env["code"] == 36009004);
        json env2 = f.call("POST", path, {}, json{{"type", "TEXT"}, {"content", "plain text"}}.dump());
        CHECK(env2["code"] == 36009004);
    }
    SECTION("an unknown conversation -> 45101003") {
        json env = f.call("POST", "/customer_service/202309/conversations/123/messages", {},
                          json{{"type", "TEXT"}, {"content", json{{"content", "x"}}.dump()}}.dump());
        CHECK(env["code"] == 45101003);
    }
}

TEST_CASE("The call log records every call without credentials", "[open_api][calls]") {
    fixture f;
    f.authorize();
    json order = f.create_order();
    f.call("GET", "/order/202309/orders", {{"ids", order["id"].get<std::string>()}});
    f.clock += 1000;   // a stale call is logged too, with its error code
    auto stale = f.signed_request("GET", "/authorization/202309/shops", {}, "", false);
    stale.target = "/authorization/202309/shops?app_key=" + std::string(app_key) + "&timestamp=1&sign=abc";
    f.shop.handle(stale);

    auto response = f.control("GET", "/control/calls");
    json calls = body_of(response)["calls"];
    REQUIRE(calls.size() == 3);   // token/get, orders, shops (control calls are not logged)
    CHECK(calls[0]["path"] == "/api/v2/token/get");
    CHECK(calls[0]["query"]["grant_type"] == "authorized_code");
    CHECK_FALSE(calls[0]["query"].contains("app_secret"));
    CHECK_FALSE(calls[0]["query"].contains("auth_code"));
    CHECK(calls[1]["method"] == "GET");
    CHECK(calls[1]["path"] == "/order/202309/orders");
    CHECK(calls[1]["query"]["ids"] == order["id"]);
    CHECK(calls[1]["query"]["app_key"] == app_key);
    CHECK(calls[1]["query"]["shop_cipher"] == cipher);
    CHECK_FALSE(calls[1]["query"].contains("sign"));
    CHECK(calls[1]["http_status"] == 200);
    CHECK(calls[1]["code"] == 0);
    CHECK(calls[1]["seq"] == 2);
    CHECK(calls[2]["code"] == 36009004);
    CHECK(calls[2]["time"] == f.clock);

    // Nothing secret anywhere in the log.
    CHECK(response.body.find(app_secret) == std::string::npos);
    CHECK(response.body.find(f.access_token) == std::string::npos);
    CHECK(response.body.find(f.refresh_token) == std::string::npos);

    SECTION("filtered by path prefix") {
        json only = body_of(f.control("GET", "/control/calls?path=/order/"))["calls"];
        REQUIRE(only.size() == 1);
        CHECK(only[0]["path"] == "/order/202309/orders");
    }
}

TEST_CASE("More than 50 calls per second to one API are throttled with 429 and 36009002", "[open_api]") {
    fixture f;
    f.authorize();
    for (int i = 0; i < 50; ++i) REQUIRE(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
    auto response = f.shop.handle(f.signed_request("GET", "/authorization/202309/shops", {}, "", false));
    CHECK(response.status == 429);
    CHECK(body_of(response)["code"] == 36009002);
    f.clock += 1;
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
}

TEST_CASE("An injected fault fails the next calls under its path, then clears", "[open_api][faults]") {
    fixture f;
    f.authorize();
    json added = body_of(f.control("POST", "/control/faults",
                                   {{"path", "/authorization/"}, {"code", 36009003}, {"http_status", 503}, {"count", 2}}));
    REQUIRE(added["count"] == 2);
    for (int i = 0; i < 2; ++i) {
        auto response = f.shop.handle(f.signed_request("GET", "/authorization/202309/shops", {}, "", false));
        CHECK(response.status == 503);
        CHECK(body_of(response)["code"] == 36009003);
    }
    CHECK(f.call("GET", "/authorization/202309/shops", {}, "", false)["code"] == 0);
}

}  // namespace ORDERFLOW_TEST_FILE
