// Tests for daemon/executor/message_sender.hpp: a planned buyer message
// against the sandbox shop, checked by what the shop received (one message,
// or none) and by the row's state, result and history: sent once and done;
// a refusal that sent nothing deferred and sent on the next try; a
// permanent refusal failed for staff; an answer lost after the shop acted
// left unknown, never sent again by the sender.
#include "daemon/executor/message_sender.hpp"

#include "tests/daemon/executor/outbox_support.hpp"

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

// A paid order ready to ship, as the thanks rule sees it; returns {order id, buyer user id}.
std::pair<std::string, std::string> ready_order(runtime_env& env) {
    const std::string id = env.create_order();
    env.make_ready_to_ship(id);
    return {id, buyer_of(env, id)};
}

// A thank-you planned for a buyer who wrote first: the conversation exists
// and is known, so the one call the send makes is Send Message.
storage::action_row thanks_in_known_conversation(runtime_env& env) {
    const auto [order_id, buyer] = ready_order(env);
    const auto opened = env.control("POST", "/control/messages", {{"order_id", order_id}, {"text", "いつ届きますか?"}});
    env.store.put_conversation(buyer, opened.at("conversation_id").get<std::string>(), env.now);
    return plant_action(env, "send_message", order_id, {{"text", thanks_text}, {"buyer_user_id", buyer}});
}

void send(runtime_env& env, message_sender& sender, const storage::action_row& a) {
    env.drive([&]() -> asio::awaitable<void> { co_await sender.send(a); });
}

// A deferred message at its time: the one action due then, sent; returns its row after.
storage::action_row send_when_due(runtime_env& env, message_sender& sender, const storage::action_row& deferred) {
    env.now = deferred.not_before;
    const auto due = env.store.due_actions(env.now, 10);
    REQUIRE(due.size() == 1);
    CHECK(due.front().id == deferred.id);
    send(env, sender, due.front());
    return action_now(env, deferred.id);
}

int calls_to(runtime_env& env, const std::string& api) {
    int n = 0;
    for (const auto& c : env.shop->calls()) n += c.api == api;
    return n;
}

}  // namespace

TEST_CASE("send() delivers a planned message once and records the message id", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto [order_id, buyer] = ready_order(env);
    const auto a = plant_action(env, "send_message", order_id, {{"text", thanks_text}, {"buyer_user_id", buyer}, {"template", "thanks"}});
    send(env, parts.messages, a);

    const auto sent = env.shop_messages();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0]["text"] == thanks_text);
    CHECK(sent[0]["user_id"] == buyer);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "done");
    CHECK(row.attempts == 1);
    CHECK(states_of(env, a.id) == std::vector<std::string>{"planned", "sending", "done"});
    const json result = json::parse(row.result);
    CHECK(result["conversation_id"] == sent[0]["conversation_id"]);
    CHECK_FALSE(result.value("message_id", "").empty());
    CHECK(env.store.conversation_for(buyer) == sent[0]["conversation_id"].get<std::string>());
    const auto audit = audit_of(env, "send_message");
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["detail"]["message_id"] == result["message_id"]);
    CHECK(audit[0]["detail"]["template"] == "thanks");

    // The next message to the buyer uses the cached conversation.
    const auto again = plant_action(env, "send_message", order_id, {{"text", "発送しました。"}, {"buyer_user_id", buyer}});
    send(env, parts.messages, again);
    CHECK(action_now(env, again.id).state == "done");
    CHECK(env.shop_messages().size() == 2);
    CHECK(calls_to(env, "POST /customer_service/202309/conversations") == 1);
}

TEST_CASE("A retryable refusal of the send defers the message and the next try sends it once", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto [order_id, buyer] = ready_order(env);
    const auto a = plant_action(env, "send_message", order_id, {{"text", thanks_text}, {"buyer_user_id", buyer}});
    env.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations/"}, {"code", 36009003}, {"http_status", 500}, {"count", 1}});
    send(env, parts.messages, a);

    auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK_THAT(row.reason, Catch::Contains("36009003"));
    CHECK(row.not_before > env.now);
    CHECK(env.shop_messages().empty());
    CHECK(env.store.reviews(false, 10).empty());

    row = send_when_due(env, parts.messages, row);
    CHECK(row.state == "done");
    CHECK(row.attempts == 2);
    CHECK(env.shop_messages().size() == 1);
}

