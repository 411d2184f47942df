// See guards.hpp.
#include "daemon/executor/guards.hpp"

#include "common/log.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/events.hpp"
#include "daemon/packages.hpp"
#include "daemon/executor/outcomes.hpp"
#include "daemon/order_source.hpp"
#include "daemon/pipeline.hpp"
#include "daemon/rules_in_force.hpp"
#include "rules/engine.hpp"
#include "rules/ruleset.hpp"
#include "storage/conversation_links.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// Why rule `rule_id` did not match at the re-check, for the skipped row's
// reason: the first condition that failed and what it saw, or why the rule
// was not evaluated at all.
std::string why_not_matched(const std::vector<rules::rule_trace>& traces, std::vector<rules::rule_trace>::const_iterator it,
                            const std::string& rule_id, const std::string& event) {
    if (it == traces.end()) return "rule " + rule_id + " is no longer loaded";
    switch (it->verdict) {
        case rules::rule_verdict::disabled: return "rule " + rule_id + " is disabled now";
        case rules::rule_verdict::not_listening: return "rule " + rule_id + " no longer listens to " + event;
        case rules::rule_verdict::not_matched:
            return it->failure ? "first failed: " + it->failure->to_string() : "its condition does not hold";
        case rules::rule_verdict::after_stop: {
            // The rule that stopped is the last one that matched before it.
            auto stopper = std::find_if(std::make_reverse_iterator(it), traces.rend(),
                                        [](const rules::rule_trace& t) { return t.verdict == rules::rule_verdict::matched; });
            return (stopper == traces.rend() ? std::string("an earlier rule") : "rule " + stopper->rule_id) +
                   " matched first and has {\"stop\": true}";
        }
        case rules::rule_verdict::matched: break;
    }
    return "it matches";   // not reached: callers pass a rule that did not match
}

}  // namespace

guards::guards(context ctx, const rules_in_force& in_force, outcomes& out, order_source& orders)
    : ctx_(std::move(ctx)), in_force_(in_force), out_(out), orders_(orders) {}

guard_result guards::check(const storage::action_row& a) {
    const std::int64_t now = ctx_.clock();
    json p = json::parse(a.payload, nullptr, false);
    if (!p.is_object()) p = json::object();
    // The rule's own guards (docs/rules.md "Guards") override the config's.
    const json g = p.contains("guards") && p["guards"].is_object() ? p["guards"] : json::object();
    // Plain ints: GCC 12 warns falsely of an uninitialized optional<pair> here.
    bool quiet_on = in_force_.cfg().guards.quiet_hours.has_value();
    int quiet_from = quiet_on ? in_force_.cfg().guards.quiet_hours->first : 0, quiet_to = quiet_on ? in_force_.cfg().guards.quiet_hours->second : 0;
    if (g.contains("quiet_hours")) {
        const json& q = g["quiet_hours"];
        quiet_on = q.is_object();
        if (quiet_on) {
            quiet_from = q.value("from", 0);
            quiet_to = q.value("to", 0);
        }
    }
    const int per_order = g.value("messages_per_order_per_day", in_force_.cfg().guards.messages_per_order_per_day);
    const int per_buyer = g.value("messages_per_buyer_per_day", in_force_.cfg().guards.messages_per_buyer_per_day);
    const bool cancelled_ok = g.value("cancelled", false);

    if (quiet_on && detail::in_daily_window(detail::local_minute_of_day(now), quiet_from, quiet_to)) {
        const auto until = detail::next_local_time(now, quiet_to);
        char hhmm[32];
        std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", quiet_to / 60, quiet_to % 60);
        ctx_.store.set_action_state(a.id, "deferred", std::string("quiet hours: waits until ") + hhmm + " " + in_force_.cfg().timezone, "", now, until);
        log::info("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                      {"reason", "quiet hours"}, {"retry_at", until}});
        return guard_result::waited;
    }
    if (!a.order_id.empty()) {
        auto cached = ctx_.store.get_order(a.order_id);
        // A reply answers the buyer's own message: a question about a
        // cancelled order still deserves one. Other messages are skipped.
        if (!cancelled_ok && a.kind != "reply" && cached && (cached->status == "CANCELLED" || cached->status == "CANCEL")) {
            out_.skip(a, "the order is cancelled (a rule may allow it with \"guards\": {\"cancelled\": true})", "order_cancelled", "info");
            return guard_result::stopped;
        }
        const int to_order = ctx_.store.messages_to_order_since(a.order_id, now - 86400);
        if (to_order >= per_order) {
            out_.skip(a, "cap: " + std::to_string(to_order) + " automated messages to this order in 24 h (messages_per_order_per_day " +
                        std::to_string(per_order) + ")", "message_cap");
            return guard_result::stopped;
        }
    }
    const std::string buyer = p.value("buyer_user_id", "");
    const int to_buyer = ctx_.store.messages_to_buyer_since(buyer, now - 86400);
    if (!buyer.empty() && to_buyer >= per_buyer) {
        out_.skip(a, "cap: " + std::to_string(to_buyer) + " automated messages to this buyer in 24 h (messages_per_buyer_per_day " +
                    std::to_string(per_buyer) + ")", "message_cap");
        return guard_result::stopped;
    }
    return guard_result::go;
}

asio::awaitable<bool> guards::rule_still_matches(const storage::action_row& a) {
    auto event = ctx_.store.get_event(a.event_id);
    if (!event || !needs_order(event->event)) co_return true;
    const std::string order_id = a.order_id;
    auto fetched = co_await orders_.fetch(order_id);
    if (!fetched.order) {
        if (fetched.retryable) out_.defer(a, "re-check before sending: " + fetched.error);
        else out_.skip(a, "re-check before sending: " + fetched.error, "send_failed");
        co_return false;
    }
    rules::context ctx = event_context(*event, ctx_.clock(), in_force_.cfg().rules.default_locale);
    ctx.order = order_view(*fetched.order);
    add_package_status(ctx.event_data, event->event, *fetched.order);
    ctx.order["tags"] = ctx_.store.tags(order_id);
    ctx.order["attributes"] = storage::order_attributes(ctx_.db, order_id);
    // The edge that planned the send is given (docs/rules.md, "Guards"):
    // changed_to / changed_from test only where the order is now. The order
    // fetched here is not cached: the orders cache is the previous view of
    // the pipeline's next order event, and a status this re-check saw first
    // must still be an edge for that event's rules (as for messages,
    // daemon/pipeline.cpp).
    ctx.edges_given = true;
    auto rule_set = in_force_.rules();
    // explain decides exactly as evaluate does, and says why not.
    const auto traces = rules::explain(*rule_set, ctx);
    auto it = std::find_if(traces.begin(), traces.end(), [&](const rules::rule_trace& t) { return t.rule_id == a.rule_id; });
    if (it != traces.end() && it->verdict == rules::rule_verdict::matched) co_return true;
    out_.skip(a, "its rule no longer matches the order as it is now (checked again after waiting): " +
                     why_not_matched(traces, it, a.rule_id, event->event));
    co_return false;
}

}  // namespace orderflow::daemon
