// Tests for daemon/config.cpp: load_config() reads a JSON-with-comments file
// into a config with defaults, resolves relative paths against the file's
// folder, and reports every wrong key, type and value as a file:line:column
// diagnostic that names the key; "credential:NAME" is found under systemd and
// from a shell; read_secret_file() refuses a secret file that others may read,
// that is empty or missing, naming the config key and the fix, drops the
// trailing newline and never echoes the secret.
#include "daemon/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace fs = std::filesystem;
using orderflow::daemon::load_config;

namespace {

struct temp_folder {
    temp_folder() {
        std::string t = (fs::temp_directory_path() / "orderflow-config-XXXXXX").string();
        REQUIRE(mkdtemp(t.data()));
        path = t;
    }
    ~temp_folder() { fs::remove_all(path); }
    fs::path write(const std::string& name, const std::string& text) {
        std::ofstream(path / name) << text;
        return path / name;
    }
    fs::path path;
};

const char* minimal = R"({
  // comments are allowed
  "tiktok": { "app_key": "k", "app_secret_file": "secret", "shop_cipher": "c" },
  "storage": { "path": "db/orderflow.db", "vault_key_file": "/etc/orderflow/vault.key" },
  "rules": { "dir": "rules" }
})";

std::string all_messages(const orderflow::daemon::config_result& r) {
    std::string s;
    for (auto& d : r.diagnostics) s += d.to_string() + "\n";
    return s;
}

// `minimal` with `extra` (one or more top-level "key": value pairs) added on
// its own line, so that a diagnostic about `extra` is on line 6 of the file.
std::string minimal_with_text(std::string s, const std::string& extra) {
    s.erase(s.rfind("\n}"));
    return s + ",\n  " + extra + "\n}";
}
std::string minimal_with(const std::string& extra) { return minimal_with_text(minimal, extra); }
constexpr int extra_line = 6;

// `minimal` with its tiktok section on line 6 instead, `keys` added to it.
std::string minimal_with_tiktok(const std::string& keys) {
    std::string s = minimal;
    const auto at = s.find("  \"tiktok\":");
    s.erase(at, s.find('\n', at) - at);   // line 3 stays, empty
    return minimal_with_text(s, R"("tiktok": { "app_key": "k", "app_secret_file": "secret", "shop_cipher": "c", )" + keys + " }");
}

// The first diagnostic whose message contains every one of `parts`, or nullptr.
const orderflow::rules::diagnostic* diagnostic_containing(const orderflow::daemon::config_result& r,
                                                          std::initializer_list<std::string> parts) {
    for (auto& d : r.diagnostics)
        if (std::all_of(parts.begin(), parts.end(), [&](auto& p) { return d.message.find(p) != std::string::npos; })) return &d;
    return nullptr;
}

}  // namespace

TEST_CASE("A minimal config loads with defaults and paths relative to the file", "[config]") {
    temp_folder t;
    auto r = load_config(t.write("orderflow.json", minimal));
    REQUIRE(r.ok());
    const auto& c = *r.value;
    CHECK(c.tiktok.api_base == "https://open-api.tiktokglobalshop.com");
    CHECK(c.tiktok.app_secret_file == t.path / "secret");
    CHECK(c.storage.path == t.path / "db/orderflow.db");
    CHECK(c.storage.vault_key_file == "/etc/orderflow/vault.key");
    CHECK(c.webhook.path == "/webhooks/tiktok");
    CHECK(c.poll.interval == std::chrono::minutes(5));
    CHECK(c.timezone == "Asia/Tokyo");
}

TEST_CASE("Durations, listen addresses and optional sections are parsed", "[config]") {
    temp_folder t;
    auto r = load_config(t.write("c.json", R"({
      "tiktok": { "app_key": "k", "app_secret_file": "s", "shop_cipher": "c", "timeout": "3s" },
      "storage": { "path": "x.db", "vault_key_file": "v" }, "rules": { "dir": "r", "default_locale": "en" },
      "webhook": { "listen": "[::1]:9000", "path": "/hook" },
      "admin": { "socket": "/run/o.sock", "listen": "127.0.0.1:9001", "token_file": "tok" },
      "poll": { "interval": "90s", "overlap": "1h30m", "start": "2026-11-01T00:00:00+09:00" },
      "tracking": { "feed_dir": "feed" }, "timezone": "Europe/London", "log": { "level": "debug" }
    })"));
    REQUIRE(r.ok());
    const auto& c = *r.value;
    CHECK(c.tiktok.timeout == std::chrono::seconds(3));
    CHECK(c.webhook.listen.host == "::1");
    CHECK(c.webhook.listen.port == 9000);
    REQUIRE(c.admin.listen);
    CHECK(c.admin.listen->port == 9001);
    CHECK(c.poll.interval == std::chrono::seconds(90));
    CHECK(c.poll.overlap == std::chrono::seconds(5400));
    CHECK(c.rules.default_locale == "en");
    CHECK(c.log_level == "debug");
}

