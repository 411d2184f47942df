// The TikTok Shop API client (see client.hpp): signing, envelope parsing,
// token calls and the order-flow endpoints on top of http_client.
#include "tikapi/client.hpp"

#include "common/log.hpp"
#include "tikapi/signing.hpp"

#include <sodium.h>

#include <chrono>

namespace orderflow::tikapi {

namespace {

using json = nlohmann::json;

api_error make_error(error_kind kind, std::string message) {
    api_error e;
    e.kind = kind;
    e.message = std::move(message);
    return e;
}

// Buyer-facing text may hold invalid UTF-8; replace it rather than throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::int64_t system_clock_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A required string field of `data`, or a decode error naming it.
result<std::string> required_string(const json& data, const char* key, std::string_view path) {
    auto it = data.find(key);
    if (it == data.end() || it->is_null())
        return make_error(error_kind::decode, std::string(path) + ": data." + key + " is missing");
    if (!it->is_string())
        return make_error(error_kind::decode, std::string(path) + ": data." + key + " must be a string");
    return it->get<std::string>();
}

}  // namespace

std::string encode_query(const std::map<std::string, std::string>& query) {
    std::string out;
    for (const auto& [key, value] : query) {
        if (!out.empty()) out.push_back('&');
        out += percent_encode(key);
        out.push_back('=');
        out += percent_encode(value);
    }
    return out;
}

std::size_t utf8_length(std::string_view text) {
    std::size_t n = 0;
    for (unsigned char c : text) {
        if ((c & 0xC0) != 0x80) ++n;   // count every byte that does not continue a sequence
    }
    return n;
}

result<json> parse_envelope(const http_response& response, std::string_view path) {
    const bool success_status = response.status >= 200 && response.status < 300;
    auto j = json::parse(response.body, nullptr, false);
    const bool envelope = !j.is_discarded() && j.is_object() && j.contains("code") && j["code"].is_number_integer();
    if (!envelope) {
        if (success_status) {
            return make_error(error_kind::decode, std::string(path) + ": the response is not a TikTok envelope");
        }
        api_error e = make_error(error_kind::http_status, std::string(path) + ": no TikTok envelope in the response");
        e.http_status = response.status;
        e.request_sent = true;
        return e;
    }

    api_error e;
    e.http_status = response.status;
    e.request_sent = true;
    e.code = j["code"].get<std::int64_t>();
    if (auto it = j.find("request_id"); it != j.end() && it->is_string()) e.request_id = it->get<std::string>();
    std::string message;
    if (auto it = j.find("message"); it != j.end() && it->is_string()) message = it->get<std::string>();

    if (e.code != 0) {
        e.kind = error_kind::api;
        e.message = std::string(path) + ": " + message;
        return e;
    }
    if (!success_status) {
        e.kind = error_kind::http_status;
        e.message = std::string(path) + ": code 0 with a failure status";
        return e;
    }
    auto data = j.find("data");
    if (data == j.end() || data->is_null()) return json::object();
    return std::move(*data);
}

struct client::impl {
    impl(boost::asio::any_io_executor ex, client_options o) : options(std::move(o)), http(ex, options.tls) {
        if (!options.clock) options.clock = system_clock_seconds;
    }

    client_options options;
    http_client http;

    // The token endpoints (§3): unsigned GETs on the auth host that carry
    // the app secret in the query. The target never leaves this function
    // except into the request itself.
    boost::asio::awaitable<result<token_set>> token_call(std::string path, std::map<std::string, std::string> query) {
        query["app_key"] = options.app_key;
        query["app_secret"] = options.app_secret.reveal();
        http_request req;
        req.method = "GET";
        req.target = path + "?" + encode_query(query);
        sodium_memzero(query["app_secret"].data(), query["app_secret"].size());
        for (auto& [k, v] : query) sodium_memzero(v.data(), v.size());   // codes and refresh tokens too

        auto response = co_await http.send(options.auth_base, std::move(req), options.timeout);
        if (!response.ok()) {
            api_error e = response.error();
            e.message = path + ": " + e.message;
            co_return e;
        }
        auto data = parse_envelope(response.value(), path);
        log::debug("tikapi_call", {{"method", "GET"}, {"path", path}, {"status", response.value().status},
                                   {"ok", data.ok()}});
        if (!data.ok()) co_return data.error();
        co_return parse_token_data(data.value());
    }
};

client::client(boost::asio::any_io_executor ex, client_options options)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(options))) {}

client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

const client_options& client::options() const { return impl_->options; }

