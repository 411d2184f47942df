// Tests for daemon/admin/commands.hpp: one admin request line in, one reply
// out, as orderflowctl sends them: malformed requests get exit 2 naming the
// problem, review and resume act on the real database and breaker, reload
// calls the reload function it was given and reports its outcome.
#include "daemon/admin/commands.hpp"

#include "daemon/admin.hpp"
#include "daemon/executor/breaker.hpp"
#include "storage/accounts.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/awaitable.hpp>
#include <catch2/catch.hpp>

#include <tuple>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;
using namespace orderflow::daemon::testing;
using json = nlohmann::json;
namespace asio = boost::asio;

namespace {

// The commands over a breaker, with a reload function that answers `outcome` and counts its calls.
struct commands_rig {
    explicit commands_rig(runtime_env& env_)
        : env(env_),
          brk(env.ctx, *env.in_force, *env.desk, nullptr),
          commands(env.ctx, *env.in_force, brk, [this]() -> asio::awaitable<rules_in_force::reload_outcome> {
              ++reloads;
              co_return outcome;
          }) {}

    json dispatch(const std::string& line, const std::string& peer = "hanako") {
        json reply;
        env.drive([&]() -> asio::awaitable<void> { reply = co_await commands.dispatch(line, peer); });
        return reply;
    }
    json dispatch(const json& request) { return dispatch(request.dump()); }

    // More messages planned than the breaker allows: it trips.
    void trip_breaker(int planned) {
        for (int i = 0; i < planned; ++i) {
            storage::new_action a;
            a.idem_key = "test:held:" + std::to_string(i);
            a.rule_id = "thanks";
            a.kind = "send_message";
            a.order_id = "O-" + std::to_string(i);
            a.payload = json{{"text", "ありがとうございます"}, {"buyer_user_id", "buyer"}}.dump();
            a.created_at = env.now;
            REQUIRE(env.store.add_action(a));
        }
        REQUIRE_FALSE(brk.allows_sending());
    }

    runtime_env& env;
    breaker brk;
    int reloads = 0;
    rules_in_force::reload_outcome outcome;
    admin_commands commands;
};

}  // namespace

TEST_CASE("A malformed admin request gets exit 2 and says what is wrong", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const auto [line, problem] = GENERATE(table<std::string, std::string>({
        {"review list", "the request is"},
        {"[\"review\"]", "not a JSON object"},
        {R"({"by": "hanako"})", "\"argv\" must be a non-empty array of strings"},
        {R"({"argv": []})", "\"argv\" must be a non-empty array of strings"},
        {R"({"argv": ["review", 7]})", "\"argv\" must be a non-empty array of strings"},
        {R"({"argv": ["review", "list"], "by": 42})", "\"by\" must be a string"},
        {R"({"argv": ["review", "list"], "note": null})", "\"note\" must be a string"},
        {R"({"argv": ["resume"], "drop_held": "yes"})", "\"drop_held\" must be true or false"},
        {R"({"argv": ["review", "list"], "all": 1})", "\"all\" must be true or false"},
        {R"({"argv": ["review", "list"], "limit": "10"})", "\"limit\" must be an integer"},
        {R"({"argv": ["account", "list"], "role": 1})", "\"role\" must be a string"},
        {R"({"argv": ["account", "list"], "password_hash": ["x"]})", "\"password_hash\" must be a string"},
    }));
    CAPTURE(line);
    const json reply = rig.dispatch(line);
    CHECK(reply["exit"] == 2);
    CHECK(reply["stdout"] == "");
    CHECK_THAT(reply["stderr"].get<std::string>(), Catch::StartsWith("orderflowd: malformed request: " + problem));
    CHECK(rig.reloads == 0);
}

TEST_CASE("An unknown admin command gets exit 2 naming it", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const json reply = rig.dispatch(json{{"argv", {"frobnicate"}}});
    CHECK(reply["exit"] == 2);
    CHECK_THAT(reply["stderr"].get<std::string>(), Catch::Contains("unknown admin command 'frobnicate'"));
}

TEST_CASE("review list shows the open items and review resolve records who resolved one", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const auto id = env.desk->raise("O-1", "send_failed", "warning", "rule thanks: send_message failed: closed", json::object());

    json reply = rig.dispatch(json{{"argv", {"review", "list"}}});
    CHECK(reply["exit"] == 0);
    const std::string listed = reply["stdout"];
    CHECK_THAT(listed, Catch::Contains("#" + std::to_string(id)) && Catch::Contains("order O-1") && Catch::Contains("send_failed") &&
                           Catch::Contains("rule thanks: send_message failed: closed"));

    // Who acted: the name given, else the socket's peer.
    const bool named = GENERATE(true, false);
    json request{{"argv", {"review", "resolve", std::to_string(id)}}, {"note", "told the buyer by mail"}};
    if (named) request["by"] = "taro";
    reply = rig.dispatch(request);
    CHECK(reply["exit"] == 0);
    const auto item = env.store.get_review(id);
    REQUIRE(item.has_value());
    CHECK(item->state == "resolved");
    CHECK(item->resolved_by == (named ? "taro" : "hanako"));
    CHECK(item->note == "told the buyer by mail");
    CHECK(rig.dispatch(json{{"argv", {"review", "list"}}})["stdout"] == "nothing needs review\n");
}

