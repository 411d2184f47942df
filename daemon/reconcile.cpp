// See reconcile.hpp.
#include "daemon/reconcile.hpp"

#include <algorithm>
#include <limits>

namespace orderflow::daemon {

using json = nlohmann::json;

page_scan scan_page(const json& data, std::string_view text, std::int64_t since) {
    page_scan out;
    const json messages = data.is_object() && data.contains("messages") && data["messages"].is_array() ? data["messages"] : json::array();
    std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
    for (const auto& m : messages) {
        if (!m.is_object()) continue;
        const std::int64_t created = m.contains("create_time") && m["create_time"].is_number_integer() ? m["create_time"].get<std::int64_t>() : 0;
        oldest = std::min(oldest, created);
        const std::string role = m.contains("sender") && m["sender"].is_object() ? m["sender"].value("role", "") : "";
        const json inner = m.contains("content") && m["content"].is_string() ? json::parse(m["content"].get<std::string>(), nullptr, false) : json();
        const std::string sent = inner.is_object() && inner.contains("content") && inner["content"].is_string() ? inner["content"].get<std::string>() : "";
        if ((role == "SHOP" || role == "CUSTOMER_SERVICE") && sent == text && created >= since) {
            out.found = true;
            out.message_id = m.contains("id") && m["id"].is_string() ? m["id"].get<std::string>() : "";
            break;
        }
    }
    out.next_page_token = data.is_object() && data.contains("next_page_token") && data["next_page_token"].is_string()
                              ? data["next_page_token"].get<std::string>() : "";
    out.complete = messages.empty() || oldest < since || out.next_page_token.empty();
    return out;
}

reconcile_verdict decide_reconcile(bool found, bool complete, int resent) {
    if (found) return reconcile_verdict::delivered;
    if (complete && resent < max_resends) return reconcile_verdict::send_again;
    return reconcile_verdict::inconclusive;
}

}  // namespace orderflow::daemon
