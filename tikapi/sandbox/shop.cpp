// The shop's state and how it changes: ids, orders and their state machine,
// conversations and messages, and the queue of signed webhooks with TikTok's
// retry schedule. The request handlers live in open_api.cpp and
// control_api.cpp; they only change state through the functions here, so every
// change emits its webhook.
#include "tikapi/sandbox/shop.hpp"

#include "tikapi/sandbox/detail/util.hpp"
#include "tikapi/webhook.hpp"

#include <algorithm>
#include <array>
#include <cassert>

namespace orderflow::sandbox {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 9> statuses = {
    "UNPAID",     "ON_HOLD",   "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION",
    "IN_TRANSIT", "DELIVERED", "COMPLETED",         "CANCELLED"};

struct transition {
    std::string_view from, to;
};

// docs/tiktok-shop-api.md §7 "Transitions".
constexpr transition transitions[] = {
    {"UNPAID", "ON_HOLD"},
    {"ON_HOLD", "AWAITING_SHIPMENT"},
    {"AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"},
    {"AWAITING_SHIPMENT", "AWAITING_COLLECTION"},
    {"PARTIALLY_SHIPPING", "AWAITING_COLLECTION"},
    {"AWAITING_COLLECTION", "IN_TRANSIT"},
    {"IN_TRANSIT", "DELIVERED"},
    {"DELIVERED", "COMPLETED"},
    {"AWAITING_COLLECTION", "COMPLETED"},   // full refund
    {"IN_TRANSIT", "COMPLETED"},            // full refund
    {"UNPAID", "CANCELLED"},
    {"ON_HOLD", "CANCELLED"},
    {"AWAITING_SHIPMENT", "CANCELLED"},
    {"PARTIALLY_SHIPPING", "CANCELLED"},
    {"AWAITING_COLLECTION", "CANCELLED"},
    {"IN_TRANSIT", "CANCELLED"},
};

bool paid(std::string_view status) { return status != "UNPAID" && status != "CANCELLED"; }

std::string_view package_status(std::string_view order_status) {
    if (order_status == "CANCELLED") return "CANCELLED";
    if (order_status == "AWAITING_COLLECTION" || order_status == "PARTIALLY_SHIPPING") return "PROCESSING";
    if (order_status == "IN_TRANSIT") return "FULFILLING";
    if (order_status == "DELIVERED" || order_status == "COMPLETED") return "COMPLETED";
    return "TO_FULFILL";
}

// "山田 花子" -> last "山田", first "花子" (Japanese order: family name first).
std::pair<std::string, std::string> split_name(const std::string& name) {
    auto space = name.find(' ');
    if (space == std::string::npos) return {name, ""};
    return {name.substr(0, space), name.substr(space + 1)};
}

}  // namespace

