// Typed views of the TikTok Shop API payloads the order flow needs (v202309,
// docs/tiktok-shop-api.md §3 and §6), decoded defensively: a missing optional
// field keeps its default, a field of the wrong type is a decode error that
// names the field. Nothing here throws on remote input.
#pragma once

#include "common/secret.hpp"
#include "tikapi/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::tikapi {

struct token_set {
    orderflow::secret access_token;
    orderflow::secret refresh_token;
    std::int64_t access_expires_at = 0;    // absolute unix seconds (access_token_expire_in)
    std::int64_t refresh_expires_at = 0;   // absolute unix seconds (refresh_token_expire_in)
    std::int64_t obtained_at = 0;          // unix seconds the access token was issued to us; 0 when unknown
    std::string open_id, seller_name, seller_base_region;
};

// The vault form: a JSON object with the fields above. The result holds the
// tokens, so it is a secret itself.
orderflow::secret serialize_tokens(const token_set& tokens);
// nullopt when the text is not what serialize_tokens wrote.
std::optional<token_set> parse_tokens(const orderflow::secret& json);

// The `data` object of /api/v2/token/get and /api/v2/token/refresh.
result<token_set> parse_token_data(const nlohmann::json& data);

struct line_item {
    std::string id, sku_id, product_id, product_name, sku_name, seller_sku, sale_price, currency, package_id,
        display_status;
    // TO_FULFILL, PROCESSING, FULFILLING, COMPLETED, CANCELLED. For local US and
    // UK sellers, package_id and package_status are absent before shipping (§6).
    std::string package_status, tracking_number, shipping_provider_id, shipping_provider_name;
};

struct order {
    std::string id, status, user_id, buyer_message, seller_note, shipping_type, delivery_option_id,
        delivery_option_name, tracking_number, shipping_provider, shipping_provider_id, currency, total_amount,
        recipient_name;   // recipient_address.name, or first_name + " " + last_name
    std::string warehouse_id, cancel_reason, fulfillment_type;   // fulfillment_type: e.g. FULFILLMENT_BY_SELLER
    std::string cancellation_initiator;   // BUYER, SELLER or SYSTEM once cancelled; "" otherwise
    std::int64_t create_time = 0, update_time = 0, paid_time = 0;
    std::int64_t rts_time = 0, delivery_time = 0, cancel_time = 0, shipping_due_time = 0;   // unix seconds, 0 if absent
    // TikTok's deadlines for the order (§6), unix seconds, 0 if absent.
    std::int64_t rts_sla_time = 0, tts_sla_time = 0, collection_due_time = 0, delivery_due_time = 0;
    bool is_on_hold = false;
    bool is_buyer_request_cancel = false;
    std::vector<line_item> line_items;   // one unit each: TikTok has no quantity
    std::vector<std::string> package_ids;
};

// One element of data.orders[]; `id` is required, the rest optional.
result<order> parse_order(const nlohmann::json& j);

// The `data` of a call that returns nothing ({} for Ship Package, Update
// Shop Webhook, Mark Read...).
struct nothing {};

// POST /order/202309/orders/search (§6). The time bounds and buyer_user_id go
// in the body only when set; sort_field, sort_order, page_size and page_token
// go in the query.
//
// order_status: TikTok's body field takes one status. With exactly one, it is
// sent and TikTok filters. With several, no status is sent and the client
// keeps only the orders whose status is in the list: such a page may then be
// shorter than page_size, even empty, while next_page_token is still set (page
// until the token is empty, not until a short page), and total_count is
// TikTok's count over all statuses.
struct order_search {
    std::vector<std::string> order_status;
    std::optional<std::int64_t> create_time_ge, create_time_lt, update_time_ge, update_time_lt;
    std::string buyer_user_id;
    std::string sort_field = "update_time";   // create_time or update_time
    std::string sort_order = "ASC";           // ASC or DESC
    int page_size = 50;                       // 1..100; anything else is refused without calling
    std::string page_token;                   // "" for the first page
};

struct order_page {
    std::vector<order> orders;
    std::string next_page_token;   // "" on the last page
    std::int64_t total_count = 0;
};

// The `data` of Search Orders: orders[], next_page_token, total_count.
result<order_page> parse_order_page(const nlohmann::json& data);

// A package as Get Package Detail (`package_id`, `package_status`,
// orders[].id) or Search Packages (`id`, `status`) returns it (§6).
struct package {
    std::string id, status, tracking_number, shipping_provider_id, shipping_provider_name, shipping_type,
        delivery_option_id, handover_method;
    std::vector<std::string> order_ids, order_line_item_ids;
    std::int64_t create_time = 0, update_time = 0;
};

// Accepts "package_id" (detail) and "id" (search); one of them is required.
// The status is read from "package_status" or "status".
result<package> parse_package(const nlohmann::json& j);

// POST /fulfillment/202309/packages/search: time bounds and package_status
// in the body when set; the rest in the query.
struct package_search {
    std::optional<std::int64_t> update_time_ge, update_time_lt, create_time_ge, create_time_lt;
    std::string package_status;               // "" for any
    std::string sort_field = "update_time";   // create_time, update_time or order_pay_time
    std::string sort_order = "ASC";
    int page_size = 50;                       // 1..50; anything else is refused without calling
    std::string page_token;
};

struct package_page {
    std::vector<package> packages;
    std::string next_page_token;
    std::int64_t total_count = 0;
};

