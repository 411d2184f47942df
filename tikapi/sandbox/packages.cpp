// The simulated shop's packages (docs/tiktok-shop-api.md §5 type 4, §6
// "Package detail", §7): which line items ship in which package, the
// package status, and the platform's split and combine, played through the
// control API:
//
//   POST /control/orders/{id}/split     {"line_item_groups": [["li1","li2"], ["li3"]]}   (or {}: one package per item)
//   POST /control/packages/combine      {"order_ids": ["A", "B"]}
//
// Each emits a PACKAGE_UPDATE webhook (type 4) whose package_list names the
// new packages and their orders, with sc_type SPLIT or COMBINE and
// role_type ROLE_SELLER. An order ships in one package unless split or
// combined, so everything else behaves as before packages were records.
#include "tikapi/sandbox/shop.hpp"

#include <algorithm>
#include <set>

namespace orderflow::sandbox {

using nlohmann::json;
using tikapi::http_response;

std::string_view package_status(const order& o, const package& p) {
    if (o.status == "CANCELLED") return "CANCELLED";
    if (o.status == "UNPAID") return "TO_FULFILL";
    if (o.status == "DELIVERED" || o.status == "COMPLETED") return "COMPLETED";
    if (p.rts_time != 0 || o.shipped() || o.status == "AWAITING_COLLECTION" || o.status == "IN_TRANSIT") return "FULFILLING";
    return "PROCESSING";
}

package* shop::find_package(std::string_view package_id) {
    auto it = package_index_.find(package_id);
    if (it == package_index_.end() || packages_[it->second].create_time == 0) return nullptr;
    return &packages_[it->second];
}

const package* shop::find_package(std::string_view package_id) const {
    auto it = package_index_.find(package_id);
    if (it == package_index_.end() || packages_[it->second].create_time == 0) return nullptr;
    return &packages_[it->second];
}

std::optional<package> shop::find_package_copy(std::string_view id) const {
    const package* p = find_package(id);
    if (!p) return std::nullopt;
    return *p;
}

std::vector<package*> shop::packages_of(const order& o) {
    std::vector<package*> out;
    for (const auto& id : o.package_ids)
        if (auto it = package_index_.find(id); it != package_index_.end()) out.push_back(&packages_[it->second]);
    return out;
}

std::vector<const package*> shop::packages_of(const order& o) const {
    std::vector<const package*> out;
    for (const auto& id : o.package_ids)
        if (auto it = package_index_.find(id); it != package_index_.end()) out.push_back(&packages_[it->second]);
    return out;
}

order& shop::first_order(const package& p) { return orders_[order_index_.at(p.order_ids.front())]; }
const order& shop::first_order(const package& p) const { return orders_[order_index_.at(p.order_ids.front())]; }

std::size_t shop::new_package(std::string tag) {
    package p;
    p.id = fresh_id("11", 18);
    p.tag = std::move(tag);
    package_index_[p.id] = packages_.size();
    packages_.push_back(std::move(p));
    return packages_.size() - 1;
}

// Puts the order's line items `item_ids` (all of them when empty) into the
// package; the package exists from the order's payment on.
void shop::put_in_package(std::size_t package_index, order& o, const std::vector<std::string>& item_ids) {
    package& p = packages_[package_index];
    for (auto& li : o.line_items)
        if (item_ids.empty() || std::find(item_ids.begin(), item_ids.end(), li.id) != item_ids.end()) li.package_id = p.id;
    if (std::find(p.order_ids.begin(), p.order_ids.end(), o.id) == p.order_ids.end()) p.order_ids.push_back(o.id);
    if (std::find(o.package_ids.begin(), o.package_ids.end(), p.id) == o.package_ids.end()) o.package_ids.push_back(p.id);
    // An order created CANCELLED counts as paid and then cancelled.
    if (o.status != "UNPAID" && p.create_time == 0) p.create_time = p.update_time = now();
}

bool shop::package_shipped(const package& p) const {
    if (p.rts_time != 0) return true;
    // Moved on by the control API without a ship call: as shipped as its orders.
    return std::all_of(p.order_ids.begin(), p.order_ids.end(),
                       [&](const std::string& id) { return orders_[order_index_.at(id)].shipped(); });
}

std::int64_t shop::package_shipped_at(const package& p) const {
    return p.rts_time != 0 ? p.rts_time : first_order(p).rts_time;
}

void shop::emit_packages(const std::vector<const package*>& list, std::string_view sc_type, std::string_view role_type) {
    json package_list = json::array();
    std::int64_t updated = 0;
    for (const package* p : list) {
        package_list.push_back({{"package_id", p->id}, {"order_id_list", p->order_ids}});
        updated = std::max(updated, p->update_time);
    }
    json data = {{"package_list", std::move(package_list)}, {"role_type", role_type}, {"update_time", updated}};
    if (!sc_type.empty()) data["sc_type"] = sc_type;
    emit_webhook(4, std::move(data), list.empty() ? std::string() : list.front()->order_ids.front());
}

namespace {

// Whether a package may still be split or combined: the platform does so
// only before anything shipped (§7).
std::optional<std::string> refuse_unless_unshipped(const order& o) {
    if (o.status != "AWAITING_SHIPMENT")
        return "order " + o.id + " is " + o.status + "; only an order AWAITING_SHIPMENT can be split or combined";
    return std::nullopt;
}

}  // namespace

std::optional<std::string> shop::split_order(const std::string& order_id, std::vector<std::vector<std::string>> groups) {
    auto it = order_index_.find(order_id);
    if (it == order_index_.end()) return "no order " + order_id;
    order& o = orders_[it->second];
    if (auto why = refuse_unless_unshipped(o)) return why;
    if (o.package_ids.size() != 1) return "order " + o.id + " ships in " + std::to_string(o.package_ids.size()) + " packages already";
    const package& old = *find_package(o.package_ids.front());
    if (old.order_ids.size() != 1) return "order " + o.id + " is in a combined package; it cannot be split";
    if (groups.empty())
        for (const auto& li : o.line_items) groups.push_back({li.id});
    if (groups.size() < 2) return "a split needs at least two groups of line items";
    std::set<std::string> seen;
    for (const auto& g : groups) {
        if (g.empty()) return "a group of line items is empty";
        for (const auto& id : g) {
            if (std::none_of(o.line_items.begin(), o.line_items.end(), [&](const line_item& li) { return li.id == id; }))
                return "line item " + id + " is not in order " + o.id;
            if (!seen.insert(id).second) return "line item " + id + " is in two groups";
        }
    }
    if (seen.size() != o.line_items.size()) return "the groups must hold every line item of the order";

    packages_[package_index_.at(old.id)].removed = true;
    package_index_.erase(old.id);
    o.package_ids.clear();
    std::vector<std::size_t> made;
    for (const auto& g : groups) {
        made.push_back(new_package("SPLIT"));
        put_in_package(made.back(), o, g);
    }
    o.update_time = now();
    std::vector<const package*> list;
    for (auto i : made) list.push_back(&packages_[i]);
    emit_packages(list, "SPLIT", "ROLE_SELLER");
    return std::nullopt;
}

std::optional<std::string> shop::combine_orders(const std::vector<std::string>& order_ids) {
    if (order_ids.size() < 2) return "combining needs at least two order_ids";
    std::vector<order*> orders;
    for (const auto& id : order_ids) {
        auto it = order_index_.find(id);
        if (it == order_index_.end()) return "no order " + id;
        order& o = orders_[it->second];
        if (std::find(orders.begin(), orders.end(), &o) != orders.end()) return "order " + id + " is named twice";
        if (auto why = refuse_unless_unshipped(o)) return why;
        if (o.package_ids.size() != 1 || find_package(o.package_ids.front())->order_ids.size() != 1)
            return "order " + id + " is split or combined already";
        if (!orders.empty() && o.user_id != orders.front()->user_id) return "orders of different buyers cannot be combined";
        orders.push_back(&o);
    }
    const std::size_t made = new_package("COMBINE");
    for (order* o : orders) {
        const std::string old = o->package_ids.front();
        packages_[package_index_.at(old)].removed = true;
        package_index_.erase(old);
        o->package_ids.clear();
        put_in_package(made, *o, {});
        o->update_time = now();
    }
    emit_packages({&packages_[made]}, "COMBINE", "ROLE_SELLER");
    return std::nullopt;
}

std::optional<http_response> shop::package_control(const std::string& method, const std::vector<std::string>& seg,
                                                   const json& body) {
    auto reply = [](int status, const json& j) { return http_response::json(status, j.dump()); };
    auto error = [&](int status, std::string text) { return reply(status, json{{"error", std::move(text)}}); };
    // POST /control/orders/{id}/split {"line_item_groups": [[ids...], ...]}
    if (method == "POST" && seg.size() == 4 && seg[1] == "orders" && seg[3] == "split") {
        std::vector<std::vector<std::string>> groups;
        if (auto g = body.find("line_item_groups"); g != body.end()) {
            const auto is_group = [](const json& x) {
                return x.is_array() && std::all_of(x.begin(), x.end(), [](const json& id) { return id.is_string(); });
            };
            if (!g->is_array() || !std::all_of(g->begin(), g->end(), is_group))
                return error(400, "line_item_groups must be an array of arrays of line item ids");
            for (const auto& group : *g) groups.push_back(group.get<std::vector<std::string>>());
        }
        if (auto why = split_order(seg[2], std::move(groups)))
            return error(why->rfind("no order", 0) == 0 ? 404 : 409, *why);
        return reply(200, order_json(orders_[order_index_.at(seg[2])]));
    }
    // POST /control/packages/combine {"order_ids": [...]}
    if (method == "POST" && seg.size() == 3 && seg[1] == "packages" && seg[2] == "combine") {
        auto ids = body.find("order_ids");
        if (ids == body.end() || !ids->is_array() ||
            !std::all_of(ids->begin(), ids->end(), [](const json& id) { return id.is_string(); }))
            return error(400, "order_ids must be an array of order ids");
        const auto order_ids = ids->get<std::vector<std::string>>();
        if (auto why = combine_orders(order_ids)) return error(why->rfind("no order", 0) == 0 ? 404 : 409, *why);
        const package& p = packages_[package_index_.at(orders_[order_index_.at(order_ids.front())].package_ids.front())];
        return reply(200, package_json(p));
    }
    return std::nullopt;
}

}  // namespace orderflow::sandbox
