// After-sales conversations end to end, with the cookbook's own rules (only
// the reminder's 24 h shortened to seconds): a buyer asked for the engraving
// text answers in the chat; orderflow links the message to the order, keeps
// the answer on it (order.attributes.engraving), confirms it to the buyer,
// and the reminder does not go out; a buyer who stays silent is reminded;
// a second message goes to staff with the answer beside the order.
#include "tests/integration/harness.hpp"

#include "storage/conversation_links.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

// The example rules as shipped, with the engraving reminder due after `after`.
void install_cookbook(stack& s, const std::string& after) {
    const auto dir = source_dir() / "etc" / "orderflow" / "rules";
    s.write_rules("10-order-flow.json", read_file(dir / "10-order-flow.json"));
    std::string cookbook = read_file(dir / "20-cookbook.json");
    const std::string day = R"("after": "24h", "event": "engraving.reminder")";
    const auto at = cookbook.find(day);
    REQUIRE(at != std::string::npos);
    cookbook.replace(at, day.size(), R"("after": ")" + after + R"(", "event": "engraving.reminder")");
    s.write_rules("20-cookbook.json", cookbook);
}

std::vector<std::string> texts_to(stack& s, const std::string& user_id) {
    std::vector<std::string> out;
    for (const auto& m : s.shop_messages())
        if (m.value("user_id", "") == user_id) out.push_back(m.at("text").get<std::string>());
    return out;
}

bool has_text(const std::vector<std::string>& texts, const std::string& part) {
    return std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("A buyer's engraving answer in the chat is kept on the order, confirmed, and stops the reminder", "[integration][conversations]") {
    stack s;
    install_cookbook(s, "8s");
    s.start_all();
    const json engraved = {{{"seller_sku", "ENG-001"}, {"product_name", "刻印キーホルダー"}, {"sale_price", "1800"}}};
    const json answering = s.create_order({{"buyer_name", "佐藤 花子"}, {"line_items", engraved}});
    const json silent = s.create_order({{"buyer_name", "鈴木 一郎"}, {"line_items", engraved}});
    const std::string a = answering.at("id"), b = silent.at("id");
    const std::string buyer_a = answering.at("user_id"), buyer_b = silent.at("user_id");
    for (const auto& id : {a, b}) {
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
    }
    // Each buyer: the thank-you and the question about the engraving.
    REQUIRE(eventually([&] { return has_text(texts_to(s, buyer_a), "刻印をご希望の文字") && has_text(texts_to(s, buyer_b), "刻印をご希望の文字"); }));

    // Buyer A answers in the chat, as a reply to the question.
    REQUIRE(s.control("POST", "/control/messages", {{"user_id", buyer_a}, {"text", "HANAKO 2026"}}).status == 200);
    REQUIRE(eventually([&] { return has_text(texts_to(s, buyer_a), "刻印の文字「HANAKO 2026」を承りました"); }));

    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    CHECK(orderflow::storage::order_attributes(db, a) == json{{"engraving", "HANAKO 2026"}});
    CHECK(orderflow::storage::order_attributes(db, b) == json::object());
    // The reply went out as order A's message: it counts towards A's caps.
    int replies_for_a = 0;
    for (const auto& x : store.actions_for_order(a)) replies_for_a += x.kind == "reply" && x.state == "done";
    CHECK(replies_for_a == 1);

    // The reminders fire 8 s after the orders became ready: B is reminded, A is not.
    REQUIRE(eventually([&] { return has_text(texts_to(s, buyer_b), "まだ伺っておりません"); }, std::chrono::seconds(40)));
    REQUIRE(eventually([&] {
        for (const auto& e : store.recent_events(200))
            if (e.event == "timer.engraving.reminder" && e.order_id == a) return e.state == "done";
        return false;
    }));
    CHECK_FALSE(has_text(texts_to(s, buyer_a), "まだ伺っておりません"));
    CHECK(texts_to(s, buyer_a).size() == 3);   // thanks, the question, the confirmation

    // Staff see the answer beside the order.
    const auto activity = ctl(s, {"activity"});
    CHECK(activity.exit_code == 0);
    CHECK_THAT(activity.output, Catch::Contains("order.attributes.engraving = HANAKO 2026"));
    CHECK_THAT(activity.output, Catch::Contains("message.received  order " + a));   // the message is in the order's activity

    // A second message from A: a person checks it; the kept answer does not change.
    REQUIRE(s.control("POST", "/control/messages", {{"user_id", buyer_a}, {"text", "やっぱりHANAKOだけにできますか"}}).status == 200);
    auto raised = wait_for_log(s.daemon.log(), "review_raised");
    CHECK(raised.at("reason") == "engraving_follow_up");
    const auto shown = ctl(s, {"review", "show", std::to_string(raised.at("review_id").get<std::int64_t>())});
    CHECK(shown.exit_code == 0);
    CHECK_THAT(shown.output, Catch::Contains("answer:      engraving = \"HANAKO 2026\""));
    CHECK(orderflow::storage::order_attributes(db, a) == json{{"engraving", "HANAKO 2026"}});

    // The answer is the buyer's data: in their export.
    const auto exported = ctl(s, {"buyer", "export", "--order", a});
    REQUIRE(exported.exit_code == 0);
    const json doc = json::parse(exported.output);
    REQUIRE(doc.at("answers").size() == 1);
    CHECK(doc.at("answers")[0].at("value") == "HANAKO 2026");
}

}  // namespace ORDERFLOW_TEST_FILE
