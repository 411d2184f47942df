// Sends under TikTok faults: 20% of them meet a retryable error (36009003,
// HTTP 500) and 2% a permanent one (45101006 sensitive content). Every order
// ends with its message sent once, or failed with a review item that says why;
// nobody gets a message twice (the sandbox's record is the judge).
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

TEST_CASE("With 20% retryable and 2% permanent send failures every order ends done or in review, none twice",
          "[integration][faults]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();

    // 50 orders: 10 meet a retryable fault, 1 a permanent one, in a random order.
    std::vector<int> fault_kind(50, 0);
    std::fill(fault_kind.begin(), fault_kind.begin() + 10, 1);
    fault_kind[10] = 2;
    std::random_device rd;
    const unsigned seed = rd();
    INFO("random seed " << seed);
    std::shuffle(fault_kind.begin(), fault_kind.end(), std::mt19937(seed));

    std::vector<std::string> ids;
    for (int i = 0; i < 50; ++i) {
        auto o = s.create_order({{"buyer_name", "購入者 " + std::to_string(i)},
                                 {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
        ids.push_back(o.at("id").get<std::string>());
        if (fault_kind[i] == 1)
            s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 36009003}, {"http_status", 500}, {"count", 1}});
        if (fault_kind[i] == 2)
            s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 45101006}, {"http_status", 200},
                                                  {"message", "The message contains sensitive content"}, {"count", 1}});
        s.set_status(ids.back(), "ON_HOLD");
        s.set_status(ids.back(), "AWAITING_SHIPMENT");
    }

    auto settled = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        auto counts = orderflow::storage::store(db).counts();
        if (counts["inbox"].value("pending", 0) > 0) return false;
        for (const char* st : {"planned", "deferred", "sending"})
            if (counts["outbox"].value(st, 0) > 0) return false;
        return counts["outbox"].value("done", 0) + counts["outbox"].value("failed", 0) == 50;
    };
    REQUIRE(eventually(settled, std::chrono::seconds(90)));

    std::map<std::string, int> messages_to;   // buyer user id -> messages received
    for (const auto& m : s.shop_messages()) ++messages_to[m.value("user_id", "")];
    const json orders = s.control("GET", "/control/orders").json_body();
    std::map<std::string, std::string> buyer_of;
    for (const auto& o : orders.at("orders")) buyer_of[o.at("id").get<std::string>()] = o.at("user_id").get<std::string>();

    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    std::map<std::string, std::string> reviews;   // order id -> reason
    for (const auto& r : store.reviews(true, 1000)) reviews[r.order_id] = r.reason;
    int done = 0, failed = 0;
    for (const auto& id : ids) {
        auto actions = store.actions_for_order(id);
        REQUIRE(actions.size() == 1);
        const auto& a = actions[0];
        INFO("order " << id << ": " << a.state << " " << a.reason);
        if (a.state == "done") {
            ++done;
            CHECK(messages_to[buyer_of[id]] == 1);
        } else {
            ++failed;
            CHECK(a.state == "failed");
            CHECK_THAT(a.reason, Catch::Contains("45101006"));
            CHECK(reviews[id] == "send_failed");
            CHECK(messages_to[buyer_of[id]] == 0);
        }
    }
    CHECK(done == 49);
    CHECK(failed == 1);
    for (const auto& [buyer, n] : messages_to) CHECK(n <= 1);   // nobody twice
    CHECK(log_lines(s.daemon.log(), "action_deferred").size() >= 10);   // the retryable faults were met and retried
}

}  // namespace ORDERFLOW_TEST_FILE
