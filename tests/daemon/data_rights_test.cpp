// Tests for daemon/data_rights.hpp's `order tag|untag` against a real
// database: a correction is only for an order orderflow knows (cached, or
// named by an event it received), so a mistyped id is refused, changes
// nothing and leaves no audit entry.
#include "daemon/data_rights.hpp"

#include "common/secret.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

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

    int run(std::vector<std::string> argv) {
        data_request r;
        r.argv = std::move(argv);
        r.by = "hanako";
        std::ostringstream o, e;
        const int code = data_rights_command(db, store, key, r, o, e, now);
        out = o.str();
        err = e.str();
        return code;
    }
};

}  // namespace

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
