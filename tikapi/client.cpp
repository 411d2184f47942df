// The TikTok Shop API client (see client.hpp): signing, envelope parsing,
// rate limiting and retries, token calls and the order-flow endpoints on top
// of http_client.
#include "tikapi/client.hpp"

#include "common/json_limits.hpp"
#include "common/log.hpp"
#include "tikapi/signing.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace orderflow::tikapi {

namespace {

using json = nlohmann::json;

// "The query quota has been reached" for customer service (§4).
constexpr std::int64_t cs_quota_code = 45101004;

// An attempt's result as a metric label: few values, never free text.
std::string result_name(const api_error& e) {
    switch (e.kind) {
        case error_kind::connect: return "connect";
        case error_kind::timeout: return "timeout";
        case error_kind::tls: return "tls";
        case error_kind::protocol: return "protocol";
        case error_kind::decode: return "decode";
        case error_kind::http_status: return "http_" + std::to_string(e.http_status);
        case error_kind::api: return std::to_string(e.code);
    }
    return "unknown";
}

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

// A decode error about an answer that came: the request reached TikTok, which
// may have acted on it (a send whose answer lacks its message id was sent).
api_error answer_error(std::string message) {
    api_error e = make_error(error_kind::decode, std::move(message));
    e.request_sent = true;
    return e;
}

// A required string field of the answer's `data`, or a decode error naming it.
result<std::string> required_string(const json& data, const char* key, std::string_view path) {
    auto it = data.find(key);
    if (it == data.end() || it->is_null()) return answer_error(std::string(path) + ": data." + key + " is missing");
    if (!it->is_string()) return answer_error(std::string(path) + ": data." + key + " must be a string");
    return it->get<std::string>();
}

// Puts the path in front of a decode error from a model parser (of an answer
// that came, so the request was sent).
template <class T>
result<T> at_path(result<T> r, std::string_view path) {
    if (r.ok()) return r;
    api_error e = r.error();
    e.message = std::string(path) + ": " + e.message;
    e.request_sent = true;
    return e;
}

// An id as one path segment: percent-encoded; "" / "." / ".." refused (the
// last two would change the path itself).
result<std::string> id_segment(std::string_view id, std::string_view what, std::string_view call) {
    if (id.empty() || id == "." || id == "..") {
        return make_error(error_kind::decode, std::string(call) + ": the " + std::string(what) + " id is " +
                                                  (id.empty() ? "empty" : "not an id"));
    }
    return percent_encode(id);
}

result<nothing> page_size_error(std::string_view path, int page_size, int max) {
    if (page_size >= 1 && page_size <= max) return nothing{};
    return make_error(error_kind::decode, std::string(path) + ": page_size must be 1.." + std::to_string(max) +
                                              ", got " + std::to_string(page_size));
}

// Body of the shipping-info updates.
json shipping_body(std::string_view tracking_number, std::string_view shipping_provider_id) {
    return json{{"tracking_number", std::string(tracking_number)},
                {"shipping_provider_id", std::string(shipping_provider_id)}};
}

result<nothing> shipping_args_error(std::string_view call, std::string_view tracking_number,
                                    std::string_view shipping_provider_id) {
    if (tracking_number.empty()) return make_error(error_kind::decode, std::string(call) + ": the tracking number is empty");
    if (shipping_provider_id.empty()) {
        return make_error(error_kind::decode, std::string(call) + ": the shipping provider id is empty");
    }
    return nothing{};
}

std::int64_t utc_day(std::int64_t unix_seconds) {
    return unix_seconds >= 0 ? unix_seconds / 86400 : (unix_seconds - 86399) / 86400;
}

}  // namespace

std::chrono::milliseconds backoff_ceiling(int retry_number, std::chrono::milliseconds base,
                                          std::chrono::milliseconds cap) {
    if (retry_number < 1 || base.count() <= 0 || cap.count() <= 0) return std::chrono::milliseconds(0);
    std::int64_t ceiling = base.count();
    for (int i = 1; i < retry_number && ceiling < cap.count(); ++i) ceiling *= 2;   // stops before overflow
    return std::chrono::milliseconds(std::min(ceiling, static_cast<std::int64_t>(cap.count())));
}

