// Tests for storage/retention.hpp: the purge blanks or deletes personal data
// in old, finished rows, keeps every dedupe and idempotency key (so a
// redelivered webhook or a re-planned action is still refused afterwards),
// never touches what the daemon still needs, and counts only what it changed.
// Rows that never finished are settled first: retention_unfinished_test.cpp.
#include "storage/retention.hpp"

#include "storage/buyer_data.hpp"
#include "storage/conversation_links.hpp"
#include "storage/store.hpp"
#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::storage;
using orderflow::storage::testing::temp_dir;

namespace {

// Rows are aged by the times passed to the store: `old_time` is before the
// cutoff, `recent` after it.
constexpr std::int64_t cutoff = 1'000'000;
constexpr std::int64_t old_time = 500'000;
constexpr std::int64_t recent = 1'500'000;

const std::string event_payload =
    R"({"type":1,"data":{"order_id":"o1","buyer":"Jane Doe","address":"1 High Street"}})";
const std::string action_payload = R"({"text":"Hi Jane, your parcel is on its way","buyer_user_id":"b1"})";
const std::string action_result = R"({"message_id":"m1","conversation_id":"c1"})";

new_event make_event(std::string key, std::int64_t received_at) {
    new_event e;
    e.dedupe_key = std::move(key);
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.order_id = "o1";
    e.payload = event_payload;
    e.received_at = received_at;
    return e;
}

new_action make_action(std::string rule, std::int64_t created_at, std::string payload = action_payload) {
    new_action a;
    a.idem_key = hash_key(rule + "|0|order:o1");
    a.rule_id = std::move(rule);
    a.kind = "send_message";
    a.order_id = "o1";
    a.event_id = 1;
    a.payload = std::move(payload);
    a.created_at = created_at;
    return a;
}

std::int64_t count_rows(database& db, const std::string& table) {
    auto st = db.prepare("SELECT count(*) FROM " + table);
    REQUIRE(st.step());
    return st.int64(0);
}

struct fixture {
    temp_dir dir;
    database db = database::open(dir / "orderflow.db");
    store s{db};

    std::int64_t add_event(const std::string& key, std::int64_t at, const char* state = nullptr) {
        REQUIRE(s.add_event(make_event(key, at)));
        auto id = db.last_insert_rowid();
        if (state) s.finish_event(id, state, "handled", at);
        return id;
    }
    // An action that reached `state` at time `at` the way the daemon takes it
    // there (the outbox refuses shortcuts such as planned -> done).
    std::int64_t add_action(const std::string& rule, std::int64_t at, const std::string& state,
                            std::string payload = action_payload) {
        auto a = make_action(rule, at, std::move(payload));
        if (state == "shadow") {  // recorded as such, never executed
            a.state = state;
            a.reason = "why: " + state;
        }
        REQUIRE(s.add_action(a));
        auto id = db.last_insert_rowid();
        if (state == "done" || state == "failed" || state == "unknown") s.begin_attempt(id, at);
        if (state != "planned" && state != "shadow") s.set_action_state(id, state, "why: " + state, action_result, at);
        return id;
    }
    std::int64_t add_notification(const std::string& dedupe, std::int64_t at, bool sent) {
        REQUIRE(s.add_notification("slack", dedupe, 1, {{"summary", "Jane Doe says the parcel is late"}}, at));
        auto id = db.last_insert_rowid();
        if (sent) s.notification_sent(id, at);
        return id;
    }
};

}  // namespace

TEST_CASE("A purge blanks old finished events and still recognises their redelivery", "[retention]") {
    fixture f;
    const std::string state = GENERATE(as<std::string>{}, "done", "ignored", "failed");
    auto finished = f.add_event("n-old-finished", old_time, state.c_str());
    // A deadline timer set long ago and due after the cutoff (tests/storage/
    // retention_unfinished_test.cpp has the pending events that are not).
    auto timer = make_event("t-old-pending", old_time);
    timer.source = "timer";
    timer.not_before = recent;
    REQUIRE(f.s.add_event(timer));
    auto pending = f.db.last_insert_rowid();
    auto fresh = f.add_event("n-recent", recent, "done");

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.events == 1);
    CHECK(n.total() == 1);

    auto e = f.s.get_event(finished);
    REQUIRE(e);
    CHECK(e->payload == "{}");
    CHECK(e->dedupe_key == "n-old-finished");
    CHECK(e->event == "order.status_changed");
    CHECK(e->order_id == "o1");
    CHECK(e->state == state);
    CHECK(e->note.empty());   // a failure's text can name a conversation or a package

    CHECK_FALSE(f.s.add_event(make_event("n-old-finished", recent)));  // still deduplicated
    CHECK(count_rows(f.db, "inbox") == 3);

    CHECK(f.s.get_event(pending)->payload == event_payload);
    CHECK(f.s.get_event(pending)->state == "pending");
    CHECK(f.s.get_event(fresh)->payload == event_payload);
}

