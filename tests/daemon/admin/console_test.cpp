// Tests for daemon/admin/console.hpp: logins (Argon2id, refused ones counted
// towards a security alert), the session cookie's attributes, CSRF tokens
// and Origin checks on every state change, the roles, session expiry and
// removal, escaping, and the language. The browser test
// (tests/integration/console_test.cpp) walks the pages as staff would.
#include "daemon/admin/console.hpp"

#include "daemon/cs_quota.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/security_watch.hpp"
#include "storage/accounts.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/http.hpp"

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <functional>
#include <regex>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;

namespace {

constexpr const char* staff_password = "a staff password";
constexpr const char* operator_password = "an operator password";

struct console_rig {
    explicit console_rig(runtime_env& env_, console_sessions::options sessions = {})
        : env(env_),
          brk(env.ctx, *env.in_force, *env.desk, nullptr),
          security(env.ctx, *env.desk, {3, std::chrono::seconds(60), std::chrono::seconds(900)}),
          ui(env.ctx, *env.in_force,
             {brk, security,
              [this]() -> asio::awaitable<rules_in_force::reload_outcome> {
                  ++reloads;
                  if (on_reload) on_reload();
                  co_return rules_in_force::reload_outcome{reload_ok, {}, {}};
              },
              [] { return std::vector<readiness_check>{{"database", true, "writable"}}; }},
             sessions) {
        storage::put_account(env.db, {"hanako", "staff", storage::hash_password(staff_password)}, env.now);
        storage::put_account(env.db, {"taro", "operator", storage::hash_password(operator_password)}, env.now);
    }

    tikapi::http_response send(std::string method, std::string target, std::string body = {}, std::vector<tikapi::http_header> headers = {}) {
        tikapi::http_request req;
        req.method = std::move(method);
        req.target = std::move(target);
        req.body = std::move(body);
        req.headers = std::move(headers);
        req.remote = "192.0.2.7:5000";
        if (req.header("Host").empty()) req.headers.push_back({"Host", "127.0.0.1:8080"});
        if (!cookie.empty()) req.headers.push_back({"Cookie", "orderflow_session=" + cookie});
        tikapi::http_response out;
        env.drive([&]() -> asio::awaitable<void> { out = co_await ui.handle(req); });
        return out;
    }

