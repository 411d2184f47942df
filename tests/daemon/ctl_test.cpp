// Tests for `orderflowctl rules test`, `rules explain` and `check`, and for
// the commands an operator runs from a shell with the shipped configuration
// (daemon/ctl.cpp): the real binary on temporary rule, fixture, config and
// secret files, its output and exit status; for `check`, against what the
// real orderflowd says of the same files. The fixture logic itself is
// unit-tested in tests/rules/fixture_test.cpp; this checks what an operator
// sees.
#include "daemon/ctl.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace {

namespace fs = std::filesystem;

fs::path bin_dir() {
    const char* p = std::getenv("ORDERFLOW_BIN");
    return p && *p ? p : ORDERFLOW_BIN_DIR;
}

class temp_dir {
public:
    temp_dir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("orderflow-ctl-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_ / "rules");
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    fs::path write(const std::string& name, const std::string& text) const {
        auto p = path_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

struct run_result {
    int exit_code = -1;
    std::string output;   // stdout and stderr together
};

// Runs a shell command line, as from an operator's shell: without systemd's
// $CREDENTIALS_DIRECTORY, unless `credentials_directory` is given (as the unit
// sets it).
run_result shell(const std::string& command_line, const std::string& credentials_directory = "") {
    std::string command = (credentials_directory.empty() ? "env -u CREDENTIALS_DIRECTORY " : "env CREDENTIALS_DIRECTORY=" + credentials_directory + " ") +
                          command_line + " 2>&1";
    run_result r;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
    int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// Runs orderflowctl with `args` (already shell-safe: temp paths have no spaces or quotes).
run_result ctl(const std::string& args, const std::string& credentials_directory = "") {
    return shell((bin_dir() / "orderflowctl").string() + " " + args, credentials_directory);
}

const char* rules_text = R"({
  "templates": {"thanks": "{{order.buyer_name}}様、ありがとうございます。"},
  "rules": [
    {"id": "thanks", "on": "order.status_changed",
     "if": {"order.status": {"changed_to": "AWAITING_SHIPMENT"}},
     "then": [{"send_message": {"template": "thanks"}}]},
    {"id": "on-message", "on": "message.received", "then": [{"send_message": {"template": "thanks"}}]}
  ]})";

std::string fixture_with_text(const std::string& text) {
    return R"({"cases": [
  {"name": "thanks on the edge", "event": "order.status_changed", "now": "2026-11-23T10:00:00+09:00",
   "previous_order": {"status": "ON_HOLD"}, "order": {"id": "1", "status": "AWAITING_SHIPMENT", "buyer_name": "山田"},
   "expect": [{"rule": "thanks", "action": "send_message", "text": ")" + text + R"("}]},
  {"name": "nothing on a repeat", "event": "order.status_changed",
   "previous_order": {"status": "AWAITING_SHIPMENT"}, "order": {"id": "1", "status": "AWAITING_SHIPMENT", "buyer_name": "山田"},
   "expect": []}
]})";
}

}  // namespace

TEST_CASE("rules test passes a correct fixture with PASS lines and exit 0", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto fixture = dir.write("a.test.json", fixture_with_text("山田様、ありがとうございます。"));
    auto r = ctl("rules test " + fixture.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output == "PASS thanks on the edge\nPASS nothing on a repeat\n2 passed, 0 failed\n");
}

TEST_CASE("rules test exits 1 with FAIL and a diff when an expectation is wrong", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto fixture = dir.write("a.test.json", fixture_with_text("山田様、ありがとう！"));
    auto r = ctl("rules test " + fixture.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("FAIL thanks on the edge (" + fixture.string() + ":2:3)\n") != std::string::npos);
    CHECK(r.output.find("  - thanks send_message \"山田様、ありがとう！\"\n"
                        "  + thanks send_message \"山田様、ありがとうございます。\"\n"
                        "    ^ the text differs from character 10\n") != std::string::npos);
    CHECK(r.output.find("PASS nothing on a repeat\n") != std::string::npos);
    CHECK(r.output.find("1 passed, 1 failed\n") != std::string::npos);
}

TEST_CASE("rules test reports a malformed fixture at file:line:column and exits 1", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto good = dir.write("a.test.json", fixture_with_text("山田様、ありがとうございます。"));
    auto bad = dir.write("b.test.json", "{\"cases\": [\n  {\"name\": \"x\", \"event\": \"order.status_chanegd\", \"expect\": []}\n]}");
    auto r = ctl("rules test " + good.string() + " " + bad.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find(bad.string() + ":2:26: error: unknown event \"order.status_chanegd\"; did you mean order.status_changed?") !=
          std::string::npos);
    CHECK(r.output.find("2 passed, 0 failed\n") != std::string::npos);
}

