// What staff notifications say, shared by the daemon's notifier and
// `orderflowctl notify test`: the JSON payload (webhook and command
// channels) and its one-line text (chat channels). Pure functions.
#pragma once

#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace orderflow::daemon {

// 0 info, 1 warning, 2 critical (unknown names count as warning).
int severity_rank(std::string_view severity);

// {"kind":"review","review_id","order_id","reason","severity","summary","act","at"}
nlohmann::json review_notification(const storage::review_item& r);

// "[critical] order 5764...: summary. Act: orderflowctl review show 7"
std::string notification_text(const nlohmann::json& payload);

}  // namespace orderflow::daemon