result<package_page> parse_package_page(const nlohmann::json& data);

// One of data.shipping_providers[] of Get Shipping Providers.
struct shipping_provider {
    std::string id, name;
};
result<std::vector<shipping_provider>> parse_shipping_providers(const nlohmann::json& data);

// One of data.tracking[] of Get Tracking; the time is in milliseconds.
struct tracking_event {
    std::string description;
    std::int64_t update_time_millis = 0;
};
result<std::vector<tracking_event>> parse_tracking(const nlohmann::json& data);

// A conversation member (customer service, §6).
struct participant {
    std::string im_user_id, user_id, role, nickname;   // role: BUYER, SHOP, CUSTOMER_SERVICE, ...
};

// A customer-service message (messages[] and latest_message).
struct cs_message {
    std::string id, type, content;      // content: the raw JSON string, e.g. {"content":"hi"}
    std::string text;                   // content.content decoded for TEXT, "" otherwise or when unreadable
    std::string sender_role, sender_im_user_id;
    std::int64_t create_time = 0;
    std::int64_t index = 0;             // sent as a string or a number: both are accepted
    bool is_visible = true;
};

// `id` is required. `content` must be a string; when it is not valid JSON
// with a string "content", or nests deeper than orderflow::max_json_depth,
// `text` stays empty (that is not an error).
result<cs_message> parse_message(const nlohmann::json& j);

struct conversation {
    std::string id;
    int participant_count = 0, unread_count = 0;
    bool can_send_message = true;
    std::int64_t create_time = 0;
    std::vector<participant> participants;
    std::optional<cs_message> latest_message;   // nullopt when absent, null or {}

    std::string buyer_user_id() const;   // user_id of the participant with role BUYER, "" if none
};

// `id` is required.
result<conversation> parse_conversation(const nlohmann::json& j);

struct conversation_page {
    std::vector<conversation> conversations;
    std::string next_page_token;
};
result<conversation_page> parse_conversation_page(const nlohmann::json& data);

struct message_page {
    std::vector<cs_message> messages;
    std::string next_page_token;
};
result<message_page> parse_message_page(const nlohmann::json& data);

// One of data.shops[] of Get Authorized Shops (§3); `cipher` is the value for
// shop_cipher.
struct authorized_shop {
    std::string id, name, region, seller_type, cipher, code;
};
result<std::vector<authorized_shop>> parse_authorized_shops(const nlohmann::json& data);

// One of data.webhooks[] of Get Shop Webhooks (§5).
struct webhook_subscription {
    std::string event_type, address;
    std::int64_t create_time = 0, update_time = 0;
};
result<std::vector<webhook_subscription>> parse_webhooks(const nlohmann::json& data);

// --- After-sales: cancellations and returns (docs/tiktok-shop-api.md,
// "Cancellations and returns") ------------------------------------------------

// One of data.cancellations[] of Search Cancellations. `cancel_id` is
// required. `role` is the initiator (BUYER, SELLER, SYSTEM); the status is
// spelled CANCELLATION_REQUEST_CANCELLED in answers, while the request filter
// documents CANCELLATION_REQUEST_CANCEL: both are read as CANCELLED.
struct cancellation {
    std::string id, order_id, status, role, cancel_type, reason;
    std::int64_t create_time = 0, update_time = 0;
};
result<cancellation> parse_cancellation(const nlohmann::json& j);

// POST /return_refund/202309/cancellations/search: the filters go in the
// body when set; sort and paging in the query. page_size 1..50.
struct cancellation_search {
    std::vector<std::string> order_ids, cancel_status;
    std::optional<std::int64_t> create_time_ge, create_time_lt, update_time_ge, update_time_lt;
    std::string sort_field = "update_time";   // create_time or update_time
    std::string sort_order = "ASC";
    int page_size = 50;
    std::string page_token;
};

struct cancellation_page {
    std::vector<cancellation> cancellations;
    std::string next_page_token;
    std::int64_t total_count = 0;
};
result<cancellation_page> parse_cancellation_page(const nlohmann::json& data);

// One of data.return_orders[] of Search Returns. `return_id` is required.
// type: REFUND, RETURN_AND_REFUND, REPLACEMENT; role: BUYER, SELLER,
// OPERATOR, SYSTEM.
struct return_order {
    std::string id, order_id, type, status, role, reason;
    std::int64_t create_time = 0, update_time = 0;
};
result<return_order> parse_return_order(const nlohmann::json& j);

// POST /return_refund/202309/returns/search. page_size 10..50 (the reference
// page gives that range).
struct return_search {
    std::vector<std::string> order_ids, return_status, return_types;
    std::optional<std::int64_t> create_time_ge, create_time_lt, update_time_ge, update_time_lt;
    std::string sort_field = "update_time";
    std::string sort_order = "ASC";
    int page_size = 50;
    std::string page_token;
};

struct return_page {
    std::vector<return_order> returns;
    std::string next_page_token;
    std::int64_t total_count = 0;
};
result<return_page> parse_return_page(const nlohmann::json& data);

// CANCELLATION_REQUEST_CANCEL (the search filter's spelling) ->
// CANCELLATION_REQUEST_CANCELLED (the webhook's and the answer's); others unchanged.
std::string normalize_cancel_status(std::string_view status);

}  // namespace orderflow::tikapi
