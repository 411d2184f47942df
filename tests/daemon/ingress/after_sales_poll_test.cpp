// Tests for daemon/ingress/after_sales_poll.cpp and the client calls under
// it (tikapi::client::search_cancellations, search_returns) against the
// sandbox shop: a cancellation request or a return whose webhook was lost is
// found once by the poller, shaped like its webhook, with the change key its
// webhook has (so the webhook, arriving late, adds nothing), the shop's
// history before poll.start is left alone, and the cursors move forward.
#include "daemon/ingress/poller.hpp"

#include "daemon/data_rights.hpp"
#include "daemon/events.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/storage_watch.hpp"
#include "storage/buyer_data.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/webhook.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <variant>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using json = nlohmann::json;
using namespace orderflow;
using namespace orderflow::daemon;
using orderflow::daemon::testing::runtime_env;

namespace {

struct after_sales_env {
    runtime_env env;
    std::unique_ptr<rules_in_force> in_force;
    storage_watch watch{env.ctx, *env.desk, env.sup, {}};
    inbox_writer writer{env.ctx, watch};
    std::unique_ptr<poller> poll;

    explicit after_sales_env(std::optional<std::int64_t> start_at) {
        env.authorize();
        in_force = env.in_force_with([&](config& c) { c.poll.start_at = start_at; });
        poll = std::make_unique<poller>(env.ctx, *in_force, *env.api, *env.tokens, writer, watch, env.sup, [] {});
    }

    void cancellations_pass() {
        std::optional<bool> expired;
        env.drive([&]() -> asio::awaitable<void> {
            const orderflow::secret* token = co_await env.tokens->access();
            REQUIRE(token != nullptr);
            expired = co_await poll->poll_cancellations(*token);
        });
        REQUIRE(expired.has_value());
        CHECK_FALSE(*expired);
    }
    void returns_pass() {
        std::optional<bool> expired;
        env.drive([&]() -> asio::awaitable<void> {
            const orderflow::secret* token = co_await env.tokens->access();
            REQUIRE(token != nullptr);
            expired = co_await poll->poll_returns(*token);
        });
        REQUIRE(expired.has_value());
        CHECK_FALSE(*expired);
    }
    std::vector<storage::event_row> events() { return env.store.recent_events(100); }

    // The webhook of `type` the sandbox made whose data[field] == value, as ingress stores it.
    std::optional<storage::new_event> webhook_for(int type, const std::string& field, const std::string& value) {
        auto list = env.control("GET", "/control/webhooks");
        for (const auto& w : list.at("webhooks")) {
            const json& payload = w.at("payload");
            if (payload.value("type", 0) != type || payload.at("data").value(field, "") != value) continue;
            auto parsed = tikapi::parse_webhook(payload.dump());
            REQUIRE(std::holds_alternative<tikapi::webhook_event>(parsed));
            return inbox_event_from_webhook(std::get<tikapi::webhook_event>(parsed), payload.dump(), env.now);
        }
        return std::nullopt;
    }
};

// An order delivered to its buyer, for returns.
std::string delivered_order(runtime_env& env) {
    const std::string id = env.create_order("森 大輔");
    env.make_ready_to_ship(id);
    env.control("POST", "/control/orders/" + id + "/status", {{"status", "AWAITING_COLLECTION"}});
    env.control("POST", "/control/orders/" + id + "/status", {{"status", "IN_TRANSIT"}});
    env.control("POST", "/control/orders/" + id + "/status", {{"status", "DELIVERED"}});
    return id;
}

}  // namespace

