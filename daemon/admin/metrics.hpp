// The Prometheus text of GET /metrics and `orderflowctl metrics` (and, e.g.,
// the node_exporter textfile collector): gauges read from the database now
// (the rules in force and the last reload, the inbox and outbox by state,
// open review items and the oldest one's age, the circuit breaker, pending
// staff notifications), the runtime's own (authorized, loops unhealthy,
// start time), then every counter and histogram since the start
// (telemetry.hpp). Throws storage_error.
#pragma once

#include "daemon/context.hpp"

#include <cstdint>
#include <string>

namespace orderflow::daemon {

class breaker;
class rules_in_force;

// What only the running daemon knows.
struct runtime_facts {
    bool authorized = false;
    int loops_unhealthy = 0;
    std::int64_t started_at = 0;   // unix seconds
};

std::string metrics_text(const context& ctx, const rules_in_force& in_force, const breaker& brk, const runtime_facts& facts);

}  // namespace orderflow::daemon
