// Tests for storage/buyer_data.hpp: two buyers' data planted in every table
// that can hold it; an export of one has all of theirs and nothing of the
// other's; a forget leaves no byte of theirs in the database file or its WAL
// while the other's stays (also when their rows were written before the
// tables' pages split, and in staff's notes about them), and keeps the keys
// that stop a resend; with suppression, later events about them are
// recognised by keyed hash.
#include "storage/buyer_data.hpp"

#include "storage/conversation_links.hpp"
#include "storage/forget_ledger.hpp"

#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;
using json = nlohmann::json;

namespace {

struct buyer {
    std::string user_id, order_id, conversation_id, message_id, name, address, message, sent_text, answer, package_id;
};

const buyer hanako{"7100000000000001", "5770000000000001", "conv-hanako-0001", "msg-hanako-0001", "山田 花子",
                   "東京都港区芝公園4-2-8", "刻印は HANAKO でお願いします", "山田 花子様、ご注文ありがとうございます",
                   "HANAKO-1225-刻印", "1152000000000000071"};
const buyer ken{"7200000000000002", "5880000000000002", "conv-ken-0002", "msg-ken-0002", "佐藤 健",
                "大阪府大阪市北区梅田3-1-1", "まだ届いていません", "佐藤 健様、ご注文ありがとうございます",
                "KEN-0314-刻印", "1152000000000000082"};

const std::vector<unsigned char> key(32, 0x5a);

// TikTok's notification id of the buyer's package webhook (kept by a
// forget), and the dedupe key of its row (daemon/packages.cpp).
std::string package_notification(const buyer& b) { return hash_key("package " + b.order_id).substr(0, 19); }
std::string package_key(const buyer& b) { return "tts:" + package_notification(b) + "#" + b.package_id + "#" + b.order_id; }

std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct fixture {
    temp_dir dir;
    database db = database::open(dir / "orderflow.db");
    store s{db};
    std::int64_t now = 1'700'000'000;

    std::string everything_on_disk() {
        return read_bytes(dir / "orderflow.db") + read_bytes(dir / "orderflow.db-wal");
    }

    // Everything the daemon writes about one buyer, the way it writes it.
    void plant(const buyer& b) {
        db.transaction([&] {
            json order{{"id", b.order_id}, {"user_id", b.user_id}, {"buyer_name", b.name}, {"address", b.address},
                       {"status", "AWAITING_SHIPMENT"}};
            s.put_order({b.order_id, "AWAITING_SHIPMENT", order.dump(), now});
            s.add_tag(b.order_id, "engraving", now);

            new_event hook{"tts:" + hash_key(b.order_id).substr(0, 19), "webhook", 1, "order.status_changed", b.order_id,
                           json{{"type", 1}, {"data", {{"order_id", b.order_id}, {"order_status", "AWAITING_SHIPMENT"}}}}.dump(), now, 0,
                           "order:" + b.order_id + ":AWAITING_SHIPMENT"};
            REQUIRE(s.add_event(hook));
            const auto hook_id = db.last_insert_rowid();
            REQUIRE(s.claim_change(hook_id, hook.change_key) == hook_id);   // the pipeline took it up
            s.set_event_context(hook_id, json{{"order", order}}.dump());
            s.finish_event(hook_id, "done", "matched: thanks", now);

            // A PACKAGE_UPDATE webhook (type 4), stored as daemon/packages.cpp
            // does: one row per (package, order), keyed "tts:N#PACKAGE#ORDER".
            {
                json data{{"order_id", b.order_id}, {"package_id", b.package_id}, {"sc_type", "1"}, {"role_type", "SELLER"},
                          {"package_list", json::array({{{"package_id", b.package_id}, {"order_id_list", json::array({b.order_id})}}})}};
                new_event package{package_key(b), "webhook", 4, "package.updated", b.order_id,
                                  json{{"type", 4}, {"data", data}, {"tts_notification_id", package_notification(b)}}.dump(), now, 0, ""};
                REQUIRE(s.add_event(package));
                s.finish_event(db.last_insert_rowid(), "done", "matched: shipped", now);
            }

            new_event poll{"poll:order:" + b.order_id + ":IN_TRANSIT", "poll", 1, "order.status_changed", b.order_id,
                           json{{"type", 1}, {"data", {{"order_id", b.order_id}, {"order_status", "IN_TRANSIT"}}}}.dump(), now, 0,
                           "order:" + b.order_id + ":IN_TRANSIT"};
            REQUIRE(s.add_event(poll));

            json content{{"content", b.message}};
            new_event msg{"tts:" + hash_key(b.message_id).substr(0, 19), "webhook", 14, "message.received", "",
                          json{{"type", 14}, {"data", {{"message_id", b.message_id}, {"conversation_id", b.conversation_id},
                                                       {"content", content.dump()}, {"sender", {{"role", "BUYER"}}}}}}.dump(),
                          now, 0, "msg:" + b.message_id};
            REQUIRE(s.add_event(msg));
            const auto msg_id = db.last_insert_rowid();
            REQUIRE(s.claim_change(msg_id, msg.change_key) == msg_id);

            new_action thanks;
            thanks.idem_key = hash_key("thanks|0|order:" + b.order_id);
            thanks.rule_id = "thanks";
            thanks.kind = "send_message";
            thanks.order_id = b.order_id;
            thanks.event_id = hook_id;
            thanks.payload = json{{"text", b.sent_text}, {"buyer_user_id", b.user_id}}.dump();
            thanks.buyer_user_id = b.user_id;
            thanks.created_at = now;
            REQUIRE(s.add_action(thanks));
            const auto thanks_id = db.last_insert_rowid();
            s.begin_attempt(thanks_id, now);
            s.set_action_state(thanks_id, "done", "", json{{"message_id", "sent-" + b.order_id}, {"conversation_id", b.conversation_id}}.dump(), now);

            new_action reply;
            reply.idem_key = hash_key("reply|0|message:" + b.message_id);
            reply.rule_id = "reply";
            reply.kind = "send_message";
            reply.event_id = msg_id;
            reply.payload = json{{"text", "お問い合わせありがとうございます"}, {"conversation_id", b.conversation_id}}.dump();
            reply.created_at = now;
            REQUIRE(s.add_action(reply));

            s.put_conversation(b.user_id, b.conversation_id, now);
            // What a capture kept, and the order the buyer shared in the chat.
            set_order_attribute(db, {b.order_id, "engraving", b.answer, b.message_id, "capture-engraving", now});
            note_order_card(db, b.conversation_id, b.order_id, b.message_id, now, now);
            const auto review = s.raise_review(b.order_id, "send_failed", "warning", "could not reach " + b.name,
                                               {{"conversation_id", b.conversation_id}, {"text", b.sent_text}}, now);
            s.raise_review("", "buyer_message", "info", "buyer asks: " + b.message, {{"message", b.message}}, now,
                           "conversation:" + b.conversation_id);
            s.add_notification("staff", "review:" + std::to_string(review), review, {{"summary", "could not reach " + b.name}}, now);
            s.audit(now, "orderflowd", "create_conversation", b.order_id, {{"action_id", thanks_id}, {"conversation_id", b.conversation_id}});
            s.audit(now, "orderflowd", "send_message", b.order_id, {{"action_id", thanks_id}, {"conversation_id", b.conversation_id}});
        });
    }
};

// The strings that identify or describe one buyer.
std::vector<std::string> traces(const buyer& b) {
    return {b.user_id, b.order_id, b.conversation_id, b.message_id, b.name, b.address, b.message, b.sent_text, b.answer, b.package_id};
}

}  // namespace

