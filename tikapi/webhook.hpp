// TikTok Shop webhooks (docs/tiktok-shop-api.md §5): the Authorization header
// signature, hex(HMAC-SHA256(key = app_secret, message = app_key + raw body)),
// and the event envelope {type, tts_notification_id, shop_id, timestamp, data}.
// Both functions take untrusted input and never throw on it.
#pragma once

#include "common/secret.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace orderflow::tikapi {

// The signature TikTok puts in the Authorization header (lower-case hex).
std::string webhook_signature(std::string_view app_key, std::string_view app_secret, std::string_view body);

// Compares in constant time (sodium_memcmp). Surrounding whitespace and
// upper-case hex in the header are tolerated; an empty or malformed header is
// simply false.
bool verify_webhook_signature(std::string_view app_key, const orderflow::secret& app_secret,
                              std::string_view body, std::string_view authorization_header);

struct webhook_event {
    int type = 0;
    std::string notification_id;   // tts_notification_id; "" when absent (older payloads)
    std::string shop_id;
    std::int64_t timestamp = 0;    // unix seconds; 0 when absent
    nlohmann::json data;           // topic-specific object
};

// Either the event or a one-line reason fit for a 400 answer and a log line,
// e.g. "field 'type' must be an integer". A body nested deeper than
// orderflow::max_json_depth (common/json_limits.hpp) is refused unparsed:
// "body is JSON nested deeper than 64 levels".
std::variant<webhook_event, std::string> parse_webhook(std::string_view body);

// 1 -> "ORDER_STATUS_CHANGE", 14 -> "NEW_MESSAGE", ...; "UNKNOWN" otherwise.
std::string_view topic_name(int type);

// Webhook type numbers an order bot handles (§5).
namespace topic {
inline constexpr int order_status_change = 1;
inline constexpr int reverse_order_status_update = 2;
inline constexpr int recipient_address_update = 3;
inline constexpr int package_update = 4;
inline constexpr int product_status_change = 5;
inline constexpr int seller_deauthorization = 6;
inline constexpr int upcoming_authorization_expiration = 7;
inline constexpr int cancellation_status_change = 11;
inline constexpr int return_status_change = 12;
inline constexpr int new_conversation = 13;
inline constexpr int new_message = 14;
}  // namespace topic

}  // namespace orderflow::tikapi
