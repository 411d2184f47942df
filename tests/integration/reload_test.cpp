// Reloads while webhooks keep arriving: no event is lost or
// processed twice, a reload never re-sends (keys depend on rule ids, not
// text), and a broken or half-written rule file leaves the running rules
// working. `orderflowctl status` tells what is in force and how the last
// reload went.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <map>
#include <set>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

std::string rules_with(const std::string& greeting) {
    return R"({
  "templates": { "thanks": { "ja": ")" + greeting + R"({{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
  "rules": [ { "id": "thanks", "on": "order.status_changed",
               "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "thanks" } } ] } ]
})";
}

}  // namespace

TEST_CASE("Reloading while webhooks arrive loses nothing, sends nothing twice, and a broken file keeps the rules working",
          "[integration][reload]") {
    stack s;
    s.write_rules("10-thanks.json", rules_with("【一】"));
    s.start_all();
    constexpr int orders = 30;
    std::vector<std::string> ids(orders);
    std::atomic<int> made{0};
    std::thread traffic([&] {
        for (int i = 0; i < orders; ++i) {
            auto o = s.create_order({{"buyer_name", "客" + std::to_string(i)},
                                     {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品"}, {"sale_price", "100"}}}}});
            ids[i] = o.at("id").get<std::string>();
            s.set_status(ids[i], "ON_HOLD");
            s.set_status(ids[i], "AWAITING_SHIPMENT");
            made = i + 1;
        }
    });
    std::vector<int> exits;
    auto wait_made = [&](int n) { return eventually([&] { return made.load() >= n; }, std::chrono::seconds(30)); };
    REQUIRE(wait_made(5));
    s.write_rules("10-thanks.json", rules_with("【二】"));
    exits.push_back(ctl(s, {"reload"}).exit_code);                  // a good reload: new text, same id
    REQUIRE(wait_made(12));
    s.write_rules("10-thanks.json", rules_with("【三】").substr(0, 90));   // the editor has written half the file
    auto broken = ctl(s, {"reload"});
    exits.push_back(broken.exit_code);
    REQUIRE(wait_made(20));
    s.write_rules("20-typo.json", R"({"rules": [{"id": "x", "on": "order.status_changd", "then": [{"send_message": {"template": "thanks"}}]}]})");
    exits.push_back(ctl(s, {"reload"}).exit_code);                  // still broken: a second file with an error
    std::filesystem::remove(s.rules_dir() / "20-typo.json");
    s.write_rules("10-thanks.json", rules_with("【三】"));
    REQUIRE(wait_made(25));
    s.daemon.signal(SIGHUP);                                       // the same reload through the signal
    traffic.join();
    CHECK(exits == std::vector<int>{0, 1, 1});
    CHECK_THAT(broken.output, Catch::Contains("previous rules stay in force"));

    REQUIRE(eventually([&] { return s.shop_messages().size() == orders; }, std::chrono::seconds(60)));
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    REQUIRE(eventually([&] { return store.counts()["inbox"].value("pending", 0) == 0; }));
    std::map<std::string, int> per_order;
    for (const auto& m : s.shop_messages()) {
        const std::string text = m.at("text");
        bool known = false;
        for (const auto& id : ids)
            if (text.find(id) != std::string::npos) {
                ++per_order[id];
                known = true;
            }
        CHECK(known);
        CHECK((text.rfind("【一】", 0) == 0 || text.rfind("【二】", 0) == 0 || text.rfind("【三】", 0) == 0));
    }
    CHECK(per_order.size() == orders);
    for (const auto& [id, n] : per_order) CHECK(n == 1);   // none lost, none twice
    CHECK(store.counts()["outbox"].value("done", 0) == orders);
    // Every webhook the daemon acknowledged is in the inbox, once, and processed.
    std::set<std::string> inbox;
    auto st = db.prepare("SELECT dedupe_key, state FROM inbox");
    while (st.step()) {
        CHECK(st.text(1) != "pending");
        inbox.insert(st.text(0));
    }
    int acked = 0;
    const json deliveries = s.control("GET", "/control/webhooks").json_body();
    for (const auto& w : deliveries.at("webhooks"))
        if (w.value("delivered", false)) {
            ++acked;
            CHECK(inbox.count("tts:" + w.at("notification_id").get<std::string>()) == 1);
        }
    CHECK(acked >= orders * 3);

    auto status = ctl(s, {"status"});
    CHECK_THAT(status.output, Catch::Contains("1 in force"));
    CHECK_THAT(status.output, Catch::Contains("reload:   last"));
    bool reload_review = false;
    for (const auto& r : store.reviews(true, 100)) reload_review |= r.reason == "reload_failed";
    CHECK(reload_review);   // staff heard of the failed reload
    CHECK(log_lines(s.daemon.log(), "rules_kept").size() == 2);
    REQUIRE(eventually([&] { return log_lines(s.daemon.log(), "rules_reloaded").size() == 2; }));
}

TEST_CASE("Replay runs the stored events through candidate rules and shows what would change, sending nothing",
          "[integration][replay]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    auto cup = s.create_order({{"buyer_name", "青木 蒼"}, {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}});
    auto pen = s.create_order({{"buyer_name", "石井 凛"}, {"line_items", {{{"seller_sku", "PEN-1"}, {"product_name", "万年筆"}, {"sale_price", "5000"}}}}});
    const std::string cup_id = cup.at("id"), pen_id = pen.at("id");
    // The thank-you rule tests the order's status as Get Order Detail gives
    // it, so both orders wait at AWAITING_SHIPMENT until their messages are
    // out (a loaded machine could otherwise process the event only after the
    // order moved on), then go on to delivery.
    for (const auto& id : {cup_id, pen_id})
        for (const char* st : {"ON_HOLD", "AWAITING_SHIPMENT"}) s.set_status(id, st);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
    for (const auto& id : {cup_id, pen_id})
        for (const char* st : {"AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"}) s.set_status(id, st);
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    REQUIRE(eventually([&] { return store.counts()["inbox"].value("pending", 0) == 0 && store.counts()["inbox"].value("done", 0) >= 12; }));

    // The candidate: thanks only for cups, and a new message on delivery.
    temp_dir candidate;
    write_file(candidate / "10-rules.json", R"({
      "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" },
                     "delivered": { "ja": "{{order.buyer_name}}様、お届けが完了しました。" } },
      "rules": [ { "id": "thanks", "on": "order.status_changed",
                   "if": { "all": [ { "order.status": { "eq": "AWAITING_SHIPMENT" } },
                                    { "order.line_items": { "any": { "seller_sku": { "matches": "^CUP-" } } } } ] },
                   "then": [ { "send_message": { "template": "thanks" } } ] },
                 { "id": "delivered", "on": "order.status_changed", "if": { "order.status": { "changed_to": "DELIVERED" } },
                   "then": [ { "send_message": { "template": "delivered" } } ] } ] })");
    auto r = ctl(s, {"replay", "--since", "1h", "--rules", candidate.path().string()});
    CHECK(r.exit_code == 0);
    INFO(r.output);
    CHECK_THAT(r.output, Catch::Contains("2 new, 1 no longer, 1 unchanged"));
    CHECK_THAT(r.output, Catch::Contains("- order " + pen_id + ": rule thanks send_message would no longer happen (it was done"));
    CHECK_THAT(r.output, Catch::Contains("+ order " + cup_id + ": rule delivered would send_message"));
    CHECK_THAT(r.output, Catch::Contains("| 石井 凛様、お届けが完了しました。"));
    CHECK(s.shop_messages().size() == 2);   // nothing was sent
    CHECK(store.counts()["outbox"].value("planned", 0) == 0);

    // The rules in force replay to no change at all.
    CHECK_THAT(ctl(s, {"replay", "--since", "1h"}).output, Catch::Contains("0 new, 0 no longer, 2 unchanged"));
    CHECK(ctl(s, {"replay"}).exit_code == 2);
}

TEST_CASE("A failed reload prints its errors and a SIGHUP logs at most fifty of them with the number of the rest",
          "[integration][reload]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    // Sixty rules with the same mistake: sixty errors, one per rule.
    json broken = json::array();
    for (int i = 0; i < 60; ++i) broken.push_back({{"id", "broken-" + std::to_string(i)}, {"on", "order.teleported"}, {"then", {{{"tag", "x"}}}}});
    s.write_rules("20-broken.json", json{{"rules", broken}}.dump(1));
    const std::string file = (s.rules_dir() / "20-broken.json").string();

    // orderflowctl reload: the errors themselves, as check prints them, and how many more.
    auto reload = ctl(s, {"reload"});
    INFO(reload.output);
    CHECK(reload.exit_code == 1);
    CHECK_THAT(reload.output, Catch::Contains("reload failed; the previous rules stay in force (1 rules, hash ") &&
                                  Catch::Contains("60 errors; fix them and reload again:\n" + file + ":") &&
                                  Catch::Contains("error: unknown event \"order.teleported\"") &&
                                  Catch::Contains("\nand 10 more (orderflowctl check --config " + s.config_path().string() + " shows all)\n"));
    // The same load through the signal: fifty error lines, and the count of the rest.
    wait_for_log(s.daemon.log(), "rules_kept");
    s.daemon.signal(SIGHUP);
    const json kept = wait_for_log(s.daemon.log(), "rules_kept", std::chrono::seconds(20), 2);
    CHECK(kept.at("errors") == 60);
    CHECK(kept.at("not_logged") == 10);
    CHECK_THAT(kept.at("advice").get<std::string>(), Catch::Contains("orderflowctl check --config " + s.config_path().string() + " shows all"));
    const auto error_lines = log_lines(s.daemon.log(), "rules_reload_failed");
    CHECK(error_lines.size() == 100);   // two reloads, fifty each
    REQUIRE_FALSE(error_lines.empty());
    CHECK_THAT(error_lines.front().at("message").get<std::string>(), Catch::StartsWith(file + ":"));

    auto status = ctl(s, {"status"});
    INFO(status.output);
    CHECK_THAT(status.output, Catch::Contains("\n          and 55 more (orderflowctl check shows all)\n"));
    // Staff hear of the failure with its first error.
    auto db = orderflow::storage::database::open(s.db_path());
    bool told = false;
    for (const auto& r : orderflow::storage::store(db).reviews(false, 100))
        told |= r.reason == "reload_failed" && r.summary.find("unknown event") != std::string::npos &&
                r.summary.find("(and 59 more)") != std::string::npos;
    CHECK(told);
}

}  // namespace ORDERFLOW_TEST_FILE

