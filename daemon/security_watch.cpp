// See security_watch.hpp.
#include "daemon/security_watch.hpp"

#include "common/log.hpp"
#include "daemon/ingress/forwarded_for.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/telemetry.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <vector>

namespace orderflow::daemon {

using json = nlohmann::json;

namespace {

std::int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

const char* what_door(std::string_view door) {
    if (door == "webhook_signature") return "webhooks with a signature that does not match tiktok.app_secret_file";
    if (door == "admin_token") return "requests to the admin listener with a missing or wrong bearer token";
    if (door == "console_login") return "failed console logins";
    if (door == "other_shop") return "signed webhooks for another shop than tiktok.shop_id";
    return "refused credentials";
}

const char* advice_for(std::string_view door) {
    if (door == "webhook_signature")
        return "if TikTok's webhooks are among them, the app secret changed: update tiktok.app_secret_file and restart "
               "(systemctl restart orderflow; a reload does not change it); otherwise someone is probing the webhook URL (the sources are listed)";
    if (door == "admin_token")
        return "check the warehouse's and the scraper's admin token; unknown sources are probing the admin listener";
    if (door == "console_login") return "someone is guessing console passwords; block the sources (orderflowctl account list shows who has an account)";
    return "check tiktok.shop_id and the app's authorized shops in Partner Center";
}

// The ten busiest entries, as a JSON object.
json top(const std::map<std::string, int>& counts) {
    std::vector<std::pair<std::string, int>> v(counts.begin(), counts.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > 10) v.resize(10);
    json out = json::object();
    for (auto& [k, n] : v) out[k] = n;
    return out;
}

}  // namespace

security_watch::security_watch(context ctx, review_desk& desk, options opts)
    : ctx_(std::move(ctx)), desk_(desk), opts_(opts) {}

void security_watch::refused(std::string_view door, std::string_view remote, std::string_view detail) {
    telemetry::count("orderflow_security_failures_total", {{"door", std::string(door)}}).add();
    const std::int64_t now = wall_ms();
    const std::int64_t window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.window).count();
    const std::int64_t quiet_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.quiet).count();
    std::lock_guard lock(mutex_);
    auto it = doors_.find(door);
    if (it == doors_.end()) it = doors_.emplace(std::string(door), door_state{}).first;
    door_state& d = it->second;
    while (!d.times.empty() && d.times.front() <= now - window_ms) d.times.pop_front();
    // Nothing was building up: what was counted for the next alert is old news.
    if (d.times.empty() && now - d.last_alert_ms >= quiet_ms) {
        d.first_ms = 0;
        d.sources.clear();
        d.details.clear();
    }
    d.times.push_back(now);
    if (d.first_ms == 0) d.first_ms = now;
    // Sources and details are kept per alert, bounded: a flood from many
    // addresses keeps the first thousand.
    const std::string source(address_of(remote));
    if (d.sources.size() < 1000 || d.sources.count(source)) ++d.sources[source];
    const std::string what(detail);
    if (!what.empty() && (d.details.size() < 100 || d.details.count(what))) ++d.details[what];
    if (static_cast<int>(d.times.size()) < opts_.threshold) return;
    if (d.last_alert_ms != 0 && now - d.last_alert_ms < quiet_ms) return;
    d.last_alert_ms = now;
    const int count = static_cast<int>(d.times.size());
    auto sources = std::exchange(d.sources, {});
    auto details = std::exchange(d.details, {});
    const std::int64_t first = std::exchange(d.first_ms, 0);
    boost::asio::post(ctx_.ex, [this, door = std::string(door), count, first, now, sources = std::move(sources),
                                details = std::move(details)]() mutable {
        raise(door, count, first, now, std::move(sources), std::move(details));
    });
}

// On the event loop.
void security_watch::raise(const std::string& door, int count, std::int64_t first_ms, std::int64_t last_ms,
                           std::map<std::string, int> sources, std::map<std::string, int> details) {
    telemetry::count("orderflow_security_alerts_total", {{"door", door}}).add();
    std::string summary = std::to_string(count) + " " + what_door(door) + " within " + std::to_string(opts_.window.count()) +
                          " s, from " + std::to_string(sources.size()) + " address(es): " + advice_for(door);
    json evidence{{"door", door}, {"refusals", count}, {"window_s", opts_.window.count()}, {"sources", top(sources)},
                  {"first_at_ms", first_ms}, {"last_at_ms", last_ms},
                  {"next_alert_after_s", opts_.quiet.count()}};
    if (!details.empty()) evidence["refused"] = top(details);
    try {
        ctx_.db.transaction([&] { desk_.raise("", "security", "critical", summary, evidence, door + ":" + std::to_string(last_ms)); });
    } catch (const std::exception& e) {
        log::error("security_alert_not_recorded", {{"door", door}, {"error", e.what()}});
    }
    log::warn("security_alert", {{"door", door}, {"refusals", count}, {"sources", top(sources)}});
}

}  // namespace orderflow::daemon
