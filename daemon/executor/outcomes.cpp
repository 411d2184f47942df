// See outcomes.hpp.
#include "daemon/executor/outcomes.hpp"

#include "common/log.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/rules_in_force.hpp"

namespace orderflow::daemon {

outcomes::outcomes(context ctx, const rules_in_force& in_force, review_desk& desk)
    : ctx_(std::move(ctx)), in_force_(in_force), desk_(desk) {}

void outcomes::defer(const storage::action_row& a, const std::string& why) {
    if (ctx_.clock() - a.created_at >= in_force_.cfg().executor.give_up_after.count()) {
        fail(a, "gave up after " + spoken(in_force_.cfg().executor.give_up_after) + " of retryable failures; last: " + why);
        return;
    }
    auto at = ctx_.clock() + backoff(a.attempts, in_force_.cfg().executor.send_retry_max);
    ctx_.store.set_action_state(a.id, "deferred", why, "", ctx_.clock(), at);
    log::warn("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"reason", why}, {"retry_at", at}});
}

void outcomes::fail(const storage::action_row& a, const std::string& why) {
    ctx_.db.transaction([&] {
        ctx_.store.set_action_state(a.id, "failed", why, "", ctx_.clock());
        ctx_.store.audit(ctx_.clock(), "orderflowd", a.kind + ".failed", a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"error", why}});
        desk_.raise(a.order_id, "send_failed", "warning", "rule " + a.rule_id + ": " + a.kind + " failed: " + why,
                     {{"action_id", a.id}, {"rule_id", a.rule_id}, {"error", why}, {"attempts", a.attempts}});
    });
    log::error("action_failed", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"error", why}});
}


void outcomes::skip(const storage::action_row& a, const std::string& why, const char* review_reason, const char* severity) {
    ctx_.db.transaction([&] {
        ctx_.store.set_action_state(a.id, "skipped", why, "", ctx_.clock());
        ctx_.store.audit(ctx_.clock(), "orderflowd", a.kind + ".skipped", a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"reason", why}});
        if (review_reason)
            desk_.raise(a.order_id, review_reason, severity, "rule " + a.rule_id + ": not sent: " + why,
                         {{"action_id", a.id}, {"rule_id", a.rule_id}, {"reason", why}});
    });
    log::warn("action_skipped", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"reason", why}});
}

}  // namespace orderflow::daemon
