// See events.hpp.
#include "daemon/events.hpp"

#include "daemon/packages.hpp"
#include "storage/database.hpp"
#include "storage/idempotency.hpp"

#include "common/json_limits.hpp"

#include <map>

namespace orderflow::daemon {

using json = nlohmann::json;

std::string_view event_for_topic(int type) {
    switch (type) {
        case 1: return "order.status_changed";
        case 3: return "order.address_changed";
        case 4: return "package.updated";
        case 6: return "shop.deauthorized";
        case 7: return "shop.authorization_expiring";
        case 11: return "order.cancellation_changed";
        case 12: return "order.return_changed";
        case 13: return "conversation.created";
        case 14: return "message.received";
        default: return "unknown";
    }
}

namespace {

std::string string_field(const json& data, const char* key) {
    if (!data.is_object()) return {};
    auto it = data.find(key);
    if (it == data.end()) return {};
    if (it->is_string()) return it->get<std::string>();
    // As daemon/packages.cpp reads ids: an id above INT64_MAX is unsigned,
    // and read as int64 it would come out negative.
    if (it->is_number_unsigned()) return std::to_string(it->get<std::uint64_t>());
    if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
    return {};
}

// A time TikTok gives as 0 when there is none (a deadline, the paid time of
// an unpaid order): null, which rules see as missing.
json deadline(std::int64_t unix_seconds) { return unix_seconds > 0 ? json(unix_seconds) : json(nullptr); }

}  // namespace

storage::new_event inbox_event_from_webhook(const tikapi::webhook_event& w, std::string_view raw_body,
                                            std::int64_t now, std::span<const unsigned char> key) {
    storage::new_event e;
    e.dedupe_key = !w.notification_id.empty()
                       ? "tts:" + w.notification_id
                       : "h:" + storage::idempotency_hash(key, std::to_string(w.type) + "\x1f" + w.data.dump());
    e.source = "webhook";
    e.topic = w.type;
    e.event = std::string(event_for_topic(w.type));
    e.order_id = string_field(w.data, "order_id");
    e.payload = std::string(raw_body);
    e.received_at = now;
    e.change_key = change_key_of(w.type, w.data);
    return e;
}

std::vector<storage::new_event> inbox_events_from_webhook(const tikapi::webhook_event& w, std::string_view raw_body,
                                                          std::int64_t now, std::span<const unsigned char> key) {
    storage::new_event one = inbox_event_from_webhook(w, raw_body, now, key);
    if (w.type == 4) {
        auto rows = package_events_from_webhook(w, one.dedupe_key, now);
        if (!rows.empty()) return rows;
    }
    std::vector<storage::new_event> rows;
    rows.push_back(std::move(one));
    return rows;
}

std::string normalize_status(std::string_view status) {
    // The webhook page spells it CANCEL; the order object CANCELLED
    // (docs/tiktok-shop-api.md §5).
    if (status == "CANCEL") return "CANCELLED";
    return std::string(status);
}

std::string change_key_of(int type, const json& data) {
    if (type == 1) {
        std::string id = string_field(data, "order_id"), status = string_field(data, "order_status");
        if (!id.empty() && !status.empty()) return "order:" + id + ":" + normalize_status(status);
    }
    if (type == 14) {
        std::string id = string_field(data, "message_id");
        if (!id.empty()) return "msg:" + id;
    }
    // After-sales: one change per cancellation or return and status.
    if (type == 11) {
        std::string id = string_field(data, "cancel_id"), status = string_field(data, "cancel_status");
        if (!id.empty() && !status.empty()) return "cancel:" + id + ":" + tikapi::normalize_cancel_status(status);
    }
    if (type == 12) {
        std::string id = string_field(data, "return_id"), status = string_field(data, "return_status");
        if (!id.empty() && !status.empty()) return "return:" + id + ":" + status;
    }
    return {};
}

storage::new_event inbox_event_from_polled_order(const tikapi::order& o, std::int64_t now) {
    json data{{"order_id", o.id}, {"order_status", normalize_status(o.status)}, {"is_on_hold_order", o.is_on_hold},
              {"update_time", o.update_time}};
    storage::new_event e;
    e.change_key = change_key_of(1, data);
    e.dedupe_key = "poll:" + e.change_key;
    e.source = "poll";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = o.id;
    e.payload = json{{"type", 1}, {"source", "poll"}, {"data", std::move(data)}}.dump();
    e.received_at = now;
    return e;
}

storage::new_event inbox_event_from_polled_message(const tikapi::cs_message& m, const std::string& conversation_id,
                                                   std::int64_t now) {
    json data{{"message_id", m.id},
              {"conversation_id", conversation_id},
              {"type", m.type},
              {"content", m.content},
              {"create_time", m.create_time},
              {"index", std::to_string(m.index)},
              {"is_visible", m.is_visible},
              {"sender", {{"role", m.sender_role}, {"im_user_id", m.sender_im_user_id}}}};
    storage::new_event e;
    e.change_key = change_key_of(14, data);
    e.dedupe_key = "poll:" + e.change_key;
    e.source = "poll";
    e.topic = 14;
    e.event = "message.received";
    e.payload = json{{"type", 14}, {"source", "poll"}, {"data", std::move(data)}}.dump();
    e.received_at = now;
    return e;
}

// After-sales changes the poller found: shaped like their webhooks (types
// 11 and 12, docs/tiktok-shop-api.md §5), so rules see the same event.* fields.
namespace {

storage::new_event polled_event(int type, const char* event, std::string order_id, json data, std::int64_t now) {
    storage::new_event e;
    e.change_key = change_key_of(type, data);
    e.dedupe_key = "poll:" + e.change_key;
    e.source = "poll";
    e.topic = type;
    e.event = event;
    e.order_id = std::move(order_id);
    e.payload = json{{"type", type}, {"source", "poll"}, {"data", std::move(data)}}.dump();
    e.received_at = now;
    return e;
}

}  // namespace

storage::new_event inbox_event_from_polled_cancellation(const tikapi::cancellation& c, std::int64_t now) {
    json data{{"order_id", c.order_id},    {"cancellations_role", c.role}, {"cancel_status", c.status},
              {"cancel_id", c.id},         {"create_time", c.create_time}, {"update_time", c.update_time}};
    return polled_event(11, "order.cancellation_changed", c.order_id, std::move(data), now);
}

storage::new_event inbox_event_from_polled_return(const tikapi::return_order& r, std::int64_t now) {
    json data{{"order_id", r.order_id}, {"return_id", r.id},          {"return_role", r.role},
              {"return_type", r.type},  {"return_status", r.status},  {"create_time", r.create_time},
              {"update_time", r.update_time}};
    return polled_event(12, "order.return_changed", r.order_id, std::move(data), now);
}

json order_view(const tikapi::order& o) {
    json items = json::array();
    std::map<std::string, int> counts;
    for (const auto& li : o.line_items) {
        items.push_back({{"id", li.id}, {"sku_id", li.sku_id}, {"product_id", li.product_id},
                         {"product_name", li.product_name}, {"sku_name", li.sku_name},
                         {"seller_sku", li.seller_sku}, {"sale_price", li.sale_price},
                         {"package_id", li.package_id}});
        // Line items carry no quantity: each one is a unit
        // (docs/tiktok-shop-api.md §6).
        ++counts[li.seller_sku.empty() ? li.sku_id : li.seller_sku];
    }
    json sku_counts = json::object();
    for (auto& [sku, n] : counts) sku_counts[sku] = n;
    json packages = packages_view(o);
    const int package_count = static_cast<int>(packages.size());
    return json{{"id", o.id},
                {"status", o.status},
                {"user_id", o.user_id},
                {"buyer_name", o.recipient_name},
                {"buyer_message", o.buyer_message},
                {"seller_note", o.seller_note},
                {"create_time", o.create_time},
                {"update_time", o.update_time},
                // Missing until paid (TikTok gives 0): exists: false holds,
                // and a date filter refuses rather than render 1970.
                {"paid_time", deadline(o.paid_time)},
                {"is_on_hold", o.is_on_hold},
                {"shipping_type", o.shipping_type},
                {"delivery_option_name", o.delivery_option_name},
                {"tracking_number", o.tracking_number},
                {"shipping_provider", o.shipping_provider},
                {"currency", o.currency},
                {"total_amount", o.total_amount},
                {"item_count", static_cast<int>(o.line_items.size())},
                {"line_items", std::move(items)},
                {"sku_counts", std::move(sku_counts)},
                {"tags", json::array()},
                // TikTok's deadlines: null when TikTok gave none, so a
                // schedule "at" one of them fails visibly instead of firing at 1970.
                {"rts_sla_time", deadline(o.rts_sla_time)},
                {"tts_sla_time", deadline(o.tts_sla_time)},
                {"shipping_due_time", deadline(o.shipping_due_time)},
                {"collection_due_time", deadline(o.collection_due_time)},
                {"delivery_due_time", deadline(o.delivery_due_time)},
                // after-sales (Get Order Detail)
                {"is_buyer_request_cancel", o.is_buyer_request_cancel},
                {"cancel_reason", o.cancel_reason},
                {"cancellation_initiator", o.cancellation_initiator},
                // Packages (daemon/packages.hpp): split and combined shipments.
                {"packages", std::move(packages)},
                {"package_count", package_count}};
}

json message_view(const json& data) {
    if (!data.is_object() || !data.contains("message_id")) return nullptr;
    std::string text, card_order;
    std::string content = string_field(data, "content");
    // `content` is itself a JSON string such as {"content":"hello"} (§5);
    // one nested deeper than the limit is unreadable, like invalid JSON.
    // An ORDER_CARD's names its order: {"order_id":"..."} (docs/tiktok-shop-api.md).
    auto parsed = parse_untrusted_json(content);
    if (const auto* inner = std::get_if<json>(&parsed); inner != nullptr && inner->is_object()) {
        if (auto it = inner->find("content"); it != inner->end() && it->is_string()) text = it->get<std::string>();
        if (string_field(data, "type") == "ORDER_CARD") card_order = string_field(*inner, "order_id");
    }
    std::string role;
    if (auto it = data.find("sender"); it != data.end() && it->is_object()) role = string_field(*it, "role");
    std::int64_t created = 0;
    if (auto it = data.find("create_time"); it != data.end() && it->is_number_integer()) created = it->get<std::int64_t>();
    json view{{"id", string_field(data, "message_id")},
              {"text", text},
              {"type", string_field(data, "type")},
              {"sender_role", role},
              {"conversation_id", string_field(data, "conversation_id")},
              {"create_time", created}};
    if (!card_order.empty()) view["order_id"] = card_order;
    return view;
}

bool needs_order(std::string_view event) {
    return event == "order.status_changed" || event == "order.address_changed" || event == "tracking.received" ||
           event == "order.cancellation_changed" || event == "order.return_changed" || event.rfind("timer.", 0) == 0 ||
           event == "package.updated";
}

nlohmann::json context_json(const rules::context& ctx) {
    return {{"order", ctx.order},           {"previous_order", ctx.previous_order}, {"message", ctx.message},
            {"conversation", ctx.conversation},
            {"event_data", ctx.event_data}, {"now", ctx.now},                       {"utc_offset", ctx.utc_offset},
            {"locale", ctx.default_locale}};
}

rules::context context_from_json(const nlohmann::json& c, const storage::event_row& e, const std::string& default_locale) {
    using json = nlohmann::json;
    rules::context ctx;
    ctx.event = e.event;
    ctx.event_id = e.dedupe_key;
    ctx.now = c.value("now", e.finished_at);
    ctx.utc_offset = c.value("utc_offset", std::int64_t{0});
    ctx.default_locale = c.value("locale", default_locale);
    ctx.order = c.value("order", json());
    ctx.previous_order = c.value("previous_order", json());
    ctx.message = c.value("message", json());
    ctx.conversation = c.value("conversation", json());
    ctx.event_data = c.value("event_data", json::object());
    return ctx;
}

}  // namespace orderflow::daemon
