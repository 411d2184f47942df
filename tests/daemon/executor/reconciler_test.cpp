// Tests for daemon/executor/reconciler.hpp: sends whose outcome is unknown,
// looked for in the buyer conversation the sandbox shop keeps: found means
// done, a complete look without it means planned again (at most three
// times, then a person decides), an interrupted tracking update is simply
// planned again, and an inconclusive one is left to staff.
#include "daemon/executor/reconciler.hpp"

#include "daemon/reconcile.hpp"
#include "tests/daemon/executor/outbox_support.hpp"
#include "tikapi/client.hpp"

#include <boost/asio/awaitable.hpp>
#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;

namespace {

constexpr const char* thanks_text = "山田 太郎様、ご注文ありがとうございます。";

// An order whose buyer has written, so the conversation exists and is known.
struct conversation_fixture {
    std::string order_id, buyer, conversation;
};

conversation_fixture buyer_wrote(runtime_env& env) {
    conversation_fixture f;
    f.order_id = env.create_order();
    env.make_ready_to_ship(f.order_id);
    f.buyer = buyer_of(env, f.order_id);
    f.conversation = env.control("POST", "/control/messages", {{"order_id", f.order_id}, {"text", "いつ届きますか?"}})
                         .at("conversation_id").get<std::string>();
    env.store.put_conversation(f.buyer, f.conversation, env.now);
    return f;
}

// A send that was in flight when the process died.
storage::action_row interrupted_send(runtime_env& env, const conversation_fixture& f) {
    const auto a = plant_action(env, "send_message", f.order_id, {{"text", thanks_text}, {"buyer_user_id", f.buyer}});
    settle(env, a.id, "unknown", "interrupted: outcome unknown");
    return action_now(env, a.id);
}

// What the interrupted send did reach TikTok with: the shop's message. Returns its id.
std::string shop_sends(runtime_env& env, const std::string& conversation, const std::string& text) {
    std::string id;
    env.drive([&]() -> asio::awaitable<void> {
        const secret* token = co_await env.tokens->access();
        REQUIRE(token != nullptr);
        auto r = co_await env.api->send_text_message(conversation, text, *token);
        REQUIRE(r);
        id = r.value();
    });
    return id;
}

void pass(runtime_env& env, reconciler& r) {
    env.drive([&]() -> asio::awaitable<void> { co_await r.pass(); });
}

}  // namespace

TEST_CASE("An unknown send whose text is in the conversation is done with the message's id", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto f = buyer_wrote(env);
    const auto a = interrupted_send(env, f);
    const std::string message_id = shop_sends(env, f.conversation, thanks_text);
    env.now += 20;
    pass(env, parts.recon);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "done");
    const json result = json::parse(row.result);
    CHECK(result["message_id"] == message_id);
    CHECK(result["reconciled"] == "found");
    CHECK(env.shop_messages().size() == 1);
    const auto audit = audit_of(env, "send_message.reconciled");
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["detail"]["outcome"] == "delivered");
    CHECK(env.store.reviews(false, 10).empty());
}

TEST_CASE("An unknown send not in the conversation is planned again at most three times, then left to staff", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto f = buyer_wrote(env);
    // A text the shop did send, but another one: not this action's.
    shop_sends(env, f.conversation, "別のメッセージ");
    const auto a = interrupted_send(env, f);

    for (int resend = 1; resend <= max_resends; ++resend) {
        pass(env, parts.recon);
        const auto row = action_now(env, a.id);
        CHECK(row.state == "planned");
        CHECK_THAT(row.reason, Catch::StartsWith("reconciled: not in the conversation"));
        CHECK(env.store.due_actions(env.now, 10).size() == 1);
        // The resend itself is interrupted again.
        settle(env, a.id, "unknown", "interrupted: outcome unknown");
        env.now += 60;
    }
    pass(env, parts.recon);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "unknown");
    CHECK(json::parse(row.result)["reconciled"] == "inconclusive");
    const auto items = reviews_for(env, "send_unknown");
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "critical");
    // Which conversation is in the evidence; the summary, which goes to the
    // staff channels, does not name it.
    CHECK(json::parse(items[0].evidence).at("conversation_id") == f.conversation);
    CHECK_THAT(items[0].summary, !Catch::Contains(f.conversation));
    CHECK_THAT(items[0].summary, Catch::Contains("check the order's conversation"));
    CHECK(env.shop_messages().size() == 1);
}

