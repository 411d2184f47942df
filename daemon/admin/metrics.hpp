// Prometheus text exposition for `orderflowctl metrics` (and, e.g., the
// node_exporter textfile collector): the rules in force and the last reload,
// the inbox and outbox by state, open review items, the circuit breaker and
// pending staff notifications. Throws storage_error.
#pragma once

#include "daemon/context.hpp"

#include <string>

namespace orderflow::daemon {

class breaker;
class rules_in_force;

std::string metrics_text(const context& ctx, const rules_in_force& in_force, const breaker& brk);

}  // namespace orderflow::daemon
