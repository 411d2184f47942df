// See breaker.hpp.
#include "daemon/executor/breaker.hpp"

#include "common/log.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/rules_in_force.hpp"

#include <algorithm>

namespace orderflow::daemon {

using json = nlohmann::json;

breaker::breaker(context ctx, const rules_in_force& in_force, review_desk& desk, std::function<void()> on_resumed)
    : ctx_(std::move(ctx)), in_force_(in_force), desk_(desk), on_resumed_(std::move(on_resumed)) {
    json st = json::parse(ctx_.store.get_state("breaker").value_or("{}"), nullptr, false);
    if (!st.is_object()) return;
    open_ = st.value("open", false);
    counted_after_ = seen_through_ = st.value("resumed_after_action", std::int64_t{0});
}

bool breaker::allows_sending() {
    if (open_) return false;
    const std::int64_t now = ctx_.clock();
    const auto& limits = in_force_.cfg().breaker;
    const std::int64_t since = now - limits.interval.count();
    const std::int64_t newest = ctx_.store.newest_action_id();
    if (newest < seen_through_) {
        // The newest rows were purged and their ids are being used again.
        counted_after_ = std::min(counted_after_, newest);
        window_interval_ = 0;
    }
    // The window from its start (the first read, or a reload changed the
    // interval), not from the outbox's first row.
    auto read_window = [&] {
        window_.clear();
        const std::int64_t first = ctx_.store.first_action_since(since);
        seen_through_ = std::max(counted_after_, first > 0 ? first - 1 : newest);
    };
    if (window_interval_ != limits.interval.count()) {
        read_window();
        window_interval_ = limits.interval.count();
    }
    auto read_new = [&] {
        // Ids grow with time, so the new ones go at the end (a clock set
        // back is put in its place all the same).
        for (const std::int64_t at : ctx_.store.sends_planned_between(seen_through_, newest, since, limits.max_sends + 1))
            window_.insert(std::upper_bound(window_.begin(), window_.end(), at), at);
        seen_through_ = newest;
    };
    if (newest > seen_through_) read_new();
    while (!window_.empty() && window_.front() < since) window_.pop_front();
    int planned = static_cast<int>(window_.size());
    if (planned <= limits.max_sends) return true;
    // Over the limit as read: a message read once may have been skipped
    // since (a cap, a drop at resume), so the window is read again as it is
    // now before sending is paused.
    read_window();
    read_new();
    planned = static_cast<int>(window_.size());
    if (planned <= limits.max_sends) return true;
    json st{{"open", true}, {"tripped_at", now}, {"planned", planned}, {"limit", in_force_.cfg().breaker.max_sends},
            {"interval_s", in_force_.cfg().breaker.interval.count()}, {"resumed_after_action", counted_after_}};
    ctx_.db.transaction([&] {
        ctx_.store.put_state("breaker", st.dump(), now);
        ctx_.store.audit(now, "orderflowd", "breaker.tripped", "", st);
        desk_.raise("", "circuit_breaker", "critical",
                     "sending paused: " + std::to_string(planned) + " messages planned within " +
                         spoken(in_force_.cfg().breaker.interval) + " (limit " + std::to_string(in_force_.cfg().breaker.max_sends) +
                         "); check the rules (orderflowctl activity), then orderflowctl resume, or resume --drop-held to skip what was held",
                     st);
    });
    open_ = true;
    log::error("sending_paused", {{"planned", planned}, {"limit", in_force_.cfg().breaker.max_sends}, {"interval_s", in_force_.cfg().breaker.interval.count()},
                                  {"advice", "a rule may have gone wrong: check orderflowctl activity, fix it, then orderflowctl resume"}});
    return false;
}

std::string breaker::resume(const std::string& by, const std::string& peer, bool drop_held) {
    if (!open_) return "";
    const std::int64_t now = ctx_.clock();
    int dropped = 0;
    const std::int64_t newest = ctx_.store.newest_action_id();
    ctx_.db.transaction([&] {
        if (drop_held) dropped = ctx_.store.skip_held_sends(now + 1, "held by the circuit breaker and dropped at resume by " + by, now);
        ctx_.store.put_state("breaker", json{{"open", false}, {"resumed_at", now}, {"resumed_after_action", newest},
                                        {"resumed_by", by}, {"dropped", dropped}}.dump(), now);
        ctx_.store.audit(now, "orderflowctl", "breaker.resumed", "", {{"by", by}, {"peer", peer}, {"dropped", dropped}});
        for (const auto& r : ctx_.store.reviews(false, 1000))
            if (r.reason == "circuit_breaker" && r.order_id.empty())
                ctx_.store.set_review_state(r.id, "resolved", by, drop_held ? "resumed; held messages dropped" : "resumed", now);
    });
    open_ = false;
    counted_after_ = seen_through_ = newest;
    window_.clear();
    log::warn("sending_resumed", {{"by", by}, {"dropped", dropped}});
    if (on_resumed_) on_resumed_();
    return "sending resumed by " + by + (drop_held ? "; " + std::to_string(dropped) + " held messages dropped (skipped)" : "") + "\n";
}

}  // namespace orderflow::daemon
