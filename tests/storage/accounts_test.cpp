// Tests for storage/accounts.hpp: password hashes made and checked with
// libsodium, what a hash must look like to be taken, the rules for names and
// passwords, and the console_accounts table (put, get, list, remove; the
// database refuses a role it does not know).
#include "storage/accounts.hpp"

#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;

namespace {

struct fixture {
    temp_dir dir;
    database db = database::open(dir / "orderflow.db");
};

// Every hash_password call costs ~0.1 s and 64 MiB: the tests share one.
const std::string& sample_hash() {
    static const std::string h = hash_password("correct horse battery staple");
    return h;
}

account make_account(std::string name, std::string role, std::string hash) {
    account a;
    a.name = std::move(name);
    a.role = std::move(role);
    a.password_hash = std::move(hash);
    return a;
}

}  // namespace

TEST_CASE("A password hash checks against its password and no other", "[accounts]") {
    const std::string& h = sample_hash();
    CHECK(h.starts_with("$argon2id$"));
    CHECK(h.find("correct horse") == std::string::npos);
    CHECK(check_password(h, "correct horse battery staple"));
    CHECK_FALSE(check_password(h, "correct horse battery stapl"));
    CHECK_FALSE(check_password(h, "Correct horse battery staple"));
    CHECK_FALSE(check_password(h, ""));
    // Each hash has its own salt.
    CHECK(hash_password("correct horse battery staple") != h);
}

TEST_CASE("A malformed hash checks against nothing and does not look like a hash", "[accounts]") {
    const std::string& h = sample_hash();
    const std::string bad = GENERATE_COPY(as<std::string>{}, "", "$argon2id$", "password", "$argon2i$v=19$m=65536,t=2,p=1$abc$def",
                                          h.substr(0, h.size() - 5), h + "\n", " " + h, h.substr(0, 20) + " " + h.substr(21),
                                          h + std::string(200, 'A'), h.substr(0, 30) + std::string(1, '\0') + h.substr(31));
    CAPTURE(bad);
    CHECK_FALSE(looks_like_password_hash(bad));
    CHECK_FALSE(check_password(bad, "correct horse battery staple"));
}

TEST_CASE("Only what hash_password makes looks like a password hash", "[accounts]") {
    CHECK(looks_like_password_hash(sample_hash()));
    // The right shape, but limits other than hash_password's (a check of it
    // would cost what the daemon did not bargain for).
    std::string heavier = sample_hash();
    const auto t = heavier.find(",t=");
    REQUIRE(t != std::string::npos);
    heavier.replace(t, 4, ",t=9");
    CHECK_FALSE(looks_like_password_hash(heavier));
}

TEST_CASE("Account names are short, lowercase and start with a letter or digit", "[accounts]") {
    for (const char* ok : {"hanako", "taro.yamada", "desk-2", "ops_team", "7eleven", "a"}) {
        INFO(ok);
        CHECK(account_name_problem(ok).empty());
    }
    CHECK(account_name_problem(std::string(64, 'a')).empty());
    const auto [name, problem] = GENERATE(table<std::string, std::string>({
        {"", "empty"},
        {std::string(65, 'a'), "at most 64"},
        {"-hanako", "starts with"},
        {".hidden", "starts with"},
        {"Hanako", "starts with"},
        {"hana ko", "only lowercase"},
        {"hanako@shop", "only lowercase"},
        {"hana/ko", "only lowercase"},
        {"はなこ", "starts with"},
    }));
    CAPTURE(name);
    CHECK_THAT(account_name_problem(name), Catch::Contains(problem));
}

TEST_CASE("Roles are staff and operator", "[accounts]") {
    CHECK(valid_role("staff"));
    CHECK(valid_role("operator"));
    CHECK_FALSE(valid_role(""));
    CHECK_FALSE(valid_role("Staff"));
    CHECK_FALSE(valid_role("admin"));
}

TEST_CASE("A password has 12 to 1024 bytes, and a complaint never repeats it", "[accounts]") {
    CHECK(password_problem(std::string(12, 'x')).empty());
    CHECK(password_problem(std::string(1024, 'x')).empty());
    const std::string short_one = "tiny-secret";   // 11 bytes
    CHECK_THAT(password_problem(short_one), Catch::Contains("too short"));
    CHECK(password_problem(short_one).find(short_one) == std::string::npos);
    CHECK_THAT(password_problem(std::string(1025, 'x')), Catch::Contains("too long"));
    CHECK_THAT(password_problem(""), Catch::Contains("too short"));
}

TEST_CASE("Accounts are put, read, listed by name and removed", "[accounts]") {
    fixture f;
    CHECK_FALSE(get_account(f.db, "hanako").has_value());
    CHECK(list_accounts(f.db).empty());

    CHECK(put_account(f.db, make_account("taro", "operator", sample_hash()), 1000));
    CHECK(put_account(f.db, make_account("hanako", "staff", sample_hash()), 1001));

    const auto hanako = get_account(f.db, "hanako");
    REQUIRE(hanako.has_value());
    CHECK(hanako->role == "staff");
    CHECK(hanako->password_hash == sample_hash());
    CHECK(hanako->created_at == 1001);
    CHECK(hanako->updated_at == 1001);

    const auto all = list_accounts(f.db);
    REQUIRE(all.size() == 2);
    CHECK(all[0].name == "hanako");
    CHECK(all[1].name == "taro");
    CHECK(all[1].role == "operator");

    CHECK(remove_account(f.db, "hanako"));
    CHECK_FALSE(remove_account(f.db, "hanako"));
    CHECK_FALSE(get_account(f.db, "hanako").has_value());
    CHECK(list_accounts(f.db).size() == 1);
}

TEST_CASE("Putting an account again replaces its role and hash and keeps when it was created", "[accounts]") {
    fixture f;
    REQUIRE(put_account(f.db, make_account("hanako", "staff", sample_hash()), 1000));
    const std::string new_hash = hash_password("another long passphrase");

    SECTION("on its own") {
        CHECK_FALSE(put_account(f.db, make_account("hanako", "operator", new_hash), 2000));
    }
    SECTION("inside the caller's transaction") {
        const bool is_new = f.db.transaction([&] { return put_account(f.db, make_account("hanako", "operator", new_hash), 2000); });
        CHECK_FALSE(is_new);
    }
    const auto a = get_account(f.db, "hanako");
    REQUIRE(a.has_value());
    CHECK(a->role == "operator");
    CHECK(a->password_hash == new_hash);
    CHECK(a->created_at == 1000);
    CHECK(a->updated_at == 2000);
    CHECK(check_password(a->password_hash, "another long passphrase"));
    CHECK_FALSE(check_password(a->password_hash, "correct horse battery staple"));
    CHECK(list_accounts(f.db).size() == 1);
}

TEST_CASE("The database refuses an account with a role it does not know", "[accounts]") {
    fixture f;
    CHECK_THROWS_AS(put_account(f.db, make_account("hanako", "admin", sample_hash()), 1000), storage_error);
    CHECK_FALSE(get_account(f.db, "hanako").has_value());
}

}  // namespace ORDERFLOW_TEST_FILE
