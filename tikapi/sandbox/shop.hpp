// The simulated TikTok Shop: all of its state and every request handler.
//
// A `shop` holds one seller's shop in memory (orders with their package and
// the 202309 state machine, buyer conversations and messages, OAuth codes and
// tokens, webhook subscriptions), answers the Open API paths with the same
// signing checks, envelope and error codes as the real service
// (docs/tiktok-shop-api.md §2-§7), injects faults on request (random 5xx,
// 429, dropped and slow answers; lost, duplicated and reordered webhooks;
// tokens expiring early), runs time-driven changes (ON_HOLD window,
// auto_advance, load mode) in advance(), answers the unsigned
// `/control/` API that tests and the demo use to play the buyer and the
// platform, records every Open API call it receives, and queues a signed
// webhook for every change. It does no I/O: `handle()` is a plain function
// from request to response, so tests drive it without sockets, and
// `sandbox::server` (server.hpp) puts it behind a socket and delivers the
// queued webhooks.
//
// Single-threaded by design (one io_context thread, docs/architecture.md,
// "Threading model"): no member is safe to call from two threads at once.
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

// Random faults (docs/tiktok-shop-api.md §4, §5): each share is the
// probability, from 0 to 1, that one Open API call (never a /control/ path) or
// one webhook meets that fault. Decisions come from their own generator seeded
// by shop_options::seed, so one seed gives the same faults for the same
// sequence of calls.
struct fault_options {
    double error_share = 0;         // answered 36009003 / HTTP 500 (envelope) or a plain-text HTTP 503, half each; not processed
    double throttle_share = 0;      // answered 36009002 / HTTP 429; not processed
    double drop_share = 0;          // connection closed without an answer; not processed
    double drop_after_share = 0;    // processed, then the connection is closed without an answer
    double slow_share = 0;          // processed, then answered after slow_ms (the client times out first)
    double garble_after_share = 0;  // processed, then answered HTTP 200 with a body that is not a TikTok envelope
    std::string only_path;          // "": every Open API call may meet a random fault; else only calls whose path contains this
    std::int64_t slow_ms = 15000;
    double webhook_lose_share = 0;       // never delivered; listed in /control/webhooks with "lost": true
    double webhook_duplicate_share = 0;  // delivered twice with the same tts_notification_id and bytes
    std::int64_t webhook_reorder_ms = 0; // each notification held back a random 0..N ms, so later ones may overtake it
    double token_early_share = 0;   // a new access token stops working (105002) token_early_after s after issue,
    std::int64_t token_early_after = 60;   // long before its stated access_token_expire_in

    // The calls' shares together: one draw picks at most one, so at most 1.
    double call_share_total() const {
        return error_share + throttle_share + drop_share + drop_after_share + slow_share + garble_after_share;
    }
};

