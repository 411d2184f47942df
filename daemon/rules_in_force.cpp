// See rules_in_force.hpp.
#include "daemon/rules_in_force.hpp"

#include "common/log.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/systemd.hpp"
#include "daemon/telemetry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <malloc.h>
#include <stdexcept>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

std::map<std::string, orderflow::secret> read_channel_secrets(const config& cfg) {
    std::map<std::string, orderflow::secret> out;
    for (const auto& ch : cfg.channels)
        if (ch.type == "webhook") out.emplace(ch.name, read_secret_file(ch.secret_file));
    return out;
}

std::shared_ptr<const rules::ruleset> load_rules_or_throw(const config& cfg) {
    auto loaded = rules::load_directory(cfg.rules.dir);
    for (const auto& d : loaded.diagnostics) log::write(d.warning ? log::level::warn : log::level::error, "rules_diagnostic", {{"message", d.to_string()}});
    if (!loaded.ok())
        throw std::runtime_error("rules in " + cfg.rules.dir.string() + " are not valid; run orderflowctl check --config " + cfg.file.string());
    return loaded.rules;
}

void apply_timezone(const std::string& tz) {
    ::setenv("TZ", tz.c_str(), 1);
    ::tzset();
}

namespace {

// The event of a warning found by a reload: the config's are logged as
// reload_failed lines (at warn level), the rules' as rules_warning.
const char* warning_event(const char* error_event) {
    return std::string_view(error_event) == "rules_reload_failed" ? "rules_warning" : error_event;
}

// The config keys whose change needs a restart, when they differ.
std::vector<std::string> restart_keys(const config& now, const config& next) {
    std::vector<std::string> keys;
    auto differ = [&](bool changed, const char* key) {
        if (changed) keys.emplace_back(key);
    };
    differ(now.tiktok.api_base != next.tiktok.api_base, "tiktok.api_base");
    differ(now.tiktok.auth_base != next.tiktok.auth_base, "tiktok.auth_base");
    differ(now.tiktok.app_key != next.tiktok.app_key, "tiktok.app_key");
    differ(now.tiktok.app_secret_file != next.tiktok.app_secret_file, "tiktok.app_secret_file");
    differ(now.tiktok.shop_cipher != next.tiktok.shop_cipher, "tiktok.shop_cipher");
    differ(now.tiktok.shop_id != next.tiktok.shop_id, "tiktok.shop_id");
    differ(now.tiktok.timeout != next.tiktok.timeout, "tiktok.timeout");
    differ(now.tiktok.ca_file != next.tiktok.ca_file, "tiktok.ca_file");
    differ(now.tiktok.rate_limit_qps != next.tiktok.rate_limit_qps, "tiktok.rate_limit_qps");
    differ(now.webhook.listen.host != next.webhook.listen.host || now.webhook.listen.port != next.webhook.listen.port, "webhook.listen");
    differ(now.webhook.path != next.webhook.path, "webhook.path");
    differ(now.webhook.max_body != next.webhook.max_body, "webhook.max_body");
    differ(now.webhook.read_timeout != next.webhook.read_timeout, "webhook.read_timeout");
    differ(now.webhook.trusted_proxies != next.webhook.trusted_proxies, "webhook.trusted_proxies");
    differ(now.storage.path != next.storage.path, "storage.path");
    differ(now.storage.vault_key_file != next.storage.vault_key_file, "storage.vault_key_file");
    differ(now.admin.socket != next.admin.socket, "admin.socket");
    differ(now.admin.listen.has_value() != next.admin.listen.has_value() ||
               (now.admin.listen && (now.admin.listen->host != next.admin.listen->host || now.admin.listen->port != next.admin.listen->port)),
           "admin.listen");
    differ(now.admin.token_file != next.admin.token_file, "admin.token_file");
    differ(now.poll.enabled != next.poll.enabled, "poll.enabled");
    differ(now.poll.start != next.poll.start, "poll.start");
    differ(now.tracking.feed_dir != next.tracking.feed_dir, "tracking.feed_dir");
    return keys;
}

}  // namespace

rules_in_force::rules_in_force(context ctx, config cfg, std::shared_ptr<const rules::ruleset> rules,
                               std::map<std::string, orderflow::secret> channel_secrets)
    : ctx_(std::move(ctx)), cfg_(std::move(cfg)), rules_(std::move(rules)), channel_secrets_(std::move(channel_secrets)) {}

