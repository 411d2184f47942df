// The Open API and auth-host paths of the simulated shop, with the checks the
// real service makes, in the same order: route, injected and random faults,
// rate limit (per API template, app and shop, sliding 1 s window), app_key,
// timestamp window, sign (docs/tiktok-shop-api.md §2), shop_cipher,
// x-tts-access-token (§1, §4); the order and customer-service handlers and the
// Event API. The fulfillment handlers live in fulfillment.cpp. Every answer is
// the {code,message,request_id,data} envelope, also on errors (except the plain
// 503 and dropped-connection faults), and every call is recorded without its
// credentials, with the fault it met.
//
// HTTP statuses for error codes are UNCONFIRMED upstream (§8): 401 for sign
// and token failures (a reported sample), 429 for throttling (§4), 400 for
// malformed parameters, 404 for unknown paths and records.
#include "tikapi/sandbox/shop.hpp"

#include "common/log.hpp"
#include "tikapi/sandbox/detail/params.hpp"
#include "tikapi/sandbox/detail/util.hpp"
#include "tikapi/signing.hpp"

#include <algorithm>
#include <ctime>

namespace orderflow::sandbox {

using nlohmann::json;
using detail::body_object;
using detail::next_token;
using detail::query_value;
using detail::read_page;

namespace {

// Error codes (docs/tiktok-shop-api.md §4).
constexpr std::int64_t rate_limited = 36009002;
constexpr std::int64_t cs_quota_reached = 45101004;
constexpr std::int64_t internal_error = 36009003;
constexpr std::int64_t bad_request = 36009004;   // app_key, timestamp, unexpected shop_cipher, parameters
constexpr std::int64_t invalid_path = 36009009;
constexpr std::int64_t invalid_method = 36009010;
constexpr std::int64_t body_not_json = 36009022;
constexpr std::int64_t cipher_mismatch = 101000;
constexpr std::int64_t token_invalid = 105001;
constexpr std::int64_t token_expired = 105002;
constexpr std::int64_t bad_sign = 106001;
constexpr std::int64_t cipher_missing = 106013;
constexpr std::int64_t order_not_found = 21008111;
constexpr std::int64_t record_not_found = 45101003;
constexpr std::int64_t cannot_start_conversation = 45109003;
constexpr std::int64_t conversation_rules = 45109001;
// Auth host (reported by EcomPHP/tiktokshop-php PR #15).
constexpr std::int64_t auth_record_not_found = 36004005;
constexpr std::int64_t refresh_token_expired = 36004001;

enum class route_id {
    token_get,
    token_refresh,
    oauth_authorize,
    shops,
    orders,
    orders_search,
    conversations_create,
    conversations_list,
    messages_send,
    messages_list,
    messages_read,
    shipping_providers,
    package_ship,
    order_mark_shipped,
    order_shipping_info,
    package_shipping_info,
    package_detail,
    packages_search,
    order_tracking,
    webhooks_get,
    webhooks_put,
    webhooks_delete,
    // after-sales (after_sales.cpp)
    cancellations_search,
    returns_search,
};

struct route {
    std::string_view method;
    std::vector<std::string_view> pattern;   // "*" matches one segment (a path id)
    route_id id;
    bool signed_call;
    bool shop_scoped;
};

const std::vector<route>& routes() {
    static const std::vector<route> table = {
        {"GET", {"api", "v2", "token", "get"}, route_id::token_get, false, false},
        {"GET", {"api", "v2", "token", "refresh"}, route_id::token_refresh, false, false},
        {"GET", {"oauth", "authorize"}, route_id::oauth_authorize, false, false},
        {"GET", {"authorization", "202309", "shops"}, route_id::shops, true, false},
        {"GET", {"order", "202309", "orders"}, route_id::orders, true, true},
        {"POST", {"order", "202309", "orders", "search"}, route_id::orders_search, true, true},
        {"POST", {"customer_service", "202309", "conversations"}, route_id::conversations_create, true, true},
        {"GET", {"customer_service", "202309", "conversations"}, route_id::conversations_list, true, true},
        {"POST", {"customer_service", "202309", "conversations", "*", "messages"}, route_id::messages_send, true, true},
        {"GET", {"customer_service", "202309", "conversations", "*", "messages"}, route_id::messages_list, true, true},
        {"POST", {"customer_service", "202309", "conversations", "*", "messages", "read"}, route_id::messages_read, true, true},
        {"GET", {"logistics", "202309", "delivery_options", "*", "shipping_providers"}, route_id::shipping_providers, true, true},
        {"POST", {"fulfillment", "202309", "packages", "*", "ship"}, route_id::package_ship, true, true},
        {"POST", {"fulfillment", "202309", "orders", "*", "packages"}, route_id::order_mark_shipped, true, true},
        {"POST", {"fulfillment", "202309", "orders", "*", "shipping_info", "update"}, route_id::order_shipping_info, true, true},
        {"POST", {"fulfillment", "202309", "packages", "*", "shipping_info", "update"}, route_id::package_shipping_info, true, true},
        {"GET", {"fulfillment", "202309", "packages", "*"}, route_id::package_detail, true, true},
        {"POST", {"fulfillment", "202309", "packages", "search"}, route_id::packages_search, true, true},
        {"GET", {"fulfillment", "202309", "orders", "*", "tracking"}, route_id::order_tracking, true, true},
        {"GET", {"event", "202309", "webhooks"}, route_id::webhooks_get, true, true},
        {"PUT", {"event", "202309", "webhooks"}, route_id::webhooks_put, true, true},
        {"DELETE", {"event", "202309", "webhooks"}, route_id::webhooks_delete, true, true},
        // after-sales (after_sales.cpp)
        {"POST", {"return_refund", "202309", "cancellations", "search"}, route_id::cancellations_search, true, true},
        {"POST", {"return_refund", "202309", "returns", "search"}, route_id::returns_search, true, true},
    };
    return table;
}

bool matches(const route& r, const std::vector<std::string>& segments, std::string& captured) {
    if (r.pattern.size() != segments.size()) return false;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        if (r.pattern[i] == "*") {
            if (segments[i].empty()) return false;
            captured = segments[i];
        } else if (r.pattern[i] != segments[i]) {
            return false;
        }
    }
    return true;
}

// "POST /customer_service/202309/conversations/{id}/messages": one API, the
// unit of rate limiting (§4) and of the call summary.
std::string api_name(const route& r) {
    std::string key(r.method);
    key += " ";
    for (auto p : r.pattern) key += "/" + std::string(p == "*" ? "{id}" : p);
    return key;
}

bool is_credential(std::string_view key) {
    return key == "sign" || key == "app_secret" || key == "access_token" || key == "refresh_token" ||
           key == "auth_code";
}

}  // namespace

