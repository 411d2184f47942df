#include "daemon/config.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

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
    SECTION("unset") {
        unsetenv("CREDENTIALS_DIRECTORY");
        auto r = load_config(t.write("c.json", text));
        CHECK_FALSE(r.ok());
        CHECK_THAT(all_messages(r), Catch::Contains("$CREDENTIALS_DIRECTORY is not set"));
    }
}

TEST_CASE("Secret files are read without their trailing newline and never echoed in errors", "[config]") {
    temp_folder t;
    auto f = t.write("secret", "s3cr3t-value\n");
    CHECK(orderflow::daemon::read_secret_file(f).reveal() == "s3cr3t-value");
    auto empty = t.write("empty", "\n");
    CHECK_THROWS_WITH(orderflow::daemon::read_secret_file(empty), Catch::Contains("is empty"));
    CHECK_THROWS_WITH(orderflow::daemon::read_secret_file(t.path / "missing"), Catch::Contains("cannot read secret file"));
}
