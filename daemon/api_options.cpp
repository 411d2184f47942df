// See api_options.hpp.
#include "daemon/api_options.hpp"

#include "daemon/telemetry.hpp"
#include "tikapi/rate_limiter.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace orderflow::daemon {

namespace {

tikapi::url parse_url_or_throw(const std::string& text, const char* key) {
    auto u = tikapi::url::parse(text);
    if (!u) throw std::runtime_error(std::string("config: '") + key + "' is not an http(s) URL: " + text);
    return *u;
}

}  // namespace

tikapi::client_options api_options(const config& cfg, orderflow::secret app_secret, std::function<std::int64_t()> clock) {
    tikapi::client_options o;
    o.api_base = parse_url_or_throw(cfg.tiktok.api_base, "tiktok.api_base");
    o.auth_base = parse_url_or_throw(cfg.tiktok.auth_base, "tiktok.auth_base");
    o.app_key = cfg.tiktok.app_key;
    o.app_secret = std::move(app_secret);
    o.shop_cipher = cfg.tiktok.shop_cipher;
    o.timeout = cfg.tiktok.timeout;
    o.tls.ca_file = cfg.tiktok.ca_file.string();
    o.clock = std::move(clock);
    o.cs_daily_quota = cfg.customer_service.daily_quota;
    // TikTok counts requests per API in each second (docs/tiktok-shop-api.md,
    // "Rate limits"). A bucket of B tokens refilled at R/s lets B + R through
    // in any one second. R is 90% of the limit and B is small (2% of it, at
    // least 1): the executor sends from several lanes at once, and requests
    // paced on time can still arrive bunched by a few milliseconds of network
    // jitter; with a burst of 10% a 10,000-message backlog met two 429s, the
    // margin of 8% meets none.
    o.rate_limit_qps = cfg.tiktok.rate_limit_qps;
    if (cfg.tiktok.rate_limit_qps > 0) {
        tikapi::rate_limiter_options limits;
        limits.rate = cfg.tiktok.rate_limit_qps * 0.9;
        limits.burst = std::max(1.0, cfg.tiktok.rate_limit_qps * 0.02);
        o.limiter = std::make_shared<tikapi::rate_limiter>(limits);
    }
    o.on_attempt = [](const tikapi::attempt_report& r) {
        const std::string api(r.api);
        telemetry::count("orderflow_tiktok_calls_total", {{"api", api}, {"code", r.result}}).add();
        telemetry::timing("orderflow_tiktok_call_seconds", {{"api", api}}).observe(std::chrono::duration<double>(r.took).count());
        if (r.retried) telemetry::count("orderflow_tiktok_retries_total", {{"api", api}}).add();
        if (r.throttled) telemetry::count("orderflow_tiktok_throttled_total", {{"api", api}}).add();
    };
    return o;
}

}  // namespace orderflow::daemon