// Load mode: a stream of paid orders for the demo and benchmarks.
struct load_options {
    std::int64_t orders = 0;        // how many
    double rate = 10;               // orders per second
    double custom_share = 0.2;      // share with a custom (engraved, "ENG-...") SKU
    double note_share = 0.3;        // share with a buyer note (buyer_message)
    double message_share = 0.3;     // share whose buyer writes to the shop a little later
    std::uint64_t seed = 0;         // 0: derived from the shop's seed
};

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
    std::int64_t rate_limit_qps = 50;         // per API, app and shop, in a sliding 1 s window (§4); 0 disables
    std::uint64_t seed = 0;                   // 0: a random seed; otherwise ids and tokens are reproducible
    std::function<std::int64_t()> clock;      // unix seconds; empty: the system clock
    std::function<std::int64_t()> clock_ms;   // unix milliseconds; empty: clock() * 1000 when clock is set,
                                              // else the system clock
    std::int64_t hold_seconds = 3600;         // the ON_HOLD remorse window after payment (§7)
    std::int64_t auto_in_transit_after = -1;  // seconds after shipping until IN_TRANSIT; -1: only via control
    std::int64_t auto_delivered_after = -1;   // seconds after shipping until DELIVERED; -1: only via control
    std::string webhook_cancel_status = "CANCEL";   // type 1 order_status of a cancelled order (§5), or "CANCELLED"
    bool require_subscription = false;        // deliver only event types subscribed through /event/202309/webhooks
    // Deadlines and the customer-service quota (docs/tiktok-shop-api.md §4, §6).
    std::int64_t handling_seconds = 2 * 86400;   // rts_sla_time: this long after payment, or after the ON_HOLD window
    std::int64_t cs_daily_quota = 10000;         // customer-service calls per UTC day; past it 45101004
    // A conversation closes after this long without a buyer message (§6:
    // "after 6 h without a buyer reply"), counted from its last buyer
    // message or from when it was opened or reopened, whichever is later;
    // sending then gets 45109001 until Create Conversation reopens it. 0: never.
    std::int64_t conversation_close_after = 6 * 3600;
    // false: as for local sellers in the US and UK (§6), an order names no
    // package (packages[], line items' package_id and package_status) until
    // it shipped; Mark Package As Shipped ships it by the order's id.
    bool packages_before_shipping = true;
    fault_options faults;
};

// The 202309 order statuses (§7).
bool is_order_status(std::string_view status);
// Whether the platform can move an order from `from` to `to` (§7 "Transitions").
bool is_legal_transition(std::string_view from, std::string_view to);

// The webhook event_type strings of the Event API (§5), and the numeric
// webhook type each stands for ("" / 0 when there is none).
bool is_event_type(std::string_view event_type);
std::string_view event_type_of(int webhook_type);

struct line_item {
    std::string id, sku_id, product_id, product_name, sku_name, seller_sku, sale_price, package_id;
};

struct address {
    std::string prefecture = "東京都", city = "渋谷区", line1 = "神南1-2-3", detail = "サンドボックスビル101",
                postal_code = "150-0041";
    std::string full() const { return prefecture + city + line1 + " " + detail; }
};

struct tracking_event {
    std::string description;
    std::int64_t time_ms = 0;
};

// One order. It ships in one package by default; a control call splits it
// into several (each line item names its package) or combines it with
// another order of the same buyer into one package (struct package). Its
// packages exist once the order is paid.
struct order {
    std::string id, status, user_id, buyer_name, buyer_message, seller_note, cancel_reason;
    std::vector<std::string> package_ids;   // the packages its line items ship in, first created first
    std::string cancellation_initiator;   // BUYER, SELLER or SYSTEM once cancelled
    std::int64_t create_time = 0, update_time = 0, paid_time = 0, rts_time = 0, collection_time = 0,
                 delivery_time = 0, cancel_time = 0;
    std::vector<line_item> line_items;   // one per unit: there is no quantity (§6)
    address recipient;
    std::string delivery_option_id;
    std::int64_t hold_until = 0;          // ON_HOLD ends at this unix second
    bool buyer_request_cancel = false;    // a cancellation request is pending
    // What the order shows of its shipment: the last package shipped.
    std::string tracking_number, shipping_provider_id, shipping_provider_name;
    std::vector<tracking_event> tracking; // oldest first
    std::string cancel_id, return_id;     // the order's latest cancellation / return (after_sales.cpp)
    // Deadlines set through /control/orders/{id}/deadlines, by name
    // ("rts_sla_time", ...): they replace the computed ones (order_deadlines).
    std::map<std::string, std::int64_t> deadline_overrides;

    // Every package shipped (rts_time is set on reaching AWAITING_COLLECTION).
    bool shipped() const { return rts_time != 0; }
};

// --- after-sales (after_sales.cpp): cancellation requests and returns --------
// One cancellation of an order, as Search Cancellations returns it and type
// 11 reports it (docs/tiktok-shop-api.md, "Cancellations and returns").
struct cancellation {
    std::string id, order_id;
    std::string status;   // CANCELLATION_REQUEST_PENDING, _SUCCESS, _CANCELLED, _COMPLETE
    std::string role;     // who started it: BUYER, SELLER, SYSTEM
    std::string reason;
    std::int64_t create_time = 0, update_time = 0;
};