TEST_CASE("A buyer is found by user, order or conversation id, and the three agree", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    for (const buyer_lookup& by : {buyer_lookup{hanako.user_id, "", ""}, buyer_lookup{"", hanako.order_id, ""},
                                   buyer_lookup{"", "", hanako.conversation_id}}) {
        const auto who = find_buyer(f.db, by);
        CHECK(who.buyer_user_id == hanako.user_id);
        CHECK(who.order_ids == std::set<std::string>{hanako.order_id});
        CHECK(who.conversation_ids == std::set<std::string>{hanako.conversation_id});
        CHECK(who.event_ids.size() == 4);
        CHECK(who.action_ids.size() == 2);
        CHECK(who.review_ids.size() == 2);
    }
    const auto nobody = find_buyer(f.db, {"9999", "", ""});
    CHECK(nobody.order_ids.empty());
    CHECK(nobody.event_ids.empty());
}

TEST_CASE("An export holds the buyer's data from every table and nothing of another buyer's", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    const json doc = export_buyer(f.db, find_buyer(f.db, {"", hanako.order_id, ""}));
    for (const char* part : {"orders", "tags", "answers", "order_cards", "events", "actions", "conversations", "reviews", "notifications", "audit"}) {
        INFO(part);
        REQUIRE(doc.contains(part));
        CHECK(!doc[part].empty());
    }
    const std::string text = doc.dump();
    for (const auto& t : traces(hanako)) {
        INFO(t);
        CHECK(text.find(t) != std::string::npos);
    }
    for (const auto& t : traces(ken)) {
        INFO(t);
        CHECK(text.find(t) == std::string::npos);
    }
    // Embedded as JSON a person can read, not as escaped strings.
    CHECK(doc["orders"][0]["order"]["buyer_name"] == hanako.name);
    CHECK(doc["actions"][0]["what"]["text"] == hanako.sent_text);
    CHECK(doc["actions"][0]["history"].size() == 3);   // planned, sending, done
    CHECK(doc["answers"][0]["value"] == hanako.answer);
    CHECK(doc["order_cards"][0]["order_id"] == hanako.order_id);
}

TEST_CASE("A forget leaves no byte of the buyer in the database file or its WAL, and keeps what stops a resend", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    {
        const std::string before = f.everything_on_disk();
        for (const auto& t : traces(hanako)) REQUIRE(before.find(t) != std::string::npos);   // the search can see them
    }
    const auto n = forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}), key, false, f.now, "hanako-request");
    CHECK(n.orders == 1);
    CHECK(n.tags == 1);
    CHECK(n.answers == 2);   // the captured engraving text and the shared order card
    CHECK(n.events == 4);
    CHECK(n.actions == 2);
    CHECK(n.conversations == 1);
    CHECK(n.reviews == 2);
    CHECK(n.notifications == 1);
    CHECK(n.audit == 2);
    CHECK(n.suppressed == 0);

    const std::string after = f.everything_on_disk();
    for (const auto& t : traces(hanako)) {
        INFO("a trace of the forgotten buyer: " << t);
        CHECK(after.find(t) == std::string::npos);
    }
    for (const auto& t : traces(ken)) {
        INFO("the other buyer's data: " << t);
        CHECK(after.find(t) != std::string::npos);
    }
    // Nothing is sent twice: the idempotency key and the webhook's dedupe key stay.
    new_action again;
    again.idem_key = hash_key("thanks|0|order:" + hanako.order_id);
    again.rule_id = "thanks";
    again.kind = "send_message";
    again.payload = "{}";
    again.created_at = f.now;
    CHECK_FALSE(f.s.add_action(again));
    new_event redelivered{"tts:" + hash_key(hanako.order_id).substr(0, 19), "webhook", 1, "order.status_changed", hanako.order_id, "{}", f.now, 0, ""};
    CHECK_FALSE(f.s.add_event(redelivered));
    // The planned reply to the buyer's message is not sent any more.
    bool skipped = false;
    for (const auto& a : f.s.recent_actions(100))
        if (a.rule_id == "reply" && a.payload == "{}") skipped = a.state == "skipped";
    CHECK(skipped);
    // The forget is in the audit log, with counts and who, without the buyer.
    const auto audit = f.s.recent_audit(1);
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["action"] == "buyer.forget");
    CHECK(audit[0]["detail"]["by"] == "hanako-request");
    CHECK(audit[0]["detail"]["events"] == 4);
    // The export now finds nothing of theirs.
    const json doc = export_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}));
    CHECK(doc["orders"].empty());
    CHECK(doc["actions"].empty());
    CHECK(doc["conversations"].empty());
}