TEST_CASE("Config errors name the key path with file, line and column", "[config]") {
    temp_folder t;
    using row = std::tuple<std::string, std::string>;
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c", "colour": 1}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}})",
            "c.json:1:73: error: unknown key 'tiktok.colour'"},
        row{R"({"tiktok": {"app_key": 5, "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}})",
            "c.json:1:24: error: 'tiktok.app_key' must be a string, found an integer"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "poll": {"interval": "5 minutes"}})",
            "is not a duration"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "webhook": {"listen": "localhost"}})",
            "'webhook.listen': \"localhost\" is not host:port"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p"}, "rules": {"dir": "r"}})",
            "missing required key 'storage.vault_key_file'"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "timezone": "Mars/Olympus"})",
            "unknown time zone"},
        // Joined to a path: a way out of the zone database is no zone, and a
        // name too long for the file system is an error, not an exception.
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "timezone": "../../../etc/passwd"})",
            "unknown time zone"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "timezone": ")" +
                std::string(5000, 'T') + "\"}",
            "unknown time zone"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "admin": {"listen": "127.0.0.1:1"}})",
            "'admin.listen' needs 'admin.token_file'"},
        row{"{\n  \"tiktok\": {\n    \"app_key\": \"k\",,\n  }\n}", "c.json:3:20:"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "notify": {"channels": {"ops": {"type": "webhook", "url": "https://x.example/h"}}}})",
            "channel 'ops' needs a 'secret_file'"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "notify": {"channels": {"ops": {"type": "sms", "url": "https://x.example/h"}}}})",
            "'notify.channels.ops.type' must be one of: slack, webhook, command"},
        row{R"({"tiktok": {"app_key": "k", "app_secret_file": "s", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}, "notify": {"channels": {"ops": {"type": "command", "command": []}}}})",
            "'notify.channels.ops.command' must be a non-empty array"},
    }));
    auto r = load_config(t.write("c.json", text));
    CHECK_FALSE(r.ok());
    CHECK_THAT(all_messages(r), Catch::Contains(expected));
}

TEST_CASE("A missing config file is a diagnostic, not an exception", "[config]") {
    auto r = load_config("/nonexistent/orderflow.json");
    CHECK_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK_THAT(r.diagnostics[0].to_string(), Catch::Contains("/nonexistent/orderflow.json"));
}

TEST_CASE("credential: paths read from $CREDENTIALS_DIRECTORY", "[config]") {
    temp_folder t;
    std::string text = R"({"tiktok": {"app_key": "k", "app_secret_file": "credential:app_secret", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "credential:vault_key"}, "rules": {"dir": "r"}})";
    SECTION("set") {
        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/orderflow.service", 1);
        auto r = load_config(t.write("c.json", text));
        unsetenv("CREDENTIALS_DIRECTORY");
        REQUIRE(r.ok());
        CHECK(r.value->tiktok.app_secret_file == "/run/credentials/orderflow.service/app_secret");
        CHECK(r.value->storage.vault_key_file == "/run/credentials/orderflow.service/vault_key");
    }
    SECTION("unset, as from a shell: secrets/NAME next to the config file, where the unit loads it from") {
        unsetenv("CREDENTIALS_DIRECTORY");
        auto r = load_config(t.write("c.json", text));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->tiktok.app_secret_file == t.path / "secrets" / "app_secret");
        CHECK(r.value->tiktok.app_secret_file.config_key == "tiktok.app_secret_file");
        CHECK(r.value->tiktok.app_secret_file.credential == "app_secret");
        CHECK(r.value->storage.vault_key_file == t.path / "secrets" / "vault_key");
    }
    SECTION("a name that is not a file name is an error at its key") {
        unsetenv("CREDENTIALS_DIRECTORY");
        auto r = load_config(t.write("c.json", R"({"tiktok": {"app_key": "k", "app_secret_file": "credential:../app_secret", "shop_cipher": "c"}, "storage": {"path": "p", "vault_key_file": "v"}, "rules": {"dir": "r"}})"));
        CHECK_FALSE(r.ok());
        CHECK(diagnostic_containing(r, {"'tiktok.app_secret_file'", "is not a credential name"}));
    }
}

TEST_CASE("Secret files are read without their trailing newline and never echoed in errors", "[config]") {
    temp_folder t;
    auto f = t.write("secret", "s3cr3t-value\n");
    fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write);
    CHECK(orderflow::daemon::read_secret_file(f, "tiktok.app_secret_file").reveal() == "s3cr3t-value");
}

