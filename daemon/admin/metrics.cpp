// See metrics.hpp.
#include "daemon/admin/metrics.hpp"

#include "daemon/cs_quota.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/telemetry.hpp"

#include <algorithm>

#include <limits>
#include <sstream>

namespace orderflow::daemon {

using json = nlohmann::json;

std::string metrics_text(const context& ctx, const rules_in_force& in_force, const breaker& brk, const runtime_facts& facts) {
    std::ostringstream m;
    json rs = json::parse(ctx.store.get_state("rules").value_or("{}"), nullptr, false);
    const json last = rs.is_object() ? rs.value("last_reload", json::object()) : json::object();
    m << "# HELP orderflow_rules_loaded Rules in force.\n# TYPE orderflow_rules_loaded gauge\n"
      << "orderflow_rules_loaded{hash=\"" << in_force.rules()->hash() << "\"} " << in_force.rules()->size() << "\n";
    m << "# HELP orderflow_rules_last_reload_ok 1 when the last reload succeeded (1 before any reload).\n"
      << "# TYPE orderflow_rules_last_reload_ok gauge\norderflow_rules_last_reload_ok " << (last.value("ok", true) ? 1 : 0) << "\n";
    m << "# HELP orderflow_rules_last_reload_timestamp_seconds When the last reload ran (0: none since the database was made).\n"
      << "# TYPE orderflow_rules_last_reload_timestamp_seconds gauge\norderflow_rules_last_reload_timestamp_seconds "
      << last.value("at", std::int64_t{0}) << "\n";
    const json c = ctx.store.counts();
    m << "# HELP orderflow_events Inbox events by state.\n# TYPE orderflow_events gauge\n";
    for (const auto& [state, n] : c["inbox"].items()) m << "orderflow_events{state=\"" << state << "\"} " << n.dump() << "\n";
    m << "# HELP orderflow_actions Outbox actions by state.\n# TYPE orderflow_actions gauge\n";
    for (const auto& [state, n] : c["outbox"].items()) m << "orderflow_actions{state=\"" << state << "\"} " << n.dump() << "\n";
    int open = 0, critical = 0;
    std::int64_t oldest = 0;
    for (const auto& r : ctx.store.reviews(false, 100000)) {
        ++open;
        critical += r.severity == "critical";
        if (oldest == 0 || r.created_at < oldest) oldest = r.created_at;
    }
    m << "# HELP orderflow_reviews_open Open or acknowledged review items.\n# TYPE orderflow_reviews_open gauge\n"
      << "orderflow_reviews_open " << open << "\n";
    m << "# HELP orderflow_reviews_open_critical Open or acknowledged review items of severity critical.\n"
      << "# TYPE orderflow_reviews_open_critical gauge\norderflow_reviews_open_critical " << critical << "\n";
    m << "# HELP orderflow_reviews_oldest_open_age_seconds How long the oldest open review item has waited (0: none open).\n"
      << "# TYPE orderflow_reviews_oldest_open_age_seconds gauge\norderflow_reviews_oldest_open_age_seconds "
      << (oldest ? std::max<std::int64_t>(0, ctx.clock() - oldest) : 0) << "\n";
    m << "# HELP orderflow_sending_paused 1 while the circuit breaker holds messages.\n# TYPE orderflow_sending_paused gauge\n"
      << "orderflow_sending_paused " << (brk.open() ? 1 : 0) << "\n";
    m << "# HELP orderflow_notifications_pending Staff notifications not yet delivered.\n# TYPE orderflow_notifications_pending gauge\n"
      << "orderflow_notifications_pending " << ctx.store.due_notifications(std::numeric_limits<std::int64_t>::max(), 100000).size() << "\n";
    m << "# HELP orderflow_authorized 1 while orderflow holds usable TikTok tokens for the shop.\n# TYPE orderflow_authorized gauge\n"
      << "orderflow_authorized " << (facts.authorized ? 1 : 0) << "\n";
    m << "# HELP orderflow_loops_unhealthy Loops that are dead or wedged (the watchdog is withheld while above 0).\n"
      << "# TYPE orderflow_loops_unhealthy gauge\norderflow_loops_unhealthy " << facts.loops_unhealthy << "\n";
    // The customer-service quota of today, UTC (daemon/cs_quota.hpp).
    const json cs = cs_quota_view(ctx.store, in_force.cfg(), ctx.clock());
    m << "# HELP orderflow_cs_calls_today Customer-service calls to TikTok today (UTC).\n# TYPE orderflow_cs_calls_today gauge\n"
      << "orderflow_cs_calls_today " << cs["used"].dump() << "\n";
    m << "# HELP orderflow_cs_quota Customer-service calls allowed per UTC day (customer_service.daily_quota).\n"
      << "# TYPE orderflow_cs_quota gauge\norderflow_cs_quota " << cs["limit"].dump() << "\n";
    m << "# HELP orderflow_cs_reserve_reached 1 while only replies to buyers go to customer service (the reserve is reached).\n"
      << "# TYPE orderflow_cs_reserve_reached gauge\norderflow_cs_reserve_reached " << (cs["proactive"] == "waits" ? 1 : 0) << "\n";
    m << "# HELP orderflow_start_time_seconds When this orderflowd started.\n# TYPE orderflow_start_time_seconds gauge\n"
      << "orderflow_start_time_seconds " << facts.started_at << "\n";
    m << telemetry::render();
    return m.str();
}

}  // namespace orderflow::daemon
