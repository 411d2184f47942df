// Tests for daemon/tokens.hpp: token_keeper against the sandbox shop on a
// loopback socket (the real tikapi::client, the real vault on a temporary
// database), with one injected clock shared by the keeper, the client's
// signatures and the shop. Tokens are compared as booleans computed first,
// so a failing check never prints one.
#include "daemon/tokens.hpp"

#include "storage/database.hpp"
#include "storage/vault.hpp"
#include "tests/storage/temp_dir.hpp"
#include "tikapi/client.hpp"
#include "tikapi/http.hpp"
#include "tikapi/sandbox/server.hpp"
#include "tikapi/sandbox/shop.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using namespace orderflow;
using namespace std::chrono_literals;
using orderflow::daemon::token_keeper;
using orderflow::daemon::token_vault_name;

namespace {

constexpr const char* app_key = "tokens_test_app_key";
constexpr const char* app_secret = "tokens-test-app-secret-1c9e";
constexpr const char* shop_cipher = "ROW_tokenstest";

secret fresh_vault_key(const storage::testing::temp_dir& dir) {
    storage::write_vault_key(dir / "vault.key");
    return storage::read_vault_key(dir / "vault.key");
}

sandbox::shop_options shop_settings(std::function<std::int64_t()> clock) {
    sandbox::shop_options o;
    o.app_key = app_key;
    o.app_secret = secret(app_secret);
    o.shop_cipher = shop_cipher;
    o.seed = 7;
    o.rate_limit_qps = 0;
    o.clock = std::move(clock);
    return o;
}

tikapi::client_options client_settings(std::uint16_t port, std::function<std::int64_t()> clock) {
    tikapi::client_options o;
    o.api_base = *tikapi::url::parse("http://127.0.0.1:" + std::to_string(port));
    o.auth_base = o.api_base;
    o.app_key = app_key;
    o.app_secret = secret(app_secret);
    o.shop_cipher = shop_cipher;
    o.timeout = 5000ms;
    o.clock = std::move(clock);
    o.rate_limit_qps = 0;
    o.max_attempts = 1;   // each refresh is one call in the shop's log
    return o;
}

bool same(const secret& a, const secret& b) { return a.reveal() == b.reveal(); }

// The sandbox, a client of it and a vault, all on one io_context and one clock.
struct keeper_env {
    std::int64_t now = 1'790'000'000;
    std::function<std::int64_t()> clock = [this] { return now; };
    asio::io_context io;
    storage::testing::temp_dir dir;
    sandbox::shop shop{shop_settings(clock)};
    sandbox::server server{io.get_executor(), shop, "127.0.0.1", 0};
    tikapi::client api{io.get_executor(), client_settings(server.port(), clock)};
    storage::database db = storage::database::open(dir / "orderflow.db");
    storage::vault vault{db, fresh_vault_key(dir)};

    keeper_env() { server.start(); }
    ~keeper_env() {
        server.stop();
        io.run_for(200ms);
    }

    // Runs one coroutine to its end on the io_context (which also serves the sandbox).
    void drive(std::function<asio::awaitable<void>()> body) {
        bool done = false;
        std::exception_ptr failure;
        asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
            failure = e;
            done = true;
        });
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
        REQUIRE(done);
        if (failure) std::rethrow_exception(failure);
    }

    // What `orderflowctl auth exchange CODE` does: trade a fresh code, store the tokens.
    tikapi::token_set authorize() {
        const std::string code = shop.issue_auth_code();
        std::optional<tikapi::token_set> got;
        drive([&]() -> asio::awaitable<void> {
            auto r = co_await api.get_token(code);
            if (r) got = std::move(r.value());
        });
        REQUIRE(got.has_value());
        vault.put(token_vault_name, tikapi::serialize_tokens(*got), now);
        return std::move(*got);
    }

    const secret* access(token_keeper& k) {
        const secret* out = nullptr;
        drive([&]() -> asio::awaitable<void> {
            auto t = co_await k.access();
            out = t;
        });
        return out;
    }

    bool refresh_after_rejection(token_keeper& k) {
        bool out = false;
        drive([&]() -> asio::awaitable<void> {
            auto r = co_await k.refresh_after_rejection();
            out = r;
        });
        return out;
    }

    // Get Authorized Shops with this token: "ok", or the TikTok error code.
    std::string try_token(const secret& token) {
        std::string out;
        drive([&]() -> asio::awaitable<void> {
            auto r = co_await api.get_authorized_shops(token);
            out = r ? "ok" : std::to_string(r.error().code);
        });
        return out;
    }

    int refresh_calls() const {
        int n = 0;
        for (const auto& c : shop.calls()) n += c.path == "/api/v2/token/refresh";
        return n;
    }

    // As if the seller removed the app: every token refused, refresh tokens spent.
    void seller_deauthorizes() {
        tikapi::http_request r;
        r.method = "POST";
        r.target = "/control/deauthorize";
        r.body = "{}";
        REQUIRE(shop.handle(r).status == 200);
    }
};