shop::api_reply shop::fail(int http_status, std::int64_t code, std::string message) {
    return api_reply{http_status, code, std::move(message), nullptr, {}};
}

std::string shop::request_id() {
    std::time_t t = static_cast<std::time_t>(now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[16];
    std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    static constexpr char hex[] = "0123456789ABCDEF";
    std::uniform_int_distribution<int> nibble(0, 15);
    std::string id = stamp;
    for (int i = 0; i < 18; ++i) id.push_back(hex[nibble(rng_)]);
    return id;
}

served shop::open_api(const tikapi::http_request& request) {
    api_context ctx{request, request.path(), request.query(), {}, {}};
    ctx.segments = detail::split_path(ctx.path);

    // The route first: the unit of faults, throttling and the call summary.
    int route_index = -1;
    bool path_known = false;
    const auto& table = routes();
    for (std::size_t i = 0; i < table.size(); ++i) {
        std::string captured;
        if (!matches(table[i], ctx.segments, captured)) continue;
        path_known = true;
        if (table[i].method == request.method) {
            route_index = static_cast<int>(i);
            ctx.captured = captured;
            break;
        }
    }

    served out;
    call_record record;
    api_reply reply;
    if (route_index < 0) {
        reply = path_known ? fail(405, invalid_method, "Invalid method. The method is not allowed for this path")
                           : fail(404, invalid_path, "Invalid path. The request path does not exist");
    } else {
        record.api = api_name(table[static_cast<std::size_t>(route_index)]);
        // Injected faults (POST /control/faults) come first: they stand for the
        // platform failing before it looks at the request.
        bool injected = false;
        for (auto it = faults_.begin(); it != faults_.end(); ++it) {
            if (ctx.path.compare(0, it->path_prefix.size(), it->path_prefix) != 0) continue;
            reply = fail(it->http_status, it->code, it->message);
            if (--it->remaining <= 0) faults_.erase(it);
            injected = true;
            record.fault = "injected";
            break;
        }
        const bool eligible = options_.faults.only_path.empty() || ctx.path.find(options_.faults.only_path) != std::string::npos;
        if (!injected && eligible) {
            // Random faults: one draw picks at most one of them.
            const auto& f = options_.faults;
            const double shares[] = {f.error_share, f.throttle_share, f.drop_share, f.drop_after_share, f.slow_share, f.garble_after_share};
            double total = 0;
            for (double share : shares) total += std::max(0.0, share);
            int picked = -1;
            if (total > 0) {
                const double u = std::uniform_real_distribution<double>(0, 1)(fault_rng_);
                double edge = 0;
                for (int i = 0; i < static_cast<int>(std::size(shares)); ++i) {
                    edge += std::max(0.0, shares[i]);
                    if (u < edge) {
                        picked = i;
                        break;
                    }
                }
            }
            switch (picked) {
                case 0:
                    if (draw(0.5)) {
                        record.fault = "error_500";
                        reply = fail(500, internal_error, "Internal error. Please try again.");
                    } else {
                        record.fault = "error_503";
                        record.has_code = false;
                        out.response = tikapi::http_response::text(503, "Service Unavailable\n");
                    }
                    break;
                case 1:
                    record.fault = "throttle";
                    reply = fail(429, rate_limited, "Too many requests. Please retry later");
                    break;
                case 2:
                    record.fault = "drop";
                    record.has_code = false;
                    out.response.drop = true;
                    break;
                default:
                    reply = dispatch(ctx, route_index);
                    if (picked == 3) {
                        record.fault = "drop_after";
                        out.response.drop = true;
                    } else if (picked == 4) {
                        record.fault = "slow";
                        out.delay = std::chrono::milliseconds(std::max<std::int64_t>(0, f.slow_ms));
                    } else if (picked == 5) {
                        // A gateway's page in place of TikTok's answer, after TikTok acted.
                        record.fault = "garble_after";
                        record.has_code = false;
                        out.response = tikapi::http_response::text(200, "<html><body>upstream answered</body></html>\n");
                    }
                    break;
            }
            if (!record.fault.empty()) ++fault_counts_.calls[record.fault];
        }
    }

    record.seq = calls_.size() + 1;
    record.time = now();
    record.method = request.method;
    record.path = ctx.path;
    for (const auto& [k, v] : ctx.query)
        if (!is_credential(k)) record.query[k] = v;
    record.body = request.body;
    const bool enveloped = record.has_code;
    record.http_status = record.fault == "drop" ? 0 : (enveloped ? reply.http_status : out.response.status);
    record.code = enveloped ? reply.code : 0;
    json fields = {{"method", record.method},
                   {"path", record.path},
                   {"http_status", record.http_status},
                   {"code", enveloped ? json(record.code) : json(nullptr)}};
    if (!record.fault.empty()) fields["fault"] = record.fault;
    calls_.push_back(std::move(record));
    log::info("sandbox_api_call", fields);

    if (!enveloped) return out;   // plain 503, or dropped before processing
    json envelope = {{"code", reply.code},
                     {"message", reply.message},
                     {"request_id", request_id()},
                     {"data", reply.code == 0 ? std::move(reply.data) : json(nullptr)}};
    const bool drop = out.response.drop;
    out.response = tikapi::http_response::json(reply.http_status, envelope.dump());
    out.response.drop = drop;
    if (!reply.location.empty()) out.response.headers.push_back({"Location", reply.location});
    return out;
}

// Throttling (§4): at most rate_limit_qps accepted calls per API, app and
// shop in any 1-second window. Refused calls do not count.
std::optional<shop::api_reply> shop::check_rate(api_context& ctx, int route_index) {
    if (options_.rate_limit_qps <= 0) return std::nullopt;
    const std::string key = api_name(routes()[static_cast<std::size_t>(route_index)]) + "|" +
                            query_value(ctx.query, "app_key").value_or("") + "|" +
                            query_value(ctx.query, "shop_cipher").value_or("");
    auto& window = rate_windows_[key];
    const auto t = now_ms();
    window.erase(window.begin(), std::find_if(window.begin(), window.end(), [&](std::int64_t at) { return at > t - 1000; }));
    if (static_cast<std::int64_t>(window.size()) >= options_.rate_limit_qps)
        return fail(429, rate_limited, "Too many requests. Please retry later");
    window.push_back(t);
    return std::nullopt;
}

// The customer-service quota (§4): cs_daily_quota accepted calls per UTC
// day, then 45101004 until midnight UTC. Refused calls do not count.
std::optional<shop::api_reply> shop::check_cs_quota(api_context& ctx) {
    if (ctx.path.find("/customer_service/") == std::string::npos) return std::nullopt;
    const std::int64_t day = now() / 86400;
    if (day != cs_day_) {
        cs_day_ = day;
        cs_calls_ = 0;
    }
    if (cs_calls_ >= options_.cs_daily_quota)
        return fail(200, cs_quota_reached,
                    "The query quota has been reached (" + std::to_string(options_.cs_daily_quota) + " request per day)");
    ++cs_calls_;
    return std::nullopt;
}

shop::api_reply shop::dispatch(api_context& ctx, int route_index) {
    const route& found = routes()[static_cast<std::size_t>(route_index)];
    if (found.signed_call) {
        if (auto throttled = check_rate(ctx, route_index)) return std::move(*throttled);
        if (auto rejected = check_signed(ctx, found.shop_scoped)) return std::move(*rejected);
        if (auto over = check_cs_quota(ctx)) return std::move(*over);
    }
    const std::string& id = ctx.captured;
    switch (found.id) {
        case route_id::token_get: return token_get(ctx);
        case route_id::token_refresh: return token_refresh(ctx);
        case route_id::oauth_authorize: return oauth_authorize(ctx);
        case route_id::shops: return get_shops(ctx);
        case route_id::orders: return get_orders(ctx);
        case route_id::orders_search: return search_orders(ctx);
        case route_id::conversations_create: return create_conversation(ctx);
        case route_id::conversations_list: return list_conversations(ctx);
        case route_id::messages_send: return send_message(ctx, id);
        case route_id::messages_list: return get_messages(ctx, id);
        case route_id::messages_read: return mark_read(ctx, id);
        case route_id::shipping_providers: return shipping_providers(ctx, id);
        case route_id::package_ship: return ship_package(ctx, id);
        case route_id::order_mark_shipped: return mark_shipped(ctx, id);
        case route_id::order_shipping_info: return update_shipping_info(ctx, id, false);
        case route_id::package_shipping_info: return update_shipping_info(ctx, id, true);
        case route_id::package_detail: return package_detail(ctx, id);
        case route_id::packages_search: return search_packages(ctx);
        case route_id::order_tracking: return get_tracking(ctx, id);
        case route_id::webhooks_get: return get_webhooks(ctx);
        case route_id::webhooks_put: return put_webhook(ctx);
        case route_id::webhooks_delete: return delete_webhook(ctx);
        case route_id::cancellations_search: return search_cancellations(ctx);
        case route_id::returns_search: return search_returns(ctx);
    }
    return fail(404, invalid_path, "Invalid path");
}

std::optional<shop::api_reply> shop::check_signed(api_context& ctx, bool shop_scoped) {
    const auto& q = ctx.query;
    auto app_key = query_value(q, "app_key");
    if (!app_key || *app_key != options_.app_key)
        return fail(401, bad_request, "Invalid app_key. The app_key query parameter is invalid");

    auto sign = query_value(q, "sign");
    if (!sign || sign->empty()) return fail(401, bad_request, "Missing signature. The sign query parameter is required");

    auto timestamp_text = query_value(q, "timestamp");
    // value_or instead of a deref: GCC 12 at -O2 warns maybe-uninitialized on the optional.
    const std::int64_t timestamp = (timestamp_text ? detail::parse_int(*timestamp_text) : std::nullopt).value_or(-1);
    const auto t = now();
    if (timestamp < 0 || timestamp < t - 300 || timestamp > t + 30)
        return fail(401, bad_request,
                             "Invalid timestamp. The timestamp must be within 5 minutes before and 30 seconds after "
                             "the current time");

    const std::string expected = tikapi::sign_request(options_.app_secret.reveal(), ctx.path, q, ctx.request.body);
    if (!detail::constant_time_equal(expected, detail::lower(*sign)))
        return fail(401, bad_sign, "signature is invalid");

    auto cipher = query_value(q, "shop_cipher");
    if (shop_scoped) {
        if (!cipher || cipher->empty())
            return fail(400, cipher_missing,
                                 "Missing identifier. The shop_cipher query parameter is required");
        if (*cipher != options_.shop_cipher)
            return fail(401, cipher_mismatch,
                                 "Invalid x-tts-access-token: the token is not associated with this shop_cipher");
    } else if (cipher) {
        return fail(400, bad_request,
                             "Unexpected identifier. The shop_cipher query parameter is not required for this request");
    }

    std::string_view header = ctx.request.header("x-tts-access-token");
    auto tok = access_tokens_.find(header);
    if (header.empty() || tok == access_tokens_.end() || tok->second.revoked)
        return fail(401, token_invalid, "access token is invalid");
    if (tok->second.effective_expires_at <= t)
        return fail(401, token_expired, "access token is expired, please refresh it");
    return std::nullopt;
}

// --- auth host (§3) ------------------------------------------------------------

json shop::token_data(const std::string& access, const std::string& refresh) {
    return {{"access_token", access},
            {"access_token_expire_in", access_tokens_.at(access).access_expires_at},
            {"refresh_token", refresh},
            {"refresh_token_expire_in", refresh_tokens_.at(refresh).expires_at},
            {"open_id", "sandbox_open_" + options_.shop_id},
            {"seller_name", options_.shop_name},
            {"seller_base_region", "JP"},
            {"user_type", 0},
            {"granted_scopes", json::array({"seller.order.info", "seller.customer_service", "seller.fulfillment.basic",
                                            "seller.authorization.info"})}};
}

// The auth host's own check: app_key and app_secret in the query (§3), and the grant type.
std::optional<shop::api_reply> shop::check_app_credentials(api_context& ctx, std::string_view grant_type) {
    const auto& q = ctx.query;
    auto key = query_value(q, "app_key");
    auto secret = query_value(q, "app_secret");
    if (!key || *key != options_.app_key || !secret ||
        !detail::constant_time_equal(*secret, options_.app_secret.reveal()))
        return fail(401, bad_request, "Invalid app_key or app_secret");
    if (query_value(q, "grant_type").value_or("") != grant_type)
        return fail(400, bad_request, "grant_type must be " + std::string(grant_type));
    return std::nullopt;
}

// A fresh access and refresh token pair, as both token endpoints return it.
shop::api_reply shop::issue_tokens() {
    const std::string access = "TTP_" + random_token(43);
    const std::string refresh = "TTP_" + random_token(43);
    token tok{refresh, now() + options_.access_ttl, now() + options_.access_ttl, false};
    // token_early_share: the token stops working long before it says it will.
    if (draw(options_.faults.token_early_share)) {
        tok.effective_expires_at = std::min(tok.access_expires_at, now() + std::max<std::int64_t>(0, options_.faults.token_early_after));
        ++fault_counts_.tokens_early;
    }
    access_tokens_[access] = tok;
    refresh_tokens_[refresh] = refresh_record{access, now() + options_.refresh_ttl, false, 0, nullptr};
    api_reply reply;
    reply.message = "success";
    reply.data = token_data(access, refresh);
    return reply;
}

shop::api_reply shop::token_get(api_context& ctx) {
    const auto& q = ctx.query;
    if (auto refused = check_app_credentials(ctx, "authorized_code")) return *refused;
    auto code = query_value(q, "auth_code");
    auto it = code ? auth_codes_.find(*code) : auth_codes_.end();
    if (it == auth_codes_.end() || it->second.used)
        return fail(400, auth_record_not_found, "can not find related auth record");
    if (it->second.expires_at <= now()) return fail(400, auth_record_not_found, "auth code has expired");
    it->second.used = true;

    return issue_tokens();
}

// Seconds after a refresh during which the same refresh token may be sent again.
constexpr std::int64_t refresh_reuse_window = 60;

shop::api_reply shop::token_refresh(api_context& ctx) {
    const auto& q = ctx.query;
    if (auto refused = check_app_credentials(ctx, "refresh_token")) return *refused;
    auto given = query_value(q, "refresh_token");
    auto it = given ? refresh_tokens_.find(*given) : refresh_tokens_.end();
    if (it == refresh_tokens_.end()) return fail(400, auth_record_not_found, "can not find related auth record");
    if (it->second.used) {
        // A retry of a refresh whose answer was lost in transit (a timeout)
        // gets the same new pair within a short reuse window, as OAuth
        // servers allow; after it, the spent token is unknown.
        if (now() - it->second.used_at <= refresh_reuse_window && it->second.reissued.is_object()) {
            api_reply again;
            again.data = it->second.reissued;
            return again;
        }
        return fail(400, auth_record_not_found, "can not find related auth record");
    }
    if (it->second.expires_at <= now()) return fail(400, refresh_token_expired, "rt has expired");

    // Rotation: the old pair stops working (the brief; TikTok returns a new pair).
    it->second.used = true;
    it->second.used_at = now();
    // The old access token keeps working for the same window, so calls in
    // flight while the answer travels are not refused; then it is gone.
    if (auto old = access_tokens_.find(it->second.access_token); old != access_tokens_.end())
        old->second.effective_expires_at = std::min(old->second.effective_expires_at, now() + refresh_reuse_window);
    api_reply fresh = issue_tokens();
    // issue_tokens() may have grown the map: look the spent token up again.
    if (auto spent = refresh_tokens_.find(*given); spent != refresh_tokens_.end()) spent->second.reissued = fresh.data;
    return fresh;
}

shop::api_reply shop::oauth_authorize(api_context& ctx) {
    const auto& q = ctx.query;
    if (query_value(q, "app_key").value_or("") != options_.app_key)
        return fail(400, bad_request, "Invalid app_key");
    const std::string state = query_value(q, "state").value_or("");
    const std::string code = issue_auth_code();
    api_reply reply;
    reply.data = {{"code", code}, {"state", state}};
    if (auto redirect = query_value(q, "redirect_uri"); redirect && !redirect->empty()) {
        reply.http_status = 302;
        reply.location = *redirect + (redirect->find('?') == std::string::npos ? "?" : "&") +
                         "code=" + tikapi::percent_encode(code) + "&state=" + tikapi::percent_encode(state);
    }
    return reply;
}

// --- signed API (§6) --------------------------------------------------------------

shop::api_reply shop::get_shops(api_context&) {
    api_reply reply;
    reply.data = {{"shops", json::array({{{"id", options_.shop_id},
                                          {"name", options_.shop_name},
                                          {"region", "JP"},
                                          {"seller_type", "LOCAL"},
                                          {"cipher", options_.shop_cipher},
                                          {"code", options_.shop_code}}})}};
    return reply;
}

shop::api_reply shop::get_orders(api_context& ctx) {
    auto ids_text = query_value(ctx.query, "ids");
    if (!ids_text || ids_text->empty()) return fail(400, bad_request, "ids is required");
    std::vector<std::string> ids;
    std::size_t start = 0;
    for (;;) {
        auto comma = ids_text->find(',', start);
        ids.push_back(ids_text->substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (ids.size() > 50) return fail(400, bad_request, "ids: at most 50 order ids per request");
    json orders = json::array();
    for (const auto& id : ids) {
        auto it = order_index_.find(id);
        if (it == order_index_.end())
            return fail(404, order_not_found, "The order or package does not belong to the current seller");
        orders.push_back(order_json(orders_[it->second]));
    }
    api_reply reply;
    reply.data = {{"orders", std::move(orders)}};
    return reply;
}

shop::api_reply shop::search_orders(api_context& ctx) {
    std::string error;
    auto p = read_page(ctx.query, 100, error);
    if (!p) return fail(400, bad_request, error);
    const std::string sort_field = query_value(ctx.query, "sort_field").value_or("create_time");
    const std::string sort_order = query_value(ctx.query, "sort_order").value_or("DESC");
    if (sort_field != "create_time" && sort_field != "update_time")
        return fail(400, bad_request, "sort_field must be create_time or update_time");
    if (sort_order != "ASC" && sort_order != "DESC") return fail(400, bad_request, "sort_order must be ASC or DESC");
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");

    auto int_filter = [&](const char* name) -> std::optional<std::int64_t> {
        auto it = body->find(name);
        if (it == body->end() || !it->is_number_integer()) return std::nullopt;
        return it->get<std::int64_t>();
    };
    auto string_filter = [&](const char* name) -> std::optional<std::string> {
        auto it = body->find(name);
        if (it == body->end() || !it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    const auto status = string_filter("order_status");
    const auto buyer = string_filter("buyer_user_id");
    const auto create_ge = int_filter("create_time_ge"), create_lt = int_filter("create_time_lt");
    const auto update_ge = int_filter("update_time_ge"), update_lt = int_filter("update_time_lt");

    std::vector<const order*> hits;
    for (const auto& o : orders_) {
        if (status && o.status != *status) continue;
        if (buyer && o.user_id != *buyer) continue;
        if (create_ge && o.create_time < *create_ge) continue;
        if (create_lt && o.create_time >= *create_lt) continue;
        if (update_ge && o.update_time < *update_ge) continue;
        if (update_lt && o.update_time >= *update_lt) continue;
        hits.push_back(&o);
    }
    const bool by_update = sort_field == "update_time";
    const bool ascending = sort_order == "ASC";
    std::stable_sort(hits.begin(), hits.end(), [&](const order* a, const order* b) {
        auto ka = by_update ? a->update_time : a->create_time;
        auto kb = by_update ? b->update_time : b->create_time;
        return ascending ? ka < kb : ka > kb;
    });
    json orders = json::array();
    for (std::size_t i = p->offset; i < hits.size() && i < p->offset + p->size; ++i) orders.push_back(order_json(*hits[i]));
    api_reply reply;
    reply.data = {{"orders", std::move(orders)},
                  {"total_count", hits.size()},
                  {"next_page_token", next_token(*p, hits.size())}};
    return reply;
}

shop::api_reply shop::create_conversation(api_context& ctx) {
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    auto it = body->find("buyer_user_id");
    if (it == body->end() || !it->is_string() || it->get<std::string>().empty())
        return fail(400, bad_request, "buyer_user_id is required");
    const std::string buyer = it->get<std::string>();
    if (!known_buyer(buyer))
        return fail(200, cannot_start_conversation,
                             "The buyer did not meet the criteria for initiating conversations");
    bool created = false;
    conversation& c = open_conversation(buyer, created);
    c.closed = false;   // §6: "If a conversation already exists, it is reopened"
    c.opened_at = now();
    api_reply reply;
    reply.data = {{"conversation_id", c.id}};
    return reply;
}

shop::api_reply shop::list_conversations(api_context& ctx) {
    std::string error;
    auto p = read_page(ctx.query, 20, error);
    if (!p) return fail(400, bad_request, error);
    std::vector<const conversation*> list;
    for (const auto& c : conversations_) list.push_back(&c);
    auto latest = [](const conversation* c) { return c->messages.empty() ? c->create_time : c->messages.back().create_time; };
    std::stable_sort(list.begin(), list.end(), [&](auto* a, auto* b) { return latest(a) > latest(b); });
    json out = json::array();
    for (std::size_t i = p->offset; i < list.size() && i < p->offset + p->size; ++i) {
        const conversation& c = *list[i];
        json item = {{"id", c.id},
                     {"participant_count", 2},
                     {"can_send_message", can_send_message(c)},
                     {"unread_count", unread_count(c)},
                     {"create_time", c.create_time},
                     {"participants",
                      json::array({{{"im_user_id", c.buyer_im_user_id}, {"user_id", c.buyer_user_id}, {"role", "BUYER"},
                                    {"nickname", "buyer"}, {"buyer_platform", "TIKTOK_SHOP"}},
                                   {{"im_user_id", shop_im_user_id_}, {"role", "SHOP"}, {"nickname", options_.shop_name}}})}};
        if (!c.messages.empty()) item["latest_message"] = message_json(c.messages.back());
        out.push_back(std::move(item));
    }
    api_reply reply;
    reply.data = {{"conversations", std::move(out)}, {"next_page_token", next_token(*p, list.size())}};
    return reply;
}

shop::api_reply shop::send_message(api_context& ctx, const std::string& conversation_id) {
    conversation* c = find_conversation(conversation_id);
    if (!c) return fail(404, record_not_found, "Record not found");
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    auto type = body->find("type");
    if (type == body->end() || !type->is_string()) return fail(400, bad_request, "type is required");
    if (*type != "TEXT") return fail(400, bad_request, "the sandbox simulates TEXT messages only");
    auto content = body->find("content");
    if (content == body->end() || !content->is_string())
        return fail(400, bad_request, "content must be a JSON string, e.g. \"{\\\"content\\\":\\\"hi\\\"}\"");
    json inner = json::parse(content->get<std::string>(), nullptr, false);
    if (inner.is_discarded() || !inner.is_object() || !inner.contains("content") || !inner["content"].is_string())
        return fail(400, bad_request, "content must be a JSON string holding {\"content\": \"text\"}");
    const std::string text = inner["content"].get<std::string>();
    if (text.empty()) return fail(400, bad_request, "TEXT content must not be empty");
    if (detail::utf8_length(text) > 2000)
        return fail(400, bad_request, "TEXT content must be at most 2000 characters");
    if (!can_send_message(*c))
        return fail(200, conversation_rules, "Unable to send messages due to conversation rules");
    const message& m = add_message(*c, "SHOP", content->get<std::string>());
    api_reply reply;
    reply.data = {{"message_id", m.id}};
    return reply;
}

shop::api_reply shop::get_messages(api_context& ctx, const std::string& conversation_id) {
    conversation* c = find_conversation(conversation_id);
    if (!c) return fail(404, record_not_found, "Record not found");
    std::string error;
    auto p = read_page(ctx.query, 10, error);
    if (!p) return fail(400, bad_request, error);
    json out = json::array();
    const std::size_t total = c->messages.size();
    for (std::size_t i = p->offset; i < total && i < p->offset + p->size; ++i)
        out.push_back(message_json(c->messages[total - 1 - i]));   // newest first
    api_reply reply;
    reply.data = {{"messages", std::move(out)},
                  {"next_page_token", next_token(*p, total)},
                  {"unsupported_msg_tips", ""}};
    return reply;
}

shop::api_reply shop::mark_read(api_context&, const std::string& conversation_id) {
    conversation* c = find_conversation(conversation_id);
    if (!c) return fail(404, record_not_found, "Record not found");
    c->read_index = message_index_;
    return api_reply{};
}

// --- Event API (§5) ----------------------------------------------------------------

shop::api_reply shop::get_webhooks(api_context&) {
    json list = json::array();
    for (const auto& [event_type, sub] : subscriptions_)
        list.push_back({{"event_type", event_type},
                        {"address", sub.address},
                        {"create_time", sub.create_time},
                        {"update_time", sub.update_time}});
    api_reply reply;
    reply.data = {{"webhooks", std::move(list)}, {"total_count", subscriptions_.size()}};
    return reply;
}

shop::api_reply shop::put_webhook(api_context& ctx) {
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    const auto event_type = detail::string_field(*body, "event_type").value_or("");
    const auto address = detail::string_field(*body, "address").value_or("");
    if (!is_event_type(event_type)) return fail(400, bad_request, "event_type is invalid");
    if (address.empty() || address.size() > 255) return fail(400, bad_request, "address is required, at most 255 characters");
    auto parsed = tikapi::url::parse(address);
    if (!parsed) return fail(400, bad_request, "address must be an http(s) URL");
    const auto t = now();
    auto [it, inserted] = subscriptions_.try_emplace(event_type);
    if (inserted) it->second.create_time = t;
    it->second.address = address;
    it->second.update_time = t;
    // The sandbox delivers to loopback only: a loopback address becomes the
    // delivery target; any other address is stored and never called.
    if (detail::is_loopback_host(parsed->host)) set_webhook_url(address);
    return api_reply{};
}

shop::api_reply shop::delete_webhook(api_context& ctx) {
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    const auto event_type = detail::string_field(*body, "event_type").value_or("");
    if (!is_event_type(event_type)) return fail(400, bad_request, "event_type is invalid");
    subscriptions_.erase(event_type);
    return api_reply{};
}

}  // namespace orderflow::sandbox