bool is_order_status(std::string_view status) {
    return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

bool is_legal_transition(std::string_view from, std::string_view to) {
    return std::any_of(std::begin(transitions), std::end(transitions),
                       [&](const transition& t) { return t.from == from && t.to == to; });
}

shop::shop(shop_options options) : options_(std::move(options)) {
    std::uint64_t seed = options_.seed;
    if (seed == 0) seed = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    rng_.seed(seed);
    if (!options_.clock) {
        options_.clock = [] {
            return std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
    }
    shop_im_user_id_ = fresh_id("72", 19);
    if (!options_.webhook_url.empty()) {
        if (auto error = set_webhook_url(options_.webhook_url)) throw std::invalid_argument(*error);
    }
}

std::int64_t shop::now() const { return options_.clock(); }

std::string shop::fresh_id(std::string_view prefix, int digits) {
    std::uniform_int_distribution<int> digit(0, 9);
    for (;;) {
        std::string id(prefix);
        while (static_cast<int>(id.size()) < digits) id.push_back(static_cast<char>('0' + digit(rng_)));
        if (used_ids_.insert(id).second) return id;
    }
}

std::string shop::random_token(int length) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string s;
    for (int i = 0; i < length; ++i) s.push_back(alphabet[pick(rng_)]);
    return s;
}

std::string shop::issue_auth_code() {
    std::string code = random_token(40);
    auth_codes_[code] = auth_code{now() + options_.auth_code_ttl, false};
    return code;
}

int shop::expire_access_tokens() {
    int n = 0;
    const auto t = now();
    for (auto& [value, tok] : access_tokens_) {
        if (!tok.revoked && tok.access_expires_at > t - 1) {
            tok.access_expires_at = t - 1;
            ++n;
        }
    }
    return n;
}

std::optional<order> shop::find_order(std::string_view id) const {
    auto it = order_index_.find(id);
    if (it == order_index_.end()) return std::nullopt;
    return orders_[it->second];
}

std::vector<order> shop::orders() const { return orders_; }

order& shop::add_order(order o) {
    const auto t = now();
    o.id = fresh_id("57", 18);
    o.package_id = fresh_id("11", 18);
    if (o.user_id.empty()) o.user_id = fresh_id("7", 19);
    o.create_time = o.update_time = t;
    if (paid(o.status)) o.paid_time = t;
    if (o.status == "CANCELLED") o.cancel_time = t;
    for (auto& item : o.line_items) {
        item.id = fresh_id("57", 18);
        item.package_id = o.package_id;
        auto [sku, inserted] = skus_.try_emplace(item.seller_sku);
        if (inserted) sku->second = {fresh_id("17", 19), fresh_id("17", 19)};
        item.product_id = sku->second.first;
        item.sku_id = sku->second.second;
    }
    order_index_[o.id] = orders_.size();
    orders_.push_back(std::move(o));
    order& stored = orders_.back();
    emit_webhook(1, {{"order_id", stored.id}, {"order_status", stored.status},
                     {"is_on_hold_order", stored.status == "ON_HOLD"}, {"update_time", stored.update_time}},
                 stored.id);
    return stored;
}

std::optional<std::string> shop::change_status(order& o, const std::string& status) {
    if (!is_order_status(status)) return "unknown order status '" + status + "'";
    if (!is_legal_transition(o.status, status))
        return "illegal transition " + o.status + " -> " + status + " for order " + o.id;
    const auto t = now();
    if (o.status == "UNPAID" && paid(status)) o.paid_time = t;
    if (status == "AWAITING_COLLECTION") o.rts_time = t;
    if (status == "IN_TRANSIT") o.collection_time = t;
    if (status == "DELIVERED") o.delivery_time = t;
    if (status == "CANCELLED") o.cancel_time = t;
    o.status = status;
    o.update_time = t;
    emit_webhook(1, {{"order_id", o.id}, {"order_status", o.status}, {"is_on_hold_order", o.status == "ON_HOLD"},
                     {"update_time", o.update_time}},
                 o.id);
    return std::nullopt;
}

bool shop::known_buyer(std::string_view user_id) const {
    for (const auto& o : orders_)
        if (o.user_id == user_id) return true;
    for (const auto& c : conversations_)
        if (c.buyer_user_id == user_id) return true;
    return false;
}

conversation* shop::find_conversation(std::string_view id) {
    for (auto& c : conversations_)
        if (c.id == id) return &c;
    return nullptr;
}

conversation& shop::open_conversation(const std::string& buyer_user_id, bool& created) {
    for (auto& c : conversations_) {
        if (c.buyer_user_id == buyer_user_id) {
            created = false;
            return c;
        }
    }
    created = true;
    auto [im, inserted] = buyer_im_ids_.try_emplace(buyer_user_id);
    if (inserted) im->second = fresh_id("69", 19);
    conversation c;
    c.id = fresh_id("73", 19);
    c.buyer_user_id = buyer_user_id;
    c.buyer_im_user_id = im->second;
    c.create_time = now();
    conversations_.push_back(std::move(c));
    conversation& stored = conversations_.back();
    emit_webhook(13, {{"conversation_id", stored.id}, {"create_time", stored.create_time}}, "");
    return stored;
}

const message& shop::add_message(conversation& c, const std::string& role, std::string content_json) {
    message m;
    m.id = fresh_id("74", 19);
    m.conversation_id = c.id;
    m.type = "TEXT";
    m.content = std::move(content_json);
    m.role = role;
    m.im_user_id = role == "BUYER" ? c.buyer_im_user_id : shop_im_user_id_;
    m.create_time = now();
    m.index = ++message_index_;
    c.messages.push_back(std::move(m));
    const message& stored = c.messages.back();
    // Type 14 for what the buyer writes (the brief); the shop's own messages
    // need no notification because the daemon sent them.
    if (role == "BUYER") {
        json data = message_json(stored);
        data["message_id"] = data["id"];
        data.erase("id");
        data["conversation_id"] = c.id;
        emit_webhook(14, std::move(data), "");
    }
    return stored;
}

json shop::message_json(const message& m) const {
    json sender = {{"im_user_id", m.im_user_id}, {"role", m.role}};
    sender["nickname"] = m.role == "BUYER" ? "buyer" : options_.shop_name;
    return {{"id", m.id},
            {"type", m.type},
            {"content", m.content},
            {"create_time", m.create_time},
            {"is_visible", true},
            {"sender", std::move(sender)},
            {"index", std::to_string(m.index)}};
}

json shop::order_json(const order& o) const {
    std::int64_t total = 0;
    for (const auto& item : o.line_items) total += detail::parse_amount(item.sale_price).value_or(0);
    const std::string amount = std::to_string(total);
    json j = {
        {"id", o.id},
        {"status", o.status},
        {"create_time", o.create_time},
        {"update_time", o.update_time},
        {"user_id", o.user_id},
        {"buyer_message", o.buyer_message},
        {"buyer_email", "v2_" + o.user_id.substr(0, 8) + "@scs.tiktokw.jp"},
        {"seller_note", o.seller_note},
        {"shipping_type", "SELLER"},
        {"fulfillment_type", "FULFILLMENT_BY_SELLER"},
        {"delivery_option_id", "7208502187360519982"},
        {"delivery_option_name", "Standard shipping"},
        {"warehouse_id", "7208502187360519001"},
        {"is_on_hold_order", o.status == "ON_HOLD"},
        {"is_buyer_request_cancel", false},
        {"is_cod", false},
        {"is_sample_order", false},
        {"is_replacement_order", false},
        {"order_type", "NORMAL"},
        {"split_or_combine_tag", ""},
        {"packages", json::array({{{"id", o.package_id}}})},
        {"payment",
         {{"currency", "JPY"},
          {"sub_total", amount},
          {"shipping_fee", "0"},
          {"seller_discount", "0"},
          {"platform_discount", "0"},
          {"total_amount", amount},
          {"original_total_product_price", amount},
          {"original_shipping_fee", "0"},
          {"tax", "0"}}},
    };
    if (o.paid_time) j["paid_time"] = o.paid_time;
    if (o.rts_time) j["rts_time"] = o.rts_time;
    if (o.collection_time) j["collection_time"] = o.collection_time;
    if (o.delivery_time) j["delivery_time"] = o.delivery_time;
    if (o.cancel_time) {
        j["cancel_time"] = o.cancel_time;
        j["cancel_reason"] = o.cancel_reason;
        j["cancellation_initiator"] = "SELLER";
    }
    // §6: the address is "not available under UNPAID and ON_HOLD statuses".
    if (o.status != "UNPAID" && o.status != "ON_HOLD") {
        auto [last, first] = split_name(o.buyer_name);
        j["recipient_address"] = {
            {"name", o.buyer_name},
            {"first_name", first},
            {"last_name", last},
            {"full_address", "東京都渋谷区神南1-2-3 サンドボックスビル101"},
            {"address_detail", "サンドボックスビル101"},
            {"address_line1", "神南1-2-3"},
            {"phone_number", "(+81)90*****" + o.id.substr(o.id.size() - 3)},
            {"postal_code", "150-0041"},
            {"region_code", "JP"},
            {"district_info",
             json::array({{{"address_level_name", "Prefecture"}, {"address_name", "東京都"}, {"address_level", "L1"}},
                          {{"address_level_name", "City"}, {"address_name", "渋谷区"}, {"address_level", "L2"}}})},
        };
    }
    json items = json::array();
    for (const auto& item : o.line_items) {
        items.push_back({
            {"id", item.id},
            {"sku_id", item.sku_id},
            {"product_id", item.product_id},
            {"product_name", item.product_name},
            {"sku_name", item.sku_name},
            {"sku_image", "https://p16-oec-va.ibyteimg.com/sandbox/" + item.sku_id + ".jpg"},
            {"seller_sku", item.seller_sku},
            {"original_price", item.sale_price},
            {"sale_price", item.sale_price},
            {"currency", "JPY"},
            {"package_id", item.package_id},
            {"package_status", package_status(o.status)},
            {"display_status", o.status},
            {"is_gift", false},
            {"is_on_hold_order", o.status == "ON_HOLD"},
        });
    }
    j["line_items"] = std::move(items);
    return j;
}

// --- webhooks ----------------------------------------------------------------

std::optional<std::string> shop::set_webhook_url(std::string_view text) {
    auto parsed = tikapi::url::parse(text);
    if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https"))
        return "webhook url must look like http://127.0.0.1:PORT/path";
    if (!detail::is_loopback_host(parsed->host))
        return "webhook url must point at this machine (127.0.0.1, ::1 or localhost): the sandbox sends nothing "
               "outside it";
    webhook_target_ = *parsed;
    options_.webhook_url = std::string(text);
    if (on_queued_) on_queued_();
    return std::nullopt;
}

std::optional<tikapi::url> shop::webhook_target() const { return webhook_target_; }

void shop::emit_webhook(int type, json data, std::string order_id) {
    json payload = {{"type", type},
                    {"tts_notification_id", fresh_id("73", 19)},
                    {"shop_id", options_.shop_id},
                    {"timestamp", now()},
                    {"data", std::move(data)}};
    delivery d;
    d.seq = deliveries_.size() + 1;
    d.notification_id = payload["tts_notification_id"].get<std::string>();
    d.type = type;
    d.order_id = std::move(order_id);
    d.body = payload.dump();
    d.signature = tikapi::webhook_signature(options_.app_key, options_.app_secret.reveal(), d.body);
    d.due = std::chrono::steady_clock::now();
    deliveries_.push_back(std::move(d));
    if (on_queued_) on_queued_();
}

std::optional<std::uint64_t> shop::next_delivery(delivery::time_point now, delivery::time_point& next_due) const {
    next_due = delivery::time_point::max();
    if (!webhook_target_) return std::nullopt;
    const delivery* best = nullptr;
    for (const auto& d : deliveries_) {
        if (d.delivered || d.gave_up) continue;
        if (d.due > now) {
            next_due = std::min(next_due, d.due);
            continue;
        }
        if (!best || d.due < best->due) best = &d;   // ties keep the older one
    }
    if (!best) return std::nullopt;
    return best->seq;
}

const delivery* shop::find_delivery(std::uint64_t seq) const {
    if (seq == 0 || seq > deliveries_.size()) return nullptr;
    return &deliveries_[seq - 1];
}

void shop::record_attempt(std::uint64_t seq, int status, std::string error, delivery::time_point now) {
    assert(seq >= 1 && seq <= deliveries_.size());
    delivery& d = deliveries_[seq - 1];
    ++d.attempts;
    d.last_status = status;
    d.last_error = std::move(error);
    if (status == 200) {
        d.delivered = true;
        return;
    }
    // Attempt 1 is the first send; attempts 2..5 are the four retries (§5).
    if (d.attempts > 4) {
        d.gave_up = true;
        return;
    }
    auto delay = std::chrono::duration<double>(webhook_retry_schedule[d.attempts - 1]) * options_.retry_scale;
    d.due = now + std::chrono::round<std::chrono::steady_clock::duration>(delay);
}

json shop::delivery_json(const delivery& d) const {
    json j = {{"seq", d.seq},
              {"notification_id", d.notification_id},
              {"type", d.type},
              {"order_id", d.order_id},
              {"attempts", d.attempts},
              {"last_status", d.last_status},
              {"last_error", d.last_error},
              {"delivered", d.delivered},
              {"gave_up", d.gave_up},
              {"redelivery", d.redelivery}};
    j["payload"] = json::parse(d.body, nullptr, false);
    return j;
}

}  // namespace orderflow::sandbox
