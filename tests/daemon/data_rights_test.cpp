// Tests for daemon/data_rights.hpp against a real database: `buyer forget`
// says truthfully what the purge took, and records itself in the forget
// ledger, which a database restored from an older copy catches up with;
// `order tag|untag` is only for an order orderflow knows (cached, or named
// by an event it received), so a mistyped id is refused, changes nothing
// and leaves no audit entry.
#include "daemon/data_rights.hpp"

#include "common/secret.hpp"
#include "storage/buyer_data.hpp"
#include "storage/database.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "storage/forget_ledger.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;

namespace {

struct rig {
    storage::testing::temp_dir dir;
    storage::database db = storage::database::open(dir / "orderflow.db");
    storage::store store{db};
    const orderflow::secret key{std::string(32, 'k')};
    std::int64_t now = 1'790'000'000;
    std::string out, err;

    std::filesystem::path ledger() const { return dir / "orderflow.db.forgets"; }
    std::int64_t mark() {
        return nlohmann::json::parse(store.get_state("forget_ledger").value_or("{\"seq\":0}")).at("seq").get<std::int64_t>();
    }

    int run(std::vector<std::string> argv, std::string buyer = {}, std::string order = {}) {
        data_request r;
        r.argv = std::move(argv);
        r.by = "hanako";
        r.buyer = std::move(buyer);
        r.order = std::move(order);
        std::ostringstream o, e;
        const int code = data_rights_command(db, store, key, r, o, e, now);
        out = o.str();
        err = e.str();
        return code;
    }
};

constexpr std::int64_t day = 86400;
const std::string buyer_id = "7100000000000001", order_id = "5770000000000001", conversation_id = "conv-0001";

// One order's rows as the daemon leaves them, at `at`.
void plant_order(rig& r, std::int64_t at) {
    r.db.transaction([&] {
        storage::new_event e;
        e.dedupe_key = "poll:order:" + order_id + ":AWAITING_SHIPMENT";
        e.source = "poll";
        e.topic = 1;
        e.event = "order.status_changed";
        e.order_id = order_id;
        e.payload = R"({"data":{"order_id":")" + order_id + R"("}})";
        e.received_at = at;
        REQUIRE(r.store.add_event(e));
        r.store.finish_event(r.db.last_insert_rowid(), "done", "matched: thanks", at);
        storage::new_action a;
        a.idem_key = storage::hash_key("thanks|0|order:" + order_id);
        a.rule_id = "thanks";
        a.kind = "send_message";
        a.order_id = order_id;
        a.buyer_user_id = buyer_id;
        a.payload = R"({"text":"山田 花子様","buyer_user_id":")" + buyer_id + R"("})";
        a.created_at = at;
        REQUIRE(r.store.add_action(a));
        const auto id = r.db.last_insert_rowid();
        r.store.begin_attempt(id, at);
        r.store.set_action_state(id, "done", "", R"({"conversation_id":")" + conversation_id + R"("})", at);
        r.store.put_order({order_id, "AWAITING_SHIPMENT", R"({"user_id":")" + buyer_id + R"(","buyer_name":"山田 花子"})", at});
        r.store.put_conversation(buyer_id, conversation_id, at);
        r.store.audit(at, "orderflowd", "send_message", order_id, {{"action_id", id}, {"conversation_id", conversation_id}});
    });
}

// The daemon's purge at r.now (daemon/housekeeping.cpp): 90 days' period, with the key, recorded.
void purge(rig& r) {
    const std::int64_t cutoff = r.now - 90 * day;
    while (storage::purge_personal_data(r.db, cutoff, 2000, key_bytes(r.key)).total() > 0) {
    }
    r.store.put_state(storage::last_purge_state, nlohmann::json{{"at", r.now}, {"before", cutoff}}.dump(), r.now);
}

}  // namespace