TEST_CASE("rules test refuses rules that do not load", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", R"({"rules": [{"id": "x", "on": "order.status_changed", "then": []}]})");
    auto fixture = dir.write("a.test.json", fixture_with_text("x"));
    auto r = ctl("rules test " + fixture.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("10-a.json:1:") != std::string::npos);
    CHECK(r.output.find("PASS") == std::string::npos);
}

TEST_CASE("rules explain shows each rule's verdict, the failed condition and rendered texts", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto rules = (dir.path() / "rules").string();
    auto event = dir.write("event.json", R"({"event": "order.status_changed", "now": 1700000000})");
    auto order = dir.write("order.json", R"({"id": "7", "status": "AWAITING_SHIPMENT", "buyer_name": "山田"})");
    auto previous = dir.write("previous.json", R"({"id": "7", "status": "AWAITING_SHIPMENT"})");
    auto before = dir.write("before.json", R"({"id": "7", "status": "ON_HOLD"})");

    SECTION("not matched: the condition, its place and the values seen") {
        auto r = ctl("rules explain --event " + event.string() + " --order " + order.string() + " --previous " + previous.string() +
                     " --rules " + rules);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output.find("thanks (" + rules + "/10-a.json:4:5): not matched\n"
                            "  first failed: " + rules + "/10-a.json:5:30: order.status changed_to \"AWAITING_SHIPMENT\": "
                            "saw \"AWAITING_SHIPMENT\", before \"AWAITING_SHIPMENT\"\n") != std::string::npos);
        CHECK(r.output.find("on-message (" + rules + "/10-a.json:7:5): does not listen to order.status_changed (on: message.received)\n") !=
              std::string::npos);
        CHECK(r.output.find("0 of 2 rule(s) matched, 0 action(s) planned; nothing was sent\n") != std::string::npos);
    }
    SECTION("matched: the rendered text") {
        auto r = ctl("rules explain --event " + event.string() + " --order " + order.string() + " --previous " + before.string() +
                     " --rules " + rules);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output.find("thanks (" + rules + "/10-a.json:4:5): MATCHED\n  send_message thanks (ja):\n    | 山田様、ありがとうございます。\n") !=
              std::string::npos);
        CHECK(r.output.find("1 of 2 rule(s) matched, 1 action(s) planned; nothing was sent\n") != std::string::npos);
    }
    SECTION("a bad event file is an error with its place") {
        auto bad = dir.write("bad.json", R"({"event": "order.shipped"})");
        auto r = ctl("rules explain --event " + bad.string() + " --rules " + rules);
        CHECK(r.exit_code == 1);
        CHECK(r.output.find(bad.string() + ":1:11: error: unknown event \"order.shipped\"") != std::string::npos);
    }
    SECTION("without --event it prints the usage") {
        auto r = ctl("rules explain --rules " + rules);
        CHECK(r.exit_code == 2);
        CHECK(r.output.find("usage: orderflowctl rules explain --event FILE") != std::string::npos);
    }
}

namespace {

// An installation as shipped: every secret is a "credential:NAME", kept in
// secrets/NAME next to the config (where the unit's LoadCredential= reads it).
struct installation {
    temp_dir dir;
    fs::path config;

    installation() {
        dir.write("rules/10-a.json", rules_text);
        fs::create_directories(dir.path() / "secrets");
        write_secret("app_secret", "app-secret-3e1f\n");
        write_secret("admin_token", "admin-token-7a2b\n");
        write_secret("notify_hmac", "notify-hmac-5c9d\n");
        auto keygen = ctl("keygen " + secret("vault_key").string());
        INFO(keygen.output);
        REQUIRE(keygen.exit_code == 0);
        config = dir.write("orderflow.json", R"({
  "tiktok": {"app_key": "k", "app_secret_file": "credential:app_secret", "shop_cipher": "c"},
  "webhook": {"listen": "127.0.0.1:0"},
  "storage": {"path": "orderflow.db", "vault_key_file": "credential:vault_key"},
  "rules": {"dir": "rules"},
  "admin": {"listen": "127.0.0.1:0", "token_file": "credential:admin_token"},
  "poll": {"enabled": false},
  "notify": {"channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret_file": "credential:notify_hmac"}}}
})");
    }
    fs::path secret(const std::string& name) const { return dir.path() / "secrets" / name; }
    void write_secret(const std::string& name, const std::string& content, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) const {
        fs::remove(secret(name));
        std::ofstream(secret(name), std::ios::binary) << content;
        fs::permissions(secret(name), mode);
    }
};

// orderflowd's start-up error (its startup_failed log line) for `config`, or
// "" when it logged none. `timeout` only ends a daemon that started: then
// the test fails on the empty message.
std::string daemon_startup_error(const fs::path& config, const std::string& credentials_directory) {
    auto r = shell("timeout 20 " + (bin_dir() / "orderflowd").string() + " --config " + config.string(), credentials_directory);
    std::size_t start = 0;
    while (start < r.output.size()) {
        std::size_t end = r.output.find('\n', start);
        if (end == std::string::npos) end = r.output.size();
        auto line = nlohmann::json::parse(r.output.substr(start, end - start), nullptr, false);
        if (line.is_object() && line.value("event", "") == "startup_failed") return line.value("error", "");
        start = end + 1;
    }
    return "";
}

}  // namespace

