#include "daemon/events.hpp"

#include "storage/idempotency.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using json = nlohmann::json;

TEST_CASE("Webhook topics map to rule events, unknown topics are kept as 'unknown'", "[events]") {
    auto [type, name] = GENERATE(table<int, std::string>({
        {1, "order.status_changed"}, {3, "order.address_changed"}, {4, "package.updated"}, {6, "shop.deauthorized"},
        {7, "shop.authorization_expiring"}, {11, "order.cancellation_changed"}, {12, "order.return_changed"},
        {13, "conversation.created"}, {14, "message.received"}, {5, "unknown"}, {99, "unknown"}}));
    CHECK(daemon::event_for_topic(type) == name);
}

TEST_CASE("The inbox dedupe key is the notification id, or a content hash when it is absent", "[events]") {
    tikapi::webhook_event w;
    w.type = 1;
    w.data = {{"order_id", "576486316948490001"}, {"order_status", "UNPAID"}};
    SECTION("with tts_notification_id") {
        w.notification_id = "7327112393057371910";
        auto e = daemon::inbox_event_from_webhook(w, "{}", 100);
        CHECK(e.dedupe_key == "tts:7327112393057371910");
        CHECK(e.order_id == "576486316948490001");
        CHECK(e.event == "order.status_changed");
        CHECK(e.source == "webhook");
    }
    SECTION("without: equal content gives equal keys, different content different keys") {
        auto a = daemon::inbox_event_from_webhook(w, "{}", 100);
        auto b = daemon::inbox_event_from_webhook(w, "{ }", 200);
        w.data["order_status"] = "ON_HOLD";
        auto c = daemon::inbox_event_from_webhook(w, "{}", 100);
        CHECK(a.dedupe_key.rfind("h:", 0) == 0);
        CHECK(a.dedupe_key == b.dedupe_key);
        CHECK(a.dedupe_key != c.dedupe_key);
    }
    SECTION("without, and with the daemon's key: the keyed hash of the same content (storage/idempotency.hpp)") {
        const std::vector<unsigned char> key(32, 0x11);
        auto plain = daemon::inbox_event_from_webhook(w, "{}", 100);
        auto keyed = daemon::inbox_event_from_webhook(w, "{}", 100, key);
        CHECK(keyed.dedupe_key == "h:" + storage::keyed_hash(key, plain.dedupe_key.substr(2)));
        CHECK(keyed.dedupe_key == daemon::inbox_event_from_webhook(w, "{ }", 200, key).dedupe_key);
        CHECK(keyed.dedupe_key != daemon::inbox_event_from_webhook(w, "{}", 100, std::vector<unsigned char>(32, 0x12)).dedupe_key);
        // A package update's rows carry the same key in front (daemon/packages.hpp).
        w.type = 4;
        w.data = {{"package_id", "1152921504606846976"}, {"order_id", "576486316948490001"}, {"sc_type", "SPLIT"}};
        const auto rows = daemon::inbox_events_from_webhook(w, "{}", 100, key);
        REQUIRE_FALSE(rows.empty());
        const std::string base = daemon::inbox_event_from_webhook(w, "{}", 100, key).dedupe_key;
        for (const auto& row : rows) CHECK(row.dedupe_key.rfind(base, 0) == 0);
    }
}

TEST_CASE("The order view counts units per SKU, since line items have no quantity", "[events]") {
    tikapi::order o;
    o.id = "1";
    o.status = "AWAITING_SHIPMENT";
    o.recipient_name = "山田 花子";
    for (auto [id, sku] : {std::pair{"a", "TEA"}, std::pair{"b", "TEA"}, std::pair{"c", "MUG"}}) {
        tikapi::line_item li;
        li.id = id;
        li.seller_sku = sku;
        o.line_items.push_back(li);
    }
    auto v = daemon::order_view(o);
    CHECK(v["buyer_name"] == "山田 花子");
    CHECK(v["item_count"] == 3);
    CHECK(v["sku_counts"]["TEA"] == 2);
    CHECK(v["sku_counts"]["MUG"] == 1);
    CHECK(v["line_items"].size() == 3);
}

TEST_CASE("An unpaid order's paid_time is missing so exists false holds and a date refuses to render", "[events]") {
    tikapi::order o;
    o.id = "1";
    o.status = "UNPAID";
    o.recipient_name = "山田 花子";
    auto rules = orderflow::rules::load_text(R"({"templates": {"paid": "{{order.paid_time | date}} に確認しました"},
        "rules": [{"id": "unpaid", "on": "order.status_changed", "if": {"order.paid_time": {"exists": false}}, "then": [{"tag": "unpaid"}]},
                  {"id": "paid", "on": "order.status_changed", "then": [{"send_message": {"template": "paid"}}]}]})",
                                             "t.json");
    REQUIRE(rules.ok());
    orderflow::rules::context ctx;
    ctx.event = "order.status_changed";
    ctx.event_id = "e1";
    ctx.order = daemon::order_view(o);
    CHECK(ctx.order["paid_time"].is_null());
    auto unpaid = orderflow::rules::evaluate(*rules.rules, ctx);
    CHECK(unpaid.matched_rules == std::vector<std::string>{"unpaid", "paid"});
    REQUIRE(unpaid.actions.size() == 2);
    CHECK(unpaid.actions[1].error == "missing value for order.paid_time");

    o.paid_time = 1700000100;
    ctx.order = daemon::order_view(o);
    CHECK(ctx.order["paid_time"] == 1700000100);
    auto paid = orderflow::rules::evaluate(*rules.rules, ctx);
    CHECK(paid.matched_rules == std::vector<std::string>{"paid"});
}

