// Sends whose outcome is unknown after a crash are reconciled against the
// buyer conversation (the sandbox's record), never resent blindly.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <ctime>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct running_stack : stack {
    running_stack() {
        write_rules("10-thanks.json", thanks_rules);
        start_all();
    }
};

}  // namespace

TEST_CASE("A send cut off after TikTok took it is found in the conversation and not sent again", "[integration][reconcile]") {
    running_stack s;
    auto order = s.create_order({{"buyer_name", "山田 花子"}, {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグ"}, {"sale_price", "1800"}}}}});
    std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    wait_for_log(s.daemon.log(), "action_done");
    s.kill_daemon();

    // As if the process had died after the request left but before the answer was recorded.
    {
        auto db = orderflow::storage::database::open(s.db_path());
        // done -> sending is refused by the outbox's transition trigger, rightly;
        // this rewrite of history steps around it and puts it back.
        auto trigger = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'outbox_transition_check'");
        REQUIRE(trigger.step());
        const std::string trigger_sql = trigger.text(0);
        db.exec("DROP TRIGGER outbox_transition_check; UPDATE outbox SET state = 'sending', result = '' WHERE rule_id = 'thanks'");
        db.exec(trigger_sql);
    }
    s.start_daemon();
    auto line = wait_for_log(s.daemon.log(), "action_reconciled");
    CHECK(line.at("outcome") == "delivered");
    CHECK(log_lines(s.daemon.log(), "sends_interrupted").size() == 1);

    CHECK(s.shop_messages().size() == 1);
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    auto actions = store.actions_for_order(id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].state == "done");
    CHECK_THAT(actions[0].result, Catch::Contains("\"reconciled\":\"found\""));
}

TEST_CASE("A send cut off before TikTok took it is sent once more, and only once", "[integration][reconcile]") {
    running_stack s;
    auto order = s.create_order({{"buyer_name", "佐藤 健"}, {"line_items", {{{"seller_sku", "TEA-02"}, {"product_name", "煎茶"}, {"sale_price", "1200"}}}}});
    std::string id = order.at("id").get<std::string>();
    std::string buyer = order.at("user_id").get<std::string>();
    const std::string text = thanks_text("佐藤 健", id);

    bool conversation_known = GENERATE(false, true);
    if (conversation_known) {
        // The buyer wrote first, so the conversation exists and orderflow knows it.
        auto posted = s.control("POST", "/control/messages", {{"order_id", id}, {"text", "よろしくお願いします"}}).json_body();
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store(db).put_conversation(buyer, posted.at("conversation_id").get<std::string>(), now_seconds());
    }
    s.kill_daemon();
    {
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        orderflow::storage::new_action a;
        a.idem_key = orderflow::storage::hash_key("reconcile-test\x1f" + id);
        a.rule_id = "thanks";
        a.kind = "send_message";
        a.order_id = id;
        a.payload = json{{"text", text}, {"buyer_user_id", buyer}, {"template", "thanks"}, {"locale", "ja"}}.dump();
        a.created_at = now_seconds() - 5;
        REQUIRE(store.add_action(a));
        store.begin_attempt(store.actions_for_order(id).at(0).id, now_seconds());
    }
    s.start_daemon();
    auto line = wait_for_log(s.daemon.log(), "action_reconciled");
    CHECK(line.at("outcome") == "not delivered");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    wait_for_log(s.daemon.log(), "action_done");

    auto messages = s.shop_messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].at("text") == text);
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    auto actions = store.actions_for_order(id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].state == "done");
    CHECK(actions[0].attempts == 2);
}

TEST_CASE("A resend interrupted by a crash is reconciled at the next start, not left unknown for ever", "[integration][reconcile]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    auto order = s.create_order({{"buyer_name", "再 送子"},
                                 {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
    const std::string order_id = order.at("id").get<std::string>();
    const json listed = s.control("GET", "/control/orders/" + order_id).json_body();
    INFO(listed.dump());
    const std::string buyer = listed.value("user_id", "");
    REQUIRE(!buyer.empty());
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);

    // What a crash during a reconciliation resend leaves: the row was planned
    // again by reconciliation ({"reconciled": "absent"}), went to 'sending',
    // the process died, and the next start marked it 'unknown'.
    const std::string text = thanks_text("再 送子", order_id);
    std::int64_t id = 0;
    {
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        orderflow::storage::new_action a;
        a.idem_key = orderflow::storage::hash_key("crash-during-resend|" + order_id);
        a.rule_id = "thanks";
        a.kind = "send_message";
        a.order_id = order_id;
        a.payload = json{{"text", text}, {"buyer_user_id", buyer}}.dump();
        a.buyer_user_id = buyer;
        a.created_at = static_cast<std::int64_t>(std::time(nullptr));
        REQUIRE(store.add_action(a));
        id = store.action_by_key(a.idem_key)->id;
        store.begin_attempt(id, a.created_at);
        store.set_action_state(id, "unknown", "interrupted: outcome unknown", json{{"reconciled", "absent"}}.dump(), a.created_at);
    }
    s.start_daemon();
    auto settled = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        const auto row = store.get_action(id);
        if (row && row->state == "done") return true;
        for (const auto& r : store.reviews(false, 100))
            if (r.reason == "send_unknown") return true;
        return false;
    };
    REQUIRE(eventually(settled, std::chrono::seconds(30)));
    int sent = 0;
    for (const auto& m : s.shop_messages()) sent += m.value("text", "") == text;
    CHECK(sent == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