    // Logs in; keeps the session cookie. Returns the response.
    tikapi::http_response login(const std::string& name, const std::string& password) {
        auto r = send("POST", "/console/login", "name=" + name + "&password=" + tikapi::percent_encode(password) + "&next=%2Fconsole%2Fstatus",
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
        const std::string set = std::string(r.header("set-cookie"));
        std::smatch m;
        if (std::regex_search(set, m, std::regex("orderflow_session=([0-9a-f]{64})"))) cookie = m[1];
        return r;
    }

    // The CSRF token the pages carry.
    std::string csrf() {
        auto page = send("GET", "/console/status");
        std::smatch m;
        REQUIRE(std::regex_search(page.body, m, std::regex("name=\"csrf\" value=\"([0-9a-f]{64})\"")));
        return m[1];
    }

    runtime_env& env;
    breaker brk;
    security_watch security;
    int reloads = 0;
    bool reload_ok = true;                // what the reload answers
    std::function<void()> on_reload;      // and what it does besides
    console ui;
    std::string cookie;
};

}  // namespace

TEST_CASE("A console login opens a session whose cookie is HttpOnly and SameSite=Strict, and a wrong password is refused and counted",
          "[console]") {
    runtime_env env;
    console_rig rig(env);
    // Without a session every page leads to the login, remembering where it was going.
    auto anonymous = rig.send("GET", "/console/reviews?state=all");
    CHECK(anonymous.status == 303);
    CHECK(anonymous.header("location") == "/console/login?next=" + tikapi::percent_encode("/console/reviews?state=all"));

    for (int i = 0; i < 3; ++i) {
        auto wrong = rig.login("hanako", "not the password " + std::to_string(i));
        CHECK(wrong.status == 401);
        CHECK(wrong.header("set-cookie").empty());
        CHECK_THAT(wrong.body, Catch::Contains("Wrong account name or password"));
    }
    CHECK(rig.login("nobody", staff_password).status == 401);   // an unknown name: the same answer
    // The refusals are a burst at the console_login door.
    env.run_for(std::chrono::milliseconds(20));
    bool alert = false;
    for (const auto& r : env.store.reviews(false, 10)) alert = alert || (r.reason == "security" && r.evidence.find("console_login") != std::string::npos);
    CHECK(alert);

    auto ok = rig.login("hanako", staff_password);
    CHECK(ok.status == 303);
    CHECK(ok.header("location") == "/console/status");
    const std::string set = std::string(ok.header("set-cookie"));
    CHECK_THAT(set, Catch::Contains("HttpOnly") && Catch::Contains("SameSite=Strict") && Catch::Contains("Path=/console"));
    CHECK_THAT(set, !Catch::Contains("Secure"));   // plain HTTP on loopback: a Secure cookie would never come back
    REQUIRE(rig.cookie.size() == 64);
    auto page = rig.send("GET", "/console/reviews");
    CHECK(page.status == 200);
    CHECK(page.header("content-security-policy").find("default-src 'none'") != std::string_view::npos);
    CHECK_THAT(page.body, Catch::Contains("hanako (staff)"));
    CHECK(env.store.audit_entries(0, "", "console.login", 10).size() == 1);

    // Behind an HTTPS proxy the cookie is Secure.
    rig.cookie.clear();
    auto proxied = rig.send("POST", "/console/login", std::string("name=hanako&password=") + tikapi::percent_encode(staff_password),
                            {{"X-Forwarded-Proto", "https"}});
    CHECK_THAT(std::string(proxied.header("set-cookie")), Catch::Contains("; Secure"));
}

TEST_CASE("Console state changes need the session's CSRF token and, from a browser, this console's Origin", "[console]") {
    runtime_env env;
    console_rig rig(env);
    std::int64_t id = 0;
    env.db.transaction([&] { id = env.desk->raise("577000000000000001", "engraving_check", "warning", "check the engraving", {{"rule_id", "engraving"}}); });
    REQUIRE(rig.login("hanako", staff_password).status == 303);
    const std::string csrf = rig.csrf();
    const std::string target = "/console/reviews/" + std::to_string(id) + "/resolve";

    CHECK(rig.send("POST", target, "note=done").status == 403);
    CHECK(rig.send("POST", target, "note=done&csrf=" + std::string(64, '0')).status == 403);
    CHECK(rig.send("POST", target, "note=done&csrf=" + csrf, {{"Origin", "http://evil.example"}, {"Host", "127.0.0.1:8080"}}).status == 403);
    CHECK(env.store.get_review(id)->state == "open");
    // A resolution needs a note.
    CHECK(rig.send("POST", target, "csrf=" + csrf).status == 400);
    CHECK(env.store.get_review(id)->state == "open");

    auto done = rig.send("POST", target, "note=%E9%9B%BB%E8%A9%B1%E3%81%A7%E7%A2%BA%E8%AA%8D&csrf=" + csrf,
                         {{"Origin", "http://127.0.0.1:8080"}, {"Host", "127.0.0.1:8080"}});
    CHECK(done.status == 303);
    CHECK(done.header("location") == "/console/reviews?done=resolved");
    auto item = env.store.get_review(id);
    CHECK(item->state == "resolved");
    CHECK(item->resolved_by == "hanako");
    CHECK(item->note == "電話で確認");
    auto audit = env.store.audit_entries(0, "577000000000000001", "review.resolve", 10);
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["actor"] == "console");
    CHECK(audit[0]["detail"]["by"] == "hanako");
    // Gone from the queue.
    CHECK_THAT(rig.send("GET", "/console/reviews").body, Catch::Contains("Nothing needs review"));
}

TEST_CASE("Staff are refused resume and reload, an operator reloads and resumes", "[console]") {
    runtime_env env;
    console_rig rig(env);
    REQUIRE(rig.login("hanako", staff_password).status == 303);
    std::string csrf = rig.csrf();
    CHECK_THAT(rig.send("GET", "/console/status").body, !Catch::Contains("id=\"reload\""));
    CHECK(rig.send("POST", "/console/reload", "csrf=" + csrf).status == 403);
    CHECK(rig.send("POST", "/console/resume", "csrf=" + csrf).status == 403);
    CHECK(rig.reloads == 0);

    CHECK(rig.send("POST", "/console/logout", "csrf=" + csrf).status == 303);
    CHECK(rig.send("GET", "/console/status").status == 303);   // the session is gone
    REQUIRE(rig.login("taro", operator_password).status == 303);
    csrf = rig.csrf();
    CHECK_THAT(rig.send("GET", "/console/status").body, Catch::Contains("id=\"reload\""));
    auto reloaded = rig.send("POST", "/console/reload", "csrf=" + csrf);
    CHECK(reloaded.header("location") == "/console/status?done=reloaded");
    CHECK(rig.reloads == 1);
    CHECK(rig.send("POST", "/console/resume", "csrf=" + csrf).header("location") == "/console/status?done=not_paused");
    CHECK(env.store.audit_entries(0, "", "config.reload", 10).at(0)["detail"]["by"] == "taro");
}

