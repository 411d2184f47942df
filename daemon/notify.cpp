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

std::string notification_text(const nlohmann::json& payload) {
    std::string text = "[" + payload.value("severity", "info") + "] ";
    const std::string order = payload.value("order_id", "");
    if (!order.empty()) text += "order " + order + ": ";
    text += payload.value("summary", "");
    const std::string act = payload.value("act", "");
    if (!act.empty()) text += ". Act: " + act;
    return text;
}

}  // namespace orderflow::daemon
