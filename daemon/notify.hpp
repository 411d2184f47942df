// What staff notifications say, shared by the daemon's notifier and
// `orderflowctl notify test`: the JSON payload (webhook and command
// channels) and its one-line text (chat channels). Pure functions.
#pragma once

#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon {

// 0 info, 1 warning, 2 critical (unknown names count as warning).
int severity_rank(std::string_view severity);

// {"kind":"review","review_id","order_id","reason","severity","summary","act","at"}
nlohmann::json review_notification(const storage::review_item& r);

// Several review alerts for one channel as one message (a storm):
// {"kind":"digest","count","severity" (the highest),"items":[review payloads],
//  "summary","act","at"}.
nlohmann::json digest_notification(const std::vector<nlohmann::json>& items, std::int64_t now);

// The daily "alive and what it did" message: {"kind":"heartbeat","severity":"info",
// "summary":"alive; last 24 h: 43 messages sent, 2 need review ...","counts":{...},"at"}.
nlohmann::json heartbeat_notification(const storage::activity_summary& last_day, bool sending_paused, std::int64_t now);

// "[critical] order 5764...: summary. Act: orderflowctl review show 7"; a
// digest lists its items, one line each (at most 20, then "... and N more").
std::string notification_text(const nlohmann::json& payload);

}  // namespace orderflow::daemon
