// A buyer's requests, as staff answer them with orderflowctl against the
// running daemon (over its admin socket): export everything held about
// them, forget it (no byte left in the database file or its WAL), and a
// redelivered webhook afterwards sends nothing. The audit log tells who did
// what. A backup taken during a burst of webhooks is whole, and a daemon
// started on it sends nothing twice.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <ctime>
#include <set>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

const char* privacy_rules = R"({
  "templates": {
    "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" },
    "noted": { "ja": "ご連絡ありがとうございます。担当者が確認いたします。" }
  },
  "rules": [
    { "id": "thanks", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "send_message": { "template": "thanks" } } ] },
    { "id": "noted", "on": "message.received", "once_per": "message", "if": { "message.text": { "contains": "住所" } },
      "then": [ { "send_message": { "template": "noted" } } ] }
  ]
})";

// A message when an order ships in parts: the pipeline fetches the order
// for every package update (a rule listens to package.updated).
const char* parts_rules = R"({
  "templates": { "parts": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} は分けてお届けします。" } },
  "rules": [
    { "id": "parts", "on": "package.updated", "if": { "event.sc_type": { "eq": "SPLIT" } },
      "then": [ { "send_message": { "template": "parts" } } ] }
  ]
})";

// The sandbox's Get Order Detail calls so far.
std::size_t order_fetches(stack& s) {
    const json calls = s.control("GET", "/control/calls?path=/order/202309/orders").json_body();
    std::size_t n = 0;
    for (const auto& c : calls.at("calls")) n += c.at("path") == "/order/202309/orders";
    return n;
}

std::int64_t inbox_rows(stack& s) {
    auto db = orderflow::storage::database::open(s.db_path());
    auto st = db.prepare("SELECT count(*) FROM inbox");
    REQUIRE(st.step());
    return st.int64(0);
}

bool order_cached(stack& s, const std::string& order) {
    auto db = orderflow::storage::database::open(s.db_path());
    return orderflow::storage::store(db).get_order(order).has_value();
}

// TikTok dates a change to the second, and a change in a forget's own
// second counts as made before it (docs/privacy.md, "Forget"): a test's
// change meant to come after a forget waits for the next second.
void next_second() {
    const std::time_t now = std::time(nullptr);
    while (std::time(nullptr) <= now) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

// docs/privacy.md, "Kept, so that nothing is ever sent twice": a package
// webhook's rows are keyed by the package and the order, so a forget hashes
// their keys; TikTok delivering it again must still be the duplicate it is,
// without privacy.suppress_forgotten too.
TEST_CASE("Without suppression a package webhook redelivered after a forget is a duplicate and nothing is fetched or cached",
          "[integration][privacy]") {
    stack s;
    s.extra_config = {{"poll", {{"enabled", false}}}};
    s.write_rules("10-parts.json", parts_rules);
    s.start_all();
    const std::string name = "森 さくら";
    const json placed = s.create_order({{"buyer_name", name}, {"status", "AWAITING_SHIPMENT"},
                                        {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "900"}},
                                                        {{"seller_sku", "VASE-3"}, {"product_name", "花瓶"}, {"sale_price", "3200"}}}}});
    const std::string order = placed.at("id").get<std::string>();
    REQUIRE(s.control("POST", "/control/orders/" + order + "/split", json::object()).status == 200);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    std::string notification;
    const json hooks = s.control("GET", "/control/webhooks").json_body();   // named: the loop must not outlive it
    for (const auto& w : hooks.at("webhooks"))
        if (w.value("type", 0) == 4 && w.value("delivered", false)) notification = w.at("notification_id").get<std::string>();
    REQUIRE_FALSE(notification.empty());

    const auto forgot = ctl(s, {"buyer", "forget", "--order", order, "--by", "privacy-desk"});
    INFO(forgot.output);
    REQUIRE(forgot.exit_code == 0);
    CHECK_THAT(forgot.output, Catch::Contains("no suppression entry"));
    REQUIRE_FALSE(order_cached(s, order));
    const auto rows = inbox_rows(s);
    const auto fetches = order_fetches(s);
    const auto duplicates = log_lines(s.daemon.log(), "webhook_duplicate").size();

    REQUIRE(s.control("POST", "/control/webhooks/redeliver", {{"notification_id", notification}}).status == 200);
    REQUIRE(eventually([&] { return log_lines(s.daemon.log(), "webhook_duplicate").size() > duplicates; }));
    CHECK(inbox_rows(s) == rows);   // acknowledged, nothing stored: nothing for the pipeline to fetch
    CHECK(order_fetches(s) == fetches);
    CHECK_FALSE(order_cached(s, order));
    CHECK(read_file(s.db_path()).find(name) == std::string::npos);
    CHECK(s.shop_messages().size() == 1);

    // A new change of the order after the forget is handled as anyone's (the default).
    next_second();
    s.set_status(order, "AWAITING_COLLECTION");
    CHECK(eventually([&] { return order_cached(s, order); }));
}