TEST_CASE("Every secret file is refused when group or others may read or write it, naming the config key and the fix", "[config]") {
    using fs::perms;
    temp_folder t;
    auto [mode, shown] = GENERATE(table<perms, std::string>({
        {perms::owner_read | perms::owner_write | perms::group_read | perms::group_write | perms::others_read | perms::others_write, "0666"},
        {perms::owner_read | perms::owner_write | perms::group_read | perms::others_read, "0644"},
        {perms::owner_read | perms::owner_write | perms::group_read, "0640"},
    }));
    auto f = t.write("admin.token", "warehouse-token-9c1f\n");
    fs::permissions(f, mode);
    std::string message;
    try {
        orderflow::daemon::read_secret_file(orderflow::daemon::secret_path(f, "admin.token_file"));
    } catch (const std::exception& e) {
        message = e.what();
    }
    CHECK_THAT(message, Catch::StartsWith("admin.token_file: "));
    CHECK_THAT(message, Catch::Contains(f.string()));
    CHECK_THAT(message, Catch::Contains("mode " + shown));
    CHECK_THAT(message, Catch::Contains("chmod 600 " + f.string()));
    CHECK_THAT(message, !Catch::Contains("warehouse-token"));
}

TEST_CASE("A secret file that is empty, missing or not a file is refused with what to do", "[config]") {
    temp_folder t;
    using orderflow::daemon::read_secret_file;
    auto owner_only = [](const fs::path& p) { fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write); return p; };
    CHECK_THROWS_WITH(read_secret_file(owner_only(t.write("empty", "\n")), "tiktok.app_secret_file"),
                      Catch::StartsWith("tiktok.app_secret_file: secret file " + (t.path / "empty").string() + " is empty; put the secret in it"));
    CHECK_THROWS_WITH(read_secret_file(t.path / "missing", "notify.channels.ops.secret_file"),
                      Catch::StartsWith("notify.channels.ops.secret_file: secret file " + (t.path / "missing").string() + " does not exist"));
    fs::create_directory(t.path / "folder");
    CHECK_THROWS_WITH(read_secret_file(t.path / "folder", "tiktok.app_secret_file"), Catch::Contains("is not a regular file"));
    auto big = owner_only(t.write("big", std::string(64 * 1024, 'x')));
    CHECK_THROWS_WITH(read_secret_file(big, "tiktok.app_secret_file"), Catch::Contains("is larger than 64 KiB"));

    SECTION("a missing credential says where it is read from") {
        unsetenv("CREDENTIALS_DIRECTORY");
        orderflow::daemon::secret_path p(t.path / "secrets" / "app_secret", "tiktok.app_secret_file", "app_secret");
        CHECK_THROWS_WITH(read_secret_file(p), Catch::Contains("LoadCredential=app_secret:" + p.string()));
    }
}

TEST_CASE("The send guards, breaker, retention and notification keys have their documented defaults", "[config]") {
    temp_folder t;
    auto r = load_config(t.write("orderflow.json", minimal));
    REQUIRE(r.ok());
    const auto& c = *r.value;
    CHECK(c.executor.give_up_after == std::chrono::hours(24));
    CHECK(c.guards.messages_per_order_per_day == 5);
    CHECK(c.guards.messages_per_buyer_per_day == 10);
    CHECK_FALSE(c.guards.quiet_hours.has_value());
    CHECK(c.breaker.max_sends == 200);
    CHECK(c.breaker.interval == std::chrono::minutes(10));
    CHECK(c.retention.personal_data == std::chrono::hours(24 * 90));
    CHECK(c.retention.keys == std::chrono::hours(24 * 180));
    CHECK(c.retention.reviews == std::chrono::hours(24 * 365));
    CHECK(c.retention.audit == std::chrono::hours(24 * 730));
    CHECK(c.retention.interval == std::chrono::hours(1));
    CHECK_FALSE(c.privacy.suppress_forgotten);
    CHECK(c.digest_interval == std::chrono::minutes(5));
    REQUIRE(c.heartbeat_at.has_value());
    CHECK(*c.heartbeat_at == 9 * 60);
    // Unset, the admin socket sits next to the database (storage.path is "db/orderflow.db").
    CHECK(c.admin.socket == t.path / "db" / "admin.sock");
}

