// The operator's view over HTTP (issue: operations): GET /metrics on the
// admin listener carries counters and histograms of a real order flow and
// passes `promtool check metrics`; /healthz and /readyz answer and name the
// check that fails; the token is needed unless admin.open_metrics (loopback
// only); bursts of bad signatures and wrong admin tokens each raise one
// security review item. Real binaries, real sockets; the database judges.
#include "tests/integration/harness.hpp"

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

constexpr const char* admin_token = "ops-token-3b9f1c2d";

struct ops_stack {
    stack s;
    std::uint16_t admin_port = 0;

    explicit ops_stack(bool authorized = true, bool open_metrics = false) {
        s.write_rules("10-thanks.json", thanks_rules);
        write_file(s.dir / "admin.token", admin_token, 0600);
        s.extra_config = {{"admin", {{"listen", "127.0.0.1:0"}, {"token_file", "admin.token"}, {"open_metrics", open_metrics}}},
                          {"poll", {{"enabled", false}}}};
        if (authorized) {
            s.start_all();
        } else {
            s.start_sandbox();
            s.write_config();
            REQUIRE(run({(bin_dir() / "orderflowctl").string(), "keygen", (s.dir / "vault.key").string()}).exit_code == 0);
            s.start_daemon();
        }
        admin_port = wait_for_log(s.daemon.log(), "admin_http_listening").at("port").get<std::uint16_t>();
    }

    http_reply get(const std::string& path, const std::string& token = admin_token) {
        std::vector<std::pair<std::string, std::string>> headers;
        if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
        return http(admin_port, "GET", path, "", headers);
    }

    std::vector<orderflow::storage::review_item> security_items() {
        auto db = orderflow::storage::database::open(s.db_path());
        std::vector<orderflow::storage::review_item> out;
        for (auto& r : orderflow::storage::store(db).reviews(false, 100))
            if (r.reason == "security") out.push_back(r);
        return out;
    }
};

// The value of one sample line ("name{labels} value"), or -1 when absent.
double sample(const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

}  // namespace

TEST_CASE("GET /metrics counts a real order flow in counters and histograms that promtool accepts", "[integration][operations]") {
    ops_stack o;
    auto order = o.s.create_order({{"buyer_name", "山田 花子"},
                                   {"line_items", {{{"seller_sku", "MUG-01"}, {"product_name", "マグカップ"}, {"sale_price", "1800"}}}}});
    const std::string id = order.at("id").get<std::string>();
    o.s.set_status(id, "ON_HOLD");
    o.s.set_status(id, "AWAITING_SHIPMENT");
    REQUIRE(eventually([&] { return o.s.shop_messages().size() == 1; }));
    CHECK(o.s.post_webhook(R"({"type":1,"tts_notification_id":"x","shop_id":"1","timestamp":1,"data":{}})", false).status == 401);

    // The counters are bumped after the effect; wait for the last one.
    std::string text;
    REQUIRE(eventually([&] {
        text = o.get("/metrics").body;
        return sample(text, R"(orderflow_actions_total{kind="send_message",outcome="done"})") == 1;
    }));
    CHECK(sample(text, R"(orderflow_webhooks_total{result="accepted"})") >= 2);
    CHECK(sample(text, R"(orderflow_webhooks_total{result="rejected"})") == 1);
    CHECK(sample(text, R"(orderflow_events_processed_total{outcome="done"})") >= 2);
    CHECK(sample(text, R"(orderflow_event_to_action_seconds_count)") == 1);
    CHECK(sample(text, R"(orderflow_webhook_ack_seconds_bucket{le="+Inf"})") >= 3);
    CHECK(sample(text, R"(orderflow_inbox_commit_seconds_bucket{le="+Inf"})") >= 2);   // the two accepted webhooks' commits
    CHECK(sample(text, R"(orderflow_inbox_commit_seconds_bucket{le="0.25"})") >= 0);    // the bucket OrderflowDiskSlow reads
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_calls_total{api=\"/customer_service/202309/conversations/{id}/messages\",code=\"0\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api="));
    CHECK(sample(text, "orderflow_authorized") == 1);
    CHECK(sample(text, "orderflow_loops_unhealthy") == 0);
    CHECK(sample(text, R"(orderflow_security_failures_total{door="webhook_signature"})") == 1);

    // promtool (Debian's prometheus package, which make test installs) lints the exposition.
    write_file(o.s.dir / "metrics.txt", text);
    const auto lint = run({"/bin/sh", "-c", "promtool check metrics < " + (o.s.dir / "metrics.txt").string()});
    INFO(lint.output);
    CHECK(lint.exit_code == 0);

    // The same text over the admin socket.
    const auto ctl = run({(bin_dir() / "orderflowctl").string(), "metrics", "--config", o.s.config_path().string()});
    CHECK(ctl.exit_code == 0);
    CHECK_THAT(ctl.output, Catch::Contains("orderflow_webhooks_total{result=\"rejected\"} 1\n"));

    // Health: the process answers, and everything is ready.
    const auto health = o.get("/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");
    const auto ready = o.get("/readyz");
    INFO(ready.body);
    CHECK(ready.status == 200);
    CHECK_THAT(ready.body, Catch::Contains("ok   database: writable"));
    CHECK_THAT(ready.body, Catch::Contains("ok   authorized"));
    CHECK_THAT(ready.body, Catch::Contains("ok   loops"));
    CHECK_THAT(ready.body, Catch::Contains("ok   rules: 1 rule(s) in force"));
}

