// The staff console's accounts, as an operator manages them with the real
// orderflowctl: added with the password on stdin, listed, given a new
// password, removed, through the running daemon and, with it stopped, on the
// database itself. The database holds a hash that checks against the
// password; no output and no log line holds the password.
#include "tests/integration/harness.hpp"

#include "storage/accounts.hpp"
#include "storage/database.hpp"

#include <catch2/catch.hpp>

#include <csignal>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;
namespace storage = orderflow::storage;

namespace {

std::vector<std::string> ctl_argv(const stack& s, std::vector<std::string> args) {
    args.insert(args.begin(), (bin_dir() / "orderflowctl").string());
    args.push_back("--config");
    args.push_back(s.config_path().string());
    return args;
}

// Everything orderflowctl printed in this test, to look for passwords in.
struct transcript {
    std::string text;
    run_result ctl(const stack& s, std::vector<std::string> args, const std::string& input = "") {
        run_result r = run_with_stdin(ctl_argv(s, std::move(args)), input);
        text += r.output;
        return r;
    }
};

const std::string hanako_first = "sakura-mochi-2026";
const std::string hanako_second = "kashiwa-mochi-2027";
const std::string taro_password = "taro's long password";
const std::string jiro_password = "jiro goes offline 1";
const std::string too_short = "short-pw";

}  // namespace

TEST_CASE("orderflowctl account adds, lists, updates and removes console accounts with the daemon running and stopped",
          "[integration][account]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    transcript t;

    // Through the running daemon.
    auto r = t.ctl(s, {"account", "add", "hanako", "--role", "staff"}, hanako_first + "\n");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("added account hanako (staff)"));
    r = t.ctl(s, {"account", "add", "taro", "--role", "operator", "--by", "owner"}, taro_password);   // no newline at the end
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("added account taro (operator)"));
    r = t.ctl(s, {"account", "add", "hanako", "--role", "staff"}, hanako_second + "\n");
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("updated account hanako: role staff, new password"));

    // Refused before anything is sent: a short password, a bad role, a bad name.
    r = t.ctl(s, {"account", "add", "jiro", "--role", "staff"}, too_short + "\n");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("too short"));
    r = t.ctl(s, {"account", "add", "jiro", "--role", "admin"}, jiro_password + "\n");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("'admin' is not a role"));
    r = t.ctl(s, {"account", "add", "Jiro", "--role", "staff"}, jiro_password + "\n");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("cannot name an account"));
    // A config whose storage.path is mistyped is refused, though the daemon
    // answers on its admin.socket (docs/operations.md).
    std::string mistyped = read_file(s.config_path());
    const auto at = mistyped.find("\"path\": \"orderflow.db\"");
    REQUIRE(at != std::string::npos);
    mistyped.replace(at, std::string("\"path\": \"orderflow.db\"").size(), "\"path\": \"orderflw.db\"");
    write_file(s.dir / "mistyped.json", mistyped);
    r = run_with_stdin({(bin_dir() / "orderflowctl").string(), "account", "add", "jiro", "--role", "staff", "--config",
                        (s.dir / "mistyped.json").string()},
                       jiro_password + "\n");
    t.text += r.output;
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("which does not exist, but orderflowd has run on"));
    CHECK_FALSE(std::filesystem::exists(s.dir / "orderflw.db"));
    // status with it says only that (not first that a daemon is running).
    r = run({(bin_dir() / "orderflowctl").string(), "status", "--config", (s.dir / "mistyped.json").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("no database at " + (s.dir / "orderflw.db").string()) && !Catch::Contains("daemon:"));

    r = t.ctl(s, {"account", "list"});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("hanako") && Catch::Contains("staff") && Catch::Contains("taro") && Catch::Contains("operator"));
    CHECK_THAT(r.output, !Catch::Contains("jiro") && !Catch::Contains("$argon2id$"));

    r = t.ctl(s, {"account", "remove", "taro"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("removed account taro (operator)"));
    r = t.ctl(s, {"account", "remove", "taro"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("there is no account 'taro'"));

    // The daemon carried them out: it logged the requests.
    CHECK(log_lines(s.daemon.log(), "admin_request").size() >= 5);

    // With the daemon stopped, the same commands on the database itself.
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    r = t.ctl(s, {"account", "add", "jiro", "--role", "staff"}, jiro_password + "\n");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("added account jiro (staff)"));
    r = t.ctl(s, {"account", "add", "jiro", "--role", "operator"}, jiro_password + "\n");
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("updated account jiro: role operator"));
    r = t.ctl(s, {"account", "list"});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("hanako") && Catch::Contains("jiro") && !Catch::Contains("taro"));
    r = t.ctl(s, {"account", "remove", "nobody"});
    CHECK(r.exit_code == 1);

    // The audit log says who did what, without a hash.
    r = t.ctl(s, {"audit", "--action", "account"});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("account.add") && Catch::Contains("account.remove") && Catch::Contains("owner"));
    CHECK_THAT(r.output, !Catch::Contains("$argon2id$"));

    // The database holds hashes that check against the passwords.
    {
        auto db = storage::database::open(s.db_path());
        const auto hanako = storage::get_account(db, "hanako");
        REQUIRE(hanako.has_value());
        CHECK(hanako->role == "staff");
        CHECK(storage::check_password(hanako->password_hash, hanako_second));
        CHECK_FALSE(storage::check_password(hanako->password_hash, hanako_first));
        const auto jiro = storage::get_account(db, "jiro");
        REQUIRE(jiro.has_value());
        CHECK(jiro->role == "operator");
        CHECK(storage::check_password(jiro->password_hash, jiro_password));
        CHECK_FALSE(storage::get_account(db, "taro").has_value());
    }

    // No password in anything orderflowctl printed or the daemon logged.
    const std::string logs = t.text + read_file(s.daemon.log()) + s.ctl_log();
    for (const auto& password : {hanako_first, hanako_second, taro_password, jiro_password, too_short}) {
        INFO(password);
        CHECK(logs.find(password) == std::string::npos);
    }
}

}  // namespace ORDERFLOW_TEST_FILE