TEST_CASE("A forget leaves no stale copy of rows written before the tables' pages split, after an earlier forget too", "[buyer_data]") {
    fixture f;
    auto secure_delete = [&] {
        auto st = f.db.prepare("PRAGMA secure_delete");
        REQUIRE(st.step());
        return st.int64(0);
    };
    CHECK(secure_delete() == 1);   // every connection, from its open, whatever SQLite's build defaults to
    // A first forget on this connection (a daemon runs for months): what is
    // written after it must still zero what it frees.
    f.plant(ken);
    forget_buyer(f.db, find_buyer(f.db, {ken.user_id, "", ""}), key, false, f.now, "ken-request");
    CHECK(secure_delete() == 1);
    // Hanako's rows go in early, into each table's first page; the other
    // buyers after her fill the tables until their first pages split. A split
    // moves the cells and, unless every write zeroes what it frees, leaves
    // their old bytes in the free space of pages a forget never rewrites.
    std::vector<buyer> others;
    for (int i = 0; i < 40; ++i) {
        if (i == 2) f.plant(hanako);
        const std::string n = std::to_string(300 + i);
        others.push_back({"7300000000000" + n, "5990000000000" + n, "conv-other-0" + n, "msg-other-0" + n, "購入者 " + n,
                          "福岡県福岡市中央区天神 " + n, "在庫はありますか " + n, "購入者 " + n + " 様、ご注文ありがとうございます",
                          "OTHER-" + n, "1163000000000000" + n});
        f.plant(others.back());
    }
    {
        // Each of these tables holds more than a page (4 KiB) of text: their first pages have split.
        for (const char* sql : {"SELECT sum(length(CAST(snapshot AS BLOB))) FROM orders",
                                "SELECT sum(length(CAST(payload || context AS BLOB))) FROM inbox",
                                "SELECT sum(length(CAST(payload || result AS BLOB))) FROM outbox",
                                "SELECT sum(length(CAST(summary || evidence AS BLOB))) FROM review"}) {
            INFO(sql);
            auto bytes = f.db.prepare(sql);
            REQUIRE(bytes.step());
            REQUIRE(bytes.int64(0) > 4096);
        }
        const std::string before = f.everything_on_disk();
        for (const auto& t : traces(hanako)) REQUIRE(before.find(t) != std::string::npos);
    }
    forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}), key, false, f.now, "hanako-request");

    const std::string after = f.everything_on_disk();
    for (const auto& t : traces(hanako)) {
        INFO("a trace of the forgotten buyer: " << t);
        CHECK(after.find(t) == std::string::npos);
    }
    for (const auto& b : {others.front(), others.back()}) {
        for (const auto& t : traces(b)) {
            INFO("another buyer's data: " << t);
            CHECK(after.find(t) != std::string::npos);
        }
    }
}

TEST_CASE("A forget erases staff's notes about the buyer, on resolved review items and in their audit entries", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    // Staff resolve every item with a note, as orderflowctl review resolve
    // does (daemon/review_cli.cpp, settle_review): the item's note and a
    // review.resolve audit entry naming the item. The buyer's message has no
    // order: only its review id ties that entry to the buyer.
    const std::string hanako_note = "called 山田 花子 at 090-1234-5678: engraving is HANAKO-1226";
    const std::string ken_note = "called 佐藤 健 at 080-8765-4321";
    auto resolve_all = [&](const buyer& b, const std::string& note) {
        std::vector<std::int64_t> ids;
        for (const auto& item : f.s.reviews(true, 100)) {
            const bool theirs = item.order_id == b.order_id || item.summary.find(b.message) != std::string::npos;
            if (!theirs) continue;
            f.db.transaction([&] {
                REQUIRE(f.s.set_review_state(item.id, "resolved", "staff-a", note, f.now));
                f.s.audit(f.now, "orderflowctl", "review.resolve", item.order_id,
                          {{"review_id", item.id}, {"by", "staff-a"}, {"peer", "uid 1000"}, {"note", note}});
            });
            ids.push_back(item.id);
        }
        return ids;
    };
    const auto hanako_reviews = resolve_all(hanako, hanako_note);
    REQUIRE(hanako_reviews.size() == 2);   // the failed send (with an order), the buyer's message (without)
    resolve_all(ken, ken_note);

    const auto who = find_buyer(f.db, {hanako.user_id, "", ""});
    // The export holds what the forget will erase: both notes and both entries.
    {
        const json doc = export_buyer(f.db, who);
        int notes = 0, entries = 0;
        for (const auto& r : doc["reviews"]) notes += r["note"] == hanako_note;
        for (const auto& a : doc["audit"])
            if (a["action"] == "review.resolve") {
                ++entries;
                CHECK(a["detail"]["note"] == hanako_note);
            }
        CHECK(notes == 2);
        CHECK(entries == 2);
        CHECK(doc.dump().find(ken_note) == std::string::npos);
    }

    const auto n = forget_buyer(f.db, who, key, false, f.now, "hanako-request");
    CHECK(n.reviews == 2);
    CHECK(n.audit == 4);   // create_conversation, send_message and the two review.resolve entries

    for (const auto id : hanako_reviews) {
        const auto item = f.s.get_review(id);
        REQUIRE(item);
        CHECK(item->state == "resolved");
        CHECK(item->resolved_by == "staff-a");   // who, kept
        CHECK(item->note == "erased at the buyer's request");
    }
    int resolve_entries = 0;
    for (const auto& a : f.s.recent_audit(100)) {
        if (a["action"] != "review.resolve") continue;
        ++resolve_entries;
        const std::string detail = a["detail"].dump();
        CHECK(detail.find(hanako_note) == std::string::npos);
        CHECK(a["actor"] == "orderflowctl");   // who and what, kept
    }
    CHECK(resolve_entries == 4);   // two of hers (reduced), two of his
    const std::string after = f.everything_on_disk();
    CHECK(after.find("090-1234-5678") == std::string::npos);
    CHECK(after.find("HANAKO-1226") == std::string::npos);
    CHECK(after.find(hanako.name) == std::string::npos);
    CHECK(after.find("080-8765-4321") != std::string::npos);   // the other buyer's notes stay
}

