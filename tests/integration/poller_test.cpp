// The poller, the backstop for lost webhooks, end to end with the real
// binaries: status changes and buyer messages whose webhooks the sandbox
// loses are found by the next pass (within poll.interval + poll.overlap), a
// change seen by both a webhook and a poll is one event, the first start
// reads nothing before poll.start, and the cursors survive a restart. The
// sandbox's message record and the database judge; every wait is a
// condition with a deadline derived from the poll settings.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <map>
#include <set>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;
using namespace std::chrono_literals;

namespace {

// What the poll settings promise: a lost change is seen by the next pass,
// at most one interval later, and reading back `overlap` seconds covers a
// change made while a pass was running. The slack covers Get Order Detail,
// the send and this test's own polling.
struct poll_settings {
    std::chrono::seconds interval;
    std::chrono::seconds overlap;
    std::chrono::seconds slack = 4s;

    json config(const std::string& start = "now") const {
        return {{"interval", std::to_string(interval.count()) + "s"},
                {"overlap", std::to_string(overlap.count()) + "s"},
                {"start", start}};
    }
    std::chrono::milliseconds recovery_deadline() const { return interval + overlap + slack; }
};

void lose_webhooks(stack& s, double share) {
    auto r = s.control("POST", "/control/faults/random", {{"webhook_lose_share", share}});
    REQUIRE(r.status == 200);
}

struct placed_order {
    std::string id, user_id, buyer;
    std::int64_t update_time = 0;
};

// An order paid and moved to AWAITING_SHIPMENT, as a buyer and the remorse window would.
placed_order ready_to_ship(stack& s, const std::string& buyer) {
    auto o = s.create_order({{"buyer_name", buyer},
                             {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグカップ"}, {"sale_price", "1800"}}}}});
    placed_order p{o.at("id").get<std::string>(), o.at("user_id").get<std::string>(), buyer};
    s.set_status(p.id, "ON_HOLD");
    s.set_status(p.id, "AWAITING_SHIPMENT");
    p.update_time = s.control("GET", "/control/orders/" + p.id).json_body().at("update_time").get<std::int64_t>();
    return p;
}

std::string text_of(const json& m) {
    if (m.contains("text") && m["text"].is_string()) return m["text"].get<std::string>();
    return m.value("content", "");
}

std::vector<json> messages_to(stack& s, const std::string& user_id) {
    std::vector<json> out;
    for (auto& m : s.shop_messages())
        if (m.value("user_id", "") == user_id) out.push_back(m);
    return out;
}

bool each_got_one(stack& s, const std::vector<placed_order>& orders) {
    const auto all = s.shop_messages();
    for (const auto& o : orders) {
        int n = 0;
        for (const auto& m : all) n += m.value("user_id", "") == o.user_id;
        if (n != 1) return false;
    }
    return true;
}

std::vector<json> poll_done(const std::filesystem::path& log, const std::string& what) {
    std::vector<json> out;
    for (auto& l : log_lines(log, "poll_done"))
        if (l.value("what", "") == what) out.push_back(std::move(l));
    return out;
}

// Waits for `more` poll passes of `what` beyond those logged so far; returns them.
std::vector<json> next_passes(const std::filesystem::path& log, const std::string& what, std::size_t more,
                              std::chrono::milliseconds timeout) {
    const std::size_t before = poll_done(log, what).size();
    std::vector<json> all;
    REQUIRE(eventually([&] {
        all = poll_done(log, what);
        return all.size() >= before + more;
    }, timeout));
    return {all.begin() + static_cast<std::ptrdiff_t>(before), all.end()};
}

struct inbox_row {
    std::int64_t id = 0;
    std::string source, event, order_id, state, note;
    int topic = 0;
    json data;
};

std::vector<inbox_row> inbox(stack& s) {
    auto db = orderflow::storage::database::open(s.db_path());
    auto st = db.prepare("SELECT id, source, topic, event, order_id, payload, state, note FROM inbox ORDER BY id");
    std::vector<inbox_row> rows;
    while (st.step()) {
        inbox_row r;
        r.id = st.int64(0);
        r.source = st.text(1);
        r.topic = static_cast<int>(st.int64(2));
        r.event = st.text(3);
        r.order_id = st.text(4);
        json payload = json::parse(st.text(5), nullptr, false);
        r.data = payload.is_object() && payload.contains("data") ? payload["data"] : json::object();
        r.state = st.text(6);
        r.note = st.text(7);
        rows.push_back(std::move(r));
    }
    return rows;
}

std::optional<std::string> daemon_state(stack& s, const std::string& name) {
    auto db = orderflow::storage::database::open(s.db_path());
    return orderflow::storage::store(db).get_state(name);
}

// The change an order status row reports, as the daemon keys it (CANCEL is CANCELLED).
std::string status_of(const inbox_row& r) {
    std::string status = r.data.value("order_status", "");
    return status == "CANCEL" ? "CANCELLED" : status;
}

std::string rfc3339_utc(std::time_t t) {
    std::tm utc{};
    gmtime_r(&t, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buf;
}

}  // namespace

TEST_CASE("Status changes whose webhooks are lost are messaged once, found by the next poll", "[integration][poller]") {
    const poll_settings poll{2s, 5s};
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.extra_config = {{"poll", poll.config()}};
    s.start_all();
    lose_webhooks(s, 1.0);
    wait_for_log(s.daemon.log(), "poll_done");   // the poller runs and its cursors exist

    std::vector<placed_order> orders;
    for (const char* buyer : {"山田 花子", "佐藤 一郎", "鈴木 美咲"}) orders.push_back(ready_to_ship(s, buyer));

    REQUIRE(eventually([&] { return each_got_one(s, orders); }, poll.recovery_deadline()));
    for (const auto& o : orders) {
        CAPTURE(o.id);
        auto m = messages_to(s, o.user_id);
        REQUIRE(m.size() == 1);
        CHECK(text_of(m[0]) == thanks_text(o.buyer, o.id));
    }

    // Nothing came by webhook: the sandbox lost every one, and the inbox holds only polls.
    const json hooks = s.control("GET", "/control/webhooks").json_body();
    int lost = 0;
    for (const auto& w : hooks.at("webhooks")) {
        CHECK(w.at("delivered") == false);
        lost += w.at("lost").get<bool>();
    }
    CHECK(lost >= 3 * 3);   // created, ON_HOLD, AWAITING_SHIPMENT for each order
    // A pass that ran between an order's ON_HOLD and AWAITING_SHIPMENT took
    // in ON_HOLD (the order fetched for it was already ready to ship, so the
    // message went out then); the next pass takes in AWAITING_SHIPMENT.
    auto polled_statuses = [&] {
        std::set<std::string> polled;
        for (const auto& r : inbox(s))
            if (r.topic == 1) polled.insert(r.order_id + ":" + status_of(r));
        return polled;
    };
    REQUIRE(eventually([&] {
        const auto polled = polled_statuses();
        return std::all_of(orders.begin(), orders.end(), [&](const auto& o) { return polled.count(o.id + ":AWAITING_SHIPMENT") == 1; });
    }, poll.recovery_deadline()));
    const auto rows = inbox(s);
    for (const auto& r : rows) {
        CAPTURE(r.id, r.event, r.order_id);
        CHECK(r.source == "poll");
    }

    // Two more passes read the same window again (overlap > interval) and send nothing more.
    for (const auto& pass : next_passes(s.daemon.log(), "orders", 2, 2 * poll.recovery_deadline())) CHECK(pass.at("new_changes") == 0);
    for (const auto& o : orders) CHECK(messages_to(s, o.user_id).size() == 1);
    CHECK(inbox(s).size() == rows.size());
}

TEST_CASE("A change seen by a webhook and by a poll is one event and one message", "[integration][poller]") {
    const poll_settings poll{1s, 5s};
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.extra_config = {{"poll", poll.config()}};
    s.start_all();

    // Webhooks first: delivered at once, then every pass re-reads these changes (overlap 5 s).
    std::vector<placed_order> orders;
    for (const char* buyer : {"山田 花子", "佐藤 一郎", "鈴木 美咲"}) orders.push_back(ready_to_ship(s, buyer));
    REQUIRE(eventually([&] { return each_got_one(s, orders); }));
    REQUIRE(eventually([&] {
        const json hooks = s.control("GET", "/control/webhooks").json_body();
        for (const auto& w : hooks.at("webhooks"))
            if (!w.at("delivered").get<bool>()) return false;
        return true;
    }));
    for (const auto& pass : next_passes(s.daemon.log(), "orders", 2, 10s)) CHECK(pass.at("new_changes") == 0);

    // Poll first: the webhook is lost, the poll takes the change in, then the
    // same notification arrives late (a redelivery is never lost).
    lose_webhooks(s, 1.0);
    auto late = s.create_order({{"buyer_name", "高橋 健"},
                                {"status", "AWAITING_SHIPMENT"},
                                {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグカップ"}, {"sale_price", "1800"}}}}});
    placed_order fourth{late.at("id").get<std::string>(), late.at("user_id").get<std::string>(), "高橋 健"};
    orders.push_back(fourth);
    std::int64_t polled_id = 0;
    REQUIRE(eventually([&] {
        for (const auto& r : inbox(s))
            if (r.order_id == fourth.id && r.source == "poll" && status_of(r) == "AWAITING_SHIPMENT") polled_id = r.id;
        return polled_id != 0;
    }, poll.recovery_deadline()));
    lose_webhooks(s, 0.0);
    std::string notification;
    {
        const json hooks = s.control("GET", "/control/webhooks").json_body();
        for (const auto& w : hooks.at("webhooks"))
            if (w.value("order_id", "") == fourth.id && w.value("type", 0) == 1) notification = w.at("notification_id").get<std::string>();
    }
    REQUIRE_FALSE(notification.empty());
    REQUIRE(s.control("POST", "/control/webhooks/redeliver", {{"notification_id", notification}}).status == 200);
    // Stored at once; set aside when the pipeline reaches it.
    REQUIRE(eventually([&] {
        for (const auto& r : inbox(s))
            if (r.order_id == fourth.id && r.source == "webhook" && r.state != "pending") return true;
        return false;
    }));
    for (const auto& r : inbox(s))
        if (r.order_id == fourth.id && r.source == "webhook") {
            CHECK(r.state == "ignored");
            CHECK(r.note == "same change as inbox event " + std::to_string(polled_id));
        }
    REQUIRE(eventually([&] { return each_got_one(s, orders); }));

    // Each (order, status) is exactly one event that counts; every other sighting is ignored.
    std::map<std::string, int> counted, seen;
    for (const auto& r : inbox(s)) {
        if (r.topic != 1) continue;
        const std::string change = r.order_id + ":" + status_of(r);
        CAPTURE(r.id, change, r.source, r.state, r.note);
        ++seen[change];
        if (r.state == "ignored") continue;
        CHECK((r.state == "done" || r.state == "pending"));
        ++counted[change];
    }
    for (const auto& o : orders) CHECK(counted.count(o.id + ":AWAITING_SHIPMENT") == 1);
    for (const auto& [change, n] : counted) {
        CAPTURE(change);
        CHECK(n == 1);
    }
    CHECK(seen.size() == counted.size());   // no change consisting only of ignored rows
    CHECK(seen[fourth.id + ":AWAITING_SHIPMENT"] == 2);
    for (const auto& o : orders) CHECK(messages_to(s, o.user_id).size() == 1);
}

TEST_CASE("A buyer message whose webhook is lost is found by the poller and answered once", "[integration][poller]") {
    const poll_settings poll{2s, 5s};
    stack s;
    s.write_rules("10-ask.json", R"({
      "templates": { "where": { "ja": "お問い合わせありがとうございます。配送状況を確認いたします。" } },
      "rules": [ { "id": "where-is-it", "on": "message.received", "once_per": "message",
                   "if": { "message.text": { "contains": "届いていません" } },
                   "then": [ { "reply": { "template": "where" } } ] } ]
    })");
    s.extra_config = {{"poll", poll.config()}};
    s.start_all();
    lose_webhooks(s, 1.0);
    auto order = s.create_order({{"buyer_name", "伊藤 さくら"},
                                 {"status", "AWAITING_SHIPMENT"},
                                 {"line_items", {{{"seller_sku", "BAG-07"}, {"product_name", "帆布トート"}, {"sale_price", "3900"}}}}});
    const std::string user_id = order.at("user_id").get<std::string>();
    wait_for_log(s.daemon.log(), "poll_done");

    const json posted = s.control("POST", "/control/messages", {{"order_id", order.at("id")}, {"text", "荷物がまだ届いていません"}}).json_body();
    REQUIRE(posted.contains("message_id"));
    REQUIRE(eventually([&] { return messages_to(s, user_id).size() == 1; }, poll.recovery_deadline()));
    auto reply = messages_to(s, user_id)[0];
    CHECK(reply.at("conversation_id") == posted.at("conversation_id"));
    CHECK(text_of(reply) == "お問い合わせありがとうございます。配送状況を確認いたします。");

    std::vector<inbox_row> taken;
    for (auto& r : inbox(s))
        if (r.event == "message.received") taken.push_back(r);
    REQUIRE(taken.size() == 1);   // the shop's own reply is not a buyer message: not taken in
    CHECK(taken[0].source == "poll");
    CHECK(taken[0].data.value("message_id", "") == posted.at("message_id").get<std::string>());
    CHECK(taken[0].state == "done");

    // More passes read the conversation again (the reply is now its latest message): nothing more.
    for (const auto& pass : next_passes(s.daemon.log(), "messages", 2, 2 * poll.recovery_deadline())) CHECK(pass.at("new_changes") == 0);
    CHECK(messages_to(s, user_id).size() == 1);
}

TEST_CASE("On the first start with poll.start \"now\", changes made before it are never messaged", "[integration][poller]") {
    const poll_settings poll{1s, 5s};
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.extra_config = {{"poll", poll.config("now")}};
    s.start_sandbox();
    s.write_config();
    s.authorize();
    lose_webhooks(s, 1.0);
    std::vector<placed_order> before;
    for (const char* buyer : {"山田 花子", "佐藤 一郎"}) before.push_back(ready_to_ship(s, buyer));
    const std::int64_t changed = std::max(before[0].update_time, before[1].update_time);
    // The start point is in whole seconds: start once the second of the changes is over.
    REQUIRE(eventually([&] { return std::time(nullptr) > changed; }, 5s));
    s.start_daemon();

    const json started = wait_for_log(s.daemon.log(), "poll_cursor_started");
    CHECK(started.at("from").get<std::int64_t>() > changed);
    // Several passes, each reading `overlap` seconds back from the one before:
    // none may reach behind the start point.
    const auto passes = next_passes(s.daemon.log(), "orders", 3, 3 * poll.recovery_deadline());
    for (const auto& pass : poll_done(s.daemon.log(), "orders")) {
        CAPTURE(pass.dump());
        CHECK(pass.at("from").get<std::int64_t>() > changed);
        CHECK(pass.at("new_changes") == 0);
    }
    CHECK(s.shop_messages().empty());
    CHECK(inbox(s).empty());

    // A change after the start is messaged as usual.
    auto after = ready_to_ship(s, "鈴木 美咲");
    REQUIRE(eventually([&] { return messages_to(s, after.user_id).size() == 1; }, poll.recovery_deadline()));
    CHECK(s.shop_messages().size() == 1);
}

TEST_CASE("poll.start before the changes takes them in on the first start, and a restart resumes from the cursor",
          "[integration][poller]") {
    const poll_settings poll{1s, 5s};
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    const std::int64_t start_at = std::time(nullptr) - 3600;
    s.extra_config = {{"poll", poll.config(rfc3339_utc(start_at))}};
    s.start_sandbox();
    s.write_config();
    s.authorize();
    lose_webhooks(s, 1.0);
    std::vector<placed_order> orders;
    for (const char* buyer : {"山田 花子", "佐藤 一郎"}) orders.push_back(ready_to_ship(s, buyer));
    s.start_daemon();

    CHECK(wait_for_log(s.daemon.log(), "poll_cursor_started").at("from") == start_at);
    REQUIRE(eventually([&] { return each_got_one(s, orders); }, poll.recovery_deadline()));
    for (const auto& o : orders) CHECK(text_of(messages_to(s, o.user_id).at(0)) == thanks_text(o.buyer, o.id));

    // Both cursors are stored once a pass has read everything.
    REQUIRE(eventually([&] { return daemon_state(s, "poll.orders") && daemon_state(s, "poll.messages"); }, poll.recovery_deadline()));
    next_passes(s.daemon.log(), "messages", 1, poll.recovery_deadline());

    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    const std::int64_t orders_cursor = std::stoll(*daemon_state(s, "poll.orders"));
    const std::int64_t messages_cursor = std::stoll(*daemon_state(s, "poll.messages"));
    CHECK(orders_cursor > start_at);

    s.start_daemon();
    const auto resumed_orders = next_passes(s.daemon.log(), "orders", 1, poll.recovery_deadline());
    const auto resumed_messages = next_passes(s.daemon.log(), "messages", 1, poll.recovery_deadline());
    CHECK(log_lines(s.daemon.log(), "poll_cursor_started").empty());
    CHECK(resumed_orders[0].at("from").get<std::int64_t>() >= orders_cursor - poll.overlap.count());
    CHECK(resumed_messages[0].at("from").get<std::int64_t>() >= messages_cursor - poll.overlap.count());
    CHECK(resumed_orders[0].at("new_changes") == 0);
    for (const auto& o : orders) CHECK(messages_to(s, o.user_id).size() == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