namespace ORDERFLOW_TEST_FILE {

namespace {

// A thank-you, and an acknowledgement of the buyer's note that cannot be
// prepared for an order without one (a missing value: skipped, with a review item).
const char* const note_rules = R"({
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" },
                 "note": { "ja": "{{order.buyer_name}}様、ご要望「{{order.buyer_message}}」を承りました。" } },
  "rules": [ { "id": "thanks", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "thanks" } } ] },
             { "id": "note-ack", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "note" } } ] } ]
})";

}  // namespace

TEST_CASE("Replay through the rules in force shows no difference for actions that could not be prepared", "[integration][replay]") {
    stack s;
    s.write_rules("10-rules.json", note_rules);
    s.start_all();
    auto cup = s.create_order({{"buyer_name", "青木 蒼"}, {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}});
    const std::string cup_id = cup.at("id");
    for (const char* st : {"ON_HOLD", "AWAITING_SHIPMENT"}) s.set_status(cup_id, st);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    REQUIRE(eventually([&] {
        auto counts = store.counts();
        return counts["inbox"].value("pending", 0) == 0 && counts["outbox"].value("skipped", 0) == 1 && counts["outbox"].value("done", 0) == 1;
    }));

    // Unchanged rules: the skip the daemon recorded is the skip replay plans.
    for (const auto& command : {std::vector<std::string>{"replay", "--since", "1h"}, std::vector<std::string>{"rules", "replay", "--since", "1h"}}) {
        auto r = ctl(s, command);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("0 new, 0 no longer, 2 unchanged; 1 could not be prepared"));
        CHECK_THAT(r.output, !Catch::Contains("would no longer happen"));
    }

    // A candidate that can prepare it: the message is new, the skip gone.
    temp_dir candidate;
    std::string fixed = note_rules;
    fixed.replace(fixed.find("「{{order.buyer_message}}」"), std::string("「{{order.buyer_message}}」").size(), "");
    write_file(candidate / "10-rules.json", fixed);
    auto r = ctl(s, {"replay", "--since", "1h", "--rules", candidate.path().string()});
    INFO(r.output);
    CHECK_THAT(r.output, Catch::Contains("1 new, 1 no longer, 1 unchanged\n"));
    CHECK_THAT(r.output, Catch::Contains("+ order " + cup_id + ": rule note-ack would send_message"));
    CHECK_THAT(r.output, Catch::Contains("- order " + cup_id + ": rule note-ack send_message would no longer happen (it was skipped: "
                                         "missing value for order.buyer_message"));
    CHECK(s.shop_messages().size() == 1);   // nothing was sent
}