namespace {

// A package webhook's row as TikTok delivers it (again).
new_event package_row(const std::string& dedupe_key, const buyer& b) {
    return {dedupe_key, "webhook", 4, "package.updated", b.order_id,
            json{{"type", 4}, {"data", {{"order_id", b.order_id}, {"package_id", b.package_id}}}}.dump(), 1'700'000'000, 0, ""};
}

std::int64_t count_inbox(database& db) {
    auto st = db.prepare("SELECT count(*) FROM inbox");
    REQUIRE(st.step());
    return st.int64(0);
}

}  // namespace

TEST_CASE("A package webhook's rows lose the order and package ids in a forget and a redelivery is still recognised", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}), key, true, f.now, "staff");

    // Her package row is still there (state kept), under a keyed hash of its
    // key, after the notification's own id (TikTok's).
    int hashed = 0;
    {
        auto st = f.db.prepare("SELECT dedupe_key, state FROM inbox WHERE topic = 4 ORDER BY id");
        std::vector<std::pair<std::string, std::string>> rows;
        while (st.step()) rows.emplace_back(st.text(0), st.text(1));
        REQUIRE(rows.size() == 2);
        for (const auto& [k, state] : rows) {
            INFO(k);
            CHECK(k.find(hanako.order_id) == std::string::npos);
            CHECK(k.find(hanako.package_id) == std::string::npos);
            CHECK(state == "done");
            if (k.starts_with("tts:" + package_notification(hanako) + "#forgotten:")) ++hashed;
        }
        CHECK(rows[1].first == package_key(ken));   // the other buyer's key is untouched
    }
    CHECK(hashed == 1);

    // TikTok redelivers the package webhook: recognised as stored before,
    // not stored again.
    const auto rows_before = count_inbox(f.db);
    CHECK_FALSE(f.s.add_event(package_row(package_key(hanako), hanako)));
    CHECK(count_inbox(f.db) == rows_before);
    // Another package of hers, set aside, keeps no id in its key either.
    new_event other{"tts:7327000000000000999#1152000000000000999#" + hanako.order_id, "webhook", 4, "package.updated",
                    hanako.order_id, "{}", f.now, 0, ""};
    REQUIRE(f.s.add_event(other));
    const auto id2 = f.db.last_insert_rowid();
    f.db.transaction([&] { set_aside_event(f.db, key, id2, f.now); });
    const auto row = f.s.get_event(id2);
    REQUIRE(row);
    CHECK(row->state == "ignored");
    CHECK(row->dedupe_key.starts_with("tts:7327000000000000999#forgotten:"));
    CHECK(row->dedupe_key.find(hanako.order_id) == std::string::npos);
    // ... and its redelivery is recognised too.
    CHECK_FALSE(f.s.add_event(other));
    // A second forget (her data came back meanwhile, with a new package
    // update) meets the hashed keys already there and still succeeds.
    REQUIRE(f.s.add_event(package_row("tts:7327000000000001000#" + hanako.package_id + "#" + hanako.order_id, hanako)));
    f.s.finish_event(f.db.last_insert_rowid(), "done", "matched: shipped", f.now);
    CHECK_NOTHROW(forget_buyer(f.db, find_buyer(f.db, {"", hanako.order_id, ""}), key, true, f.now, "staff"));
    const std::string after = f.everything_on_disk();
    for (const auto& t : traces(hanako)) {
        INFO("a trace of the forgotten buyer: " << t);
        CHECK(after.find(t) == std::string::npos);
    }
}

// Without privacy.suppress_forgotten nothing of the buyer is kept to test
// later events against; a package webhook's rows had their keys hashed, so
// its redelivery must be recognised by the notification alone. A new
// notification about the order is a new event (docs/privacy.md).
TEST_CASE("Without suppression a package webhook redelivered after a forget is the duplicate it is and a new one is stored", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    // A package update that came without a notification id, keyed by its content.
    const std::string by_content = "h:" + hash_key("content of the package update") + "#" + hanako.package_id + "#" + hanako.order_id;
    REQUIRE(f.s.add_event(package_row(by_content, hanako)));
    f.s.finish_event(f.db.last_insert_rowid(), "done", "matched: shipped", f.now);
    const auto n = forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}), key, false, f.now, "staff");
    CHECK(n.suppressed == 0);

    const auto rows = count_inbox(f.db);
    for (const auto& redelivered : {package_key(hanako), by_content}) {
        INFO(redelivered);
        CHECK_FALSE(f.s.add_event(package_row(redelivered, hanako)));
    }
    CHECK(count_inbox(f.db) == rows);   // nothing stored: nothing for the pipeline to fetch or cache
    // The other buyer's redelivery is the plain duplicate it always was.
    CHECK_FALSE(f.s.add_event(package_row(package_key(ken), ken)));
    // A new notification about her order, after the forget, is a new event.
    CHECK(f.s.add_event(package_row("tts:7327000000000002000#" + hanako.package_id + "#" + hanako.order_id, hanako)));
    // So is a package update of anyone's, about a delivery never seen.
    CHECK(f.s.add_event(package_row("tts:7327000000000002001#" + ken.package_id + "#" + ken.order_id, ken)));
    CHECK(count_inbox(f.db) == rows + 2);
}

// After the retention purge (storage/retention.hpp, with the key) nothing
// links the buyer's id to their orders any more, and nothing names them in
// clear: a forget by their id has nothing to find. A forget by one of their
// order ids still reaches the audit entries, by the order's pseudonym.
TEST_CASE("After the purge nothing on disk names the buyer and a forget by order id still reduces its audit entries", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    // Everything of hers settles: the pending poll, the reply, the reviews, the alert.
    f.db.transaction([&] {
        for (const auto& e : f.s.pending_events(f.now + 1, 100)) f.s.finish_event(e.id, "done", "matched: nothing", f.now);
        for (const auto& a : f.s.recent_actions(100))
            if (a.state == "planned") f.s.set_action_state(a.id, "skipped", "quiet hours for conversation " + hanako.conversation_id, "", f.now);
        for (const auto& r : f.s.reviews(false, 100)) f.s.set_review_state(r.id, "resolved", "staff-a", "called " + hanako.name, f.now);
        for (const auto& nt : f.s.due_notifications(f.now + 1, 100)) f.s.notification_sent(nt.id, f.now);
    });
    f.s.audit(f.now, "orderflowctl", "buyer.export", "", {{"by", "desk"}, {"buyer_user_id", hanako.user_id}});
    // The other buyer comes 200 days later; the purge runs at day 290 (90 days' period).
    constexpr std::int64_t day = 86400;
    const std::int64_t hers = f.now;
    f.now += 200 * day;
    f.plant(ken);
    const auto purged = purge_personal_data(f.db, hers + 1, -1, key);
    CHECK(purged.hashed == 3);   // her audit entries: create_conversation, send_message, buyer.export
    CHECK(purged.tags == 1);

    f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const std::string disk = f.everything_on_disk();
    for (const auto& t : traces(hanako)) {
        INFO("a trace of the buyer whose data was purged: " << t);
        CHECK(disk.find(t) == std::string::npos);
    }
    for (const auto& t : traces(ken)) {
        INFO("the other buyer's recent data: " << t);
        CHECK(disk.find(t) != std::string::npos);
    }

    // By her id: no order, event or action is linked to her any more; only
    // the export's audit entry, which named her id (now by its pseudonym).
    const auto by_id = forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}, key), key, false, f.now, "desk");
    CHECK(by_id.audit == 1);
    CHECK(by_id.total() == 1);
    CHECK(forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}, key), key, false, f.now, "desk").total() == 0);
    // By her order id: the entries the purge kept under the order's pseudonym.
    REQUIRE(f.s.audit_entries(0, order_pseudonym(key, hanako.order_id), "", 10).size() == 2);
    const auto who = find_buyer(f.db, {"", hanako.order_id, ""}, key);
    CHECK(export_buyer(f.db, who)["audit"].size() == 2);
    const auto by_order = forget_buyer(f.db, who, key, false, f.now, "desk");
    CHECK(by_order.audit == 2);
    CHECK(f.s.audit_entries(0, order_pseudonym(key, hanako.order_id), "", 10).empty());
}