std::chrono::milliseconds retry_delay(int retry_number, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                      double unit) {
    const auto ceiling = backoff_ceiling(retry_number, base, cap);
    if (!(unit > 0)) return std::chrono::milliseconds(0);   // also NaN
    if (unit >= 1) return ceiling;
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::floor(unit * static_cast<double>(ceiling.count()))));
}

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
    // Depth first: the answer is copied and compared recursively later, so
    // one nested deeper than the limit is refused before it is built.
    auto parsed = parse_untrusted_json(response.body);
    auto* found = std::get_if<json>(&parsed);
    const bool envelope = found != nullptr && found->is_object() && found->contains("code") && (*found)["code"].is_number_integer();
    if (!envelope) {
        const std::string problem = found == nullptr ? "the response is " + std::get<std::string>(parsed)
                                                      : std::string("the response is not a TikTok envelope");
        if (success_status) return answer_error(std::string(path) + ": " + problem);
        api_error e = make_error(error_kind::http_status, std::string(path) + ": no TikTok envelope in the response");
        e.http_status = response.status;
        e.request_sent = true;
        return e;
    }
    json& j = *found;

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
    impl(boost::asio::any_io_executor ex, client_options o)
        : executor(ex), options(std::move(o)), http(ex, options.tls) {
        if (!options.clock) options.clock = system_clock_seconds;
        if (!options.limiter) {
            rate_limiter_options lo;
            lo.rate = std::max(0.0, options.rate_limit_qps);
            lo.burst = lo.rate;
            options.limiter = std::make_shared<rate_limiter>(lo);
        }
        rng.seed(options.random_seed != 0 ? options.random_seed : std::random_device{}());
    }

    boost::asio::any_io_executor executor;
    client_options options;
    http_client http;
    std::mt19937 rng;
    std::int64_t cs_day = 0;     // utc_day of the customer-service count
    std::int64_t cs_count = 0;

    // One customer-service request reached TikTok; quota_reached: it
    // answered 45101004, so the day's quota is used up whatever we counted.
    void count_cs_call(bool quota_reached) {
        const std::int64_t day = utc_day(options.clock());
        if (day != cs_day) {
            cs_day = day;
            cs_count = 0;
        }
        ++cs_count;
        if (quota_reached) cs_count = std::max(cs_count, options.cs_daily_quota);
        if (options.on_cs_count) options.on_cs_count(cs_count);
    }

    std::chrono::milliseconds next_delay(int retry_number) {
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        return retry_delay(retry_number, options.backoff_base, options.backoff_cap, unit(rng));
    }

    // Waits `d`; false when the wait was cancelled.
    boost::asio::awaitable<bool> sleep(std::chrono::nanoseconds d) {
        boost::asio::steady_timer timer(executor);
        timer.expires_after(d);
        auto waited = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return !std::get<0>(waited);
    }

    // The token endpoints (docs/tiktok-shop-api.md §3): unsigned GETs on the
    // auth host that carry the app secret in the query. The target never leaves
    // this function except into the request itself.
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

std::int64_t client::cs_calls_today() const {
    const auto& im = *impl_;
    return utc_day(im.options.clock()) == im.cs_day ? im.cs_count : 0;
}

void client::resume_cs_calls(std::int64_t count_today) {
    auto& im = *impl_;
    const std::int64_t day = utc_day(im.options.clock());
    if (day != im.cs_day) {
        im.cs_day = day;
        im.cs_count = 0;
    }
    im.cs_count = std::max(im.cs_count, count_today);
}

