// When orderflow must not go on alone: the circuit breaker that pauses a rule
// gone wrong until staff resume, digests instead of a storm of alerts, the
// daily heartbeat, the guards at send time (caps, quiet hours, cancelled
// orders, giving up) and the admin socket that carries staff commands. Real
// binaries against the sandbox; the sandbox's record and the database judge.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <ctime>
#include <set>
#include <sys/stat.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

// A command channel that appends each notification, one JSON object per line.
json command_channel(const std::filesystem::path& file) {
    return {{"type", "command"}, {"min_severity", "info"},
            {"command", {"/bin/sh", "-c", "tr -d '\\n' >> " + file.string() + "; echo >> " + file.string()}}};
}

std::vector<json> lines_of(const std::filesystem::path& file) {
    std::vector<json> out;
    if (!std::filesystem::exists(file)) return out;
    std::string text = read_file(file), line;
    for (char c : text) {
        if (c != '\n') { line += c; continue; }
        if (!line.empty()) out.push_back(json::parse(line));
        line.clear();
    }
    return out;
}

std::string new_order(stack& s, int i) {
    auto o = s.create_order({{"buyer_name", "購入者 " + std::to_string(i)},
                             {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
    return o.at("id").get<std::string>();
}

orderflow::storage::action_row only_action(stack& s, const std::string& order_id) {
    auto db = orderflow::storage::database::open(s.db_path());
    auto actions = orderflow::storage::store(db).actions_for_order(order_id);
    REQUIRE(actions.size() == 1);
    return actions[0];
}

// "HH:MM" in Tokyo, `minutes` from now.
std::string tokyo_clock(int minutes) {
    std::time_t t = std::time(nullptr) + 9 * 3600 + minutes * 60;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d", tm.tm_hour, tm.tm_min);
    return buf;
}

}  // namespace

TEST_CASE("Past the breaker's volume sending pauses, staff hear of it, a restart keeps it paused, and resume continues",
          "[integration][breaker]") {
    stack s;
    s.extra_config = {{"breaker", {{"max_sends", 3}, {"interval", "10m"}}},
                      {"notify", {{"heartbeat", "off"}, {"channels", {{"staff", command_channel(s.dir / "staff.jsonl")}}}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    std::vector<std::string> ids;
    for (int i = 0; i < 8; ++i) {
        ids.push_back(new_order(s, i));
        s.set_status(ids.back(), "ON_HOLD");
        s.set_status(ids.back(), "AWAITING_SHIPMENT");
    }
    auto paused = wait_for_log(s.daemon.log(), "sending_paused");
    CHECK(paused.at("limit") == 3);
    auto planned_all = [&] {
        auto db = orderflow::storage::database::open(s.db_path());
        auto c = orderflow::storage::store(db).counts();
        return c["inbox"].value("pending", 0) == 0 && c["outbox"].value("planned", 0) + c["outbox"].value("done", 0) == 8;
    };
    REQUIRE(eventually(planned_all));
    const auto sent_before = s.shop_messages().size();
    CHECK(sent_before <= 3);

    // Staff are told, once, with what to do.
    REQUIRE(eventually([&] { return lines_of(s.dir / "staff.jsonl").size() == 1; }));
    auto alert = lines_of(s.dir / "staff.jsonl").at(0);
    CHECK(alert.at("reason") == "circuit_breaker");
    CHECK(alert.at("severity") == "critical");
    CHECK_THAT(alert.at("summary").get<std::string>(), Catch::Contains("orderflowctl resume"));
    auto status = ctl(s, {"status"});
    CHECK_THAT(status.output, Catch::Contains("PAUSED by the circuit breaker"));
    CHECK_THAT(ctl(s, {"review", "list"}).output, Catch::Contains("circuit_breaker"));

    // A restart does not quietly resume; one held order is cancelled meanwhile.
    s.kill_daemon();
    s.start_daemon();
    wait_for_log(s.daemon.log(), "sending_paused");
    const std::string cancelled = ids.back();
    s.set_status(cancelled, "CANCELLED");
    REQUIRE(eventually([&] {
        auto db = orderflow::storage::database::open(s.db_path());
        auto o = orderflow::storage::store(db).get_order(cancelled);
        return o && o->status == "CANCELLED";
    }));
    CHECK(s.shop_messages().size() == sent_before);

    SECTION("resume sends what was held, once each, but not to the cancelled order") {
        auto r = ctl(s, {"resume", "--by", "hanako"});
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("sending resumed by hanako"));
        REQUIRE(eventually([&] { return s.shop_messages().size() == 7; }));
        REQUIRE(eventually([&] { return only_action(s, cancelled).state == "skipped"; }));
        CHECK_THAT(only_action(s, cancelled).reason, Catch::Contains("cancelled"));
        std::set<std::string> texts;
        for (const auto& m : s.shop_messages()) texts.insert(m.at("text").get<std::string>());
        CHECK(texts.size() == 7);   // none twice
        CHECK_THAT(ctl(s, {"status"}).output, Catch::Contains("sending:  on"));
        CHECK_THAT(ctl(s, {"review", "list"}).output, !Catch::Contains("circuit_breaker"));
        CHECK_THAT(ctl(s, {"resume"}).output, Catch::Contains("not paused"));
    }
    SECTION("resume --drop-held skips what was held instead") {
        auto r = ctl(s, {"resume", "--drop-held"});
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("held messages dropped"));
        auto db = orderflow::storage::database::open(s.db_path());
        auto c = orderflow::storage::store(db).counts();
        CHECK(c["outbox"].value("skipped", 0) == static_cast<int>(8 - sent_before));
        CHECK(c["outbox"].value("planned", 0) == 0);
        CHECK(s.shop_messages().size() == sent_before);
    }
}

TEST_CASE("A burst of review items reaches each channel as one alert and one digest, every item once", "[integration][notify]") {
    stack s;
    s.extra_config = {{"notify", {{"heartbeat", "off"}, {"digest_interval", "3s"},
                                  {"channels", {{"staff", command_channel(s.dir / "staff.jsonl")}}}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    REQUIRE(s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 45109001},
                                                   {"http_status", 200}, {"message", "Unable to send messages due to conversation rules"},
                                                   {"count", 12}}).status == 200);
    const auto burst_began = std::chrono::steady_clock::now();
    for (int i = 0; i < 12; ++i) {
        auto id = new_order(s, i);
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
    }
    auto all_told = [&] {
        std::size_t items = 0;
        for (const auto& m : lines_of(s.dir / "staff.jsonl")) items += m.value("kind", "") == "digest" ? m.at("items").size() : 1;
        return items == 12;
    };
    REQUIRE(eventually(all_told, std::chrono::seconds(30)));
    auto messages = lines_of(s.dir / "staff.jsonl");
    // The first alone, then at most one message per 3 s digest interval
    // while the burst lasted: on this machine one digest; a slow or busy
    // machine spreads the burst over more intervals, never more messages.
    const auto burst_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - burst_began).count();
    INFO("the burst took " << burst_s << " s");
    CHECK(messages.size() < 12);
    CHECK(messages.size() <= static_cast<std::size_t>(2 + burst_s / 3));
    std::multiset<std::int64_t> review_ids;
    bool digest = false;
    for (const auto& m : messages) {
        if (m.value("kind", "") == "digest") {
            digest = true;
            CHECK(m.at("act") == "orderflowctl review list");
            for (const auto& i : m.at("items")) review_ids.insert(i.at("review_id").get<std::int64_t>());
        } else {
            review_ids.insert(m.at("review_id").get<std::int64_t>());
        }
    }
    CHECK(digest);
    CHECK(std::set<std::int64_t>(review_ids.begin(), review_ids.end()).size() == 12);   // each once
    CHECK(review_ids.size() == 12);
}

TEST_CASE("The daily heartbeat says what the daemon did and a restart the same day does not repeat it", "[integration][notify]") {
    stack s;
    s.extra_config = {{"notify", {{"heartbeat", "00:00"}, {"channels", {{"staff", command_channel(s.dir / "staff.jsonl")},
                                                                        {"quiet", {{"type", "command"}, {"heartbeat", false},
                                                                                   {"command", {"/bin/sh", "-c", "cat > " + (s.dir / "quiet.json").string()}}}}}}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    REQUIRE(eventually([&] { return lines_of(s.dir / "staff.jsonl").size() == 1; }));
    auto beat = lines_of(s.dir / "staff.jsonl").at(0);
    CHECK(beat.at("kind") == "heartbeat");
    CHECK_THAT(beat.at("summary").get<std::string>(), Catch::Contains("alive") && Catch::Contains("messages sent") && Catch::Contains("need review"));
    CHECK(beat.at("counts").contains("messages_sent"));
    // The delivery is recorded after the command exits: a crash before that
    // sends the heartbeat again (notifications are at least once), so the
    // restart comes after the record.
    wait_for_log(s.daemon.log(), "notification_sent");
    s.kill_daemon();
    s.start_daemon();
    wait_for_log(s.daemon.log(), "daemon_ready");
    // One more loop of the notifier has run once the daemon took a webhook and sent its message.
    auto id = new_order(s, 1);
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
    CHECK(lines_of(s.dir / "staff.jsonl").size() == 1);
    CHECK_FALSE(std::filesystem::exists(s.dir / "quiet.json"));   // that channel opted out
}

TEST_CASE("Guards at send time: a cap skips for review, quiet hours defer, and retryable failures give up into review",
          "[integration][guards]") {
    stack s;
    SECTION("the per-order cap") {
        s.extra_config = {{"guards", {{"messages_per_order_per_day", 1}}}};
        s.write_rules("10-thanks.json", R"({
          "templates": { "a": { "ja": "ご注文ありがとうございます。" }, "b": { "ja": "発送準備中です。" } },
          "rules": [ { "id": "first", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
                       "then": [ { "send_message": { "template": "a" } } ] },
                     { "id": "second", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
                       "then": [ { "send_message": { "template": "b" } } ] } ] })");
        s.start_all();
        auto id = new_order(s, 1);
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
        auto skipped = wait_for_log(s.daemon.log(), "action_skipped");
        CHECK_THAT(skipped.at("reason").get<std::string>(), Catch::Contains("messages_per_order_per_day"));
        CHECK(s.shop_messages().size() == 1);
        CHECK_THAT(ctl(s, {"review", "list"}).output, Catch::Contains("message_cap"));
    }
    SECTION("quiet hours") {
        s.extra_config = {{"guards", {{"quiet_hours", {{"from", tokyo_clock(-60)}, {"to", tokyo_clock(60)}}}}}};
        s.write_rules("10-thanks.json", thanks_rules);
        s.start_all();
        auto id = new_order(s, 1);
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
        auto deferred = wait_for_log(s.daemon.log(), "action_deferred");
        CHECK(deferred.at("reason") == "quiet hours");
        auto a = only_action(s, id);
        CHECK(a.state == "deferred");
        CHECK(a.attempts == 0);   // waiting is not an attempt
        CHECK_THAT(a.reason, Catch::Contains("quiet hours: waits until " + tokyo_clock(60)));
        const auto wait_s = a.not_before - std::time(nullptr);
        CHECK(wait_s > 58 * 60);
        CHECK(wait_s <= 61 * 60);
        CHECK(s.shop_messages().empty());
    }
    SECTION("a rule's own guards: no quiet hours for it, and a message to cancelled orders") {
        s.extra_config = {{"guards", {{"quiet_hours", {{"from", tokyo_clock(-60)}, {"to", tokyo_clock(60)}}}}}};
        s.write_rules("10-rules.json", R"({
          "templates": { "ready": { "ja": "発送準備中です。" }, "urgent": { "ja": "至急のご連絡です。" },
                         "sorry": { "ja": "ご注文のキャンセルを承りました。" } },
          "rules": [
            { "id": "ready", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
              "then": [ { "send_message": { "template": "ready" } } ] },
            { "id": "urgent", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
              "guards": { "quiet_hours": false }, "then": [ { "send_message": { "template": "urgent" } } ] },
            { "id": "sorry", "on": "order.status_changed", "if": { "order.status": { "eq": "CANCELLED" } },
              "guards": { "quiet_hours": false, "cancelled": true }, "then": [ { "send_message": { "template": "sorry" } } ] },
            { "id": "sorry-unguarded", "on": "order.status_changed", "if": { "order.status": { "eq": "CANCELLED" } },
              "guards": { "quiet_hours": false }, "then": [ { "send_message": { "template": "sorry" } } ] } ] })");
        s.start_all();
        auto id = new_order(s, 1);
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
        REQUIRE(eventually([&] { return s.shop_messages().size() == 1; }));
        CHECK(s.shop_messages().at(0).at("text") == "至急のご連絡です。");   // "ready" waits for the quiet hours to end
        auto other = new_order(s, 2);
        s.set_status(other, "CANCELLED");
        REQUIRE(eventually([&] { return s.shop_messages().size() == 2; }));
        CHECK(s.shop_messages().at(1).at("text") == "ご注文のキャンセルを承りました。");
        auto skipped = wait_for_log(s.daemon.log(), "action_skipped");   // the rule without "cancelled": true
        CHECK(skipped.at("rule_id") == "sorry-unguarded");
        CHECK_THAT(skipped.at("reason").get<std::string>(), Catch::Contains("cancelled"));
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        bool ready_deferred = false;
        for (const auto& a : store.actions_for_order(id)) ready_deferred |= a.rule_id == "ready" && a.state == "deferred";
        CHECK(ready_deferred);
    }
    SECTION("a send that waited is checked again against the order as it is now") {
        s.write_rules("10-thanks.json", thanks_rules);
        s.start_all();
        REQUIRE(s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 36009003},
                                                       {"http_status", 500}, {"count", 3}}).status == 200);
        auto id = new_order(s, 1);
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
        wait_for_log(s.daemon.log(), "action_deferred");
        s.set_status(id, "AWAITING_COLLECTION");   // shipped meanwhile: the thank-you rule no longer matches
        REQUIRE(eventually([&] { return only_action(s, id).state == "skipped"; }, std::chrono::seconds(30)));
        CHECK_THAT(only_action(s, id).reason, Catch::Contains("no longer matches"));
        CHECK(s.shop_messages().empty());
    }
    SECTION("giving up") {
        s.extra_config = {{"executor", {{"give_up_after", "3s"}, {"send_retry_max", "1s"}}}};
        s.write_rules("10-thanks.json", thanks_rules);
        s.start_all();
        REQUIRE(s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 36009003},
                                                       {"http_status", 500}, {"count", 1000}}).status == 200);
        auto id = new_order(s, 1);
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
        auto failed = wait_for_log(s.daemon.log(), "action_failed", std::chrono::seconds(30));
        CHECK_THAT(failed.at("error").get<std::string>(), Catch::Contains("gave up after 3 s"));
        CHECK_THAT(ctl(s, {"review", "list"}).output, Catch::Contains("send_failed"));
        auto db = orderflow::storage::database::open(s.db_path());
        orderflow::storage::store store(db);
        auto history = store.action_history(only_action(s, id).id);
        REQUIRE(history.size() >= 3);   // planned, deferred at least once, failed
        CHECK(history.front().state == "planned");
        CHECK(history.back().state == "failed");
        CHECK(s.shop_messages().empty());
    }
}