TEST_CASE("A console session ends after its idle time, at its lifetime, and when its account is removed", "[console]") {
    runtime_env env;
    console_rig rig(env, {std::chrono::seconds(600), std::chrono::seconds(3600), 10});
    REQUIRE(rig.login("hanako", staff_password).status == 303);
    env.now += 599;
    CHECK(rig.send("GET", "/console/reviews").status == 200);
    env.now += 599;
    CHECK(rig.send("GET", "/console/reviews").status == 200);   // each request moves the idle deadline
    env.now += 600;
    CHECK(rig.send("GET", "/console/reviews").status == 303);   // idle too long

    REQUIRE(rig.login("hanako", staff_password).status == 303);
    for (int i = 0; i < 7; ++i) {
        env.now += 500;
        CHECK(rig.send("GET", "/console/reviews").status == 200);
    }
    env.now += 200;
    CHECK(rig.send("GET", "/console/reviews").status == 303);   // an hour after the login

    REQUIRE(rig.login("hanako", staff_password).status == 303);
    CHECK(storage::remove_account(env.db, "hanako"));
    CHECK(rig.send("GET", "/console/reviews").status == 303);
}

TEST_CASE("The console escapes what it shows and speaks Japanese when asked", "[console]") {
    runtime_env env;
    console_rig rig(env);
    env.db.transaction([&] {
        env.desk->raise("5770<b>", "buyer_complaint", "critical", "<script>alert(1)</script>", {{"text", "\"><img src=x>"}});
    });
    REQUIRE(rig.login("hanako", staff_password).status == 303);
    auto list = rig.send("GET", "/console/reviews");
    CHECK_THAT(list.body, Catch::Contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !Catch::Contains("<script>alert"));
    CHECK_THAT(list.body, !Catch::Contains("5770<b>"));
    auto item = rig.send("GET", "/console/reviews/1");
    CHECK_THAT(item.body, !Catch::Contains("<img src=x>"));

    auto ja = rig.send("GET", "/console/reviews", "", {{"Accept-Language", "ja,en;q=0.5"}});
    CHECK_THAT(ja.body, Catch::Contains("<html lang=\"ja\"") && Catch::Contains("確認待ち"));
    auto chosen = rig.send("GET", "/console/lang?to=en&back=%2Fconsole%2Freviews");
    CHECK(chosen.header("location") == "/console/reviews");
    CHECK_THAT(std::string(chosen.header("set-cookie")), Catch::Contains("orderflow_lang=en"));
    // Only a console path is a place to go back to.
    CHECK(rig.send("GET", "/console/lang?to=ja&back=https%3A%2F%2Fevil.example").header("location") == "/console/reviews");
}

TEST_CASE("A new password ends the account's open sessions", "[console]") {
    runtime_env env;
    console_rig rig(env);
    REQUIRE(rig.login("hanako", staff_password).status == 303);
    CHECK(rig.send("GET", "/console/reviews").status == 200);
    storage::put_account(env.db, {"hanako", "staff", storage::hash_password("a brand new password")}, env.now);
    CHECK(rig.send("GET", "/console/reviews").status == 303);
    REQUIRE(rig.login("hanako", "a brand new password").status == 303);
    CHECK(rig.send("GET", "/console/reviews").status == 200);
}

TEST_CASE("The console refuses line breaks in where to go back to, and Host names it does not answer to", "[console]") {
    runtime_env env;
    console_rig rig(env);
    auto injected = rig.send("GET", "/console/lang?to=ja&back=%2Fconsole%2Fx%0d%0aSet-Cookie:%20orderflow_session%3Dattacker");
    CHECK(injected.header("location") == "/console/reviews");
    auto login = rig.send("GET", "/console/login?next=%2Fconsole%2Fx%0aLocation:%20https://evil.example");
    CHECK_THAT(login.body, Catch::Contains("value=\"/console/reviews\""));
    // A page that pointed its own name at the listener (DNS rebinding) is refused; addresses and localhost are not.
    CHECK(rig.send("GET", "/console/login", "", {{"Host", "evil.example:8080"}}).status == 421);
    CHECK(rig.send("POST", "/console/login", "name=hanako&password=x", {{"Host", "rebind.evil.example"}}).status == 421);
    CHECK(rig.send("GET", "/console/login", "", {{"Host", "localhost:8081"}}).status == 200);
    CHECK(rig.send("GET", "/console/login", "", {{"Host", "[::1]:8081"}}).status == 200);
}

