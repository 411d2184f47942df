// The fulfillment and logistics paths of the simulated shop
// (docs/tiktok-shop-api.md §6): shipping providers per delivery option, Ship
// Package and Mark Package As Shipped, Update (Package) Shipping Info with its
// 72-hour window and update limit, Package Detail, Search Packages and order
// tracking, with the endpoint error codes of the reference pages
// (docs/tiktok-shop-api.md §4 "Endpoint-specific codes";
// lazykern/ecommerce-api-docs fulfillment/*.spec.json).
//
// Each order has exactly one package (no split or combine). Shipping is
// allowed only in AWAITING_SHIPMENT: the order then moves to
// AWAITING_COLLECTION, its package to FULFILLING, and type 1 and type 4
// webhooks go out.
#include "tikapi/sandbox/shop.hpp"

#include "tikapi/sandbox/detail/params.hpp"

#include <algorithm>

namespace orderflow::sandbox {

using nlohmann::json;
using detail::body_object;
using detail::string_field;

namespace {

constexpr std::int64_t bad_request = 36009004;
constexpr std::int64_t body_not_json = 36009022;
constexpr std::int64_t not_found = 21008111;             // "does not belong to the current seller"
constexpr std::int64_t fulfilled_by_tiktok = 21008117;   // Get Shipping Providers
constexpr std::int64_t platform_order = 21008025;        // "Seller cannot operate orders which are fulfilled by platform"
constexpr std::int64_t already_shipped = 11006021;       // Ship Package
constexpr std::int64_t already_shipped_mark = 21008099;  // Mark Package As Shipped
constexpr std::int64_t no_carrier_match = 11028006;
constexpr std::int64_t invalid_tracking = 21011022;
constexpr std::int64_t delivered_already = 21011030;
constexpr std::int64_t cancelled_order = 21011041;
constexpr std::int64_t cancelled_package = 21011042;
constexpr std::int64_t not_shipped = 21011043;
constexpr std::int64_t on_hold = 21011044;
constexpr std::int64_t window_passed = 21011049;
constexpr std::int64_t update_limit = 21011050;

constexpr std::int64_t update_window = 72 * 3600;   // "only … within 72 hours after shipping"
constexpr int max_updates = 5;

struct provider {
    std::string_view id, name;
};
constexpr provider carriers[] = {
    {"7129736402373338881", "Yamato Transport"},
    {"7129736402373338882", "Sagawa Express"},
    {"7129736402373338883", "Japan Post"},
    {"7129736402373338884", "Seino Transportation"},
};

struct delivery_option {
    std::string_view id, name;
    bool seller_shipped;
    std::size_t carrier_count;   // the first N carriers
};
constexpr delivery_option delivery_options[] = {
    {"7208502187360519982", "Standard shipping", true, 4},
    {"7208502187360519983", "Express shipping", true, 2},
    {"7208502187360519984", "Shipped by TikTok", false, 0},
};

const delivery_option* find_option(std::string_view id) {
    for (const auto& o : delivery_options)
        if (o.id == id) return &o;
    return nullptr;
}

const provider* find_provider(const delivery_option& option, std::string_view id) {
    for (std::size_t i = 0; i < option.carrier_count; ++i)
        if (carriers[i].id == id) return &carriers[i];
    return nullptr;
}

// What a carrier could have issued: up to 40 letters, digits or hyphens.
// (No minimum: tests use short numbers such as "7001".)
bool plausible_tracking_number(std::string_view s) {
    if (s.empty() || s.size() > 40) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
    });
}

}  // namespace

shop::api_reply shop::shipping_providers(api_context&, const std::string& delivery_option_id) {
    const delivery_option* option = find_option(delivery_option_id);
    if (!option) return fail(404, bad_request, "delivery_option_id is invalid");
    if (!option->seller_shipped)
        return fail(200, fulfilled_by_tiktok,
                    "The delivery option is fulfilled by TikTok Shop, so it has no shipping providers");
    json list = json::array();
    for (std::size_t i = 0; i < option->carrier_count; ++i)
        list.push_back({{"id", carriers[i].id}, {"name", carriers[i].name}});
    api_reply reply;
    reply.data = {{"shipping_providers", std::move(list)}};
    return reply;
}