TEST_CASE("The send guards, breaker, retention and notification keys are read from the file", "[config]") {
    temp_folder t;
    auto r = load_config(t.write("orderflow.json", minimal_with(R"(
      "executor": { "give_up_after": "36h" },
      "guards": { "messages_per_order_per_day": 3, "messages_per_buyer_per_day": 7, "quiet_hours": { "from": "21:00", "to": "09:30" } },
      "breaker": { "max_sends": 50, "interval": "1h" },
      "retention": { "personal_data": "30d", "keys": "60d", "reviews": "90d", "audit": "400d", "interval": "10m" },
      "privacy": { "suppress_forgotten": true },
      "notify": { "digest_interval": "2m", "heartbeat": "18:45", "channels": {
        "chat": { "type": "slack", "url": "https://chat.example/hook", "heartbeat": false },
        "pager": { "type": "command", "command": ["/bin/true"] },
        "mail": { "type": "command", "command": ["./bin/mail", "./ops"] },
        "line": { "type": "command", "command": ["line-bridge"] } } },
      "admin": { "socket": "run/admin.sock" })")));
    INFO(all_messages(r));
    REQUIRE(r.ok());
    const auto& c = *r.value;
    CHECK(c.executor.give_up_after == std::chrono::hours(36));
    CHECK(c.guards.messages_per_order_per_day == 3);
    CHECK(c.guards.messages_per_buyer_per_day == 7);
    REQUIRE(c.guards.quiet_hours.has_value());
    CHECK(c.guards.quiet_hours->first == 21 * 60);
    CHECK(c.guards.quiet_hours->second == 9 * 60 + 30);
    CHECK(c.breaker.max_sends == 50);
    CHECK(c.breaker.interval == std::chrono::hours(1));
    CHECK(c.retention.personal_data == std::chrono::hours(24 * 30));
    CHECK(c.retention.keys == std::chrono::hours(24 * 60));
    CHECK(c.retention.reviews == std::chrono::hours(24 * 90));
    CHECK(c.retention.audit == std::chrono::hours(24 * 400));
    CHECK(c.retention.interval == std::chrono::minutes(10));
    CHECK(c.privacy.suppress_forgotten);
    CHECK(c.digest_interval == std::chrono::minutes(2));
    CHECK(c.heartbeat_at == std::optional<int>(18 * 60 + 45));
    CHECK(c.admin.socket == t.path / "run" / "admin.sock");

    REQUIRE(c.channels.size() == 4);
    auto channel = [&](const std::string& name) {
        auto it = std::find_if(c.channels.begin(), c.channels.end(), [&](auto& ch) { return ch.name == name; });
        REQUIRE(it != c.channels.end());
        return *it;
    };
    CHECK_FALSE(channel("chat").heartbeat);
    CHECK(channel("pager").heartbeat);   // the default
    CHECK(channel("pager").min_severity == "warning");   // the default
    // A command's program with a slash is a path, relative to the config's
    // folder; a bare name is left for PATH; arguments stay as written.
    CHECK(channel("pager").command == std::vector<std::string>{"/bin/true"});
    CHECK(channel("mail").command == std::vector<std::string>{(t.path / "bin" / "mail").string(), "./ops"});
    CHECK(channel("line").command == std::vector<std::string>{"line-bridge"});
}

TEST_CASE("notify.heartbeat takes a time of day or \"off\"", "[config]") {
    temp_folder t;
    auto [text, expected] = GENERATE(table<std::string, std::optional<int>>({
        {R"("off")", std::nullopt},
        {R"("00:00")", 0},
        {R"("23:59")", 23 * 60 + 59},
        {R"("09:05")", 9 * 60 + 5},
    }));
    auto r = load_config(t.write("c.json", minimal_with(R"("notify": { "heartbeat": )" + text + " }")));
    INFO(text << "\n" << all_messages(r));
    REQUIRE(r.ok());
    CHECK(r.value->heartbeat_at == expected);
}

TEST_CASE("Guard limits and quiet hours accept the ends of their ranges", "[config]") {
    temp_folder t;
    SECTION("the smallest values") {
        auto r = load_config(t.write("c.json", minimal_with(
            R"("guards": { "messages_per_order_per_day": 1, "messages_per_buyer_per_day": 1, "quiet_hours": { "from": "00:00", "to": "23:59" } }, "breaker": { "max_sends": 1 })")));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->guards.messages_per_order_per_day == 1);
        CHECK(r.value->guards.messages_per_buyer_per_day == 1);
        CHECK(r.value->guards.quiet_hours == std::optional(std::pair{0, 23 * 60 + 59}));
        CHECK(r.value->breaker.max_sends == 1);
    }
    SECTION("the largest values") {
        auto r = load_config(t.write("c.json", minimal_with(
            R"("guards": { "messages_per_order_per_day": 1000, "messages_per_buyer_per_day": 1000 }, "breaker": { "max_sends": 1000000 })")));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->guards.messages_per_order_per_day == 1000);
        CHECK(r.value->guards.messages_per_buyer_per_day == 1000);
        CHECK(r.value->breaker.max_sends == 1000000);
    }
}

