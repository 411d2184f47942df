// Test support for the executor's components: the executor's parts built on
// a runtime_env exactly as app.cpp wires them, and small helpers to plant
// outbox rows (as the pipeline plans them) and read back what became of them.
#pragma once

#include "daemon/executor/breaker.hpp"
#include "daemon/executor/guards.hpp"
#include "daemon/executor/message_sender.hpp"
#include "daemon/executor/outcomes.hpp"
#include "daemon/executor/reconciler.hpp"
#include "daemon/executor/tracking_sender.hpp"
#include "daemon/order_source.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace orderflow::daemon::testing {

// The executor's parts, wired as in app.cpp. resumes counts the breaker's
// on_resumed calls; wake_executor, when set, is called then too (as the
// daemon wakes its executor).
struct executor_parts {
    explicit executor_parts(runtime_env& env)
        : orders(*env.api, *env.tokens),
          out(env.ctx, *env.in_force, *env.desk),
          brk(env.ctx, *env.in_force, *env.desk,
              [this] {
                  ++resumes;
                  if (wake_executor) wake_executor();
              }),
          grd(env.ctx, *env.in_force, out, orders),
          messages(env.ctx, *env.in_force, *env.api, *env.tokens, out, grd),
          tracking(env.ctx, *env.in_force, *env.api, *env.tokens, out, orders),
          recon(env.ctx, *env.api, *env.tokens, *env.desk) {}

    int resumes = 0;
    std::function<void()> wake_executor;
    order_source orders;
    outcomes out;
    breaker brk;
    guards grd;
    message_sender messages;
    tracking_sender tracking;
    reconciler recon;
};

// What the pipeline would plan: one outbox row, created now. Returns the row.
inline storage::action_row plant_action(runtime_env& env, const std::string& kind, const std::string& order_id,
                                        const nlohmann::json& payload, const std::string& rule_id = "thanks",
                                        std::int64_t event_id = 0) {
    static int serial = 0;
    storage::new_action a;
    a.idem_key = "test:" + kind + ":" + std::to_string(++serial);
    a.rule_id = rule_id;
    a.kind = kind;
    a.order_id = order_id;
    a.event_id = event_id;
    a.payload = payload.dump();
    a.created_at = env.now;
    a.buyer_user_id = payload.value("buyer_user_id", "");
    REQUIRE(env.store.add_action(a));
    auto row = env.store.action_by_key(a.idem_key);
    REQUIRE(row.has_value());
    return *row;
}

// The row as it is now in the outbox.
inline storage::action_row action_now(runtime_env& env, std::int64_t id) {
    auto row = env.store.get_action(id);
    REQUIRE(row.has_value());
    return *row;
}

// The states the row went through (outbox_history), oldest first.
inline std::vector<std::string> states_of(runtime_env& env, std::int64_t id) {
    std::vector<std::string> out;
    for (const auto& h : env.store.action_history(id)) out.push_back(h.state);
    return out;
}

// Open review items with this reason.
inline std::vector<storage::review_item> reviews_for(runtime_env& env, const std::string& reason) {
    std::vector<storage::review_item> out;
    for (auto& r : env.store.reviews(false, 1000))
        if (r.reason == reason) out.push_back(r);
    return out;
}

// Audit entries of this action name, newest first.
inline std::vector<nlohmann::json> audit_of(runtime_env& env, const std::string& action) {
    std::vector<nlohmann::json> out;
    for (auto& e : env.store.recent_audit(1000))
        if (e.value("action", "") == action) out.push_back(e);
    return out;
}

// The sandbox's buyer user id of an order.
inline std::string buyer_of(runtime_env& env, const std::string& order_id) {
    return env.control("GET", "/control/orders/" + order_id).at("user_id").get<std::string>();
}

// Moves a planned row the way a send does: sending, then `state`.
inline void settle(runtime_env& env, std::int64_t id, const std::string& state, const std::string& reason = "",
                   const nlohmann::json& result = nlohmann::json::object()) {
    env.store.begin_attempt(id, env.now);
    env.store.set_action_state(id, state, reason, result.dump(), env.now);
}

}  // namespace orderflow::daemon::testing
