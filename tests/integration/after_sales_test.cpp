// Cancellations and returns end to end, with the real binaries and the
// shipped cookbook rules (etc/orderflow/rules/20-cookbook.json): the sandbox
// plays a buyer who asks to cancel and one who asks for a return; orderflowd
// flags them for staff (the database and `orderflowctl review list`), and
// acknowledges the cancellation request to the buyer exactly once (the
// sandbox's message record). With the webhooks lost the poller finds the
// same changes, and a change seen by a webhook and a poll is one event.
// Nothing orderflow does accepts or refuses a cancellation or a return: the
// sandbox records no such call.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"

#include <catch2/catch.hpp>

#include <map>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;
using namespace std::chrono_literals;

namespace {

// Every pass re-reads the last 5 s, so a change is seen by several passes.
const json poll_config = {{"interval", "1s"}, {"overlap", "5s"}, {"start", "now"}};
constexpr auto poll_deadline = 10s;   // interval + overlap + slack for Get Order Detail and the send

void start(stack& s) {
    s.write_rules("20-cookbook.json", read_file(source_dir() / "etc/orderflow/rules/20-cookbook.json"));
    s.extra_config = {{"poll", poll_config}};
    s.start_all();
}

struct placed_order {
    std::string id, user_id;
};

placed_order order_in(stack& s, const std::string& buyer, std::initializer_list<const char*> statuses) {
    auto o = s.create_order({{"buyer_name", buyer},
                             {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグカップ"}, {"sale_price", "1800"}}}}});
    placed_order p{o.at("id").get<std::string>(), o.at("user_id").get<std::string>()};
    for (const char* status : statuses) s.set_status(p.id, status);
    return p;
}

struct review_row {
    std::string reason, severity, state;
    std::int64_t occurrences = 0;
};

std::vector<review_row> reviews(stack& s, const std::string& order_id) {
    auto db = orderflow::storage::database::open(s.db_path());
    auto st = db.prepare("SELECT reason, severity, state, occurrences FROM review WHERE order_id = ?1 ORDER BY id");
    st.bind(1, order_id);
    std::vector<review_row> out;
    while (st.step()) out.push_back({st.text(0), st.text(1), st.text(2), st.int64(3)});
    return out;
}

bool has_review(stack& s, const std::string& order_id, const std::string& reason) {
    for (const auto& r : reviews(s, order_id))
        if (r.reason == reason) return true;
    return false;
}

struct inbox_row {
    std::string source, state, note, change;
};

// The inbox rows of one topic for an order, with the change each reports.
std::vector<inbox_row> inbox(stack& s, int topic, const std::string& order_id) {
    auto db = orderflow::storage::database::open(s.db_path());
    auto st = db.prepare("SELECT source, state, note, payload FROM inbox WHERE topic = ?1 AND order_id = ?2 ORDER BY id");
    st.bind(1, std::int64_t{topic}).bind(2, order_id);
    std::vector<inbox_row> out;
    while (st.step()) {
        json data = json::parse(st.text(3)).value("data", json::object());
        std::string change = topic == 11 ? data.value("cancel_id", "") + ":" + data.value("cancel_status", "")
                                         : data.value("return_id", "") + ":" + data.value("return_status", "");
        out.push_back({st.text(0), st.text(1), st.text(2), change});
    }
    return out;
}

// Each change counted once: every other sighting of it is ignored.
std::map<std::string, int> counted_changes(const std::vector<inbox_row>& rows) {
    std::map<std::string, int> counted;
    for (const auto& r : rows)
        if (r.state != "ignored") ++counted[r.change];
    return counted;
}

std::vector<json> messages_to(stack& s, const std::string& user_id) {
    std::vector<json> out;
    for (auto& m : s.shop_messages())
        if (m.value("user_id", "") == user_id) out.push_back(m);
    return out;
}

std::size_t poll_passes(stack& s, const std::string& what) {
    std::size_t n = 0;
    for (const auto& l : log_lines(s.daemon.log(), "poll_done")) n += l.value("what", "") == what;
    return n;
}

// Waits until `more` passes of `what` have run beyond those logged now.
void wait_passes(stack& s, const std::string& what, std::size_t more) {
    const std::size_t before = poll_passes(s, what);
    REQUIRE(eventually([&] { return poll_passes(s, what) >= before + more; }, 2 * poll_deadline));
}

// orderflow informs and flags; accepting or refusing is staff's, in Seller Center.
void no_after_sales_decision(stack& s) {
    const json calls = s.control("GET", "/control/calls?path=/return_refund/").json_body();
    for (const auto& c : calls.at("calls")) {
        CAPTURE(c.at("path"));
        CHECK(c.at("path").get<std::string>().ends_with("/search"));
    }
}

const std::string acknowledgement_ja = "のキャンセルのご依頼を承りました。";

}  // namespace

TEST_CASE("A buyer's cancellation request reaches staff and the buyer is acknowledged exactly once", "[integration][after_sales]") {
    stack s;
    start(s);
    const placed_order o = order_in(s, "高橋 美咲", {"ON_HOLD", "AWAITING_SHIPMENT"});
    const json request = s.control("POST", "/control/orders/" + o.id + "/cancel_request", {{"reason", "Ordered twice"}}).json_body();
    const std::string cancel_id = request.at("cancel_id");

    REQUIRE(eventually([&] { return has_review(s, o.id, "cancel_requested") && !messages_to(s, o.user_id).empty(); }));
    auto sent = messages_to(s, o.user_id);
    REQUIRE(sent.size() == 1);
    CHECK_THAT(sent[0].value("text", ""), Catch::Contains("高橋 美咲様") && Catch::Contains(o.id + "）" + acknowledgement_ja));
    CHECK_THAT(ctl(s, {"review", "list"}).output, Catch::Contains("cancel_requested") && Catch::Contains(o.id));

    // The poller sees the same change on every pass of its overlap: still one event, one message, one item.
    wait_passes(s, "cancellations", 2);
    CHECK(messages_to(s, o.user_id).size() == 1);
    auto items = reviews(s, o.id);
    REQUIRE(items.size() == 1);
    CHECK(items[0].severity == "warning");
    CHECK(items[0].occurrences == 1);
    CHECK(counted_changes(inbox(s, 11, o.id)) == std::map<std::string, int>{{cancel_id + ":CANCELLATION_REQUEST_PENDING", 1}});

    // Staff approve it in Seller Center (the sandbox plays that): the
    // cancellation's success is a change of its own, and no second message.
    s.control("POST", "/control/cancellations/" + cancel_id + "/approve", json::object());
    REQUIRE(eventually([&] {
        for (const auto& r : inbox(s, 11, o.id))
            if (r.change == cancel_id + ":CANCELLATION_REQUEST_SUCCESS" && r.state == "done") return true;
        return false;
    }));
    CHECK(messages_to(s, o.user_id).size() == 1);
    CHECK(reviews(s, o.id).size() == 1);
    no_after_sales_decision(s);
}

TEST_CASE("A return request reaches staff, and the item shipped back is an info item", "[integration][after_sales]") {
    stack s;
    start(s);
    const placed_order o = order_in(s, "森 大輔", {"ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"});
    const json r = s.control("POST", "/control/orders/" + o.id + "/return_request", json::object()).json_body();
    const std::string return_id = r.at("return_id");
    REQUIRE(eventually([&] { return has_review(s, o.id, "return_requested"); }));

    s.control("POST", "/control/returns/" + return_id + "/approve", json::object());
    s.control("POST", "/control/returns/" + return_id + "/buyer_ship", json::object());
    REQUIRE(eventually([&] { return has_review(s, o.id, "return_shipped"); }));
    auto items = reviews(s, o.id);
    REQUIRE(items.size() == 2);
    CHECK(items[0].reason == "return_requested");
    CHECK(items[1].reason == "return_shipped");
    CHECK(items[1].severity == "info");
    CHECK(messages_to(s, o.user_id).empty());   // returns are for staff; nothing is promised to the buyer
    CHECK(counted_changes(inbox(s, 12, o.id)) == std::map<std::string, int>{{return_id + ":RETURN_OR_REFUND_REQUEST_PENDING", 1},
                                                                          {return_id + ":AWAITING_BUYER_SHIP", 1},
                                                                          {return_id + ":BUYER_SHIPPED_ITEM", 1}});
    no_after_sales_decision(s);
}

TEST_CASE("With the webhooks lost, the poller finds the cancellation request and return, and the rules fire once", "[integration][after_sales][poller]") {
    stack s;
    start(s);
    const placed_order o = order_in(s, "林 七海", {"ON_HOLD", "AWAITING_SHIPMENT"});
    const placed_order d = order_in(s, "佐藤 一郎", {"ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"});
    REQUIRE(s.control("POST", "/control/faults/random", {{"webhook_lose_share", 1.0}}).status == 200);
    const json request = s.control("POST", "/control/orders/" + o.id + "/cancel_request", json::object()).json_body();
    const std::string cancel_id = request.at("cancel_id");
    const json ret = s.control("POST", "/control/orders/" + d.id + "/return_request", {{"return_type", "REFUND"}}).json_body();

    REQUIRE(eventually([&] { return has_review(s, o.id, "cancel_requested") && !messages_to(s, o.user_id).empty(); }, poll_deadline));
    REQUIRE(eventually([&] { return has_review(s, d.id, "return_requested"); }, poll_deadline));
    for (const auto& row : inbox(s, 11, o.id)) CHECK(row.source == "poll");

    // The lost notification arrives late after all: the same change, ignored.
    REQUIRE(s.control("POST", "/control/faults/random", {{"webhook_lose_share", 0.0}}).status == 200);
    std::string notification;
    const json hooks = s.control("GET", "/control/webhooks").json_body();   // named: the loop must not outlive it
    for (const auto& w : hooks.at("webhooks"))
        if (w.value("type", 0) == 11 && w.value("order_id", "") == o.id) notification = w.at("notification_id").get<std::string>();
    REQUIRE_FALSE(notification.empty());
    REQUIRE(s.control("POST", "/control/webhooks/redeliver", {{"notification_id", notification}}).status == 200);
    // Stored at once; set aside when the pipeline reaches it.
    REQUIRE(eventually([&] {
        for (const auto& row : inbox(s, 11, o.id))
            if (row.source == "webhook" && row.state != "pending") return true;
        return false;
    }));
    for (const auto& row : inbox(s, 11, o.id))
        if (row.source == "webhook") {
            CHECK(row.state == "ignored");
            CHECK_THAT(row.note, Catch::StartsWith("same change as inbox event"));
        }
    wait_passes(s, "cancellations", 2);
    CHECK(messages_to(s, o.user_id).size() == 1);
    CHECK(reviews(s, o.id).size() == 1);
    CHECK(counted_changes(inbox(s, 11, o.id)) == std::map<std::string, int>{{cancel_id + ":CANCELLATION_REQUEST_PENDING", 1}});
    CHECK(counted_changes(inbox(s, 12, d.id)) ==
          std::map<std::string, int>{{ret.at("return_id").get<std::string>() + ":RETURN_OR_REFUND_REQUEST_PENDING", 1}});
}

}  // namespace ORDERFLOW_TEST_FILE