TEST_CASE("An admin socket path of 107 bytes is accepted and one of 108 is refused", "[config]") {
    temp_folder t;
    const std::string longest = "/" + std::string(106, 's');
    SECTION("107 bytes") {
        auto r = load_config(t.write("c.json", minimal_with(R"("admin": { "socket": ")" + longest + R"(" })")));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->admin.socket == longest);
    }
    SECTION("108 bytes, set explicitly") {
        auto file = t.write("c.json", minimal_with(R"("admin": { "socket": ")" + longest + R"(s" })"));
        auto r = load_config(file);
        CHECK_FALSE(r.ok());
        INFO(all_messages(r));
        auto* d = diagnostic_containing(r, {"'admin.socket' is longer than a Unix socket path may be (107 bytes)"});
        REQUIRE(d);
        CHECK(d->line == extra_line);
        CHECK_THAT(d->to_string(), Catch::StartsWith(file.string() + ":6:"));
    }
    SECTION("108 bytes, defaulted from a long storage.path") {
        // admin.sock is 10 bytes, so a database folder of 98 bytes gives 108.
        const std::string folder = "/" + std::string(96, 'd') + "/";
        auto file = t.write("c.json", R"({
  "tiktok": { "app_key": "k", "app_secret_file": "secret", "shop_cipher": "c" },
  "storage": { "path": ")" + folder + R"(orderflow.db", "vault_key_file": "v" },
  "rules": { "dir": "rules" }
})");
        auto r = load_config(file);
        CHECK_FALSE(r.ok());
        INFO(all_messages(r));
        auto* d = diagnostic_containing(r, {"the default admin socket next to 'storage.path'", "set 'admin.socket'"});
        REQUIRE(d);
        CHECK(d->line == 3);   // at storage.path, which the operator wrote
        CHECK_THAT(d->to_string(), Catch::StartsWith(file.string() + ":" + std::to_string(d->line) + ":"));
        CHECK_THAT(d->message, Catch::Contains(folder + "admin.sock"));
    }
}

TEST_CASE("Bad guard, breaker, retention and notification values name the key at its line", "[config]") {
    temp_folder t;
    using row = std::tuple<std::string, std::string, std::string>;
    auto [extra, key, what] = GENERATE(table<std::string, std::string, std::string>({
        row{R"("executor": { "give_up_after": "a day" })", "executor.give_up_after", "is not a duration"},
        row{R"("executor": { "give_up_after": 86400 })", "executor.give_up_after", "must be a duration string"},
        row{R"("guards": { "messages_per_order_per_day": 0 })", "guards.messages_per_order_per_day", "must be between 1 and 1000"},
        row{R"("guards": { "messages_per_order_per_day": 1001 })", "guards.messages_per_order_per_day", "must be between 1 and 1000"},
        row{R"("guards": { "messages_per_order_per_day": "5" })", "guards.messages_per_order_per_day", "must be an integer, found a string"},
        row{R"("guards": { "messages_per_buyer_per_day": 2.5 })", "guards.messages_per_buyer_per_day", "must be an integer, found a number"},
        row{R"("guards": { "messages_per_buyer_per_day": -1 })", "guards.messages_per_buyer_per_day", "must be between 1 and 1000"},
        row{R"("guards": { "quiet_hours": { "from": "25:00", "to": "09:00" } })", "guards.quiet_hours.from", "must be a time of day \"HH:MM\""},
        row{R"("guards": { "quiet_hours": { "from": "21:00", "to": "09:60" } })", "guards.quiet_hours.to", "must be a time of day \"HH:MM\""},
        row{R"("guards": { "quiet_hours": { "from": "21:00", "to": "9:00" } })", "guards.quiet_hours.to", "found \"9:00\""},
        row{R"("guards": { "quiet_hours": { "from": 21, "to": "09:00" } })", "guards.quiet_hours.from", "found an integer"},
        row{R"("guards": { "quiet_hours": { "to": "09:00" } })", "guards.quiet_hours", "needs 'from' and 'to'"},
        row{R"("guards": { "quiet_hours": { "from": "21:00" } })", "guards.quiet_hours", "needs 'from' and 'to'"},
        row{R"("guards": { "quiet_hours": { "from": "21:00", "to": "21:00" } })", "guards.quiet_hours", "'from' and 'to' are the same time"},
        row{R"("guards": { "quiet_hours": { "from": "21:00", "to": "09:00", "tz": "UTC" } })", "guards.quiet_hours.tz", "unknown key"},
        row{R"("breaker": { "max_sends": 0 })", "breaker.max_sends", "must be between 1 and 1000000"},
        row{R"("breaker": { "interval": "ten minutes" })", "breaker.interval", "is not a duration"},
        row{R"("retention": { "personal_data": "90days" })", "retention.personal_data", "is not a duration"},
        row{R"("notify": { "digest_interval": "5min" })", "notify.digest_interval", "is not a duration"},
        row{R"("notify": { "heartbeat": "9am" })", "notify.heartbeat", "must be a time of day"},
        row{R"("notify": { "heartbeat": "24:00" })", "notify.heartbeat", "must be a time of day"},
        row{R"("notify": { "heartbeat": 9 })", "notify.heartbeat", "found an integer"},
        row{R"("notify": { "heartbeat": false })", "notify.heartbeat", "found a boolean"},
        row{R"("notify": { "channels": { "ops": { "type": "slack", "url": "https://chat.example/h", "heartbeat": "yes" } } })",
            "notify.channels.ops.heartbeat", "must be true or false, found a string"},
    }));
    auto file = t.write("c.json", minimal_with(extra));
    auto r = load_config(file);
    CHECK_FALSE(r.ok());
    INFO(extra << "\n" << all_messages(r));
    auto* d = diagnostic_containing(r, {"'" + key + "'", what});
    REQUIRE(d);
    CHECK(d->line == extra_line);
    CHECK_THAT(d->to_string(), Catch::StartsWith(file.string() + ":6:"));
}