TEST_CASE("A purge blanks old finished actions and still refuses to plan them again", "[retention]") {
    fixture f;
    const std::string state = GENERATE(as<std::string>{}, "done", "failed", "skipped", "shadow");
    auto finished = f.add_action("finished", old_time, state);
    // Unfinished and changed after the cutoff (those untouched since before
    // it are settled: tests/storage/retention_unfinished_test.cpp).
    auto unknown = f.add_action("unknown", recent, "unknown");
    auto deferred = f.add_action("deferred", recent, "deferred");
    auto planned = f.add_action("planned", recent, "planned");
    auto fresh = f.add_action("recent", recent, "done");

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.actions == 1);
    CHECK(n.total() == 1);

    auto a = f.s.get_action(finished);
    REQUIRE(a);
    CHECK(a->payload == "{}");
    CHECK(a->result == "");
    CHECK(a->idem_key == make_action("finished", 0).idem_key);
    CHECK(a->rule_id == "finished");
    CHECK(a->kind == "send_message");
    CHECK(a->order_id == "o1");
    CHECK(a->state == state);
    CHECK(a->reason == "why: " + state);

    CHECK_FALSE(f.s.add_action(make_action("finished", recent)));  // the key still refuses a re-plan
    CHECK(count_rows(f.db, "outbox") == 5);

    // The reconciler and the executor still read these.
    CHECK(f.s.get_action(unknown)->payload == action_payload);
    CHECK(f.s.get_action(unknown)->result == action_result);
    CHECK(f.s.get_action(deferred)->payload == action_payload);
    CHECK(f.s.get_action(planned)->payload == action_payload);
    CHECK(f.s.get_action(fresh)->payload == action_payload);
    CHECK(f.s.get_action(fresh)->result == action_result);
}

TEST_CASE("A purge deletes old orders and conversations and keeps recent ones", "[retention]") {
    fixture f;
    f.s.put_order({"o-old", "DELIVERED", R"({"buyer":"Jane Doe","address":"1 High Street"})", old_time});
    f.s.put_order({"o-new", "AWAITING_SHIPMENT", R"({"buyer":"John Roe"})", recent});
    f.s.put_conversation("b-old", "c-old", old_time);
    f.s.put_conversation("b-new", "c-new", recent);

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.orders == 1);
    CHECK(n.conversations == 1);
    CHECK(n.total() == 2);

    CHECK_FALSE(f.s.get_order("o-old"));
    REQUIRE(f.s.get_order("o-new"));
    CHECK(f.s.get_order("o-new")->snapshot == R"({"buyer":"John Roe"})");
    CHECK_FALSE(f.s.conversation_for("b-old"));
    CHECK(f.s.conversation_for("b-new") == "c-new");
}

TEST_CASE("A purge deletes old captured answers and shared order cards and keeps recent ones", "[retention]") {
    fixture f;
    set_order_attribute(f.db, {"o-old", "engraving", "JANE", "m-1", "capture-engraving", old_time});
    set_order_attribute(f.db, {"o-new", "engraving", "JOHN", "m-2", "capture-engraving", recent});
    note_order_card(f.db, "c-old", "o-old", "m-3", old_time, old_time);
    note_order_card(f.db, "c-new", "o-new", "m-4", recent, recent);

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.answers == 2);
    CHECK(n.total() == 2);
    CHECK(order_attributes(f.db, "o-old").empty());
    CHECK(order_attributes(f.db, "o-new") == nlohmann::json{{"engraving", "JOHN"}});
    CHECK(latest_order_card(f.db, "c-old").empty());
    CHECK(latest_order_card(f.db, "c-new") == "o-new");
}