// The checks of Ship Package in order: platform-fulfilled, cancelled,
// shipped, not yet shippable (UNPAID / ON_HOLD), then the body.
std::optional<shop::api_reply> shop::ship(order& o, const std::string& tracking_number,
                                          const std::string& provider_id, const std::string& handover_method,
                                          std::int64_t already_shipped_code) {
    const delivery_option* option = find_option(o.delivery_option_id);
    if (!option || !option->seller_shipped)
        return fail(200, platform_order, "Seller cannot operate orders which are fulfilled by platform");
    if (o.status == "CANCELLED") return fail(200, cancelled_order, "Cannot complete the operation when order is cancelled.");
    if (o.shipped() || (o.status != "AWAITING_SHIPMENT" && o.status != "UNPAID" && o.status != "ON_HOLD"))
        return fail(200, already_shipped_code, "Package has been shipped. Please not ship the package again.");
    if (o.status == "ON_HOLD")
        return fail(200, on_hold, "The order is on hold (the buyer may still cancel it); it cannot be shipped yet");
    if (o.status == "UNPAID") return fail(200, on_hold, "The order is not paid yet; it cannot be shipped");
    const provider* carrier = find_provider(*option, provider_id);
    if (tracking_number.empty() || !carrier)
        return fail(200, invalid_tracking, "Invalid tracking number or provider ID. Please double check and try again.");
    if (!plausible_tracking_number(tracking_number))
        return fail(200, no_carrier_match,
                    "This tracking number cannot be matched to any carrier, please check the tracking number and "
                    "upload again.");
    if (!handover_method.empty() && handover_method != "PICKUP" && handover_method != "DROP_OFF")
        return fail(400, bad_request, "handover_method must be PICKUP or DROP_OFF");

    o.tracking_number = tracking_number;
    o.shipping_provider_id = std::string(carrier->id);
    o.shipping_provider_name = std::string(carrier->name);
    o.handover_method = handover_method.empty() ? "DROP_OFF" : handover_method;
    o.rts_time = now();
    add_tracking(o, "The seller has shipped the package with " + o.shipping_provider_name + " (" + tracking_number + ")");
    change_status(o, "AWAITING_COLLECTION");
    emit_package_update(o);
    return std::nullopt;
}

shop::api_reply shop::ship_package(api_context& ctx, const std::string& package_id) {
    order* o = find_package(package_id);
    if (!o) return fail(404, not_found, "The order or package does not belong to the current seller");
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    std::string tracking, provider_id;
    if (auto self = body->find("self_shipment"); self != body->end() && self->is_object()) {
        tracking = string_field(*self, "tracking_number").value_or("");
        provider_id = string_field(*self, "shipping_provider_id").value_or("");
    }
    if (auto refused = ship(*o, tracking, provider_id, string_field(*body, "handover_method").value_or(""),
                            already_shipped))
        return std::move(*refused);
    return api_reply{};
}

shop::api_reply shop::mark_shipped(api_context& ctx, const std::string& order_id) {
    auto it = order_index_.find(order_id);
    if (it == order_index_.end()) return fail(404, not_found, "The order or package does not belong to the current seller");
    order& o = orders_[it->second];
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    if (auto ids = body->find("order_line_item_ids"); ids != body->end()) {
        // One package per order: naming a subset would split it, which the sandbox does not do.
        if (!ids->is_array()) return fail(400, bad_request, "order_line_item_ids must be an array");
        if (!ids->empty() && ids->size() != o.line_items.size())
            return fail(400, bad_request, "the sandbox ships whole orders only: list every line item or none");
    }
    if (auto refused = ship(o, string_field(*body, "tracking_number").value_or(""),
                            string_field(*body, "shipping_provider_id").value_or(""), "", already_shipped_mark))
        return std::move(*refused);
    json items = json::array();
    for (const auto& li : o.line_items) items.push_back(li.id);
    api_reply reply;
    reply.data = {{"order_id", o.id}, {"order_line_item_ids", std::move(items)}, {"package_id", o.package_id},
                  {"warning", {{"message", ""}}}};
    return reply;
}

