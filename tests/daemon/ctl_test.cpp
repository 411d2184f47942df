// Tests for `orderflowctl rules test`, `rules explain` and `check`, and for
// the commands an operator runs from a shell with the shipped configuration
// (daemon/ctl.cpp): the real binary on temporary rule, fixture, config and
// secret files, its output and exit status; for `check`, against what the
// real orderflowd says of the same files. The fixture logic itself is
// unit-tested in tests/rules/fixture_test.cpp; this checks what an operator
// sees.
#include "daemon/ctl.hpp"

#include "daemon/tokens.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/models.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

namespace {

// The database orderflowd made at its first start.
fs::path make_database(const installation& inst) {
    const fs::path file = inst.dir.path() / "orderflow.db";
    orderflow::storage::database::open(file);
    return file;
}

// Stands in for orderflowd on its admin socket: answers every request with
// exit 0 and keeps the requests, until it is destroyed.
class fake_daemon {
public:
    explicit fake_daemon(const fs::path& socket) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(socket.native().size() < sizeof addr.sun_path);
        std::strcpy(addr.sun_path, socket.c_str());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(fd_, 8) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~fake_daemon() {
        ::shutdown(fd_, SHUT_RDWR);   // accept() returns
        thread_.join();
        ::close(fd_);
    }
    fake_daemon(const fake_daemon&) = delete;
    fake_daemon& operator=(const fake_daemon&) = delete;

    std::vector<nlohmann::json> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void serve() {
        for (;;) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::string line;
            char ch = 0;
            while (::read(c, &ch, 1) == 1 && ch != '\n') line += ch;
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(nlohmann::json::parse(line, nullptr, false));
            }
            const std::string reply = R"({"exit": 0, "stdout": "", "stderr": ""})";
            [[maybe_unused]] const auto n = ::write(c, reply.data(), reply.size());
            ::close(c);
        }
    }

    int fd_ = -1;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<nlohmann::json> requests_;
};

}  // namespace

TEST_CASE("status and review work from a shell without the secrets", "[ctl][secrets]") {
    installation inst;
    make_database(inst);
    fs::remove_all(inst.dir.path() / "secrets");

    auto status = ctl("status --config " + inst.config.string());
    INFO(status.output);
    CHECK(status.exit_code == 1);   // no daemon runs
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

TEST_CASE("A command without the --config it needs is a usage error and exits 2", "[ctl]") {
    const auto [line, says] = GENERATE(table<std::string, std::string>({
        {"status", "--config FILE is required"},
        {"activity", "--config FILE is required"},
        {"rules coverage", "--config FILE is required"},
        {"rules test fixture.json", "--config FILE or --rules DIR is required"},
        {"rules explain --event event.json", "--config FILE or --rules DIR is required"},
        {"replay --since 1h", "--config FILE is required"},
        {"audit", "--config FILE is required"},
        {"buyer export 7100000000000001", "--config FILE is required"},
        {"account list", "--config FILE is required"},
        {"review list", "--config FILE is required"},
    }));
    CAPTURE(line);
    auto r = ctl(line);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(says) != std::string::npos);
}

TEST_CASE("Commands that read or change what orderflowd stored refuse a missing database and create none", "[ctl]") {
    installation inst;
    const fs::path db = inst.dir.path() / "orderflow.db";
    const std::string line = GENERATE(as<std::string>{}, "status", "activity", "audit", "account list", "account remove hanako",
                                      "rules coverage", "replay --since 1h", "auth status", "auth disconnect", "order tag 1 vip",
                                      "buyer export --buyer u1", "backup BACKUP");
    CAPTURE(line);
    const fs::path backup = inst.dir.path() / "backup.db";
    std::string args = line;
    if (auto at = args.find("BACKUP"); at != std::string::npos) args.replace(at, 6, backup.string());
    auto r = ctl(args + " --config " + inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("no database at " + db.string() + ": has orderflowd run here? is storage.path right?\n"));
    CHECK_THAT(r.output, !Catch::Contains("backed up"));
    CHECK_FALSE(fs::exists(db));
    CHECK_FALSE(fs::exists(backup));
}

