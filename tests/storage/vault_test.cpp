// Tests for storage/vault.hpp: encryption round trips, that no plaintext
// reaches the database files, wrong keys, the rule for every secret file
// (read_secret_bytes: owner only, a regular file, not empty) and the key
// file's own (64 hex characters, never overwritten).
#include "storage/vault.hpp"

#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::secret;
using orderflow::storage::testing::temp_dir;

namespace {

const std::string key_a_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string key_b_hex = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

secret key_from_hex(const std::string& hex) {
    std::string raw;
    for (std::size_t i = 0; i < hex.size(); i += 2) raw.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return secret(raw);
}

void write_file(const std::filesystem::path& file, const std::string& content, std::filesystem::perms mode) {
    std::ofstream(file, std::ios::binary) << content;
    std::filesystem::permissions(file, mode);
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// True when needle occurs in the file (false when the file does not exist).
bool file_contains(const std::filesystem::path& file, const std::string& needle) {
    if (!std::filesystem::exists(file)) return false;
    return read_file(file).find(needle) != std::string::npos;
}

// Every file SQLite keeps for the database.
std::vector<std::filesystem::path> database_files(const std::filesystem::path& db) {
    return {db, db.string() + "-wal", db.string() + "-shm", db.string() + "-journal"};
}

bool any_file_contains(const std::filesystem::path& db, const std::string& needle) {
    for (const auto& f : database_files(db)) {
        if (file_contains(f, needle)) return true;
    }
    return false;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

constexpr auto owner_rw = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

}  // namespace

TEST_CASE("The vault returns what was put into it", "[vault]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    vault v(db, key_from_hex(key_a_hex));

    CHECK_FALSE(v.get("access_token").has_value());
    v.put("access_token", secret("TTP_abc123"), 100);
    v.put("refresh_token", secret(std::string(5000, 'r')), 100);
    v.put("empty", secret(""), 100);

    auto got = v.get("access_token");
    REQUIRE(got);
    CHECK(got->reveal() == "TTP_abc123");
    CHECK(v.get("refresh_token")->reveal() == std::string(5000, 'r'));
    CHECK(v.get("empty")->reveal().empty());

    SECTION("putting a name again replaces its value") {
        v.put("access_token", secret("TTP_rotated"), 200);
        CHECK(v.get("access_token")->reveal() == "TTP_rotated");
    }
    SECTION("erase removes an entry and says whether there was one") {
        CHECK(v.erase("access_token"));
        CHECK_FALSE(v.get("access_token").has_value());
        CHECK_FALSE(v.erase("access_token"));
        CHECK(v.get("refresh_token").has_value());
    }
    SECTION("stored says whether an entry exists, without the key") {
        CHECK(vault::stored(db, "refresh_token"));
        CHECK_FALSE(vault::stored(db, "id_token"));
    }
    SECTION("another vault object with the same key reads the entries after a reopen") {
        db = database::open(dir / "orderflow.db");
        vault again(db, key_from_hex(key_a_hex));
        CHECK(again.get("access_token")->reveal() == "TTP_abc123");
    }
}

TEST_CASE("Each write uses a fresh nonce, so equal secrets give different ciphertexts", "[vault]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    vault v(db, key_from_hex(key_a_hex));
    v.put("one", secret("same value"), 1);
    v.put("two", secret("same value"), 1);
    auto st = db.prepare("SELECT nonce, ciphertext FROM vault ORDER BY name");
    REQUIRE(st.step());
    auto nonce1 = st.blob(0);
    auto sealed1 = st.blob(1);
    REQUIRE(st.step());
    CHECK(nonce1.size() == 24);
    CHECK(sealed1.size() == std::string("same value").size() + 16);
    CHECK(st.blob(0) != nonce1);
    CHECK(st.blob(1) != sealed1);
}

TEST_CASE("A token put into the vault never appears in the database, WAL or shm files", "[vault]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    const std::string token = "TTP_plaintext-token-6f1c9a2e7b44d3c8e1f0a9b8c7d6e5f4";
    const std::string marker = "PLAIN-MARKER-3b7d1e9f";  // stored unencrypted, as a control
    {
        auto db = database::open(file);
        store s(db);
        vault v(db, key_from_hex(key_a_hex));
        v.put("access_token", secret(token), 100);
        v.put("access_token", secret(token), 101);  // and again, over the old value
        s.put_order({"o1", "UNPAID", "{\"note\":\"" + marker + "\"}", 100});
        REQUIRE(v.get("access_token")->reveal() == token);

        // While the connection is open the newest pages live in the WAL.
        CHECK(any_file_contains(file, marker));  // the scan does find what is written in clear
        CHECK_FALSE(any_file_contains(file, token));
    }
    // Closed: checkpointed into the main file.
    CHECK(file_contains(file, marker));
    for (const auto& f : database_files(file)) {
        INFO(f.string());
        CHECK_FALSE(file_contains(f, token));
    }
}

TEST_CASE("A vault opened with the wrong key refuses to decrypt, with a clear error", "[vault]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    const std::string token = "TTP_do-not-print-me";
    vault(db, key_from_hex(key_a_hex)).put("access_token", secret(token), 1);

    SECTION("a different key") {
        vault wrong(db, key_from_hex(key_b_hex));
        try {
            wrong.get("access_token");
            FAIL("no exception");
        } catch (const storage_error& e) {
            const std::string message = e.what();
            CHECK_THAT(message, Catch::Contains("cannot decrypt"));
            CHECK_THAT(message, Catch::Contains("access_token"));
            CHECK_THAT(message, Catch::Contains("wrong vault key?"));
            CHECK_THAT(message, Catch::Contains("storage.vault_key_file"));
            CHECK_THAT(message, !Catch::Contains(token));
        }
    }
    SECTION("a tampered ciphertext") {
        db.exec("UPDATE vault SET ciphertext = zeroblob(length(ciphertext))");
        CHECK_THROWS_WITH(vault(db, key_from_hex(key_a_hex)).get("access_token"), Catch::Contains("cannot decrypt"));
    }
    SECTION("a truncated entry") {
        db.exec("UPDATE vault SET ciphertext = x'00'");
        CHECK_THROWS_AS(vault(db, key_from_hex(key_a_hex)).get("access_token"), storage_error);
    }
}

TEST_CASE("A vault key must be 32 bytes", "[vault]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK_THROWS_AS(vault(db, secret("short")), std::invalid_argument);
    CHECK_THROWS_AS(vault(db, secret(std::string(33, 'k'))), std::invalid_argument);
    CHECK_NOTHROW(vault(db, secret(std::string(32, 'k'))));
}

TEST_CASE("read_vault_key reads 64 hex characters into 32 bytes", "[vault]") {
    temp_dir dir;
    const auto file = dir / "vault.key";
    auto ending = GENERATE(as<std::string>{}, "", "\n", "\r\n");
    write_file(file, key_a_hex + ending, owner_rw);
    CHECK(read_vault_key(file).reveal() == key_from_hex(key_a_hex).reveal());

    SECTION("upper-case hex is the same key") {
        std::string upper = key_a_hex;
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
        std::filesystem::remove(file);
        write_file(file, upper, owner_rw);
        CHECK(read_vault_key(file).reveal() == key_from_hex(key_a_hex).reveal());
    }
}

TEST_CASE("read_vault_key refuses a key file others can read or write", "[vault]") {
    using std::filesystem::perms;
    temp_dir dir;
    const auto file = dir / "vault.key";
    auto [mode, shown] = GENERATE(table<perms, std::string>({
        {perms::owner_read | perms::owner_write | perms::group_read | perms::others_read, "0644"},
        {perms::owner_read | perms::group_read, "0440"},
        {perms::owner_read | perms::owner_write | perms::others_write, "0602"},
    }));
    write_file(file, key_a_hex + "\n", mode);
    const std::string message = error_of([&] { read_vault_key(file); });
    CHECK_THAT(message, Catch::Contains(file.string()));
    CHECK_THAT(message, Catch::Contains("mode " + shown));
    CHECK_THAT(message, Catch::Contains("chmod 600"));
    CHECK_THAT(message, !Catch::Contains(key_a_hex.substr(0, 16)));
}

TEST_CASE("read_vault_key refuses a malformed key file without echoing it", "[vault]") {
    temp_dir dir;
    const auto file = dir / "vault.key";
    auto [content, expect] = GENERATE(table<std::string, std::string>({
        {key_a_hex.substr(0, 63) + "\n", "found 63 characters"},
        {key_a_hex + "00", "found 66 characters"},
        {key_a_hex + "\n\n", "found 65 characters"},
        {key_a_hex + key_a_hex, "found more than"},
        {key_a_hex.substr(0, 10) + "g" + key_a_hex.substr(11), "character 11 is not a hex digit"},
        {" " + key_a_hex.substr(1), "character 1 is not a hex digit"},
    }));
    write_file(file, content, owner_rw);
    const std::string message = error_of([&] { read_vault_key(file); });
    CHECK_THAT(message, Catch::Contains(file.string()));
    CHECK_THAT(message, Catch::Contains("malformed"));
    CHECK_THAT(message, Catch::Contains(expect));
    CHECK_THAT(message, Catch::Contains("orderflowctl keygen"));
    CHECK_THAT(message, !Catch::Contains(key_a_hex.substr(20, 16)));
}

TEST_CASE("read_vault_key refuses an empty key file like any empty secret file, naming storage.vault_key_file", "[vault]") {
    temp_dir dir;
    const auto file = dir / "vault.key";
    auto content = GENERATE(as<std::string>{}, "", "\n", " \r\n");
    write_file(file, content, owner_rw);
    const std::string message = error_of([&] { read_vault_key(file); });
    CHECK_THAT(message, Catch::StartsWith("storage.vault_key_file: secret file " + file.string() + " is empty"));
    CHECK_THAT(message, Catch::Contains("orderflowctl keygen " + file.string()));
}

TEST_CASE("read_secret_bytes is the rule for every secret file: owner only, a regular file, not empty", "[vault]") {
    using std::filesystem::perms;
    temp_dir dir;
    const auto file = dir / "app_secret";
    SECTION("a file only its owner may read is read as it is") {
        write_file(file, "app-secret-77\n", owner_rw);
        CHECK(read_secret_bytes(file, "tiktok.app_secret_file", "put it there", 1024).reveal() == "app-secret-77\n");
        CHECK(read_secret_bytes(file, "tiktok.app_secret_file", "put it there", 4).reveal() == "app-");
    }
    SECTION("group or others may read or write it") {
        auto mode = GENERATE(perms::owner_read | perms::group_read, perms::owner_read | perms::owner_write | perms::others_write,
                             perms::owner_read | perms::owner_write | perms::group_read | perms::others_read | perms::others_write);
        write_file(file, "app-secret-77\n", mode);
        const std::string message = error_of([&] { read_secret_bytes(file, "tiktok.app_secret_file", "put it there", 1024); });
        CHECK_THAT(message, Catch::StartsWith("tiktok.app_secret_file: secret file " + file.string() + " is readable or writable by group or others"));
        CHECK_THAT(message, Catch::Contains("chmod 600 " + file.string()));
        CHECK_THAT(message, !Catch::Contains("app-secret-77"));
    }
    SECTION("missing or empty: the advice") {
        CHECK(error_of([&] { read_secret_bytes(file, "k", "put it there", 1024); }) ==
              "k: secret file " + file.string() + " does not exist; put it there");
        write_file(file, "\n", owner_rw);
        CHECK(error_of([&] { read_secret_bytes(file, "k", "put it there", 1024); }) ==
              "k: secret file " + file.string() + " is empty; put it there");
    }
}

TEST_CASE("read_vault_key refuses a missing key file and says how to create one", "[vault]") {
    temp_dir dir;
    const auto file = dir / "vault.key";
    const std::string message = error_of([&] { read_vault_key(file); });
    CHECK_THAT(message, Catch::Contains(file.string()));
    CHECK_THAT(message, Catch::Contains("does not exist"));
    CHECK_THAT(message, Catch::Contains("orderflowctl keygen " + file.string()));

    SECTION("a directory is not a key file either") {
        std::filesystem::create_directory(dir / "keys");
        std::filesystem::permissions(dir / "keys", std::filesystem::perms::owner_all);
        CHECK_THROWS_WITH(read_vault_key(dir / "keys"), Catch::Contains("not a regular file"));
    }
}

TEST_CASE("write_vault_key creates a fresh mode 0600 key and never overwrites one", "[vault]") {
    temp_dir dir;
    const auto file = dir / "vault.key";
    // Even with a permissive umask the file must come out 0600.
    const mode_t old_umask = ::umask(0);
    write_vault_key(file);
    ::umask(old_umask);

    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);

    const std::string content = read_file(file);
    REQUIRE(content.size() == 65);
    CHECK(content.back() == '\n');
    CHECK(content.find_first_not_of("0123456789abcdef") == 64);
    CHECK(read_vault_key(file).reveal().size() == 32);

    const std::string message = error_of([&] { write_vault_key(file); });
    CHECK_THAT(message, Catch::Contains("refusing to overwrite"));
    CHECK_THAT(message, Catch::Contains(file.string()));
    CHECK(read_file(file) == content);

    SECTION("two keys are different") {
        write_vault_key(dir / "other.key");
        CHECK(read_file(dir / "other.key") != content);
    }
    SECTION("a key written by write_vault_key works as a vault key") {
        auto db = database::open(dir / "orderflow.db");
        vault v(db, read_vault_key(file));
        v.put("t", secret("value"), 1);
        CHECK(vault(db, read_vault_key(file)).get("t")->reveal() == "value");
    }
}

}  // namespace ORDERFLOW_TEST_FILE