TEST_CASE("Staff commands go over the admin socket, which only the service's user and group can use", "[integration][admin]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    const auto sock = s.dir / "admin.sock";
    wait_for_log(s.daemon.log(), "admin_listening");
    struct stat st{};
    REQUIRE(::stat(sock.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(ctl(s, {"review", "list"}).exit_code == 0);
    auto bad = ctl(s, {"review", "frobnicate"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.output, Catch::Contains("usage"));

    // orderflowctl reload goes the same way as SIGHUP; a broken file keeps the rules.
    CHECK(ctl(s, {"reload"}).exit_code == 0);
    s.write_rules("20-broken.json", "{ \"rules\": [ { \"id\": ");
    auto broken = ctl(s, {"reload"});
    CHECK(broken.exit_code == 1);
    CHECK_THAT(broken.output, Catch::Contains("previous rules stay in force"));
    CHECK_THAT(ctl(s, {"review", "list"}).output, Catch::Contains("reload_failed"));
    auto metrics = ctl(s, {"metrics"});
    CHECK(metrics.exit_code == 0);
    CHECK_THAT(metrics.output, Catch::Contains("orderflow_rules_last_reload_ok 0"));   // the broken one was last
    CHECK_THAT(metrics.output, Catch::Contains("orderflow_rules_loaded{hash=\""));
    CHECK_THAT(metrics.output, Catch::Contains("orderflow_reviews_open 1"));
    CHECK_THAT(metrics.output, Catch::Contains("orderflow_sending_paused 0"));
    CHECK_THAT(metrics.output, Catch::Contains("orderflow_actions{state=\"done\"} 0"));

    s.daemon.signal(SIGTERM);
    REQUIRE(s.daemon.wait() == 0);
    CHECK_FALSE(std::filesystem::exists(sock));
    auto down = ctl(s, {"review", "list"});
    CHECK(down.exit_code == 1);
    CHECK_THAT(down.output, Catch::Contains("is it running?"));
}

}  // namespace ORDERFLOW_TEST_FILE
