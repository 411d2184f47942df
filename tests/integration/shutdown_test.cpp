// Shutdown by cancellation, with the real daemon: SIGTERM while a TikTok
// call is in flight and TikTok does not answer ends the call at once; the
// daemon exits within 10 s, and the send it interrupted is `unknown` and
// reconciled at the next start, as after a crash: the buyer gets it once.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <csignal>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

const char* const reply_rules = R"({
  "templates": { "got_it": { "ja": "メッセージありがとうございます。担当者が確認します。" } },
  "rules": [ { "id": "got-it", "on": "message.received", "once_per": "message",
               "then": [ { "reply": { "template": "got_it" } } ] } ]
})";

}  // namespace

TEST_CASE("SIGTERM during a send that TikTok never answers exits within 10 s and the send is reconciled, sent once",
          "[integration][shutdown]") {
    stack s;
    // A client timeout far longer than the test waits: only cancellation can end the call.
    s.extra_config = {{"tiktok", {{"timeout", "120s"}}}, {"poll", {{"enabled", false}}}};
    s.write_rules("10-reply.json", reply_rules);
    s.start_all();
    auto order = s.create_order({{"buyer_name", "静 花子"},
                                 {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
    const std::string order_id = order.at("id").get<std::string>();

    // Every message sent from now on is processed and answered only after 100 s
    // (the calls that link the buyer's message to the order are answered at once).
    s.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 100000}, {"seed", 5}, {"only_path", "/messages"}});
    s.control("POST", "/control/messages", {{"order_id", order_id}, {"text", "注文の件で質問です"}});
    // The reply reached TikTok (the sandbox processed it) but its answer is held back.
    REQUIRE(eventually([&] {
        auto calls = s.control("GET", "/control/calls?path=/customer_service").json_body();
        for (const auto& c : calls.at("calls"))
            if (c.value("method", "") == "POST" && c.value("path", "").find("/messages") != std::string::npos) return true;
        return false;
    }));
    s.daemon.signal(SIGTERM);
    const auto status = s.daemon.wait(std::chrono::seconds(10));
    REQUIRE(status.has_value());
    CHECK(*status == 0);

    // Next start, TikTok answers again: the interrupted send is found in the
    // conversation and marked done, not sent again.
    s.control("POST", "/control/faults/random", {{"slow_share", 0.0}});
    s.start_daemon();
    auto done = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        auto actions = orderflow::storage::store(db).actions_in_state("done", 10);
        return actions.size() == 1;
    };
    REQUIRE(eventually(done, std::chrono::seconds(30)));
    int replies = 0;
    for (const auto& m : s.shop_messages()) replies += m.value("text", "").find("メッセージありがとうございます") != std::string::npos;
    CHECK(replies == 1);
    CHECK(!log_lines(s.daemon.log(), "action_reconciled").empty());
}

}  // namespace ORDERFLOW_TEST_FILE