TEST_CASE("account add creates the database before the first start as the setup steps need", "[ctl]") {
    installation inst;
    auto r = shell("printf 'a long enough passphrase\\n' | " + (bin_dir() / "orderflowctl").string() + " account add hanako --role staff --config " +
                   inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("added account hanako (staff)"));
    CHECK(fs::exists(inst.dir.path() / "orderflow.db"));
}

// A typo in storage.path must not quietly start a second, empty database
// beside the one the shop's history is in (docs/operations.md, "Files").
TEST_CASE("orderflowd and account add refuse a mistyped storage.path beside a database orderflowd has run on", "[ctl]") {
    installation inst;
    auto add = [&](const fs::path& config) {
        return shell("printf 'a long enough passphrase\\n' | " + (bin_dir() / "orderflowctl").string() + " account add hanako --role staff --config " +
                     config.string());
    };
    REQUIRE(add(inst.config).exit_code == 0);   // orderflow.db, as the setup steps make it
    std::string text;
    {
        std::ifstream in(inst.config);
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto at = text.find("\"path\": \"orderflow.db\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string("\"path\": \"orderflow.db\"").size(), "\"path\": \"orderflw.db\"");
    const fs::path mistyped = inst.dir.write("mistyped.json", text);
    const fs::path typo = inst.dir.path() / "orderflw.db";

    // Before any daemon ran on orderflow.db (only a copy, say): a new database is fine.
    SECTION("no daemon has run beside it") {
        CHECK(add(mistyped).exit_code == 0);
        CHECK(fs::exists(typo));
    }
    SECTION("orderflowd has run on orderflow.db") {
        std::ofstream(inst.dir.path() / "orderflow.db.lock") << "4242\n";   // what every start of orderflowd leaves
        const std::string refusal = daemon_startup_error(mistyped, "");
        INFO(refusal);
        CHECK_THAT(refusal, Catch::Contains("names " + typo.string() + ", which does not exist, but orderflowd has run on " +
                                            (inst.dir.path() / "orderflow.db").string()));
        CHECK_THAT(refusal, Catch::Contains("If storage.path is mistyped, correct it"));
        CHECK_FALSE(fs::exists(typo));
        CHECK_FALSE(fs::exists(typo.string() + ".lock"));   // nothing left beside the real database
        auto r = add(mistyped);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("which does not exist, but orderflowd has run on"));
        CHECK_FALSE(fs::exists(typo));
        // The right path still starts as before.
        CHECK(add(inst.config).exit_code == 0);
    }
}

