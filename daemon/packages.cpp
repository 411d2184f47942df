// See packages.hpp.
#include "daemon/packages.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace orderflow::daemon {

using json = nlohmann::json;

namespace {

// An id as TikTok sends it: a string, or an integer in older payloads.
std::string id_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
    if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
    return {};
}

std::string string_of(const json& data, const char* key) {
    if (!data.is_object()) return {};
    auto it = data.find(key);
    return it == data.end() ? std::string() : id_text(*it);
}

bool shipped_status(std::string_view package_status) {
    return package_status == "FULFILLING" || package_status == "COMPLETED";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> package_order_pairs(const json& data) {
    std::vector<std::pair<std::string, std::string>> pairs;
    if (!data.is_object()) return pairs;
    auto list = data.find("package_list");
    if (list == data.end() || !list->is_array()) return pairs;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& entry : *list) {
        if (!entry.is_object()) continue;
        const std::string package_id = string_of(entry, "package_id");
        auto orders = entry.find("order_id_list");
        if (package_id.empty() || orders == entry.end() || !orders->is_array()) continue;
        for (const auto& o : *orders) {
            std::pair<std::string, std::string> pair{package_id, id_text(o)};
            if (pair.second.empty() || !seen.insert(pair).second) continue;
            pairs.push_back(std::move(pair));
        }
    }
    return pairs;
}

std::vector<storage::new_event> package_events_from_webhook(const tikapi::webhook_event& w, const std::string& base_key,
                                                            std::int64_t now) {
    std::vector<storage::new_event> rows;
    const auto pairs = package_order_pairs(w.data);
    // Each row keeps its own package's entry of package_list, not the whole
    // list, which a row per pair would repeat for every pair. One package
    // of many orders still repeats its own list in each of its rows:
    // judge_webhook's cap of max_package_pairs bounds that (500 rows of 500
    // ids, about 5 MB).
    std::map<std::string, json> entries;   // package id -> {"package_id", "order_id_list"}
    for (const auto& [package_id, order_id] : pairs)
        entries.try_emplace(package_id, json{{"package_id", package_id}, {"order_id_list", json::array()}})
            .first->second["order_id_list"].push_back(order_id);
    for (const auto& [package_id, order_id] : pairs) {
        json data = w.data;
        data["package_list"] = json::array({entries.at(package_id)});
        data["package_id"] = package_id;
        data["order_id"] = order_id;
        json envelope{{"type", w.type}, {"shop_id", w.shop_id}, {"timestamp", w.timestamp}, {"data", std::move(data)}};
        if (!w.notification_id.empty()) envelope["tts_notification_id"] = w.notification_id;
        storage::new_event e;
        e.dedupe_key = base_key + "#" + package_id + "#" + order_id;
        e.source = "webhook";
        e.topic = w.type;
        e.event = "package.updated";
        e.order_id = order_id;
        e.payload = envelope.dump(-1, ' ', false, json::error_handler_t::replace);
        e.received_at = now;
        rows.push_back(std::move(e));
    }
    return rows;
}

json package_event_fields(const json& data) {
    json fields{{"sc_type", string_of(data, "sc_type")}, {"role_type", string_of(data, "role_type")}};
    const std::string package_id = string_of(data, "package_id");
    json orders = json::array();
    for (const auto& [package, order] : package_order_pairs(data))
        if (package == package_id) orders.push_back(order);
    fields["package_orders"] = std::move(orders);
    return fields;
}

std::string package_status_of(const tikapi::order& o, std::string_view package_id) {
    for (const auto& li : o.line_items)
        if (li.package_id == package_id && !li.package_status.empty()) return li.package_status;
    return {};
}

void add_package_status(json& event_data, std::string_view event, const tikapi::order& o) {
    if (event != "package.updated" || !event_data.is_object()) return;
    event_data["package_status"] = package_status_of(o, event_data.value("package_id", ""));
}

json packages_view(const tikapi::order& o) {
    json packages = json::array();
    std::vector<std::string> ids;
    for (const auto& li : o.line_items)
        if (!li.package_id.empty() && std::find(ids.begin(), ids.end(), li.package_id) == ids.end()) ids.push_back(li.package_id);
    for (const auto& id : o.package_ids)
        if (!id.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    for (const auto& id : ids) {
        json p{{"id", id}, {"status", package_status_of(o, id)}, {"tracking_number", ""}, {"shipping_provider", ""}};
        for (const auto& li : o.line_items) {
            if (li.package_id != id || li.tracking_number.empty()) continue;
            p["tracking_number"] = li.tracking_number;
            p["shipping_provider"] = li.shipping_provider_name;
            break;
        }
        packages.push_back(std::move(p));
    }
    return packages;
}

std::optional<bool> package_shipped(const tikapi::order& o, std::string_view package_id) {
    bool named = false;
    for (const auto& li : o.line_items) {
        if (li.package_id != package_id) continue;
        named = true;
        if (!li.tracking_number.empty() || shipped_status(li.package_status)) return true;
    }
    if (!named) return std::nullopt;
    return false;
}

std::string describe_packages(const tikapi::order& o) {
    std::string text;
    for (const auto& p : packages_view(o)) {
        if (!text.empty()) text += ", ";
        const std::string id = p["id"].get<std::string>(), number = p["tracking_number"].get<std::string>();
        text += id;
        if (!number.empty()) text += " shipped with " + number;
        else if (package_shipped(o, id).value_or(false)) text += " shipped";
        else text += " not shipped";
    }
    return text;
}

std::optional<std::string> package_with_tracking(const tikapi::order& o, std::string_view tracking_number) {
    std::optional<std::string> found;
    for (const auto& p : packages_view(o)) {
        if (p["tracking_number"].get<std::string>() != tracking_number) continue;
        if (found) return std::nullopt;
        found = p["id"].get<std::string>();
    }
    return found;
}

}  // namespace orderflow::daemon