struct change {
    std::string state, advice;
};

}  // namespace

TEST_CASE("Without tokens the keeper is not authorized, says what to run, and calls nothing", "[tokens]") {
    keeper_env env;
    token_keeper keeper(env.vault, env.api, env.clock);
    CHECK(keeper.state() == "not_authorized");
    CHECK_THAT(keeper.advice(), Catch::Contains("orderflowctl auth"));
    CHECK_FALSE(keeper.tokens().has_value());
    CHECK(env.access(keeper) == nullptr);
    env.now += 60;
    CHECK(env.access(keeper) == nullptr);
    CHECK(env.shop.calls().empty());
}

TEST_CASE("Stored tokens make the keeper authorized and access() hands out the stored access token", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    token_keeper keeper(env.vault, env.api, env.clock);
    CHECK(keeper.state() == "authorized");
    CHECK(keeper.advice().empty());
    const secret* token = env.access(keeper);
    REQUIRE(token != nullptr);
    const bool is_stored = same(*token, stored.access_token);
    CHECK(is_stored);
    CHECK(env.try_token(*token) == "ok");
    CHECK(env.refresh_calls() == 0);
}

TEST_CASE("Tokens written to the vault while the keeper runs are taken up within a few seconds", "[tokens]") {
    keeper_env env;
    token_keeper keeper(env.vault, env.api, env.clock);
    std::vector<change> changes;
    keeper.on_change([&](const std::string& s, const std::string& a) { changes.push_back({s, a}); });
    REQUIRE(keeper.state() == "not_authorized");
    env.authorize();
    env.now += 5;
    REQUIRE(env.access(keeper) != nullptr);
    CHECK(keeper.state() == "authorized");
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].state == "authorized");
}

TEST_CASE("access() refreshes within 10 minutes of expiry and persists the rotated tokens at once", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    token_keeper keeper(env.vault, env.api, env.clock);
    REQUIRE(keeper.state() == "authorized");

    SECTION("more than 10 minutes left: the token is used as it is") {
        env.now = stored.access_expires_at - 601;
        const secret* token = env.access(keeper);
        REQUIRE(token != nullptr);
        const bool unchanged = same(*token, stored.access_token);
        CHECK(unchanged);
        CHECK(env.refresh_calls() == 0);
    }

    SECTION("within 10 minutes: refreshed, and a second keeper on the vault sees the new pair") {
        env.now = stored.access_expires_at - 599;
        const secret* token = env.access(keeper);
        REQUIRE(token != nullptr);
        CHECK(env.refresh_calls() == 1);
        const bool rotated = !same(*token, stored.access_token);
        CHECK(rotated);
        REQUIRE(keeper.tokens().has_value());
        CHECK(keeper.tokens()->access_expires_at > env.now + 600);
        CHECK(env.try_token(*token) == "ok");
        // Rotated away: the old token still works for the sandbox's 60 s
        // reuse window (calls in flight are not refused), then expires.
        CHECK(env.try_token(stored.access_token) == "ok");
        env.now += 61;
        CHECK(env.try_token(stored.access_token) == "105002");
        env.now -= 61;

        token_keeper second(env.vault, env.api, env.clock);
        REQUIRE(second.tokens().has_value());
        const bool same_refresh = same(second.tokens()->refresh_token, keeper.tokens()->refresh_token);
        const bool old_refresh = same(second.tokens()->refresh_token, stored.refresh_token);
        CHECK(same_refresh);
        CHECK_FALSE(old_refresh);
        CHECK(second.state() == "authorized");

        // The fresh token is good for days: no second refresh.
        env.now += 60;
        REQUIRE(env.access(keeper) != nullptr);
        CHECK(env.refresh_calls() == 1);
    }

    SECTION("a keeper started late (the daemon restarted near expiry) still refreshes 10 minutes ahead") {
        env.now = stored.access_expires_at - 700;
        token_keeper late(env.vault, env.api, env.clock);
        REQUIRE(env.access(late) != nullptr);
        CHECK(env.refresh_calls() == 0);
        env.now = stored.access_expires_at - 599;
        const secret* token = env.access(late);
        REQUIRE(token != nullptr);
        CHECK(env.refresh_calls() == 1);
        const bool rotated = !same(*token, stored.access_token);
        CHECK(rotated);
    }
}