// A buyer asks on day 100: the purge has taken their personal data and
// hashed the ids it kept; the forget must say so, not "erased 0 rows".
TEST_CASE("buyer forget after the purge says truthfully that nothing names the buyer and when the purge ran", "[data_rights]") {
    rig r;
    plant_order(r, r.now - 100 * day);
    purge(r);
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 0);
    INFO(r.out);
    CHECK_THAT(r.out, Catch::StartsWith("nothing left that names this buyer"));
    CHECK_THAT(r.out, Catch::Contains("older data: the retention purge of "));
    CHECK_THAT(r.out, Catch::Contains("removed the personal data of everything finished before"));
    CHECK_THAT(r.out, !Catch::Contains("erased the buyer's data"));
    CHECK_THAT(r.out, !Catch::Contains(order_id));
    // By the order id: the audit entry the purge kept under its pseudonym
    // is found (audit --order), and reduced.
    CHECK(r.run({"audit"}, "", order_id) == 0);
    CHECK_THAT(r.out, Catch::Contains("send_message"));
    CHECK(r.run({"buyer", "forget"}, "", order_id) == 0);
    CHECK_THAT(r.out, Catch::StartsWith("erased the buyer's data: 0 cached order(s), 0 tag(s), 0 event(s), 0 action(s), "
                                        "0 conversation(s), 0 review item(s), 0 notification(s), 1 audit entry\n"));
    CHECK(r.run({"audit"}, "", order_id) == 0);
    CHECK(r.out == "no audit entries match\n");
    // An access request: nothing linked to the buyer, and the document
    // says what the purge removed, and up to when.
    CHECK(r.run({"buyer", "export"}, buyer_id) == 0);
    const auto doc = nlohmann::json::parse(r.out);
    CHECK(doc.at("orders").empty());
    CHECK(doc.at("older_data") == nlohmann::json{{"purge_ran_at", r.now}, {"purged_before", r.now - 90 * day}});
}

TEST_CASE("buyer forget before any purge erases what is held and says no purge has run", "[data_rights]") {
    rig r;
    plant_order(r, r.now - day);
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 0);
    INFO(r.out);
    CHECK_THAT(r.out, Catch::StartsWith("erased the buyer's data: 1 cached order(s)"));
    CHECK_THAT(r.out, Catch::Contains("older data: no retention purge has run yet, so none was removed before this"));
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 0);
    CHECK_THAT(r.out, Catch::StartsWith("nothing left that names this buyer"));
    CHECK(r.run({"buyer", "export"}, buyer_id) == 0);
    CHECK(nlohmann::json::parse(r.out).at("older_data").is_null());
}

// docs/privacy.md, "The forget ledger".
TEST_CASE("buyer forget records itself in the ledger and a copy taken before it catches up once", "[data_rights][forget_ledger]") {
    rig r;
    plant_order(r, r.now - day);
    r.db.backup_to(r.dir / "nightly.db");
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 0);
    INFO(r.out << r.err);
    CHECK_THAT(r.out, Catch::EndsWith("recorded in the forget ledger (orderflow.db.forgets, record 1): a database restored from "
                                      "an older backup forgets them again when orderflowd starts on it\n"));
    CHECK(storage::read_forget_ledger(r.ledger()).records.size() == 1);
    CHECK(r.mark() == 1);
    CHECK(catch_up_forgets(r.db, r.store, r.key, r.ledger(), r.now).pending == 0);   // the live database is caught up

    // The copy is restored: it is behind the ledger, and catches up.
    auto copy = storage::database::open(r.dir / "nightly.db");
    storage::store cs(copy);
    REQUIRE(cs.get_order(order_id).has_value());
    orderflow::testing::log_capture logs;
    const auto caught = catch_up_forgets(copy, cs, r.key, r.ledger(), r.now + 60);
    const auto lines = orderflow::testing::log_lines(logs.finish(), "forgets_applied_again");
    CHECK(caught.pending == 1);
    CHECK(caught.done.records == 1);
    CHECK(caught.done.found == 1);
    CHECK_FALSE(cs.get_order(order_id).has_value());
    CHECK_FALSE(cs.conversation_for(buyer_id).has_value());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["records"] == 1);
    CHECK(lines[0]["found"] == 1);
    CHECK(lines[0].dump().find(buyer_id) == std::string::npos);
    CHECK(lines[0].dump().find(order_id) == std::string::npos);
    // Caught up: nothing more to do, and nothing logged.
    orderflow::testing::log_capture again_logs;
    CHECK(catch_up_forgets(copy, cs, r.key, r.ledger(), r.now + 120).pending == 0);
    CHECK(orderflow::testing::log_lines(again_logs.finish(), "forgets_applied_again").empty());
}