TEST_CASE("An unknown send to a buyer with no conversation opened is planned again", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = plant_action(env, "send_message", "O-1", {{"text", thanks_text}, {"buyer_user_id", "nobody-yet"}});
    settle(env, a.id, "unknown", "interrupted: outcome unknown");
    pass(env, parts.recon);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "planned");
    CHECK_THAT(row.reason, Catch::Contains("no conversation was opened"));
}

TEST_CASE("An unknown tracking update is planned again, since shipping is safe to repeat", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = plant_action(env, "update_tracking", "O-2",
                                {{"order_id", "O-2"}, {"tracking_number", "4711-0815-2024"}, {"carrier", "Yamato Transport"}}, "ship_from_feed");
    settle(env, a.id, "unknown", "interrupted: outcome unknown");
    const auto calls_before = env.shop->calls().size();
    pass(env, parts.recon);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "planned");
    CHECK_THAT(row.reason, Catch::Contains("safe to repeat"));
    CHECK(env.shop->calls().size() == calls_before);
    // The audit names what was reconciled: a tracking update, not a message.
    CHECK(audit_of(env, "update_tracking.reconciled").size() == 1);
    CHECK(audit_of(env, "send_message.reconciled").empty());
}

TEST_CASE("An unknown send already judged inconclusive is left alone", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto f = buyer_wrote(env);
    const auto a = plant_action(env, "send_message", f.order_id, {{"text", thanks_text}, {"buyer_user_id", f.buyer}});
    settle(env, a.id, "unknown", "reconciliation could not tell", {{"reconciled", "inconclusive"}});
    const auto history = states_of(env, a.id);
    const auto calls_before = env.shop->calls().size();
    pass(env, parts.recon);
    CHECK(action_now(env, a.id).state == "unknown");
    CHECK(states_of(env, a.id) == history);
    CHECK(env.shop->calls().size() == calls_before);
}

TEST_CASE("Inconclusive sends, however many, do not keep newer unknown actions from being reconciled", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto f = buyer_wrote(env);
    // More inconclusive sends than one pass reads (100), all older than the rest.
    for (int i = 0; i < 120; ++i) {
        const auto old = plant_action(env, "send_message", f.order_id, {{"text", thanks_text}, {"buyer_user_id", f.buyer}});
        settle(env, old.id, "unknown", "reconciliation could not tell", {{"reconciled", "inconclusive"}});
    }
    const auto tracking = plant_action(env, "update_tracking", "O-2",
                                       {{"order_id", "O-2"}, {"tracking_number", "4711-0815-2024"}, {"carrier", "Yamato Transport"}},
                                       "ship_from_feed");
    settle(env, tracking.id, "unknown", "interrupted: outcome unknown");
    const auto send = interrupted_send(env, f);   // not in the conversation
    CHECK(env.store.actions_to_reconcile(100).size() == 2);

    pass(env, parts.recon);
    CHECK(action_now(env, tracking.id).state == "planned");
    const auto row = action_now(env, send.id);
    CHECK(row.state == "planned");
    CHECK_THAT(row.reason, Catch::StartsWith("reconciled"));
    CHECK(env.store.actions_in_state("unknown", 1000).size() == 120);
}

TEST_CASE("An unknown send stays unknown when the conversation cannot be read", "[reconciler]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto f = buyer_wrote(env);
    const auto a = interrupted_send(env, f);
    const auto history = states_of(env, a.id);
    env.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations/"}, {"code", 36009003}, {"count", 1}});
    pass(env, parts.recon);
    CHECK(action_now(env, a.id).state == "unknown");
    CHECK(states_of(env, a.id) == history);
    CHECK(env.store.reviews(false, 10).empty());
}

}  // namespace ORDERFLOW_TEST_FILE
