// The rule actions beyond send_message, end to end: a buyer who reports
// damage is flagged for staff (with their words as evidence) and `stop`
// keeps the auto-reply from answering them; a "where is my order" question
// gets a reply in its conversation; and a tag set on one event changes what a
// later event does (a gift order gets no "it was delivered" message, since
// the buyer is not the one who received it).
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

const char* const rules_text = R"({
  "templates": {
    "where": { "ja": "お問い合わせありがとうございます。配送状況を確認いたします。" },
    "delivered": { "ja": "{{order.buyer_name}}様、商品がお手元に届きました。ありがとうございました。" }
  },
  "rules": [
    { "id": "damage", "on": "message.received", "once_per": "message",
      "if": { "message.text": { "matches": "破損|壊れ|damaged" } },
      "then": [ { "flag_review": { "reason": "damage_reported", "severity": "critical", "note": "buyer reports damage; call them, no auto-reply" } },
                { "stop": true } ] },
    { "id": "where", "on": "message.received", "once_per": "message",
      "if": { "message.text": { "contains": "届" } },
      "then": [ { "reply": { "template": "where" } } ] },
    { "id": "gift", "on": "order.status_changed",
      "if": { "all": [ { "order.status": { "eq": "AWAITING_SHIPMENT" } }, { "order.buyer_message": { "contains": "ギフト" } } ] },
      "then": [ { "tag": "gift" }, { "flag_review": { "reason": "gift_wrap", "severity": "info", "note": "wrap as a gift" } } ] },
    { "id": "delivered", "on": "order.status_changed",
      "if": { "all": [ { "order.status": { "changed_to": "DELIVERED" } }, { "not": { "order.tags": { "contains": "gift" } } } ] },
      "then": [ { "send_message": { "template": "delivered" } } ] },
    { "id": "returns", "on": "order.return_changed", "then": [ { "flag_review": { "reason": "return_requested" } } ] }
  ]
})";

std::string text_of(const json& m) { return m.at("text").get<std::string>(); }

void walk_to_delivered(stack& s, const std::string& id) {
    for (const char* st : {"ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"}) s.set_status(id, st);
}

}  // namespace

TEST_CASE("A damage report is flagged without an auto-reply, a question gets a reply, and a gift tag stops the delivery message",
          "[integration][actions]") {
    stack s;
    s.write_rules("10-care.json", rules_text);
    s.start_all();
    auto gift = s.create_order({{"buyer_name", "小林 翔"}, {"buyer_message", "ギフト包装でお願いします"},
                                {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "1200"}}}}});
    auto plain = s.create_order({{"buyer_name", "加藤 結衣"}, {"line_items", {{{"seller_sku", "CUP-2"}, {"product_name", "急須"}, {"sale_price", "3400"}}}}});
    const std::string gift_id = gift.at("id"), plain_id = plain.at("id");

    // "届いた" matches "where" too, but the damage rule stops first.
    REQUIRE(s.control("POST", "/control/messages", {{"order_id", gift_id}, {"text", "届いたのですが、湯呑みが割れて破損していました。"}}).status == 200);
    auto raised = wait_for_log(s.daemon.log(), "review_raised");
    CHECK(raised.at("reason") == "damage_reported");
    CHECK(raised.at("severity") == "critical");
    REQUIRE(s.control("POST", "/control/messages", {{"order_id", plain_id}, {"text", "まだ届いていません"}}).status == 200);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    CHECK(text_of(s.shop_messages().at(0)) == "お問い合わせありがとうございます。配送状況を確認いたします。");

    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    auto item = store.get_review(raised.at("review_id").get<std::int64_t>());
    REQUIRE(item);
    CHECK_THAT(item->summary, Catch::Contains("call them, no auto-reply"));
    CHECK_THAT(item->evidence, Catch::Contains("割れて破損"));   // the buyer's words are the evidence

    walk_to_delivered(s, gift_id);
    walk_to_delivered(s, plain_id);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
    REQUIRE(eventually([&] { return store.counts()["inbox"].value("pending", 0) == 0; }));
    CHECK(store.tags(gift_id) == std::vector<std::string>{"gift"});
    CHECK(store.tags(plain_id).empty());
    bool wrap_review = false;
    for (const auto& r : store.reviews(false, 100)) wrap_review |= r.reason == "gift_wrap" && r.order_id == gift_id && r.severity == "info";
    CHECK(wrap_review);
    auto messages = s.shop_messages();
    REQUIRE(messages.size() == 2);   // nothing to the gift order's buyer
    CHECK(text_of(messages.at(1)) == "加藤 結衣様、商品がお手元に届きました。ありがとうございました。");
    for (const auto& a : store.actions_for_order(gift_id)) CHECK(a.kind != "send_message");

    // What each rule did, and the one that never fired.
    auto coverage = run({(bin_dir() / "orderflowctl").string(), "rules", "coverage", "--since", "1h", "--config", s.config_path().string()});
    CHECK(coverage.exit_code == 0);
    CHECK_THAT(coverage.output, Catch::Contains("matched 1 event; actions: done 1"));             // damage: the review
    CHECK_THAT(coverage.output, Catch::Matches("(.|\n)*delivered +matched 1 event; actions: done 1(.|\n)*"));
    CHECK_THAT(coverage.output, Catch::Matches("(.|\n)*returns +never fired(.|\n)*"));
    CHECK_THAT(coverage.output, Catch::Contains("1 rule never fired in this period"));
}

