// Tests for daemon/data_rights.hpp's `order tag|untag` against a real
// database: a correction is only for an order orderflow knows (cached, or
// named by an event it received), so a mistyped id is refused, changes
// nothing and leaves no audit entry.
#include "daemon/data_rights.hpp"

#include "common/secret.hpp"
#include "storage/buyer_data.hpp"
#include "storage/database.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

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
