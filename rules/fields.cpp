// The field catalogue and event list, and the "did you mean" helper used by
// every load error that names something unknown.
#include "rules/fields.hpp"

#include <algorithm>

namespace orderflow::rules {

namespace {

constexpr std::string_view sku_count_prefix = "order.sku_counts.";
constexpr std::string_view attribute_prefix = "order.attributes.";

bool has_prefix(std::string_view path, std::string_view prefix) {
    return path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string_view type_name(field_type type) {
    switch (type) {
        case field_type::string: return "string";
        case field_type::number: return "number";
        case field_type::boolean: return "boolean";
        case field_type::timestamp: return "timestamp";
        case field_type::string_list: return "list of strings";
        case field_type::object_list: return "list of objects";
        case field_type::count_map: return "map of counts";
    }
    return "value";
}

const std::vector<field_info>& field_catalogue() {
    using t = field_type;
    static const std::vector<field_info> fields = {
        {"order.id", t::string, "the order id"},
        {"order.status", t::string, "order status, e.g. AWAITING_SHIPMENT"},
        {"order.user_id", t::string, "the buyer's user id"},
        {"order.buyer_name", t::string, "the buyer's name as shown to the seller"},
        {"order.buyer_message", t::string, "the note the buyer left on the order"},
        {"order.seller_note", t::string, "the seller's private note"},
        {"order.create_time", t::timestamp, "when the order was placed"},
        {"order.update_time", t::timestamp, "when the order last changed"},
        {"order.paid_time", t::timestamp, "when the order was paid"},
        {"order.is_on_hold", t::boolean, "true during the buyer's remorse window"},
        {"order.shipping_type", t::string, "TIKTOK or SELLER"},
        {"order.delivery_option_name", t::string, "the delivery option the buyer chose"},
        {"order.tracking_number", t::string, "tracking number, once shipped"},
        {"order.shipping_provider", t::string, "carrier name, once shipped"},
        {"order.currency", t::string, "currency code, e.g. JPY"},
        {"order.total_amount", t::number, "total the buyer paid"},
        {"order.item_count", t::number, "number of line items (units)"},
        {"order.line_items", t::object_list, "one element per unit; fields below"},
        {"order.sku_counts", t::count_map, "seller_sku -> number of units"},
        {"order.sku_counts.<SKU>", t::number, "units of one seller SKU"},
        {"order.tags", t::string_list, "tags set on the order"},
        // What the buyer answered in chat, kept by a rule's capture action.
        {"order.attributes.<NAME>", t::string, "a buyer's answer a rule captured for the order, e.g. order.attributes.engraving"},
        // TikTok's deadlines for the order (docs/tiktok-shop-api.md, "Order object"); schedule's "at" counts from them.
        {"order.rts_sla_time", t::timestamp, "ready-to-ship deadline: the package must be shipped by then"},
        {"order.tts_sla_time", t::timestamp, "TikTok's own ship-by deadline (TikTok-shipped orders), a little after rts_sla_time"},
        {"order.shipping_due_time", t::timestamp, "when the order is due to be shipped"},
        {"order.collection_due_time", t::timestamp, "when the carrier is due to have collected the package"},
        {"order.delivery_due_time", t::timestamp, "when the order is due to be delivered"},
        {"event.type", t::number, "webhook topic number (1 = order status change)"},
        {"event.order_status", t::string, "order status carried by the webhook"},
        {"event.update_time", t::timestamp, "update time carried by the event"},
        {"event.source", t::string, "where the event came from: webhook, poll, ..."},
        {"event.package_id", t::string, "package the event is about (package.updated, tracking.received)"},
        {"event.carrier", t::string, "carrier name from the tracking feed (tracking.received), e.g. ヤマト運輸"},
        {"event.tracking_number", t::string, "tracking number from the tracking feed (tracking.received)"},
        // after-sales: cancellations and returns (order.cancellation_changed, order.return_changed)
        {"order.is_buyer_request_cancel", t::boolean, "true while the buyer's cancellation request waits for an answer"},
        {"order.cancel_reason", t::string, "why the order was cancelled"},
        {"order.cancellation_initiator", t::string, "who cancelled the order: BUYER, SELLER or SYSTEM"},
        {"event.cancel_id", t::string, "the cancellation the event is about (order.cancellation_changed)"},
        {"event.cancel_status", t::string, "CANCELLATION_REQUEST_PENDING, _SUCCESS, _CANCELLED or _COMPLETE"},
        {"event.cancellations_role", t::string, "who asked to cancel: BUYER, SELLER or SYSTEM"},
        {"event.return_id", t::string, "the return the event is about (order.return_changed)"},
        {"event.return_type", t::string, "REFUND, RETURN_AND_REFUND or REPLACEMENT"},
        {"event.return_status", t::string, "e.g. RETURN_OR_REFUND_REQUEST_PENDING, AWAITING_BUYER_SHIP"},
        {"event.return_role", t::string, "who started the return: BUYER, SELLER, OPERATOR or SYSTEM"},
        {"event.create_time", t::timestamp, "when the cancellation or return was created"},
        {"message.id", t::string, "the incoming buyer message id"},
        {"message.text", t::string, "the message text"},
        {"message.type", t::string, "TEXT, IMAGE, ..."},
        {"message.sender_role", t::string, "BUYER, SHOP, ..."},
        {"message.conversation_id", t::string, "the conversation the message belongs to"},
        {"message.create_time", t::timestamp, "when the message was sent"},
        {"message.order_id", t::string, "the order an ORDER_CARD message names (the buyer pointed at it)"},
        // Buyer messages and their order (docs/rules.md, "Buyer messages and their order").
        {"conversation.id", t::string, "the conversation of the buyer message"},
        {"conversation.buyer_user_id", t::string, "the buyer of the conversation (the order's user_id), if known"},
        {"conversation.order_link", t::string, "how order.* was chosen: order_card, only_open_order, ambiguous, no_open_order, unknown_buyer"},
        {"conversation.orders", t::string_list, "the buyer's open orders, newest first: the candidates"},
        {"conversation.order_count", t::number, "how many open orders the buyer has"},
        {"shop.name", t::string, "the shop's name"},
        // Packages: split and combined shipments (package.updated).
        {"order.packages", t::object_list, "one element per package the order ships in; fields below"},
        {"order.package_count", t::number, "number of packages the order ships in (2 or more once split)"},
        {"event.package_status", t::string, "status of the event's package: TO_FULFILL, PROCESSING, FULFILLING, COMPLETED, CANCELLED (package.updated)"},
        {"event.sc_type", t::string, "what happened to the package: SPLIT, COMBINE, CANCEL_SPLIT, ... (package.updated)"},
        {"event.role_type", t::string, "who changed the package: ROLE_USER, ROLE_SELLER, ROLE_OPERATOR, ROLE_SYSTEM (package.updated)"},
        {"event.package_orders", t::string_list, "the orders in the event's package: several for a combined package (package.updated)"},
    };
    return fields;
}

const std::vector<field_info>& element_fields(std::string_view list) {
    using t = field_type;
    static const std::vector<field_info> line_items = {
        {"id", t::string, "line item id"},
        {"sku_id", t::string, "TikTok SKU id"},
        {"product_id", t::string, "TikTok product id"},
        {"product_name", t::string, "product name"},
        {"sku_name", t::string, "variant name"},
        {"seller_sku", t::string, "the seller's own SKU code"},
        {"sale_price", t::number, "price paid for this unit"},
        {"package_id", t::string, "package the unit ships in"},
    };
    // Packages: split and combined shipments.
    static const std::vector<field_info> packages = {
        {"id", t::string, "package id"},
        {"status", t::string, "TO_FULFILL, PROCESSING, FULFILLING, COMPLETED or CANCELLED"},
        {"tracking_number", t::string, "tracking number, once the package shipped"},
        {"shipping_provider", t::string, "carrier name, once the package shipped"},
    };
    static const std::vector<field_info> none;
    if (list == "order.packages") return packages;
    return list == "order.line_items" ? line_items : none;
}

bool is_entry_pattern(std::string_view path) { return path.ends_with(">"); }

std::optional<field_info> find_field(std::string_view path) {
    const auto& fields = field_catalogue();
    // The per-entry paths: the rest of the path is one key (a SKU, an attribute name).
    for (auto [prefix, entry] : {std::pair{sku_count_prefix, std::string_view("order.sku_counts.<SKU>")},
                                 std::pair{attribute_prefix, std::string_view("order.attributes.<NAME>")}}) {
        if (!has_prefix(path, prefix)) continue;
        for (const auto& f : fields)
            if (f.path == entry) return f;
    }
    for (const auto& f : fields) {
        if (f.path == path && !is_entry_pattern(f.path)) return f;
    }
    return std::nullopt;
}

std::optional<field_info> find_element_field(std::string_view list, std::string_view name) {
    for (const auto& f : element_fields(list)) {
        if (f.path == name) return f;
    }
    return std::nullopt;
}

namespace {

// docs/tiktok-shop-api.md §7: "an order's status is one of these strings".
const std::vector<std::string_view> order_statuses = {
    "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION",
    "IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED",
};
// A package's status as rules see it is its line items' package_status
// (daemon/packages.cpp), which TikTok documents with TO_FULFILL besides the
// package statuses of Get Package Detail (docs/tiktok-shop-api.md §6).
const std::vector<std::string_view> package_statuses = {"TO_FULFILL", "PROCESSING", "FULFILLING", "COMPLETED", "CANCELLED"};
const std::vector<std::string_view> initiators = {"BUYER", "SELLER", "SYSTEM"};
const std::vector<std::string_view> no_values;

}  // namespace

const std::vector<std::string_view>& closed_values(std::string_view path) {
    static const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> sets = {
        {"order.status", order_statuses},
        // Normalized by the daemon: a webhook's CANCEL is given as CANCELLED.
        {"event.order_status", order_statuses},
        {"order.shipping_type", {"TIKTOK", "SELLER"}},
        {"order.cancellation_initiator", initiators},
        // The topics that reach the rules (daemon/events.cpp), and 0 for the
        // events that come from no webhook: timers and the tracking feed.
        {"event.type", {"0", "1", "3", "4", "6", "7", "11", "12", "13", "14"}},
        {"event.source", {"webhook", "poll", "tracking_feed", "timer"}},
        // Normalized by tikapi: the search filter's CANCELLATION_REQUEST_CANCEL is _CANCELLED.
        {"event.cancel_status", {"CANCELLATION_REQUEST_PENDING", "CANCELLATION_REQUEST_SUCCESS",
                                 "CANCELLATION_REQUEST_CANCELLED", "CANCELLATION_REQUEST_COMPLETE"}},
        {"event.cancellations_role", initiators},
        {"event.return_type", {"REFUND", "RETURN_AND_REFUND", "REPLACEMENT"}},
        {"event.return_status", {"RETURN_OR_REFUND_REQUEST_PENDING", "REFUND_OR_RETURN_REQUEST_REJECT", "AWAITING_BUYER_SHIP",
                                 "BUYER_SHIPPED_ITEM", "REJECT_RECEIVE_PACKAGE", "RETURN_OR_REFUND_REQUEST_SUCCESS",
                                 "RETURN_OR_REFUND_REQUEST_CANCEL", "RETURN_OR_REFUND_REQUEST_COMPLETE",
                                 "REPLACEMENT_REQUEST_PENDING", "REPLACEMENT_REQUEST_REJECT", "REPLACEMENT_REQUEST_REFUND_SUCCESS",
                                 "REPLACEMENT_REQUEST_CANCEL", "REPLACEMENT_REQUEST_COMPLETE", "AWAITING_BUYER_RESPONSE"}},
        {"event.return_role", {"BUYER", "SELLER", "OPERATOR", "SYSTEM"}},
        {"message.type", {"TEXT", "IMAGE", "VIDEO", "EMOTICONS", "PRODUCT_CARD", "ORDER_CARD", "COUPON_CARD",
                          "ALLOCATED_SERVICE", "NOTIFICATION", "BUYER_ENTER_FROM_TRANSFER", "BUYER_ENTER_FROM_PRODUCT",
                          "BUYER_ENTER_FROM_ORDER", "OTHER"}},
        {"message.sender_role", {"BUYER", "SHOP", "CUSTOMER_SERVICE", "SYSTEM", "ROBOT"}},
        // daemon/conversation_linker.cpp and daemon/pipeline.cpp.
        {"conversation.order_link", {"order_card", "only_open_order", "ambiguous", "no_open_order", "unknown_buyer",
                                     "order_unavailable"}},
        {"event.package_status", package_statuses},
        {"event.sc_type", {"SPLIT", "COMBINE", "CANCEL_SPLIT", "CANCEL_COMBINE", "ADDRESS_UPDATE_SPLIT", "CANCEL_FULFILL_SPLIT",
                           "FULFILL_UNCOMBINE", "PARTLY_CANCEL_SPLIT", "SPLIT_BY_SKU_CANCEL"}},
        {"event.role_type", {"ROLE_USER", "ROLE_SELLER", "ROLE_OPERATOR", "ROLE_SYSTEM"}},
    };
    for (const auto& [field, values] : sets)
        if (field == path) return values;
    return no_values;
}

const std::vector<std::string_view>& closed_element_values(std::string_view list, std::string_view name) {
    if (list == "order.packages" && name == "status") return package_statuses;
    return no_values;
}

const std::vector<std::string_view>& known_events() {
    static const std::vector<std::string_view> events = {
        "order.status_changed",
        "order.address_changed",
        "order.cancellation_changed",
        "order.return_changed",
        "package.updated",
        "message.received",
        "conversation.created",
        "tracking.received",
        "shop.deauthorized",
        "shop.authorization_expiring",
    };
    return events;
}

bool is_identifier(std::string_view text) {
    if (text.empty()) return false;
    auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_or_digit(text[0])) return false;
    return std::all_of(text.begin() + 1, text.end(),
                       [&](char c) { return lower_or_digit(c) || c == '.' || c == '_' || c == '-'; });
}

bool is_known_event(std::string_view event) {
    const auto& events = known_events();
    if (std::find(events.begin(), events.end(), event) != events.end()) return true;
    constexpr std::string_view timer = "timer.";
    return event.size() > timer.size() && event.substr(0, timer.size()) == timer && is_identifier(event.substr(timer.size()));
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string_view last_segment(std::string_view path) {
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

}  // namespace

std::vector<std::string> close_matches(std::string_view word, const std::vector<std::string_view>& candidates,
                                       std::size_t limit) {
    std::vector<std::pair<std::size_t, std::string_view>> scored;
    // Generous enough for a typo or two, strict enough not to list everything.
    std::size_t threshold = std::max<std::size_t>(2, word.size() / 4);
    for (auto c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (d > threshold && last_segment(c) == last_segment(word)) d = threshold;  // "buyer_name" under another root
        if (d <= threshold) scored.emplace_back(d, c);
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> out;
    for (const auto& [d, c] : scored) {
        if (out.size() == limit || d > scored.front().first + 1) break;
        out.emplace_back(c);
    }
    return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
    auto matches = close_matches(word, candidates);
    if (matches.empty()) return {};
    std::string out = "did you mean ";
    for (std::size_t i = 0; i < matches.size(); ++i) {
        if (i > 0) out += i + 1 == matches.size() ? " or " : ", ";
        out += matches[i];
    }
    out += '?';
    return out;
}

}  // namespace orderflow::rules