TEST_CASE("resume when sending is not paused says so and changes nothing", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const json reply = rig.dispatch(json{{"argv", {"resume"}}});
    CHECK(reply["exit"] == 0);
    CHECK(reply["stdout"] == "sending is not paused; nothing to resume\n");
    CHECK_FALSE(env.store.get_state("breaker").has_value());
}

TEST_CASE("resume after the breaker tripped reopens sending and drops the held messages on request", "[admin]") {
    runtime_env env(thanks_rules, [](config& c) { c.breaker.max_sends = 1; });
    commands_rig rig(env);
    rig.trip_breaker(2);
    const json reply = rig.dispatch(json{{"argv", {"resume"}}, {"by", "taro"}, {"drop_held", true}});
    CHECK(reply["exit"] == 0);
    CHECK(reply["stdout"] == "sending resumed by taro; 2 held messages dropped (skipped)\n");
    CHECK_FALSE(rig.brk.open());
    CHECK(env.store.counts()["outbox"]["skipped"] == 2);
}

TEST_CASE("metrics replies with the Prometheus text", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const json reply = rig.dispatch(json{{"argv", {"metrics"}}});
    CHECK(reply["exit"] == 0);
    CHECK_THAT(reply["stdout"].get<std::string>(), Catch::Contains("orderflow_sending_paused 0\n") && Catch::Contains("# TYPE orderflow_actions gauge"));
}

TEST_CASE("reload calls the reload function and reports the rules in force", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const auto rules = env.in_force->rules();

    SECTION("a reload that succeeded") {
        rig.outcome.ok = true;
        const json reply = rig.dispatch(json{{"argv", {"reload"}}});
        CHECK(rig.reloads == 1);
        CHECK(reply["exit"] == 0);
        CHECK(reply["stdout"] == "reloaded: 1 rules in force (hash " + rules->hash() + ")\n");
        CHECK(reply["stderr"] == "");
    }
    SECTION("a reload that failed, with a setting that needs a restart") {
        rig.outcome.ok = false;
        rig.outcome.needs_restart = {"webhook.listen"};
        const json reply = rig.dispatch(json{{"argv", {"reload"}}});
        CHECK(rig.reloads == 1);
        CHECK(reply["exit"] == 1);
        const std::string err = reply["stderr"];
        CHECK_THAT(err, Catch::Contains("reload failed; the previous rules stay in force (1 rules, hash " + rules->hash() + ")") &&
                            Catch::Contains("orderflowctl check --config " + env.cfg.file.string()) &&
                            Catch::Contains("webhook.listen changed; it takes effect after a restart"));
    }
}

TEST_CASE("With admin.operators set, staff may review and read metrics but not resume, reload, run auth, read buyers' data "
          "or manage accounts",
          "[admin_commands]") {
    // root's primary group exists everywhere; "hanako" is not a user here, so she belongs to no group.
    runtime_env env([](config& c) { c.admin.operators = {"taro", "@root"}; });
    commands_rig rig(env);
    rig.outcome.ok = true;
    for (const char* command : {"resume", "reload", "auth", "buyer", "audit", "account"}) {
        const json reply = rig.dispatch(json{{"argv", {command}}}.dump(), "hanako");
        INFO(command);
        CHECK(reply["exit"] == 1);
        CHECK_THAT(reply["stderr"].get<std::string>(), Catch::Contains("is an operator command and hanako is staff"));
    }
    CHECK(rig.reloads == 0);
    CHECK(rig.dispatch(json{{"argv", {"review", "list"}}}.dump(), "hanako")["exit"] == 0);
    CHECK(rig.dispatch(json{{"argv", {"metrics"}}}.dump(), "hanako")["exit"] == 0);

    // Operators by name, and through a group they belong to.
    CHECK(rig.dispatch(json{{"argv", {"reload"}}}.dump(), "taro")["exit"] == 0);
    CHECK(rig.dispatch(json{{"argv", {"reload"}}}.dump(), "root")["exit"] == 0);
    CHECK(rig.reloads == 2);
}

TEST_CASE("Without admin.operators everyone who can reach the socket is an operator, as before", "[admin_commands]") {
    runtime_env env;
    commands_rig rig(env);
    rig.outcome.ok = true;
    CHECK(rig.dispatch(json{{"argv", {"reload"}}}.dump(), "hanako")["exit"] == 0);
    CHECK(is_operator("anyone", {}));
    CHECK_FALSE(is_operator("no-such-user-zz", {"@root"}));
    CHECK(is_operator("root", {"@root"}));
}