TEST_CASE("With suppression, a forgotten buyer's later events are recognised by keyed hash and set aside", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    CHECK_FALSE(is_forgotten(f.db, key, hanako.user_id, "", ""));
    const auto n = forget_buyer(f.db, find_buyer(f.db, {"", "", hanako.conversation_id}), key, true, f.now, "staff");
    CHECK(n.suppressed == 3);   // the buyer, the order, the conversation
    CHECK(is_forgotten(f.db, key, hanako.user_id, "", ""));
    CHECK(is_forgotten(f.db, key, "", hanako.order_id, ""));
    CHECK(is_forgotten(f.db, key, "", "", hanako.conversation_id));
    CHECK_FALSE(is_forgotten(f.db, key, ken.user_id, ken.order_id, ken.conversation_id));
    // Another key (another shop's vault) does not match.
    CHECK_FALSE(is_forgotten(f.db, std::vector<unsigned char>(32, 0x01), hanako.user_id, "", ""));
    {
        const std::string after = f.everything_on_disk();
        for (const auto& t : traces(hanako)) CHECK(after.find(t) == std::string::npos);
    }

    // A later poll sees the same change again: stored under its plain key,
    // then set aside, and its key becomes the hash already there: the row goes.
    new_event seen_again{"poll:order:" + hanako.order_id + ":IN_TRANSIT", "poll", 1, "order.status_changed", hanako.order_id,
                         json{{"data", {{"order_id", hanako.order_id}}}}.dump(), f.now, 0, ""};
    REQUIRE(f.s.add_event(seen_again));
    const auto id = f.db.last_insert_rowid();
    f.db.transaction([&] { set_aside_event(f.db, key, id, f.now); });
    CHECK_FALSE(f.s.get_event(id).has_value());
    // A new change is kept as an empty, ignored row.
    new_event delivered{"poll:order:" + hanako.order_id + ":DELIVERED", "poll", 1, "order.status_changed", hanako.order_id,
                        json{{"data", {{"order_id", hanako.order_id}}}}.dump(), f.now, 0, ""};
    REQUIRE(f.s.add_event(delivered));
    const auto id2 = f.db.last_insert_rowid();
    f.db.transaction([&] { set_aside_event(f.db, key, id2, f.now); });
    const auto row = f.s.get_event(id2);
    REQUIRE(row);
    CHECK(row->state == "ignored");
    CHECK(row->payload == "{}");
    CHECK(row->order_id.empty());
    CHECK(row->dedupe_key.starts_with("forgotten:"));
}

TEST_CASE("A forget waits while a message to the buyer has an unknown outcome, and erases nothing", "[buyer_data]") {
    fixture f;
    f.plant(hanako);
    const auto who = find_buyer(f.db, {hanako.user_id, "", ""});
    std::int64_t reply = 0;
    for (const auto& a : f.s.recent_actions(10))
        if (a.rule_id == "reply") reply = a.id;
    f.db.transaction([&] {
        f.s.begin_attempt(reply, f.now);
        f.s.set_action_state(reply, "unknown", "timeout", "", f.now);
    });
    CHECK_THROWS_AS(forget_buyer(f.db, who, key, false, f.now, "staff"), forget_refused);
    CHECK(f.s.get_order(hanako.order_id).has_value());
    CHECK(f.everything_on_disk().find(hanako.name) != std::string::npos);
}