// One return, refund or replacement request (type 12, Search Returns).
struct return_request {
    std::string id, order_id;
    std::string type;     // REFUND, RETURN_AND_REFUND, REPLACEMENT
    std::string status;   // RETURN_OR_REFUND_REQUEST_PENDING, AWAITING_BUYER_SHIP, ...
    std::string role;     // BUYER, SELLER, OPERATOR, SYSTEM
    std::string reason;
    std::int64_t create_time = 0, update_time = 0;
};

bool is_cancel_status(std::string_view status);
bool is_return_status(std::string_view status);
// A cancellation or return in one of these statuses is over; the next
// request for the order is a new one with a new id.
bool is_final_cancel_status(std::string_view status);
bool is_final_return_status(std::string_view status);
// The status a step of the return story leads to from `from` for a return
// of `type` ("" when the step is not possible there). Steps: approve,
// buyer_ship, receive, refund, reject, cancel (after_sales.cpp has the table).
std::string_view return_step_target(std::string_view type, std::string_view from, std::string_view step);


// One package (§6 "Package detail"): some line items of one order (the
// default: all of them; after a split: a part), or all line items of
// several orders of one buyer (combined). Its status follows its first
// order's (package_status()).
struct package {
    std::string id;
    std::vector<std::string> order_ids;   // several when combined
    std::string tag = "DEFAULT";          // split_and_combine_tag: DEFAULT, SPLIT or COMBINE
    std::int64_t create_time = 0, update_time = 0;   // create_time 0: not yet (its order is unpaid)
    std::string tracking_number, shipping_provider_id, shipping_provider_name, handover_method;
    std::int64_t rts_time = 0;            // when the seller shipped it
    int shipping_info_updates = 0;        // successful shipping_info/update calls
    bool removed = false;                 // replaced by a split or combine: unknown from then on
};

// Of a package whose first order is `o`: PROCESSING before shipping,
// FULFILLING once shipped (or the order is collected), COMPLETED once
// delivered, CANCELLED; TO_FULFILL while unpaid (line items only).
std::string_view package_status(const order& o, const package& p);

// The five deadlines of an order (§6), by field name, unix seconds: none
// before payment. rts_sla_time is the end of the ON_HOLD window (or the
// payment) plus handling_seconds; tts_sla_time and shipping_due_time a day
// later; collection_due_time two days and delivery_due_time five days after
// rts_sla_time. deadline_overrides replace them one by one (0 removes one).
// deadlines.cpp.
std::map<std::string, std::int64_t> order_deadlines(const order& o, std::int64_t handling_seconds);
// The names order_deadlines uses, in §6's order.
const std::vector<std::string>& deadline_names();

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
    bool closed = false;             // closed by the platform (control API): sending gets 45109001
    std::int64_t opened_at = 0;      // created or last reopened (Create Conversation)
    std::int64_t read_index = 0;     // buyer messages with a larger index are unread
};

// One Open API call as received. Credentials (sign, app_secret, tokens,
// auth codes) are removed from the query before it is stored.
struct call_record {
    std::uint64_t seq = 0;
    std::int64_t time = 0;
    std::string method, path;
    std::string api;                 // the route template, e.g. "POST /fulfillment/202309/packages/{id}/ship"
    std::map<std::string, std::string> query;
    std::string body;
    int http_status = 0;             // 0: the connection was dropped before any answer
    std::int64_t code = 0;
    bool has_code = true;            // false for a plain-text 503 or a dropped connection
    std::string fault;               // "" or error_500, error_503, throttle, drop, drop_after, slow, injected
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
    bool lost = false;             // fault injection: never sent
    bool duplicate = false;        // fault injection: the second copy of the delivery before it
    bool unsubscribed = false;     // require_subscription and nobody subscribed to its event type: never sent
    time_point due{};              // next attempt, on the steady clock
};

