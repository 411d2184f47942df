// TikTok's deadlines and its customer-service quota with the real binaries:
// a timer counted from an order's rts_sla_time fires and opens a review item,
// and one whose deadline TikTok moves is set once for the new deadline;
// near the end of a small quota, proactive messages wait while a reply still
// goes out, staff are told, status shows the count, and the count survives
// a restart of orderflowd.
#include "tests/integration/harness.hpp"
#include "storage/database.hpp"

#include <catch2/catch.hpp>

#include <ctime>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

json order_of(const std::string& buyer, const std::string& status) {
    return {{"buyer_name", buyer}, {"status", status}, {"line_items", {{{"seller_sku", "CUP-9"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}};
}

}  // namespace

TEST_CASE("A timer an hour before the ready-to-ship deadline fires and opens a review item", "[integration][deadlines]") {
    stack s;
    // The deadline is 1 h 3 s after payment, so "1h before" it is 3 s away.
    s.sandbox_args = {"--handling-seconds", "3603"};
    s.write_rules("10-sla.json", R"({
  "rules": [
    { "id": "sla", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "schedule": { "before": "1h", "at": "order.rts_sla_time", "event": "sla.soon" } } ] },
    { "id": "sla-soon", "on": "timer.sla.soon", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "flag_review": { "reason": "shipping_sla_soon", "severity": "warning", "note": "ship within the hour" } } ] }
  ]})");
    s.start_all();
    auto order = s.create_order(order_of("林 七海", "AWAITING_SHIPMENT"));
    const std::string id = order.at("id");
    const std::int64_t rts = order.at("rts_sla_time");

    auto done = wait_for_log(s.daemon.log(), "action_done");
    CHECK(done.at("kind") == "schedule");
    auto raised = wait_for_log(s.daemon.log(), "review_raised");
    CHECK(raised.at("reason") == "shipping_sla_soon");
    CHECK(raised.at("order_id") == id);
    auto list = ctl(s, {"review", "list"});
    CHECK_THAT(list.output, Catch::Contains("shipping_sla_soon"));
    (void)rts;
}

TEST_CASE("A deadline TikTok moves gives one timer, whether a new order event or the old timer sees the move",
          "[integration][deadlines]") {
    stack s;
    s.write_rules("10-sla.json", R"({
  "templates": { "soon": { "ja": "まもなく発送いたします。" } },
  "rules": [
    { "id": "sla", "on": "order.status_changed", "if": { "order.status": { "in": ["ON_HOLD", "AWAITING_SHIPMENT"] } },
      "then": [ { "schedule": { "before": "1h", "at": "order.rts_sla_time", "event": "sla.soon" } } ] },
    { "id": "sla-soon", "on": "timer.sla.soon", "once_per": "event",
      "then": [ { "send_message": { "template": "soon" } } ] }
  ]})");
    s.start_all();
    auto order = s.create_order(order_of("林 七海", "UNPAID"));
    const std::string id = order.at("id");
    // The deadline is 1 h 6 s away: the first timer fires in 6 s.
    const std::int64_t rts = static_cast<std::int64_t>(std::time(nullptr)) + 3606;
    REQUIRE(s.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla_time", rts}}).status == 200);
    s.set_status(id, "ON_HOLD");
    wait_for_log(s.daemon.log(), "action_done");   // the first timer is set
    // TikTok moves the deadline 4 s later, and the order moves on: the rule
    // plans a timer for the new deadline before the old timer fires.
    REQUIRE(s.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla_time", rts + 4}}).status == 200);
    s.set_status(id, "AWAITING_SHIPMENT");
    auto moved = wait_for_log(s.daemon.log(), "timer_moved", std::chrono::seconds(20));
    CHECK(moved.at("now_is") == rts + 4);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }, std::chrono::seconds(20)));
    std::this_thread::sleep_for(std::chrono::seconds(3));
    CHECK(s.shop_messages().size() == 1);
    // The old timer (void) and the one for the new deadline; never a second one for it.
    auto db = orderflow::storage::database::open(s.db_path());
    auto st = db.prepare("SELECT count(*), count(DISTINCT dedupe_key) FROM inbox WHERE event = 'timer.sla.soon' AND order_id = ?1");
    st.bind(1, id);
    REQUIRE(st.step());
    CHECK(st.int64(0) == 2);
    CHECK(st.int64(1) == 2);
}