TEST_CASE("A scheduled reminder survives a crash, fires once, and checks the order as it is when it fires", "[integration][actions][schedule]") {
    stack s;
    s.write_rules("10-engrave.json", R"({
      "templates": {
        "ask": { "ja": "{{order.buyer_name}}様、刻印する文字をお知らせください。" },
        "remind": { "ja": "{{order.buyer_name}}様、刻印の文字をまだ伺っておりません。ご返信をお待ちしております。" }
      },
      "rules": [
        { "id": "ask-engraving", "on": "order.status_changed",
          "if": { "all": [ { "order.status": { "eq": "AWAITING_SHIPMENT" } },
                           { "order.line_items": { "any": { "seller_sku": { "matches": "^ENG-" } } } } ] },
          "then": [ { "send_message": { "template": "ask" } }, { "schedule": { "after": "4s", "event": "engraving.reminder" } } ] },
        { "id": "remind-engraving", "on": "timer.engraving.reminder",
          "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
          "then": [ { "send_message": { "template": "remind" } } ] }
      ] })");
    s.start_all();
    auto waiting = s.create_order({{"buyer_name", "森 大輔"}, {"line_items", {{{"seller_sku", "ENG-RING"}, {"product_name", "指輪"}, {"sale_price", "9800"}}}}});
    auto shipped = s.create_order({{"buyer_name", "林 七海"}, {"line_items", {{{"seller_sku", "ENG-PEN"}, {"product_name", "万年筆"}, {"sale_price", "7800"}}}}});
    const std::string waiting_id = waiting.at("id"), shipped_id = shipped.at("id");
    for (const auto& id : {waiting_id, shipped_id}) {
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
    }
    REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
    s.set_status(shipped_id, "AWAITING_COLLECTION");   // shipped before the reminder is due
    {
        auto db = orderflow::storage::database::open(s.db_path());
        REQUIRE(eventually([&] { return orderflow::storage::store(db).counts()["inbox"].value("timers", 0) == 2; }));
    }
    s.kill_daemon();    // the timers are in the database, not in memory
    s.start_daemon();
    REQUIRE(eventually([&] { return s.shop_messages().size() == 3; }, std::chrono::seconds(30)));
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    REQUIRE(eventually([&] {
        auto c = store.counts()["inbox"];
        return c.value("timers", 0) == 0 && c.value("pending", 0) == 0;
    }, std::chrono::seconds(30)));
    auto messages = s.shop_messages();
    REQUIRE(messages.size() == 3);   // once, and not for the shipped order
    CHECK(messages.at(2).at("text") == "森 大輔様、刻印の文字をまだ伺っておりません。ご返信をお待ちしております。");
}

}  // namespace ORDERFLOW_TEST_FILE
