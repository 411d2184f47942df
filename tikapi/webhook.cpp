// Webhook signatures and envelope parsing (see webhook.hpp).
#include "tikapi/webhook.hpp"

#include "tikapi/detail/hmac.hpp"
#include "tikapi/detail/json_reader.hpp"
#include "tikapi/signing.hpp"

#include "common/json_limits.hpp"

#include <sodium.h>

#include <limits>
#include <optional>

namespace orderflow::tikapi {

std::string webhook_signature(std::string_view app_key, std::string_view app_secret, std::string_view body) {
    return detail::hmac_sha256_hex(app_secret, {app_key, body});
}

bool verify_webhook_signature(std::string_view app_key, const orderflow::secret& app_secret,
                              std::string_view body, std::string_view authorization_header) {
    if (app_secret.empty()) return false;
    std::string expected = webhook_signature(app_key, app_secret.reveal(), body);
    bool ok = signature_equals(expected, authorization_header);
    sodium_memzero(expected.data(), expected.size());
    return ok;
}

namespace {

// Optional string field: absent or null is fine; numbers are accepted too,
// since IDs are 64-bit values that some senders write unquoted.
std::optional<std::string> optional_id(const nlohmann::json& j, const char* key, std::string& out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) {
        out = it->get<std::string>();
        return std::nullopt;
    }
    if (it->is_number_integer()) {
        out = it->dump();
        return std::nullopt;
    }
    return "field '" + std::string(key) + "' must be a string";
}

}  // namespace

std::variant<webhook_event, std::string> parse_webhook(std::string_view body) {
    // Depth is checked before anything is built: the daemon hashes and
    // copies `data` recursively, so a body nested too deep must never get in.
    // Then the body is read as parse_untrusted_json would read it, by the
    // webhook's own reader (detail/json_reader.hpp).
    if (auto problem = json_depth_problem(body); !problem.empty()) return "body is " + problem;
    nlohmann::json j;
    if (!detail::read_json(body, j, max_json_depth)) return std::string("body is not valid JSON");
    if (!j.is_object()) return std::string("body must be a JSON object");

    webhook_event event;
    auto type = j.find("type");
    if (type == j.end() || type->is_null()) return std::string("field 'type' is missing");
    if (!type->is_number_integer()) return std::string("field 'type' must be an integer");
    auto type_value = type->get<std::int64_t>();
    if (type_value < 0 || type_value > std::numeric_limits<int>::max())
        return std::string("field 'type' is out of range");
    event.type = static_cast<int>(type_value);

    if (auto error = optional_id(j, "tts_notification_id", event.notification_id)) return *error;
    if (auto error = optional_id(j, "shop_id", event.shop_id)) return *error;

    auto timestamp = j.find("timestamp");
    if (timestamp != j.end() && !timestamp->is_null()) {
        if (!timestamp->is_number_integer()) return std::string("field 'timestamp' must be an integer");
        event.timestamp = timestamp->get<std::int64_t>();
    }

    auto data = j.find("data");
    if (data == j.end() || data->is_null()) return std::string("field 'data' is missing");
    if (!data->is_object()) return std::string("field 'data' must be an object");
    event.data = std::move(*data);
    return event;
}

std::string_view topic_name(int type) {
    switch (type) {
        case 1: return "ORDER_STATUS_CHANGE";
        case 2: return "REVERSE_STATUS_UPDATE";
        case 3: return "RECIPIENT_ADDRESS_UPDATE";
        case 4: return "PACKAGE_UPDATE";
        case 5: return "PRODUCT_STATUS_CHANGE";
        case 6: return "SELLER_DEAUTHORIZATION";
        case 7: return "UPCOMING_AUTHORIZATION_EXPIRATION";
        case 11: return "CANCELLATION_STATUS_CHANGE";
        case 12: return "RETURN_STATUS_CHANGE";
        case 13: return "NEW_CONVERSATION";
        case 14: return "NEW_MESSAGE";
        case 15: return "PRODUCT_INFORMATION_CHANGE";
        case 16: return "PRODUCT_CREATION";
        case 18: return "PRODUCT_CATEGORY_CHANGE";
        case 33: return "NEW_MESSAGE_LISTENER";
        case 36: return "INVOICE_STATUS_CHANGE";
        case 37: return "PRODUCT_AUDIT_STATUS_CHANGE";
        default: return "UNKNOWN";
    }
}

}  // namespace orderflow::tikapi