TEST_CASE("search_cancellations and search_returns read the sandbox's records with their filters and pages", "[poller][after_sales][client]") {
    after_sales_env p(std::nullopt);
    const std::string a = p.env.create_order("高橋 美咲"), b = p.env.create_order("林 七海");
    p.env.make_ready_to_ship(a);
    p.env.make_ready_to_ship(b);
    json ca = p.env.control("POST", "/control/orders/" + a + "/cancel_request", {{"reason", "Ordered twice"}});
    p.env.now += 10;
    json cb = p.env.control("POST", "/control/orders/" + b + "/cancel_request", json::object());
    p.env.now += 10;
    p.env.control("POST", "/control/cancellations/" + cb["cancel_id"].get<std::string>() + "/withdraw", json::object());
    const std::string r = delivered_order(p.env);
    json ret = p.env.control("POST", "/control/orders/" + r + "/return_request", {{"return_type", "REFUND"}});

    std::optional<tikapi::result<tikapi::cancellation_page>> all, pending, paged;
    std::optional<tikapi::result<tikapi::return_page>> returns;
    p.env.drive([&]() -> asio::awaitable<void> {
        const orderflow::secret* token = co_await p.env.tokens->access();
        REQUIRE(token != nullptr);
        tikapi::cancellation_search q;
        all = co_await p.env.api->search_cancellations(q, *token);
        q.cancel_status = {"CANCELLATION_REQUEST_PENDING"};
        pending = co_await p.env.api->search_cancellations(q, *token);
        tikapi::cancellation_search one;
        one.page_size = 1;
        paged = co_await p.env.api->search_cancellations(one, *token);
        tikapi::return_search rq;
        rq.order_ids = {r};
        returns = co_await p.env.api->search_returns(rq, *token);
    });
    REQUIRE(all->ok());
    REQUIRE(all->value().cancellations.size() == 2);
    // Sorted by update_time, oldest first: a's request, then b's withdrawal.
    const auto& first = all->value().cancellations[0];
    CHECK(first.id == ca["cancel_id"]);
    CHECK(first.order_id == a);
    CHECK(first.status == "CANCELLATION_REQUEST_PENDING");
    CHECK(first.role == "BUYER");
    CHECK(first.reason == "Ordered twice");
    CHECK(all->value().cancellations[1].status == "CANCELLATION_REQUEST_CANCELLED");
    REQUIRE(pending->ok());
    REQUIRE(pending->value().cancellations.size() == 1);
    CHECK(pending->value().cancellations[0].order_id == a);
    REQUIRE(paged->ok());
    CHECK(paged->value().cancellations.size() == 1);
    CHECK(paged->value().total_count == 2);
    CHECK_FALSE(paged->value().next_page_token.empty());
    REQUIRE(returns->ok());
    REQUIRE(returns->value().returns.size() == 1);
    CHECK(returns->value().returns[0].id == ret["return_id"]);
    CHECK(returns->value().returns[0].type == "REFUND");
    CHECK(returns->value().returns[0].status == "RETURN_OR_REFUND_REQUEST_PENDING");
    CHECK(returns->value().returns[0].role == "BUYER");

    // The calls the sandbox saw: the documented paths, signed, with their bodies.
    auto calls = p.env.control("GET", "/control/calls?path=/return_refund/")["calls"];
    REQUIRE(calls.size() == 4);
    CHECK(calls[0]["path"] == "/return_refund/202309/cancellations/search");
    CHECK(calls[0]["query"]["sort_field"] == "update_time");
    CHECK(calls[0]["query"]["page_size"] == "50");
    CHECK(json::parse(calls[1]["body"].get<std::string>()) == json{{"cancel_status", {"CANCELLATION_REQUEST_PENDING"}}});
    CHECK(calls[3]["path"] == "/return_refund/202309/returns/search");
    CHECK(json::parse(calls[3]["body"].get<std::string>()) == json{{"order_ids", {r}}});
}

TEST_CASE("A return search with a page size under 10 is refused without calling", "[poller][after_sales][client]") {
    after_sales_env p(std::nullopt);
    std::optional<tikapi::result<tikapi::return_page>> res;
    p.env.drive([&]() -> asio::awaitable<void> {
        const orderflow::secret* token = co_await p.env.tokens->access();
        tikapi::return_search q;
        q.page_size = 5;
        res = co_await p.env.api->search_returns(q, *token);
    });
    REQUIRE_FALSE(res->ok());
    CHECK(res->error().kind == tikapi::error_kind::decode);
    CHECK(p.env.control("GET", "/control/calls?path=/return_refund/")["calls"].empty());
}

TEST_CASE("A cancellation request whose webhook was lost is found once by the poller, and its late webhook adds nothing", "[poller][after_sales]") {
    const std::int64_t t0 = 1'790'000'000;
    after_sales_env p(t0 - 300);
    p.env.now = t0 - 2000;
    const std::string old = p.env.create_order();
    p.env.make_ready_to_ship(old);
    p.env.control("POST", "/control/orders/" + old + "/cancel_request", json::object());   // history: before poll.start
    p.env.now = t0 - 100;
    const std::string id = p.env.create_order("高橋 美咲");
    p.env.make_ready_to_ship(id);
    json request = p.env.control("POST", "/control/orders/" + id + "/cancel_request", json::object());
    const std::string cancel_id = request["cancel_id"];
    p.env.now = t0;

    p.cancellations_pass();
    auto events = p.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].order_id == id);
    CHECK(events[0].source == "poll");
    CHECK(events[0].topic == 11);
    CHECK(events[0].event == "order.cancellation_changed");
    CHECK(events[0].dedupe_key == "poll:cancel:" + cancel_id + ":CANCELLATION_REQUEST_PENDING");
    json data = json::parse(events[0].payload)["data"];
    CHECK(data["cancel_status"] == "CANCELLATION_REQUEST_PENDING");
    CHECK(data["cancellations_role"] == "BUYER");
    CHECK(data["cancel_id"] == cancel_id);
    CHECK(p.env.store.get_state("poll.cancellations") == std::to_string(t0 - 300 + 600));

    // The same change again: nothing new.
    p.cancellations_pass();
    CHECK(p.events().size() == 1);

    // The webhook arrives late: kept, not processed.
    auto late = p.webhook_for(11, "cancel_id", cancel_id);
    REQUIRE(late.has_value());
    CHECK(late->change_key == "cancel:" + cancel_id + ":CANCELLATION_REQUEST_PENDING");
    REQUIRE(p.env.store.add_event(*late));
    // Both wait for the pipeline, which takes them in inbox order: the poll
    // claims the change, and the webhook finds it claimed (it is ignored then).
    auto pending = p.env.store.pending_events(p.env.now, 10);
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].source == "poll");
    CHECK(p.env.store.claim_change(pending[0].id, pending[0].change_key) == pending[0].id);
    CHECK(p.env.store.claim_change(pending[1].id, pending[1].change_key) == pending[0].id);

    // The seller approves later: a new change, found by the next pass.
    p.env.now = t0 + 60;
    p.env.control("POST", "/control/cancellations/" + cancel_id + "/approve", json::object());
    p.cancellations_pass();
    auto after = p.events();
    REQUIRE(after.size() == 3);
    CHECK(after[0].dedupe_key == "poll:cancel:" + cancel_id + ":CANCELLATION_REQUEST_SUCCESS");
}

