// The deadlines the sandbox gives a paid order (docs/tiktok-shop-api.md §6:
// rts_sla_time, tts_sla_time, shipping_due_time, collection_due_time,
// delivery_due_time), computed from its payment and ON_HOLD window so they
// stay put while nothing changes, and replaced one by one for a test through
// /control/orders/{id}/deadlines.
#include "tikapi/sandbox/shop.hpp"

#include <algorithm>

namespace orderflow::sandbox {

const std::vector<std::string>& deadline_names() {
    static const std::vector<std::string> names = {"rts_sla_time", "tts_sla_time", "shipping_due_time", "collection_due_time",
                                                   "delivery_due_time"};
    return names;
}

std::map<std::string, std::int64_t> order_deadlines(const order& o, std::int64_t handling_seconds) {
    std::map<std::string, std::int64_t> out;
    if (o.paid_time != 0) {
        const std::int64_t rts = std::max(o.paid_time, o.hold_until) + handling_seconds;
        out = {{"rts_sla_time", rts},
               {"tts_sla_time", rts + 86400},
               {"shipping_due_time", rts + 86400},
               {"collection_due_time", rts + 2 * 86400},
               {"delivery_due_time", rts + 5 * 86400}};
    }
    for (const auto& [name, at] : o.deadline_overrides) {
        if (at > 0) out[name] = at;
        else out.erase(name);
    }
    return out;
}

}  // namespace orderflow::sandbox