boost::asio::awaitable<result<json>> client::call(std::string_view method, std::string_view path,
                                                  std::map<std::string, std::string> query, const json* body,
                                                  const orderflow::secret& access_token, bool shop_scoped,
                                                  retry mode) {
    auto& im = *impl_;
    const auto& o = im.options;
    const std::string path_text(path);
    const std::string api = api_template(path_text);
    const bool customer_service = path_text.rfind("/customer_service/", 0) == 0;
    const int max_attempts = std::max(1, o.max_attempts);
    query.erase("sign");
    query.erase("access_token");   // deprecated in the query; the header carries it (§1)
    query["app_key"] = o.app_key;
    if (shop_scoped && !o.shop_cipher.empty()) query["shop_cipher"] = o.shop_cipher;
    // Serialize once and sign exactly the bytes that are sent (§2).
    const std::string body_text = body ? dump(*body) : std::string();

    std::optional<api_error> failure;   // of the latest attempt
    // Stopped while waiting for the rate limit: what the last attempt got, if any.
    auto cancelled_while_paced = [&] {
        return failure ? *failure : make_error(error_kind::timeout, path_text + ": cancelled while waiting for the rate limit");
    };
    for (int attempt = 1;; ++attempt) {
        // The reserved slot here; the second's count of sends once the
        // connection is up, just before the request is written (admit).
        const std::chrono::nanoseconds slot = o.limiter->reserve(api, rate_limiter::clock::now());
        if (slot.count() > 0 && !co_await im.sleep(slot)) co_return cancelled_while_paced();
        bool cancelled = false;
        std::chrono::nanoseconds paced{0};   // admit's waits, not the call's time
        // A named std::function, passed as is: GCC 12 mishandles a
        // temporary converted for a coroutine's parameter inside co_await.
        const std::function<boost::asio::awaitable<bool>()> admit = [&]() -> boost::asio::awaitable<bool> {
            for (;;) {
                const std::chrono::nanoseconds wait = o.limiter->admit(api, rate_limiter::clock::now());
                if (wait.count() == 0) co_return true;
                const auto asleep_at = std::chrono::steady_clock::now();
                const bool woke = co_await im.sleep(wait);
                paced += std::chrono::steady_clock::now() - asleep_at;
                if (!woke) {
                    cancelled = true;
                    co_return false;
                }
            }
        };

        // A fresh timestamp, hence a fresh signature, for every attempt.
        query["timestamp"] = std::to_string(o.clock());
        query.erase("sign");
        query["sign"] = sign_request(o.app_secret.reveal(), o.api_base.base_path + path_text, query, body_text);

        http_request req;
        req.method = std::string(method);
        req.target = path_text + "?" + encode_query(query);
        req.headers.push_back({"content-type", "application/json"});
        if (!access_token.empty()) req.headers.push_back({"x-tts-access-token", access_token.reveal()});
        req.body = body_text;

        const auto sent_at = std::chrono::steady_clock::now();
        auto response = co_await im.http.send(o.api_base, std::move(req), o.timeout, admit);
        attempt_report report{api, {}, std::chrono::steady_clock::now() - sent_at - paced};
        if (cancelled) co_return cancelled_while_paced();
        if (customer_service && !response.ok() && response.error().request_sent) im.count_cs_call(false);

        if (!response.ok()) {
            api_error e = response.error();
            e.message = path_text + ": " + e.message;
            log::debug("tikapi_call", {{"method", method}, {"path", path_text}, {"attempt", attempt},
                                       {"error", e.describe()}});
            failure = std::move(e);
        } else {
            auto data = parse_envelope(response.value(), path_text);
            if (customer_service) im.count_cs_call(!data.ok() && data.error().kind == error_kind::api && data.error().code == cs_quota_code);
            log::debug("tikapi_call", {{"method", method},
                                       {"path", path_text},
                                       {"attempt", attempt},
                                       {"status", response.value().status},
                                       {"code", data.ok() ? 0 : data.error().code}});
            if (data.ok()) {
                report.result = "0";
                if (o.on_attempt) o.on_attempt(report);
                co_return data;
            }
            failure = data.error();
        }

        const api_error& e = *failure;
        if (e.rate_limited()) {
            o.limiter->throttled(api, rate_limiter::clock::now());
            log::info("tikapi_throttled", {{"method", method}, {"path", path_text}, {"api", api}});
        }
        const bool again = attempt < max_attempts && should_retry(e, mode);
        if (o.on_attempt) {
            report.result = result_name(e);
            report.throttled = e.rate_limited();
            report.retried = again;
            o.on_attempt(report);
        }
        if (!again) co_return e;

        const auto delay = im.next_delay(attempt);
        log::info("tikapi_retry", {{"method", method},
                                   {"path", path_text},
                                   {"attempt", attempt},
                                   {"delay_ms", delay.count()},
                                   {"error", e.describe()}});
        if (delay.count() > 0) {
            const bool waited = co_await im.sleep(delay);
            if (!waited) co_return e;
        }
    }
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
    auto data = co_await call("GET", path, std::move(query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    auto page = at_path(parse_order_page(data.value()), path);
    if (!page.ok()) co_return page.error();
    co_return std::move(page.value().orders);
}

boost::asio::awaitable<result<std::string>> client::create_conversation(std::string_view buyer_user_id,
                                                                        const orderflow::secret& access_token) {
    const std::string path = "/customer_service/202309/conversations";
    if (buyer_user_id.empty()) co_return make_error(error_kind::decode, path + ": the buyer user id is empty");
    json body{{"buyer_user_id", std::string(buyer_user_id)}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), &body, access_token, true, retry::at_most_once);
    if (!data.ok()) co_return data.error();
    co_return required_string(data.value(), "conversation_id", path);
}

boost::asio::awaitable<result<std::string>> client::send_text_message(std::string_view conversation_id,
                                                                      std::string_view text,
                                                                      const orderflow::secret& access_token) {
    auto segment = id_segment(conversation_id, "conversation", "send message");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/customer_service/202309/conversations/" + segment.value() + "/messages";
    if (text.empty()) co_return make_error(error_kind::decode, path + ": the message text is empty");
    if (auto n = utf8_length(text); n > max_text_message_chars) {
        co_return make_error(error_kind::decode, path + ": message too long (" + std::to_string(n) +
                                                     " characters, the limit is 2000)");
    }
    // content is itself a JSON string (§6): {"type":"TEXT","content":"{\"content\":\"...\"}"}
    json body{{"type", "TEXT"}, {"content", dump(json{{"content", std::string(text)}})}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), &body, access_token, true, retry::at_most_once);
    if (!data.ok()) co_return data.error();
    co_return required_string(data.value(), "message_id", path);
}

