// Tests for daemon/conversation_linker.cpp through the pipeline: a buyer
// message reaches rules with the order it is about, under the documented rule
// (the latest order card; else the buyer's only open order; else none, with
// the candidates). Against a real database and the sandbox shop, in process.
#include "daemon/conversation_linker.hpp"

#include "daemon/events.hpp"
#include "daemon/order_source.hpp"
#include "daemon/pipeline.hpp"
#include "daemon/storage_watch.hpp"
#include "storage/conversation_links.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/webhook.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>
#include <variant>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using json = nlohmann::json;
using orderflow::daemon::testing::runtime_env;

namespace {

const std::string linking_rules = R"({
  "templates": { "about": "ご注文 {{order.id}} について承りました。" },
  "rules": [
    { "id": "about-order", "on": "message.received", "once_per": "message",
      "if": { "conversation.order_link": { "in": ["only_open_order", "order_card"] } },
      "then": [ { "reply": { "template": "about" } } ] },
    { "id": "unclear", "on": "message.received", "once_per": "message",
      "if": { "conversation.order_link": { "in": ["ambiguous", "no_open_order", "unknown_buyer"] } },
      "then": [ { "flag_review": { "reason": "which_order" } } ] }
  ]
})";

struct linker_rig {
    runtime_env env{linking_rules};
    storage_watch watch{env.ctx, *env.desk, env.sup, [] {}};
    std::unique_ptr<order_source> orders;
    std::unique_ptr<conversation_linker> links;
    std::unique_ptr<pipeline> pipe;

    linker_rig() {
        env.authorize();
        orders = std::make_unique<order_source>(*env.api, *env.tokens);
        links = std::make_unique<conversation_linker>(env.ctx, *env.api, *env.tokens);
        pipe = std::make_unique<pipeline>(env.ctx, *env.in_force, *orders, *links, *env.tokens, *env.desk, watch, env.sup, [] {});
    }

    std::string order_for(const std::string& user_id) {
        auto o = env.control("POST", "/control/orders",
                             {{"buyer_name", "山田 太郎"}, {"user_id", user_id},
                              {"line_items", {{{"seller_sku", "ENG-1"}, {"product_name", "刻印キーホルダー"}, {"sale_price", "1800"}}}}});
        const std::string id = o.at("id").get<std::string>();
        env.make_ready_to_ship(id);
        return id;
    }

    // The buyer writes (or shares an order card) in the sandbox; the type 14
    // webhook it would send goes into the inbox. Returns the inbox id.
    std::int64_t buyer_writes(const std::string& user_id, const std::string& text, const std::string& card = "") {
        json body{{"user_id", user_id}};
        if (card.empty()) body["text"] = text;
        else body["order_card"] = card;
        auto m = env.control("POST", "/control/messages", body);
        const json content = card.empty() ? json{{"content", text}} : json{{"order_id", card}};
        const std::string webhook = json{{"type", 14},
                                         {"tts_notification_id", "n-" + m.at("message_id").get<std::string>()},
                                         {"shop_id", "7000000001"},
                                         {"timestamp", env.now},
                                         {"data",
                                          {{"message_id", m.at("message_id")},
                                           {"conversation_id", m.at("conversation_id")},
                                           {"type", card.empty() ? "TEXT" : "ORDER_CARD"},
                                           {"content", content.dump()},
                                           {"create_time", env.now},
                                           {"sender", {{"role", "BUYER"}, {"im_user_id", "im-" + user_id}}}}}}
                                        .dump();
        auto parsed = tikapi::parse_webhook(webhook);
        auto* w = std::get_if<tikapi::webhook_event>(&parsed);
        REQUIRE(w != nullptr);
        REQUIRE(env.store.add_event(inbox_event_from_webhook(*w, webhook, env.now)));
        return env.store.recent_events(1).front().id;
    }

    void pass() {
        bool ok = false;
        env.drive([&]() -> boost::asio::awaitable<void> { ok = co_await pipe->pass(); });
        REQUIRE(ok);
    }

    // What the rules saw of the conversation for an event.
    json seen(std::int64_t id) {
        auto st = env.db.prepare("SELECT context FROM inbox WHERE id = ?1");
        st.bind(1, id);
        REQUIRE(st.step());
        return json::parse(st.text(0)).at("conversation");
    }
};

}  // namespace

