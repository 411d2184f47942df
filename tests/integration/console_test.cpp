// The staff console (issue: operations), tried as staff and an operator
// would: real orderflowd and sandbox, accounts added with the real
// `orderflowctl account add`, and a real browser (headless Chromium driven
// by tests/console/console_browser.py) that logs in, finds a flagged order,
// reads its evidence, resolves it and sees it gone, reads the buyer's
// answer from the chat on the order page and the day's customer-service
// calls on the status page; staff are refused the
// operator's actions; a request without the CSRF token changes nothing.
// Then the database and the log judge what the browser said.
//
// ORDERFLOW_CONSOLE_SHOTS=DIR keeps the browser's screenshots there
// (`make console-screenshots` puts them in docs/console/).
#include "tests/integration/harness.hpp"

#include "storage/accounts.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;

namespace {

constexpr const char* admin_token = "console-test-token-7c1e";
constexpr const char* staff_password = "hanako-staff-pass-2718";
constexpr const char* operator_password = "taro-operator-pass-3141";

const char* const console_rules = R"({
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
  "rules": [
    { "id": "thanks", "on": "order.status_changed", "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
      "then": [ { "send_message": { "template": "thanks" } } ] },
    { "id": "engraving", "on": "order.status_changed",
      "if": { "order.status": { "eq": "AWAITING_SHIPMENT" }, "order.buyer_message": { "matches": "刻印" } },
      "then": [ { "flag_review": { "reason": "engraving_check", "severity": "warning", "note": "check the engraving text" } } ] },
    { "id": "engraving-answer", "on": "message.received", "if": { "message.text": { "contains": "刻印" } },
      "then": [ { "capture": { "attribute": "engraving" } } ] }
  ] })";

run_result add_account(stack& s, const std::string& name, const std::string& role, const std::string& password) {
    // The password on stdin, as a script would give it.
    return run({"/bin/sh", "-c", "printf '%s\\n' \"$0\" | \"$1\" account add \"$2\" --role \"$3\" --config \"$4\"", password,
                (bin_dir() / "orderflowctl").string(), name, role, s.config_path().string()});
}

// The open security review items, read from the daemon's database.
std::vector<orderflow::storage::review_item> security_items(stack& s) {
    auto db = orderflow::storage::database::open(s.db_path());
    std::vector<orderflow::storage::review_item> out;
    for (auto& r : orderflow::storage::store(db).reviews(false, 100))
        if (r.reason == "security") out.push_back(r);
    return out;
}

}  // namespace