boost::asio::awaitable<result<order_page>> client::search_orders(const order_search& q,
                                                                 const orderflow::secret& access_token) {
    const std::string path = "/order/202309/orders/search";
    if (auto bad = page_size_error(path, q.page_size, max_order_page_size); !bad.ok()) co_return bad.error();
    std::map<std::string, std::string> query;
    query["page_size"] = std::to_string(q.page_size);
    if (!q.page_token.empty()) query["page_token"] = q.page_token;
    if (!q.sort_field.empty()) query["sort_field"] = q.sort_field;
    if (!q.sort_order.empty()) query["sort_order"] = q.sort_order;
    json body = json::object();
    if (q.order_status.size() == 1) body["order_status"] = q.order_status.front();
    if (q.create_time_ge) body["create_time_ge"] = *q.create_time_ge;
    if (q.create_time_lt) body["create_time_lt"] = *q.create_time_lt;
    if (q.update_time_ge) body["update_time_ge"] = *q.update_time_ge;
    if (q.update_time_lt) body["update_time_lt"] = *q.update_time_lt;
    if (!q.buyer_user_id.empty()) body["buyer_user_id"] = q.buyer_user_id;

    auto data = co_await call("POST", path, std::move(query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    auto page = at_path(parse_order_page(data.value()), path);
    if (!page.ok()) co_return page.error();
    if (q.order_status.size() > 1) {
        // TikTok filters on one status only; the rest is filtered here (models.hpp, order_search).
        auto& orders = page.value().orders;
        std::erase_if(orders, [&](const order& o) {
            return std::find(q.order_status.begin(), q.order_status.end(), o.status) == q.order_status.end();
        });
    }
    co_return page;
}

namespace {

// The query of the after-sales searches: paging and sort.
std::map<std::string, std::string> search_query(int page_size, const std::string& page_token, const std::string& sort_field,
                                                const std::string& sort_order) {
    std::map<std::string, std::string> query;
    query["page_size"] = std::to_string(page_size);
    if (!page_token.empty()) query["page_token"] = page_token;
    if (!sort_field.empty()) query["sort_field"] = sort_field;
    if (!sort_order.empty()) query["sort_order"] = sort_order;
    return query;
}

// The body filters both after-sales searches share.
void time_filters(json& body, const std::optional<std::int64_t>& create_ge, const std::optional<std::int64_t>& create_lt,
                  const std::optional<std::int64_t>& update_ge, const std::optional<std::int64_t>& update_lt) {
    if (create_ge) body["create_time_ge"] = *create_ge;
    if (create_lt) body["create_time_lt"] = *create_lt;
    if (update_ge) body["update_time_ge"] = *update_ge;
    if (update_lt) body["update_time_lt"] = *update_lt;
}

}  // namespace

boost::asio::awaitable<result<cancellation_page>> client::search_cancellations(const cancellation_search& q,
                                                                               const orderflow::secret& access_token) {
    const std::string path = "/return_refund/202309/cancellations/search";
    if (auto bad = page_size_error(path, q.page_size, max_cancellation_page_size); !bad.ok()) co_return bad.error();
    auto query = search_query(q.page_size, q.page_token, q.sort_field, q.sort_order);
    json body = json::object();
    if (!q.order_ids.empty()) body["order_ids"] = q.order_ids;
    if (!q.cancel_status.empty()) body["cancel_status"] = q.cancel_status;
    time_filters(body, q.create_time_ge, q.create_time_lt, q.update_time_ge, q.update_time_lt);
    auto data = co_await call("POST", path, std::move(query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_cancellation_page(data.value()), path);
}

boost::asio::awaitable<result<return_page>> client::search_returns(const return_search& q,
                                                                   const orderflow::secret& access_token) {
    const std::string path = "/return_refund/202309/returns/search";
    if (q.page_size < min_return_page_size || q.page_size > max_return_page_size)
        co_return make_error(error_kind::decode, path + ": page_size must be " + std::to_string(min_return_page_size) + ".." +
                                                     std::to_string(max_return_page_size) + ", got " + std::to_string(q.page_size));
    auto query = search_query(q.page_size, q.page_token, q.sort_field, q.sort_order);
    json body = json::object();
    if (!q.order_ids.empty()) body["order_ids"] = q.order_ids;
    if (!q.return_status.empty()) body["return_status"] = q.return_status;
    if (!q.return_types.empty()) body["return_types"] = q.return_types;
    time_filters(body, q.create_time_ge, q.create_time_lt, q.update_time_ge, q.update_time_lt);
    auto data = co_await call("POST", path, std::move(query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_return_page(data.value()), path);
}

boost::asio::awaitable<result<package>> client::get_package_detail(std::string_view package_id,
                                                                   const orderflow::secret& access_token) {
    auto segment = id_segment(package_id, "package", "get package detail");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/fulfillment/202309/packages/" + segment.value();
    std::map<std::string, std::string> no_query;
    auto data = co_await call("GET", path, std::move(no_query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_package(data.value()), path);
}

boost::asio::awaitable<result<package_page>> client::search_packages(const package_search& q,
                                                                     const orderflow::secret& access_token) {
    const std::string path = "/fulfillment/202309/packages/search";
    if (auto bad = page_size_error(path, q.page_size, max_package_page_size); !bad.ok()) co_return bad.error();
    std::map<std::string, std::string> query;
    query["page_size"] = std::to_string(q.page_size);
    if (!q.page_token.empty()) query["page_token"] = q.page_token;
    if (!q.sort_field.empty()) query["sort_field"] = q.sort_field;
    if (!q.sort_order.empty()) query["sort_order"] = q.sort_order;
    json body = json::object();
    if (q.create_time_ge) body["create_time_ge"] = *q.create_time_ge;
    if (q.create_time_lt) body["create_time_lt"] = *q.create_time_lt;
    if (q.update_time_ge) body["update_time_ge"] = *q.update_time_ge;
    if (q.update_time_lt) body["update_time_lt"] = *q.update_time_lt;
    if (!q.package_status.empty()) body["package_status"] = q.package_status;

    auto data = co_await call("POST", path, std::move(query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_package_page(data.value()), path);
}

boost::asio::awaitable<result<nothing>> client::ship_package(std::string_view package_id,
                                                             std::string_view tracking_number,
                                                             std::string_view shipping_provider_id,
                                                             const orderflow::secret& access_token) {
    auto segment = id_segment(package_id, "package", "ship package");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/fulfillment/202309/packages/" + segment.value() + "/ship";
    if (auto bad = shipping_args_error(path, tracking_number, shipping_provider_id); !bad.ok()) co_return bad.error();
    json body{{"self_shipment", shipping_body(tracking_number, shipping_provider_id)}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return nothing{};
}

boost::asio::awaitable<result<std::string>> client::mark_package_shipped(std::string_view order_id,
                                                                        std::string_view tracking_number,
                                                                        std::string_view shipping_provider_id,
                                                                        const orderflow::secret& access_token) {
    auto segment = id_segment(order_id, "order", "mark package as shipped");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/fulfillment/202309/orders/" + segment.value() + "/packages";
    if (auto bad = shipping_args_error(path, tracking_number, shipping_provider_id); !bad.ok()) co_return bad.error();
    json body = shipping_body(tracking_number, shipping_provider_id);
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return required_string(data.value(), "package_id", path);
}

namespace {

// Update Shipping Info, for an order or a package: the same body and rules,
// only the path differs. Safe to repeat, so retried as idempotent.
boost::asio::awaitable<result<nothing>> post_shipping_info(client& api, const std::string& path,
                                                           std::string_view tracking_number,
                                                           std::string_view shipping_provider_id,
                                                           const orderflow::secret& access_token) {
    if (auto bad = shipping_args_error(path, tracking_number, shipping_provider_id); !bad.ok()) co_return bad.error();
    json body = shipping_body(tracking_number, shipping_provider_id);
    std::map<std::string, std::string> no_query;
    auto data = co_await api.call("POST", path, std::move(no_query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return nothing{};
}

}  // namespace

boost::asio::awaitable<result<nothing>> client::update_order_shipping_info(std::string_view order_id,
                                                                           std::string_view tracking_number,
                                                                           std::string_view shipping_provider_id,
                                                                           const orderflow::secret& access_token) {
    auto segment = id_segment(order_id, "order", "update order shipping info");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/fulfillment/202309/orders/" + segment.value() + "/shipping_info/update";
    auto r = co_await post_shipping_info(*this, path, tracking_number, shipping_provider_id, access_token);
    co_return r;
}

boost::asio::awaitable<result<nothing>> client::update_package_shipping_info(std::string_view package_id,
                                                                             std::string_view tracking_number,
                                                                             std::string_view shipping_provider_id,
                                                                             const orderflow::secret& access_token) {
    auto segment = id_segment(package_id, "package", "update package shipping info");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/fulfillment/202309/packages/" + segment.value() + "/shipping_info/update";
    auto r = co_await post_shipping_info(*this, path, tracking_number, shipping_provider_id, access_token);
    co_return r;
}

boost::asio::awaitable<result<std::vector<tracking_event>>> client::get_tracking(
    std::string_view order_id, const orderflow::secret& access_token) {
    auto segment = id_segment(order_id, "order", "get tracking");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/fulfillment/202309/orders/" + segment.value() + "/tracking";
    std::map<std::string, std::string> no_query;
    auto data = co_await call("GET", path, std::move(no_query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_tracking(data.value()), path);
}

boost::asio::awaitable<result<std::vector<shipping_provider>>> client::get_shipping_providers(
    std::string_view delivery_option_id, const orderflow::secret& access_token) {
    auto segment = id_segment(delivery_option_id, "delivery option", "get shipping providers");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/logistics/202309/delivery_options/" + segment.value() + "/shipping_providers";
    std::map<std::string, std::string> no_query;
    auto data = co_await call("GET", path, std::move(no_query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_shipping_providers(data.value()), path);
}

boost::asio::awaitable<result<conversation_page>> client::get_conversations(int page_size,
                                                                            std::string_view page_token,
                                                                            const orderflow::secret& access_token) {
    const std::string path = "/customer_service/202309/conversations";
    if (auto bad = page_size_error(path, page_size, max_conversation_page_size); !bad.ok()) co_return bad.error();
    std::map<std::string, std::string> query;
    query["page_size"] = std::to_string(page_size);
    if (!page_token.empty()) query["page_token"] = std::string(page_token);
    auto data = co_await call("GET", path, std::move(query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_conversation_page(data.value()), path);
}

boost::asio::awaitable<result<message_page>> client::get_conversation_messages(std::string_view conversation_id,
                                                                               int page_size,
                                                                               std::string_view page_token,
                                                                               const orderflow::secret& access_token) {
    auto segment = id_segment(conversation_id, "conversation", "get conversation messages");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/customer_service/202309/conversations/" + segment.value() + "/messages";
    if (auto bad = page_size_error(path, page_size, max_message_page_size); !bad.ok()) co_return bad.error();
    std::map<std::string, std::string> query;
    query["page_size"] = std::to_string(page_size);
    if (!page_token.empty()) query["page_token"] = std::string(page_token);
    auto data = co_await call("GET", path, std::move(query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_message_page(data.value()), path);
}

boost::asio::awaitable<result<nothing>> client::mark_read(std::string_view conversation_id,
                                                          const orderflow::secret& access_token) {
    auto segment = id_segment(conversation_id, "conversation", "mark read");
    if (!segment.ok()) co_return segment.error();
    const std::string path = "/customer_service/202309/conversations/" + segment.value() + "/messages/read";
    std::map<std::string, std::string> no_query;
    auto data = co_await call("POST", path, std::move(no_query), nullptr, access_token, true, retry::at_most_once);
    if (!data.ok()) co_return data.error();
    co_return nothing{};
}

boost::asio::awaitable<result<std::vector<authorized_shop>>> client::get_authorized_shops(
    const orderflow::secret& access_token) {
    const std::string path = "/authorization/202309/shops";
    std::map<std::string, std::string> no_query;
    auto data = co_await call("GET", path, std::move(no_query), nullptr, access_token, false, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_authorized_shops(data.value()), path);
}

boost::asio::awaitable<result<std::vector<webhook_subscription>>> client::get_webhooks(
    const orderflow::secret& access_token) {
    const std::string path = "/event/202309/webhooks";
    std::map<std::string, std::string> no_query;
    auto data = co_await call("GET", path, std::move(no_query), nullptr, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return at_path(parse_webhooks(data.value()), path);
}

boost::asio::awaitable<result<nothing>> client::put_webhook(std::string_view event_type, std::string_view address,
                                                            const orderflow::secret& access_token) {
    const std::string path = "/event/202309/webhooks";
    if (event_type.empty()) co_return make_error(error_kind::decode, path + ": the event type is empty");
    if (address.empty()) co_return make_error(error_kind::decode, path + ": the webhook address is empty");
    if (auto n = utf8_length(address); n > max_webhook_address_chars) {
        co_return make_error(error_kind::decode, path + ": the webhook address is too long (" + std::to_string(n) +
                                                     " characters, the limit is 255)");
    }
    json body{{"address", std::string(address)}, {"event_type", std::string(event_type)}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("PUT", path, std::move(no_query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return nothing{};
}

boost::asio::awaitable<result<nothing>> client::delete_webhook(std::string_view event_type,
                                                               const orderflow::secret& access_token) {
    const std::string path = "/event/202309/webhooks";
    if (event_type.empty()) co_return make_error(error_kind::decode, path + ": the event type is empty");
    json body{{"event_type", std::string(event_type)}};
    std::map<std::string, std::string> no_query;
    auto data = co_await call("DELETE", path, std::move(no_query), &body, access_token, true, retry::idempotent);
    if (!data.ok()) co_return data.error();
    co_return nothing{};
}

}  // namespace orderflow::tikapi