TEST_CASE("A permanent refusal of the send fails the message with a send_failed review item", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto [order_id, buyer] = ready_order(env);
    const auto a = plant_action(env, "send_message", order_id, {{"text", thanks_text}, {"buyer_user_id", buyer}});
    env.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations/"}, {"code", 45109001}, {"http_status", 200},
                                            {"message", "cannot send messages in this conversation"}, {"count", 1}});
    send(env, parts.messages, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK_THAT(row.reason, Catch::Contains("45109001"));
    CHECK(env.shop_messages().empty());
    const auto items = reviews_for(env, "send_failed");
    REQUIRE(items.size() == 1);
    CHECK(items[0].order_id == order_id);
    CHECK(env.store.due_actions(env.now + 86400, 10).empty());
}

TEST_CASE("An answer lost after the shop sent the message leaves it unknown and it is not sent again", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    env.control("POST", "/control/faults/random", {{"drop_after_share", 1.0}});
    send(env, parts.messages, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "unknown");
    CHECK_THAT(row.reason, Catch::StartsWith("outcome unknown"));
    CHECK(env.shop_messages().size() == 1);   // the shop did send it
    CHECK(env.store.due_actions(env.now + 86400, 10).empty());
    CHECK(calls_to(env, "POST /customer_service/202309/conversations/{id}/messages") == 1);
}

TEST_CASE("A message to a cached conversation TikTok closed reopens it and is sent once", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    const std::string cached = *env.store.conversation_for(json::parse(a.payload)["buyer_user_id"].get<std::string>());
    // Seven hours after the buyer's last message: TikTok has closed the
    // conversation (6 h without a buyer reply), and sending gets 45109001.
    env.now += 7 * 3600;
    send(env, parts.messages, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "done");
    CHECK(row.attempts == 1);
    const auto sent = env.shop_messages();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0]["text"] == thanks_text);
    CHECK(sent[0]["conversation_id"] == cached);   // reopened: the same conversation
    CHECK(calls_to(env, "POST /customer_service/202309/conversations") == 1);
    CHECK(calls_to(env, "POST /customer_service/202309/conversations/{id}/messages") == 2);
    CHECK(env.store.reviews(false, 10).empty());
}

TEST_CASE("A message refused again after its conversation was reopened fails, sent nowhere", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    env.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations/"}, {"code", 45109001}, {"http_status", 200},
                                            {"message", "Unable to send messages due to conversation rules"}, {"count", 2}});
    send(env, parts.messages, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK_THAT(row.reason, Catch::Contains("45109001"));
    CHECK(env.shop_messages().empty());
    CHECK(calls_to(env, "POST /customer_service/202309/conversations") == 1);
    CHECK(reviews_for(env, "send_failed").size() == 1);
}

TEST_CASE("A planned message without text fails without calling TikTok", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = plant_action(env, "send_message", "O-1", {{"buyer_user_id", "buyer-1"}});
    const auto calls_before = env.shop->calls().size();
    send(env, parts.messages, a);
    const auto row = action_now(env, a.id);
    CHECK(row.state == "failed");
    CHECK(row.reason == "planned message has no buyer or no text");
    CHECK(env.shop->calls().size() == calls_before);
}

TEST_CASE("A refused token whose refresh fails for now defers the message, and the next try sends it once", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    // TikTok expires the token early (105002 on the send), and the refresh
    // meets an internal error once: no fresh token, nothing was sent.
    REQUIRE(env.shop->expire_access_tokens() == 1);
    env.control("POST", "/control/faults", {{"path", "/api/v2/token/refresh"}, {"code", 36009003}, {"http_status", 500}, {"count", 1}});
    send(env, parts.messages, a);

    auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK_THAT(row.reason, Catch::Contains("refused the access token") && Catch::Contains("105002") &&
                               Catch::Contains("nothing was sent"));
    CHECK(row.not_before > env.now);
    CHECK(row.attempts == a.attempts);   // nothing was sent: waiting for a token uses up no attempt
    CHECK(env.shop_messages().empty());
    CHECK(env.store.reviews(false, 10).empty());
    CHECK(env.tokens->state() == "authorized");

    row = send_when_due(env, parts.messages, row);
    CHECK(row.state == "done");
    CHECK(env.shop_messages().size() == 1);
}

TEST_CASE("TikTok's refusal for the day's customer-service quota defers the message to 00:00 UTC without using an attempt", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    // TikTok's count ran ahead of orderflow's (other apps of the shop use the quota too).
    env.control("POST", "/control/settings", {{"cs_daily_quota", 0}});
    send(env, parts.messages, a);

    const auto row = action_now(env, a.id);
    CHECK(row.state == "deferred");
    CHECK_THAT(row.reason, Catch::Contains("45101004"));
    CHECK(row.not_before == (env.now / 86400 + 1) * 86400);
    CHECK(row.attempts == a.attempts);
    CHECK(env.shop_messages().empty());
}

