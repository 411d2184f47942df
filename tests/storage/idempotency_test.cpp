// Tests for storage/idempotency.hpp: keyed idempotency keys, and the
// conversion of a database whose keys a version before 22 stored as plain
// hashes. After it every key is the one the new version makes for the same
// material, so an action planned before the upgrade is refused after it,
// and a timer set before it is the timer the new version would name.
#include "storage/idempotency.hpp"

#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;
using json = nlohmann::json;

namespace {

const std::vector<unsigned char> key(32, 0x3c);
const std::vector<unsigned char> other_key(32, 0x3d);

const std::string thanks_material = std::string("thanks\x1f") + "0\x1f" + "order\x1f" + "5760000000000001";
const std::string series_material = std::string("remind\x1f") + "0\x1f" + "order\x1f" + "5760000000000001\x1f" + "order.ship_by";

new_action action(std::string idem, std::string payload = "{}") {
    new_action a;
    a.idem_key = std::move(idem);
    a.rule_id = "thanks";
    a.kind = "send_message";
    a.order_id = "5760000000000001";
    a.payload = std::move(payload);
    a.state = "planned";
    a.created_at = 100;
    return a;
}

new_event event(std::string dedupe, std::string source = "webhook", std::string payload = "{}") {
    new_event e;
    e.dedupe_key = std::move(dedupe);
    e.source = std::move(source);
    e.event = "order.status_changed";
    e.order_id = "5760000000000001";
    e.payload = std::move(payload);
    e.received_at = 100;
    return e;
}

std::vector<std::string> column(database& db, const std::string& sql) {
    std::vector<std::string> out;
    auto st = db.prepare(sql);
    while (st.step()) out.push_back(st.text(0));
    return out;
}

// The database as version 21 left it, opened again so that migration 22
// runs on it as on an upgraded one.
database reopened_as_version_21(const std::filesystem::path& file) {
    {
        auto db = database::open(file);
        db.exec("DELETE FROM daemon_state WHERE name = 'plain_hashes'; PRAGMA user_version = 21;");
    }
    return database::open(file);
}

}  // namespace

TEST_CASE("An idempotency key is the keyed hash of the plain one and tells nothing without the key", "[idempotency]") {
    const std::string plain = hash_key(thanks_material);
    const std::string keyed = idempotency_hash(key, thanks_material);
    CHECK(keyed.size() == 64);
    CHECK(keyed == keyed_hash(key, plain));
    CHECK(keyed != plain);
    CHECK(keyed == idempotency_hash(key, thanks_material));            // the same action, the same key
    CHECK(keyed != idempotency_hash(other_key, thanks_material));      // another vault, another key
    CHECK(keyed != idempotency_hash(key, thanks_material + "2"));
    CHECK(idempotency_hash({}, thanks_material) == plain);              // no key: a unit test's plain hash
}

TEST_CASE("An inbox key made from content gets its hash keyed and keeps the rest", "[idempotency]") {
    const std::string plain = hash_key("1\x1f{\"order_id\":\"576\"}");
    const std::string keyed = keyed_hash(key, plain);
    CHECK(keyed_dedupe_key(key, "h:" + plain) == "h:" + keyed);
    CHECK(keyed_dedupe_key(key, "h:" + plain + "#PKG1#576") == "h:" + keyed + "#PKG1#576");
    CHECK(keyed_dedupe_key(key, "h:" + plain + "#forgotten:0a1b") == "h:" + keyed + "#forgotten:0a1b");
    CHECK(keyed_dedupe_key(key, "trk:" + plain) == "trk:" + keyed);
    CHECK(keyed_dedupe_key(key, "timer:" + plain) == "timer:" + keyed);
    CHECK(keyed_dedupe_key(key, "timer:" + plain + "@1700000000") == "timer:" + keyed + "@1700000000");
    // Keys that name nothing by content, or are not a plain hash: as they are.
    for (const std::string& k : std::vector<std::string>{"tts:7300000000000000001", "poll:order:576:AWAITING_SHIPMENT", "forgotten:" + plain, "h:x",
                                "timer:" + plain.substr(0, 63), "timer:" + plain + "X", "h:" + std::string(64, 'A')}) {
        INFO(k);
        CHECK(keyed_dedupe_key(key, k) == k);
    }
}