boost::asio::awaitable<result<json>> client::call(std::string_view method, std::string_view path,
                                                  std::map<std::string, std::string> query, const json* body,
                                                  const orderflow::secret& access_token, bool shop_scoped) {
    const auto& o = impl_->options;
    query.erase("sign");
    query.erase("access_token");   // deprecated in the query; the header carries it (§1)
    query["app_key"] = o.app_key;
    query["timestamp"] = std::to_string(o.clock());
    if (shop_scoped && !o.shop_cipher.empty()) query["shop_cipher"] = o.shop_cipher;

    // Serialize once and sign exactly the bytes that are sent (§2).
    std::string body_text = body ? dump(*body) : std::string();
    const std::string path_text(path);
    query["sign"] = sign_request(o.app_secret.reveal(), o.api_base.base_path + path_text, query, body_text);

    http_request req;
    req.method = std::string(method);
    req.target = path_text + "?" + encode_query(query);
    req.headers.push_back({"content-type", "application/json"});
    if (!access_token.empty()) req.headers.push_back({"x-tts-access-token", access_token.reveal()});
    req.body = std::move(body_text);

    auto response = co_await impl_->http.send(o.api_base, std::move(req), o.timeout);
    if (!response.ok()) {
        api_error e = response.error();
        e.message = path_text + ": " + e.message;
        log::debug("tikapi_call", {{"method", method}, {"path", path_text}, {"error", e.describe()}});
        co_return e;
    }
    auto data = parse_envelope(response.value(), path_text);
    log::debug("tikapi_call", {{"method", method},
                               {"path", path_text},
                               {"status", response.value().status},
                               {"code", data.ok() ? 0 : data.error().code}});
    co_return data;
}

boost::asio::awaitable<result<token_set>> client::get_token(std::string_view auth_code) {
    // Named arguments, not temporaries: GCC 12 mishandles class prvalues
    // passed to a coroutine inside co_await.
    std::string path = "/api/v2/token/get";
    std::map<std::string, std::string> query;
    query["auth_code"] = std::string(auth_code);
    query["grant_type"] = "authorized_code";
    co_return co_await impl_->token_call(std::move(path), std::move(query));
}

boost::asio::awaitable<result<token_set>> client::refresh_token(const orderflow::secret& refresh_token) {
    std::string path = "/api/v2/token/refresh";
    std::map<std::string, std::string> query;
    query["refresh_token"] = refresh_token.reveal();
    query["grant_type"] = "refresh_token";
    co_return co_await impl_->token_call(std::move(path), std::move(query));
}

boost::asio::awaitable<result<std::vector<order>>> client::get_order_detail(const std::vector<std::string>& ids,
                                                                            const orderflow::secret& access_token) {
    const std::string path = "/order/202309/orders";
    if (ids.empty()) co_return std::vector<order>{};
    if (ids.size() > max_order_ids_per_call) {
        co_return make_error(error_kind::decode, path + ": at most 50 order ids per call, got " +
                                                     std::to_string(ids.size()));
    }
    std::string joined;
    for (const auto& id : ids) {
        if (!joined.empty()) joined.push_back(',');
        joined += id;
    }
    std::map<std::string, std::string> query;
    query["ids"] = joined;
    auto data = co_await call("GET", path, std::move(query), nullptr, access_token);
    if (!data.ok()) co_return data.error();

    std::vector<order> orders;
    auto it = data.value().find("orders");
    if (it == data.value().end() || it->is_null()) co_return orders;
    if (!it->is_array()) co_return make_error(error_kind::decode, path + ": data.orders must be an array");
    for (const auto& j : *it) {
        auto o = parse_order(j);
        if (!o.ok()) {
            api_error e = o.error();
            e.message = path + ": " + e.message;
            co_return e;
        }
        orders.push_back(std::move(o).value());
    }
    co_return orders;
}

boost::asio::awaitable<result<std::string>> client::create_conversation(std::string_view buyer_user_id,
                                                                        const orderflow::secret& access_token) {
    const std::string path = "/customer_service/202309/conversations";
    if (buyer_user_id.empty()) co_return make_error(error_kind::decode, path + ": the buyer user id is empty");
    json body{{"buyer_user_id", std::string(buyer_user_id)}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), &body, access_token);
    if (!data.ok()) co_return data.error();
    co_return required_string(data.value(), "conversation_id", path);
}

boost::asio::awaitable<result<std::string>> client::send_text_message(std::string_view conversation_id,
                                                                      std::string_view text,
                                                                      const orderflow::secret& access_token) {
    const std::string path =
        "/customer_service/202309/conversations/" + percent_encode(conversation_id) + "/messages";
    if (conversation_id.empty()) {
        co_return make_error(error_kind::decode, "send message: the conversation id is empty");
    }
    if (text.empty()) co_return make_error(error_kind::decode, path + ": the message text is empty");
    if (auto n = utf8_length(text); n > max_text_message_chars) {
        co_return make_error(error_kind::decode, path + ": message too long (" + std::to_string(n) +
                                                     " characters, the limit is 2000)");
    }
    // content is itself a JSON string (§6): {"type":"TEXT","content":"{\"content\":\"...\"}"}
    json body{{"type", "TEXT"}, {"content", dump(json{{"content", std::string(text)}})}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), &body, access_token);
    if (!data.ok()) co_return data.error();
    co_return required_string(data.value(), "message_id", path);
}

}  // namespace orderflow::tikapi
