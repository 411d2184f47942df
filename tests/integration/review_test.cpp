// When a send cannot succeed, a person hears about it: the review queue, as
// staff see it through orderflowctl review.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <fstream>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

TEST_CASE("A send refused by conversation rules fails at once and opens one review item staff can resolve", "[integration][review]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    // TikTok refuses to open the conversation (45109001 is not retryable).
    REQUIRE(s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 45109001},
                                                   {"http_status", 200}, {"message", "Unable to send messages due to conversation rules"},
                                                   {"count", 1}}).status == 200);
    auto order = s.create_order({{"buyer_name", "伊藤 蓮"}, {"line_items", {{{"seller_sku", "CUP-9"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}});
    std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");

    auto failed = wait_for_log(s.daemon.log(), "action_failed");
    CHECK_THAT(failed.at("error").get<std::string>(), Catch::Contains("45109001"));
    auto raised = wait_for_log(s.daemon.log(), "review_raised");
    CHECK(raised.at("reason") == "send_failed");
    CHECK(s.shop_messages().empty());

    auto ctl = [&](std::vector<std::string> args) {
        args.insert(args.begin(), (bin_dir() / "orderflowctl").string());
        args.push_back("--config");
        args.push_back(s.config_path().string());
        return run(args);
    };
    auto list = ctl({"review", "list"});
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.output, Catch::Contains("send_failed"));
    CHECK_THAT(list.output, Catch::Contains(id));

    std::string review_id = std::to_string(raised.at("review_id").get<std::int64_t>());
    auto show = ctl({"review", "show", review_id});
    CHECK(show.exit_code == 0);
    CHECK_THAT(show.output, Catch::Contains("Unable to send messages due to conversation rules"));

    CHECK(ctl({"review", "resolve", review_id}).exit_code == 2);   // a resolution needs a note
    auto resolved = ctl({"review", "resolve", review_id, "--note", "電話で連絡済み", "--by", "hanako"});
    CHECK(resolved.exit_code == 0);
    CHECK_THAT(ctl({"review", "list"}).output, Catch::Contains("nothing needs review"));

    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    auto item = store.get_review(std::stoll(review_id));
    REQUIRE(item);
    CHECK(item->state == "resolved");
    CHECK(item->resolved_by == "hanako");
    CHECK(item->note == "電話で連絡済み");
    auto actions = store.actions_for_order(id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].state == "failed");
    CHECK(actions[0].attempts == 0);   // refused before any message was sent: no retries
}

TEST_CASE("Two buyers' complaints are two review items, each notified, with its own evidence", "[integration][review]") {
    stack s;
    const std::string mail = (s.dir / "mail.jsonl").string();
    json mail_channel = {{"type", "command"}, {"command", {"/bin/sh", "-c", "cat >> " + mail + "; echo >> " + mail}}};
    json notify = {{"heartbeat", "off"}, {"digest_interval", "1s"}, {"channels", {{"mail", mail_channel}}}};
    s.extra_config = {{"notify", notify}};
    s.write_rules("10-complaints.json", R"({
      "rules": [ { "id": "complaint", "on": "message.received", "once_per": "message",
                   "if": { "message.text": { "matches": "壊れ" } },
                   "then": [ { "flag_review": { "reason": "buyer_complaint", "severity": "critical" } } ] } ] })");
    s.start_all();
    const json items = {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}};
    const auto a = s.create_order({{"buyer_name", "甲 一郎"}, {"line_items", items}}).at("id").get<std::string>();
    const auto b = s.create_order({{"buyer_name", "乙 二郎"}, {"line_items", items}}).at("id").get<std::string>();
    s.control("POST", "/control/messages", {{"order_id", a}, {"text", "商品が壊れていました"}});
    s.control("POST", "/control/messages", {{"order_id", b}, {"text", "箱が壊れて届きました"}});
    auto complaints = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        std::vector<orderflow::storage::review_item> out;
        for (const auto& r : orderflow::storage::store(db).reviews(false, 100))
            if (r.reason == "buyer_complaint") out.push_back(r);
        return out;
    };
    REQUIRE(eventually([&] { return complaints().size() == 2; }));
    const auto items_now = complaints();
    CHECK(items_now[0].evidence != items_now[1].evidence);
    CHECK(items_now[0].occurrences == 1);
    CHECK(items_now[1].occurrences == 1);
    // Staff heard of each.
    REQUIRE(eventually([&] {
        std::ifstream in(s.dir / "mail.jsonl");
        std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return all.find("review show " + std::to_string(items_now[0].id)) != std::string::npos &&
               all.find("review show " + std::to_string(items_now[1].id)) != std::string::npos;
    }));
}

}  // namespace ORDERFLOW_TEST_FILE