// TikTok's retry delays after the 1st..4th failed attempt (§5), unscaled.
inline constexpr std::chrono::seconds webhook_retry_schedule[4] = {
    std::chrono::minutes(2), std::chrono::minutes(30), std::chrono::hours(3), std::chrono::hours(12)};

// What the server needs to answer one request: the response, and how long
// to hold it back first (the "slow" fault). A response with `drop` set is
// never written: the server closes the connection instead.
struct served {
    tikapi::http_response response;
    std::chrono::milliseconds delay{0};
};

class shop {
public:
    explicit shop(shop_options options);
    shop(const shop&) = delete;
    shop& operator=(const shop&) = delete;

    // Answers one request: the Open API and auth paths (always the
    // {code,message,request_id,data} envelope, recorded in the call log) or
    // the /control/ API (plain JSON, {"error": ...} on failure). Runs the
    // timed changes that are due first (advance()). Never throws on
    // malformed input. serve() also says how long to delay the answer.
    served serve(const tikapi::http_request& request);
    tikapi::http_response handle(const tikapi::http_request& request) { return serve(request).response; }

    // --- time ----------------------------------------------------------------
    std::int64_t now() const;
    std::int64_t now_ms() const;
    // Makes the changes that time brings and that are due now: the end of
    // the ON_HOLD window, auto_advance moves, load-mode orders and their
    // buyers' messages. Called by serve() and by the server's timer.
    void advance();
    // When advance() next has something to do (unix ms); nullopt if never.
    std::optional<std::int64_t> next_timer_ms() const;
    // Called when next_timer_ms() may have moved earlier.
    void on_timers_changed(std::function<void()> callback) { on_timers_changed_ = std::move(callback); }

    // --- programmatic access (tests, the demo) -------------------------------
    const std::string& app_key() const { return options_.app_key; }
    const std::string& shop_id() const { return options_.shop_id; }
    const std::string& shop_cipher() const { return options_.shop_cipher; }
    const shop_options& options() const { return options_; }

    std::optional<order> find_order(std::string_view id) const;
    std::vector<order> orders() const;
    // The package with this id, while it exists (paid, not replaced).
    std::optional<package> find_package_copy(std::string_view id) const;

    // Splits an order that has not shipped into one package per group of
    // line item ids (together exactly the order's line items, at least
    // two groups); no groups: one package per line item. Emits a type 4
    // webhook with sc_type SPLIT listing the new packages. Returns an
    // error text, or nullopt on success.
    std::optional<std::string> split_order(const std::string& order_id, std::vector<std::vector<std::string>> groups);
    // Combines unshipped orders of one buyer, each in one package, into one
    // new package (sc_type COMBINE). Returns an error text, or nullopt.
    std::optional<std::string> combine_orders(const std::vector<std::string>& order_ids);
    const std::vector<conversation>& conversations() const { return conversations_; }
    const std::vector<call_record>& calls() const { return calls_; }
    const std::vector<delivery>& deliveries() const { return deliveries_; }

    // After-sales records, oldest first (after_sales.cpp).
    const std::vector<cancellation>& cancellations() const { return cancellations_; }
    const std::vector<return_request>& returns() const { return returns_; }

    // A fresh single-use authorization code, as if the seller clicked "authorize".
    std::string issue_auth_code();
    // Expires every live access token now; returns how many.
    int expire_access_tokens();

    // Random faults: replaces the settings; a nonzero seed restarts their generator.
    void set_faults(const fault_options& faults, std::uint64_t seed = 0);
    // Starts load mode (replacing a running one); see load_options.
    void start_load(const load_options& load);

