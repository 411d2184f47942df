// orderflowctl status and activity: whether the daemon runs (asked on its
// admin socket), and what it has done, from the database.
#include "daemon/ctl/common.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/context.hpp"
#include "daemon/cs_quota.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/events.hpp"
#include "daemon/tokens.hpp"
#include "rules/engine.hpp"
#include "rules/fixture.hpp"
#include "rules/ruleset.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>


namespace orderflow::daemon::ctl {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// Whether orderflowd answers on its admin socket, as `metrics` asks it; ""
// when it does, else the line that says why not.
std::string daemon_trouble(const config& cfg) {
    try {
        admin_call(cfg.admin.socket, {{"argv", {"metrics"}}, {"by", invoking_user()}}, std::chrono::seconds(10));
        return "";
    } catch (const admin_unreachable& e) {
        if (e.not_running()) return "NOT RUNNING (systemctl status orderflow)";
        return std::string("UNKNOWN: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("NOT ANSWERING: ") + e.what();
    }
}

}  // namespace

// Exit 0 when the daemon answers, 1 when it does not (or the database
// cannot be read): `orderflowctl status || alert` is a liveness check.
int cmd_status(const args& a) {
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    // No secret: staff who may not read the vault key can still see the
    // state. Opened first: a storage.path naming no database (mistyped)
    // says so alone, not after a daemon on admin.socket answered.
    auto db = open_database(*cfg);
    // What the database says is what the daemon last wrote: while it does
    // not run, nothing of it is happening now.
    const std::string trouble = daemon_trouble(*cfg);
    const bool running = trouble.empty();
    const std::string last_known = running ? "" : " (last known)";
    std::cout << "daemon:   " << (running ? "running" : trouble + "; what follows is the last known state, from the database") << "\n";
    storage::store store(db);
    auto counts = store.counts();
    const bool stored = storage::vault::stored(db, token_vault_name);
    std::cout << "database: " << cfg->storage.path.string() << "\n";
    // What the daemon last knew of the tokens (daemon_state "auth"), else what is stored.
    json auth = json::parse(store.get_state("auth").value_or("{}"), nullptr, false);
    const std::string auth_state = auth.is_object() ? auth.value("state", "") : "";
    // A deauthorization deletes the tokens: the daemon's word comes first.
    if (auth_state == "reauthorization_required" || auth_state == "deauthorized") {
        std::cout << "auth:     STOPPED since " << format_time(auth.value("since", std::int64_t{0})) << ": " << auth.value("advice", "")
                  << last_known << "\n";
    } else if (!stored) {
        std::cout << "auth:     not authorized (orderflowctl auth url, then orderflowctl auth exchange CODE)\n";
    } else {
        std::cout << "auth:     tokens stored"
                  << (auth_state.empty() ? "" : (running ? "; daemon: " : "; last known: ") + auth_state) << "\n";
    }
    // The customer-service quota of today (UTC), as the daemon stored it (daemon/cs_quota.hpp).
    const json cs = cs_quota_view(store, *cfg, system_now());
    std::cout << "tiktok:   customer-service calls today (" << cs["day"].get<std::string>() << " UTC): " << cs["used"].dump() << " of "
              << cs["limit"].dump() << ", " << cs["reserve"].dump() << " kept for replies to buyers";
    if (cs["replies"] == "wait")
        std::cout << "; QUOTA USED UP: nothing goes to customer service until 00:00 UTC";
    else if (cs["proactive"] == "waits")
        std::cout << "; RESERVE REACHED: only replies go out, proactive messages and conversation polling wait until 00:00 UTC";
    std::cout << "\n";
    // What the next poll pass reads: changes since the cursor minus the overlap.
    for (const char* cursor : {"poll.orders", "poll.messages"})
        if (auto v = store.get_state(cursor))
            std::cout << (std::string(cursor) == "poll.orders" ? "poll:     next pass reads orders changed since "
                                                                : "          and buyer messages since ")
                      << format_time(std::stoll(*v) - cfg->poll.overlap.count()) << "\n";
    for (const char* table : {"inbox", "outbox"}) {
        std::cout << (std::string(table) == "inbox" ? "events:   " : "actions:  ");
        bool first = true;
        if (counts.contains(table))
            for (auto& [state, n] : counts[table].items()) {
                std::cout << (first ? "" : ", ") << state << " " << n.dump();
                first = false;
            }
        std::cout << (first ? "none" : "") << "\n";
    }
    auto open_reviews = store.reviews(false, 1000);
    int critical = 0;
    for (const auto& r : open_reviews) critical += r.severity == "critical";
    std::cout << "review:   " << open_reviews.size() << " open" << (critical ? " (" + std::to_string(critical) + " critical)" : "")
              << (open_reviews.empty() ? "" : "; see orderflowctl review list") << "\n";
    json rules_state = json::parse(store.get_state("rules").value_or("{}"), nullptr, false);
    if (rules_state.is_object() && rules_state.contains("in_force")) {
        const json& f = rules_state["in_force"];
        std::cout << "rules:    " << f.value("count", 0) << " in force (hash " << f.value("hash", "").substr(0, 12) << "), since "
                  << format_time(f.value("since", std::int64_t{0})) << " (" << f.value("how", "") << ")" << last_known << "\n";
    }
    if (rules_state.is_object() && rules_state.contains("last_reload")) {
        const json& r = rules_state["last_reload"];
        std::cout << "reload:   last " << format_time(r.value("at", std::int64_t{0})) << " " << (r.value("ok", false) ? "ok" : "FAILED; the rules above stay in force");
        std::cout << last_known;
        // The first few errors; the rest counted (the daemon keeps up to 50
        // of them and the number of all; `check` prints every one).
        constexpr std::size_t shown = 5;
        const json errors = r.value("errors", json::array());
        std::size_t listed = 0;
        for (const auto& e : errors) {
            if (listed == shown) break;
            if (!e.is_string()) continue;
            std::cout << "\n          " << e.get<std::string>();
            ++listed;
        }
        std::size_t total = errors.is_array() ? errors.size() : 0;
        if (auto count = r.find("error_count"); count != r.end() && count->is_number_unsigned())
            total = std::max(total, count->get<std::size_t>());
        if (total > listed)
            std::cout << "\n          and " << total - listed << " more (orderflowctl check shows all)";
        std::cout << "\n";
    }
    json breaker = json::parse(store.get_state("breaker").value_or("{}"), nullptr, false);
    if (breaker.is_object() && breaker.value("open", false))
        std::cout << "sending:  PAUSED by the circuit breaker since " << format_time(breaker.value("tripped_at", std::int64_t{0})) << ": "
                  << breaker.value("planned", 0) << " messages planned within " << breaker.value("interval_s", 0)
                  << " s (limit " << breaker.value("limit", 0) << "); check the rules, then orderflowctl resume [--drop-held]"
                  << last_known << "\n";
    else if (running)
        std::cout << "sending:  on\n";
    else
        std::cout << "sending:  nothing is sent while orderflowd does not run (last known: on)\n";
    return running ? 0 : 1;
}

// What happened, oldest first: each event with what the rules made of it, and
// each action with its outcome and text. For operators and for `make demo`.
int cmd_activity(const args& a) {
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    auto db = open_database(*cfg);
    storage::store store(db);
    auto events = store.recent_events(a.limit);
    std::reverse(events.begin(), events.end());
    std::cout << "events (oldest first):\n";
    for (const auto& e : events) {
        json payload = json::parse(e.payload, nullptr, false);
        std::string detail;
        if (payload.is_object() && payload.contains("data") && payload["data"].is_object()) {
            const auto& d = payload["data"];
            if (d.contains("order_status") && d["order_status"].is_string())
                detail = " -> " + normalize_status(d["order_status"].get<std::string>());   // as the rules see it
        }
        std::cout << "  #" << e.id << "  " << format_time(e.received_at) << "  " << e.source << "  " << e.event << detail
                  << (e.order_id.empty() ? "" : "  order " + e.order_id) << "\n"
                  << "        " << e.state << (e.note.empty() ? "" : ": " + e.note) << "\n";
    }
    auto actions = store.recent_actions(a.limit);
    std::reverse(actions.begin(), actions.end());
    std::cout << "actions (oldest first):\n";
    for (const auto& x : actions) {
        json p = json::parse(x.payload, nullptr, false);
        std::string text = p.is_object() ? p.value("text", "") : "";
        // A capture shows what it kept: the buyer's answer, on the order.
        if (x.kind == "capture" && p.is_object())
            text = "order.attributes." + p.value("attribute", "") + " = " + p.value("value", "");
        std::cout << "  #" << x.id << "  " << x.kind << " (rule " << x.rule_id << ") for order " << x.order_id << ": " << x.state
                  << (x.reason.empty() ? "" : " (" + x.reason + ")") << "\n";
        if (!text.empty()) {
            std::string indented = "        | ";
            for (char c : text) indented += c == '\n' ? std::string("\n        | ") : std::string(1, c);
            std::cout << indented << "\n";
        }
    }
    return 0;
}

// ---- rules test / rules explain ---------------------------------------------
//
// The parsing, running and comparing live in rules/fixture.hpp and
// rules::explain (unit-tested there); these functions load and print.

}  // namespace orderflow::daemon::ctl
