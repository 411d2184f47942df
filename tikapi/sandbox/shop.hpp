// The simulated TikTok Shop: all of its state and every request handler.
//
// A `shop` holds one seller's shop in memory (orders with the 202309 state
// machine, buyer conversations and messages, OAuth codes and tokens), answers
// the Open API paths with the same signing checks, envelope and error codes as
// the real service (docs/tiktok-shop-api.md §2-§7), answers the unsigned
// `/control/` API that tests and the demo use to play the buyer and the
// platform, records every Open API call it receives, and queues a signed
// webhook for every change. It does no I/O: `handle()` is a plain function
// from request to response, so tests drive it without sockets, and
// `sandbox::server` (server.hpp) puts it behind a socket and delivers the
// queued webhooks.
//
// Single-threaded by design (one io_context thread, DESIGN.md "Runtime
// model"): no member is safe to call from two threads at once.
#pragma once

#include "common/secret.hpp"
#include "tikapi/http.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::sandbox {

struct shop_options {
    std::string app_key;
    orderflow::secret app_secret;
    std::string shop_cipher;
    std::string shop_id = "7494049642642441621";
    std::string shop_name = "orderflow sandbox shop";
    std::string shop_code = "JPLCSANDBOX";
    std::string webhook_url;                  // "" until set: webhooks wait until a target is set
    double retry_scale = 1.0;                 // multiplies TikTok's retry schedule (2 min, 30 min, 3 h, 12 h)
    std::int64_t access_ttl = 604800;         // seconds; TikTok's default is 7 days (§3)
    std::int64_t refresh_ttl = 31536000;      // seconds; UNCONFIRMED upstream, commonly reported as 365 days
    std::int64_t auth_code_ttl = 1800;        // the auth code expires in 30 minutes (§3)
    std::int64_t rate_limit_qps = 50;         // per API path and second (§4); 0 disables throttling
    std::uint64_t seed = 0;                   // 0: a random seed; otherwise ids and tokens are reproducible
    std::function<std::int64_t()> clock;      // unix seconds; empty: the system clock
};

// The 202309 order statuses (§7).
bool is_order_status(std::string_view status);
// Whether the platform can move an order from `from` to `to` (§7 "Transitions").
bool is_legal_transition(std::string_view from, std::string_view to);

struct line_item {
    std::string id, sku_id, product_id, product_name, sku_name, seller_sku, sale_price, package_id;
};

struct order {
    std::string id, status, user_id, buyer_name, buyer_message, seller_note, package_id, cancel_reason;
    std::int64_t create_time = 0, update_time = 0, paid_time = 0, rts_time = 0, collection_time = 0,
                 delivery_time = 0, cancel_time = 0;
    std::vector<line_item> line_items;   // one per unit: there is no quantity (§6)
};

struct message {
    std::string id, conversation_id, type, content;   // content is the JSON string, e.g. {"content":"hi"}
    std::string role, im_user_id;                      // BUYER or SHOP
    std::int64_t create_time = 0;
    std::int64_t index = 0;                            // grows with every message in the shop
};

struct conversation {
    std::string id, buyer_user_id, buyer_im_user_id;
    std::int64_t create_time = 0;
    std::vector<message> messages;   // oldest first
};

// One Open API call as received. Credentials (sign, app_secret, tokens,
// auth codes) are removed from the query before it is stored.
struct call_record {
    std::uint64_t seq = 0;
    std::int64_t time = 0;
    std::string method, path;
    std::map<std::string, std::string> query;
    std::string body;
    int http_status = 0;
    std::int64_t code = 0;
};

// One webhook notification and its delivery state.
struct delivery {
    using time_point = std::chrono::steady_clock::time_point;
    std::uint64_t seq = 0;
    std::string notification_id;
    int type = 0;
    std::string order_id;          // "" unless the topic is about an order
    std::string body;              // the exact bytes sent and signed
    std::string signature;         // the Authorization header value
    int attempts = 0;
    int last_status = 0;           // 0: no HTTP response (not tried yet, or a connection failure)
    std::string last_error;
    bool delivered = false;
    bool gave_up = false;          // the 4th retry failed too (§5)
    bool redelivery = false;       // queued by /control/webhooks/redeliver
    time_point due{};              // next attempt, on the steady clock
};

// TikTok's retry delays after the 1st..4th failed attempt (§5), unscaled.
inline constexpr std::chrono::seconds webhook_retry_schedule[4] = {
    std::chrono::minutes(2), std::chrono::minutes(30), std::chrono::hours(3), std::chrono::hours(12)};

class shop {
public:
    explicit shop(shop_options options);
    shop(const shop&) = delete;
    shop& operator=(const shop&) = delete;

    // Answers one request: the Open API and auth paths (always the
    // {code,message,request_id,data} envelope, recorded in the call log) or
    // the /control/ API (plain JSON, {"error": ...} on failure). Never throws
    // on malformed input.
    tikapi::http_response handle(const tikapi::http_request& request);

    // --- programmatic access (tests, the demo) -------------------------------
    std::int64_t now() const;
    const std::string& app_key() const { return options_.app_key; }
    const std::string& shop_id() const { return options_.shop_id; }
    const std::string& shop_cipher() const { return options_.shop_cipher; }