const orderflow::secret* rules_in_force::channel_secret(const std::string& channel) const {
    auto it = channel_secrets_.find(channel);
    return it == channel_secrets_.end() ? nullptr : &it->second;
}

rules_in_force::candidate rules_in_force::read_candidate(const std::filesystem::path& file) {
    candidate c{load_config(file), std::nullopt, {}, {}, std::nullopt, {}};
    if (!c.cfg.ok()) return c;
    c.rules = rules::load_directory(c.cfg.value->rules.dir);
    try {
        c.channel_secrets = read_channel_secrets(*c.cfg.value);
    } catch (const std::exception& e) {
        c.secret_error = e.what();
    }
    try {
        c.app_secret = read_secret_file(c.cfg.value->tiktok.app_secret_file);
    } catch (const std::exception& e) {
        c.app_secret_error = e.what();
    }
    return c;
}

rules_in_force::reload_outcome rules_in_force::adopt(candidate& next) {
    reload_outcome out;
    // Every error is counted; the first errors_listed are logged (one line
    // each, with their warnings) and listed in the outcome, so that a
    // folder of a thousand broken rules does not flood the journal at every
    // reload. rules_kept (reload()) says how many were left out.
    auto note = [&](const char* event, const std::string& message, bool warning) {
        if (warning) {
            if (out.warning_count++ < errors_listed) log::warn(warning_event(event), {{"message", message}});
            return;
        }
        ++out.error_count;
        if (out.errors.size() >= errors_listed) return;
        log::error(event, {{"message", message}});
        out.errors.push_back(message);
    };
    auto& loaded_cfg = next.cfg;
    if (!loaded_cfg.ok()) {
        for (const auto& d : loaded_cfg.diagnostics) note("reload_failed", d.to_string(), d.warning);
        return out;
    }
    const auto& loaded = *next.rules;
    for (const auto& d : loaded.diagnostics) note("rules_reload_failed", d.to_string(), d.warning);
    if (!next.secret_error.empty()) note("reload_failed", next.secret_error, false);
    // The app secret is read again at the next start: a file that cannot be
    // read now would keep the daemon from starting then.
    const bool app_secret_unreadable = app_secret_ && !next.app_secret_error.empty();
    if (app_secret_unreadable) note("reload_failed", next.app_secret_error, false);
    if (!loaded.ok() || !next.secret_error.empty() || app_secret_unreadable) return out;

    const config& n = *loaded_cfg.value;
    out.needs_restart = restart_keys(cfg_, n);
    auto needs_restart = [&](std::string_view key) {
        return std::find(out.needs_restart.begin(), out.needs_restart.end(), key) != out.needs_restart.end();
    };
    // A new app secret in the same file: webhooks signed with it are refused
    // (401) until the restart, so it is named like a changed path.
    const bool secret_changed = app_secret_ && next.app_secret && next.app_secret->reveal() != app_secret_->reveal();
    if (secret_changed && !needs_restart("tiktok.app_secret_file")) out.needs_restart.emplace_back("tiktok.app_secret_file");
    rules_ = loaded.rules;
    // What takes effect without a restart.
    cfg_.rules = n.rules;
    cfg_.executor = n.executor;
    cfg_.guards = n.guards;
    cfg_.breaker = n.breaker;
    cfg_.retention = n.retention;
    cfg_.privacy = n.privacy;
    cfg_.digest_interval = n.digest_interval;
    cfg_.heartbeat_at = n.heartbeat_at;
    cfg_.channels = n.channels;
    channel_secrets_ = std::move(next.channel_secrets);
    // Who may run operator commands, and whether /metrics needs the token:
    // read per request (on this loop), so a revoked operator is refused at once.
    cfg_.admin.operators = n.admin.operators;
    // The console's name behind its proxy: read per request too.
    cfg_.admin.console_host = n.admin.console_host;
    // Whose X-Forwarded-For the admin listener believes: read per request too.
    cfg_.admin.trusted_proxies = n.admin.trusted_proxies;
    // open_metrics is allowed only on a loopback admin.listen, which the
    // config check verifies against the new file's address; the listener
    // keeps its old one until a restart, so it applies only when unchanged.
    if (!needs_restart("admin.listen")) cfg_.admin.open_metrics = n.admin.open_metrics;
    else if (cfg_.admin.open_metrics != n.admin.open_metrics) out.needs_restart.emplace_back("admin.open_metrics");
    cfg_.customer_service = n.customer_service;
    cfg_.poll.interval = n.poll.interval;
    cfg_.poll.overlap = n.poll.overlap;
    cfg_.tracking.scan_interval = n.tracking.scan_interval;
    cfg_.tracking.carriers = n.tracking.carriers;
    if (cfg_.timezone != n.timezone) {
        cfg_.timezone = n.timezone;
        apply_timezone(cfg_.timezone);
    }
    if (cfg_.log_level != n.log_level) {
        cfg_.log_level = n.log_level;
        log::threshold() = log::parse_level(cfg_.log_level);
    }
    out.ok = true;
    json reloaded{{"rules", rules_->size()}, {"rules_hash", rules_->hash()}};
    if (out.warning_count > 0) reloaded["warnings"] = out.warning_count;
    if (out.warning_count > errors_listed)
        reloaded["advice"] = std::to_string(out.warning_count - errors_listed) + " more warnings are not logged: orderflowctl check --config " +
                             cfg_.file.string() + " shows all";
    log::info("rules_reloaded", reloaded);
    if (!out.needs_restart.empty())
        log::warn("config_change_needs_restart", {{"keys", out.needs_restart},
                                                  {"advice", "these settings changed but take effect only after a restart (systemctl restart orderflow)"}});
    return out;
}