TEST_CASE("A bad quiet-hours time is one error where it stands, and a zero safety interval is refused", "[config]") {
    temp_folder t;
    SECTION("a bad 'from' is not also reported as missing") {
        auto r = load_config(t.write("c.json", minimal_with(R"("guards": { "quiet_hours": { "from": "25:00", "to": "09:00" } })")));
        REQUIRE(r.diagnostics.size() == 1);
        CHECK_THAT(r.diagnostics[0].message, Catch::Contains("'guards.quiet_hours.from' must be a time of day"));
    }
    SECTION("a missing 'to' is reported") {
        auto r = load_config(t.write("c.json", minimal_with(R"("guards": { "quiet_hours": { "from": "21:00" } })")));
        REQUIRE(r.diagnostics.size() == 1);
        CHECK_THAT(r.diagnostics[0].message, Catch::Contains("needs 'from' and 'to'"));
    }
    SECTION("0s would switch the breaker or retention off") {
        for (const char* extra : {R"("breaker": { "interval": "0s" })", R"("retention": { "personal_data": "1h" })",
                                  R"("retention": { "keys": "7d" })",
                                  R"("executor": { "give_up_after": "0s" })"}) {
            CAPTURE(extra);
            auto r = load_config(t.write("c.json", minimal_with(extra)));
            CHECK_FALSE(r.ok());
            CHECK(diagnostic_containing(r, {"must be at least"}) != nullptr);
        }
    }
    SECTION("the heartbeat's error says that \"off\" is allowed too") {
        auto r = load_config(t.write("c.json", minimal_with(R"("notify": { "heartbeat": "never" })")));
        CHECK(diagnostic_containing(r, {"may also be \"off\""}) != nullptr);
    }
}

TEST_CASE("A config file nested deeper than 128 levels is an error at the bracket past the limit", "[config]") {
    temp_folder t;
    const int depth = 200;
    auto r = load_config(t.write("c.json", minimal_with("\"deep\": " + std::string(depth, '[') + std::string(depth, ']'))));
    CHECK_FALSE(r.ok());
    // The file's own object is level 1, so the 128th [ is the first past the limit.
    const int column = 3 + static_cast<int>(std::string("\"deep\": ").size()) + 127;
    CHECK_THAT(all_messages(r), Catch::Contains("c.json:" + std::to_string(extra_line) + ":" + std::to_string(column) +
                                                ": error: nested deeper than 128 levels"));
}

TEST_CASE("admin.open_metrics is accepted only on a loopback address, and a name that merely starts with 127. is not one",
          "[config]") {
    temp_folder t;
    auto [host, ok] = GENERATE(table<std::string, bool>({{"127.0.0.1", true},
                                                           {"127.1.2.3", true},
                                                           {"localhost", true},
                                                           {"0.0.0.0", false},
                                                           {"192.0.2.10", false},
                                                           {"127.example.com", false},
                                                           {"127.0.0.1.example.com", false}}));
    auto file = t.write("c.json", minimal_with(R"("admin": { "listen": ")" + host +
                                               R"(:8081", "token_file": "admin.token", "open_metrics": true })"));
    auto r = load_config(file);
    INFO(host << "\n" << all_messages(r));
    CHECK(r.ok() == ok);
    CHECK((diagnostic_containing(r, {"'admin.open_metrics'", "loopback"}) == nullptr) == ok);
}