// The alert rules docs/operations.md gives operators load in promtool, the
// one on the inbox's commits fires when a tenth of them are slow, not when a
// few are, and the one on the event loop when its delays add up to a tenth
// of the time.
TEST_CASE("The alert rules in docs/operations.md pass promtool and OrderflowDiskSlow and OrderflowLoopStalled fire only when they should", "[integration][operations]") {
    std::ifstream doc(source_dir() / "docs" / "operations.md");
    REQUIRE(doc);
    std::string line, rules;
    bool after_heading = false, in_block = false;
    while (std::getline(doc, line)) {
        if (line == "Alert rules:") after_heading = true;
        else if (after_heading && !in_block && line == "```yaml") in_block = true;
        else if (in_block && line == "```") break;
        else if (in_block) rules += line + "\n";
    }
    REQUIRE_THAT(rules, Catch::Contains("alert: OrderflowDiskSlow"));
    REQUIRE_THAT(rules, Catch::Contains("alert: OrderflowLoopStalled"));
    temp_dir dir;
    write_file(dir / "rules.yml", rules);
    const auto check = run({"/bin/sh", "-c", "promtool check rules " + (dir / "rules.yml").string()});
    INFO(check.output);
    CHECK(check.exit_code == 0);

    // One promtool case: counters that grow by `per_minute` each minute
    // (series name -> growth), and whether `alert` fires at 30 minutes.
    auto alert_case = [](std::vector<std::pair<std::string, int>> series, const std::string& alert, bool fires) {
        std::string yaml = "  - interval: 1m\n    input_series:\n";
        for (const auto& [name, per_minute] : series)
            yaml += "      - series: '" + name + "'\n        values: '0+" + std::to_string(per_minute) + "x40'\n";
        return yaml + "    alert_rule_test:\n      - eval_time: 30m\n        alertname: " + alert +
               "\n        exp_alerts: " + std::string(fires ? "[{exp_labels: {}}]" : "[]") + "\n";
    };
    // Commits every minute: 100, of them 20 over 250 ms (fires) or 5 (does
    // not); or 2, both slow (too few to page anyone: does not).
    auto scenario = [&](int per_minute, int within_250ms, bool fires) {
        return alert_case({{"orderflow_inbox_commit_seconds_count", per_minute},
                           {"orderflow_inbox_commit_seconds_bucket{le=\"0.25\"}", within_250ms}},
                          "OrderflowDiskSlow", fires);
    };
    // The event loop late 12 s a minute (a fifth of the time: fires) or 1 s (does not).
    auto loop_scenario = [&](int late_seconds_per_minute, bool fires) {
        return alert_case({{"orderflow_event_loop_delay_seconds_sum", late_seconds_per_minute}}, "OrderflowLoopStalled", fires);
    };
    write_file(dir / "test.yml", "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n" + scenario(100, 80, true) +
                                     scenario(100, 95, false) + scenario(2, 0, false) + loop_scenario(12, true) +
                                     loop_scenario(1, false));
    const auto test = run({"/bin/sh", "-c", "promtool test rules " + (dir / "test.yml").string()});
    INFO(test.output);
    CHECK(test.exit_code == 0);
}

TEST_CASE("The admin endpoints need the token, and /readyz names the check that fails", "[integration][operations]") {
    ops_stack o(false);
    CHECK(o.get("/metrics", "").status == 401);
    CHECK(o.get("/healthz", "wrong-token").status == 401);
    CHECK(o.get("/nowhere").status == 404);
    const auto ready = o.get("/readyz");
    INFO(ready.body);
    CHECK(ready.status == 503);
    CHECK_THAT(ready.body, Catch::Contains("not ready\n"));
    CHECK_THAT(ready.body, Catch::Contains("FAIL authorized: "));
    CHECK_THAT(ready.body, Catch::Contains("orderflowctl auth"));
    CHECK_THAT(ready.body, Catch::Contains("ok   database: writable"));
    CHECK(sample(o.get("/metrics").body, "orderflow_authorized") == 0);
    // The token never reaches the log.
    CHECK(read_file(o.s.daemon.log()).find(admin_token) == std::string::npos);
}

