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
#include <vector>

namespace orderflow::tikapi {

struct token_set {
    orderflow::secret access_token;
    orderflow::secret refresh_token;
    std::int64_t access_expires_at = 0;    // absolute unix seconds (access_token_expire_in)
    std::int64_t refresh_expires_at = 0;   // absolute unix seconds (refresh_token_expire_in)
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
};

struct order {
    std::string id, status, user_id, buyer_message, seller_note, shipping_type, delivery_option_id,
        delivery_option_name, tracking_number, shipping_provider, shipping_provider_id, currency, total_amount,
        recipient_name;   // recipient_address.name, or first_name + " " + last_name
    std::int64_t create_time = 0, update_time = 0, paid_time = 0;
    bool is_on_hold = false;
    std::vector<line_item> line_items;   // one unit each: TikTok has no quantity
    std::vector<std::string> package_ids;
};

// One element of data.orders[]; `id` is required, the rest optional.
result<order> parse_order(const nlohmann::json& j);

}  // namespace orderflow::tikapi