TEST_CASE("A request timeout behind TikTok's gateway (36009007) leaves the message unknown for the reconciler", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    env.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations/"}, {"code", 36009007}, {"http_status", 504},
                                            {"message", "Request timeout"}, {"count", 1}});
    send(env, parts.messages, a);

    auto row = action_now(env, a.id);
    CHECK(row.state == "unknown");
    CHECK_THAT(row.reason, Catch::StartsWith("outcome unknown") && Catch::Contains("36009007"));
    CHECK(env.store.due_actions(env.now + 86400, 10).empty());   // not sent again blindly

    // The reconciler reads the conversation: not there, so it is planned
    // once more under the same key, and then sent once.
    env.drive([&]() -> asio::awaitable<void> { co_await parts.recon.pass(); });
    row = action_now(env, a.id);
    CHECK(row.state == "planned");
    CHECK_THAT(row.reason, Catch::StartsWith("reconciled"));
    send(env, parts.messages, row);
    CHECK(action_now(env, a.id).state == "done");
    CHECK(env.shop_messages().size() == 1);
}

TEST_CASE("may_have_acted: a lost answer or a timeout behind the gateway may have sent, a refusal did not", "[message_sender]") {
    using k = tikapi::error_kind;
    const auto err = [](k kind, int status, std::int64_t code) {
        tikapi::api_error e;
        e.kind = kind;
        e.http_status = status;
        e.code = code;
        e.request_sent = true;
        return e;
    };
    CHECK(message_sender::may_have_acted(err(k::timeout, 0, 0)));
    CHECK(message_sender::may_have_acted(err(k::connect, 0, 0)));
    CHECK(message_sender::may_have_acted(err(k::protocol, 0, 0)));
    CHECK(message_sender::may_have_acted(err(k::http_status, 504, 0)));
    CHECK(message_sender::may_have_acted(err(k::http_status, 502, 0)));
    CHECK(message_sender::may_have_acted(err(k::api, 504, 36009007)));
    CHECK_FALSE(message_sender::may_have_acted(err(k::http_status, 503, 0)));
    CHECK_FALSE(message_sender::may_have_acted(err(k::http_status, 429, 0)));
    CHECK_FALSE(message_sender::may_have_acted(err(k::api, 500, 36009003)));
    CHECK_FALSE(message_sender::may_have_acted(err(k::api, 429, 36009002)));
    CHECK_FALSE(message_sender::may_have_acted(err(k::api, 200, 45109001)));
    CHECK(message_sender::may_have_acted(err(k::decode, 200, 0)));   // an answer we cannot read
    CHECK_FALSE(message_sender::may_have_acted(err(k::tls, 0, 0)));
}

TEST_CASE("An unreadable answer after the shop sent the message leaves it unknown and the reconciler finds it sent", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    // The shop sends the message, then a gateway's HTML page comes back in
    // place of TikTok's answer, with HTTP 200.
    env.control("POST", "/control/faults/random", {{"garble_after_share", 1.0}, {"only_path", "/messages"}});
    send(env, parts.messages, a);

    auto row = action_now(env, a.id);
    CHECK(row.state == "unknown");
    CHECK_THAT(row.reason, Catch::StartsWith("outcome unknown") && Catch::Contains("unexpected response"));
    CHECK(env.shop_messages().size() == 1);   // the shop did send it
    CHECK(env.store.due_actions(env.now + 86400, 10).empty());   // not sent again blindly
    CHECK(env.store.reviews(false, 10).empty());

    // TikTok answers again: the reconciler finds the text in the conversation.
    env.control("POST", "/control/faults/random", {{"garble_after_share", 0.0}});
    env.drive([&]() -> asio::awaitable<void> { co_await parts.recon.pass(); });
    row = action_now(env, a.id);
    CHECK(row.state == "done");
    CHECK(env.shop_messages().size() == 1);
    CHECK(calls_to(env, "POST /customer_service/202309/conversations/{id}/messages") == 1);
}

// The intent ('sending') must be on stable storage before the message goes
// out (daemon/durable_commits.hpp): when the WAL cannot be synced, nothing
// is sent, and the row stays 'sending' for the reconciler.
TEST_CASE("A message whose intent cannot be synced to disk is not sent", "[message_sender]") {
    runtime_env env;
    env.authorize();
    executor_parts parts(env);
    const auto a = thanks_in_known_conversation(env);
    env.wal_sync_error = EIO;
    CHECK_THROWS_AS(send(env, parts.messages, a), storage::storage_error);
    CHECK(env.shop_messages().empty());
    CHECK(calls_to(env, "POST /customer_service/202309/conversations/{id}/messages") == 0);
    CHECK(action_now(env, a.id).state == "sending");
}

}  // namespace ORDERFLOW_TEST_FILE
