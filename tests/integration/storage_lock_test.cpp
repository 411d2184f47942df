// The database locked from outside (a backup tool, an operator's sqlite3
// shell left in a transaction) for longer than the daemon's 5 s busy
// timeout, while the pipeline, the executor and the notifier each have work
// in hand: every loop logs its storage failure, backs off and stays alive,
// and once the lock is gone the work is done, nothing lost and nothing
// twice. The send whose answer came back while the database refused to
// record it is reconciled with TikTok instead of being sent again.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <optional>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;
namespace fs = std::filesystem;

namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int lines_in(const fs::path& file) {
    std::ifstream in(file);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty();
    return n;
}

std::string new_order(stack& s, const std::string& buyer) {
    return s.create_order({{"buyer_name", buyer}, {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}})
        .at("id")
        .get<std::string>();
}

std::optional<orderflow::storage::action_row> thanks_action(const fs::path& db_path, const std::string& order_id) {
    auto db = orderflow::storage::database::open(db_path);
    auto rows = orderflow::storage::store(db).actions_for_order(order_id);
    if (rows.empty()) return std::nullopt;
    return rows.front();
}

std::string event_state(const fs::path& db_path, const std::string& dedupe_key) {
    auto db = orderflow::storage::database::open(db_path);
    auto st = db.prepare("SELECT state FROM inbox WHERE dedupe_key = ?1");
    st.bind(1, dedupe_key);
    return st.step() ? st.text(0) : "(none)";
}

std::string notification_state(const fs::path& db_path, const std::string& dedupe) {
    auto db = orderflow::storage::database::open(db_path);
    auto st = db.prepare("SELECT state FROM notifications WHERE dedupe = ?1");
    st.bind(1, dedupe);
    return st.step() ? st.text(0) : "(none)";
}

}  // namespace

TEST_CASE("A write lock held from outside past the busy timeout stalls each loop only until it is released, losing and doubling nothing",
          "[integration][storage]") {
    stack s;
    const fs::path staff = s.dir / "staff.jsonl";
    s.extra_config = {{"notify", {{"heartbeat", "off"},
                                  {"channels", {{"staff", {{"type", "command"}, {"min_severity", "info"},
                                                           {"command", {"/bin/sh", "-c", "tr -d '\\n' >> " + staff.string() +
                                                                                             "; echo >> " + staff.string()}}}}}}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();

    // Work that falls due while the lock is held: an order event for the
    // pipeline and a staff notification for the notifier.
    const std::string waiting_order = new_order(s, "待田 次郎");
    s.set_status(waiting_order, "ON_HOLD");
    s.set_status(waiting_order, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));   // its webhook's message
    // Planted to wait; made due just before the lock is taken.
    const std::int64_t later = unix_now() + 3600;
    {
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        orderflow::storage::new_event e;
        e.dedupe_key = "lock-test-event";
        e.source = "webhook";
        e.topic = 1;
        e.event = "order.status_changed";
        e.order_id = waiting_order;
        e.payload = json{{"type", 1}, {"tts_notification_id", "lock-test-event"}, {"shop_id", ""}, {"timestamp", unix_now()},
                         {"data", {{"order_id", waiting_order}, {"order_status", "AWAITING_SHIPMENT"}, {"update_time", unix_now()}}}}
                        .dump();
        e.received_at = unix_now();
        e.not_before = later;
        REQUIRE(store.add_event(e));
        REQUIRE(store.add_notification("staff", "lock-test-notification", 0,
                                       json{{"kind", "test"}, {"summary", "delivered once"}, {"at", unix_now()}}, unix_now()));
        db.exec("UPDATE notifications SET not_before = " + std::to_string(later) + " WHERE dedupe = 'lock-test-notification'");
    }

    // A send in flight: TikTok answers slowly, and the lock is taken once
    // the row is 'sending' (committed before the call).
    REQUIRE(s.control("POST", "/control/faults/random", {{"slow_share", 1.0}, {"slow_ms", 2500}}).status == 200);
    const std::string order = new_order(s, "錠前 花子");
    s.set_status(order, "ON_HOLD");
    s.set_status(order, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] {
        auto a = thanks_action(s.db_path(), order);
        return a && a->state == "sending";
    }));
    auto lock = orderflow::storage::database::open(s.db_path());
    const std::string due = std::to_string(unix_now() + 2);
    lock.exec("UPDATE inbox SET not_before = " + due + " WHERE dedupe_key = 'lock-test-event'");
    lock.exec("UPDATE notifications SET not_before = " + due + " WHERE dedupe = 'lock-test-notification'");
    lock.exec("BEGIN IMMEDIATE");
    REQUIRE(s.control("POST", "/control/faults/random", {{"slow_share", 0.0}}).status == 200);
    const auto locked_at = std::chrono::steady_clock::now();

    // Each loop meets the lock after waiting out the busy timeout, logs it
    // and backs off; the daemon stays up.
    for (const char* event : {"executor_storage_failed", "pipeline_storage_failed", "notifier_storage_failed"}) {
        INFO(event);
        CHECK(eventually([&] { return !log_lines(s.daemon.log(), event).empty(); }, std::chrono::seconds(60)));
    }
    CHECK(std::chrono::steady_clock::now() - locked_at >= std::chrono::seconds(5));   // the busy timeout was outlasted
    CHECK(s.daemon.running());
    CHECK(event_state(s.db_path(), "lock-test-event") == "pending");
    CHECK(notification_state(s.db_path(), "lock-test-notification") == "pending");
    CHECK(lines_in(staff) <= 1);   // delivered at most once, its outcome not yet recorded
    lock.exec("ROLLBACK");

    // The interrupted send is looked up, not sent again; the rest is done once.
    REQUIRE(eventually([&] { return thanks_action(s.db_path(), order)->state == "done"; }, std::chrono::seconds(60)));
    CHECK(thanks_action(s.db_path(), order)->result.find("\"reconciled\":\"found\"") != std::string::npos);
    REQUIRE(eventually([&] { return event_state(s.db_path(), "lock-test-event") == "done"; }, std::chrono::seconds(60)));
    REQUIRE(eventually([&] { return notification_state(s.db_path(), "lock-test-notification") == "sent"; }, std::chrono::seconds(60)));
    for (const char* event : {"executor_storage_failed_recovered", "pipeline_storage_failed_recovered", "notifier_storage_failed_recovered"}) {
        INFO(event);
        CHECK(eventually([&] { return !log_lines(s.daemon.log(), event).empty(); }));
    }
    CHECK(lines_in(staff) == 1);
    int thanks_to_order = 0, thanks_to_waiting = 0;
    for (const auto& m : s.shop_messages()) {
        thanks_to_order += m.value("text", "") == thanks_text("錠前 花子", order);
        thanks_to_waiting += m.value("text", "") == thanks_text("待田 次郎", waiting_order);
    }
    CHECK(thanks_to_order == 1);
    CHECK(thanks_to_waiting == 1);   // the planted event's change was already thanked for: once per order
    CHECK(s.daemon.running());
}

}  // namespace ORDERFLOW_TEST_FILE