TEST_CASE("A purge keeps an old conversation while an unfinished send to that buyer needs it", "[retention]") {
    // Reconciling an unknown send without the conversation would conclude that
    // nothing was sent and send again.
    fixture f;
    f.s.put_conversation("b1", "c1", old_time);
    f.s.put_conversation("b2", "c2", old_time);
    f.add_action("unknown-to-b1", recent, "unknown");   // the conversation is old, the send is not
    f.add_action("done-to-b2", old_time, "done", R"({"text":"Hi","buyer_user_id":"b2"})");
    // Payloads without a buyer, or not JSON at all, neither protect nor break anything.
    f.add_action("no-buyer", recent, "planned", R"({"text":"Hi","conversation_id":"c9"})");
    f.add_action("not-json", recent, "deferred", "not json");

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.conversations == 1);
    CHECK(f.s.conversation_for("b1") == "c1");
    CHECK_FALSE(f.s.conversation_for("b2"));
}

TEST_CASE("A purge blanks resolved old review items and keeps the ones still being worked on", "[retention]") {
    fixture f;
    const nlohmann::json evidence = {{"text", "Jane Doe: where is my parcel?"}};
    auto resolved = f.s.raise_review("o1", "send_failed", "warning", "Jane Doe asked twice", evidence, old_time);
    REQUIRE(f.s.set_review_state(resolved, "resolved", "alice", "called the buyer", old_time));
    // Raised before the cutoff and still being worked on: it came again, and
    // staff acknowledged one (untouched ones are closed:
    // tests/storage/retention_unfinished_test.cpp).
    auto open = f.s.raise_review("o2", "send_failed", "warning", "John Roe asked", evidence, old_time);
    REQUIRE(f.s.raise_review("o2", "send_failed", "warning", "John Roe asked", evidence, recent) == open);
    auto acknowledged = f.s.raise_review("o3", "send_unknown", "critical", "check c3", evidence, old_time);
    REQUIRE(f.s.set_review_state(acknowledged, "acknowledged", "bob", "", recent));
    auto resolved_recently = f.s.raise_review("o4", "send_failed", "info", "Ann asked", evidence, recent);
    REQUIRE(f.s.set_review_state(resolved_recently, "resolved", "alice", "", recent));

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.reviews == 1);
    CHECK(n.total() == 1);

    auto r = f.s.get_review(resolved);
    REQUIRE(r);
    CHECK(r->evidence == "{}");
    CHECK(r->summary == purged_summary);
    CHECK(r->note == "called the buyer");
    CHECK(r->resolved_by == "alice");
    CHECK(r->reason == "send_failed");
    CHECK(r->order_id == "o1");
    CHECK(r->state == "resolved");

    for (auto id : {open, acknowledged, resolved_recently}) {
        auto kept = f.s.get_review(id);
        REQUIRE(kept);
        CHECK(kept->evidence == evidence.dump());
        CHECK(kept->summary != purged_summary);
    }
    CHECK(f.s.get_review(open)->summary == "John Roe asked");
}

TEST_CASE("A purge deletes old delivered notifications and keeps pending ones queued within the period", "[retention]") {
    fixture f;
    f.add_notification("review:1", old_time, true);
    // (One pending since before the cutoff is for a channel failing all
    // along: retention_unfinished_test.cpp.)
    auto pending = f.add_notification("review:2", recent, false);
    auto sent_recently = f.add_notification("review:3", recent, true);

    auto n = purge_personal_data(f.db, cutoff);
    CHECK(n.notifications == 1);
    CHECK(n.total() == 1);

    std::vector<std::int64_t> left;
    for (const auto& row : f.s.recent_notifications(10)) left.push_back(row.id);
    CHECK(left == std::vector<std::int64_t>{sent_recently, pending});
    CHECK(f.s.due_notifications(recent, 10).size() == 1);  // the pending one is still delivered
}