TEST_CASE("An order without the deadline cannot be timed: the schedule is skipped with a review item", "[integration][deadlines]") {
    stack s;
    s.write_rules("10-sla.json", R"({
  "rules": [
    { "id": "sla", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "schedule": { "at": "order.rts_sla_time", "event": "sla.missed" } } ] },
    { "id": "sla-missed", "on": "timer.sla.missed", "then": [ { "flag_review": { "reason": "shipping_sla_missed" } } ] }
  ]})");
    s.start_all();
    auto order = s.create_order(order_of("林 七海", "ON_HOLD"));
    const std::string id = order.at("id");
    REQUIRE(s.control("POST", "/control/orders/" + id + "/deadlines", {{"rts_sla_time", 0}}).status == 200);
    s.set_status(id, "AWAITING_SHIPMENT");
    auto raised = wait_for_log(s.daemon.log(), "review_raised");
    CHECK(raised.at("reason") == "action_not_prepared");
    auto skipped = wait_for_log(s.daemon.log(), "action_skipped");
    CHECK(skipped.at("reason") == "missing value for order.rts_sla_time");
}

TEST_CASE("Near the end of the customer-service quota only replies go out, staff are told, and the count survives a restart",
          "[integration][quota]") {
    stack s;
    s.sandbox_args = {"--cs-daily-quota", "30"};
    s.extra_config = {{"customer_service", {{"daily_quota", 30}, {"reply_reserve", 10}, {"warn_percent", 50}}},
                      {"poll", {{"enabled", false}}}};
    s.write_rules("10-rules.json", R"({
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文ありがとうございます。" },
                 "answer": { "ja": "お問い合わせありがとうございます。" } },
  "rules": [
    { "id": "thanks", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "send_message": { "template": "thanks" } } ] },
    { "id": "answer", "on": "message.received", "once_per": "message", "then": [ { "reply": { "template": "answer" } } ] }
  ]})");
    s.start_all();
    // Each thanks to a new buyer costs two calls (open the conversation, send):
    // 10 orders would need 20, and the last 10 of 30 are kept for replies.
    std::vector<std::string> ids;
    for (int i = 0; i < 12; ++i) ids.push_back(s.create_order(order_of("購入者" + std::to_string(i), "AWAITING_SHIPMENT")).at("id"));
    // Lanes send side by side, so one or two may pass the check just before
    // the reserve is reached: every thanks is either sent or waits, saying why.
    std::size_t waiting = 0;
    REQUIRE(eventually([&] {
        waiting = 0;
        for (const auto& l : log_lines(s.daemon.log(), "action_deferred"))
            waiting += l.value("reason", "").find("kept for replies to buyers") != std::string::npos;
        return waiting >= 1 && s.shop_messages().size() + waiting == ids.size();
    }));
    const auto used = s.control("GET", "/control/cs_quota").json_body().at("used").get<std::int64_t>();
    CHECK(used >= 20);
    CHECK(used <= 24);
    const auto sent = s.shop_messages().size();
    CHECK(static_cast<std::int64_t>(sent) * 2 == used);

    bool critical = false, warned = false;
    REQUIRE(eventually([&] {
        for (const auto& l : log_lines(s.daemon.log(), "review_raised")) {
            critical |= l.value("reason", "") == "cs_quota_reserve" && l.value("severity", "") == "critical";
            warned |= l.value("reason", "") == "cs_quota_low";
        }
        return critical;
    }));
    CHECK(warned);

    // A buyer writes: the reply still goes out, from the reserve.
    REQUIRE(s.control("POST", "/control/messages", {{"order_id", ids[0]}, {"text", "いつ届きますか"}}).status == 200);
    REQUIRE(eventually([&] {
        for (const auto& m : s.shop_messages())
            if (m.dump().find("お問い合わせありがとうございます。") != std::string::npos) return true;
        return false;
    }));
    CHECK(s.shop_messages().size() == sent + 1);
    const std::string count = std::to_string(used + 1) + " of 30";

    auto status = ctl(s, {"status"});
    CHECK_THAT(status.output, Catch::Contains("customer-service calls today") && Catch::Contains(count + ", 10 kept for replies to buyers") &&
                                  Catch::Contains("RESERVE REACHED"));

    // A restart keeps the day's count: nothing proactive goes out after it either.
    s.kill_daemon();
    s.start_daemon();
    auto resumed = wait_for_log(s.daemon.log(), "cs_quota_resumed");
    CHECK(resumed.at("used") == used + 1);
    CHECK_THAT(ctl(s, {"status"}).output, Catch::Contains(count));
    CHECK(s.control("GET", "/control/cs_quota").json_body().at("used") == used + 1);
    CHECK(s.shop_messages().size() == sent + 1);
}

}  // namespace ORDERFLOW_TEST_FILE