TEST_CASE("A reload with a condition value its field never holds is refused and the rules in force stay", "[integration][reload]") {
    stack s;
    s.write_rules("10-thanks.json", rules_with(""));
    s.start_all();
    std::string typo = rules_with("");
    typo.replace(typo.find("AWAITING_SHIPMENT"), 17, "AWAITING_SHIPPMENT");
    s.write_rules("10-thanks.json", typo);
    auto reload = ctl(s, {"reload"});
    INFO(reload.output);
    CHECK(reload.exit_code == 1);
    CHECK_THAT(reload.output, Catch::Contains("previous rules stay in force"));
    CHECK_THAT(reload.output, Catch::Contains("rule \"thanks\": order.status is never \"AWAITING_SHIPPMENT\""));
    CHECK_THAT(reload.output, Catch::Contains("did you mean AWAITING_SHIPMENT?"));

    // The rules in force still act on the status the typo missed.
    auto o = s.create_order({{"buyer_name", "石井 凛"}, {"line_items", {{{"seller_sku", "PEN-1"}, {"product_name", "万年筆"}, {"sale_price", "5000"}}}}});
    const std::string id = o.at("id");
    for (const char* st : {"ON_HOLD", "AWAITING_SHIPMENT"}) s.set_status(id, st);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
}

}  // namespace ORDERFLOW_TEST_FILE