TEST_CASE("Staff resolve a flagged order in a real browser, cannot resume or reload, and nothing changes without the CSRF token",
          "[integration][operations][console]") {
    stack s;
    s.write_rules("10-console.json", console_rules);
    write_file(s.dir / "admin.token", admin_token, 0600);
    s.extra_config = {{"admin", {{"listen", "127.0.0.1:0"}, {"token_file", "admin.token"}}}, {"poll", {{"enabled", false}}}};
    s.start_all();
    const auto port = wait_for_log(s.daemon.log(), "admin_http_listening").at("port").get<std::uint16_t>();

    auto staff = add_account(s, "hanako", "staff", staff_password);
    REQUIRE(staff.exit_code == 0);
    CHECK(staff.output.find(staff_password) == std::string::npos);
    REQUIRE(add_account(s, "taro", "operator", operator_password).exit_code == 0);

    // Two orders whose buyers asked for an engraving: two review items.
    const json items = {{{"seller_sku", "MUG-01"}, {"product_name", "名入れマグカップ"}, {"sale_price", "1800"}}};
    const auto flagged = s.create_order({{"buyer_name", "山田 花子"}, {"buyer_message", "刻印: HANAKO"}, {"line_items", items}})
                             .at("id").get<std::string>();
    const auto other = s.create_order({{"buyer_name", "佐藤 次郎"}, {"buyer_message", "刻印: JIRO"}, {"line_items", items}})
                           .at("id").get<std::string>();
    for (const auto& id : {flagged, other}) {
        s.set_status(id, "ON_HOLD");
        s.set_status(id, "AWAITING_SHIPMENT");
    }
    const std::string buyer_text = "刻印はHANAKOでお願いします";
    s.control("POST", "/control/messages", {{"order_id", flagged}, {"text", buyer_text}});
    auto review_of = [&](const std::string& order) -> std::optional<orderflow::storage::review_item> {
        auto db = orderflow::storage::database::open(s.db_path());
        for (auto& r : orderflow::storage::store(db).reviews(true, 100))
            if (r.order_id == order && r.reason == "engraving_check") return r;
        return std::nullopt;
    };
    REQUIRE(eventually([&] { return review_of(flagged) && review_of(other) && s.shop_messages().size() == 2; }));
    // The buyer's message is in before the browser looks at the conversation.
    REQUIRE(eventually([&] {
        auto db = orderflow::storage::database::open(s.db_path());
        for (const auto& e : orderflow::storage::store(db).recent_events(50))
            if (e.event == "message.received" && e.state != "pending") return true;
        return false;
    }));
    const std::int64_t flagged_item = review_of(flagged)->id, other_item = review_of(other)->id;

    const char* shots = std::getenv("ORDERFLOW_CONSOLE_SHOTS");
    std::vector<std::string> argv{"/usr/bin/python3", (source_dir() / "tests/console/console_browser.py").string(),
                                  "--url", "http://127.0.0.1:" + std::to_string(port),
                                  "--staff", std::string("hanako:") + staff_password,
                                  "--operator", std::string("taro:") + operator_password,
                                  "--order", flagged, "--review", std::to_string(flagged_item),
                                  "--untouched", std::to_string(other_item), "--buyer-text", buyer_text,
                                  "--shots", shots ? shots : (s.dir / "shots").string()};
    process browser(argv, s.dir / "browser.log");
    const auto status = browser.wait(std::chrono::seconds(240));
    const std::string said = read_file(s.dir / "browser.log");
    // Why it failed first: a long report can be cut short in the middle.
    std::string why;
    for (std::size_t at = 0; at < said.size();) {
        const std::size_t end = std::min(said.find('\n', at), said.size());
        if (said.compare(at, 2, "ok") != 0) why.append(said, at, end - at).push_back('\n');
        at = end + 1;
    }
    INFO(why);
    INFO(said);
    REQUIRE(status == 0);

    // What the browser saw is what the database holds.
    auto resolved = review_of(flagged);
    REQUIRE(resolved);
    CHECK(resolved->state == "resolved");
    CHECK(resolved->resolved_by == "hanako");
    CHECK(resolved->note == "刻印の文字を電話で確認しました");
    CHECK(review_of(other)->state == "open");
    // A browser's own requests (its icon) are no attack on the admin token.
    CHECK(log_lines(s.daemon.log(), "admin_http_rejected").empty());
    auto db = orderflow::storage::database::open(s.db_path());
    orderflow::storage::store store(db);
    bool resolve_audited = false, reload_audited = false, view_audited = false;
    for (const auto& entry : store.recent_audit(200)) {
        const json& detail = entry.at("detail");
        if (entry.at("actor") != "console") continue;
        if (entry.at("action") == "review.resolve" && detail.value("by", "") == "hanako") resolve_audited = true;
        if (entry.at("action") == "config.reload" && detail.value("by", "") == "taro") reload_audited = true;
        if (entry.at("action") == "console.view" && entry.at("order_id") == flagged && detail.value("by", "") == "hanako") view_audited = true;
    }
    CHECK(resolve_audited);
    CHECK(reload_audited);
    CHECK(view_audited);

    // The refusals were logged, with why; no password reached the log.
    std::set<std::string> reasons;
    for (const auto& line : log_lines(s.daemon.log(), "console_request_refused")) reasons.insert(line.value("reason", ""));
    CHECK(reasons.count("staff may not resume or reload"));
    CHECK(reasons.count("the CSRF token is missing or wrong"));
    CHECK(log_lines(s.daemon.log(), "console_login_refused").size() == 1);
    const std::string log = read_file(s.daemon.log());
    CHECK(log.find(staff_password) == std::string::npos);
    CHECK(log.find(operator_password) == std::string::npos);
    CHECK(log.find("not-the-password-at-all") == std::string::npos);
}

