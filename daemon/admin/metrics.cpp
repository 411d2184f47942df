// See metrics.hpp.
#include "daemon/admin/metrics.hpp"

#include "daemon/executor/breaker.hpp"
#include "daemon/rules_in_force.hpp"

#include <limits>
#include <sstream>

namespace orderflow::daemon {

using json = nlohmann::json;

std::string metrics_text(const context& ctx, const rules_in_force& in_force, const breaker& brk) {
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
    for (const auto& r : ctx.store.reviews(false, 100000)) {
        ++open;
        critical += r.severity == "critical";
    }
    m << "# HELP orderflow_reviews_open Open or acknowledged review items.\n# TYPE orderflow_reviews_open gauge\n"
      << "orderflow_reviews_open " << open << "\norderflow_reviews_open_critical " << critical << "\n";
    m << "# HELP orderflow_sending_paused 1 while the circuit breaker holds messages.\n# TYPE orderflow_sending_paused gauge\n"
      << "orderflow_sending_paused " << (brk.open() ? 1 : 0) << "\n";
    m << "# HELP orderflow_notifications_pending Staff notifications not yet delivered.\n# TYPE orderflow_notifications_pending gauge\n"
      << "orderflow_notifications_pending " << ctx.store.due_notifications(std::numeric_limits<std::int64_t>::max(), 100000).size() << "\n";
    return m.str();
}

}  // namespace orderflow::daemon