TEST_CASE("A token TikTok expired early is refreshed by refresh_after_rejection()", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    token_keeper keeper(env.vault, env.api, env.clock);
    REQUIRE(env.shop.expire_access_tokens() == 1);
    env.now += 1;
    CHECK(env.try_token(stored.access_token) == "105002");

    CHECK(env.refresh_after_rejection(keeper));
    CHECK(env.refresh_calls() == 1);
    const secret* token = env.access(keeper);
    REQUIRE(token != nullptr);
    const bool fresh = !same(*token, stored.access_token);
    CHECK(fresh);
    CHECK(env.try_token(*token) == "ok");
    CHECK(keeper.state() == "authorized");
    auto in_vault = tikapi::parse_tokens(*env.vault.get(token_vault_name));
    REQUIRE(in_vault.has_value());
    const bool persisted = same(in_vault->access_token, *token);
    CHECK(persisted);
}

TEST_CASE("A dead refresh token stops the keeper until new tokens are written to the vault", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    token_keeper keeper(env.vault, env.api, env.clock);
    std::vector<change> changes;
    keeper.on_change([&](const std::string& s, const std::string& a) { changes.push_back({s, a}); });
    env.seller_deauthorizes();   // the refresh token is spent: 36004005, not retryable

    env.now = stored.access_expires_at - 300;
    CHECK(env.access(keeper) == nullptr);
    CHECK(env.refresh_calls() == 1);
    CHECK(keeper.state() == "reauthorization_required");
    CHECK_FALSE(keeper.tokens().has_value());
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].state == "reauthorization_required");
    CHECK_THAT(changes[0].advice, Catch::Contains("orderflowctl auth"));
    CHECK(keeper.advice() == changes[0].advice);
    CHECK_FALSE(env.refresh_after_rejection(keeper));

    // The same dead tokens are still in the vault: looked at again, never taken up.
    for (int i = 0; i < 3; ++i) {
        env.now += 10;
        CHECK(env.access(keeper) == nullptr);
    }
    CHECK(keeper.state() == "reauthorization_required");
    CHECK(env.refresh_calls() == 1);
    CHECK(changes.size() == 1);

    // The operator re-authorizes (orderflowctl auth exchange writes new tokens).
    const auto renewed = env.authorize();
    env.now += 5;
    const secret* token = env.access(keeper);
    REQUIRE(token != nullptr);
    const bool is_renewed = same(*token, renewed.access_token);
    CHECK(is_renewed);
    CHECK(env.try_token(*token) == "ok");
    CHECK(keeper.state() == "authorized");
    REQUIRE(changes.size() == 2);
    CHECK(changes[1].state == "authorized");
    CHECK(changes[1].advice.empty());
}

TEST_CASE("Tokens whose refresh token has expired need reauthorization from the start", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    env.now = stored.refresh_expires_at;
    token_keeper keeper(env.vault, env.api, env.clock);
    CHECK(keeper.state() == "reauthorization_required");
    CHECK_THAT(keeper.advice(), Catch::Contains("orderflowctl auth"));
    CHECK(env.access(keeper) == nullptr);
    CHECK(env.refresh_calls() == 0);
}

TEST_CASE("deauthorized() forgets the tokens until new ones are stored", "[tokens]") {
    keeper_env env;
    env.authorize();
    token_keeper keeper(env.vault, env.api, env.clock);
    std::vector<change> changes;
    keeper.on_change([&](const std::string& s, const std::string& a) { changes.push_back({s, a}); });
    REQUIRE(env.access(keeper) != nullptr);

    keeper.deauthorized();
    CHECK(keeper.state() == "deauthorized");
    CHECK_FALSE(keeper.tokens().has_value());
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].state == "deauthorized");
    CHECK_THAT(changes[0].advice, Catch::Contains("orderflowctl auth"));
    env.now += 10;
    CHECK(env.access(keeper) == nullptr);   // the old tokens in the vault are not taken up
    CHECK(keeper.state() == "deauthorized");

    const auto renewed = env.authorize();
    env.now += 5;
    const secret* token = env.access(keeper);
    REQUIRE(token != nullptr);
    const bool is_renewed = same(*token, renewed.access_token);
    CHECK(is_renewed);
    CHECK(keeper.state() == "authorized");
    CHECK(changes.size() == 2);
}

