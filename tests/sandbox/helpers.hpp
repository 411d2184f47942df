// Test helpers for the sandbox: a shop on an injected clock, and requests
// signed the way a client signs them (docs/tiktok-shop-api.md §2), built
// from an independent HMAC so a signing bug on both sides cannot cancel out.
#pragma once

#include "tikapi/sandbox/shop.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace sandbox_test {

using nlohmann::json;
using orderflow::tikapi::http_request;
using orderflow::tikapi::http_response;

inline constexpr const char* app_key = "test_app_key";
inline constexpr const char* app_secret = "test_app_secret_value";
inline constexpr const char* cipher = "ROW_sandbox_cipher";

inline std::string hmac_hex(const std::string& key, const std::string& msg) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), out, &len);
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
        s.push_back(hex[out[i] >> 4]);
        s.push_back(hex[out[i] & 15]);
    }
    return s;
}

// §2: secret + path + sorted key/value pairs (without sign, access_token) + body + secret.
inline std::string client_sign(const std::string& secret, const std::string& path,
                               const std::map<std::string, std::string>& query, const std::string& body) {
    std::string s = secret + path;
    for (const auto& [k, v] : query)
        if (k != "sign" && k != "access_token") s += k + v;
    s += body + secret;
    return hmac_hex(secret, s);
}

inline std::string encode_query(const std::map<std::string, std::string>& query) {
    std::string out;
    for (const auto& [k, v] : query) {
        out += out.empty() ? "" : "&";
        out += orderflow::tikapi::percent_encode(k) + "=" + orderflow::tikapi::percent_encode(v);
    }
    return out;
}

inline http_request plain(const std::string& method, const std::string& target, std::string body = "") {
    http_request r;
    r.method = method;
    r.target = target;
    r.body = std::move(body);
    if (!r.body.empty()) r.headers.push_back({"Content-Type", "application/json"});
    return r;
}

inline json body_of(const http_response& r) { return json::parse(r.body, nullptr, false); }

using tweak_options = std::function<void(orderflow::sandbox::shop_options&)>;

struct fixture {
    std::int64_t clock = 1'700'000'000;
    tweak_options tweak;
    orderflow::sandbox::shop shop;
    std::string access_token;
    std::string refresh_token;

    // `change` adjusts the options before the shop is built (hold_seconds, faults...).
    explicit fixture(tweak_options change = {}) : tweak(std::move(change)), shop(make_options()) {}

    orderflow::sandbox::shop_options make_options() {
        orderflow::sandbox::shop_options o;
        o.app_key = app_key;
        o.app_secret = orderflow::secret(app_secret);
        o.shop_cipher = cipher;
        o.seed = 42;
        o.retry_scale = 0.001;
        o.clock = [this] { return clock; };
        if (tweak) tweak(o);
        return o;
    }

    http_response control(const std::string& method, const std::string& target, const json& body = nullptr) {
        return shop.handle(plain(method, target, body.is_null() ? "" : body.dump()));
    }

    json token_get(const std::string& code, const std::string& secret = app_secret) {
        auto r = shop.handle(plain("GET", "/api/v2/token/get?" + encode_query({{"app_key", app_key},
                                                                                {"app_secret", secret},
                                                                                {"auth_code", code},
                                                                                {"grant_type", "authorized_code"}})));
        return body_of(r);
    }

    // Authorizes and stores the tokens, as the daemon's "auth exchange" would.
    void authorize() {
        json code = body_of(control("POST", "/control/authorize", json::object()));
        json env = token_get(code.at("code").get<std::string>());
        access_token = env.at("data").at("access_token").get<std::string>();
        refresh_token = env.at("data").at("refresh_token").get<std::string>();
    }

    // A request signed like the real client signs it. `extra` is added to the
    // common parameters (app_key, timestamp, shop_cipher when `scoped`).
    http_request signed_request(const std::string& method, const std::string& path,
                                std::map<std::string, std::string> extra = {}, const std::string& body = "",
                                bool scoped = true) {
        auto query = std::move(extra);
        query.emplace("app_key", app_key);
        query.emplace("timestamp", std::to_string(clock));
        if (scoped) query.emplace("shop_cipher", cipher);
        query["sign"] = client_sign(app_secret, path, query, body);
        http_request r = plain(method, path + "?" + encode_query(query), body);
        r.headers.push_back({"x-tts-access-token", access_token});
        return r;
    }

    json call(const std::string& method, const std::string& path, std::map<std::string, std::string> extra = {},
              const std::string& body = "", bool scoped = true) {
        return body_of(shop.handle(signed_request(method, path, std::move(extra), body, scoped)));
    }

    json create_order(const std::string& status = "AWAITING_SHIPMENT", const std::string& user_id = "") {
        json body = {{"buyer_name", "山田 花子"},
                     {"status", status},
                     {"line_items", json::array({{{"seller_sku", "ENG-RING-01"},
                                                  {"product_name", "刻印リング"},
                                                  {"sale_price", "4980"}}})}};
        if (!user_id.empty()) body["user_id"] = user_id;
        return body_of(control("POST", "/control/orders", body));
    }

    // Ship Package with the seller's own carrier (§6); returns the envelope.
    json ship(const std::string& package_id, const std::string& tracking = "YMT-123456789012",
              const std::string& provider_id = "7129736402373338881") {
        return call("POST", "/fulfillment/202309/packages/" + package_id + "/ship", {},
                    json{{"self_shipment", {{"tracking_number", tracking}, {"shipping_provider_id", provider_id}}}}.dump());
    }

    json order_detail(const std::string& id) {
        return call("GET", "/order/202309/orders", {{"ids", id}})["data"]["orders"][0];
    }
};

// Stable ids the sandbox hands out (tikapi/sandbox/fulfillment.cpp).
inline constexpr const char* standard_option = "7208502187360519982";
inline constexpr const char* tiktok_option = "7208502187360519984";
inline constexpr const char* yamato = "7129736402373338881";
inline constexpr const char* japan_post = "7129736402373338883";



}  // namespace sandbox_test