TEST_CASE("With admin.open_metrics the read-only endpoints answer without a token on loopback, the rest still need it",
          "[integration][operations]") {
    ops_stack o(true, true);
    CHECK(o.get("/metrics", "").status == 200);
    CHECK(o.get("/healthz", "").status == 200);
    CHECK(o.get("/readyz", "").status == 200);
    CHECK(http(o.admin_port, "POST", "/v1/tracking", "{}", {}).status == 401);

    // Not on a public address: check refuses the config and says why.
    o.s.extra_config["admin"]["listen"] = "0.0.0.0:0";
    o.s.write_config();
    const auto check = run({(bin_dir() / "orderflowctl").string(), "check", "--config", o.s.config_path().string()});
    CHECK(check.exit_code == 1);
    CHECK_THAT(check.output, Catch::Contains("'admin.open_metrics'"));
    CHECK_THAT(check.output, Catch::Contains("loopback"));
}

TEST_CASE("A burst of bad signatures and a burst of wrong admin tokens each raise one security review item",
          "[integration][operations]") {
    ops_stack o;
    const std::string body = R"({"type":1,"tts_notification_id":"probe","shop_id":"1","timestamp":1,"data":{}})";
    for (int i = 0; i < 25; ++i) CHECK(o.s.post_webhook(body, false).status == 401);
    REQUIRE(eventually([&] { return o.security_items().size() == 1; }));
    for (int i = 0; i < 12; ++i) CHECK(o.get("/metrics", "guess-" + std::to_string(i)).status == 401);
    REQUIRE(eventually([&] { return o.security_items().size() == 2; }));

    auto items = o.security_items();
    std::map<std::string, json> by_door;
    for (const auto& r : items) {
        CHECK(r.severity == "critical");
        json e = json::parse(r.evidence);
        by_door[e.at("door").get<std::string>()] = e;
    }
    REQUIRE(by_door.count("webhook_signature"));
    REQUIRE(by_door.count("admin_token"));
    CHECK(by_door["webhook_signature"]["refusals"] == 10);
    CHECK(by_door["webhook_signature"]["sources"]["127.0.0.1"] == 10);
    CHECK(by_door["admin_token"]["refused"]["/metrics"] == 10);
    // One item per burst: the 15 signatures after the first ten raised nothing more.
    const std::string metrics = o.get("/metrics").body;
    CHECK(sample(metrics, R"(orderflow_security_failures_total{door="webhook_signature"})") == 25);
    CHECK(sample(metrics, R"(orderflow_security_alerts_total{door="webhook_signature"})") == 1);
    CHECK(sample(metrics, R"(orderflow_security_alerts_total{door="admin_token"})") == 1);
    // The guessed tokens are not written anywhere.
    CHECK(read_file(o.s.daemon.log()).find("guess-3") == std::string::npos);
    CHECK(!wait_for_log(o.s.daemon.log(), "security_alert").empty());
}

TEST_CASE("orderflowctl run by staff (admin.operators) reviews but cannot reload, resume or export a buyer", "[integration][operations]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    s.extra_config = {{"admin", {{"operators", {"@orderflow-operators-absent"}}}}, {"poll", {{"enabled", false}}}};
    s.start_all();
    const std::string ctl = (bin_dir() / "orderflowctl").string();
    for (std::vector<std::string> args : {std::vector<std::string>{"reload"}, {"resume"}, {"buyer", "export", "--buyer", "b1"}}) {
        args.insert(args.begin(), ctl);
        args.insert(args.end(), {"--config", s.config_path().string()});
        const auto r = run(args);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("is an operator command and"));
        CHECK_THAT(r.output, Catch::Contains("admin.operators"));
    }
    // check says that the group does not exist, and passes.
    const auto check = run({ctl, "check", "--config", s.config_path().string()});
    INFO(check.output);
    CHECK(check.exit_code == 0);
    CHECK_THAT(check.output, Catch::Contains("warning: admin.operators: no group 'orderflow-operators-absent' on this machine"));
    const auto review = run({ctl, "review", "list", "--config", s.config_path().string()});
    INFO(review.output);
    CHECK(review.exit_code == 0);
    CHECK(!log_lines(s.daemon.log(), "admin_request_refused").empty());
    CHECK(log_lines(s.daemon.log(), "reload_done").empty());
}

}  // namespace ORDERFLOW_TEST_FILE
