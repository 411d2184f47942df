// The foundation's end-to-end promise, with the real binaries: a webhook
// becomes exactly one buyer message, whatever is redelivered or killed.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <csignal>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

const char* flow_rules = R"({
  // the rule under test: one thank-you per order when it is ready to ship
  "templates": {
    "thanks": {
      "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。発送の準備を進めております。",
      "en": "Thank you for order {{order.id}}, {{order.buyer_name}}!"
    }
  },
  "rules": [
    {
      "id": "thanks-awaiting-shipment",
      "on": ["order.status_changed"],
      "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "send_message": { "template": "thanks" } } ]
    }
  ]
}
)";

std::string expected_text(const std::string& order_id) {
    return "山田 花子様、ご注文 " + order_id + " ありがとうございます。発送の準備を進めております。";
}

std::string message_text(const json& m) {
    if (m.contains("text")) return m["text"].get<std::string>();
    return m.value("content", "");
}

struct running_stack : stack {
    running_stack() {
        write_rules("10-thanks.json", flow_rules);
        start_all();
    }
};

}  // namespace

TEST_CASE("A webhook delivered three times across a SIGKILL and restart sends the buyer exactly one message",
          "[integration]") {
    running_stack s;
    auto order = s.create_order({{"buyer_name", "山田 花子"},
                                 {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグカップ"}, {"sale_price", "1800"}}}}});
    std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");

    // Delivery 1: processed, one message sent.
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    wait_for_log(s.daemon.log(), "action_done");

    // The notification that announced AWAITING_SHIPMENT, as the sandbox sent it.
    std::string notification;
    const json deliveries = s.control("GET", "/control/webhooks").json_body();
    for (const auto& w : deliveries.at("webhooks")) {
        json payload = w.contains("payload") ? w["payload"] : json();
        if (w.value("type", 0) == 1 && payload.is_object() && payload["data"].value("order_status", "") == "AWAITING_SHIPMENT")
            notification = w.at("notification_id").get<std::string>();
    }
    REQUIRE_FALSE(notification.empty());
    auto redeliver = [&] {
        REQUIRE(s.control("POST", "/control/webhooks/redeliver", {{"notification_id", notification}}).status == 200);
        auto dup = wait_for_log(s.daemon.log(), "webhook_duplicate");
        CHECK(dup.at("notification_id") == notification);
    };

    // Delivery 2: the same notification again; acknowledged as a duplicate.
    redeliver();

    // Crash, restart, delivery 3.
    s.kill_daemon();
    s.start_daemon();
    redeliver();

    // A different notification for the same change (order X reached
    // AWAITING_SHIPMENT) is kept in the inbox but not processed again.
    json again = {{"type", 1}, {"tts_notification_id", "itest-second-sighting"}, {"shop_id", "7494049642642441621"},
                  {"timestamp", 1700000000},
                  {"data", {{"order_id", id}, {"order_status", "AWAITING_SHIPMENT"}, {"is_on_hold_order", false}, {"update_time", 1700000000}}}};
    REQUIRE(s.post_webhook(again.dump()).status == 200);
    wait_for_log(s.daemon.log(), "webhook_received");

    // The database agrees: one outbox row, done; every webhook in the inbox
    // once. The second sighting is stored at once and set aside when the
    // pipeline reaches it (it claims its change only then): waited for
    // first, so the checks below see what it left.
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    bool second_ignored = false;
    CHECK(eventually([&] {
        for (const auto& e : store.recent_events(100))
            if (e.dedupe_key == "tts:itest-second-sighting")
                second_ignored = e.state == "ignored" && e.note.rfind("same change as inbox event ", 0) == 0;
        return second_ignored;
    }));
    auto messages = s.shop_messages();
    REQUIRE(messages.size() == 1);
    CHECK(message_text(messages[0]) == expected_text(id));
    auto actions = store.actions_for_order(id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].state == "done");
    CHECK(actions[0].rule_id == "thanks-awaiting-shipment");
    int status_events = 0;
    for (const auto& e : store.recent_events(100)) status_events += e.event == "order.status_changed" && e.order_id == id;
    CHECK(status_events == 4);   // UNPAID, ON_HOLD, AWAITING_SHIPMENT, and the second sighting
}

TEST_CASE("Webhooks that are forged, oversized or malformed are refused and the daemon keeps serving", "[integration]") {
    running_stack s;
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    auto rows_before = store.recent_events(1000).size();
    json hook = {{"type", 1}, {"tts_notification_id", "itest-bad-input"}, {"shop_id", "1"}, {"timestamp", 1700000000},
                 {"data", {{"order_id", "576486316948490001"}, {"order_status", "UNPAID"}, {"update_time", 1700000000}}}};

    SECTION("a wrong signature gets 401 and stores nothing") {
        CHECK(s.post_webhook(hook.dump(), false).status == 401);
        CHECK(store.recent_events(1000).size() == rows_before);
        CHECK(log_lines(s.daemon.log(), "webhook_rejected").size() == 1);
    }
    SECTION("a body over webhook.max_body gets 413") {
        std::string big = R"({"type":1,"data":{"pad":")" + std::string(70000, 'x') + R"("}})";
        CHECK(s.post_webhook(big).status == 413);
        CHECK(store.recent_events(1000).size() == rows_before);
    }
    SECTION("malformed JSON with a valid signature gets a clear 400 and is logged") {
        auto r = s.post_webhook("{\"type\": 1, \"data\": {");
        CHECK(r.status == 400);
        CHECK(r.body.find("malformed webhook") != std::string::npos);
        CHECK(log_lines(s.daemon.log(), "webhook_malformed").size() == 1);
        CHECK(store.recent_events(1000).size() == rows_before);
    }
    SECTION("a signed body nested deeper than the JSON depth limit gets 400 and stores nothing") {
        // 30,000 levels fit this stack's 64 KiB max_body. Without a
        // notification id the dedupe hash would dump() it recursively.
        std::string deep = R"({"type":1,"shop_id":"1","data":{"deep":)" + std::string(30000, '[') +
                           std::string(30000, ']') + "}}";
        auto r = s.post_webhook(deep);
        CHECK(r.status == 400);
        CHECK(r.body == "malformed webhook: body is JSON nested deeper than 64 levels\n");
        CHECK(log_lines(s.daemon.log(), "webhook_malformed").size() == 1);
        CHECK(store.recent_events(1000).size() == rows_before);
    }
    SECTION("storage that stays locked gets 503, and the retry after it is stored") {
        db.exec("BEGIN EXCLUSIVE");
        CHECK(s.post_webhook(hook.dump()).status == 503);
        CHECK(log_lines(s.daemon.log(), "inbox_commit_failed").size() == 1);
        db.exec("ROLLBACK");
        CHECK(s.post_webhook(hook.dump()).status == 200);
        CHECK(store.recent_events(1000).size() == rows_before + 1);
    }
    // Whatever came before, the daemon is alive and a good webhook is taken.
    REQUIRE(s.daemon.running());
    hook["tts_notification_id"] = "itest-after-bad-input";
    CHECK(s.post_webhook(hook.dump()).status == 200);
}

TEST_CASE("A buyer message matched by a rule gets one reply per message, in the buyer's conversation", "[integration]") {
    stack s;
    s.write_rules("10-ask.json", R"({
      "templates": { "where_is_it": { "ja": "お問い合わせありがとうございます。配送状況を確認し、担当者よりご連絡いたします。" } },
      "rules": [ {
        "id": "reply-where-is-my-order",
        "on": "message.received",
        "if": { "message.text": { "contains": "届いていません" } },
        "once_per": "message",
        "then": [ { "send_message": { "template": "where_is_it" } } ]
      } ]
    })");
    s.start_all();
    auto order = s.create_order({{"buyer_name", "高橋 美咲"}, {"line_items", {{{"seller_sku", "BAG-07"}, {"product_name", "帆布トート"}, {"sale_price", "3900"}}}}});
    std::string id = order.at("id").get<std::string>();

    auto first = s.control("POST", "/control/messages", {{"order_id", id}, {"text", "商品がまだ届いていません。"}}).json_body();
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    s.control("POST", "/control/messages", {{"order_id", id}, {"text", "ありがとうございます"}});        // no rule matches
    s.control("POST", "/control/messages", {{"order_id", id}, {"text", "やはり届いていません…"}});   // a second matching message
    REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
    // The same NEW_MESSAGE webhook again plans nothing.
    auto received_before = log_lines(s.daemon.log(), "webhook_duplicate").size();
    const json deliveries = s.control("GET", "/control/webhooks").json_body();
    std::string first_message_notification;
    for (const auto& w : deliveries.at("webhooks"))
        if (w.value("type", 0) == 14 && first_message_notification.empty()) first_message_notification = w.at("notification_id");
    REQUIRE_FALSE(first_message_notification.empty());
    s.control("POST", "/control/webhooks/redeliver", {{"notification_id", first_message_notification}});
    REQUIRE(eventually([&] { return log_lines(s.daemon.log(), "webhook_duplicate").size() > received_before; }));

    auto messages = s.shop_messages();
    REQUIRE(messages.size() == 2);
    for (const auto& m : messages) {
        CHECK(m.at("conversation_id") == first.at("conversation_id"));
        CHECK(message_text(m) == "お問い合わせありがとうございます。配送状況を確認し、担当者よりご連絡いたします。");
    }
}

}  // namespace ORDERFLOW_TEST_FILE