TEST_CASE("A second purge with the same cutoff changes nothing", "[retention]") {
    fixture f;
    f.add_event("n-1", old_time, "done");
    f.add_event("n-2", recent);
    f.add_action("rule", old_time, "done");
    f.add_action("other", recent, "unknown", R"({"text":"Hi","buyer_user_id":"b2"})");
    f.s.put_order({"o1", "DELIVERED", R"({"buyer":"Jane Doe"})", old_time});
    f.s.put_conversation("b1", "c1", old_time);
    f.s.put_conversation("b2", "c2", old_time);
    auto review = f.s.raise_review("o1", "send_failed", "warning", "Jane Doe", {{"text", "hi"}}, old_time);
    REQUIRE(f.s.set_review_state(review, "resolved", "alice", "", old_time));
    f.add_notification("review:1", old_time, true);
    f.s.audit(old_time, "orderflowd", "send_message", "o1", {{"action_id", 1}});

    auto first = purge_personal_data(f.db, cutoff);
    CHECK(first.events == 1);
    CHECK(first.orders == 1);
    CHECK(first.actions == 1);
    CHECK(first.conversations == 1);
    CHECK(first.reviews == 1);
    CHECK(first.notifications == 1);
    CHECK(first.total() == 6);

    CHECK(purge_personal_data(f.db, cutoff).total() == 0);
    CHECK(count_rows(f.db, "audit_log") == 1);  // the audit log is kept
    CHECK(f.s.conversation_for("b2") == "c2");  // still protected by the unknown send
}

TEST_CASE("A purge in batches changes at most max_rows rows per table per call and adds up to one whole purge", "[retention]") {
    fixture f;
    for (int i = 0; i < 5; ++i) {
        const auto n = std::to_string(i);
        f.add_event("n-" + n, old_time, "done");
        f.s.put_order({"o-" + n, "DELIVERED", R"({"buyer":"Jane Doe"})", old_time});
        f.add_action("rule-" + n, old_time, "done");
        f.s.put_conversation("b-" + n, "c-" + n, old_time);
        f.add_notification("review:" + n, old_time, true);
        set_order_attribute(f.db, {"o-" + n, "engraving", "JANE", "m-" + n, "capture-engraving", old_time});
    }
    auto timer = make_event("t-pending", old_time);   // due after the cutoff: stays pending
    timer.source = "timer";
    timer.not_before = recent;
    REQUIRE(f.s.add_event(timer));
    f.add_event("n-recent", recent, "done");

    std::vector<int> per_call;
    purge_counts sum;
    for (int call = 0; call < 10; ++call) {
        const auto n = purge_personal_data(f.db, cutoff, 2);
        CHECK(n.events <= 2);
        CHECK(n.orders <= 2);
        CHECK(n.actions <= 2);
        CHECK(n.conversations <= 2);
        CHECK(n.notifications <= 2);
        CHECK(n.answers <= 2);   // order attributes only here
        per_call.push_back(n.total());
        sum.events += n.events;
        sum.orders += n.orders;
        sum.actions += n.actions;
        sum.conversations += n.conversations;
        sum.notifications += n.notifications;
        sum.answers += n.answers;
        if (n.total() == 0) break;
    }
    // Five rows a table in batches of two: 2, 2, 1, then nothing left.
    CHECK(per_call == std::vector<int>{12, 12, 6, 0});
    CHECK(sum.events == 5);
    CHECK(sum.orders == 5);
    CHECK(sum.actions == 5);
    CHECK(sum.conversations == 5);
    CHECK(sum.notifications == 5);
    CHECK(sum.answers == 5);
    // Nothing is left for a whole purge, and what was never due is untouched.
    CHECK(purge_personal_data(f.db, cutoff).total() == 0);
    auto st = f.db.prepare("SELECT count(*) FROM inbox WHERE payload != '{}'");
    REQUIRE(st.step());
    CHECK(st.int64(0) == 2);   // the timer and the recent event
}