TEST_CASE("A duration outside its key's bounds is refused naming the key, its line and the limit", "[config]") {
    temp_folder t;
    using row = std::tuple<std::string, std::string, std::string>;
    auto [extra, key, what] = GENERATE(table<std::string, std::string, std::string>({
        // 0 s: every API call times out, every webhook body that comes a moment late is dropped.
        row{R"("timeout": "0s")", "tiktok.timeout", "must be at least \"1s\", found \"0s\""},
        row{R"("webhook": { "read_timeout": "0s" })", "webhook.read_timeout", "must be at least \"1s\""},
        row{R"("timeout": "6m")", "tiktok.timeout", "must be at most \"5m\""},
        // Longer than steady_clock's nanoseconds can count: the timers would spin.
        row{R"("poll": { "interval": "1000000d" })", "poll.interval", "must be at most \"1d\", found \"1000000d\""},
        row{R"("retention": { "interval": "9999999999d" })", "retention.interval", "must be at most \"1d\""},
        row{R"("tracking": { "scan_interval": "1000000d" })", "tracking.scan_interval", "must be at most \"1d\""},
        row{R"("retention": { "audit": "3651d" })", "retention.audit", "must be at most \"3650d\""},
        row{R"("poll": { "overlap": "8d" })", "poll.overlap", "must be at most \"7d\""},
        row{R"("executor": { "send_retry_max": "2d" })", "executor.send_retry_max", "must be at most \"1d\""},
        row{R"("executor": { "give_up_after": "31d" })", "executor.give_up_after", "must be at most \"30d\""},
        row{R"("breaker": { "interval": "8d" })", "breaker.interval", "must be at most \"7d\""},
        row{R"("notify": { "digest_interval": "25h" })", "notify.digest_interval", "must be at most \"1d\""},
    }));
    // A tiktok row is a key of that section.
    auto file = t.write("c.json", key.rfind("tiktok.", 0) == 0 ? minimal_with_tiktok(extra) : minimal_with(extra));
    auto r = load_config(file);
    INFO(extra << "\n" << all_messages(r));
    CHECK_FALSE(r.ok());
    auto* d = diagnostic_containing(r, {"'" + key + "'", what});
    REQUIRE(d);
    CHECK(d->line == extra_line);
    CHECK_THAT(d->to_string(), Catch::StartsWith(file.string() + ":6:"));
}

TEST_CASE("The longest and shortest durations a key allows are accepted", "[config]") {
    temp_folder t;
    auto r = load_config(t.write("c.json", minimal_with(
        R"("webhook": { "read_timeout": "1s" }, "poll": { "interval": "1d", "overlap": "7d" }, "tracking": { "scan_interval": "24h" },)"
        R"( "retention": { "personal_data": "3650d", "keys": "3650d", "reviews": "3650d", "audit": "3650d", "interval": "1d" },)"
        R"( "executor": { "give_up_after": "30d", "send_retry_max": "1d", "event_retry_max": "1d" }, "breaker": { "interval": "7d" })")));
    INFO(all_messages(r));
    REQUIRE(r.ok());
    CHECK(r.value->webhook.read_timeout == std::chrono::seconds(1));
    CHECK(r.value->poll.interval == std::chrono::hours(24));
    CHECK(r.value->retention.audit == std::chrono::hours(24 * 3650));
    CHECK(r.value->executor.give_up_after == std::chrono::hours(24 * 30));
}

TEST_CASE("tiktok.api_base and auth_base must be http(s) URLs and plain http only to this machine", "[config]") {
    temp_folder t;
    auto [key, url, error] = GENERATE(table<std::string, std::string, std::string>({
        {"api_base", "not a url", "is not an http(s) URL"},
        {"api_base", "ftp://open-api.tiktokglobalshop.com", "is not an http(s) URL"},
        {"auth_base", "https://", "is not an http(s) URL"},
        {"api_base", "http://open-api.tiktokglobalshop.com", "is plain http to another machine (open-api.tiktokglobalshop.com)"},
        {"auth_base", "http://192.0.2.10:8443", "is plain http to another machine (192.0.2.10)"},
        {"auth_base", "http://127.0.0.1.example.com", "is plain http to another machine"},
        {"api_base", "https://open-api.tiktokglobalshop.com", ""},
        {"api_base", "http://127.0.0.1:18080/base", ""},
        {"auth_base", "http://localhost:18081", ""},
        {"auth_base", "http://[::1]:18081", ""},
    }));
    auto file = t.write("c.json", "{\n  \"storage\": { \"path\": \"p\", \"vault_key_file\": \"v\" }, \"rules\": { \"dir\": \"r\" },\n"
                                  "  \"tiktok\": { \"app_key\": \"k\", \"app_secret_file\": \"s\", \"shop_cipher\": \"c\", \"" + key +
                                  "\": \"" + url + "\" }\n}");
    auto r = load_config(file);
    INFO(key << " " << url << "\n" << all_messages(r));
    if (error.empty()) {
        REQUIRE(r.ok());
        CHECK((key == "api_base" ? r.value->tiktok.api_base : r.value->tiktok.auth_base) == url);
    } else {
        CHECK_FALSE(r.ok());
        auto* d = diagnostic_containing(r, {"'tiktok." + key + "'", error});
        REQUIRE(d);
        CHECK(d->line == 3);
    }
}