TEST_CASE("A backup is a whole, checked copy in a new 0600 file, and never overwrites one", "[buyer_data][backup]") {
    fixture f;
    f.plant(hanako);
    const auto dest = f.dir / "copy.db";
    const auto bytes = f.db.backup_to(dest);
    CHECK(bytes > 0);
    struct stat st {};
    REQUIRE(::stat(dest.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK_FALSE(std::filesystem::exists(f.dir / "copy.db.partial"));
    {
        auto copy = database::open(dest);
        store cs(copy);
        CHECK(cs.get_order(hanako.order_id).has_value());
        auto check = copy.prepare("PRAGMA integrity_check");
        REQUIRE(check.step());
        CHECK(check.text(0) == "ok");
    }
    CHECK_THROWS_WITH(f.db.backup_to(dest), Catch::Contains("already exists"));
}

TEST_CASE("Database files that others may read are reported, 0600 and 0640 are not", "[buyer_data][permissions]") {
    fixture f;
    const auto file = f.dir / "orderflow.db";
    CHECK(permission_warnings(file).empty());   // created 0600
    std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
    CHECK(permission_warnings(file).empty());   // 0640: a deliberate group
    std::filesystem::permissions(file, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
    const auto w = permission_warnings(file);
    REQUIRE(w.size() == 1);
    CHECK(w[0].find("0644") != std::string::npos);
    CHECK(w[0].find("chmod 600") != std::string::npos);
}

TEST_CASE("The forget ledger numbers its records and never reuses a number a database has seen", "[buyer_data][forget_ledger]") {
    temp_dir dir;
    const auto file = forget_ledger_path(dir / "orderflow.db");
    CHECK(file.filename() == "orderflow.db.forgets");
    CHECK(read_forget_ledger(file).records.empty());   // none yet: an empty ledger
    CHECK(append_forget_record(file, 100, false, {"aa", "bb"}, 0, 0) == 1);
    CHECK(append_forget_record(file, 200, true, {"cc"}, 0, 0) == 2);
    // The database has seen record 7 (its ledger was lost since): the next is 8.
    CHECK(append_forget_record(file, 300, false, {"dd"}, 7, 0) == 8);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto got = read_forget_ledger(file);
    REQUIRE(got.records.size() == 3);
    CHECK(got.records[0].subjects == std::vector<std::string>{"aa", "bb"});
    CHECK(got.records[1].suppress);
    CHECK(got.last_seq() == 8);
    // A torn append is skipped and counted, the rest read.
    {
        std::ofstream out(file, std::ios::app);
        out << "{\"seq\":9,\"at\":40";
    }
    got = read_forget_ledger(file);
    CHECK(got.records.size() == 3);
    CHECK(got.unreadable_lines == 1);
    // Records past their time go, except suppressions; the numbers go on.
    CHECK(append_forget_record(file, 1000, false, {"ee"}, 0, 250) == 9);
    got = read_forget_ledger(file);
    CHECK(got.unreadable_lines == 0);
    REQUIRE(got.records.size() == 3);
    CHECK(got.records[0].seq == 2);   // the suppression, though older
    CHECK(got.records[1].seq == 8);
    CHECK(got.records[2].seq == 9);
    CHECK_FALSE(std::filesystem::exists(file.string() + ".tmp"));
    // The newest record goes too: its number is still not given again.
    CHECK(prune_forget_ledger(file, 2000) == 2);
    CHECK(prune_forget_ledger(file, 2000) == 0);
    got = read_forget_ledger(file);
    REQUIRE(got.records.size() == 1);
    CHECK(got.last_seq() == 9);
    CHECK(append_forget_record(file, 3000, false, {"ff"}, 0, 0) == 10);
    // A record a crash left without its newline is not run into by the next.
    {
        std::ofstream out(file, std::ios::app);
        out << R"({"seq":11,"at":3100,"suppress":false,"subjects":["gg"]})";
    }
    CHECK(append_forget_record(file, 3200, false, {"hh"}, 0, 0) == 12);
    got = read_forget_ledger(file);
    CHECK(got.unreadable_lines == 0);
    CHECK(got.records.size() == 4);
    // A link in the ledger's place is refused, not followed.
    const auto elsewhere = dir / "elsewhere";
    std::filesystem::rename(file, elsewhere);
    std::filesystem::create_symlink(elsewhere, file);
    CHECK_THROWS_WITH(read_forget_ledger(file), Catch::Contains("is not a file"));
}

TEST_CASE("A copy made before a forget forgets the buyer again from the ledger and keeps the other buyer", "[buyer_data][forget_ledger]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    const auto copy_path = f.dir / "nightly.db";
    f.db.backup_to(copy_path);
    // The forget, in the live database and in the ledger, as `buyer forget` does.
    const auto who = find_buyer(f.db, {"", hanako.order_id, ""}, key);
    forget_buyer(f.db, who, key, false, f.now, "hanako-request");
    const auto ledger = forget_ledger_path(f.dir / "orderflow.db");
    append_forget_record(ledger, f.now, false, forget_subjects(key, who), 0, 0);
    {
        const std::string text = read_bytes(ledger);
        for (const auto& t : traces(hanako)) CHECK(text.find(t) == std::string::npos);   // the ledger names no one
    }

    // The copy is restored: it still holds her, until the ledger is applied.
    auto copy = database::open(copy_path);
    const auto on_disk = [&] { return read_bytes(copy_path) + read_bytes(copy_path.string() + "-wal"); };
    REQUIRE(on_disk().find(hanako.name) != std::string::npos);
    const auto records = read_forget_ledger(ledger).records;
    // As orderflowd's start does first: the sends the backup marked in flight become unknown.
    CHECK(store(copy).mark_interrupted_sends(f.now + 60) == 2);
    const auto done = reapply_forgets(copy, key, records, f.now + 60, "forget ledger");
    CHECK(done.records == 1);
    CHECK(done.found == 1);
    CHECK(done.through == 1);
    CHECK(done.erased.orders == 1);
    // The backup marked her planned reply as possibly sent; she was
    // forgotten since, so it is given up, not reconciled and sent.
    CHECK(done.erased.given_up == 1);
    CHECK(done.erased.events == 4);
    CHECK(done.erased.actions == 2);
    CHECK(done.erased.reviews == 2);
    const std::string after = on_disk();
    for (const auto& t : traces(hanako)) {
        INFO("a trace of the forgotten buyer in the restored copy: " << t);
        CHECK(after.find(t) == std::string::npos);
    }
    for (const auto& t : traces(ken)) {
        INFO("the other buyer's data: " << t);
        CHECK(after.find(t) != std::string::npos);
    }
    // Applying it again finds nothing more and changes nothing.
    const auto again = reapply_forgets(copy, key, records, f.now + 120, "forget ledger");
    CHECK(again.records == 1);
    CHECK(again.found == 0);
    CHECK(again.erased.total() == 0);
}

TEST_CASE("A suppressed forget applied again puts its suppression entries back into the copy", "[buyer_data][forget_ledger]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    f.db.backup_to(f.dir / "nightly.db");
    const auto who = find_buyer(f.db, {hanako.user_id, "", ""}, key);
    forget_buyer(f.db, who, key, true, f.now, "staff");
    const forget_record record{1, f.now, true, forget_subjects(key, who)};
    REQUIRE(record.subjects.size() == 3);

    auto copy = database::open(f.dir / "nightly.db");
    store(copy).mark_interrupted_sends(f.now);   // as orderflowd's start does first
    CHECK_FALSE(is_forgotten(copy, key, hanako.user_id, "", ""));
    const auto done = reapply_forgets(copy, key, std::vector{record}, f.now, "forget ledger");
    CHECK(done.found == 1);
    CHECK(done.suppressed == 3);
    CHECK(is_forgotten(copy, key, hanako.user_id, "", ""));
    CHECK(is_forgotten(copy, key, "", hanako.order_id, ""));
    CHECK(is_forgotten(copy, key, "", "", hanako.conversation_id));
    CHECK_FALSE(is_forgotten(copy, key, ken.user_id, ken.order_id, ken.conversation_id));
}

TEST_CASE("Records made with another vault key match no one in a copy", "[buyer_data][forget_ledger]") {
    fixture f;
    f.plant(hanako);
    const std::vector<unsigned char> other_key(32, 0x01);
    const forget_record record{1, f.now, true, forget_subjects(other_key, find_buyer(f.db, {hanako.user_id, "", ""}, other_key))};
    const auto done = reapply_forgets(f.db, key, std::vector{record}, f.now, "forget ledger");
    CHECK(done.records == 1);
    CHECK(done.found == 0);
    CHECK(done.erased.total() == 0);
    CHECK(f.s.get_order(hanako.order_id).has_value());
}

TEST_CASE("A forget applied again gives up the buyer's unknown sends and waits for one under way", "[buyer_data][forget_ledger]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    f.db.backup_to(f.dir / "nightly.db");
    const forget_record first{4, f.now, false, forget_subjects(key, find_buyer(f.db, {hanako.user_id, "", ""}, key))};

    auto copy = database::open(f.dir / "nightly.db");
    store cs(copy);
    // In the copy both buyers' planned replies are 'sending' (the backup
    // marks them); a start makes them unknown. Hers is given up; his stays.
    CHECK(cs.mark_interrupted_sends(f.now) == 2);
    std::int64_t hers = 0, his = 0;
    for (const auto& a : cs.recent_actions(10)) {
        if (a.rule_id != "reply") continue;
        (a.payload.find(hanako.conversation_id) != std::string::npos ? hers : his) = a.id;
    }
    REQUIRE(hers != 0);
    REQUIRE(his != 0);
    CHECK(cs.get_action(hers)->state == "unknown");
    // A send to her under way right now (a second message of hers): the
    // record waits for it, and nothing of hers is erased meanwhile.
    new_action more;
    more.idem_key = hash_key("more|0|order:" + hanako.order_id);
    more.rule_id = "more";
    more.kind = "send_message";
    more.order_id = hanako.order_id;
    more.buyer_user_id = hanako.user_id;
    more.payload = json{{"text", hanako.sent_text}}.dump();
    more.created_at = f.now;
    std::int64_t in_flight_id = 0;
    copy.transaction([&] {
        REQUIRE(cs.add_action(more));
        in_flight_id = copy.last_insert_rowid();
        cs.begin_attempt(in_flight_id, f.now);
    });
    std::vector<std::int64_t> marks;
    const auto waiting = reapply_forgets(copy, key, std::vector{first}, f.now + 5, "forget ledger",
                                         [&](std::int64_t seq) { marks.push_back(seq); });
    CHECK(waiting.records == 0);
    CHECK(waiting.through == 0);
    CHECK_THAT(waiting.refused, Catch::Contains("being sent"));
    CHECK(marks.empty());
    CHECK(cs.get_order(hanako.order_id).has_value());
    copy.transaction([&] { cs.set_action_state(in_flight_id, "done", "", "{}", f.now); });
    const auto done = reapply_forgets(copy, key, std::vector{first}, f.now + 5, "forget ledger",
                                      [&](std::int64_t seq) { marks.push_back(seq); });
    CHECK(marks == std::vector<std::int64_t>{4});
    CHECK(done.records == 1);
    CHECK(done.through == 4);
    CHECK(done.erased.given_up == 1);
    const auto given_up = cs.get_action(hers);
    REQUIRE(given_up);
    CHECK(given_up->state == "failed");
    CHECK(given_up->payload == "{}");
    CHECK_THAT(given_up->reason, Catch::Contains("erased at their request"));
    CHECK(cs.get_action(his)->state == "unknown");   // his is reconciled as before
    CHECK_FALSE(cs.get_order(hanako.order_id).has_value());
    CHECK(cs.get_order(ken.order_id).has_value());
    // An interactive forget still waits for his unknown send.
    CHECK_THROWS_AS(forget_buyer(copy, find_buyer(copy, {ken.user_id, "", ""}), key, false, f.now, "staff"), forget_refused);
}

// docs/privacy.md, "Forget": without suppression a forget still leaves its
// subjects' keyed hashes, with its time, so a change from before it that
// comes back (the poll's overlap, a restored backup's polls) is known for
// history; a later change is anyone's. They go with the ledger's records.
TEST_CASE("Without suppression a forget leaves its time for the buyer's ids, and old ones go", "[buyer_data][forget_horizon]") {
    fixture f;
    f.plant(hanako);
    f.plant(ken);
    const auto n = forget_buyer(f.db, find_buyer(f.db, {hanako.user_id, "", ""}), key, false, f.now, "staff");
    CHECK(n.suppressed == 0);   // no suppression entry: only the forget's time
    CHECK_FALSE(is_forgotten(f.db, key, hanako.user_id, "", ""));
    for (const auto& [buyer_id, order_id, conversation_id] :
         {std::tuple{hanako.user_id, std::string(), std::string()}, std::tuple{std::string(), hanako.order_id, std::string()},
          std::tuple{std::string(), std::string(), hanako.conversation_id}}) {
        const auto mark = forget_mark_of(f.db, key, buyer_id, order_id, conversation_id);
        REQUIRE(mark);
        CHECK(mark->at == f.now);
        CHECK_FALSE(mark->suppress);
    }
    CHECK_FALSE(forget_mark_of(f.db, key, ken.user_id, ken.order_id, ken.conversation_id));
    CHECK_FALSE(forget_mark_of(f.db, std::vector<unsigned char>(32, 0x01), hanako.user_id, "", ""));   // another vault
    {
        const std::string disk = f.everything_on_disk();
        for (const auto& t : traces(hanako)) CHECK(disk.find(t) == std::string::npos);   // hashes only
    }

    // Forgotten again later, with suppression: the later time, and suppressed.
    f.db.transaction([&] { CHECK(note_forgotten(f.db, forget_hash(key, "buyer:" + hanako.user_id), f.now + 50, true)); });
    f.db.transaction([&] { CHECK_FALSE(note_forgotten(f.db, forget_hash(key, "buyer:" + hanako.user_id), f.now + 10, true)); });
    auto mark = forget_mark_of(f.db, key, hanako.user_id, hanako.order_id, "");
    REQUIRE(mark);
    CHECK(mark->at == f.now + 50);
    CHECK(mark->suppress);
    CHECK(is_forgotten(f.db, key, hanako.user_id, "", ""));

    // Ken forgotten with suppression: his entries stay for good.
    forget_buyer(f.db, find_buyer(f.db, {ken.user_id, "", ""}), key, true, f.now, "staff");
    CHECK(drop_forget_horizons(f.db, f.now) == 0);        // none older than that
    CHECK(drop_forget_horizons(f.db, f.now + 1) == 2);    // her order and conversation; her id suppresses now
    CHECK_FALSE(forget_mark_of(f.db, key, "", hanako.order_id, ""));
    CHECK(forget_mark_of(f.db, key, hanako.user_id, "", ""));
    CHECK(is_forgotten(f.db, key, ken.user_id, ken.order_id, ken.conversation_id));
    CHECK(drop_forget_horizons(f.db, f.now + 1'000'000) == 0);
}

// A restored copy may never have held the buyer (the backup was taken
// before her order), yet its polls read her changes again from its older
// cursors: the records' times go into every copy the ledger is applied to.
TEST_CASE("A forget applied again from the ledger sets its time in a copy that never held the buyer", "[buyer_data][forget_horizon]") {
    fixture f;
    f.plant(ken);
    f.db.backup_to(f.dir / "nightly.db");
    f.plant(hanako);
    const auto who = find_buyer(f.db, {"", hanako.order_id, ""}, key);
    forget_buyer(f.db, who, key, false, f.now, "staff");
    const forget_record record{1, f.now, false, forget_subjects(key, who)};

    auto copy = database::open(f.dir / "nightly.db");
    CHECK_FALSE(forget_mark_of(copy, key, "", hanako.order_id, ""));
    const auto done = reapply_forgets(copy, key, std::vector{record}, f.now + 3600, "forget ledger");
    CHECK(done.records == 1);
    CHECK(done.found == 0);
    CHECK(done.suppressed == 0);
    const auto mark = forget_mark_of(copy, key, hanako.user_id, hanako.order_id, hanako.conversation_id);
    REQUIRE(mark);
    CHECK(mark->at == f.now);   // the forget's own time, not the restore's
    CHECK_FALSE(mark->suppress);
    CHECK_FALSE(forget_mark_of(copy, key, ken.user_id, ken.order_id, ken.conversation_id));
}

// The ledger's record is written before the forget's commit (daemon/
// data_rights.cpp): a forget that fails to commit after it leaves the
// record alone, and the next catch-up does the forget.
TEST_CASE("A forget that does not commit after its record is written is done by the ledger's next catch-up", "[buyer_data][forget_ledger]") {
    fixture f;
    f.plant(hanako);
    const auto ledger = forget_ledger_path(f.dir / "orderflow.db");
    const auto who = find_buyer(f.db, {hanako.user_id, "", ""}, key);
    forget_options failing;
    failing.before_commit = [&] {
        append_forget_record(ledger, f.now, false, forget_subjects(key, who), 0, 0);
        throw std::runtime_error("the process died before the commit");
    };
    CHECK_THROWS_WITH(forget_buyer(f.db, who, key, false, f.now, "staff", failing), "the process died before the commit");
    CHECK(f.s.get_order(hanako.order_id).has_value());   // rolled back
    const auto records = read_forget_ledger(ledger).records;
    REQUIRE(records.size() == 1);
    const auto done = reapply_forgets(f.db, key, records, f.now + 60, "forget ledger (applied again)");
    CHECK(done.found == 1);
    {
        auto audit = f.db.prepare("SELECT actor, json_extract(detail, '$.by') FROM audit_log WHERE action = 'buyer.forget'");
        REQUIRE(audit.step());
        CHECK(audit.text(0) == "orderflowd");   // the daemon did it; `by` says why
        CHECK(audit.text(1) == "forget ledger (applied again)");
        CHECK_FALSE(audit.step());
    }
    CHECK_FALSE(f.s.get_order(hanako.order_id).has_value());
    const std::string disk = f.everything_on_disk();
    for (const auto& t : traces(hanako)) CHECK(disk.find(t) == std::string::npos);
}

// Two forgets at once (orderflowctl runs with the daemon stopped), one of
// them pruning, i.e. rewriting the file: each keeps its record and number.
TEST_CASE("Forgets recorded at once from two threads, one pruning, each keep their record and number", "[buyer_data][forget_ledger]") {
    temp_dir dir;
    const auto file = forget_ledger_path(dir / "orderflow.db");
    constexpr int each = 60;
    std::vector<std::int64_t> kept_seqs, pruned_seqs;
    std::thread keeper([&] {
        for (int i = 0; i < each; ++i) kept_seqs.push_back(append_forget_record(file, 5000, false, {"kept-" + std::to_string(i)}, 0, 0));
    });
    std::thread pruner([&] {
        // Old records, each append pruning the one before: a rewrite every time.
        for (int i = 0; i < each; ++i) pruned_seqs.push_back(append_forget_record(file, 10, false, {"old-" + std::to_string(i)}, 0, 20));
    });
    keeper.join();
    pruner.join();
    std::set<std::int64_t> all(kept_seqs.begin(), kept_seqs.end());
    all.insert(pruned_seqs.begin(), pruned_seqs.end());
    CHECK(all.size() == 2 * each);   // no number given twice
    const auto got = read_forget_ledger(file);
    CHECK(got.last_seq() == 2 * each);
    CHECK(got.unreadable_lines == 0);
    std::set<std::int64_t> in_file;
    for (const auto& r : got.records)
        if (r.at == 5000) in_file.insert(r.seq);
    CHECK(in_file == std::set<std::int64_t>(kept_seqs.begin(), kept_seqs.end()));   // none lost to a rewrite

    // A holder that never lets go (a stuck process): the append gives up
    // after 5 s with an error that says so, rather than waiting for ever
    // inside a forget's transaction.
    const int held = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(held >= 0);
    REQUIRE(::flock(held, LOCK_EX) == 0);
    CHECK_THROWS_WITH(append_forget_record(file, 6000, false, {"late"}, 0, 0), Catch::Contains("held the lock for 5 s"));
    ::close(held);
    CHECK(append_forget_record(file, 6000, false, {"late"}, 0, 0) == 2 * each + 1);
}

}  // namespace ORDERFLOW_TEST_FILE