namespace {

const std::vector<unsigned char> forget_key(32, 0x5a);

// An old order's rows as the daemon leaves them once everything about it is
// finished, each id distinct so the database's bytes can be searched for it.
struct old_order {
    std::string order = "5770000000000001", buyer = "7100000000000001", conversation = "conv-0001", message = "msg-0001",
                package = "1152000000000071", tracking = "4912-3456-7890", note = "called 山田 花子 at 090-1234-5678";
    std::string notifications = "tts:730000000000000000";   // TikTok's notification ids: this and a digit
    std::vector<std::string> traces() const { return {order, buyer, conversation, message, package, tracking, note}; }
};

void plant_old_order(fixture& f, const old_order& o, std::int64_t at) {
    f.db.transaction([&] {
        auto finished = [&](new_event e, const std::string& change) {
            e.change_key = change;
            REQUIRE(f.s.add_event(e));
            const auto id = f.db.last_insert_rowid();
            if (!change.empty()) REQUIRE(f.s.claim_change(id, change) == id);
            f.s.finish_event(id, "done", "matched: thanks", at);
            return id;
        };
        new_event hook = make_event(o.notifications + "1", at);
        hook.order_id = o.order;
        finished(hook, "order:" + o.order + ":AWAITING_SHIPMENT");
        new_event package = make_event(o.notifications + "2#" + o.package + "#" + o.order, at);
        package.topic = 4;
        package.event = "package.updated";
        package.order_id = o.order;
        finished(package, "");
        new_event poll = make_event("poll:order:" + o.order + ":IN_TRANSIT", at);
        poll.source = "poll";
        poll.order_id = o.order;
        finished(poll, "order:" + o.order + ":IN_TRANSIT");
        new_event message = make_event(o.notifications + "3", at);
        message.topic = 14;
        message.event = "message.received";
        message.order_id = o.order;   // linked to the order
        finished(message, "msg:" + o.message);

        new_action a = make_action("thanks", at, R"({"text":"Hi","buyer_user_id":")" + o.buyer + R"("})");
        a.idem_key = hash_key("thanks|0|order:" + o.order);
        a.order_id = o.order;
        a.buyer_user_id = o.buyer;
        REQUIRE(f.s.add_action(a));
        const auto action = f.db.last_insert_rowid();
        f.s.begin_attempt(action, at);
        f.s.set_action_state(action, "failed", "the buyer's conversation " + o.conversation + " is gone", "", at);

        f.s.audit(at, "orderflowd", "send_message", o.order, {{"action_id", action}, {"conversation_id", o.conversation}, {"message_id", o.message}});
        f.s.audit(at, "orderflowd", "ship_package", o.order, {{"action_id", action}, {"package_id", o.package}, {"tracking_number", o.tracking}});
        const auto review = f.s.raise_review("", "buyer_message", "info", "buyer asks", {{"text", "hi"}}, at, "conversation:" + o.conversation);
        REQUIRE(f.s.set_review_state(review, "resolved", "staff-a", o.note, at));
        f.s.audit(at, "orderflowctl", "review.resolve", "", {{"review_id", review}, {"by", "staff-a"}, {"note", o.note}});
        f.s.audit(at, "orderflowctl", "buyer.export", o.order, {{"by", "desk"}, {"buyer_user_id", o.buyer}});
        f.s.add_tag(o.order, "engraving", at);
        f.s.put_conversation(o.buyer, o.conversation, at);
    });
}

std::string on_disk(fixture& f) {
    f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    std::ifstream in(f.dir / "orderflow.db", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// The daemon's purge (docs/privacy.md, "How long it is kept"): a buyer's
// order ids must not outlive their personal data in the keys and audit
// entries kept for months more, or a forget by their id later finds nothing
// while their orders are still named.
TEST_CASE("With the key a purge leaves no id in clear in what it keeps and still refuses a redelivery or a re-plan", "[retention]") {
    fixture f;
    const old_order gone;
    old_order kept;
    kept.order = "5880000000000002", kept.buyer = "7200000000000002", kept.conversation = "conv-0002", kept.message = "msg-0002";
    kept.package = "1152000000000082", kept.tracking = "4912-0000-1111", kept.note = "called 佐藤 健";
    kept.notifications = "tts:830000000000000000";
    plant_old_order(f, gone, old_time);
    plant_old_order(f, kept, recent);
    f.s.audit(old_time, "orderflowd", "breaker.tripped", "", {{"reason", "5 failed sends in a row"}});   // about the daemon itself
    {
        const std::string before = on_disk(f);
        for (const auto& t : gone.traces()) REQUIRE(before.find(t) != std::string::npos);   // the search can see them
    }

    const auto n = purge_personal_data(f.db, cutoff, -1, forget_key);
    CHECK(n.events == 4);
    CHECK(n.actions == 1);
    CHECK(n.conversations == 1);
    CHECK(n.reviews == 1);
    CHECK(n.tags == 1);
    CHECK(n.hashed == 5);   // the old order's four audit entries and the breaker's

    const std::string after = on_disk(f);
    for (const auto& t : gone.traces()) {
        INFO("an id of the old order, or staff's note about its buyer: " << t);
        CHECK(after.find(t) == std::string::npos);
    }
    for (const auto& t : kept.traces()) {
        INFO("the recent order's data: " << t);
        CHECK(after.find(t) != std::string::npos);
    }
    // Redeliveries and re-plans are still refused: TikTok's notification
    // ids are kept, a package webhook's rows by their notification, and the
    // idempotency key (a hash already).
    auto again = make_event(gone.notifications + "1", recent);
    CHECK_FALSE(f.s.add_event(again));
    auto package_again = make_event(gone.notifications + "2#" + gone.package + "#" + gone.order, recent);
    package_again.topic = 4;
    CHECK_FALSE(f.s.add_event(package_again));
    auto replanned = make_action("thanks", recent);
    replanned.idem_key = hash_key("thanks|0|order:" + gone.order);
    CHECK_FALSE(f.s.add_action(replanned));
    // Who did what and when is kept, under the order's pseudonym; the
    // operator who has the key finds it by the order id.
    const auto audit = f.s.audit_entries(0, order_pseudonym(forget_key, gone.order), "", 10);
    REQUIRE(audit.size() == 3);
    for (const auto& e : audit) {
        INFO(e.dump());
        CHECK((e.at("detail").contains("action_id") || e.at("detail").contains("by")));
        if (e.at("action") == "send_message") CHECK(e.at("detail").at("conversation_id").get<std::string>().starts_with("hash:"));
    }
    const auto resolve = f.s.audit_entries(0, "", "review.resolve", 10);
    REQUIRE(resolve.size() == 2);
    CHECK_FALSE(resolve[1].at("detail").contains("note"));   // the old one (newest first)
    CHECK(resolve[1].at("detail").at("by") == "staff-a");
    // An entry about the daemon itself keeps its own words.
    CHECK(f.s.audit_entries(0, "", "breaker.tripped", 10).at(0).at("detail").at("reason") == "5 failed sends in a row");
    // A second purge finds nothing more to do.
    CHECK(purge_personal_data(f.db, cutoff, -1, forget_key).total() == 0);
}

// The backlog's rows after the old purge's are recent ones that need
// nothing yet: a batch looks at a bounded window of them and says there is
// more, rather than scanning them all inside one write lock.
TEST_CASE("The backlog of an earlier version's purge moves through rows that need nothing a bounded window at a time", "[retention]") {
    fixture f;
    for (int i = 0; i < 40; ++i) f.add_event("n-recent-" + std::to_string(i), recent, "done");
    f.db.exec("INSERT INTO daemon_state (name, value, updated_at) VALUES ('purge_backlog', "
              "json_object('inbox', json_array(0, (SELECT max(id) FROM inbox)), 'outbox', json_array(0, 0)), 0)");
    std::vector<bool> more;
    for (int call = 0; call < 20; ++call) {
        const auto n = purge_personal_data(f.db, cutoff, 2, forget_key);
        CHECK(n.hashed == 0);   // nothing there was purged by the old version
        more.push_back(n.more);
        if (!n.more) break;
    }
    // 40 rows, 8 (4 batches of 2) a look: five looks, the last one through.
    CHECK(more == std::vector<bool>{true, true, true, true, false});
    CHECK_FALSE(f.s.get_state("purge_backlog"));
}

// Rows an earlier version purged kept their ids in clear; migration 19
// recorded how far they go, and the purge hashes them a batch at a time.
TEST_CASE("With the key a purge in batches also hashes the ids that an earlier version's purge left in clear", "[retention]") {
    fixture f;
    const old_order o;
    plant_old_order(f, o, old_time);
    purge_personal_data(f.db, cutoff);   // as a version before 19 did: payloads only
    // The backlog migration 19 records on a database that has rows.
    f.db.exec("INSERT INTO daemon_state (name, value, updated_at) VALUES ('purge_backlog', "
              "json_object('inbox', json_array(0, (SELECT max(id) FROM inbox)), 'outbox', json_array(0, (SELECT max(id) FROM outbox))), 0)");
    REQUIRE(on_disk(f).find(o.order) != std::string::npos);

    std::vector<int> hashed;
    for (int call = 0; call < 10; ++call) {
        const auto n = purge_personal_data(f.db, cutoff, 2, forget_key);
        hashed.push_back(n.hashed);
        if (n.total() == 0) break;
    }
    // Four audit entries, four events and one action, at most two of each a batch.
    CHECK(hashed == std::vector<int>{5, 4, 0});
    CHECK_FALSE(f.s.get_state("purge_backlog"));
    const std::string disk = on_disk(f);
    for (const auto& t : o.traces()) {
        INFO(t);
        CHECK(disk.find(t) == std::string::npos);
    }
}

TEST_CASE("Whole rows go after their own periods, and what is still needed stays", "[retention]") {
    fixture f;
    // Finished events with their change keys: old ones go, the rest stay.
    auto old_event = make_event("n-old", old_time);
    old_event.change_key = "order:o1:DELIVERED";
    REQUIRE(f.s.add_event(old_event));
    REQUIRE(f.s.claim_change(f.db.last_insert_rowid(), old_event.change_key) > 0);
    CHECK(count_rows(f.db, "inbox_changes") == 1);
    f.s.finish_event(f.db.last_insert_rowid(), "done", "handled", old_time);
    const auto pending = f.add_event("n-old-pending", old_time);   // a timer or a retry: never deleted
    const auto fresh = f.add_event("n-recent", recent, "done");
    // Settled actions go with their history; unfinished ones stay however old.
    const auto done = f.add_action("done", old_time, "done");
    const auto unknown = f.add_action("unknown", old_time, "unknown");
    const auto planned = f.add_action("planned", old_time, "planned");
    const auto recent_done = f.add_action("recent", recent, "done");
    f.s.add_tag("o1", "old-tag", old_time);
    f.s.add_tag("o1", "new-tag", recent);
    const auto resolved = f.s.raise_review("o1", "send_failed", "warning", "x", {}, old_time);
    REQUIRE(f.s.set_review_state(resolved, "resolved", "alice", "done", old_time));
    const auto open = f.s.raise_review("o2", "send_failed", "warning", "y", {}, old_time);
    f.s.audit(old_time, "orderflowd", "send_message", "o1", {{"action_id", done}});
    f.s.audit(recent, "orderflowd", "send_message", "o1", {{"action_id", recent_done}});
    const auto history_of = [&](std::int64_t id) { return f.s.action_history(id).size(); };
    REQUIRE(history_of(done) == 3);

    // One row per table per batch: the second call takes what the first left.
    const auto first = purge_rows(f.db, {cutoff, cutoff, cutoff}, 1);
    CHECK(first.events == 1);
    CHECK(first.actions == 1);
    CHECK(first.tags == 1);
    CHECK(first.reviews == 1);
    CHECK(first.audit == 1);
    CHECK(purge_rows(f.db, {cutoff, cutoff, cutoff}, 1).total() == 0);

    CHECK(count_rows(f.db, "inbox") == 2);
    CHECK(f.s.get_event(pending));
    CHECK(f.s.get_event(fresh));
    CHECK(count_rows(f.db, "inbox_changes") == 0);            // went with its event
    CHECK_FALSE(f.s.get_action(done));
    CHECK(history_of(done) == 0);                              // went with its action
    CHECK(f.s.get_action(unknown));
    CHECK(f.s.get_action(planned));
    CHECK(f.s.get_action(recent_done));
    CHECK(f.s.tags("o1") == std::vector<std::string>{"new-tag"});
    CHECK_FALSE(f.s.get_review(resolved));
    CHECK(f.s.get_review(open));
    CHECK(f.s.recent_audit(10).size() == 1);
    // The per-state counts followed the deletes.
    CHECK(f.s.counts()["inbox"]["done"] == 1);
    CHECK(f.s.counts()["outbox"]["done"] == 1);
}

TEST_CASE("A year of traffic with daily purges: the database stays bounded and nothing is planned twice", "[retention][year]") {
    fixture f;
    constexpr std::int64_t day = 86400;
    constexpr int orders_per_day = 60;
    constexpr std::int64_t keys_days = 30, personal_days = 7;
    const std::int64_t start = 1'700'000'000;
    std::int64_t size_at_day_90 = 0, size_at_day_365 = 0, most_inbox_rows = 0;
    auto file_size = [&] {
        f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        return static_cast<std::int64_t>(std::filesystem::file_size(f.dir / "orderflow.db"));
    };
    auto order_id = [](int d, int i) { return "o" + std::to_string(d) + "-" + std::to_string(i); };
    for (int d = 0; d < 365; ++d) {
        const std::int64_t now = start + d * day;
        f.db.transaction([&] {
            for (int i = 0; i < orders_per_day; ++i) {
                const std::string id = order_id(d, i);
                new_event e = make_event("tts:" + id, now);
                e.order_id = id;
                e.change_key = "order:" + id + ":AWAITING_SHIPMENT";
                e.payload = R"({"type":1,"data":{"order_id":")" + id + R"(","buyer":"Jane Doe","address":"1 High Street"}})";
                REQUIRE(f.s.add_event(e));
                f.s.finish_event(f.db.last_insert_rowid(), "done", "matched: thanks", now);
                new_action a = make_action("thanks", now, R"({"text":"Hi Jane, thank you for order )" + id + R"(","buyer_user_id":"b1"})");
                a.idem_key = hash_key("thanks|0|order:" + id);
                a.order_id = id;
                REQUIRE(f.s.add_action(a));
                const auto aid = f.db.last_insert_rowid();
                f.s.begin_attempt(aid, now);
                f.s.set_action_state(aid, "done", "", action_result, now);
                f.s.put_order({id, "AWAITING_SHIPMENT", R"({"buyer_name":"Jane Doe"})", now});
                f.s.add_tag(id, "vip", now);
                f.s.audit(now, "orderflowd", "send_message", id, {{"action_id", aid}});
            }
        });
        // Within the keys' period, yesterday's webhooks redelivered and
        // yesterday's actions re-planned are all refused.
        if (d > 0) {
            for (int i = 0; i < orders_per_day; i += 7) {
                const std::string id = order_id(d - 1, i);
                CHECK_FALSE(f.s.add_event(make_event("tts:" + id, now)));
                new_action again = make_action("thanks", now);
                again.idem_key = hash_key("thanks|0|order:" + id);
                CHECK_FALSE(f.s.add_action(again));
            }
        }
        purge_personal_data(f.db, now - personal_days * day);
        while (purge_rows(f.db, {now - keys_days * day, now - keys_days * day, now - 60 * day}, 500).total() > 0) {
        }
        return_free_pages(f.db, 100000);
        most_inbox_rows = std::max(most_inbox_rows, count_rows(f.db, "inbox"));
        if (d == 89) size_at_day_90 = file_size();
    }
    size_at_day_365 = file_size();
    INFO("file size at day 90: " << size_at_day_90 << " bytes, at day 365: " << size_at_day_365 << " bytes");
    // Bounded: the rows of the keys' period, not of the year.
    CHECK(most_inbox_rows <= (keys_days + 1) * orders_per_day);
    CHECK(count_rows(f.db, "outbox") <= (keys_days + 1) * orders_per_day);
    CHECK(count_rows(f.db, "audit_log") <= 61 * orders_per_day);
    CHECK(size_at_day_365 <= size_at_day_90 * 11 / 10);
    // A year's worth would be more than four times as large.
    CHECK(count_rows(f.db, "inbox") * 4 < 365 * orders_per_day);
}

TEST_CASE("The space of deleted rows goes back to the file system", "[retention]") {
    fixture f;
    const std::string big(2000, 'x');
    f.db.transaction([&] {
        for (int i = 0; i < 3000; ++i) {
            new_event e = make_event("n-" + std::to_string(i), old_time);
            e.payload = R"({"note":")" + big + R"("})";
            REQUIRE(f.s.add_event(e));
            f.s.finish_event(f.db.last_insert_rowid(), "done", "", old_time);
        }
    });
    auto size = [&] {
        f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        return std::filesystem::file_size(f.dir / "orderflow.db");
    };
    const auto full = size();
    while (purge_rows(f.db, {cutoff, cutoff, cutoff}, 1000).total() > 0) {
    }
    CHECK(size() == full);   // deleted rows leave free pages behind
    CHECK(return_free_pages(f.db, 100000) > 1000);
    const auto after = size();
    INFO("before: " << full << " bytes, after: " << after);
    CHECK(after * 10 < full);
}

}  // namespace ORDERFLOW_TEST_FILE
