// See deadline_timers.hpp.
#include "daemon/deadline_timers.hpp"

#include "common/log.hpp"

namespace orderflow::daemon {

using json = nlohmann::json;

std::string timer_key(const std::string& series, std::int64_t deadline) {
    return "timer:" + series + "@" + std::to_string(deadline);
}

std::optional<moved_deadline> deadline_moved(const storage::event_row& e, const json& order, std::int64_t now) {
    if (e.source != "timer" || !order.is_object()) return std::nullopt;
    json payload = json::parse(e.payload, nullptr, false);
    if (!payload.is_object() || !payload.contains("data") || !payload["data"].is_object()) return std::nullopt;
    const json& data = payload["data"];
    const std::string field = data.value("at", "");
    if (field.rfind("order.", 0) != 0 || !data.contains("anchor") || !data["anchor"].is_number_integer()) return std::nullopt;
    auto it = order.find(field.substr(6));
    if (it == order.end() || !it->is_number_integer() || it->get<std::int64_t>() <= 0) return std::nullopt;
    const std::int64_t was = data["anchor"].get<std::int64_t>(), now_is = it->get<std::int64_t>();
    if (now_is == was) return std::nullopt;
    moved_deadline m{field, was, now_is, {}};
    const std::int64_t offset = data.value("offset_s", std::int64_t{0});
    json moved = data;
    moved["anchor"] = now_is;
    moved["fire_at"] = now_is + offset;
    moved["moved_from"] = was;
    // One timer per deadline value: the same move seen twice, or seen by a
    // re-plan too, sets nothing new. A timer set before timers had a series
    // keeps its own name with the new value.
    const std::string series = data.value("series", "");
    m.rearmed.dedupe_key = series.empty() ? e.dedupe_key.substr(0, e.dedupe_key.find('@')) + "@" + std::to_string(now_is)
                                          : timer_key(series, now_is);
    m.rearmed.source = "timer";
    m.rearmed.event = e.event;
    m.rearmed.order_id = e.order_id;
    m.rearmed.not_before = now_is + offset;
    m.rearmed.received_at = now;
    m.rearmed.payload = json{{"data", std::move(moved)}}.dump();
    return m;
}

bool follow_moved_deadline(const context& ctx, const storage::event_row& e, const json& order) {
    const std::int64_t now = ctx.clock();
    auto moved = deadline_moved(e, order, now);
    if (!moved) return false;
    const std::string note = "TikTok moved " + moved->field + " from " + std::to_string(moved->was) + " to " +
                             std::to_string(moved->now_is) + "; this timer is void, a new one fires at " +
                             std::to_string(moved->rearmed.not_before);
    ctx.db.transaction([&] {
        ctx.store.add_event(moved->rearmed);
        ctx.store.finish_event(e.id, "done", note, now);
    }, storage::database::durability::process_crash);
    log::info("timer_moved", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"field", moved->field},
                              {"was", moved->was}, {"now_is", moved->now_is}, {"fires_at", moved->rearmed.not_before}});
    return true;
}

}  // namespace orderflow::daemon
