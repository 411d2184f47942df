// Tests for daemon/rules_in_force.cpp: a reload reads the config file and the
// rules directory it names into a candidate, and adopts it only when all of
// it is valid: the new rules and the reloadable settings take effect at once,
// settings that need a restart are named; an invalid rule file keeps the old
// set and says file:line. reload() (the coroutine, reading on a background
// pool) tells staff of a failure with a review item and records what status
// shows in daemon_state "rules". Against real config and rule files.
#include "daemon/rules_in_force.hpp"

#include "tests/common/log_capture.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace orderflow;
using namespace orderflow::daemon;
using json = nlohmann::json;
using orderflow::daemon::testing::runtime_env;

namespace {

// A reload may change the process's time zone (TZ): put it back after each test.
struct tz_guard {
    std::optional<std::string> saved;
    tz_guard() {
        if (const char* tz = std::getenv("TZ")) saved = tz;
    }
    ~tz_guard() {
        if (saved) ::setenv("TZ", saved->c_str(), 1);
        else ::unsetenv("TZ");
        ::tzset();
    }
};

// The config the daemon started with; relative paths are next to the file.
json base_config() {
    return {{"tiktok", {{"app_key", "k"}, {"app_secret_file", "secrets/app_secret"}, {"shop_cipher", "c"}}},
            {"storage", {{"path", "orderflow.db"}, {"vault_key_file", "vault.key"}}},
            {"rules", {{"dir", "rules"}}},
            {"webhook", {{"listen", "127.0.0.1:8080"}}},
            {"timezone", "Asia/Tokyo"},
            {"poll", {{"interval", "5m"}}},
            {"guards", {{"messages_per_order_per_day", 5}}}};
}

const char* const shipped_rules = R"({
  "templates": { "shipped": { "ja": "{{order.id}} を発送しました。" } },
  "rules": [ { "id": "shipped", "on": "order.status_changed",
               "if": { "order.status": { "eq": "AWAITING_COLLECTION" } },
               "then": [ { "send_message": { "template": "shipped" } } ] } ]
})";

// Line 3 names an event that does not exist.
const char* const broken_rules = "{\n"
                                 "  \"rules\": [\n"
                                 "    { \"id\": \"broken\", \"on\": \"order.teleported\", \"then\": [ { \"tag\": \"x\" } ] }\n"
                                 "  ]\n"
                                 "}\n";

struct reload_rig {
    tz_guard tz;
    runtime_env env;   // its rules dir holds the thanks rule
    fs::path file = env.cfg.file;
    std::unique_ptr<rules_in_force> in_force;

    reload_rig() {
        write_config(base_config());
        auto loaded = load_config(file);
        REQUIRE(loaded.ok());
        in_force = std::make_unique<rules_in_force>(env.ctx, *loaded.value, load_rules_or_throw(*loaded.value),
                                                    std::map<std::string, orderflow::secret>{});
        in_force->record("start", true, {});
    }
    void write_config(const json& j) { std::ofstream(file) << j.dump(2); }
    void write_rules(const std::string& name, const std::string& text) { std::ofstream(env.dir / "rules" / name) << text; }

    rules_in_force::reload_outcome adopt() {
        auto next = rules_in_force::read_candidate(file);
        return in_force->adopt(next);
    }
    rules_in_force::reload_outcome reload() {
        asio::thread_pool background{1};
        rules_in_force::reload_outcome out;
        env.drive([&]() -> asio::awaitable<void> { out = co_await in_force->reload(background.get_executor(), *env.desk); });
        return out;
    }
    json rules_state() {
        auto s = env.store.get_state("rules");
        REQUIRE(s.has_value());
        return json::parse(*s);
    }
    std::vector<storage::review_item> reload_items() {
        std::vector<storage::review_item> out;
        for (auto& r : env.store.reviews(true, 100))
            if (r.reason == "reload_failed") out.push_back(r);
        return out;
    }
};

}  // namespace

