// What a rule sees of one event: the event itself, the order before and
// after it, the incoming message, and the time. Plain values filled in by the
// daemon's pipeline; rules never fetch anything themselves.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace orderflow::rules {

struct context {
    std::string event;             // "order.status_changed", "message.received", ...
    std::string event_id;          // unique id of the inbox event (for once_per "event")
    nlohmann::json event_data;     // fields exposed as event.*
    nlohmann::json order;          // the order view (rules/fields.hpp); null when the event has no order
    nlohmann::json previous_order; // the cached view before this event, null if none (for changed_to/changed_from)
    nlohmann::json message;        // message.* for message.received; null otherwise
    nlohmann::json conversation;   // conversation.* for message.received (its buyer, the candidate orders); null otherwise
    std::int64_t now = 0;          // unix seconds
    std::int64_t utc_offset = 0;   // the shop's time zone offset at `now`, seconds east of UTC (template date filters)
    std::string default_locale = "ja";
    nlohmann::json shop;           // shop.* (name); null when unknown
    // The change is taken as given and only the present is tested:
    // changed_to X holds when the field is X now, changed_from X when it is
    // not X now, whatever previous_order says. For the re-check of a send
    // that waited (daemon/executor/guards.hpp), which has no view of the
    // order before its event.
    bool edges_given = false;
};

}  // namespace orderflow::rules