shop::api_reply shop::update_shipping_info(api_context& ctx, const std::string& id, bool by_package) {
    order* o = nullptr;
    if (by_package) {
        o = find_package(id);
    } else if (auto it = order_index_.find(id); it != order_index_.end()) {
        o = &orders_[it->second];
    }
    if (!o) return fail(404, not_found, "The order or package does not belong to the current seller");
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    if (o->status == "CANCELLED")
        return fail(200, by_package ? cancelled_package : cancelled_order,
                    "Cannot complete the operation when order is cancelled.");
    if (!o->shipped()) return fail(200, not_shipped, "The package has not been shipped yet.");
    if (o->status == "DELIVERED" || o->status == "COMPLETED")
        return fail(200, delivered_already,
                    "Package has already been delivered. If you would still like to update the tracking number, "
                    "please contact the platform for assistance.");
    if (now() > o->rts_time + update_window)
        return fail(200, window_passed, "Due to platform rule limitations, you are unable to update the tracking number.");
    if (o->shipping_info_updates >= max_updates)
        return fail(200, update_limit, "The tracking number can only be updated a limited number of times.");
    const std::string tracking = string_field(*body, "tracking_number").value_or("");
    const std::string provider_id = string_field(*body, "shipping_provider_id").value_or("");
    const delivery_option* option = find_option(o->delivery_option_id);
    const provider* carrier = option ? find_provider(*option, provider_id) : nullptr;
    if (tracking.empty() || !carrier || !plausible_tracking_number(tracking))
        return fail(200, invalid_tracking, "Invalid tracking number or provider ID. Please double check and try again.");
    o->tracking_number = tracking;
    o->shipping_provider_id = std::string(carrier->id);
    o->shipping_provider_name = std::string(carrier->name);
    ++o->shipping_info_updates;
    o->update_time = o->package_update_time = now();
    add_tracking(*o, "The seller has updated the shipping information: " + o->shipping_provider_name + " (" +
                         tracking + ")");
    return api_reply{};
}

json shop::package_summary_json(const order& o) const {
    json skus = json::array();
    json item_ids = json::array();
    for (const auto& li : o.line_items) item_ids.push_back(li.id);
    // Deprecated upstream, still returned: one entry per SKU with its count.
    std::map<std::string, std::pair<const line_item*, int>> per_sku;
    for (const auto& li : o.line_items) {
        auto& [first, count] = per_sku[li.sku_id];
        if (!first) first = &li;
        ++count;
    }
    for (const auto& [sku_id, entry] : per_sku)
        skus.push_back({{"id", sku_id},
                        {"name", entry.first->sku_name},
                        {"image_url", "https://p16-oec-va.ibyteimg.com/sandbox/" + sku_id + ".jpg"},
                        {"quantity", entry.second}});
    return {{"id", o.package_id},
            {"orders", json::array({{{"id", o.id}, {"skus", std::move(skus)}}})},
            {"create_time", o.package_create_time},
            {"update_time", o.package_update_time},
            {"status", package_status(o)},
            {"tracking_number", o.tracking_number},
            {"shipping_provider_name", o.shipping_provider_name},
            {"shipping_provider_id", o.shipping_provider_id},
            {"order_line_item_ids", std::move(item_ids)}};
}

