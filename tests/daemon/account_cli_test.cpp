// Tests for daemon/account_cli.hpp: account add, list and remove against a
// real database, the exit codes and messages for a bad name, role or hash,
// the audit entries (who, which account, its role; never the hash), and that
// no output ever shows a hash.
#include "daemon/account_cli.hpp"

#include "storage/accounts.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using json = nlohmann::json;

namespace {

// Each hash costs ~0.1 s and 64 MiB: the tests share two.
const std::string& hash_a() {
    static const std::string h = storage::hash_password("first long passphrase");
    return h;
}
const std::string& hash_b() {
    static const std::string h = storage::hash_password("second long passphrase");
    return h;
}

struct rig {
    storage::testing::temp_dir dir;
    storage::database db = storage::database::open(dir / "orderflow.db");
    storage::store store{db};
    std::int64_t now = 1'790'000'000;
    std::string out, err;

    int run(std::vector<std::string> argv, std::string role = "", std::string hash = "", std::string by = "taro") {
        std::ostringstream o, e;
        const int code = account_command(db, store, {std::move(argv), std::move(role), std::move(hash), std::move(by)}, o, e, now);
        out = o.str();
        err = e.str();
        // Whatever happened, no hash is shown.
        CHECK(out.find("$argon2id$") == std::string::npos);
        CHECK(err.find("$argon2id$") == std::string::npos);
        return code;
    }

    std::vector<json> audit(const std::string& action) {
        std::vector<json> rows;
        for (auto& row : store.audit_entries(0, "", action, 100)) rows.push_back(std::move(row));
        return rows;
    }
};

}  // namespace

TEST_CASE("account add creates an account, and again replaces its role and password, each audited", "[account]") {
    rig r;
    REQUIRE(r.run({"account", "add", "hanako"}, "staff", hash_a()) == 0);
    CHECK(r.out == "added account hanako (staff)\n");
    auto a = storage::get_account(r.db, "hanako");
    REQUIRE(a.has_value());
    CHECK(a->role == "staff");
    CHECK(storage::check_password(a->password_hash, "first long passphrase"));
    CHECK(a->created_at == r.now);

    r.now += 60;
    REQUIRE(r.run({"account", "add", "hanako"}, "operator", hash_b(), "jiro") == 0);
    CHECK(r.out == "updated account hanako: role operator, new password\n");
    a = storage::get_account(r.db, "hanako");
    REQUIRE(a.has_value());
    CHECK(a->role == "operator");
    CHECK(storage::check_password(a->password_hash, "second long passphrase"));
    CHECK_FALSE(storage::check_password(a->password_hash, "first long passphrase"));
    CHECK(a->created_at == r.now - 60);
    CHECK(a->updated_at == r.now);

    const auto rows = r.audit("account.add");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].at("actor") == "orderflowctl");
    CHECK(rows[0].at("detail") == json{{"by", "jiro"}, {"account", "hanako"}, {"role", "operator"}, {"new", false}});
    CHECK(rows[1].at("detail") == json{{"by", "taro"}, {"account", "hanako"}, {"role", "staff"}, {"new", true}});
    for (const auto& row : rows) CHECK(row.dump().find("$argon2id$") == std::string::npos);
}

TEST_CASE("account add refuses a bad name, a bad role or anything but a password hash with exit 2", "[account]") {
    rig r;
    const auto [name, role, hash, says] = GENERATE_COPY(table<std::string, std::string, std::string, std::string>({
        {"Hanako", "staff", hash_a(), "cannot name an account"},
        {"", "staff", hash_a(), "cannot name an account"},
        {"hana ko", "staff", hash_a(), "cannot name an account"},
        {"hanako", "", hash_a(), "the account needs a role"},
        {"hanako", "admin", hash_a(), "'admin' is not a role"},
        {"hanako", "staff", "", "no password hash made by orderflowctl"},
        {"hanako", "staff", "correct horse battery staple", "no password hash made by orderflowctl"},
        {"hanako", "staff", "$argon2id$v=19$m=65536,t=2,p=1$short$short", "no password hash made by orderflowctl"},
    }));
    CAPTURE(name, role);
    CHECK(r.run({"account", "add", name}, role, hash) == 2);
    CHECK_THAT(r.err, Catch::Contains(says));
    CHECK(r.out.empty());
    if (!hash.empty()) CHECK(r.err.find(hash) == std::string::npos);   // a password sent by mistake is not repeated
    CHECK(storage::list_accounts(r.db).empty());
    CHECK(r.audit("account").empty());
}

TEST_CASE("account list shows name, role and times, never the hash", "[account]") {
    rig r;
    REQUIRE(r.run({"account", "list"}) == 0);
    CHECK_THAT(r.out, Catch::Contains("no console accounts"));

    REQUIRE(r.run({"account", "add", "taro"}, "operator", hash_a()) == 0);
    REQUIRE(r.run({"account", "add", "hanako"}, "staff", hash_b()) == 0);
    REQUIRE(r.run({"account", "list"}) == 0);
    std::istringstream lines(r.out);
    std::string header, first, second;
    std::getline(lines, header);
    std::getline(lines, first);
    std::getline(lines, second);
    CHECK_THAT(header, Catch::StartsWith("NAME") && Catch::Contains("ROLE") && Catch::Contains("CREATED") && Catch::Contains("UPDATED"));
    CHECK_THAT(first, Catch::StartsWith("hanako") && Catch::Contains("staff"));
    CHECK_THAT(second, Catch::StartsWith("taro") && Catch::Contains("operator"));
    CHECK(r.out.find(hash_a().substr(30)) == std::string::npos);
}

TEST_CASE("account remove deletes the account and audits it, and exit 1 when there is none", "[account]") {
    rig r;
    REQUIRE(r.run({"account", "add", "hanako"}, "staff", hash_a()) == 0);
    REQUIRE(r.run({"account", "remove", "hanako"}, "", "", "jiro") == 0);
    CHECK(r.out == "removed account hanako (staff)\n");
    CHECK_FALSE(storage::get_account(r.db, "hanako").has_value());
    const auto rows = r.audit("account.remove");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].at("detail") == json{{"by", "jiro"}, {"account", "hanako"}, {"role", "staff"}});

    CHECK(r.run({"account", "remove", "hanako"}) == 1);
    CHECK_THAT(r.err, Catch::Contains("there is no account 'hanako'"));
    CHECK(r.audit("account.remove").size() == 1);
}

TEST_CASE("account with a wrong shape prints the usage with exit 2", "[account]") {
    rig r;
    const auto argv = GENERATE(as<std::vector<std::string>>{}, std::vector<std::string>{"account"},
                               std::vector<std::string>{"account", "add"}, std::vector<std::string>{"account", "list", "x"},
                               std::vector<std::string>{"account", "remove"}, std::vector<std::string>{"account", "rename", "a", "b"});
    CHECK(r.run(argv, "staff", hash_a()) == 2);
    CHECK_THAT(r.err, Catch::StartsWith("usage: orderflowctl account add NAME --role staff|operator"));
    CHECK(storage::list_accounts(r.db).empty());
}

}  // namespace ORDERFLOW_TEST_FILE