    // Customer-service calls accepted today (UTC) and the day, for /control/cs_quota.
    std::int64_t cs_calls_today() const { return now() / 86400 == cs_day_ ? cs_calls_ : 0; }
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
    // time (or time_point::max()). Returns the delivery's seq. Lost and
    // unsubscribed notifications are never returned.
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
        std::string captured;                // the {id} of the route, if it has one
    };
    struct token {
        std::string refresh_token;
        std::int64_t access_expires_at = 0;     // as stated in access_token_expire_in
        std::int64_t effective_expires_at = 0;  // when it really stops working (earlier with token_early_share)
        bool revoked = false;
    };
    struct refresh_record {
        std::string access_token;
        std::int64_t expires_at = 0;
        bool used = false;
        std::int64_t used_at = 0;
        nlohmann::json reissued;   // what the refresh answered: repeated for a retry within the reuse window
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
    struct subscription {
        std::string address;
        std::int64_t create_time = 0, update_time = 0;
    };
    struct pending_message {
        std::int64_t due_ms = 0;
        std::string user_id, text;
    };
    struct load_state {
        load_options options;
        bool running = false;
        std::int64_t start_ms = 0;
        std::int64_t created = 0;
        std::int64_t messages_planned = 0, messages_sent = 0;
        std::mt19937_64 rng;
        std::vector<pending_message> messages;   // not yet sent
    };
    struct fault_counts {
        std::map<std::string, std::int64_t> calls;   // fault name -> calls
        std::int64_t webhooks_lost = 0, webhooks_duplicated = 0, tokens_early = 0;
    };

    // open_api.cpp
    static api_reply fail(int http_status, std::int64_t code, std::string message);
    served open_api(const tikapi::http_request& request);
    api_reply dispatch(api_context& ctx, int route_index);
    std::optional<api_reply> check_rate(api_context& ctx, int route_index);
    std::optional<api_reply> check_cs_quota(api_context& ctx);
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
    api_reply mark_read(api_context& ctx, const std::string& conversation_id);
    api_reply get_webhooks(api_context& ctx);
    api_reply put_webhook(api_context& ctx);
    api_reply delete_webhook(api_context& ctx);
    nlohmann::json token_data(const std::string& access, const std::string& refresh);
    std::string request_id();

    // fulfillment.cpp
    api_reply shipping_providers(api_context& ctx, const std::string& delivery_option_id);
    api_reply ship_package(api_context& ctx, const std::string& package_id);
    api_reply mark_shipped(api_context& ctx, const std::string& order_id);
    api_reply update_shipping_info(api_context& ctx, const std::string& id, bool by_package);
    api_reply package_detail(api_context& ctx, const std::string& package_id);
    api_reply search_packages(api_context& ctx);
    api_reply get_tracking(api_context& ctx, const std::string& order_id);
    std::optional<api_reply> ship(package& p, const std::string& tracking_number, const std::string& provider_id,
                                  const std::string& handover_method, std::int64_t already_shipped_code);
    nlohmann::json package_json(const package& p) const;
    nlohmann::json package_summary_json(const package& p) const;

    // packages.cpp: the package model, split and combine, their control paths
    package* find_package(std::string_view package_id);
    const package* find_package(std::string_view package_id) const;
    std::vector<package*> packages_of(const order& o);
    std::vector<const package*> packages_of(const order& o) const;
    order& first_order(const package& p);
    const order& first_order(const package& p) const;
    std::size_t new_package(std::string tag);   // its index in packages_; ids drawn here
    void put_in_package(std::size_t package_index, order& o, const std::vector<std::string>& item_ids);
    bool package_shipped(const package& p) const;       // shipped, or its orders all are
    std::int64_t package_shipped_at(const package& p) const;
    void emit_packages(const std::vector<const package*>& list, std::string_view sc_type, std::string_view role_type);
    std::optional<tikapi::http_response> package_control(const std::string& method, const std::vector<std::string>& seg,
                                                         const nlohmann::json& body);

    // control_api.cpp
    tikapi::http_response control(const tikapi::http_request& request);
    nlohmann::json faults_json() const;
    nlohmann::json settings_json() const;
    nlohmann::json load_json() const;
    nlohmann::json calls_summary(const std::map<std::string, std::string>& query) const;

    // shop.cpp: state changes
    std::string fresh_id(std::string_view prefix, int digits);
    std::string random_token(int length);
    order& add_order(order o);
    std::optional<std::string> change_status(order& o, const std::string& status);
    void add_tracking(order& o, std::string description);
    void emit_order_status(const order& o);
    conversation& open_conversation(const std::string& buyer_user_id, bool& created);
    const message& add_message(conversation& c, const std::string& role, std::string content_json, std::string type = "TEXT");
    conversation* find_conversation(std::string_view id);
    bool known_buyer(std::string_view user_id) const;
    bool can_send_message(const conversation& c) const;
    std::int64_t unread_count(const conversation& c) const;
    void emit_webhook(int type, nlohmann::json data, std::string order_id);
    void queue_delivery(delivery d, std::chrono::milliseconds hold_back);
    nlohmann::json message_json(const message& m) const;
    nlohmann::json delivery_json(const delivery& d) const;
    nlohmann::json address_json(const order& o) const;
    void note_timer(std::int64_t unix_second);
    bool draw(double share);   // fault generator: true with probability `share`
    std::string_view order_status_for_webhook(const order& o) const;

    // after_sales.cpp: the /control/ calls for cancellations and returns
    // (nullopt: not one of them), their state changes and the two searches.
    std::optional<tikapi::http_response> after_sales_control(const std::string& method,
                                                             const std::vector<std::string>& seg,
                                                             const nlohmann::json& body);
    tikapi::http_response cancellation_by_hand(order& o, const nlohmann::json& body);
    tikapi::http_response return_by_hand(order& o, const nlohmann::json& body);
    tikapi::http_response cancel_request(order& o, const nlohmann::json& body);
    tikapi::http_response cancellation_step(cancellation& c, const std::string& step);
    tikapi::http_response return_request_call(order& o, const nlohmann::json& body);
    tikapi::http_response return_step(return_request& r, const std::string& step);
    cancellation& cancellation_for(order& o, const std::string& role, const std::string& reason);
    return_request& return_for(order& o, const std::string& type, const std::string& role);
    void set_cancel_status(order& o, cancellation& c, const std::string& status);
    void set_return_status(order& o, return_request& r, const std::string& status);
    api_reply search_cancellations(api_context& ctx);
    api_reply search_returns(api_context& ctx);
    nlohmann::json cancellation_json(const cancellation& c) const;
    nlohmann::json return_json(const return_request& r) const;

    // load.cpp
    void advance_load();
    void create_load_order(std::int64_t due_ms);

    shop_options options_;
    std::mt19937_64 rng_;
    std::mt19937_64 fault_rng_;
    fault_counts fault_counts_;
    std::set<std::string> used_ids_;
    std::vector<order> orders_;                        // creation order
    std::map<std::string, std::size_t, std::less<>> order_index_;
    std::vector<package> packages_;                    // creation order; removed ones stay, marked
    std::map<std::string, std::size_t, std::less<>> package_index_;   // live packages only
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
    std::function<void()> on_timers_changed_;
    std::vector<fault> faults_;
    std::map<std::string, std::vector<std::int64_t>> rate_windows_;   // api+app+shop -> accepted call times (ms)
    std::int64_t cs_day_ = -1, cs_calls_ = 0;   // customer-service calls accepted in UTC day cs_day_ (days since 1970)
    std::map<std::string, subscription> subscriptions_;              // event_type -> subscription
    std::int64_t next_timer_second_ = 0;   // 0: no order has a timed change due; else the earliest such second
    load_state load_;
    bool advancing_ = false;
    std::vector<cancellation> cancellations_;   // after-sales, oldest first
    std::vector<return_request> returns_;
};

}  // namespace orderflow::sandbox
