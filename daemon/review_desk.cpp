// See review_desk.hpp.
#include "daemon/review_desk.hpp"

#include "common/log.hpp"
#include "daemon/notify.hpp"
#include "daemon/rules_in_force.hpp"

namespace orderflow::daemon {

review_desk::review_desk(context ctx, const rules_in_force& in_force, std::function<void()> wake_notifier)
    : ctx_(std::move(ctx)), in_force_(in_force), wake_notifier_(std::move(wake_notifier)) {}

std::int64_t review_desk::raise(const std::string& order_id, const std::string& reason, const std::string& severity,
                                const std::string& summary, const nlohmann::json& evidence, const std::string& case_key) {
    auto id = ctx_.store.raise_review(order_id, reason, severity, summary, evidence, ctx_.clock(), case_key);
    log::warn("review_raised", {{"review_id", id}, {"order_id", order_id}, {"reason", reason}, {"severity", severity},
                                {"summary", summary}, {"advice", "orderflowctl review show " + std::to_string(id)}});
    // Staff hear about an item once, when it opens; repeats only raise its count.
    auto item = ctx_.store.get_review(id);
    if (!item || item->occurrences != 1) return id;
    const nlohmann::json payload = review_notification(*item);
    for (const auto& ch : in_force_.cfg().channels)
        if (severity_rank(item->severity) >= severity_rank(ch.min_severity))
            ctx_.store.add_notification(ch.name, "review:" + std::to_string(id), id, payload, ctx_.clock());
    if (wake_notifier_) wake_notifier_();
    return id;
}

}  // namespace orderflow::daemon