TEST_CASE("A refresh that fails on the way (HTTP 500 without TikTok's answer) is tried again, not taken for a dead token", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    int calls = 0;
    tikapi::http_server gateway{env.io.get_executor(), "127.0.0.1", 0,
                                [&](tikapi::http_request&) -> asio::awaitable<tikapi::http_response> {
                                    ++calls;
                                    co_return tikapi::http_response::text(500, "upstream connect error\n");
                                }};
    gateway.start();
    tikapi::client through_gateway{env.io.get_executor(), client_settings(gateway.port(), env.clock)};
    token_keeper keeper(env.vault, through_gateway, env.clock);

    env.now = stored.access_expires_at - 300;   // inside the refresh margin
    const secret* token = env.access(keeper);
    CHECK(calls == 1);
    REQUIRE(token != nullptr);   // still valid for five minutes: used meanwhile
    const bool kept = same(*token, stored.access_token);
    CHECK(kept);
    CHECK(keeper.state() == "authorized");

    env.now += 10;   // the next call tries the refresh again
    CHECK(env.access(keeper) != nullptr);
    CHECK(calls == 2);
    CHECK(keeper.state() == "authorized");

    // Its last seconds: a call made with it would reach TikTok expired
    // (105002), so none is made; the refresh is tried again meanwhile.
    env.now = stored.access_expires_at - 3;
    CHECK(env.access(keeper) != nullptr);
    env.now = stored.access_expires_at - 2;
    CHECK(env.access(keeper) == nullptr);
    CHECK(keeper.state() == "authorized");
    CHECK_THAT(keeper.why_no_token(), Catch::Contains("refresh failed for now"));
    gateway.stop();
}

TEST_CASE("A refresh that keeps failing on the way is paused, 5 s doubling to a minute, and a success ends the pause", "[tokens]") {
    keeper_env env;
    const auto stored = env.authorize();
    int calls = 0;
    bool gateway_up = false;
    tikapi::http_server gateway{env.io.get_executor(), "127.0.0.1", 0,
                                [&](tikapi::http_request& r) -> asio::awaitable<tikapi::http_response> {
                                    ++calls;
                                    if (gateway_up) co_return env.shop.handle(r);
                                    co_return tikapi::http_response::text(503, "no healthy upstream\n");
                                }};
    gateway.start();
    tikapi::client through_gateway{env.io.get_executor(), client_settings(gateway.port(), env.clock)};
    token_keeper keeper(env.vault, through_gateway, env.clock);

    // Inside the refresh margin, the token still valid: every call needs a
    // token, and only the first one after each pause tries the refresh.
    const std::int64_t start = stored.access_expires_at - 590;
    env.now = start;
    std::vector<std::int64_t> tried_at;
    for (; env.now < start + 200; ++env.now) {
        const int before = calls;
        REQUIRE(env.access(keeper) != nullptr);
        if (calls != before) tried_at.push_back(env.now - start);
    }
    CHECK(tried_at == std::vector<std::int64_t>{0, 5, 15, 35, 75, 135, 195});
    CHECK(keeper.state() == "authorized");

    // A 105002 meanwhile does not try it before the pause ends either.
    const int before = calls;
    CHECK_FALSE(env.refresh_after_rejection(keeper));
    CHECK(calls == before);
    CHECK(keeper.why_no_token().find("tried again within a minute") != std::string::npos);

    // The gateway recovers: the next attempt after the pause succeeds, and
    // the pause is gone (a later failure starts again at 5 s).
    gateway_up = true;
    env.now = start + 255;
    const secret* token = env.access(keeper);
    REQUIRE(token != nullptr);
    CHECK(calls == before + 1);
    const bool rotated = !same(*token, stored.access_token);
    CHECK(rotated);
    gateway_up = false;
    CHECK(env.shop.expire_access_tokens() >= 1);   // the new one, and the old one in its reuse window
    CHECK_FALSE(env.refresh_after_rejection(keeper));
    CHECK(calls == before + 2);
    env.now += 4;
    CHECK_FALSE(env.refresh_after_rejection(keeper));
    CHECK(calls == before + 2);
    env.now += 1;
    gateway_up = true;
    CHECK(env.refresh_after_rejection(keeper));
    CHECK(calls == before + 3);
    gateway.stop();
}

}  // namespace ORDERFLOW_TEST_FILE