TEST_CASE("account over the socket: operators add, list and remove accounts, staff are refused and nothing changes",
          "[admin_commands][account]") {
    runtime_env env([](config& c) { c.admin.operators = {"taro"}; });
    commands_rig rig(env);
    const std::string hash = storage::hash_password("a long enough passphrase");
    const json add{{"argv", {"account", "add", "hanako"}}, {"role", "staff"}, {"password_hash", hash}};

    json reply = rig.dispatch(add.dump(), "hanako");
    CHECK(reply["exit"] == 1);
    CHECK_THAT(reply["stderr"].get<std::string>(), Catch::Contains("'account' is an operator command and hanako is staff"));
    CHECK(rig.dispatch(json{{"argv", {"account", "list"}}}.dump(), "hanako")["exit"] == 1);
    CHECK(storage::list_accounts(env.db).empty());

    reply = rig.dispatch(add.dump(), "taro");
    CHECK(reply["exit"] == 0);
    CHECK(reply["stdout"] == "added account hanako (staff)\n");
    const auto stored = storage::get_account(env.db, "hanako");
    REQUIRE(stored.has_value());
    CHECK(stored->password_hash == hash);
    // Who acted: the socket's user, as no name was given.
    const auto audited = env.store.audit_entries(0, "", "account.add", 10);
    REQUIRE(audited.size() == 1);
    CHECK(audited[0].at("detail").at("by") == "taro");

    reply = rig.dispatch(json{{"argv", {"account", "list"}}}.dump(), "taro");
    CHECK(reply["exit"] == 0);
    CHECK_THAT(reply["stdout"].get<std::string>(), Catch::Contains("hanako") && Catch::Contains("staff"));
    CHECK(reply.dump().find(hash) == std::string::npos);

    // A password where the hash belongs is refused and not repeated.
    reply = rig.dispatch(json{{"argv", {"account", "add", "jiro"}}, {"role", "operator"}, {"password_hash", "hunter2hunter2"}}.dump(),
                         "taro");
    CHECK(reply["exit"] == 2);
    CHECK(reply.dump().find("hunter2hunter2") == std::string::npos);

    CHECK(rig.dispatch(json{{"argv", {"account", "remove", "hanako"}}}.dump(), "hanako")["exit"] == 1);
    CHECK(storage::get_account(env.db, "hanako").has_value());
    CHECK(rig.dispatch(json{{"argv", {"account", "remove", "hanako"}}}.dump(), "taro")["exit"] == 0);
    CHECK_FALSE(storage::get_account(env.db, "hanako").has_value());
    CHECK(rig.dispatch(json{{"argv", {"account", "remove", "hanako"}}}.dump(), "taro")["exit"] == 1);
}

TEST_CASE("A failed reload's reply lists its errors as check prints them and says how many more there are", "[admin]") {
    runtime_env env;
    commands_rig rig(env);
    const auto rules = env.in_force->rules();
    const std::string check = "orderflowctl check --config " + env.cfg.file.string();
    rig.outcome.ok = false;
    rig.outcome.errors = {"/etc/orderflow/rules/20-a.json:3:12: error: unknown event \"order.teleported\"",
                          "/etc/orderflow/rules/20-a.json:9:5: error: unknown template \"thanks2\""};

    SECTION("every error listed") {
        const json reply = rig.dispatch(json{{"argv", {"reload"}}});
        CHECK(reply["exit"] == 1);
        CHECK(reply["stderr"] == "reload failed; the previous rules stay in force (1 rules, hash " + rules->hash() +
                                     "). 2 errors; fix them and reload again:\n"
                                     "/etc/orderflow/rules/20-a.json:3:12: error: unknown event \"order.teleported\"\n"
                                     "/etc/orderflow/rules/20-a.json:9:5: error: unknown template \"thanks2\"\n");
    }
    SECTION("more errors than are listed") {
        rig.outcome.error_count = 75;
        const std::string err = rig.dispatch(json{{"argv", {"reload"}}})["stderr"];
        CHECK_THAT(err, Catch::Contains("75 errors; fix them and reload again:\n/etc/orderflow/rules/20-a.json:3:12: error:") &&
                            Catch::EndsWith("\nand 73 more (" + check + " shows all)\n"));
    }
    SECTION("a setting that needs a restart is still named") {
        rig.outcome.needs_restart = {"webhook.trusted_proxies"};
        const std::string err = rig.dispatch(json{{"argv", {"reload"}}})["stderr"];
        CHECK_THAT(err, Catch::Contains("unknown template") && Catch::EndsWith("webhook.trusted_proxies changed; it takes effect after a restart\n"));
    }
}

}  // namespace ORDERFLOW_TEST_FILE