TEST_CASE("A new database carries the record too and its first conversion finds nothing", "[idempotency]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    // An orderflowctl command may create or migrate it while an older
    // orderflowd still runs: what that daemon writes is plain.
    CHECK(plain_hashes_left(db));
    CHECK(actions_keyed_through(db) == 0);
    const auto n = rekey_plain_hashes(db, key);
    CHECK(n.done);
    CHECK(n.actions == 0);
    CHECK(n.events == 0);
    CHECK_FALSE(plain_hashes_left(db));
    CHECK(actions_keyed_through(db) == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("What makes keyed keys refuses to start before the conversion is done", "[idempotency]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    CHECK_THROWS_WITH(require_keyed(db, "the pipeline"),
                      Catch::StartsWith("the pipeline started before the database's stored keys were converted") &&
                          Catch::Contains("a fault in orderflowd's start-up"));
    while (!rekey_plain_hashes(db, key, 1).done) {
    }
    CHECK_NOTHROW(require_keyed(db, "the pipeline"));
}

TEST_CASE("Plain keys from before version 22 are converted a batch at a time, once, and refuse what they refused",
          "[idempotency]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    const std::string plain_thanks = hash_key(thanks_material), plain_series = hash_key(series_material);
    const std::string plain_hook = hash_key("1\x1f{\"order_id\":\"5760000000000001\"}");
    const std::string plain_tracking = hash_key("5760000000000001\x1fPKG1\x1fyamato\x1f" "1234-5678-9012");
    {
        // What the version before 22 stored: an action of each kind, one with
        // a series and one purged, and the inbox keys made from content.
        auto db = database::open(file);
        store s(db);
        REQUIRE(s.add_action(action(plain_thanks, json{{"text", "ありがとうございます"}}.dump())));
        REQUIRE(s.add_action(action(plain_series, json{{"event", "ship_reminder"}, {"series", plain_series}, {"anchor", 1700000000}}.dump())));
        REQUIRE(s.add_action(action(hash_key("purged"), "{}")));
        REQUIRE(s.add_action(action("not-a-hash", "not json")));
        REQUIRE(s.add_event(event("tts:7300000000000000001")));
        REQUIRE(s.add_event(event("h:" + plain_hook)));
        REQUIRE(s.add_event(event("h:" + plain_hook + "#PKG1#5760000000000001")));
        REQUIRE(s.add_event(event("trk:" + plain_tracking, "tracking_feed")));
        REQUIRE(s.add_event(event("timer:" + plain_thanks, "timer", json{{"data", {{"timer", "t"}}}}.dump())));
        REQUIRE(s.add_event(event("timer:" + plain_series + "@1700000000", "timer",
                                  json{{"data", {{"series", plain_series}, {"anchor", 1700000000}}}}.dump())));
        REQUIRE(s.add_event(event("poll:order:5760000000000001:AWAITING_SHIPMENT", "poll")));
    }
    auto db = reopened_as_version_21(file);
    REQUIRE(plain_hashes_left(db));
    CHECK(actions_keyed_through(db) == 0);

    // Two rows of each table a step; the record moves with them.
    auto first = rekey_plain_hashes(db, key, 2);
    CHECK_FALSE(first.done);
    CHECK(first.actions == 2);
    CHECK(first.events == 2);
    CHECK(actions_keyed_through(db) == 2);
    // A crash here: the next open goes on from the record, and converts
    // nothing twice.
    db = database::open(file);
    rekey_counts total = first;
    for (int steps = 0; steps < 10; ++steps) {
        auto n = rekey_plain_hashes(db, key, 2);
        total.actions += n.actions;
        total.events += n.events;
        if (n.done) {
            total.done = true;
            break;
        }
    }
    REQUIRE(total.done);
    CHECK(total.actions == 3);   // "not-a-hash" with its unreadable payload stays as it is
    CHECK(total.events == 5);    // every key made from content; tts: and poll: name nothing by content
    CHECK_FALSE(plain_hashes_left(db));
    CHECK(actions_keyed_through(db) == std::numeric_limits<std::int64_t>::max());

    const std::string keyed_thanks = idempotency_hash(key, thanks_material), keyed_series = idempotency_hash(key, series_material);
    CHECK(column(db, "SELECT idem_key FROM outbox ORDER BY id") ==
          std::vector<std::string>{keyed_thanks, keyed_series, keyed_hash(key, hash_key("purged")), "not-a-hash"});
    CHECK(json::parse(column(db, "SELECT payload FROM outbox WHERE id = 2")[0])["series"] == keyed_series);
    CHECK(json::parse(column(db, "SELECT payload FROM outbox WHERE id = 1")[0])["text"] == "ありがとうございます");
    CHECK(column(db, "SELECT payload FROM outbox WHERE id = 4")[0] == "not json");
    const std::string keyed_hook = keyed_hash(key, plain_hook);
    CHECK(column(db, "SELECT dedupe_key FROM inbox ORDER BY id") ==
          std::vector<std::string>{"tts:7300000000000000001", "h:" + keyed_hook, "h:" + keyed_hook + "#PKG1#5760000000000001",
                                   "trk:" + keyed_hash(key, plain_tracking), "timer:" + keyed_thanks,
                                   "timer:" + keyed_series + "@1700000000", "poll:order:5760000000000001:AWAITING_SHIPMENT"});
    CHECK(json::parse(column(db, "SELECT payload FROM inbox WHERE source = 'timer' AND payload LIKE '%series%'")[0])["data"]["series"] ==
          keyed_series);

    // What the new version plans for the same material is refused; the same
    // webhook without a notification id, or tracking line, is a duplicate.
    store s(db);
    CHECK_FALSE(s.add_action(action(keyed_thanks)));
    CHECK_FALSE(s.add_action(action(keyed_series)));
    CHECK_FALSE(s.add_event(event("h:" + idempotency_hash(key, "1\x1f{\"order_id\":\"5760000000000001\"}"))));
    CHECK_FALSE(s.add_event(event("trk:" + idempotency_hash(key, "5760000000000001\x1fPKG1\x1fyamato\x1f" "1234-5678-9012"))));

    // Done is done: another call changes nothing, and neither does opening
    // the database again (migration 22 has run).
    const auto again = rekey_plain_hashes(db, key);
    CHECK(again.done);
    CHECK(again.actions + again.events == 0);
    db = database::open(file);
    CHECK_FALSE(plain_hashes_left(db));
    CHECK(column(db, "SELECT idem_key FROM outbox WHERE id = 1")[0] == keyed_thanks);
}

TEST_CASE("Rows an older orderflowd wrote into empty tables after a command ran migration 22 are converted", "[idempotency]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");   // tables empty when migration 22 ran
    REQUIRE(store(db).add_action(action(hash_key(thanks_material))));
    REQUIRE(rekey_plain_hashes(db, key, -1).done);
    CHECK(column(db, "SELECT idem_key FROM outbox")[0] == idempotency_hash(key, thanks_material));
}

