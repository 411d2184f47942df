// The shop's state and how it changes: ids, orders with their package and
// the state machine (with the ON_HOLD window and auto_advance driven by
// advance()), conversations and messages, and the queue of signed webhooks
// with TikTok's retry schedule and the webhook faults (lose, duplicate,
// reorder). The request handlers live in open_api.cpp, fulfillment.cpp and
// control_api.cpp; they only change state through the functions here, so
// every change emits its webhook.
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

// §5 "event_type strings" with the webhook type each one carries (0: a topic
// the sandbox never sends).
struct event_topic {
    std::string_view name;
    int type;
};
constexpr event_topic event_topics[] = {
    {"ORDER_STATUS_CHANGE", 1},        {"RECIPIENT_ADDRESS_UPDATE", 3},    {"PACKAGE_UPDATE", 4},
    {"PRODUCT_STATUS_CHANGE", 5},      {"SELLER_DEAUTHORIZATION", 6},      {"UPCOMING_AUTHORIZATION_EXPIRATION", 7},
    {"CANCELLATION_STATUS_CHANGE", 11}, {"RETURN_STATUS_CHANGE", 12},      {"NEW_CONVERSATION", 13},
    {"NEW_MESSAGE", 14},               {"PRODUCT_INFORMATION_CHANGE", 15}, {"PRODUCT_CREATION", 16},
    {"PRODUCT_CATEGORY_CHANGE", 18},   {"NEW_MESSAGE_LISTENER", 33},       {"INVOICE_STATUS_CHANGE", 36},
    {"PRODUCT_AUDIT_STATUS_CHANGE", 37}, {"REVERSE_STATUS_UPDATE", 2},
};

bool paid(std::string_view status) { return status != "UNPAID" && status != "CANCELLED"; }

// "山田 花子" -> last "山田", first "花子" (Japanese order: family name first).
std::pair<std::string, std::string> split_name(const std::string& name) {
    auto space = name.find(' ');
    if (space == std::string::npos) return {name, ""};
    return {name.substr(0, space), name.substr(space + 1)};
}

std::int64_t system_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The 30 / 60-day windows of the customer-service rules (§6 notes).
constexpr std::int64_t conversation_window = 30 * 86400;
constexpr std::int64_t order_window = 60 * 86400;

}  // namespace