asio::awaitable<rules_in_force::reload_outcome> rules_in_force::reload(asio::any_io_executor background, review_desk& desk) {
    while (reloading_) {
        asio::steady_timer turn(ctx_.ex);
        turn.expires_after(std::chrono::milliseconds(20));
        co_await turn.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    reloading_ = true;
    systemd::notify("RELOADING=1");
    const std::filesystem::path file = cfg_.file;
    auto read = [file]() -> asio::awaitable<candidate> { co_return read_candidate(file); };
    candidate next = co_await asio::co_spawn(background, read, asio::use_awaitable);
    reload_outcome out = adopt(next);
    next = candidate{};
    // A large rejected rule set was freed just above; hand its pages back.
    ::malloc_trim(0);
    if (!out.ok) {
        const std::string check = "orderflowctl check --config " + cfg_.file.string();
        json kept{{"rules", rules_->size()}, {"rules_hash", rules_->hash()}, {"errors", out.total()}, {"warnings", out.warning_count},
                  {"advice", "fix the errors above and reload again; the previous rules stay in force"}};
        if (out.not_listed() > 0) {
            kept["not_logged"] = out.not_listed();
            kept["advice"] = "fix the errors above and reload again; the previous rules stay in force. " + std::to_string(out.not_listed()) +
                             " more errors are not logged: " + check + " shows all";
        }
        log::error("rules_kept", kept);
        // The first error in the summary, so that the notification itself says what is wrong.
        std::string summary = "a reload failed";
        if (!out.errors.empty())
            summary += ": " + out.errors.front() + (out.total() > 1 ? " (and " + std::to_string(out.total() - 1) + " more)" : "");
        summary += "; the previous rules stay in force. Run " + check;
        try {
            ctx_.db.transaction([&] {
                desk.raise("", "reload_failed", "warning", summary,
                           {{"rules_hash", rules_->hash()}, {"config", cfg_.file.string()}, {"errors", out.errors},
                            {"error_count", out.total()}});
            });
        } catch (const std::exception& e) {
            log::error("review_not_recorded", {{"error", e.what()}});
        }
    }
    record("reload", out.ok, out.errors, out.total());
    systemd::notify("READY=1");
    reloading_ = false;
    co_return out;
}

void rules_in_force::record(const char* how, bool ok, const std::vector<std::string>& errors, std::size_t error_count) {
    const std::int64_t now = ctx_.clock();
    if (std::string_view(how) == "reload") telemetry::count("orderflow_reloads_total", {{"result", ok ? "ok" : "failed"}}).add();
    try {
        json st = json::parse(ctx_.store.get_state("rules").value_or("{}"), nullptr, false);
        if (!st.is_object()) st = json::object();
        if (ok) st["in_force"] = {{"count", rules_->size()}, {"hash", rules_->hash()}, {"since", now}, {"how", how}};
        if (std::string_view(how) != "start")
            st["last_reload"] = {{"at", now}, {"ok", ok}, {"errors", errors}, {"error_count", std::max(error_count, errors.size())}};
        ctx_.store.put_state("rules", st.dump(), now);
    } catch (const std::exception& e) {
        log::error("rules_state_not_recorded", {{"error", e.what()}});
    }
}

}  // namespace orderflow::daemon