json shop::package_json(const order& o) const {
    json summary = package_summary_json(o);
    std::set<std::string> skus;
    for (const auto& li : o.line_items) skus.insert(li.sku_id);
    json j = {{"package_id", o.package_id},
              {"orders", summary["orders"]},
              {"package_status", package_status(o)},
              {"split_and_combine_tag", "DEFAULT"},
              {"has_multi_skus", skus.size() > 1},
              {"note_tag", o.buyer_message.empty() ? "BUYER_UNNOTED" : "BUYER_NOTED"},
              {"shipping_provider_name", o.shipping_provider_name},
              {"shipping_provider_id", o.shipping_provider_id},
              {"shipping_type", "SELLER"},
              {"delivery_option_id", o.delivery_option_id},
              {"tracking_number", o.tracking_number},
              {"last_mile_tracking_number", ""},
              {"create_time", o.package_create_time},
              {"update_time", o.package_update_time},
              {"handover_method", o.handover_method},
              {"order_line_item_ids", summary["order_line_item_ids"]},
              {"sender_address",
               {{"name", options_.shop_name},
                {"full_address", "東京都千代田区丸の内1-1-1 出荷センター"},
                {"postal_code", "100-0005"},
                {"region_code", "JP"},
                {"phone_number", "(+81)3*****000"}}},
              {"weight", {{"value", std::to_string(300 * o.line_items.size())}, {"unit", "GRAM"}}},
              {"dimension", {{"length", "25"}, {"width", "18"}, {"height", "6"}, {"unit", "CM"}}}};
    if (o.status != "UNPAID" && o.status != "ON_HOLD") j["recipient_address"] = address_json(o);
    return j;
}

shop::api_reply shop::package_detail(api_context&, const std::string& package_id) {
    const order* o = find_package(package_id);
    if (!o) return fail(404, not_found, "The order or package does not belong to the current seller");
    api_reply reply;
    reply.data = package_json(*o);
    return reply;
}

shop::api_reply shop::search_packages(api_context& ctx) {
    std::string error;
    auto p = detail::read_page(ctx.query, 50, error);
    if (!p) return fail(400, bad_request, error);
    const std::string sort_field = detail::query_value(ctx.query, "sort_field").value_or("create_time");
    const std::string sort_order = detail::query_value(ctx.query, "sort_order").value_or("DESC");
    if (sort_field != "create_time" && sort_field != "update_time" && sort_field != "order_pay_time")
        return fail(400, bad_request, "sort_field must be create_time, update_time or order_pay_time");
    if (sort_order != "ASC" && sort_order != "DESC") return fail(400, bad_request, "sort_order must be ASC or DESC");
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    const auto status = string_field(*body, "package_status");
    const auto create_ge = detail::int_field(*body, "create_time_ge"), create_lt = detail::int_field(*body, "create_time_lt");
    const auto update_ge = detail::int_field(*body, "update_time_ge"), update_lt = detail::int_field(*body, "update_time_lt");

    std::vector<const order*> hits;
    for (const auto& o : orders_) {
        if (!o.has_package()) continue;
        if (status && package_status(o) != *status) continue;
        if (create_ge && o.package_create_time < *create_ge) continue;
        if (create_lt && o.package_create_time >= *create_lt) continue;
        if (update_ge && o.package_update_time < *update_ge) continue;
        if (update_lt && o.package_update_time >= *update_lt) continue;
        hits.push_back(&o);
    }
    auto key = [&](const order* o) {
        if (sort_field == "update_time") return o->package_update_time;
        if (sort_field == "order_pay_time") return o->paid_time;
        return o->package_create_time;
    };
    const bool ascending = sort_order == "ASC";
    std::stable_sort(hits.begin(), hits.end(),
                     [&](const order* a, const order* b) { return ascending ? key(a) < key(b) : key(a) > key(b); });
    json packages = json::array();
    for (std::size_t i = p->offset; i < hits.size() && i < p->offset + p->size; ++i)
        packages.push_back(package_summary_json(*hits[i]));
    api_reply reply;
    reply.data = {{"packages", std::move(packages)},
                  {"total_count", hits.size()},
                  {"next_page_token", detail::next_token(*p, hits.size())}};
    return reply;
}

shop::api_reply shop::get_tracking(api_context&, const std::string& order_id) {
    auto it = order_index_.find(order_id);
    if (it == order_index_.end()) return fail(404, not_found, "The order or package does not belong to the current seller");
    const order& o = orders_[it->second];
    json events = json::array();
    for (auto e = o.tracking.rbegin(); e != o.tracking.rend(); ++e)   // newest first
        events.push_back({{"description", e->description}, {"update_time_millis", e->time_ms}});
    api_reply reply;
    reply.data = {{"tracking", std::move(events)}};
    return reply;
}

}  // namespace orderflow::sandbox