TEST_CASE("A webhook taken up first makes the poller add nothing for the same cancellation change", "[poller][after_sales]") {
    const std::int64_t t0 = 1'790'000'000;
    after_sales_env p(t0 - 300);
    p.env.now = t0 - 100;
    const std::string id = p.env.create_order();
    p.env.make_ready_to_ship(id);
    json request = p.env.control("POST", "/control/orders/" + id + "/cancel_request", json::object());
    auto hook = p.webhook_for(11, "cancel_id", request["cancel_id"]);
    REQUIRE(hook.has_value());
    REQUIRE(p.env.store.add_event(*hook));
    // The pipeline took it up, which claims its change.
    const auto hook_id = p.events().at(0).id;
    REQUIRE(p.env.store.claim_change(hook_id, hook->change_key) == hook_id);
    p.env.now = t0;
    p.cancellations_pass();
    auto events = p.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].source == "webhook");
}

TEST_CASE("A return's statuses are found by the returns pass, one event each, shaped like type 12", "[poller][after_sales]") {
    const std::int64_t t0 = 1'790'000'000;
    after_sales_env p(t0 - 300);
    p.env.now = t0 - 100;
    const std::string id = delivered_order(p.env);
    json r = p.env.control("POST", "/control/orders/" + id + "/return_request", json::object());
    const std::string return_id = r["return_id"];
    p.env.now = t0;
    p.returns_pass();
    auto events = p.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == 12);
    CHECK(events[0].event == "order.return_changed");
    CHECK(events[0].order_id == id);
    CHECK(events[0].dedupe_key == "poll:return:" + return_id + ":RETURN_OR_REFUND_REQUEST_PENDING");
    json data = json::parse(events[0].payload)["data"];
    CHECK(data["return_type"] == "RETURN_AND_REFUND");
    CHECK(data["return_role"] == "BUYER");
    CHECK(data["return_id"] == return_id);

    p.env.now = t0 + 60;
    p.env.control("POST", "/control/returns/" + return_id + "/approve", json::object());
    p.returns_pass();
    REQUIRE(p.events().size() == 2);
    CHECK(p.events()[0].dedupe_key == "poll:return:" + return_id + ":AWAITING_BUYER_SHIP");
    CHECK(p.env.store.get_state("poll.returns").has_value());
}

// docs/privacy.md, "Erasure": a cancellation or a return of a forgotten
// buyer's order, made before the forget and read after it (the overlap, a
// restored copy's older cursor), is not stored; a later change is.
TEST_CASE("After-sales passes store nothing of a forgotten buyer's requests made before the forget, and her later ones", "[poller][after_sales][privacy]") {
    after_sales_env p(1'790'000'000 - 60);
    const orderflow::secret key(std::string(32, 'k'));
    p.poll->set_forget_key(key.clone());
    const std::string cancelled = p.env.create_order("高橋 美咲");
    p.env.make_ready_to_ship(cancelled);
    const json request = p.env.control("POST", "/control/orders/" + cancelled + "/cancel_request", {{"reason", "Ordered twice"}});
    const std::string returned = delivered_order(p.env);
    p.env.control("POST", "/control/orders/" + returned + "/return_request", {{"return_type", "REFUND"}});
    p.env.now += 10;
    // Both buyers are forgotten (as buyer forget leaves their orders' hashes).
    p.env.db.transaction([&] {
        for (const auto& order : {cancelled, returned})
            storage::note_forgotten(p.env.db, storage::forget_hash(key_bytes(key), "order:" + order), p.env.now, false);
    });
    p.env.now += 10;
    orderflow::testing::log_capture logs;
    p.cancellations_pass();
    p.returns_pass();
    const auto done = orderflow::testing::log_lines(logs.finish(), "poll_done");
    REQUIRE(done.size() == 2);
    CHECK(done[0]["set_aside"] == 1);
    CHECK(done[1]["set_aside"] == 1);
    CHECK(p.events().empty());

    // Her later change of mind: anyone's.
    p.env.now += 10;
    p.env.control("POST", "/control/cancellations/" + request["cancel_id"].get<std::string>() + "/withdraw", json::object());
    p.env.now += 5;
    p.cancellations_pass();
    const auto events = p.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].order_id == cancelled);
    CHECK(events[0].event == "order.cancellation_changed");
}

}  // namespace ORDERFLOW_TEST_FILE