TEST_CASE("A burst of failed console logins raises one security review item", "[integration][operations][console]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    write_file(s.dir / "admin.token", admin_token, 0600);
    s.extra_config = {{"admin", {{"listen", "127.0.0.1:0"}, {"token_file", "admin.token"}}}, {"poll", {{"enabled", false}}}};
    s.start_all();
    const auto port = wait_for_log(s.daemon.log(), "admin_http_listening").at("port").get<std::uint16_t>();
    REQUIRE(add_account(s, "hanako", "staff", staff_password).exit_code == 0);

    const std::vector<std::pair<std::string, std::string>> form{{"Content-Type", "application/x-www-form-urlencoded"}};
    // The right password opens a session: a cookie, HttpOnly and SameSite=Strict.
    auto good = http(port, "POST", "/console/login", std::string("name=hanako&password=") + staff_password, form);
    CHECK(good.status == 303);
    for (int i = 0; i < 10; ++i)
        CHECK(http(port, "POST", "/console/login", "name=hanako&password=guess-" + std::to_string(i), form).status == 401);
    REQUIRE(eventually([&] { return security_items(s).size() == 1; }));
    const auto item = security_items(s)[0];
    CHECK(item.evidence.find("console_login") != std::string::npos);
    CHECK(item.evidence.find("127.0.0.1") != std::string::npos);
    CHECK(item.evidence.find("guess-") == std::string::npos);
}

TEST_CASE("Behind a trusted proxy the logs and security alerts name the client X-Forwarded-For names and not the proxy",
          "[integration][operations][console][trusted_proxies]") {
    stack s;
    s.write_rules("10-thanks.json", thanks_rules);
    write_file(s.dir / "admin.token", admin_token, 0600);
    // The proxy on this host connects from 127.0.0.1 to both listeners.
    s.extra_config = {{"admin", {{"listen", "127.0.0.1:0"}, {"token_file", "admin.token"}, {"trusted_proxies", {"127.0.0.1"}}}},
                      {"webhook", {{"trusted_proxies", {"127.0.0.1", "::1"}}}},
                      {"poll", {{"enabled", false}}}};
    s.start_all();
    const auto port = wait_for_log(s.daemon.log(), "admin_http_listening").at("port").get<std::uint16_t>();
    REQUIRE(add_account(s, "hanako", "staff", staff_password).exit_code == 0);

    // Failed console logins from one client, and forged webhooks from another, through the proxy.
    for (int i = 0; i < 10; ++i)
        CHECK(http(port, "POST", "/console/login", "name=hanako&password=guess-" + std::to_string(i),
                   {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Forwarded-For", "198.51.100.77"}})
                  .status == 401);
    for (int i = 0; i < 10; ++i)
        CHECK(http(s.webhook_port, "POST", "/webhooks/tiktok", R"({"type": 1})",
                   {{"Authorization", "forged"}, {"X-Forwarded-For", "127.0.0.1, 203.0.113.45"}})
                  .status == 401);
    REQUIRE(eventually([&] { return security_items(s).size() == 2; }));
    for (const auto& item : security_items(s)) {
        INFO(item.evidence);
        const json sources = json::parse(item.evidence).at("sources");
        if (item.evidence.find("console_login") != std::string::npos) CHECK(sources == json{{"198.51.100.77", 10}});
        else CHECK(sources == json{{"203.0.113.45", 10}});
    }
    const auto refused = log_lines(s.daemon.log(), "console_login_refused");
    REQUIRE_FALSE(refused.empty());
    CHECK(refused.front().at("remote") == "198.51.100.77");
    const auto rejected = log_lines(s.daemon.log(), "webhook_rejected");
    REQUIRE_FALSE(rejected.empty());
    CHECK(rejected.front().at("remote") == "203.0.113.45");
}

}  // namespace ORDERFLOW_TEST_FILE