TEST_CASE("A forget in a database behind the ledger leaves the earlier records for the catch-up", "[data_rights][forget_ledger]") {
    rig r;
    plant_order(r, r.now - day);
    // A forget this database (restored since) has not had applied.
    storage::append_forget_record(r.ledger(), r.now - 10, false, {storage::forget_hash(key_bytes(r.key), "buyer:" + buyer_id)}, 0, 0);
    CHECK(r.run({"buyer", "forget"}, "", "5999999999999999") == 0);   // another buyer, by an order id nobody holds
    CHECK_THAT(r.out, Catch::Contains("record 2)"));
    CHECK(r.mark() == 0);   // record 1 is still to do here
    REQUIRE(r.store.get_order(order_id).has_value());
    const auto caught = catch_up_forgets(r.db, r.store, r.key, r.ledger(), r.now);
    CHECK(caught.pending == 2);
    CHECK(caught.done.through == 2);
    CHECK(caught.done.found == 1);
    CHECK(r.mark() == 2);
    CHECK_FALSE(r.store.get_order(order_id).has_value());
}

TEST_CASE("A forget whose ledger cannot be written still erases and exits 1 saying to run it again", "[data_rights][forget_ledger]") {
    rig r;
    plant_order(r, r.now - day);
    std::filesystem::create_directory(r.ledger());   // in the ledger's place: it can be neither read as one nor appended to
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 1);
    INFO(r.out << r.err);
    CHECK_THAT(r.out, Catch::StartsWith("erased the buyer's data: 1 cached order(s)"));
    CHECK_THAT(r.err, Catch::Contains("the buyer's data was erased, but the forget could not be recorded in the forget ledger"));
    CHECK_THAT(r.err, Catch::Contains("run this forget again (it is safe to repeat)"));
    CHECK_FALSE(r.store.get_order(order_id).has_value());
    CHECK(r.mark() == 0);
    // At a retention pass the catch-up says the ledger cannot be read, and goes on.
    orderflow::testing::log_capture logs;
    CHECK(catch_up_forgets(r.db, r.store, r.key, r.ledger(), r.now).unreadable);
    CHECK(orderflow::testing::log_lines(logs.finish(), "forget_ledger_failed").size() == 1);
    // At start it is an error: a restored copy could message a buyer forgotten since.
    CHECK_THROWS_WITH(catch_up_forgets(r.db, r.store, r.key, r.ledger(), r.now, 0, true),
                      Catch::Contains("orderflowd does not start without it") && Catch::Contains("is not a file"));
}

TEST_CASE("A forget whose ledger another process holds locked erases nothing and says to run it again", "[data_rights][forget_ledger]") {
    rig r;
    plant_order(r, r.now - day);
    // A stuck orderflowctl buyer forget holds the ledger folder's lock.
    const int held = ::open(r.dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(held >= 0);
    REQUIRE(::flock(held, LOCK_EX) == 0);
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 1);
    INFO(r.out << r.err);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("orderflowctl buyer forget: nothing was erased: ") &&
                          Catch::Contains("another process has held the lock for 5 s") && Catch::Contains("run this again"));
    CHECK(r.store.get_order(order_id).has_value());   // rolled back: no erasure without its record
    CHECK(r.store.conversation_for(buyer_id).has_value());
    CHECK_FALSE(std::filesystem::exists(r.ledger()));
    CHECK(r.mark() == 0);
    ::close(held);
    // Once the holder lets go, the same command erases and records it.
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 0);
    CHECK_FALSE(r.store.get_order(order_id).has_value());
    CHECK(storage::read_forget_ledger(r.ledger()).records.size() == 1);
    CHECK(r.mark() == 1);
}