TEST_CASE("Ids above INT64_MAX keep their digits", "[events]") {
    tikapi::webhook_event w;
    w.type = 1;
    w.notification_id = "n-1";
    w.data = json::parse(R"({"order_id": 18446744073709551615, "order_status": "AWAITING_SHIPMENT"})");
    REQUIRE(w.data["order_id"].is_number_unsigned());
    auto e = daemon::inbox_event_from_webhook(w, "{}", 100);
    CHECK(e.order_id == "18446744073709551615");
    CHECK(e.change_key == "order:18446744073709551615:AWAITING_SHIPMENT");
    w.data["order_id"] = 9223372036854775808ULL;
    CHECK(daemon::inbox_event_from_webhook(w, "{}", 100).order_id == "9223372036854775808");
    w.data["order_id"] = 576486316948490001LL;
    CHECK(daemon::inbox_event_from_webhook(w, "{}", 100).order_id == "576486316948490001");
    json message = {{"message_id", 18446744073709551615ULL}, {"conversation_id", "c1"}, {"type", "TEXT"}, {"content", "{}"}};
    CHECK(daemon::message_view(message)["id"] == "18446744073709551615");
}

TEST_CASE("A NEW_MESSAGE webhook's JSON-string content is decoded into message.text", "[events]") {
    json data = {{"message_id", "m1"}, {"conversation_id", "c1"}, {"type", "TEXT"}, {"content", "{\"content\":\"届いていません\"}"},
                 {"create_time", 1700000000}, {"sender", {{"im_user_id", "u"}, {"role", "BUYER"}}}};
    auto m = daemon::message_view(data);
    CHECK(m["text"] == "届いていません");
    CHECK(m["sender_role"] == "BUYER");
    CHECK(m["conversation_id"] == "c1");
    SECTION("content that is not JSON gives empty text, not a crash") {
        data["content"] = "{not json";
        CHECK(daemon::message_view(data)["text"] == "");
    }
    SECTION("content nested deeper than the JSON depth limit gives empty text") {
        data["content"] = R"({"content":"hi","x":)" + std::string(70'000, '[') + std::string(70'000, ']') + "}";
        CHECK(daemon::message_view(data)["text"] == "");
    }
    SECTION("data without a message id is not a message") { CHECK(daemon::message_view(json::object()).is_null()); }
}

TEST_CASE("A webhook and a poll that see the same change share a change key", "[events]") {
    tikapi::webhook_event w;
    w.type = 1;
    w.notification_id = "7327112393057371910";
    w.data = {{"order_id", "576486316948490001"}, {"order_status", "CANCEL"}, {"update_time", 1700000000}};
    auto hook = daemon::inbox_event_from_webhook(w, "{}", 100);
    CHECK(hook.change_key == "order:576486316948490001:CANCELLED");

    tikapi::order o;
    o.id = "576486316948490001";
    o.status = "CANCELLED";
    o.update_time = 1700000000;
    auto poll = daemon::inbox_event_from_polled_order(o, 200);
    CHECK(poll.change_key == hook.change_key);
    CHECK(poll.source == "poll");
    CHECK(poll.event == "order.status_changed");
    CHECK(poll.dedupe_key == "poll:order:576486316948490001:CANCELLED");
    auto payload = json::parse(poll.payload);
    CHECK(payload["data"]["order_status"] == "CANCELLED");
    CHECK(payload["data"]["update_time"] == 1700000000);

    SECTION("messages are keyed by their id; other topics have no change key") {
        w.type = 14;
        w.data = {{"message_id", "7494560109732334854"}, {"conversation_id", "c1"}};
        CHECK(daemon::inbox_event_from_webhook(w, "{}", 100).change_key == "msg:7494560109732334854");
        w.type = 3;
        w.data = {{"order_id", "576486316948490001"}};
        CHECK(daemon::inbox_event_from_webhook(w, "{}", 100).change_key.empty());
    }
}

TEST_CASE("A rule context stored for replay reads back as the same context", "[events]") {
    orderflow::rules::context ctx;
    ctx.order = {{"id", "1"}, {"status", "AWAITING_SHIPMENT"}};
    ctx.previous_order = {{"id", "1"}, {"status", "ON_HOLD"}};
    ctx.message = {{"text", "hi"}};
    ctx.event_data = {{"type", 1}};
    ctx.now = 1790000000;
    ctx.utc_offset = 32400;
    ctx.default_locale = "en";
    orderflow::storage::event_row e;
    e.event = "order.status_changed";
    e.dedupe_key = "k1";
    const auto back = orderflow::daemon::context_from_json(nlohmann::json::parse(orderflow::daemon::context_json(ctx).dump()), e, "ja");
    CHECK(back.order == ctx.order);
    CHECK(back.previous_order == ctx.previous_order);
    CHECK(back.message == ctx.message);
    CHECK(back.event_data == ctx.event_data);
    CHECK(back.now == ctx.now);
    CHECK(back.utc_offset == ctx.utc_offset);
    CHECK(back.default_locale == "en");
    CHECK(back.event == "order.status_changed");
    CHECK(back.event_id == "k1");
    // An older row without these fields takes the defaults given.
    e.finished_at = 42;
    const auto old = orderflow::daemon::context_from_json(nlohmann::json::object(), e, "ja");
    CHECK(old.now == 42);
    CHECK(old.default_locale == "ja");
}

}  // namespace ORDERFLOW_TEST_FILE