// A buyer asks to be forgotten on day 100: the purge took their personal
// data after 90 days, and must have taken their order ids out of what it
// keeps (keys, audit entries) too; the forget says so truthfully.
TEST_CASE("After the 90-day purge no id of the buyer is left and forget by buyer says so truthfully", "[integration][privacy][retention]") {
    stack s;
    // The days pass in the database only: the sandbox's order changed
    // minutes ago, and a poll's look back would read it in again.
    s.extra_config = {{"poll", {{"enabled", false}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const std::string name = "石井 翼";
    const json placed = s.create_order({{"buyer_name", name}, {"line_items", {{{"seller_sku", "BAG-2"}, {"product_name", "鞄"}, {"sale_price", "5400"}}}}});
    const std::string order = placed.at("id").get<std::string>(), user = placed.at("user_id").get<std::string>();
    s.set_status(order, "ON_HOLD");
    s.set_status(order, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    const std::string conversation = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        return orderflow::storage::store(db).conversation_for(user).value_or("");
    }();
    REQUIRE_FALSE(conversation.empty());
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    {
        // 100 days pass.
        auto db = orderflow::storage::database::open(s.db_path());
        db.exec(R"sql(
            UPDATE inbox SET received_at = received_at - 8640000, finished_at = CASE WHEN finished_at > 0 THEN finished_at - 8640000 ELSE 0 END;
            UPDATE outbox SET created_at = created_at - 8640000, updated_at = updated_at - 8640000;
            UPDATE orders SET updated_at = updated_at - 8640000;
            UPDATE conversations SET updated_at = updated_at - 8640000;
            UPDATE order_tags SET created_at = created_at - 8640000;
            UPDATE audit_log SET at = at - 8640000;
        )sql");
    }
    s.start_daemon();   // purges at start
    const json purged = wait_for_log(s.daemon.log(), "retention_purged");
    CHECK(purged.at("ids_hashed").get<int>() >= 2);

    const auto forgot = ctl(s, {"buyer", "forget", "--buyer", user, "--by", "privacy-desk"});
    INFO(forgot.output);
    REQUIRE(forgot.exit_code == 0);
    CHECK_THAT(forgot.output, Catch::StartsWith("nothing left that names this buyer"));
    CHECK_THAT(forgot.output, Catch::Contains("older data: the retention purge of"));
    const std::string disk = read_file(s.db_path()) + read_file(s.dir / "orderflow.db-wal");
    for (const std::string& trace : {name, user, order, conversation, thanks_text(name, order)}) {
        INFO("a trace of the buyer after the purge: " << trace);
        CHECK(disk.find(trace) == std::string::npos);
    }
    // Who did what is still on record, found by the order id.
    CHECK_THAT(ctl(s, {"audit", "--order", order}).output, Catch::Contains("send_message"));
}

TEST_CASE("Staff export a buyer's data, forget it without a trace in the database, and a redelivery sends nothing",
          "[integration][privacy]") {
    stack s;
    // The poller would read the order back in (it is TikTok's, not the
    // buyer's request to the shop); the webhooks are the test here.
    s.extra_config = {{"poll", {{"enabled", false}}}, {"privacy", {{"suppress_forgotten", true}}}};
    s.write_rules("10-privacy.json", privacy_rules);
    s.start_all();

    const std::string name = "森 さくら", asked = "住所を変更したいです、横浜市中区山下町1-1";
    const json placed = s.create_order({{"buyer_name", name}, {"line_items", {{{"seller_sku", "VASE-3"}, {"product_name", "花瓶"}, {"sale_price", "3200"}}}}});
    const std::string order = placed.at("id").get<std::string>(), user = placed.at("user_id").get<std::string>();
    // Someone else's order, which must come through untouched.
    const std::string other_name = "林 大輔";
    const json other = s.create_order({{"buyer_name", other_name}, {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}});
    for (const auto& id : {order, other.at("id").get<std::string>()}) {
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
    }
    REQUIRE(s.control("POST", "/control/messages", {{"order_id", order}, {"text", asked}}).status == 200);
    REQUIRE(eventually([&] { return s.shop_messages().size() == 3; }));

    // The audit log, by order, before anything is erased.
    const auto by_order = ctl(s, {"audit", "--order", order});
    CHECK(by_order.exit_code == 0);
    CHECK_THAT(by_order.output, Catch::Contains("send_message"));

    // Export: one JSON document with their order, messages and what was sent.
    const auto exported = ctl(s, {"buyer", "export", "--order", order, "--by", "privacy-officer"});
    REQUIRE(exported.exit_code == 0);
    const json doc = json::parse(exported.output);
    CHECK(doc.at("buyer").at("buyer_user_id") == user);
    REQUIRE(doc.at("orders").size() == 1);
    CHECK(doc["orders"][0]["order"]["buyer_name"] == name);
    REQUIRE(doc.at("conversations").size() == 1);
    const std::string conversation = doc["conversations"][0]["conversation_id"].get<std::string>();
    std::string texts;
    for (const auto& a : doc.at("actions")) texts += a.at("what").value("text", "") + "\n";
    CHECK_THAT(texts, Catch::Contains(thanks_text(name, order)));
    CHECK_THAT(texts, Catch::Contains("担当者が確認いたします"));
    CHECK_THAT(doc.at("events").dump(), Catch::Contains("住所を変更したいです"));
    CHECK_THAT(exported.output, !Catch::Contains(other_name));
    // The same buyer by their conversation.
    const json by_conversation = json::parse(ctl(s, {"buyer", "export", "--conversation", conversation}).output);
    CHECK(by_conversation.at("buyer").at("order_ids") == json::array({order}));

    // Correction: TikTok's order changed while its webhook was lost; a
    // refresh replaces the cached copy with TikTok's.
    REQUIRE(s.control("POST", "/control/faults/random", {{"webhook_lose_share", 1.0}}).status == 200);
    s.set_status(order, "AWAITING_COLLECTION");
    const auto cached_status = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        return orderflow::storage::store(db).get_order(order).value().status;
    };
    CHECK(cached_status() == "AWAITING_SHIPMENT");
    const auto refreshed = ctl(s, {"buyer", "refresh", "--conversation", conversation});
    CHECK(refreshed.exit_code == 0);
    CHECK_THAT(refreshed.output, Catch::Contains("replaced 1 cached order(s)"));
    CHECK(cached_status() == "AWAITING_COLLECTION");
    REQUIRE(s.control("POST", "/control/faults/random", {{"webhook_lose_share", 0.0}}).status == 200);
    // Staff correct the order's tags; who did is on record.
    CHECK(ctl(s, {"order", "tag", order, "gift-wrap", "--by", "hanako"}).exit_code == 0);
    {
        auto db = orderflow::storage::database::open(s.db_path());
        CHECK(orderflow::storage::store(db).tags(order) == std::vector<std::string>{"gift-wrap"});
    }
    // Everything on record about the buyer, recent entries only.
    const auto about = ctl(s, {"audit", "--buyer", user, "--since", "1h"});
    CHECK(about.exit_code == 0);
    for (const char* action : {"send_message", "buyer.export", "buyer.refresh", "order.tag"}) CHECK_THAT(about.output, Catch::Contains(action));
    CHECK_THAT(about.output, Catch::Contains("hanako"));
    CHECK_THAT(ctl(s, {"audit", "--buyer", user, "--since", "2099-01-01T00:00:00Z"}).output, Catch::Contains("no audit entries match"));

    // Forget, through the running daemon.
    const auto forgot = ctl(s, {"buyer", "forget", "--buyer", user, "--by", "privacy-officer"});
    INFO(forgot.output);
    REQUIRE(forgot.exit_code == 0);
    CHECK_THAT(forgot.output, Catch::Contains("erased the buyer's data: 1 cached order(s)"));
    CHECK_THAT(forgot.output, Catch::Contains("suppression"));
    const std::string disk = read_file(s.db_path()) + read_file(s.dir / "orderflow.db-wal");
    for (const std::string& trace : {name, user, order, conversation, std::string("住所を変更したいです"), std::string("横浜市中区"),
                                     thanks_text(name, order)}) {
        INFO("a trace of the forgotten buyer in the database files: " << trace);
        CHECK(disk.find(trace) == std::string::npos);
    }
    CHECK(disk.find(other_name) != std::string::npos);

    // TikTok redelivers the order's webhook: nothing is sent.
    std::string notification;
    const json hooks = s.control("GET", "/control/webhooks").json_body();
    for (const auto& w : hooks.at("webhooks"))
        if (w.value("order_id", "") == order && w.value("type", 0) == 1 && w.value("delivered", false))
            notification = w.at("notification_id").get<std::string>();
    REQUIRE_FALSE(notification.empty());
    REQUIRE(s.control("POST", "/control/webhooks/redeliver", {{"notification_id", notification}}).status == 200);
    wait_for_log(s.daemon.log(), "webhook_duplicate");
    // A new change of the forgotten order is set aside unread.
    s.set_status(order, "IN_TRANSIT");
    wait_for_log(s.daemon.log(), "event_set_aside");
    CHECK(s.shop_messages().size() == 3);
    {
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        CHECK_FALSE(store.get_order(order).has_value());
        for (const auto& e : store.recent_events(100)) {
            INFO(e.dedupe_key << " " << e.payload);
            CHECK(e.payload.find(order) == std::string::npos);
        }
    }

    // The audit log tells who exported and who forgot, with counts, not content.
    const auto audit = ctl(s, {"audit", "--action", "buyer"});
    CHECK(audit.exit_code == 0);
    CHECK_THAT(audit.output, Catch::Contains("buyer.export"));
    CHECK_THAT(audit.output, Catch::Contains("buyer.forget"));
    CHECK_THAT(audit.output, Catch::Contains("privacy-officer"));
    CHECK_THAT(audit.output, !Catch::Contains(user));
    const auto as_json = ctl(s, {"audit", "--action", "buyer.forget", "--json"});
    REQUIRE(as_json.exit_code == 0);
    const json line = json::parse(as_json.output.substr(0, as_json.output.find('\n')));
    CHECK(line.at("detail").at("orders") == 1);
    // A bad flag combination is a usage error, not a guess.
    CHECK(ctl(s, {"buyer", "export", "--order", order, "--buyer", user}).exit_code == 2);
}

TEST_CASE("A backup taken during a burst of webhooks is whole, and a daemon started on it sends nothing twice",
          "[integration][privacy][backup]") {
    stack s;
    // The poller stays on: after the restore it re-reads the changes made
    // since the backup, and the restored daemon must not message them again.
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    std::vector<std::string> orders;
    for (int i = 0; i < 20; ++i)
        orders.push_back(s.create_order({{"buyer_name", "客 " + std::to_string(i)},
                                         {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}})
                             .at("id").get<std::string>());
    const auto backup = s.dir / "nightly.db";
    std::thread burst([&] {
        for (const auto& id : orders) {
            s.set_status(id, "ON_HOLD");
            s.set_status(id, "AWAITING_SHIPMENT");
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(150));   // mid-burst
    const auto taken = ctl(s, {"backup", backup.string()});
    burst.join();
    INFO(taken.output);
    REQUIRE(taken.exit_code == 0);
    CHECK_THAT(taken.output, Catch::Contains("integrity checked"));
    CHECK(ctl(s, {"backup", backup.string()}).exit_code == 1);   // never overwritten
    REQUIRE(eventually([&] { return s.shop_messages().size() == orders.size(); }, std::chrono::seconds(60)));
    CHECK_THAT(ctl(s, {"audit", "--action", "backup"}).output, Catch::Contains("nightly.db"));

    // Restore: the daemon stops, its database is replaced by the backup, it starts again.
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    {
        auto copy = orderflow::storage::database::open(backup);
        auto check = copy.prepare("PRAGMA integrity_check");
        REQUIRE(check.step());
        CHECK(check.text(0) == "ok");
    }
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(s.db_path().string() + suffix);
    std::filesystem::copy_file(backup, s.db_path());
    s.start_daemon();
    // Every order is settled: its message done (reconciled, or sent if it
    // never went out), and each buyer has exactly one.
    REQUIRE(eventually([&] {
        auto db = orderflow::storage::database::open(s.db_path());
        auto counts = orderflow::storage::store(db).counts();
        return counts["inbox"].value("pending", 0) == 0 && counts["outbox"].value("planned", 0) == 0 &&
               counts["outbox"].value("sending", 0) == 0 && counts["outbox"].value("unknown", 0) == 0 &&
               counts["outbox"].value("deferred", 0) == 0;
    }, std::chrono::seconds(60)));
    std::map<std::string, int> per_buyer;
    for (const auto& m : s.shop_messages()) ++per_buyer[m.value("text", "")];
    CHECK(per_buyer.size() == orders.size());
    for (const auto& [text, n] : per_buyer) {
        INFO(text);
        CHECK(n == 1);
    }
}

// docs/operations.md, "Backups": a forget made after the backup that is
// restored is not lost. The forget ledger beside the database names the
// buyer only by keyed hashes; the daemon started on the restored copy
// forgets them again before it processes anything, and puts their
// suppression entries back.
TEST_CASE("A database restored from a backup taken before a forget forgets the buyer again when the daemon starts on it",
          "[integration][privacy][backup]") {
    stack s;
    s.extra_config = {{"poll", {{"enabled", false}}}, {"privacy", {{"suppress_forgotten", true}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const std::string name = "森 さくら", other_name = "林 大輔";
    const json placed = s.create_order({{"buyer_name", name}, {"line_items", {{{"seller_sku", "VASE-3"}, {"product_name", "花瓶"}, {"sale_price", "3200"}}}}});
    const json other = s.create_order({{"buyer_name", other_name}, {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}});
    const std::string order = placed.at("id").get<std::string>(), user = placed.at("user_id").get<std::string>();
    for (const auto& id : {order, other.at("id").get<std::string>()}) {
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
    }
    REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
    const auto backup = s.dir / "nightly.db";
    REQUIRE(ctl(s, {"backup", backup.string()}).exit_code == 0);

    const auto forgot = ctl(s, {"buyer", "forget", "--order", order, "--by", "privacy-desk"});
    INFO(forgot.output);
    REQUIRE(forgot.exit_code == 0);
    CHECK_THAT(forgot.output, Catch::Contains("recorded in the forget ledger (orderflow.db.forgets, record 1)"));
    const auto ledger = std::filesystem::path(s.db_path().string() + ".forgets");
    REQUIRE(std::filesystem::exists(ledger));
    CHECK((std::filesystem::status(ledger).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    for (const std::string& trace : {name, user, order}) CHECK(read_file(ledger).find(trace) == std::string::npos);

    // Restore the backup taken before the forget.
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(s.db_path().string() + suffix);
    std::filesystem::copy_file(backup, s.db_path());
    REQUIRE(read_file(s.db_path()).find(name) != std::string::npos);   // she is back in the copy
    s.start_daemon();
    const json applied = wait_for_log(s.daemon.log(), "forgets_applied_again");
    CHECK(applied.at("records") == 1);
    CHECK(applied.at("found") == 1);
    CHECK(applied.at("suppressed").get<int>() >= 1);
    const std::string disk = read_file(s.db_path()) + read_file(s.dir / "orderflow.db-wal");
    for (const std::string& trace : {name, user, order, thanks_text(name, order)}) {
        INFO("a trace of the forgotten buyer in the restored database: " << trace);
        CHECK(disk.find(trace) == std::string::npos);
    }
    CHECK(disk.find(other_name) != std::string::npos);
    CHECK_THAT(ctl(s, {"audit", "--action", "buyer.forget"}).output, Catch::Contains("forget ledger (applied again)"));

    // Her suppression is back: a later change of her order is set aside unread, nothing is sent.
    s.set_status(order, "AWAITING_COLLECTION");
    CHECK(eventually([&] { return !log_lines(s.daemon.log(), "event_set_aside").empty(); }));
    CHECK_FALSE(order_cached(s, order));
    CHECK(s.shop_messages().size() == 2);
    // A second start has nothing left to apply.
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    s.start_daemon();
    wait_for_log(s.daemon.log(), "daemon_ready");
    CHECK(log_lines(s.daemon.log(), "forgets_applied_again").empty());
}

// Without privacy.suppress_forgotten, a change from before a forget that
// TikTok reports again must not bring the buyer back: the poll reads the
// last `overlap` again after every forget, and a database restored from a
// backup taken before her order polls from its older cursors.
TEST_CASE("Without suppression a change from before a forget that the poll reads again is set aside, also in a restored backup",
          "[integration][privacy][backup]") {
    stack s;
    s.extra_config = {{"poll", {{"interval", "1s"}, {"overlap", "1h"}, {"start", "now"}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const std::string name = "森 さくら", other_name = "林 大輔";
    const json other = s.create_order({{"buyer_name", other_name}, {"line_items", {{{"seller_sku", "CUP-1"}, {"product_name", "湯呑み"}, {"sale_price", "900"}}}}});
    s.set_status(other.at("id").get<std::string>(), "ON_HOLD");
    s.set_status(other.at("id").get<std::string>(), "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    const auto backup = s.dir / "before-her-order.db";
    REQUIRE(ctl(s, {"backup", backup.string()}).exit_code == 0);

    const json placed = s.create_order({{"buyer_name", name}, {"line_items", {{{"seller_sku", "VASE-3"}, {"product_name", "花瓶"}, {"sale_price", "3200"}}}}});
    const std::string order = placed.at("id").get<std::string>(), user = placed.at("user_id").get<std::string>();
    s.set_status(order, "ON_HOLD");
    s.set_status(order, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
    const auto forgot = ctl(s, {"buyer", "forget", "--order", order, "--by", "privacy-desk"});
    INFO(forgot.output);
    REQUIRE(forgot.exit_code == 0);
    CHECK_THAT(forgot.output, Catch::Contains("a change from before this forget that TikTok reports again is set aside unread"));
    const auto no_trace_of_her = [&](const char* where) {
        const std::string disk = read_file(s.db_path()) + read_file(s.dir / "orderflow.db-wal");
        for (const std::string& trace : {name, user, order, thanks_text(name, order)}) {
            INFO(where << ": a trace of the forgotten buyer: " << trace);
            CHECK(disk.find(trace) == std::string::npos);
        }
    };

    // The next polls read her order's change again (within the hour's
    // overlap): counted, not stored.
    const auto polls_set_aside = [&] {
        int n = 0;
        for (const auto& line : log_lines(s.daemon.log(), "poll_done"))
            if (line.value("what", "") == "orders") n += line.value("set_aside", 0);
        return n;
    };
    REQUIRE(eventually([&] { return polls_set_aside() >= 2; }));
    CHECK_FALSE(order_cached(s, order));
    no_trace_of_her("after the polls read her change again");

    // The backup from before her order is restored: it has never heard of
    // her, and its first poll reads her change from its older cursor.
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(s.db_path().string() + suffix);
    std::filesystem::copy_file(backup, s.db_path());
    s.start_daemon();
    const json applied = wait_for_log(s.daemon.log(), "forgets_applied_again");
    CHECK(applied.at("records") == 1);
    CHECK(applied.at("found") == 0);
    REQUIRE(eventually([&] { return polls_set_aside() >= 1; }));
    CHECK_FALSE(order_cached(s, order));
    no_trace_of_her("in the restored backup after its polls");
    // TikTok delivers her order's webhook again (a retry the copy never
    // saw): stored before its 200 as every webhook is, then emptied and set
    // aside unread by the pipeline, its order not fetched.
    std::string notification;
    const json hooks = s.control("GET", "/control/webhooks").json_body();   // named: the loop must not outlive it
    for (const auto& w : hooks.at("webhooks"))
        if (w.value("order_id", "") == order && w.value("type", 0) == 1 && w.value("delivered", false))
            notification = w.at("notification_id").get<std::string>();
    REQUIRE_FALSE(notification.empty());
    REQUIRE(s.control("POST", "/control/webhooks/redeliver", {{"notification_id", notification}}).status == 200);
    const json aside = wait_for_log(s.daemon.log(), "event_set_aside");
    CHECK_THAT(aside.at("reason").get<std::string>(), Catch::Contains("before the buyer's data was erased"));
    CHECK_FALSE(order_cached(s, order));
    {
        auto db = orderflow::storage::database::open(s.db_path());
        for (const auto& e : orderflow::storage::store(db).recent_events(100)) {
            INFO(e.dedupe_key << " " << e.payload);
            CHECK(e.payload.find(order) == std::string::npos);
            CHECK(e.order_id != order);
        }
    }
    CHECK(read_file(s.db_path()).find(other_name) != std::string::npos);
    CHECK(s.shop_messages().size() == 2);

    // A change of her order made after the forget is handled as anyone's.
    next_second();
    s.set_status(order, "AWAITING_COLLECTION");
    CHECK(eventually([&] { return order_cached(s, order); }));
}

TEST_CASE("orderflowctl check warns when the database is readable by others", "[integration][privacy][permissions]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    CHECK_THAT(ctl(s, {"check"}).output, !Catch::Contains("chmod 600"));
    std::filesystem::permissions(s.db_path(), std::filesystem::perms::others_read, std::filesystem::perm_options::add);
    const auto checked = ctl(s, {"check"});
    CHECK(checked.exit_code == 0);   // a warning, not an error
    CHECK_THAT(checked.output, Catch::Contains("warning: storage.path"));
    CHECK_THAT(checked.output, Catch::Contains("chmod 600"));
}

TEST_CASE("The running daemon purges on schedule: old rows go, each table after its own period", "[integration][privacy][retention]") {
    stack s;
    s.extra_config = {{"retention", {{"interval", "1s"}, {"keys", "30d"}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const std::int64_t now = std::time(nullptr), day = 86400;
    std::int64_t old_action = 0, recent_action = 0;
    {
        // Rows from long ago, written while the daemon runs.
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        db.transaction([&] {
            auto event = [&](const std::string& key, std::int64_t at) {
                orderflow::storage::new_event e;
                e.dedupe_key = key;
                e.source = "webhook";
                e.topic = 1;
                e.event = "order.status_changed";
                e.order_id = "577000000000000040";
                e.payload = R"({"data":{"order_id":"577000000000000040","buyer":"古川 智子"}})";
                e.received_at = at;
                REQUIRE(store.add_event(e));
                store.finish_event(db.last_insert_rowid(), "done", "matched: thanks", at);
            };
            event("tts:forty-days-ago", now - 40 * day);
            event("tts:ten-days-ago", now - 10 * day);
            auto action = [&](const std::string& rule, std::int64_t at) {
                orderflow::storage::new_action a;
                a.idem_key = orderflow::storage::hash_key(rule + "|old");
                a.rule_id = rule;
                a.kind = "send_message";
                a.payload = R"({"text":"古川 智子様、ありがとうございます"})";
                a.created_at = at;
                REQUIRE(store.add_action(a));
                const auto id = db.last_insert_rowid();
                store.begin_attempt(id, at);
                store.set_action_state(id, "done", "", "{}", at);
                return id;
            };
            old_action = action("forty", now - 40 * day);
            recent_action = action("ten", now - 10 * day);
            store.add_tag("577000000000000040", "engraving", now - 40 * day);
            store.audit(now - 800 * day, "orderflowd", "send_message", "577000000000000040", {{"action_id", old_action}});
        });
    }
    const json deleted = wait_for_log(s.daemon.log(), "retention_rows_deleted");
    CHECK(deleted.at("events") == 1);
    CHECK(deleted.at("actions") == 1);
    CHECK(deleted.at("tags") == 1);
    CHECK(deleted.at("audit") == 1);
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    std::set<std::string> keys;
    for (const auto& e : store.recent_events(1000)) keys.insert(e.dedupe_key);
    CHECK_FALSE(keys.contains("tts:forty-days-ago"));
    CHECK(keys.contains("tts:ten-days-ago"));
    CHECK_FALSE(store.get_action(old_action));
    CHECK(store.get_action(recent_action));
    CHECK(store.action_history(old_action).empty());
    CHECK(store.tags("577000000000000040").empty());
    // Inside every period a row keeps its data (personal data goes after 90 days by default).
    CHECK(store.get_action(recent_action)->payload.find("古川") != std::string::npos);
}

TEST_CASE("With the daemon stopped, orderflowctl exports and forgets a buyer on the database itself", "[integration][privacy]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const std::string name = "石井 翼";
    const json placed = s.create_order({{"buyer_name", name}, {"line_items", {{{"seller_sku", "BAG-2"}, {"product_name", "鞄"}, {"sale_price", "5400"}}}}});
    const std::string order = placed.at("id").get<std::string>();
    s.set_status(order, "ON_HOLD");
    s.set_status(order, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);

    const auto exported = ctl(s, {"buyer", "export", "--order", order});
    REQUIRE(exported.exit_code == 0);
    CHECK(json::parse(exported.output).at("orders").at(0).at("order").at("buyer_name") == name);
    const auto forgot = ctl(s, {"buyer", "forget", "--order", order, "--by", "offline-desk"});
    INFO(forgot.output);
    REQUIRE(forgot.exit_code == 0);
    const std::string disk = read_file(s.db_path()) + read_file(s.dir / "orderflow.db-wal");
    CHECK(disk.find(name) == std::string::npos);
    CHECK(disk.find(order) == std::string::npos);
    CHECK_THAT(ctl(s, {"buyer", "refresh", "--order", order}).output, Catch::Contains("orderflowd is not running"));
    CHECK_THAT(ctl(s, {"audit", "--action", "buyer.forget"}).output, Catch::Contains("offline-desk"));
}

}  // namespace ORDERFLOW_TEST_FILE