TEST_CASE("Rows an older orderflowd wrote after a command ran migration 22 are converted too", "[idempotency]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    {
        auto db = database::open(file);
        REQUIRE(store(db).add_action(action(hash_key(thanks_material))));
    }
    // An orderflowctl command opens the database (migration 22 runs) while
    // the older orderflowd still runs and plans under a plain key.
    auto db = reopened_as_version_21(file);
    REQUIRE(plain_hashes_left(db));
    REQUIRE(store(db).add_action(action(hash_key("later"))));
    REQUIRE(store(db).add_event(event("timer:" + hash_key("later"), "timer")));
    const auto n = rekey_plain_hashes(db, key, -1);
    CHECK(n.done);
    CHECK(n.actions == 2);
    CHECK(n.events == 1);
    CHECK(column(db, "SELECT idem_key FROM outbox ORDER BY id") ==
          std::vector<std::string>{idempotency_hash(key, thanks_material), idempotency_hash(key, "later")});
    CHECK(column(db, "SELECT dedupe_key FROM inbox")[0] == "timer:" + idempotency_hash(key, "later"));
}

TEST_CASE("An unreadable record of what is left to convert converts nothing and says what to do", "[idempotency]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    {
        auto db = database::open(file);
        REQUIRE(store(db).add_action(action(hash_key(thanks_material))));
    }
    auto db = reopened_as_version_21(file);
    db.exec("UPDATE daemon_state SET value = 'torn' WHERE name = 'plain_hashes'");
    CHECK_THROWS_WITH(rekey_plain_hashes(db, key), Catch::Contains("Restore the database from a backup"));
    CHECK(plain_hashes_left(db));
    CHECK(column(db, "SELECT idem_key FROM outbox")[0] == hash_key(thanks_material));
}