TEST_CASE("status says whether orderflowd runs and exits 1 when it does not", "[ctl]") {
    installation inst;
    {
        auto db = orderflow::storage::database::open(make_database(inst));
        orderflow::storage::store store(db);
        orderflow::storage::vault vault(db, orderflow::storage::read_vault_key(inst.secret("vault_key")));
        orderflow::tikapi::token_set t;
        t.access_token = orderflow::secret("access");
        t.refresh_token = orderflow::secret("refresh");
        t.access_expires_at = 4'000'000'000;
        vault.put(orderflow::daemon::token_vault_name, orderflow::tikapi::serialize_tokens(t), 1'790'000'000);
        store.put_state("auth", R"({"state": "authorized", "advice": "", "since": 1790000000})", 1'790'000'000);
    }
    SECTION("not running: it says so, and what the database says is the last known state") {
        auto r = ctl("status --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::StartsWith("daemon:   NOT RUNNING (systemctl status orderflow); what follows is the last known state"));
        CHECK_THAT(r.output, Catch::Contains("auth:     tokens stored; last known: authorized\n"));
        CHECK_THAT(r.output, Catch::Contains("sending:  nothing is sent while orderflowd does not run (last known: on)\n"));
        CHECK_THAT(r.output, !Catch::Contains("daemon: authorized"));
        CHECK_THAT(r.output, !Catch::Contains("sending:  on"));
    }
    SECTION("running: asked on its admin socket") {
        fake_daemon daemon(inst.dir.path() / "admin.sock");
        auto r = ctl("status --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::StartsWith("daemon:   running\n"));
        CHECK_THAT(r.output, Catch::Contains("auth:     tokens stored; daemon: authorized\n"));
        CHECK_THAT(r.output, Catch::Contains("sending:  on\n"));
        CHECK_THAT(r.output, !Catch::Contains("last known"));
        const auto asked = daemon.requests();
        REQUIRE(asked.size() == 1);
        CHECK(asked[0].at("argv") == nlohmann::json::array({"metrics"}));
    }
}

TEST_CASE("review list asks the daemon for 200 items unless --limit is given and the help documents --limit", "[ctl]") {
    installation inst;
    fake_daemon daemon(inst.dir.path() / "admin.sock");
    CHECK(ctl("review list --config " + inst.config.string()).exit_code == 0);
    CHECK(ctl("review list --limit 30 --config " + inst.config.string()).exit_code == 0);
    const auto asked = daemon.requests();
    REQUIRE(asked.size() == 2);
    CHECK(asked[0].at("limit") == 200);
    CHECK(asked[1].at("limit") == 30);

    auto help = ctl("--help");
    CHECK_THAT(help.output, Catch::Contains("  review list [--all] [--limit N]\n"));
    CHECK_THAT(help.output, Catch::Contains("exit 1 when orderflowd does not\n"));
}

TEST_CASE("status and auth status print times in the config's timezone and not the machine's", "[ctl]") {
    installation inst;   // no timezone in the config: Asia/Tokyo
    {
        auto db = orderflow::storage::database::open(make_database(inst));
        orderflow::storage::store(db).put_state("poll.orders", "1790000000", 1'790'000'000);
        orderflow::storage::vault vault(db, orderflow::storage::read_vault_key(inst.secret("vault_key")));
        orderflow::tikapi::token_set t;
        t.access_token = orderflow::secret("access");
        t.refresh_token = orderflow::secret("refresh");
        t.access_expires_at = 4'000'000'000;   // 2096-10-02 07:06:40 UTC
        vault.put(orderflow::daemon::token_vault_name, orderflow::tikapi::serialize_tokens(t), 1'790'000'000);
    }
    const std::string bin = (bin_dir() / "orderflowctl").string();
    auto status = shell("TZ=UTC " + bin + " status --config " + inst.config.string());
    INFO(status.output);
    CHECK_THAT(status.output, Catch::Contains("poll:     next pass reads orders changed since 2026-"));
    CHECK_THAT(status.output, Catch::Contains(" +0900\n"));
    CHECK_THAT(status.output, !Catch::Contains("+0000"));
    auto auth = shell("TZ=UTC " + bin + " auth status --config " + inst.config.string());
    INFO(auth.output);
    CHECK(auth.exit_code == 0);
    CHECK_THAT(auth.output, Catch::Contains("access token:  valid until 2096-10-02 16:06:40 +0900\n"));
}

TEST_CASE("account add with nothing on stdin says no password was given", "[ctl]") {
    installation inst;
    auto r = ctl("account add hanako --role staff --config " + inst.config.string() + " < /dev/null");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output == "orderflowctl account add: no password given on stdin (it reads one line); nothing changed\n");
    CHECK_FALSE(fs::exists(inst.dir.path() / "orderflow.db"));
}

TEST_CASE("keygen on a directory says it is a directory", "[ctl]") {
    temp_dir dir;
    auto r = ctl("keygen " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output == "orderflowctl keygen: " + (dir.path() / "rules").string() + " is a directory; name the key file to create, e.g. " +
                          (dir.path() / "rules" / "vault_key").string() + "\n");
    CHECK(fs::is_empty(dir.path() / "rules"));
}

TEST_CASE("Someone who may not open the database is told to run as its owner or go through the daemon", "[ctl]") {
    if (::geteuid() != 0) {
        WARN("needs root: the database must belong to someone other than the user running orderflowctl");
        return;
    }
    installation inst;
    const fs::path db = make_database(inst);   // root's, mode 0600, as the daemon's is orderflow's
    const std::string line = GENERATE(as<std::string>{}, "status", "activity");
    CAPTURE(line);
    auto r = shell("setpriv --reuid=65534 --regid=65534 --clear-groups " + (bin_dir() / "orderflowctl").string() + " " + line +
                   " --config " + inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("cannot open database " + db.string() + ": permission denied; it is root's, the user orderflowd runs as: "
                                         "run this as that user (sudo -u root orderflowctl ...), or use orderflowctl review, which goes through the daemon\n"));
    CHECK_THAT(r.output, !Catch::Contains("writable by the user orderflowd runs as"));
}

namespace {

// Rewrites the installation's config with `change` applied.
void change_config(const installation& inst, const std::function<void(nlohmann::json&)>& change) {
    std::ifstream in(inst.config);
    auto j = nlohmann::json::parse(in);
    change(j);
    std::ofstream(inst.config, std::ios::trunc) << j.dump(2);
}

// A TCP socket on a free loopback port, listening (the kernel completes
// connections, nobody ever answers) or closed at once (connections are refused).
struct loopback_port {
    int fd = -1;
    std::uint16_t port = 0;
    explicit loopback_port(bool listening) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t n = sizeof a;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0);
        port = ntohs(a.sin_port);
        if (listening) REQUIRE(::listen(fd, 16) == 0);
        else close();
    }
    ~loopback_port() { close(); }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

// Answers one request on `listener` with `response`, on its own thread.
std::thread answer_once(const loopback_port& listener, std::string response) {
    // A client that never comes must not hang the test: accept gives up after 30 s.
    const timeval limit{30, 0};
    REQUIRE(::setsockopt(listener.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) == 0);
    return std::thread([fd = listener.fd, response = std::move(response)] {
        const int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
            const ssize_t n = ::read(c, buf, sizeof buf);
            if (n <= 0) break;
            request.append(buf, static_cast<std::size_t>(n));
        }
        [[maybe_unused]] const ssize_t written = ::write(c, response.data(), response.size());
        ::close(c);
    });
}

}  // namespace

TEST_CASE("check refuses a TikTok base URL or CA file that orderflowd would refuse at start", "[ctl]") {
    installation inst;
    const auto [what, key, says] = GENERATE(table<std::string, std::string, std::string>({
        {"not a url", "/tiktok/api_base", "'tiktok.api_base': \"not a url\" is not an http(s) URL"},
        {"http://open-api.tiktokglobalshop.com", "/tiktok/api_base", "'tiktok.api_base': \"http://open-api.tiktokglobalshop.com\" is plain http to another machine"},
        {"http://auth.tiktok-shops.com", "/tiktok/auth_base", "'tiktok.auth_base': \"http://auth.tiktok-shops.com\" is plain http to another machine"},
        {"/nonexistent/ca.pem", "/tiktok/ca_file", "error: tiktok.ca_file: cannot load the CA certificates from /nonexistent/ca.pem"},
    }));
    CAPTURE(what);
    change_config(inst, [&](nlohmann::json& j) { j[nlohmann::json::json_pointer(key)] = what; });
    auto r = ctl("check --config " + inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(says));
    CHECK_THAT(r.output, !Catch::Contains("ok: "));
    // orderflowd refuses the same file: a URL as a config it refuses (78, not
    // restarted), the CA file when it loads it, as a start-up failure (1).
    auto daemon = shell("timeout 20 " + (bin_dir() / "orderflowd").string() + " --config " + inst.config.string());
    CHECK(daemon.exit_code == (key == "/tiktok/ca_file" ? 1 : 78));
}

TEST_CASE("check warns that an admin.listen off loopback carries console passwords in clear, and still passes", "[ctl]") {
    installation inst;
    SECTION("0.0.0.0") {
        change_config(inst, [](nlohmann::json& j) { j["admin"]["listen"] = "0.0.0.0:8081"; });
        auto r = ctl("check --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains(inst.config.string() + ": warning: admin.listen: 0.0.0.0:8081 is not a loopback address"));
        CHECK_THAT(r.output, Catch::Contains("console passwords, session cookies"));
        CHECK_THAT(r.output, Catch::Contains("HTTPS reverse proxy"));
        CHECK_THAT(r.output, Catch::Contains("ok: " + inst.config.string()) && Catch::Contains("1 warning(s)"));
    }
    SECTION("loopback: nothing to say") {
        auto r = ctl("check --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, !Catch::Contains("admin.listen"));
    }
}

TEST_CASE("check warns about a command channel whose program cannot be run, and still passes", "[ctl]") {
    installation inst;
    const auto [program, says] = GENERATE(table<std::string, std::string>({
        {"/nonexistent/mailer", "/nonexistent/mailer is not an executable file (it does not exist)"},
        {"orderflow-no-such-bridge", "'orderflow-no-such-bridge' is not found in PATH"},
    }));
    CAPTURE(program);
    change_config(inst, [&](nlohmann::json& j) { j["notify"]["channels"]["mail"] = {{"type", "command"}, {"command", {program}}}; });
    auto r = ctl("check --config " + inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains(": warning: notify.channels.mail.command: " + says));
    CHECK_THAT(r.output, Catch::Contains("ok: " + inst.config.string()) && Catch::Contains("1 warning(s)"));
    // One that runs: nothing to say.
    change_config(inst, [&](nlohmann::json& j) { j["notify"]["channels"]["mail"]["command"] = {"/bin/true"}; });
    r = ctl("check --config " + inst.config.string());
    CHECK_THAT(r.output, !Catch::Contains("notify.channels"));
}

TEST_CASE("check warns when tracking.feed_dir does not exist and cannot be created", "[ctl]") {
    installation inst;
    inst.dir.write("blocked", "a file where the drop folder's parent should be\n");
    SECTION("its parent is a file") {
        change_config(inst, [](nlohmann::json& j) { j["tracking"] = {{"feed_dir", "blocked/feed"}}; });
        auto r = ctl("check --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        const std::string feed = (inst.dir.path() / "blocked" / "feed").string();
        CHECK_THAT(r.output, Catch::Contains(": warning: tracking.feed_dir: " + feed + " does not exist and cannot be created"));
        CHECK_THAT(r.output, Catch::Contains("mkdir -p " + feed));
    }
    SECTION("a file, not a folder") {
        change_config(inst, [](nlohmann::json& j) { j["tracking"] = {{"feed_dir", "blocked"}}; });
        auto r = ctl("check --config " + inst.config.string());
        INFO(r.output);
        CHECK_THAT(r.output, Catch::Contains("warning: tracking.feed_dir: " + (inst.dir.path() / "blocked").string() + " exists and is not a folder"));
        CHECK_THAT(r.output, Catch::Contains("Move what is there out of the way") && !Catch::Contains("mkdir -p"));
    }
    SECTION("missing but creatable, as orderflowd creates it: nothing to say") {
        change_config(inst, [](nlohmann::json& j) { j["tracking"] = {{"feed_dir", "feed/incoming"}}; });
        auto r = ctl("check --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, !Catch::Contains("tracking.feed_dir"));
        CHECK_FALSE(fs::exists(inst.dir.path() / "feed"));   // check changes nothing
    }
}

TEST_CASE("orderflowd --config without a path says that the option needs one", "[ctl]") {
    const std::string line = GENERATE(as<std::string>{}, " --config", " --config=");
    auto r = shell((bin_dir() / "orderflowd").string() + line);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("--config needs the path of the config file"));
    CHECK_THAT(r.output, !Catch::Contains("unknown argument"));
}

TEST_CASE("auth exchange tells an unreachable or silent auth host from a spent code", "[ctl]") {
    installation inst;
    SECTION("nobody answers within tiktok.timeout") {
        loopback_port silent(true);
        change_config(inst, [&](nlohmann::json& j) {
            j["tiktok"]["auth_base"] = silent.url();
            j["tiktok"]["timeout"] = "1s";
        });
        auto r = ctl("auth exchange some-code --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("token exchange failed: timed out"));
        CHECK_THAT(r.output, Catch::Contains("did not answer within tiktok.timeout (1 s)"));
        CHECK_THAT(r.output, !Catch::Contains("works once"));
    }
    SECTION("the connection is refused") {
        loopback_port closed(false);
        change_config(inst, [&](nlohmann::json& j) { j["tiktok"]["auth_base"] = closed.url(); });
        auto r = ctl("auth exchange some-code --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("could not be reached"));
        CHECK_THAT(r.output, !Catch::Contains("works once"));
    }
    SECTION("TikTok refuses the code") {
        loopback_port auth(true);
        const std::string body = R"({"code":36004005,"message":"invalid auth code","request_id":"r-1","data":{}})";
        auto server = answer_once(auth, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
        change_config(inst, [&](nlohmann::json& j) { j["tiktok"]["auth_base"] = auth.url(); });
        auto r = ctl("auth exchange some-code --config " + inst.config.string());
        server.join();
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("TikTok error 36004005"));
        CHECK_THAT(r.output, Catch::Contains("An authorization code works once and for 30 minutes"));
    }
}

TEST_CASE("A second orderflowd on the same database is refused before it writes anything, naming the first's pid", "[ctl][startup]") {
    installation inst;
    // The first orderflowd: this process holds the lock beside the database.
    const fs::path lock = inst.dir.path() / "orderflow.db.lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    const std::string pid = std::to_string(::getpid()) + "\n";
    REQUIRE(::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size()));

    const std::string error = daemon_startup_error(inst.config, (inst.dir.path() / "secrets").string());
    CHECK_THAT(error, Catch::Contains("another orderflowd (pid " + std::to_string(::getpid()) + ") runs on the database") &&
                          Catch::Contains("stop it first"));
    CHECK_FALSE(fs::exists(inst.dir.path() / "orderflow.db"));   // nothing opened, nothing written
    ::close(fd);
}

TEST_CASE("orderflowd names webhook.listen or admin.listen when its address is in use", "[ctl][startup]") {
    installation inst;
    loopback_port taken(true);
    const std::string key = GENERATE(as<std::string>{}, "webhook", "admin");
    change_config(inst, [&](nlohmann::json& j) { j[key]["listen"] = "127.0.0.1:" + std::to_string(taken.port); });
    const std::string error = daemon_startup_error(inst.config, (inst.dir.path() / "secrets").string());
    CHECK_THAT(error, Catch::StartsWith(key + ".listen: cannot listen on 127.0.0.1:" + std::to_string(taken.port)) &&
                          Catch::Contains("choose another port in " + key + ".listen"));
}

TEST_CASE("orderflowd --help prints its usage and nothing else", "[ctl][startup]") {
    auto r = shell((bin_dir() / "orderflowd").string() + " --help", "");
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output == "usage: orderflowd --config FILE\n");
}

TEST_CASE("orderflowd exits 78 for a config it refuses, so the unit does not restart it", "[ctl][startup]") {
    installation inst;
    change_config(inst, [](nlohmann::json& j) { j["poll"]["interval"] = "1000000d"; });
    auto r = shell((bin_dir() / "orderflowd").string() + " --config " + inst.config.string(), (inst.dir.path() / "secrets").string());
    INFO(r.output);
    CHECK(r.exit_code == 78);
    CHECK_THAT(r.output, Catch::Contains("config_invalid") && Catch::Contains("poll.interval"));
}

TEST_CASE("A SIGHUP while orderflowd starts is not the end of it", "[ctl][startup]") {
    installation inst;
    const std::string log = (inst.dir.path() / "orderflowd.log").string();
    const std::string daemon = (bin_dir() / "orderflowd").string();
    const std::string config = inst.config.string();
    const std::string credentials = "CREDENTIALS_DIRECTORY=" + (inst.dir.path() / "secrets").string();
    // Counted from the daemon's first log line, as it builds the service
    // (migrating a new database takes a good part of a second): before main
    // the dynamic loader runs, where no program catches a signal (systemd
    // sends none then: a reload waits for READY=1), and a sanitized build
    // under load may spend long there.
    const int after_ms = GENERATE(0, 20);
    CAPTURE(after_ms);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(127);
        ::putenv(const_cast<char*>(credentials.c_str()));
        ::execl(daemon.c_str(), daemon.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const auto written = [&] {
        std::error_code no_file_yet;
        const auto size = fs::file_size(log, no_file_yet);
        return !no_file_yet && size > 0;
    };
    while (!written() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(std::chrono::microseconds(200));
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
    ::kill(pid, SIGHUP);
    // Still there a second later: it started (and reloads, or had already).
    std::this_thread::sleep_for(std::chrono::seconds(1));
    int status = 0;
    const pid_t ended_early = ::waitpid(pid, &status, WNOHANG);
    if (ended_early == 0) {
        ::kill(pid, SIGTERM);
        REQUIRE(::waitpid(pid, &status, 0) == pid);
    }
    std::ifstream in(log);
    const std::string lines((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(lines);
    CHECK(ended_early == 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK_THAT(lines, Catch::Contains("\"event\":\"daemon_stopped\""));
}

TEST_CASE("status shows the first five errors of a failed reload and says how many more there are", "[ctl]") {
    installation inst;
    const int errors = GENERATE(3, 8, 60);
    CAPTURE(errors);
    {
        auto db = orderflow::storage::database::open(make_database(inst));
        orderflow::storage::store store(db);
        // As rules_in_force records a failed reload: at most 50 errors listed, and the number of all.
        nlohmann::json listed = nlohmann::json::array();
        for (int i = 0; i < std::min(errors, 50); ++i) listed.push_back("rules/20-a.json:" + std::to_string(i + 1) + ":3: error: unknown event");
        store.put_state("rules",
                        nlohmann::json{{"in_force", {{"count", 1}, {"hash", "0123456789abcdef"}, {"since", 1'790'000'000}, {"how", "start"}}},
                                       {"last_reload", {{"at", 1'790'000'100}, {"ok", false}, {"errors", listed}, {"error_count", errors}}}}
                            .dump(),
                        1'790'000'100);
    }
    auto r = ctl("status --config " + inst.config.string());
    INFO(r.output);
    CHECK_THAT(r.output, Catch::Contains("FAILED; the rules above stay in force"));
    CHECK_THAT(r.output, Catch::Contains("\n          rules/20-a.json:1:3: error: unknown event\n"));
    CHECK_THAT(r.output, Catch::Contains("rules/20-a.json:" + std::to_string(std::min(errors, 5)) + ":3: error"));
    CHECK_THAT(r.output, !Catch::Contains("rules/20-a.json:6:3: error"));
    if (errors > 5)
        CHECK_THAT(r.output, Catch::Contains("\n          and " + std::to_string(errors - 5) + " more (orderflowctl check shows all)\n"));
    else
        CHECK_THAT(r.output, !Catch::Contains(" more (orderflowctl check shows all)"));
}

TEST_CASE("auth url prints the current link with tiktok.service_id and says how to get it without", "[ctl][auth]") {
    installation inst;
    SECTION("without tiktok.service_id: the legacy link, and what to set") {
        auto r = ctl("auth url --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::StartsWith("https://auth.tiktok-shops.com/oauth/authorize?app_key=k&state="));
        CHECK_THAT(r.output, Catch::Contains("legacy authorization link") && Catch::Contains("set tiktok.service_id in " + inst.config.string()) &&
                                 Catch::Contains("Partner Center"));
    }
    SECTION("with it: the current link, outside the US and on a US shop's host") {
        const bool us = GENERATE(false, true);
        change_config(inst, [&](nlohmann::json& c) {
            c["tiktok"]["service_id"] = "7369437808455026474";
            if (us) c["tiktok"]["authorize_base"] = "https://services.us.tiktokshop.com";
        });
        auto r = ctl("auth url --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        const std::string host = us ? "https://services.us.tiktokshop.com" : "https://services.tiktokshop.com";
        CHECK_THAT(r.output, Catch::StartsWith(host + "/open/authorize?service_id=7369437808455026474&state="));
        CHECK_THAT(r.output, Catch::Contains("orderflowctl auth exchange CODE --config " + inst.config.string()));
        CHECK_THAT(r.output, !Catch::Contains("legacy"));
        CHECK_THAT(r.output, !Catch::Contains("app_key="));
    }
}

}  // namespace ORDERFLOW_TEST_FILE

namespace ORDERFLOW_TEST_FILE {

namespace {

// rules_text with a typo in the status its condition names: loads nowhere.
std::string rules_with_typo() {
    std::string text = rules_text;
    text.replace(text.find("AWAITING_SHIPMENT"), 17, "AWAITING_SHIPPMENT");
    return text;
}

}  // namespace

TEST_CASE("check and orderflowd refuse a condition value its field never holds naming the rule and the closest value", "[ctl][values]") {
    installation inst;
    inst.dir.write("rules/10-a.json", rules_with_typo());
    auto r = ctl("check --config " + inst.config.string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains((inst.dir.path() / "rules/10-a.json").string() +
                                         ":5:44: error: rule \"thanks\": order.status is never \"AWAITING_SHIPPMENT\" (its values: UNPAID, "
                                         "ON_HOLD, AWAITING_SHIPMENT, PARTIALLY_SHIPPING, AWAITING_COLLECTION, IN_TRANSIT, DELIVERED, "
                                         "COMPLETED, CANCELLED), so \"changed_to\" never holds; did you mean AWAITING_SHIPMENT?\n"));
    CHECK_THAT(r.output, Catch::Contains("1 error(s)"));
    CHECK_THAT(daemon_startup_error(inst.config, ""), Catch::Contains("are not valid; run orderflowctl check"));
}

TEST_CASE("rules coverage with rules that do not load shows their errors and exits 1 instead of listing every rule as removed", "[ctl][coverage]") {
    installation inst;
    {
        auto db = orderflow::storage::database::open(make_database(inst));
        orderflow::storage::store store(db);
        const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        orderflow::storage::new_event e;
        e.dedupe_key = "tts:1";
        e.source = "webhook";
        e.topic = 1;
        e.event = "order.status_changed";
        e.order_id = "7";
        e.payload = "{}";
        e.received_at = now;
        REQUIRE(store.add_event(e));
        auto pending = store.pending_events(now + 1, 10);
        REQUIRE(pending.size() == 1u);
        store.finish_event(pending.front().id, "done", "matched: thanks", now);
    }
    SECTION("the rules load: the rule's events are counted") {
        auto r = ctl("rules coverage --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Matches("(.|\n)*thanks +matched 1 event\n(.|\n)*"));
    }
    SECTION("they do not: the errors, as check shows them, and exit 1") {
        inst.dir.write("rules/10-a.json", rules_with_typo());
        auto r = ctl("rules coverage --config " + inst.config.string());
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains((inst.dir.path() / "rules/10-a.json").string() + ":5:44: error: rule \"thanks\": order.status is never"));
        CHECK_THAT(r.output, Catch::Contains("1 error(s), 0 warning(s)\n"));
        CHECK_THAT(r.output, Catch::Contains("do not load, so their coverage cannot be shown; fix them first (orderflowctl check)"));
        CHECK_THAT(r.output, !Catch::Contains("no longer in the rules"));
        CHECK_THAT(r.output, !Catch::Contains("never fired"));
    }
}

TEST_CASE("rules explain shows what a capture would keep and what an update_tracking would send and never an empty line", "[ctl][explain]") {
    temp_dir dir;
    dir.write("rules/10-a.json", R"({
  "rules": [
    {"id": "keep-engraving", "on": "message.received", "then": [{"capture": {"attribute": "engraving"}}]},
    {"id": "ship", "on": "tracking.received", "then": [{"update_tracking": {}}]}
  ]})");
    const std::string rules = (dir.path() / "rules").string();
    SECTION("capture: the attribute, the message and the words kept") {
        auto event = dir.write("event.json", R"({"event": "message.received", "now": 1700000000,
          "message": {"id": "m1", "type": "TEXT", "text": "KEN & AYA\n2026.12.24", "conversation_id": "c1"},
          "order": {"id": "7", "status": "AWAITING_SHIPMENT"}})");
        auto r = ctl("rules explain --event " + event.string() + " --rules " + rules);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("keep-engraving (" + rules + "/10-a.json:3:5): MATCHED\n"
                                             "  capture order.attributes.engraving from message m1:\n"
                                             "    | KEN & AYA\n"
                                             "    | 2026.12.24\n"));
        CHECK_THAT(r.output, !Catch::Contains("    | \n"));
    }
    SECTION("update_tracking: the carrier, the number and the package") {
        auto event = dir.write("event.json", R"({"event": "tracking.received", "now": 1700000000,
          "event_data": {"package_id": "P1", "carrier": "ヤマト運輸", "tracking_number": "4912-3456-7890"},
          "order": {"id": "7", "status": "AWAITING_SHIPMENT"}})");
        auto r = ctl("rules explain --event " + event.string() + " --rules " + rules);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("ship (" + rules + "/10-a.json:4:5): MATCHED\n"
                                             "  update_tracking ヤマト運輸 4912-3456-7890 (package P1)\n"));
        CHECK_THAT(r.output, !Catch::Contains("    | \n"));
    }
}

}  // namespace ORDERFLOW_TEST_FILE