TEST_CASE("A buyer message is linked to the buyer's only open order and its reply is capped as that order's", "[linker]") {
    linker_rig rig;
    const std::string order = rig.order_for("buyer-1");
    const auto id = rig.buyer_writes("buyer-1", "いつ届きますか");

    rig.pass();

    auto e = rig.env.store.get_event(id);
    REQUIRE(e);
    CHECK(e->state == "done");
    CHECK(e->order_id == order);   // the order's activity lists the message
    const json c = rig.seen(id);
    CHECK(c.at("order_link") == "only_open_order");
    CHECK(c.at("buyer_user_id") == "buyer-1");
    CHECK(c.at("orders") == json::array({order}));
    auto actions = rig.env.store.actions_of_event(id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].kind == "reply");
    CHECK(actions[0].order_id == order);
    CHECK(actions[0].buyer_user_id == "buyer-1");
    CHECK(json::parse(actions[0].payload).at("text") == "ご注文 " + order + " について承りました。");
    // The buyer of the conversation is remembered: the next message needs no conversation list.
    CHECK(storage::buyer_of_conversation(rig.env.db, c.at("id").get<std::string>()) == "buyer-1");
}

TEST_CASE("The linker refreshes an access token TikTok says has expired and links the message", "[linker]") {
    linker_rig rig;
    const std::string order = rig.order_for("buyer-1");
    auto m = rig.env.control("POST", "/control/messages", {{"user_id", "buyer-1"}, {"text", "いつ届きますか"}});
    REQUIRE(rig.env.shop->expire_access_tokens() > 0);

    conversation_link got;
    const json message{{"id", m.at("message_id")}, {"conversation_id", m.at("conversation_id")}, {"text", "いつ届きますか"}};
    rig.env.drive([&]() -> boost::asio::awaitable<void> { got = co_await rig.links->link(message); });

    CHECK(got.error.empty());
    CHECK(got.how == "only_open_order");
    CHECK(got.order_id == order);
    CHECK(rig.env.tokens->state() == "authorized");
}

TEST_CASE("With two open orders a message names neither until the buyer shares an order card", "[linker]") {
    linker_rig rig;
    const std::string first = rig.order_for("buyer-2");
    const std::string second = rig.order_for("buyer-2");
    const std::string other_buyer = rig.order_for("buyer-3");
    const auto unclear = rig.buyer_writes("buyer-2", "刻印はTAROでお願いします");
    rig.pass();

    const json c = rig.seen(unclear);
    CHECK(c.at("order_link") == "ambiguous");
    CHECK(c.at("order_count") == 2);
    // The buyer's own open orders (newest first; these two were placed in the same second), never another buyer's.
    const auto candidates = c.at("orders").get<std::vector<std::string>>();
    CHECK(std::set<std::string>(candidates.begin(), candidates.end()) == std::set<std::string>{first, second});
    auto actions = rig.env.store.actions_of_event(unclear);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].kind == "flag_review");
    CHECK(actions[0].order_id.empty());
    CHECK(actions[0].buyer_user_id == "buyer-2");

    const auto card = rig.buyer_writes("buyer-2", "", first);
    rig.pass();
    CHECK(rig.seen(card).at("order_link") == "order_card");
    CHECK(storage::latest_order_card(rig.env.db, c.at("id").get<std::string>()) == first);

    const auto after = rig.buyer_writes("buyer-2", "この注文です");
    rig.pass();
    CHECK(rig.seen(after).at("order_link") == "order_card");
    auto replies = rig.env.store.actions_of_event(after);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].kind == "reply");
    CHECK(replies[0].order_id == first);
    (void)other_buyer;
}

TEST_CASE("A buyer with no open order gets no order, and a cancelled or completed one is not a candidate", "[linker]") {
    linker_rig rig;
    const std::string order = rig.order_for("buyer-4");
    rig.env.control("POST", "/control/orders/" + order + "/status", {{"status", "CANCELLED"}});
    const auto id = rig.buyer_writes("buyer-4", "キャンセルしました");
    rig.pass();

    const json c = rig.seen(id);
    CHECK(c.at("order_link") == "no_open_order");
    CHECK(c.at("orders").empty());
    auto e = rig.env.store.get_event(id);
    REQUIRE(e);
    CHECK(e->order_id.empty());
    auto actions = rig.env.store.actions_of_event(id);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].kind == "flag_review");
}

}  // namespace ORDERFLOW_TEST_FILE