TEST_CASE("A database refuses a vault key other than the one its keys were made with", "[idempotency]") {
    temp_dir dir;
    auto db = database::open(dir / "orderflow.db");
    // Without recording (replay), a database without a check value is taken as it is.
    CHECK_NOTHROW(check_idempotency_key(db, other_key, false));
    CHECK(column(db, "SELECT value FROM daemon_state WHERE name = 'idempotency_key_check'").empty());
    CHECK_NOTHROW(check_idempotency_key(db, key, true));   // orderflowd's first start records the key's check value
    CHECK_NOTHROW(check_idempotency_key(db, key, true));
    CHECK_NOTHROW(check_idempotency_key(db, key, false));
    CHECK_THROWS_AS(check_idempotency_key(db, other_key, false), wrong_key_error);
    CHECK_THROWS_WITH(check_idempotency_key(db, other_key, true), Catch::Contains("Put back the vault key file"));
    // Nothing of the key itself is stored.
    const auto stored = column(db, "SELECT value FROM daemon_state WHERE name = 'idempotency_key_check'");
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].find(std::string(key.begin(), key.end())) == std::string::npos);
    CHECK(stored[0] != keyed_hash(other_key, "orderflow: the key idempotency keys are made with"));
}

TEST_CASE("A read-only look says which vault key a database refuses and writes nothing", "[idempotency]") {
    temp_dir dir;
    const auto file = dir / "orderflow.db";
    const std::string right(32, 'r'), wrong(32, 'w');
    {
        auto db = database::open(file);
        vault v(db, orderflow::secret(right));
        v.put("tiktok_tokens", orderflow::secret("{\"access_token\":\"t\"}"), 1);
        const auto derived = idempotency_key(v);
        check_idempotency_key(db, {reinterpret_cast<const unsigned char*>(derived.reveal().data()), derived.reveal().size()}, true);
    }
    const auto version = [&](database& db) { return column(db, "PRAGMA user_version").at(0); };
    auto ro = database::open_read_only(file);
    const auto before = version(ro);
    CHECK(vault_key_refusal(ro, orderflow::secret(right)).empty());
    // The tokens first, as orderflowd meets them at its start.
    CHECK_THAT(vault_key_refusal(ro, orderflow::secret(wrong)), Catch::Contains("cannot decrypt vault entry") && Catch::Contains("wrong vault key?"));
    CHECK_THROWS_AS(ro.exec("DELETE FROM vault"), storage_error);
    CHECK(column(ro, "SELECT count(*) FROM vault").at(0) == "1");
    {
        auto db = database::open(file);
        db.exec("DELETE FROM vault");
    }
    // No tokens left: the idempotency keys' check value.
    CHECK_THAT(vault_key_refusal(ro, orderflow::secret(wrong)), Catch::Contains("is not the key this database's idempotency keys were made with"));
    CHECK(vault_key_refusal(ro, orderflow::secret(right)).empty());
    CHECK(version(ro) == before);
    CHECK_THROWS_WITH(database::open_read_only(dir / "missing.db"), Catch::Contains("no database at"));
    CHECK_FALSE(std::filesystem::exists(dir / "missing.db"));
}

}  // namespace ORDERFLOW_TEST_FILE
