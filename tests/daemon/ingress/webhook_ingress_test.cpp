// Tests for daemon/ingress/webhook_ingress.hpp: handle() is called with
// requests built here (no socket), signed as TikTok signs them, and what the
// answer promises is checked in the real inbox: 200 only once the event is
// committed (or was already in), 401/400 with nothing stored, 503 while the
// database file is gone.
#include "daemon/ingress/webhook_ingress.hpp"

#include "daemon/data_rights.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/security_watch.hpp"
#include "daemon/storage_watch.hpp"
#include "storage/idempotency.hpp"
#include "tests/daemon/runtime_support.hpp"
#include "tikapi/http.hpp"
#include "tikapi/webhook.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace orderflow;
using namespace orderflow::daemon;
namespace support = orderflow::daemon::testing;
using support::runtime_env;

namespace {

constexpr const char* our_shop = "7494049642642441621";
constexpr const char* order_id = "576461413038785001";

std::string order_webhook(const std::string& notification_id, const std::string& shop_id = our_shop) {
    return json{{"type", 1},
                {"tts_notification_id", notification_id},
                {"shop_id", shop_id},
                {"timestamp", 1'790'000'000},
                {"data", {{"order_id", order_id}, {"order_status", "AWAITING_SHIPMENT"}, {"update_time", 1'790'000'000}}}}
        .dump();
}

tikapi::http_request post(const std::string& body, const std::string& signature) {
    tikapi::http_request req;
    req.method = "POST";
    req.target = "/webhooks/tiktok";
    req.body = body;
    req.remote = "127.0.0.1:40000";
    if (!signature.empty()) req.headers.push_back({"Authorization", signature});
    return req;
}

tikapi::http_request signed_post(const std::string& body) {
    return post(body, tikapi::webhook_signature(support::test_app_key, support::test_app_secret, body));
}

// The ingress and what it needs, on runtime_env, for shop `our_shop`.
struct ingress_env {
    // more: further settings (e.g. webhook.trusted_proxies) over shop `our_shop`.
    explicit ingress_env(const std::function<void(config&)>& more = {})
        : in_force(env.in_force_with([&](config& c) {
              c.tiktok.shop_id = our_shop;
              if (more) more(c);
          })) {}

    runtime_env env;
    std::unique_ptr<rules_in_force> in_force;
    storage_watch watch{env.ctx, *env.desk, env.sup, {}};
    inbox_writer writer{env.ctx, watch};
    orderflow::secret app_secret{support::test_app_secret};
    int wakes = 0;
    std::size_t inbox_at_last_wake = 0;   // what a pass woken then would read
    security_watch security{env.ctx, *env.desk};
    webhook_ingress ingress{env.ctx, *in_force, app_secret, writer, security, [this] {
                                ++wakes;
                                inbox_at_last_wake = inbox_size();
                            }};

    tikapi::http_response handle(tikapi::http_request req) {
        std::optional<tikapi::http_response> got;
        env.drive([&]() -> asio::awaitable<void> { got = co_await ingress.handle(req); });
        REQUIRE(got.has_value());
        return *got;
    }
    std::size_t inbox_size() { return env.store.recent_events(100).size(); }
};

}  // namespace

TEST_CASE("A signed order webhook is stored, wakes the pipeline and is answered 200", "[webhook_ingress]") {
    ingress_env w;
    const std::string body = order_webhook("tts-1001");
    auto r = w.handle(signed_post(body));
    CHECK(r.status == 200);
    auto events = w.env.store.recent_events(10);
    REQUIRE(events.size() == 1);
    CHECK(events[0].dedupe_key == "tts:tts-1001");
    CHECK(events[0].source == "webhook");
    CHECK(events[0].event == "order.status_changed");
    CHECK(events[0].order_id == order_id);
    CHECK(events[0].payload == body);   // the raw bytes, as signed
    CHECK(events[0].received_at == w.env.now);
    CHECK(w.wakes == 1);
}

TEST_CASE("With its key the webhook listener does not start before the stored keys are converted", "[webhook_ingress]") {
    ingress_env w([](config& c) { c.webhook.listen.port = 0; });
    const orderflow::secret key(std::string(32, 'i'));
    w.ingress.set_hash_key(key.clone());
    // A new database carries migration 22's record until orderflowd's start converts.
    CHECK_THROWS_WITH(w.ingress.start(), Catch::StartsWith("the webhook listener started before the database's stored keys were converted"));
    while (!storage::rekey_plain_hashes(w.env.db, key_bytes(key)).done) {
    }
    CHECK_NOTHROW(w.ingress.start());
    w.ingress.stop();
}

TEST_CASE("A burst of webhooks wakes the pipeline at once, and again after the last one however close they came",
          "[webhook_ingress]") {
    ingress_env w;
    REQUIRE(w.handle(signed_post(order_webhook("tts-burst-1"))).status == 200);
    CHECK(w.wakes == 1);
    // Within 5 ms of that wake-up (on a fast machine) they wait for the
    // interval, and one wake-up serves them all; never none.
    for (int i = 2; i <= 4; ++i) REQUIRE(w.handle(signed_post(order_webhook("tts-burst-" + std::to_string(i)))).status == 200);
    CHECK(w.inbox_size() == 4);
    // The last wake-up came after the last commit: the pass it starts reads all four.
    CHECK(w.env.run_until([&] { return w.inbox_at_last_wake == 4; }, std::chrono::seconds(2)));
    w.env.run_for(std::chrono::milliseconds(20));
    CHECK(w.wakes >= 2);
    CHECK(w.wakes <= 4);
}

TEST_CASE("The same webhook delivered again is answered 200 and stored once", "[webhook_ingress]") {
    ingress_env w;
    const std::string body = order_webhook("tts-1002");
    REQUIRE(w.handle(signed_post(body)).status == 200);
    auto again = w.handle(signed_post(body));
    CHECK(again.status == 200);
    CHECK(w.inbox_size() == 1);
    CHECK(w.wakes == 1);   // nothing new for the pipeline
}

TEST_CASE("A webhook whose signature does not match is refused with 401 and nothing is stored", "[webhook_ingress]") {
    ingress_env w;
    const std::string body = order_webhook("tts-1003");
    const auto variant = GENERATE(as<std::string>{}, "no header", "another secret", "body changed after signing", "another app key");
    CAPTURE(variant);
    tikapi::http_request req;
    if (variant == "no header") req = post(body, "");
    else if (variant == "another secret") req = post(body, tikapi::webhook_signature(support::test_app_key, "not-the-secret", body));
    else if (variant == "another app key") req = post(body, tikapi::webhook_signature("another_app", support::test_app_secret, body));
    else req = post(order_webhook("tts-1004"), tikapi::webhook_signature(support::test_app_key, support::test_app_secret, body));
    auto r = w.handle(req);
    CHECK(r.status == 401);
    CHECK(w.inbox_size() == 0);
    CHECK(w.wakes == 0);
}

TEST_CASE("A request to another path is 404 and a GET is 405", "[webhook_ingress]") {
    ingress_env w;
    auto wrong_path = signed_post(order_webhook("tts-1005"));
    wrong_path.target = "/webhooks/other";
    CHECK(w.handle(wrong_path).status == 404);
    auto get = signed_post(order_webhook("tts-1005"));
    get.method = "GET";
    CHECK(w.handle(get).status == 405);
    CHECK(w.inbox_size() == 0);
}

TEST_CASE("A signed body that is not a webhook is refused with 400 saying why and nothing is stored", "[webhook_ingress]") {
    ingress_env w;
    auto [body, why] = GENERATE(table<std::string, std::string>({
        {"not json at all", "body is"},
        {R"({"type":"one","shop_id":"7494049642642441621","data":{}})", "field 'type' must be an integer"},
        {R"({"type":1,"shop_id":"7494049642642441621"})", "field 'data' is missing"},
        {std::string(100, '[') + std::string(100, ']'), "nested deeper than 64"},
        {R"({"type":1,"data":)" + std::string(70, '{') + std::string(70, '}') + "}", "nested deeper than 64"},
    }));
    CAPTURE(body);
    auto r = w.handle(signed_post(body));
    CHECK(r.status == 400);
    CHECK_THAT(r.body, Catch::Contains("malformed webhook") && Catch::Contains(why));
    CHECK(w.inbox_size() == 0);
    CHECK(w.wakes == 0);
}

TEST_CASE("A webhook for another shop is answered 200 and not stored", "[webhook_ingress]") {
    ingress_env w;
    auto r = w.handle(signed_post(order_webhook("tts-1006", "1111111111111111111")));
    CHECK(r.status == 200);   // TikTok must not retry it
    CHECK(w.inbox_size() == 0);
    CHECK(w.wakes == 0);
}

TEST_CASE("While the database file is missing a webhook gets 503 and is stored once it is back", "[webhook_ingress]") {
    ingress_env w;
    const fs::path file = w.env.db.path();
    const fs::path aside = w.env.dir / "moved-away.db";
    fs::rename(file, aside);
    const std::string body = order_webhook("tts-1007");
    auto r = w.handle(signed_post(body));
    CHECK(r.status == 503);
    CHECK_THAT(r.body, Catch::Contains("retry later"));
    CHECK(w.inbox_size() == 0);
    CHECK(w.wakes == 0);

    fs::rename(aside, file);
    CHECK(w.handle(signed_post(body)).status == 200);   // TikTok's retry
    CHECK(w.inbox_size() == 1);
    CHECK(w.wakes == 1);
}

TEST_CASE("Webhooks get a line each up to the budget of their second, and the rest are told in one summary", "[webhook_ingress]") {
    webhook_log_budget budget(3);
    const std::int64_t second = 1'796'000'000;
    const std::int64_t t = second * 1000;
    for (int i = 0; i < 3; ++i) CHECK(budget.admit(t + 10 * i, false));
    CHECK_FALSE(budget.admit(t + 100, false));
    CHECK_FALSE(budget.admit(t + 200, true));
    CHECK_FALSE(budget.admit(t + 999, false));
    CHECK_FALSE(budget.take_summary(t + 999));   // the second is still running

    CHECK(budget.admit(t + 1000, false));          // a new second, a new budget
    auto held = budget.take_summary(t + 1000);
    REQUIRE(held);
    CHECK(held->second == second);
    CHECK(held->received == 2);
    CHECK(held->duplicate == 1);
    CHECK_FALSE(budget.take_summary(t + 5000));   // told once

    // A quiet second holds nothing back: no summary.
    CHECK(budget.admit(t + 9000, false));
    CHECK_FALSE(budget.take_summary(t + 10'000));
}

TEST_CASE("Every accepted webhook is in the log, on a line of its own or counted in a summary, the last second's at stop",
          "[webhook_ingress]") {
    constexpr int webhooks = 45;   // more than two seconds' budget of lines, sent well within two seconds
    support::log_capture capture;
    const auto started = std::chrono::steady_clock::now();
    {
        ingress_env w;
        for (int i = 0; i < webhooks; ++i) REQUIRE(w.handle(signed_post(order_webhook("tts-burst-" + std::to_string(i)))).status == 200);
        REQUIRE(w.handle(signed_post(order_webhook("tts-burst-0"))).status == 200);   // a redelivery
        CHECK(w.inbox_size() == webhooks);
    }   // the ingress goes: what its last second held back is told now
    const auto elapsed = std::chrono::steady_clock::now() - started;
    const std::string log = capture.finish();
    long received = static_cast<long>(support::log_lines(log, "webhook_received").size());
    long duplicate = static_cast<long>(support::log_lines(log, "webhook_duplicate").size());
    const auto summaries = support::log_lines(log, "webhooks_summary");
    for (const auto& s : summaries) {
        received += s.at("received").get<long>();
        duplicate += s.at("duplicate").get<long>();
    }
    CHECK(received == webhooks);
    CHECK(duplicate == 1);
    // Within two seconds at most 40 got a line: the rest must be in a summary.
    if (elapsed < std::chrono::seconds(2)) CHECK_FALSE(summaries.empty());
}

TEST_CASE("Refused webhooks have a line budget of their own, and the rest are counted in the summary", "[webhook_ingress]") {
    webhook_log_budget budget(3, 2);
    const std::int64_t second = 1'796'000'000;
    const std::int64_t t = second * 1000;
    CHECK(budget.admit_refusal(t, false));
    CHECK(budget.admit_refusal(t + 1, true));
    for (int i = 0; i < 5; ++i) CHECK_FALSE(budget.admit_refusal(t + 10 + i, false));
    CHECK_FALSE(budget.admit_refusal(t + 20, true));
    CHECK(budget.admit(t + 30, false));   // accepted webhooks keep their own budget
    CHECK_FALSE(budget.take_summary(t + 999));

    CHECK(budget.admit_refusal(t + 1000, false));   // a new second, a new budget
    auto held = budget.take_summary(t + 1000);
    REQUIRE(held);
    CHECK(held->second == second);
    CHECK(held->rejected == 5);
    CHECK(held->malformed == 1);
    CHECK(held->received == 0);
    CHECK(held->duplicate == 0);
    CHECK_FALSE(budget.take_summary(t + 5000));
}

TEST_CASE("A flood of forged webhooks writes a few lines and one summary a second, not a line each", "[webhook_ingress]") {
    constexpr int forged = 200;
    support::log_capture capture;
    const auto started = std::chrono::steady_clock::now();
    {
        ingress_env w;
        for (int i = 0; i < forged; ++i) REQUIRE(w.handle(post(order_webhook("tts-forged-" + std::to_string(i)), "00")).status == 401);
        CHECK(w.inbox_size() == 0);
    }   // the ingress goes: what its last second held back is told now
    const auto elapsed = std::chrono::steady_clock::now() - started;
    const std::string log = capture.finish();
    const auto lines = support::log_lines(log, "webhook_rejected");
    long rejected = static_cast<long>(lines.size());
    const auto summaries = support::log_lines(log, "webhooks_summary");
    for (const auto& s : summaries) {
        CHECK(s.at("level") == "warn");
        rejected += s.at("rejected").get<long>();
    }
    CHECK(rejected == forged);   // each refusal is in the log, on a line or in a count
    // The budget is per wall-clock second: a run of d seconds touches at most floor(d) + 2 of them.
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() + 2;
    CHECK(static_cast<long>(lines.size()) <= 5 * seconds);
    CHECK(static_cast<long>(lines.size()) < forged);
    CHECK_FALSE(summaries.empty());
}

namespace {

// The security items' sources (address -> refusals), merged.
json security_sources(runtime_env& env) {
    json out = json::object();
    for (const auto& r : env.store.reviews(false, 100))
        if (r.reason == "security") out.update(json::parse(r.evidence).at("sources"));
    return out;
}

// A request from the reverse proxy on this host, whose X-Forwarded-For names `client` after what the client sent itself.
tikapi::http_request forged_through_proxy(const std::string& client) {
    auto req = post(order_webhook("tts-forged"), "forged-signature");
    req.headers.push_back({"X-Forwarded-For", "127.0.0.1, " + client});
    return req;
}

}  // namespace

TEST_CASE("Behind a trusted proxy refused webhooks are logged and counted under the client X-Forwarded-For names",
          "[webhook_ingress][trusted_proxies]") {
    ingress_env w([](config& c) { c.webhook.trusted_proxies = {*parse_ip_address("127.0.0.1"), *parse_ip_address("::1")}; });
    orderflow::testing::log_capture capture;
    for (int i = 0; i < 10; ++i) CHECK(w.handle(forged_through_proxy("198.51.100.23")).status == 401);
    w.env.run_for(std::chrono::milliseconds(20));
    const auto lines = orderflow::testing::log_lines(capture.finish(), "webhook_rejected");
    REQUIRE_FALSE(lines.empty());
    CHECK(lines[0].at("remote") == "198.51.100.23");
    CHECK(security_sources(w.env) == json{{"198.51.100.23", 10}});
}

TEST_CASE("Without webhook.trusted_proxies X-Forwarded-For is never read", "[webhook_ingress][trusted_proxies]") {
    ingress_env w;
    orderflow::testing::log_capture capture;
    for (int i = 0; i < 10; ++i) CHECK(w.handle(forged_through_proxy("198.51.100.23")).status == 401);
    w.env.run_for(std::chrono::milliseconds(20));
    const std::string log = capture.finish();
    const auto lines = orderflow::testing::log_lines(log, "webhook_rejected");
    REQUIRE_FALSE(lines.empty());
    CHECK(lines[0].at("remote") == "127.0.0.1:40000");
    CHECK(security_sources(w.env) == json{{"127.0.0.1", 10}});
    CHECK(log.find("198.51.100.23") == std::string::npos);
}

TEST_CASE("A trusted proxy's malformed X-Forwarded-For counts the proxy and is logged once", "[webhook_ingress][trusted_proxies]") {
    ingress_env w([](config& c) { c.webhook.trusted_proxies = {*parse_ip_address("127.0.0.1")}; });
    orderflow::testing::log_capture capture;
    for (int i = 0; i < 3; ++i) {
        auto req = post(order_webhook("tts-forged"), "forged-signature");
        req.headers.push_back({"X-Forwarded-For", "unknown"});
        CHECK(w.handle(req).status == 401);
    }
    const std::string log = capture.finish();
    const auto invalid = orderflow::testing::log_lines(log, "forwarded_for_invalid");
    REQUIRE(invalid.size() == 1);
    CHECK(invalid[0].at("setting") == "webhook.trusted_proxies");
    const auto rejected = orderflow::testing::log_lines(log, "webhook_rejected");
    REQUIRE_FALSE(rejected.empty());
    CHECK(rejected[0].at("remote") == "127.0.0.1:40000");
}

}  // namespace ORDERFLOW_TEST_FILE