bool is_order_status(std::string_view status) {
    return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

bool is_legal_transition(std::string_view from, std::string_view to) {
    return std::any_of(std::begin(transitions), std::end(transitions),
                       [&](const transition& t) { return t.from == from && t.to == to; });
}

bool is_event_type(std::string_view event_type) {
    return std::any_of(std::begin(event_topics), std::end(event_topics),
                       [&](const event_topic& t) { return t.name == event_type; });
}

std::string_view event_type_of(int webhook_type) {
    for (const auto& t : event_topics)
        if (t.type == webhook_type) return t.name;
    return "";
}

shop::shop(shop_options options) : options_(std::move(options)) {
    std::uint64_t seed = options_.seed;
    if (seed == 0) seed = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    rng_.seed(seed);
    fault_rng_.seed(seed ^ 0x9e3779b97f4a7c15ULL);
    if (!options_.clock) {
        options_.clock = [] {
            return std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
        if (!options_.clock_ms) options_.clock_ms = system_ms;
    }
    if (!options_.clock_ms) options_.clock_ms = [clock = options_.clock] { return clock() * 1000; };
    shop_im_user_id_ = fresh_id("72", 19);
    if (!options_.webhook_url.empty()) {
        if (auto error = set_webhook_url(options_.webhook_url)) throw std::invalid_argument(*error);
    }
}

std::int64_t shop::now() const { return options_.clock(); }
std::int64_t shop::now_ms() const { return options_.clock_ms(); }

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

bool shop::draw(double share) {
    if (share <= 0) return false;
    if (share >= 1) return true;
    return std::uniform_real_distribution<double>(0, 1)(fault_rng_) < share;
}

void shop::set_faults(const fault_options& faults, std::uint64_t seed) {
    options_.faults = faults;
    if (seed != 0) fault_rng_.seed(seed ^ 0x9e3779b97f4a7c15ULL);
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
        if (!tok.revoked && tok.effective_expires_at > t - 1) {
            tok.effective_expires_at = t - 1;
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

// --- time ---------------------------------------------------------------------

void shop::note_timer(std::int64_t unix_second) {
    if (next_timer_second_ == 0 || unix_second < next_timer_second_) {
        next_timer_second_ = unix_second;
        if (on_timers_changed_) on_timers_changed_();
    }
}

void shop::advance() {
    if (advancing_) return;   // change_status -> webhook -> ... never re-enters, but be sure
    advancing_ = true;
    const auto t = now();
    if (next_timer_second_ != 0 && next_timer_second_ <= t) {
        next_timer_second_ = 0;
        const bool transit = options_.auto_in_transit_after >= 0;
        const bool deliver = options_.auto_delivered_after >= 0;
        for (auto& o : orders_) {
            if (o.status == "ON_HOLD") {
                if (o.hold_until <= t) change_status(o, "AWAITING_SHIPMENT");
                else note_timer(o.hold_until);
            }
            if (!o.shipped()) continue;
            if (transit && o.status == "AWAITING_COLLECTION") {
                const auto due = o.rts_time + options_.auto_in_transit_after;
                if (due <= t) change_status(o, "IN_TRANSIT");
                else note_timer(due);
            }
            if (deliver && o.status == "IN_TRANSIT") {
                const auto due = o.rts_time + std::max(options_.auto_delivered_after, options_.auto_in_transit_after);
                if (due <= t) change_status(o, "DELIVERED");
                else note_timer(due);
            }
        }
    }
    advance_load();
    advancing_ = false;
}

std::optional<std::int64_t> shop::next_timer_ms() const {
    std::optional<std::int64_t> next;
    auto consider = [&](std::int64_t ms) {
        if (!next || ms < *next) next = ms;
    };
    if (next_timer_second_ != 0) consider(next_timer_second_ * 1000);
    if (load_.running && load_.created < load_.options.orders && load_.options.rate > 0)
        consider(load_.start_ms + static_cast<std::int64_t>(static_cast<double>(load_.created) * 1000.0 /
                                                            load_.options.rate));
    for (const auto& m : load_.messages) consider(m.due_ms);
    return next;
}

// --- orders ---------------------------------------------------------------------

order& shop::add_order(order o) {
    const auto t = now();
    o.id = fresh_id("57", 18);
    const std::size_t package_index = new_package("DEFAULT");   // drawn here, as ever: seeded ids stay the same
    if (o.user_id.empty()) o.user_id = fresh_id("7", 19);
    if (o.delivery_option_id.empty()) o.delivery_option_id = "7208502187360519982";
    o.create_time = o.update_time = t;
    if (paid(o.status)) o.paid_time = t;
    if (o.status == "ON_HOLD") o.hold_until = t + options_.hold_seconds;
    if (o.status == "CANCELLED") {
        o.cancel_time = t;
        if (o.cancellation_initiator.empty()) o.cancellation_initiator = "BUYER";
    }
    for (auto& item : o.line_items) {
        item.id = fresh_id("57", 18);
        auto [sku, inserted] = skus_.try_emplace(item.seller_sku);
        if (inserted) sku->second = {fresh_id("17", 19), fresh_id("17", 19)};
        item.product_id = sku->second.first;
        item.sku_id = sku->second.second;
    }
    order_index_[o.id] = orders_.size();
    orders_.push_back(std::move(o));
    order& stored = orders_.back();
    put_in_package(package_index, stored, {});
    if (stored.status == "ON_HOLD") note_timer(stored.hold_until);
    emit_order_status(stored);
    return stored;
}

std::string_view shop::order_status_for_webhook(const order& o) const {
    // §5: the type 1 page lists CANCEL, the order object says CANCELLED.
    if (o.status == "CANCELLED") return options_.webhook_cancel_status;
    return o.status;
}

void shop::emit_order_status(const order& o) {
    emit_webhook(1, {{"order_id", o.id}, {"order_status", order_status_for_webhook(o)},
                     {"is_on_hold_order", o.status == "ON_HOLD"}, {"update_time", o.update_time}},
                 o.id);
}

void shop::add_tracking(order& o, std::string description) {
    o.tracking.push_back({std::move(description), now_ms()});
}

std::optional<std::string> shop::change_status(order& o, const std::string& status) {
    if (!is_order_status(status)) return "unknown order status '" + status + "'";
    if (!is_legal_transition(o.status, status))
        return "illegal transition " + o.status + " -> " + status + " for order " + o.id;
    const auto t = now();
    const std::string carrier = o.shipping_provider_name.empty() ? "the carrier" : o.shipping_provider_name;
    if (o.status == "UNPAID" && paid(status)) {
        o.paid_time = t;
        for (package* p : packages_of(o)) p->create_time = p->update_time = t;
    }
    if (status == "ON_HOLD") {
        o.hold_until = t + options_.hold_seconds;
        note_timer(o.hold_until);
    }
    if (status == "AWAITING_COLLECTION" && !o.rts_time) o.rts_time = t;
    if (status == "IN_TRANSIT") {
        o.collection_time = t;
        if (o.shipped()) add_tracking(o, "The package has been picked up by " + carrier);
    }
    if (status == "DELIVERED") {
        o.delivery_time = t;
        if (o.shipped()) add_tracking(o, "The package has been delivered");
    }
    if (status == "CANCELLED") {
        o.cancel_time = t;
        o.buyer_request_cancel = false;
        if (o.cancellation_initiator.empty()) o.cancellation_initiator = "BUYER";
        if (o.cancel_reason.empty()) o.cancel_reason = "Buyer cancelled";
    }
    o.status = status;
    o.update_time = t;
    for (package* p : packages_of(o))
        if (p->create_time != 0) p->update_time = t;
    // Shipped orders move on by themselves with auto_advance.
    if (status == "AWAITING_COLLECTION" && options_.auto_in_transit_after >= 0)
        note_timer(o.rts_time + options_.auto_in_transit_after);
    if (status == "IN_TRANSIT" && options_.auto_delivered_after >= 0 && o.rts_time)
        note_timer(o.rts_time + std::max(options_.auto_delivered_after, options_.auto_in_transit_after));
    emit_order_status(o);
    return std::nullopt;
}

// --- customer service -------------------------------------------------------------

bool shop::known_buyer(std::string_view user_id) const {
    // §6 notes: a prior conversation within 30 days, or an order within 60 days.
    const auto t = now();
    for (const auto& o : orders_)
        if (o.user_id == user_id && o.create_time > t - order_window) return true;
    for (const auto& c : conversations_) {
        if (c.buyer_user_id != user_id) continue;
        const auto last = c.messages.empty() ? c.create_time : c.messages.back().create_time;
        if (last > t - conversation_window) return true;
    }
    return false;
}

bool shop::can_send_message(const conversation& c) const {
    if (c.closed || !known_buyer(c.buyer_user_id)) return false;
    if (options_.conversation_close_after <= 0) return true;
    std::int64_t last = c.opened_at;
    for (auto m = c.messages.rbegin(); m != c.messages.rend(); ++m) {
        if (m->role != "BUYER") continue;
        last = std::max(last, m->create_time);
        break;
    }
    return now() - last < options_.conversation_close_after;
}

std::int64_t shop::unread_count(const conversation& c) const {
    std::int64_t n = 0;
    for (const auto& m : c.messages)
        if (m.role == "BUYER" && m.index > c.read_index) ++n;
    return n;
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
    c.opened_at = c.create_time;
    conversations_.push_back(std::move(c));
    conversation& stored = conversations_.back();
    emit_webhook(13, {{"conversation_id", stored.id}, {"create_time", stored.create_time}}, "");
    return stored;
}

const message& shop::add_message(conversation& c, const std::string& role, std::string content_json, std::string type) {
    message m;
    m.id = fresh_id("74", 19);
    m.conversation_id = c.id;
    m.type = std::move(type);
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

// --- JSON -------------------------------------------------------------------------------

json shop::address_json(const order& o) const {
    auto [last, first] = split_name(o.buyer_name);
    const address& a = o.recipient;
    return {
        {"name", o.buyer_name},
        {"first_name", first},
        {"last_name", last},
        {"full_address", a.full()},
        {"address_detail", a.detail},
        {"address_line1", a.line1},
        {"address_line2", ""},
        {"phone_number", "(+81)90*****" + o.id.substr(o.id.size() - 3)},
        {"postal_code", a.postal_code},
        {"region_code", "JP"},
        {"district_info",
         json::array({{{"address_level_name", "Prefecture"}, {"address_name", a.prefecture}, {"address_level", "L1"}},
                      {{"address_level_name", "City"}, {"address_name", a.city}, {"address_level", "L2"}}})},
    };
}

json shop::order_json(const order& o) const {
    std::int64_t total = 0;
    for (const auto& item : o.line_items) total += detail::parse_amount(item.sale_price).value_or(0);
    const std::string amount = std::to_string(total);
    const bool by_tiktok = o.delivery_option_id == "7208502187360519984";
    json j = {
        {"id", o.id},
        {"status", o.status},
        {"create_time", o.create_time},
        {"update_time", o.update_time},
        {"user_id", o.user_id},
        {"buyer_message", o.buyer_message},
        {"buyer_email", "v2_" + o.user_id.substr(0, 8) + "@scs.tiktokw.jp"},
        {"seller_note", o.seller_note},
        {"shipping_type", by_tiktok ? "TIKTOK" : "SELLER"},
        {"fulfillment_type", by_tiktok ? "FULFILLMENT_BY_TIKTOK" : "FULFILLMENT_BY_SELLER"},
        {"delivery_option_id", o.delivery_option_id},
        {"delivery_option_name", by_tiktok ? "Shipped by TikTok" : (o.delivery_option_id == "7208502187360519983"
                                                                        ? "Express shipping"
                                                                        : "Standard shipping")},
        {"warehouse_id", "7208502187360519001"},
        {"is_on_hold_order", o.status == "ON_HOLD"},
        {"is_buyer_request_cancel", o.buyer_request_cancel},
        {"is_cod", false},
        {"is_sample_order", false},
        {"is_replacement_order", false},
        {"order_type", "NORMAL"},
        {"split_or_combine_tag", ""},
        {"packages", json::array()},
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
    for (const auto& [name, at] : order_deadlines(o, options_.handling_seconds)) j[name] = at;
    if (o.shipped() || !o.tracking_number.empty()) {
        j["tracking_number"] = o.tracking_number;
        j["shipping_provider"] = o.shipping_provider_name;
        j["shipping_provider_id"] = o.shipping_provider_id;
    }
    if (o.cancel_time) {
        j["cancel_time"] = o.cancel_time;
        j["cancel_reason"] = o.cancel_reason;
        j["cancellation_initiator"] = o.cancellation_initiator;
    }
    // §6: the address is "not available under UNPAID and ON_HOLD statuses".
    if (o.status != "UNPAID" && o.status != "ON_HOLD") j["recipient_address"] = address_json(o);
    // Packages (packages.cpp): the order's, and each line item's.
    json packages = json::array();
    const auto hidden = [&](const package* p) { return !options_.packages_before_shipping && !package_shipped(*p); };
    for (const package* p : packages_of(o)) {
        if (p->create_time == 0 || hidden(p)) continue;
        packages.push_back({{"id", p->id}});
        if (p->tag != "DEFAULT") j["split_or_combine_tag"] = p->tag;
    }
    j["packages"] = std::move(packages);
    static const package no_package;   // an unpaid order's items: no package yet
    json items = json::array();
    for (const auto& item : o.line_items) {
        const package* pkg = find_package(item.package_id);
        if (pkg && hidden(pkg)) pkg = nullptr;
        json li = {
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
            {"package_status", package_status(o, pkg ? *pkg : no_package)},
            {"display_status", o.status},
            {"is_gift", false},
            {"is_on_hold_order", o.status == "ON_HOLD"},
        };
        if (pkg) li["package_id"] = item.package_id;
        if (pkg && pkg->rts_time != 0) {
            li["tracking_number"] = pkg->tracking_number;
            li["shipping_provider_id"] = pkg->shipping_provider_id;
            li["shipping_provider_name"] = pkg->shipping_provider_name;
            li["rts_time"] = pkg->rts_time;
        } else if (o.shipped()) {   // moved on by the control API without a ship call
            li["tracking_number"] = o.tracking_number;
            li["shipping_provider_id"] = o.shipping_provider_id;
            li["shipping_provider_name"] = o.shipping_provider_name;
            li["rts_time"] = o.rts_time;
        }
        if (o.cancel_time) {
            li["cancel_user"] = o.cancellation_initiator;
            li["cancel_reason"] = o.cancel_reason;
        }
        items.push_back(std::move(li));
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
    d.notification_id = payload["tts_notification_id"].get<std::string>();
    d.type = type;
    d.order_id = std::move(order_id);
    d.body = payload.dump();
    d.signature = tikapi::webhook_signature(options_.app_key, options_.app_secret.reveal(), d.body);
    if (options_.require_subscription && !subscriptions_.count(std::string(event_type_of(type))))
        d.unsubscribed = true;

    const auto& f = options_.faults;
    auto hold_back = [&] {
        if (f.webhook_reorder_ms <= 0) return std::chrono::milliseconds(0);
        return std::chrono::milliseconds(
            std::uniform_int_distribution<std::int64_t>(0, f.webhook_reorder_ms)(fault_rng_));
    };
    if (!d.unsubscribed && draw(f.webhook_lose_share)) {
        d.lost = true;
        ++fault_counts_.webhooks_lost;
    }
    const bool twice = !d.unsubscribed && !d.lost && draw(f.webhook_duplicate_share);
    delivery copy;
    if (twice) {
        copy = d;
        copy.duplicate = true;
        ++fault_counts_.webhooks_duplicated;
    }
    queue_delivery(std::move(d), hold_back());
    if (twice) queue_delivery(std::move(copy), hold_back() + std::chrono::milliseconds(1));
}

void shop::queue_delivery(delivery d, std::chrono::milliseconds hold_back) {
    d.seq = deliveries_.size() + 1;
    d.due = std::chrono::steady_clock::now() + hold_back;
    deliveries_.push_back(std::move(d));
    if (on_queued_) on_queued_();
}

std::optional<std::uint64_t> shop::next_delivery(delivery::time_point now, delivery::time_point& next_due) const {
    next_due = delivery::time_point::max();
    if (!webhook_target_) return std::nullopt;
    const delivery* best = nullptr;
    for (const auto& d : deliveries_) {
        if (d.delivered || d.gave_up || d.lost || d.unsubscribed) continue;
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
              {"redelivery", d.redelivery},
              {"lost", d.lost},
              {"duplicate", d.duplicate},
              {"unsubscribed", d.unsubscribed}};
    j["payload"] = json::parse(d.body, nullptr, false);
    return j;
}

}  // namespace orderflow::sandbox