TEST_CASE("admin.console_host takes a bare host name", "[config]") {
    temp_folder t;
    SECTION("a name") {
        auto r = load_config(t.write("c.json", minimal_with(R"("admin": { "console_host": "console.shop.example" })")));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->admin.console_host == "console.shop.example");
    }
    SECTION("unset: empty") {
        auto r = load_config(t.write("c.json", minimal));
        REQUIRE(r.ok());
        CHECK(r.value->admin.console_host.empty());
    }
    SECTION("a URL or host:port is refused where it stands") {
        const std::string value = GENERATE(as<std::string>{}, "https://console.shop.example", "console.shop.example:443", "console.shop.example/console", "");
        auto r = load_config(t.write("c.json", minimal_with(R"("admin": { "console_host": ")" + value + R"(" })")));
        INFO(value << "\n" << all_messages(r));
        CHECK_FALSE(r.ok());
        auto* d = diagnostic_containing(r, {"'admin.console_host'"});
        REQUIRE(d);
        CHECK(d->line == extra_line);
    }
}

TEST_CASE("webhook.trusted_proxies and admin.trusted_proxies hold the proxies' addresses and are empty unless set", "[config][trusted_proxies]") {
    temp_folder t;
    using orderflow::daemon::parse_ip_address;
    SECTION("unset: empty, and X-Forwarded-For is never read") {
        auto r = load_config(t.write("c.json", minimal));
        REQUIRE(r.ok());
        CHECK(r.value->webhook.trusted_proxies.empty());
        CHECK(r.value->admin.trusted_proxies.empty());
    }
    SECTION("IPv4 and IPv6 addresses, each once") {
        auto r = load_config(t.write("c.json", minimal_with(R"("webhook": { "trusted_proxies": ["127.0.0.1", "::1", "::ffff:127.0.0.1"] }, )"
                                                            R"("admin": { "trusted_proxies": ["10.0.0.2"] })")));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->webhook.trusted_proxies ==
              std::vector<orderflow::daemon::ip_address>{*parse_ip_address("127.0.0.1"), *parse_ip_address("::1")});
        CHECK(r.value->admin.trusted_proxies == std::vector<orderflow::daemon::ip_address>{*parse_ip_address("10.0.0.2")});
    }
}

TEST_CASE("A trusted proxy that is not an IP address is an error naming the key at its line", "[config][trusted_proxies]") {
    temp_folder t;
    using row = std::tuple<std::string, std::string, std::string>;
    const auto [section, value, what] = GENERATE(table<std::string, std::string, std::string>({
        row{"webhook", R"(["localhost"])", "\"localhost\" is not an IP address"},
        row{"webhook", R"(["127.0.0.1:8080"])", "no host names, ports or brackets"},
        row{"admin", R"(["[::1]"])", "\"[::1]\" is not an IP address"},
        row{"admin", R"(["10.0.0.0/8"])", "not a range"},
        row{"webhook", R"(["0.0.0.0"])", "is no machine's address"},
        row{"webhook", R"([7])", "must be IP addresses as strings"},
        row{"admin", R"("127.0.0.1")", "must be an array of the reverse proxies' IP addresses"},
    }));
    auto file = t.write("c.json", minimal_with("\"" + section + R"(": { "trusted_proxies": )" + value + " }"));
    auto r = load_config(file);
    INFO(section << " " << value << "\n" << all_messages(r));
    CHECK_FALSE(r.ok());
    auto* d = diagnostic_containing(r, {"'" + section + ".trusted_proxies'", what});
    REQUIRE(d);
    CHECK(d->line == extra_line);
    CHECK_THAT(d->to_string(), Catch::StartsWith(file.string() + ":6:"));
}

TEST_CASE("tiktok.service_id takes the id from Partner Center and refuses a pasted link", "[config]") {
    temp_folder t;
    SECTION("unset: the legacy link's settings, and TikTok's host for the current one") {
        auto r = load_config(t.write("c.json", minimal));
        REQUIRE(r.ok());
        CHECK(r.value->tiktok.service_id.empty());
        CHECK(r.value->tiktok.authorize_base == "https://services.tiktokshop.com");
    }
    SECTION("an id, and a US shop's host") {
        auto r = load_config(t.write("c.json", minimal_with_tiktok(R"("service_id": "7369437808455026474", "authorize_base": "https://services.us.tiktokshop.com")")));
        INFO(all_messages(r));
        REQUIRE(r.ok());
        CHECK(r.value->tiktok.service_id == "7369437808455026474");
        CHECK(r.value->tiktok.authorize_base == "https://services.us.tiktokshop.com");
    }
    SECTION("a link or an empty id is refused where it stands") {
        const std::string value = GENERATE(as<std::string>{}, "https://services.tiktokshop.com/open/authorize?service_id=7369437808455026474",
                                           "service_id=7369437808455026474", "");
        auto r = load_config(t.write("c.json", minimal_with_tiktok(R"("service_id": ")" + value + R"(")")));
        INFO(value << "\n" << all_messages(r));
        CHECK_FALSE(r.ok());
        auto* d = diagnostic_containing(r, {"'tiktok.service_id'"});
        REQUIRE(d);
        CHECK(d->line == extra_line);
    }
}

}  // namespace ORDERFLOW_TEST_FILE