TEST_CASE("Behind an HTTPS proxy the console answers only to the name in admin.console_host", "[console]") {
    // Script on a rebound page can set X-Forwarded-Proto itself: the header alone lets no name in.
    const tikapi::http_header proxied{"X-Forwarded-Proto", "https"};
    SECTION("without admin.console_host only addresses and localhost pass, with the header or without") {
        runtime_env env;
        console_rig rig(env);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "rebind.evil.example"}, proxied}).status == 421);
        CHECK(rig.send("POST", "/console/login", "name=hanako&password=x", {{"Host", "rebind.evil.example:8080"}, proxied}).status == 421);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "console.shop.example"}, proxied}).status == 421);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "127.0.0.1:8081"}, proxied}).status == 200);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "localhost"}, proxied}).status == 200);
    }
    SECTION("with admin.console_host, that name through the proxy and nothing else") {
        runtime_env env([](config& c) { c.admin.console_host = "console.shop.example"; });
        console_rig rig(env);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "console.shop.example"}, proxied}).status == 200);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "Console.Shop.Example:443"}, proxied}).status == 200);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "rebind.evil.example"}, proxied}).status == 421);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "console.shop.example.evil.example"}, proxied}).status == 421);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "shop.example"}, proxied}).status == 421);
        // Not through the proxy: the name is not the console's.
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "console.shop.example"}}).status == 421);
        auto login = rig.send("POST", "/console/login", std::string("name=hanako&password=") + tikapi::percent_encode(staff_password),
                              {{"Host", "console.shop.example"}, proxied});
        CHECK(login.status == 303);
        CHECK_THAT(std::string(login.header("set-cookie")), Catch::Contains("; Secure"));
    }
    SECTION("with another name in admin.console_host a foreign Host is still refused") {
        runtime_env env([](config& c) { c.admin.console_host = "staff.shop.example"; });
        console_rig rig(env);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "console.shop.example"}, proxied}).status == 421);
        CHECK(rig.send("GET", "/console/login", "", {{"Host", "staff.shop.example"}, proxied}).status == 200);
    }
}

TEST_CASE("The status page shows the customer-service calls of the day and says when only replies go out", "[console]") {
    runtime_env env([](config& c) {
        c.customer_service.daily_quota = 30;
        c.customer_service.reply_reserve = 10;
    });
    console_rig rig(env);
    REQUIRE(rig.login("hanako", staff_password).status == 303);
    cs_quota quota(env.ctx, env.in_force->cfg(), *env.desk);
    quota.counted(7);
    auto page = rig.send("GET", "/console/status");
    CHECK_THAT(page.body, Catch::Contains("<span id=\"cs-quota\" class=\"ok\">7 of 30</span> · 10 kept for replies to buyers"));
    CHECK_THAT(page.body, !Catch::Contains("RESERVE REACHED"));

    quota.counted(21);
    page = rig.send("GET", "/console/status");
    CHECK_THAT(page.body, Catch::Contains("<span id=\"cs-quota\" class=\"warn\">21 of 30</span>"));
    CHECK_THAT(page.body, Catch::Contains("RESERVE REACHED: only replies go out"));
}

TEST_CASE("After a failed reload the status page lists its errors and how many more there are", "[console]") {
    runtime_env env;
    console_rig rig(env);
    rig.reload_ok = false;
    // What rules_in_force::reload records for status: the first errors and the number of all.
    rig.on_reload = [&] {
        env.in_force->record("reload", false,
                             {"/etc/orderflow/rules/20-a.json:3:12: error: unknown event \"order.teleported\"",
                              "/etc/orderflow/rules/20-a.json:9:5: error: unknown template <thanks2>"},
                             9);
    };
    REQUIRE(rig.login("taro", operator_password).status == 303);
    auto reloaded = rig.send("POST", "/console/reload", "csrf=" + rig.csrf());
    REQUIRE(reloaded.header("location") == "/console/status?done=reload_failed");
    const auto page = rig.send("GET", "/console/status?done=reload_failed");
    CHECK_THAT(page.body, Catch::Contains("The reload failed; the previous rules stay in force. Why is listed below."));
    CHECK_THAT(page.body, Catch::Contains("<section id=\"reload-errors\">"));
    CHECK_THAT(page.body, Catch::Contains("<li>/etc/orderflow/rules/20-a.json:3:12: error: unknown event &quot;order.teleported&quot;</li>"));
    CHECK_THAT(page.body, Catch::Contains("unknown template &lt;thanks2&gt;</li>"));
    CHECK_THAT(page.body, Catch::Contains("<p id=\"reload-errors-more\">and 7 more (orderflowctl check on the server shows all)</p>"));

    // A reload that worked next: no errors shown.
    rig.reload_ok = true;
    rig.on_reload = [&] { env.in_force->record("reload", true, {}); };
    CHECK(rig.send("POST", "/console/reload", "csrf=" + rig.csrf()).header("location") == "/console/status?done=reloaded");
    CHECK_THAT(rig.send("GET", "/console/status").body, !Catch::Contains("reload-errors"));
}

}  // namespace ORDERFLOW_TEST_FILE
