// The fulfillment and logistics paths of the simulated shop
// (docs/tiktok-shop-api.md §6): shipping providers per delivery option, Ship
// Package and Mark Package As Shipped, Update (Package) Shipping Info with its
// 72-hour window and update limit, Package Detail, Search Packages and order
// tracking, with the endpoint error codes of the reference pages
// (docs/tiktok-shop-api.md §4 "Endpoint-specific codes";
// lazykern/ecommerce-api-docs fulfillment/*.spec.json).
//
// Shipping is per package (packages.cpp: an order ships in one package
// unless split or combined). It is allowed only in AWAITING_SHIPMENT or
// PARTIALLY_SHIPPING: the package moves to FULFILLING, the order to
// PARTIALLY_SHIPPING while others of its packages wait and to
// AWAITING_COLLECTION with its last, and type 1 and type 4 webhooks go out.
#include "tikapi/sandbox/shop.hpp"

#include "tikapi/sandbox/detail/params.hpp"

#include <algorithm>
#include <set>

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

// The line items of `o` in package `p`.
std::vector<std::string> items_in(const order& o, const package& p) {
    std::vector<std::string> ids;
    for (const auto& li : o.line_items)
        if (li.package_id == p.id) ids.push_back(li.id);
    return ids;
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
// shipped, not yet shippable (UNPAID / ON_HOLD), then the body. Every order
// in the package is checked (several when combined). Shipping the last
// unshipped package of an order moves it to AWAITING_COLLECTION; an earlier
// one to PARTIALLY_SHIPPING (§7).
std::optional<shop::api_reply> shop::ship(package& p, const std::string& tracking_number,
                                          const std::string& provider_id, const std::string& handover_method,
                                          std::int64_t already_shipped_code) {
    const order& first = first_order(p);
    const delivery_option* option = find_option(first.delivery_option_id);
    if (!option || !option->seller_shipped)
        return fail(200, platform_order, "Seller cannot operate orders which are fulfilled by platform");
    for (const auto& id : p.order_ids) {
        const order& o = orders_[order_index_.at(id)];
        if (o.status == "CANCELLED") return fail(200, cancelled_order, "Cannot complete the operation when order is cancelled.");
        if (p.rts_time != 0 || o.shipped() ||
            (o.status != "AWAITING_SHIPMENT" && o.status != "PARTIALLY_SHIPPING" && o.status != "UNPAID" && o.status != "ON_HOLD"))
            return fail(200, already_shipped_code, "Package has been shipped. Please not ship the package again.");
        if (o.status == "ON_HOLD")
            return fail(200, on_hold, "The order is on hold (the buyer may still cancel it); it cannot be shipped yet");
        if (o.status == "UNPAID") return fail(200, on_hold, "The order is not paid yet; it cannot be shipped");
    }
    const provider* carrier = find_provider(*option, provider_id);
    if (tracking_number.empty() || !carrier)
        return fail(200, invalid_tracking, "Invalid tracking number or provider ID. Please double check and try again.");
    if (!plausible_tracking_number(tracking_number))
        return fail(200, no_carrier_match,
                    "This tracking number cannot be matched to any carrier, please check the tracking number and "
                    "upload again.");
    if (!handover_method.empty() && handover_method != "PICKUP" && handover_method != "DROP_OFF")
        return fail(400, bad_request, "handover_method must be PICKUP or DROP_OFF");

    p.tracking_number = tracking_number;
    p.shipping_provider_id = std::string(carrier->id);
    p.shipping_provider_name = std::string(carrier->name);
    p.handover_method = handover_method.empty() ? "DROP_OFF" : handover_method;
    p.rts_time = p.update_time = now();
    for (const auto& id : p.order_ids) {
        order& o = orders_[order_index_.at(id)];
        o.tracking_number = p.tracking_number;
        o.shipping_provider_id = p.shipping_provider_id;
        o.shipping_provider_name = p.shipping_provider_name;
        add_tracking(o, "The seller has shipped the package with " + o.shipping_provider_name + " (" + tracking_number + ")");
        const auto parts = packages_of(o);
        const bool all = std::all_of(parts.begin(), parts.end(), [](const package* q) { return q->rts_time != 0; });
        if (all) change_status(o, "AWAITING_COLLECTION");
        else if (o.status == "AWAITING_SHIPMENT") change_status(o, "PARTIALLY_SHIPPING");
        else o.update_time = now();
    }
    emit_packages({&p}, "", "ROLE_SELLER");
    return std::nullopt;
}

shop::api_reply shop::ship_package(api_context& ctx, const std::string& package_id) {
    package* p = find_package(package_id);
    if (!p) return fail(404, not_found, "The order or package does not belong to the current seller");
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    std::string tracking, provider_id;
    if (auto self = body->find("self_shipment"); self != body->end() && self->is_object()) {
        tracking = string_field(*self, "tracking_number").value_or("");
        provider_id = string_field(*self, "shipping_provider_id").value_or("");
    }
    if (auto refused = ship(*p, tracking, provider_id, string_field(*body, "handover_method").value_or(""),
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
    auto parts = packages_of(o);
    if (parts.empty()) return fail(200, on_hold, "The order is not paid yet; it cannot be shipped");
    package* target = parts.size() == 1 ? parts.front() : nullptr;
    if (auto ids = body->find("order_line_item_ids"); ids != body->end()) {
        // The sandbox ships whole packages: the ids must be one package's line items.
        if (!ids->is_array()) return fail(400, bad_request, "order_line_item_ids must be an array");
        std::set<std::string> named;
        for (const auto& id : *ids)
            if (id.is_string()) named.insert(id.get<std::string>());
        if (!ids->empty()) {
            target = nullptr;
            for (package* p : parts) {
                const auto in = items_in(o, *p);
                if (std::set<std::string>(in.begin(), in.end()) == named) target = p;
            }
            if (!target)
                return fail(400, bad_request, "the sandbox ships whole packages only: list every line item of one package or none");
        }
    }
    if (!target)
        return fail(400, bad_request, "the order ships in " + std::to_string(parts.size()) +
                                          " packages: name one package's order_line_item_ids, or use Ship Package");
    if (auto refused = ship(*target, string_field(*body, "tracking_number").value_or(""),
                            string_field(*body, "shipping_provider_id").value_or(""), "", already_shipped_mark))
        return std::move(*refused);
    api_reply reply;
    reply.data = {{"order_id", o.id}, {"order_line_item_ids", items_in(o, *target)}, {"package_id", target->id},
                  {"warning", {{"message", ""}}}};
    return reply;
}

shop::api_reply shop::update_shipping_info(api_context& ctx, const std::string& id, bool by_package) {
    package* p = nullptr;
    if (by_package) {
        p = find_package(id);
        if (!p) return fail(404, not_found, "The order or package does not belong to the current seller");
    } else {
        auto it = order_index_.find(id);
        if (it == order_index_.end()) return fail(404, not_found, "The order or package does not belong to the current seller");
        auto parts = packages_of(orders_[it->second]);
        if (parts.size() > 1)
            return fail(400, bad_request, "the order ships in " + std::to_string(parts.size()) +
                                              " packages; update each with Update Package Shipping Info");
        if (parts.empty()) return fail(200, not_shipped, "The package has not been shipped yet.");
        p = parts.front();   // an unpaid order's too: the checks below refuse it as before
    }
    auto body = body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    const order& o = first_order(*p);
    if (o.status == "CANCELLED")
        return fail(200, by_package ? cancelled_package : cancelled_order,
                    "Cannot complete the operation when order is cancelled.");
    if (!package_shipped(*p)) return fail(200, not_shipped, "The package has not been shipped yet.");
    if (o.status == "DELIVERED" || o.status == "COMPLETED")
        return fail(200, delivered_already,
                    "Package has already been delivered. If you would still like to update the tracking number, "
                    "please contact the platform for assistance.");
    if (now() > package_shipped_at(*p) + update_window)
        return fail(200, window_passed, "Due to platform rule limitations, you are unable to update the tracking number.");
    if (p->shipping_info_updates >= max_updates)
        return fail(200, update_limit, "The tracking number can only be updated a limited number of times.");
    const std::string tracking = string_field(*body, "tracking_number").value_or("");
    const std::string provider_id = string_field(*body, "shipping_provider_id").value_or("");
    const delivery_option* option = find_option(o.delivery_option_id);
    const provider* carrier = option ? find_provider(*option, provider_id) : nullptr;
    if (tracking.empty() || !carrier || !plausible_tracking_number(tracking))
        return fail(200, invalid_tracking, "Invalid tracking number or provider ID. Please double check and try again.");
    p->tracking_number = tracking;
    p->shipping_provider_id = std::string(carrier->id);
    p->shipping_provider_name = std::string(carrier->name);
    if (p->rts_time == 0) p->rts_time = package_shipped_at(*p);   // the info now belongs to the package
    ++p->shipping_info_updates;
    p->update_time = now();
    for (const auto& order_id : p->order_ids) {
        order& each = orders_[order_index_.at(order_id)];
        each.tracking_number = p->tracking_number;
        each.shipping_provider_id = p->shipping_provider_id;
        each.shipping_provider_name = p->shipping_provider_name;
        each.update_time = now();
        add_tracking(each, "The seller has updated the shipping information: " + each.shipping_provider_name + " (" +
                               tracking + ")");
    }
    return api_reply{};
}

json shop::package_summary_json(const package& p) const {
    json orders = json::array();
    json item_ids = json::array();
    for (const auto& order_id : p.order_ids) {
        const order& o = orders_[order_index_.at(order_id)];
        // Deprecated upstream, still returned: one entry per SKU with its count.
        std::map<std::string, std::pair<const line_item*, int>> per_sku;
        for (const auto& li : o.line_items) {
            if (li.package_id != p.id) continue;
            item_ids.push_back(li.id);
            auto& [first, count] = per_sku[li.sku_id];
            if (!first) first = &li;
            ++count;
        }
        json skus = json::array();
        for (const auto& [sku_id, entry] : per_sku)
            skus.push_back({{"id", sku_id},
                            {"name", entry.first->sku_name},
                            {"image_url", "https://p16-oec-va.ibyteimg.com/sandbox/" + sku_id + ".jpg"},
                            {"quantity", entry.second}});
        orders.push_back({{"id", o.id}, {"skus", std::move(skus)}});
    }
    const order& first = first_order(p);
    const bool shipped = package_shipped(p);
    return {{"id", p.id},
            {"orders", std::move(orders)},
            {"create_time", p.create_time},
            {"update_time", p.update_time},
            {"status", package_status(first, p)},
            {"tracking_number", p.rts_time != 0 ? p.tracking_number : shipped ? first.tracking_number : ""},
            {"shipping_provider_name", p.rts_time != 0 ? p.shipping_provider_name : shipped ? first.shipping_provider_name : ""},
            {"shipping_provider_id", p.rts_time != 0 ? p.shipping_provider_id : shipped ? first.shipping_provider_id : ""},
            {"order_line_item_ids", std::move(item_ids)}};
}

json shop::package_json(const package& p) const {
    json summary = package_summary_json(p);
    const order& first = first_order(p);
    std::set<std::string> skus;
    bool noted = false;
    for (const auto& order_id : p.order_ids) {
        const order& o = orders_[order_index_.at(order_id)];
        noted = noted || !o.buyer_message.empty();
        for (const auto& li : o.line_items)
            if (li.package_id == p.id) skus.insert(li.sku_id);
    }
    json j = {{"package_id", p.id},
              {"orders", summary["orders"]},
              {"package_status", summary["status"]},
              {"split_and_combine_tag", p.tag},
              {"has_multi_skus", skus.size() > 1},
              {"note_tag", noted ? "BUYER_NOTED" : "BUYER_UNNOTED"},
              {"shipping_provider_name", summary["shipping_provider_name"]},
              {"shipping_provider_id", summary["shipping_provider_id"]},
              {"shipping_type", "SELLER"},
              {"delivery_option_id", first.delivery_option_id},
              {"tracking_number", summary["tracking_number"]},
              {"last_mile_tracking_number", ""},
              {"create_time", p.create_time},
              {"update_time", p.update_time},
              {"handover_method", p.handover_method},
              {"order_line_item_ids", summary["order_line_item_ids"]},
              {"sender_address",
               {{"name", options_.shop_name},
                {"full_address", "東京都千代田区丸の内1-1-1 出荷センター"},
                {"postal_code", "100-0005"},
                {"region_code", "JP"},
                {"phone_number", "(+81)3*****000"}}},
              {"weight", {{"value", std::to_string(300 * summary["order_line_item_ids"].size())}, {"unit", "GRAM"}}},
              {"dimension", {{"length", "25"}, {"width", "18"}, {"height", "6"}, {"unit", "CM"}}}};
    if (first.status != "UNPAID" && first.status != "ON_HOLD") j["recipient_address"] = address_json(first);
    return j;
}

shop::api_reply shop::package_detail(api_context&, const std::string& package_id) {
    const package* p = find_package(package_id);
    if (!p) return fail(404, not_found, "The order or package does not belong to the current seller");
    api_reply reply;
    reply.data = package_json(*p);
    return reply;
}

shop::api_reply shop::search_packages(api_context& ctx) {
    std::string error;
    auto page = detail::read_page(ctx.query, 50, error);
    if (!page) return fail(400, bad_request, error);
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

    std::vector<const package*> hits;
    for (const auto& p : packages_) {
        if (p.removed || p.create_time == 0) continue;
        if (status && package_status(first_order(p), p) != *status) continue;
        if (create_ge && p.create_time < *create_ge) continue;
        if (create_lt && p.create_time >= *create_lt) continue;
        if (update_ge && p.update_time < *update_ge) continue;
        if (update_lt && p.update_time >= *update_lt) continue;
        hits.push_back(&p);
    }
    auto key = [&](const package* p) {
        if (sort_field == "update_time") return p->update_time;
        if (sort_field == "order_pay_time") return first_order(*p).paid_time;
        return p->create_time;
    };
    const bool ascending = sort_order == "ASC";
    std::stable_sort(hits.begin(), hits.end(),
                     [&](const package* a, const package* b) { return ascending ? key(a) < key(b) : key(a) > key(b); });
    json packages = json::array();
    for (std::size_t i = page->offset; i < hits.size() && i < page->offset + page->size; ++i)
        packages.push_back(package_summary_json(*hits[i]));
    api_reply reply;
    reply.data = {{"packages", std::move(packages)},
                  {"total_count", hits.size()},
                  {"next_page_token", detail::next_token(*page, hits.size())}};
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
