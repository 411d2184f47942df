// See notify.hpp.
#include "daemon/notify.hpp"

namespace orderflow::daemon {

int severity_rank(std::string_view severity) {
    if (severity == "info") return 0;
    if (severity == "critical") return 2;
    return 1;
}

nlohmann::json review_notification(const storage::review_item& r) {
    return {{"kind", "review"},
            {"review_id", r.id},
            {"order_id", r.order_id},
            {"reason", r.reason},
            {"severity", r.severity},
            {"summary", r.summary},
            {"act", "orderflowctl review show " + std::to_string(r.id)},
            {"at", r.updated_at}};
}

nlohmann::json digest_notification(const std::vector<nlohmann::json>& items, std::int64_t now) {
    std::string severity = "info";
    for (const auto& i : items)
        if (severity_rank(i.value("severity", "warning")) > severity_rank(severity)) severity = severity_rank(i.value("severity", "warning")) == 2 ? "critical" : "warning";
    return {{"kind", "digest"},
            {"count", items.size()},
            {"severity", severity},
            {"items", items},
            {"summary", std::to_string(items.size()) + " review items"},
            {"act", "orderflowctl review list"},
            {"at", now}};
}

nlohmann::json heartbeat_notification(const storage::activity_summary& d, bool sending_paused, std::int64_t now) {
    std::string summary = "orderflowd is alive; last 24 h: " + std::to_string(d.messages_sent) + " messages sent, " +
                          std::to_string(d.reviews_open) + " need review";
    if (d.messages_failed) summary += ", " + std::to_string(d.messages_failed) + " failed";
    if (d.messages_unknown) summary += ", " + std::to_string(d.messages_unknown) + " unknown";
    if (d.messages_skipped) summary += ", " + std::to_string(d.messages_skipped) + " skipped";
    summary += ", " + std::to_string(d.events_processed) + " events processed";
    if (sending_paused) summary += ". SENDING IS PAUSED by the circuit breaker";
    return {{"kind", "heartbeat"},
            {"severity", sending_paused ? "critical" : "info"},
            {"order_id", ""},
            {"summary", summary},
            {"counts", {{"messages_sent", d.messages_sent}, {"messages_failed", d.messages_failed},
                        {"messages_unknown", d.messages_unknown}, {"messages_skipped", d.messages_skipped},
                        {"events_processed", d.events_processed}, {"reviews_opened", d.reviews_opened},
                        {"reviews_open", d.reviews_open}}},
            {"sending_paused", sending_paused},
            {"act", sending_paused ? "orderflowctl status" : (d.reviews_open ? "orderflowctl review list" : "")},
            {"at", now}};
}

std::string notification_text(const nlohmann::json& payload) {
    if (payload.value("kind", "") == "digest" && payload.contains("items") && payload["items"].is_array()) {
        const auto& items = payload["items"];
        std::string text = "[" + payload.value("severity", "warning") + "] " + std::to_string(items.size()) + " review items:";
        std::size_t shown = 0;
        for (const auto& i : items) {
            if (shown == 20) {
                text += "\n... and " + std::to_string(items.size() - shown) + " more";
                break;
            }
            text += "\n- #" + std::to_string(i.value("review_id", std::int64_t{0})) + " ";
            const std::string order = i.value("order_id", "");
            if (!order.empty()) text += "order " + order + ": ";
            text += i.value("summary", "");
            ++shown;
        }
        return text + "\nAct: orderflowctl review list";
    }
    std::string text = "[" + payload.value("severity", "info") + "] ";
    const std::string order = payload.value("order_id", "");
    if (!order.empty()) text += "order " + order + ": ";
    text += payload.value("summary", "");
    const std::string act = payload.value("act", "");
    if (!act.empty()) text += ". Act: " + act;
    return text;
}

}  // namespace orderflow::daemon