TEST_CASE("check reads credential: references from secrets/NAME next to the config when $CREDENTIALS_DIRECTORY is not set", "[ctl][secrets]") {
    installation inst;
    auto r = ctl("check --config " + inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::StartsWith("ok: " + inst.config.string()));
}

TEST_CASE("check refuses every secret file orderflowd refuses, with the daemon's message", "[ctl][secrets]") {
    using fs::perms;
    installation inst;
    // As the unit runs both (the credentials folder is the secrets folder
    // here), and from a shell, where "credential:NAME" is secrets/NAME.
    const std::string credentials = GENERATE(as<std::string>{}, "", "unit");
    const std::string credentials_directory = credentials.empty() ? "" : (inst.dir.path() / "secrets").string();
    auto [what, key, fragment] = GENERATE(table<std::string, std::string, std::string>({
        {"app secret at 0666", "tiktok.app_secret_file", "(mode 0666)"},
        {"empty app secret", "tiktok.app_secret_file", "is empty"},
        {"admin token at 0644", "admin.token_file", "(mode 0644)"},
        {"vault key at 0644", "storage.vault_key_file", "(mode 0644)"},
        {"malformed vault key", "storage.vault_key_file", "is malformed"},
        {"missing channel secret", "notify.channels.ops.secret_file", "does not exist"},
    }));
    CAPTURE(what, credentials);
    const auto rw_all = perms::owner_read | perms::owner_write | perms::group_read | perms::group_write | perms::others_read | perms::others_write;
    const auto rw_r_r = perms::owner_read | perms::owner_write | perms::group_read | perms::others_read;
    if (what == "app secret at 0666") fs::permissions(inst.secret("app_secret"), rw_all);
    if (what == "empty app secret") inst.write_secret("app_secret", "");
    if (what == "admin token at 0644") fs::permissions(inst.secret("admin_token"), rw_r_r);
    if (what == "vault key at 0644") fs::permissions(inst.secret("vault_key"), rw_r_r);
    if (what == "malformed vault key") inst.write_secret("vault_key", "not-a-key\n");
    if (what == "missing channel secret") fs::remove(inst.secret("notify_hmac"));

    const std::string daemon_error = daemon_startup_error(inst.config, credentials_directory);
    REQUIRE_FALSE(daemon_error.empty());
    CHECK_THAT(daemon_error, Catch::StartsWith(key + ": "));
    CHECK_THAT(daemon_error, Catch::Contains(fragment));

    auto r = ctl("check --config " + inst.config.string(), credentials_directory);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(inst.config.string() + ": error: " + daemon_error + "\n"));
    CHECK_THAT(r.output, !Catch::Contains("ok: "));
    for (const char* content : {"app-secret-3e1f", "admin-token-7a2b", "notify-hmac-5c9d"}) {
        CHECK_THAT(r.output, !Catch::Contains(content));
        CHECK_THAT(daemon_error, !Catch::Contains(content));
    }
}

TEST_CASE("status and review work from a shell without the secrets", "[ctl][secrets]") {
    installation inst;
    fs::remove_all(inst.dir.path() / "secrets");

    auto status = ctl("status --config " + inst.config.string());
    INFO(status.output);
    CHECK(status.exit_code == 0);
    CHECK_THAT(status.output, Catch::Contains("auth:     not authorized"));

    // No daemon runs: review says so, not that a secret is missing.
    auto review = ctl("review list --config " + inst.config.string());
    INFO(review.output);
    CHECK(review.exit_code == 1);
    CHECK_THAT(review.output, Catch::Contains("orderflowd is not listening on " + (inst.dir.path() / "admin.sock").string()));
}

TEST_CASE("An unknown flag, or one the command does not take, is an error naming it and never a positional argument", "[ctl]") {
    const auto [line, says] = GENERATE(table<std::string, std::string>({
        {"status --config x.json --bogus", "unknown flag '--bogus'"},
        {"status --config x.json --limit 5", "status: it does not take --limit"},
        {"review list --config x.json --drop-held", "review: it does not take --drop-held"},
        {"activity --config x.json --limit abc", "--limit needs a positive number, not 'abc'"},
        {"activity --config x.json --limit", "--limit needs a value"},
        {"resume --drop-held=yes --config x.json", "--drop-held takes no value"},
        {"frobnicate --config x.json", "unknown command 'frobnicate'"},
    }));
    CAPTURE(line);
    auto r = ctl(line);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(says) != std::string::npos);
}

}  // namespace ORDERFLOW_TEST_FILE
