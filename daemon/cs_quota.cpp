// See cs_quota.hpp.
#include "daemon/cs_quota.hpp"

#include "common/log.hpp"
#include "daemon/review_desk.hpp"
#include "tikapi/client.hpp"

#include <algorithm>
#include <ctime>

namespace orderflow::daemon {

using json = nlohmann::json;

std::string utc_day_text(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm utc{};
    gmtime_r(&tt, &utc);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &utc);
    return day;
}

std::int64_t next_utc_midnight(std::int64_t t) { return (t / 86400 + 1) * 86400; }

std::optional<cs_wait> cs_refusal(cs_purpose purpose, std::int64_t used, const config& cfg, std::int64_t now) {
    const auto& q = cfg.customer_service;
    const std::int64_t left = q.daily_quota - used;
    const std::string count = std::to_string(used) + " of " + std::to_string(q.daily_quota) + " used today (UTC)";
    if (left <= 0)
        return cs_wait{"customer-service quota used up: " + count + "; waits until 00:00 UTC", next_utc_midnight(now)};
    if (purpose != cs_purpose::reply && left <= q.reply_reserve)
        return cs_wait{"customer-service quota: " + count + ", the last " + std::to_string(q.reply_reserve) +
                           " are kept for replies to buyers (customer_service.reply_reserve); waits until 00:00 UTC",
                       next_utc_midnight(now)};
    return std::nullopt;
}

std::optional<cs_wait> cs_refusal(cs_purpose purpose, const tikapi::client& api, const config& cfg, std::int64_t now) {
    return cs_refusal(purpose, api.cs_calls_today(), cfg, now);
}

namespace {

// The stored count of `day`, 0 when the stored one is of another day.
std::int64_t stored_count(storage::store& store, const std::string& day) {
    json j = json::parse(store.get_state("cs_calls").value_or("{}"), nullptr, false);
    if (!j.is_object() || j.value("day", "") != day || !j.contains("count") || !j["count"].is_number_integer()) return 0;
    return j["count"].get<std::int64_t>();
}

}  // namespace

json cs_quota_view(storage::store& store, const config& cfg, std::int64_t now) {
    const std::string day = utc_day_text(now);
    const std::int64_t used = stored_count(store, day);
    const auto& q = cfg.customer_service;
    return {{"day", day},
            {"used", used},
            {"limit", q.daily_quota},
            {"reserve", q.reply_reserve},
            {"remaining", std::max<std::int64_t>(0, q.daily_quota - used)},
            {"proactive", cs_refusal(cs_purpose::proactive, used, cfg, now) ? "waits" : "go"},
            {"replies", cs_refusal(cs_purpose::reply, used, cfg, now) ? "wait" : "go"},
            {"resets_at", next_utc_midnight(now)}};
}

cs_quota::cs_quota(context ctx, const config& cfg, review_desk& desk) : ctx_(std::move(ctx)), cfg_(&cfg), desk_(desk) {}

void cs_quota::restore(tikapi::client& api) {
    const std::int64_t count = stored_count(ctx_.store, utc_day_text(ctx_.clock()));
    if (count <= 0) return;
    api.resume_cs_calls(count);
    log::info("cs_quota_resumed", {{"day", utc_day_text(ctx_.clock())}, {"used", count}, {"limit", cfg_->customer_service.daily_quota}});
}

void cs_quota::counted(std::int64_t count_today) {
    const std::string day = utc_day_text(ctx_.clock());
    const auto& q = cfg_->customer_service;
    try {
        ctx_.db.transaction([&] {
            ctx_.store.put_state("cs_calls", json{{"day", day}, {"count", count_today}}.dump(), ctx_.clock());
            if (count_today >= q.daily_quota - q.reply_reserve) alert_once(day, count_today, "critical");
            else if (count_today * 100 >= q.daily_quota * q.warn_percent) alert_once(day, count_today, "warning");
        }, storage::database::durability::process_crash);
    } catch (const std::exception& e) {
        log::warn("cs_quota_not_stored", {{"error", e.what()}, {"advice", "the next customer-service call stores the count again"}});
    }
}

// One review item per UTC day and level (daemon_state "cs_quota.alerts":
// {"day", "level"}): staff resolving it does not bring it back the same day.
void cs_quota::alert_once(const std::string& day, std::int64_t used, const char* level) {
    json sent = json::parse(ctx_.store.get_state("cs_quota.alerts").value_or("{}"), nullptr, false);
    const bool today = sent.is_object() && sent.value("day", "") == day;
    const std::string already = today ? sent.value("level", "") : "";
    if (already == level || already == "critical") return;
    const auto& q = cfg_->customer_service;
    const bool critical = std::string(level) == "critical";
    const std::string summary =
        critical ? "customer-service quota nearly used up: " + std::to_string(used) + " of " + std::to_string(q.daily_quota) +
                       " calls today (UTC); only replies to buyers go out until 00:00 UTC, proactive messages and conversation polling wait"
                 : "customer-service quota: " + std::to_string(used) + " of " + std::to_string(q.daily_quota) +
                       " calls used today (UTC); at " + std::to_string(q.daily_quota - q.reply_reserve) +
                       " only replies to buyers go out until 00:00 UTC";
    desk_.raise("", critical ? "cs_quota_reserve" : "cs_quota_low", level, summary,
                {{"day", day}, {"used", used}, {"limit", q.daily_quota}, {"reserve", q.reply_reserve}}, "cs_quota:" + day);
    ctx_.store.put_state("cs_quota.alerts", json{{"day", day}, {"level", level}}.dump(), ctx_.clock());
    log::warn("cs_quota_low", {{"day", day}, {"used", used}, {"limit", q.daily_quota}, {"reserve", q.reply_reserve}, {"level", level}});
}

}  // namespace orderflow::daemon