TEST_CASE("A valid reload swaps the rules and applies the reloadable settings at once", "[rules_in_force]") {
    reload_rig rig;
    const auto old_hash = rig.in_force->rules()->hash();
    const config& cfg = rig.in_force->cfg();   // components hold this reference across reloads
    rig.write_rules("20-shipped.json", shipped_rules);
    json next = base_config();
    next["poll"]["interval"] = "30s";
    next["guards"]["messages_per_order_per_day"] = 2;
    next["guards"]["quiet_hours"] = {{"from", "21:00"}, {"to", "09:00"}};
    next["timezone"] = "Europe/Berlin";
    next["notify"] = {{"channels", {{"staff", {{"type", "slack"}, {"url", "http://127.0.0.1:9/hook"}, {"min_severity", "critical"}}}}}};
    next["admin"] = {{"operators", {"alice", "@shop-ops"}}, {"console_host", "console.shop.example"}};
    next["customer_service"] = {{"daily_quota", 500}, {"reply_reserve", 50}};
    rig.write_config(next);

    auto out = rig.adopt();

    CHECK(out.ok);
    CHECK(out.errors.empty());
    CHECK(out.needs_restart.empty());
    CHECK(rig.in_force->rules()->rule_ids() == std::vector<std::string>{"thanks", "shipped"});
    CHECK(rig.in_force->rules()->hash() != old_hash);
    CHECK(cfg.poll.interval == std::chrono::seconds(30));
    CHECK(cfg.guards.messages_per_order_per_day == 2);
    REQUIRE(cfg.guards.quiet_hours.has_value());
    CHECK(cfg.guards.quiet_hours->first == 21 * 60);
    CHECK(cfg.timezone == "Europe/Berlin");
    CHECK(std::string(std::getenv("TZ")) == "Europe/Berlin");
    REQUIRE(cfg.channels.size() == 1);
    CHECK(cfg.channels[0].name == "staff");
    CHECK(cfg.channels[0].min_severity == "critical");
    // Who may run operator commands: a revoked operator is refused at once.
    CHECK(cfg.admin.operators == std::vector<std::string>{"alice", "@shop-ops"});
    // The console's name behind its proxy: read per request, so at once too.
    CHECK(cfg.admin.console_host == "console.shop.example");
    CHECK(cfg.customer_service.daily_quota == 500);
    CHECK(cfg.customer_service.reply_reserve == 50);
}

TEST_CASE("A reload names the changed settings that apply only after a restart and keeps them", "[rules_in_force]") {
    reload_rig rig;
    const config& cfg = rig.in_force->cfg();
    json next = base_config();
    next["webhook"]["listen"] = "127.0.0.1:9090";
    next["poll"]["enabled"] = false;
    next["poll"]["interval"] = "1m";
    rig.write_config(next);

    auto out = rig.adopt();

    CHECK(out.ok);
    CHECK(out.needs_restart == std::vector<std::string>{"webhook.listen", "poll.enabled"});
    CHECK(cfg.webhook.listen.port == 8080);   // still what the listener was opened with
    CHECK(cfg.poll.enabled);
    CHECK(cfg.poll.interval == std::chrono::minutes(1));

    // open_metrics is checked against the file's admin.listen, which the
    // running listener takes only at a restart: with it, not before.
    next["admin"] = {{"listen", "127.0.0.1:9100"}, {"token_file", "admin.token"}, {"open_metrics", true}};
    rig.write_config(next);
    out = rig.adopt();
    CHECK(out.ok);
    CHECK(out.needs_restart ==
          std::vector<std::string>{"webhook.listen", "admin.listen", "admin.token_file", "poll.enabled", "admin.open_metrics"});
    CHECK_FALSE(cfg.admin.open_metrics);

    // The webhook listener runs on its own thread and reads its trusted
    // proxies unguarded: a change waits for a restart. The admin listener's
    // apply at once.
    next["webhook"]["trusted_proxies"] = {"127.0.0.1"};
    next["admin"]["trusted_proxies"] = {"127.0.0.1"};
    rig.write_config(next);
    out = rig.adopt();
    CHECK(out.ok);
    CHECK(std::find(out.needs_restart.begin(), out.needs_restart.end(), "webhook.trusted_proxies") != out.needs_restart.end());
    CHECK(std::find(out.needs_restart.begin(), out.needs_restart.end(), "admin.trusted_proxies") == out.needs_restart.end());
    CHECK(cfg.webhook.trusted_proxies.empty());
    CHECK(cfg.admin.trusted_proxies.size() == 1);
}

TEST_CASE("A new app secret in the same file is named for a restart, and an unreadable one fails the reload", "[rules_in_force]") {
    reload_rig rig;
    const fs::path secret_file = rig.file.parent_path() / "secrets" / "app_secret";
    fs::create_directories(secret_file.parent_path());
    auto write_secret = [&](const std::string& value) {
        std::ofstream(secret_file) << value << "\n";
        fs::permissions(secret_file, fs::perms::owner_read | fs::perms::owner_write);
    };
    write_secret("secret-a");
    rig.in_force->running_with_app_secret(orderflow::secret("secret-a"));

    auto same = rig.adopt();
    CHECK(same.ok);
    CHECK(same.needs_restart.empty());

    write_secret("secret-b");   // TikTok's app secret rotated, written over the old one
    auto changed = rig.adopt();
    CHECK(changed.ok);
    CHECK(changed.needs_restart == std::vector<std::string>{"tiktok.app_secret_file"});

    fs::remove(secret_file);
    auto gone = rig.adopt();
    CHECK_FALSE(gone.ok);
    REQUIRE(gone.errors.size() == 1);
    CHECK_THAT(gone.errors[0], Catch::Contains("tiktok.app_secret_file"));
}

TEST_CASE("An invalid rule file keeps the rules in force and names the file and line", "[rules_in_force]") {
    reload_rig rig;
    const auto before = rig.in_force->rules();
    rig.write_rules("20-broken.json", broken_rules);
    json next = base_config();
    next["poll"]["interval"] = "30s";   // valid, but nothing of a failed reload applies
    rig.write_config(next);

    auto out = rig.adopt();

    CHECK_FALSE(out.ok);
    REQUIRE_FALSE(out.errors.empty());
    const std::string where = (rig.env.dir / "rules" / "20-broken.json").string() + ":3:";
    CHECK(out.errors[0].rfind(where, 0) == 0);
    CHECK(rig.in_force->rules() == before);
    CHECK(rig.in_force->cfg().poll.interval == std::chrono::minutes(5));
}