    std::optional<order> find_order(std::string_view id) const;
    std::vector<order> orders() const;
    const std::vector<conversation>& conversations() const { return conversations_; }
    const std::vector<call_record>& calls() const { return calls_; }
    const std::vector<delivery>& deliveries() const { return deliveries_; }

    // A fresh single-use authorization code, as if the seller clicked "authorize".
    std::string issue_auth_code();
    // Expires every live access token now; returns how many.
    int expire_access_tokens();

    // The 202309 "Order object" JSON (§6) of an order.
    nlohmann::json order_json(const order& o) const;

    // --- webhook delivery (used by sandbox::server) -----------------------------
    // Where webhooks go; nullopt while no target is set.
    std::optional<tikapi::url> webhook_target() const;
    // Sets the target; returns an error text unless `text` is an http(s) URL
    // on a loopback host (the sandbox sends nothing outside the machine).
    std::optional<std::string> set_webhook_url(std::string_view text);
    // Called whenever a delivery becomes due now (new notification, new target).
    void on_webhook_queued(std::function<void()> callback) { on_queued_ = std::move(callback); }
    // The pending delivery due at `now` that comes first (earliest due, then
    // oldest); nullopt if none, with `next_due` set to the earliest future due
    // time (or time_point::max()). Returns the delivery's seq.
    std::optional<std::uint64_t> next_delivery(delivery::time_point now, delivery::time_point& next_due) const;
    const delivery* find_delivery(std::uint64_t seq) const;
    // Records one attempt: `status` is the HTTP status (0 for no response).
    // 200 marks it delivered; otherwise it is retried on TikTok's schedule
    // times retry_scale, and given up after the 4th retry.
    void record_attempt(std::uint64_t seq, int status, std::string error, delivery::time_point now);

private:
    struct api_reply {
        int http_status = 200;
        std::int64_t code = 0;
        std::string message = "Success";
        nlohmann::json data = nlohmann::json::object();
        std::string location;   // a 302 redirect when set (the legacy authorize link)
    };
    struct api_context {
        const tikapi::http_request& request;
        std::string path;
        std::map<std::string, std::string> query;
        std::vector<std::string> segments;   // path split on '/'
    };
    struct token {
        std::string refresh_token;
        std::int64_t access_expires_at = 0;
        bool revoked = false;
    };
    struct refresh_record {
        std::string access_token;
        std::int64_t expires_at = 0;
        bool used = false;
    };
    struct auth_code {
        std::int64_t expires_at = 0;
        bool used = false;
    };
    struct fault {
        std::string path_prefix;
        int http_status = 500;
        std::int64_t code = 36009003;
        std::string message;
        int remaining = 1;
    };

    // open_api.cpp
    static api_reply fail(int http_status, std::int64_t code, std::string message);
    tikapi::http_response open_api(const tikapi::http_request& request);
    api_reply dispatch(api_context& ctx);
    std::optional<api_reply> check_app_credentials(api_context& ctx, std::string_view grant_type);
    api_reply issue_tokens();
    api_reply token_get(api_context& ctx);
    api_reply token_refresh(api_context& ctx);
    api_reply oauth_authorize(api_context& ctx);
    std::optional<api_reply> check_signed(api_context& ctx, bool shop_scoped);
    api_reply get_shops(api_context& ctx);
    api_reply get_orders(api_context& ctx);
    api_reply search_orders(api_context& ctx);
    api_reply create_conversation(api_context& ctx);
    api_reply list_conversations(api_context& ctx);
    api_reply send_message(api_context& ctx, const std::string& conversation_id);
    api_reply get_messages(api_context& ctx, const std::string& conversation_id);
    nlohmann::json token_data(const std::string& access, const std::string& refresh);
    std::string request_id();

    // control_api.cpp
    tikapi::http_response control(const tikapi::http_request& request);

    // shop.cpp: state changes
    std::string fresh_id(std::string_view prefix, int digits);
    std::string random_token(int length);
    order& add_order(order o);
    std::optional<std::string> change_status(order& o, const std::string& status);
    conversation& open_conversation(const std::string& buyer_user_id, bool& created);
    const message& add_message(conversation& c, const std::string& role, std::string content_json);
    conversation* find_conversation(std::string_view id);
    bool known_buyer(std::string_view user_id) const;
    void emit_webhook(int type, nlohmann::json data, std::string order_id);
    nlohmann::json message_json(const message& m) const;
    nlohmann::json delivery_json(const delivery& d) const;

    shop_options options_;
    std::mt19937_64 rng_;
    std::set<std::string> used_ids_;
    std::vector<order> orders_;                        // creation order
    std::map<std::string, std::size_t, std::less<>> order_index_;
    std::map<std::string, std::pair<std::string, std::string>> skus_;   // seller_sku -> (product_id, sku_id)
    std::vector<conversation> conversations_;
    std::map<std::string, std::string> buyer_im_ids_;  // user_id -> im_user_id
    std::string shop_im_user_id_;
    std::int64_t message_index_ = 0;
    std::map<std::string, auth_code, std::less<>> auth_codes_;
    std::map<std::string, token, std::less<>> access_tokens_;
    std::map<std::string, refresh_record, std::less<>> refresh_tokens_;
    std::vector<call_record> calls_;
    std::vector<delivery> deliveries_;
    std::optional<tikapi::url> webhook_target_;
    std::function<void()> on_queued_;
    std::vector<fault> faults_;
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> rate_windows_;   // path -> (second, count)
};

}  // namespace orderflow::sandbox