TEST_CASE("The ledger keeps a record for its period and a suppressed one for good", "[data_rights][forget_ledger]") {
    rig r;
    plant_order(r, r.now - day);
    storage::append_forget_record(r.ledger(), r.now - 800 * day, false, {"old"}, 0, 0);
    storage::append_forget_record(r.ledger(), r.now - 800 * day, true, {"old-suppressed"}, 0, 0);
    data_request req;
    req.argv = {"buyer", "forget"};
    req.by = "hanako";
    req.buyer = buyer_id;
    req.ledger_keep = 730 * day;   // retention.forget_records() by default
    std::ostringstream o, e;
    CHECK(data_rights_command(r.db, r.store, r.key, req, o, e, r.now) == 0);
    const auto records = storage::read_forget_ledger(r.ledger()).records;
    REQUIRE(records.size() == 2);
    CHECK(records[0].subjects == std::vector<std::string>{"old-suppressed"});
    CHECK(records[1].seq == 3);
}

// docs/privacy.md, "Erasure": without suppression the forget's time for
// the buyer's ids is kept as long as its ledger record, and no longer.
TEST_CASE("A forget's time for the buyer's ids goes with its ledger record when the catch-up prunes", "[data_rights][forget_ledger]") {
    rig r;
    plant_order(r, r.now - day);
    CHECK(r.run({"buyer", "forget"}, buyer_id) == 0);
    INFO(r.out << r.err);
    CHECK_THAT(r.out, Catch::Contains("a change from before this forget that TikTok reports again is set aside unread"));
    const auto mark = [&] { return storage::forget_mark_of(r.db, key_bytes(r.key), buyer_id, order_id, conversation_id); };
    REQUIRE(mark());
    CHECK(mark()->at == r.now);
    CHECK_FALSE(mark()->suppress);
    const auto kept = catch_up_forgets(r.db, r.store, r.key, r.ledger(), r.now + day, r.now - day);
    CHECK(kept.horizons_dropped == 0);
    CHECK(kept.dropped == 0);
    CHECK(mark());
    const auto pruned = catch_up_forgets(r.db, r.store, r.key, r.ledger(), r.now + 800 * day, r.now + 1);
    CHECK(pruned.horizons_dropped == 3);   // the buyer, the order, the conversation
    CHECK(pruned.dropped == 1);
    CHECK_FALSE(mark());
    CHECK(storage::read_forget_ledger(r.ledger()).records.empty());
}

TEST_CASE("order tag refuses an order orderflow has never seen and changes and audits nothing", "[data_rights]") {
    rig r;
    CHECK(r.run({"order", "tag", "999999", "vip"}) == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "orderflowctl order tag: orderflow knows no order 999999 (none cached, no event about it); check the id; nothing changed\n");
    CHECK(r.store.tags("999999").empty());
    CHECK(r.store.audit_entries(0, "", "", 100).empty());

    CHECK(r.run({"order", "untag", "999999", "vip"}) == 1);
    CHECK_THAT(r.err, Catch::Contains("orderflow knows no order 999999"));
}

TEST_CASE("order tag corrects an order that is cached or named by a received event", "[data_rights]") {
    rig r;
    const std::string how = GENERATE("cached", "in the inbox");
    CAPTURE(how);
    if (how == "cached") {
        r.store.put_order({"577001", "AWAITING_SHIPMENT", "{}", r.now});
    } else {
        storage::new_event e;
        e.dedupe_key = "n-1";
        e.source = "webhook";
        e.event = "order.status_changed";
        e.order_id = "577001";
        e.payload = "{}";
        e.received_at = r.now;
        REQUIRE(r.store.add_event(e));
    }
    CHECK(r.run({"order", "tag", "577001", "vip"}) == 0);
    CHECK(r.out == "order 577001: tag vip set by hanako\n");
    CHECK(r.store.tags("577001") == std::vector<std::string>{"vip"});
    CHECK(r.store.audit_entries(0, "577001", "order.tag", 100).size() == 1);
}

TEST_CASE("order untag still removes a tag set on an order orderflow does not know", "[data_rights]") {
    rig r;
    r.store.add_tag("999999", "vip", r.now);   // as the command allowed before it checked the order
    CHECK(r.run({"order", "untag", "999999", "vip"}) == 0);
    CHECK(r.store.tags("999999").empty());
}

}  // namespace ORDERFLOW_TEST_FILE