TEST_CASE("A reload with many warnings logs the first fifty and counts them all", "[rules_in_force]") {
    reload_rig rig;
    // 60 rules, each with a value not_in lists besides nothing: a warning each.
    std::string text = "{\n  \"rules\": [\n";
    for (int i = 0; i < 60; ++i)
        text += std::string(i ? ",\n" : "") + R"(    { "id": "w)" + std::to_string(i) +
                R"(", "on": "order.status_changed", "if": { "order.status": { "not_in": ["CANCEL"] } }, "then": [ { "tag": "x" } ] })";
    text += "\n  ]\n}\n";
    rig.write_rules("30-warnings.json", text);

    orderflow::testing::log_capture log;
    auto out = rig.reload();
    const std::string lines = log.finish();

    CHECK(out.ok);
    CHECK(out.warning_count == 60);
    CHECK(orderflow::testing::log_lines(lines, "rules_warning").size() == 50);
    const auto reloaded = orderflow::testing::log_lines(lines, "rules_reloaded");
    REQUIRE(reloaded.size() == 1);
    CHECK(reloaded[0].at("warnings") == 60);
    CHECK(reloaded[0].at("advice").get<std::string>().starts_with("10 more warnings are not logged: orderflowctl check --config "));
}

TEST_CASE("An invalid config file keeps everything in force with the error's place", "[rules_in_force]") {
    reload_rig rig;
    const auto before = rig.in_force->rules();
    std::ofstream(rig.file) << "{\n"
                               "  \"tiktok\": { \"app_key\": \"k\", \"app_secret_file\": \"secrets/app_secret\", \"shop_cipher\": \"c\" },\n"
                               "  \"storage\": { \"path\": \"orderflow.db\", \"vault_key_file\": \"vault.key\" },\n"
                               "  \"rules\": { \"dir\": \"rules\" },\n"
                               "  \"poll\": { \"interval\": \"soon\" }\n"
                               "}\n";

    auto out = rig.adopt();

    CHECK_FALSE(out.ok);
    REQUIRE_FALSE(out.errors.empty());
    CHECK(out.errors[0].rfind(rig.file.string() + ":5:", 0) == 0);
    CHECK(out.errors[0].find("poll.interval") != std::string::npos);
    CHECK(rig.in_force->rules() == before);
    CHECK(rig.in_force->cfg().poll.interval == std::chrono::minutes(5));
}

TEST_CASE("A webhook channel whose secret file cannot be read fails the reload", "[rules_in_force]") {
    reload_rig rig;
    json next = base_config();
    next["notify"] = {{"channels", {{"hooks", {{"type", "webhook"}, {"url", "http://127.0.0.1:9/hook"}, {"secret_file", "secrets/missing"}}}}}};
    rig.write_config(next);

    auto out = rig.adopt();

    CHECK_FALSE(out.ok);
    REQUIRE(out.errors.size() == 1);
    CHECK(out.errors[0].find("secrets/missing") != std::string::npos);
    CHECK(rig.in_force->cfg().channels.empty());
    CHECK(rig.in_force->channel_secret("hooks") == nullptr);
}

TEST_CASE("A failed reload raises a reload_failed item and status records the failure", "[rules_in_force]") {
    reload_rig rig;
    const auto old_hash = rig.in_force->rules()->hash();
    rig.write_rules("20-broken.json", broken_rules);

    auto out = rig.reload();

    CHECK_FALSE(out.ok);
    auto items = rig.reload_items();
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "warning");
    CHECK(items[0].summary.find("orderflowctl check --config " + rig.file.string()) != std::string::npos);
    CHECK(json::parse(items[0].evidence).at("errors") == json(out.errors));
    json st = rig.rules_state();
    CHECK(st.at("last_reload").at("ok") == false);
    CHECK(st.at("last_reload").at("errors") == json(out.errors));
    CHECK(st.at("in_force").at("hash") == old_hash);
    CHECK(st.at("in_force").at("how") == "start");
}

TEST_CASE("A successful reload records the new rules for status and raises nothing", "[rules_in_force]") {
    reload_rig rig;
    rig.write_rules("20-shipped.json", shipped_rules);
    rig.env.now += 600;

    auto out = rig.reload();

    CHECK(out.ok);
    CHECK(rig.in_force->rules()->size() == 2);
    CHECK(rig.reload_items().empty());
    json st = rig.rules_state();
    CHECK(st.at("in_force").at("count") == 2);
    CHECK(st.at("in_force").at("hash") == rig.in_force->rules()->hash());
    CHECK(st.at("in_force").at("how") == "reload");
    CHECK(st.at("in_force").at("since") == rig.env.now);
    CHECK(st.at("last_reload").at("ok") == true);
}

}  // namespace ORDERFLOW_TEST_FILE
