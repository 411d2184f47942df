// See runtime_support.hpp.
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace orderflow::daemon::testing {

namespace asio = boost::asio;
using json = nlohmann::json;
using namespace std::chrono_literals;

const char* const thanks_rules = R"({
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
  "rules": [ { "id": "thanks", "on": "order.status_changed",
               "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "thanks" } } ] } ]
})";

const char* const test_app_key = "runtime_test_app_key";
const char* const test_app_secret = "runtime-test-app-secret-7d2a";

namespace {

const char* const app_key = test_app_key;
const char* const app_secret = test_app_secret;
constexpr const char* shop_cipher = "ROW_runtimetest";

}  // namespace

runtime_env::runtime_env(const std::string& rules_text) : runtime_env(rules_text, nullptr) {}

runtime_env::runtime_env(std::function<void(config&)> configure, const std::string& rules_text) : runtime_env(rules_text, configure) {}

runtime_env::runtime_env(const std::string& rules_text, const std::function<void(config&)>& configure)
    : db(storage::database::open(dir / "orderflow.db")) {
    sandbox::shop_options so;
    so.app_key = app_key;
    so.app_secret = secret(app_secret);
    so.shop_cipher = shop_cipher;
    so.seed = 11;
    so.rate_limit_qps = 0;
    so.clock = clock;
    shop = std::make_unique<sandbox::shop>(std::move(so));
    server = std::make_unique<sandbox::server>(io.get_executor(), *shop, "127.0.0.1", 0);
    server->start();

    tikapi::client_options co;
    co.api_base = *tikapi::url::parse("http://127.0.0.1:" + std::to_string(server->port()));
    co.auth_base = co.api_base;
    co.app_key = app_key;
    co.app_secret = secret(app_secret);
    co.shop_cipher = shop_cipher;
    co.timeout = 5000ms;
    co.clock = clock;
    co.rate_limit_qps = 0;
    co.max_attempts = 1;
    api = std::make_unique<tikapi::client>(io.get_executor(), std::move(co));

    storage::write_vault_key(dir / "vault.key");
    vault = std::make_unique<storage::vault>(db, storage::read_vault_key(dir / "vault.key"));
    tokens = std::make_unique<token_keeper>(*vault, *api, clock);

    std::filesystem::create_directories(dir / "rules");
    std::ofstream(dir / "rules" / "10-rules.json") << rules_text;
    cfg.file = dir / "orderflow.json";
    cfg.rules.dir = dir / "rules";
    cfg.storage.path = dir / "orderflow.db";
    cfg.timezone = "Asia/Tokyo";
    cfg.tiktok.app_key = app_key;
    cfg.tiktok.shop_cipher = shop_cipher;
    if (configure) configure(cfg);
    auto loaded = rules::load_text(rules_text, (dir / "rules" / "10-rules.json").string());
    if (!loaded.ok()) throw std::runtime_error("runtime_env: the rules text does not load: " + loaded.diagnostics.front().to_string());
    in_force = std::make_unique<rules_in_force>(ctx, cfg, loaded.rules, read_channel_secrets(cfg));
    desk = std::make_unique<review_desk>(ctx, *in_force, [this] { ++notifier_wakes; });
}

runtime_env::~runtime_env() {
    sup.stop();
    server->stop();
    io.run_for(100ms);
}

void runtime_env::authorize() {
    const std::string code = shop->issue_auth_code();
    std::optional<tikapi::token_set> got;
    drive([&]() -> asio::awaitable<void> {
        auto r = co_await api->get_token(code);
        if (r) got = std::move(r.value());
    });
    REQUIRE(got.has_value());
    vault->put(token_vault_name, tikapi::serialize_tokens(*got), now);
    // A keeper reads the vault when it is made: a fresh one sees the tokens.
    tokens = std::make_unique<token_keeper>(*vault, *api, clock);
}

json runtime_env::control(const std::string& method, const std::string& target, const json& body) {
    tikapi::http_request req;
    req.method = method;
    req.target = target;
    if (!body.is_null()) req.body = body.dump();
    auto r = shop->handle(req);
    json out = json::parse(r.body, nullptr, false);
    if (r.status != 200) throw std::runtime_error("sandbox control " + method + " " + target + ": " + r.body);
    return out;
}

std::string runtime_env::create_order(const std::string& buyer_name) {
    auto o = control("POST", "/control/orders",
                     {{"buyer_name", buyer_name},
                      {"line_items", {{{"seller_sku", "SKU-1"}, {"product_name", "品物"}, {"sale_price", "1000"}}}}});
    return o.at("id").get<std::string>();
}

void runtime_env::make_ready_to_ship(const std::string& order_id) {
    control("POST", "/control/orders/" + order_id + "/status", {{"status", "ON_HOLD"}});
    control("POST", "/control/orders/" + order_id + "/status", {{"status", "AWAITING_SHIPMENT"}});
}

void runtime_env::drive(std::function<asio::awaitable<void>()> body) {
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

void runtime_env::run_for(std::chrono::milliseconds d) { io.run_for(d); }

bool runtime_env::run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        io.run_one_for(20ms);
    }
    return true;
}

outside_write_lock::outside_write_lock(runtime_env& env) : env_(env), other_(storage::database::open(env.db.path())) {
    env_.db.exec("PRAGMA busy_timeout = 0");
    other_.exec("BEGIN IMMEDIATE");
}

outside_write_lock::~outside_write_lock() {
    try {
        release();
    } catch (...) {
    }
}

void outside_write_lock::release() {
    if (!held_) return;
    held_ = false;
    other_.exec("ROLLBACK");
    env_.db.exec("PRAGMA busy_timeout = 5000");
}

std::vector<json> runtime_env::shop_messages() {
    auto j = control("GET", "/control/messages?sender=SHOP");
    std::vector<json> out;
    const json& list = j.is_object() && j.contains("messages") ? j["messages"] : j;
    if (list.is_array())
        for (const auto& m : list) out.push_back(m);
    return out;
}

std::unique_ptr<rules_in_force> runtime_env::in_force_with(const std::function<void(config&)>& change) {
    config changed = cfg;
    change(changed);
    return std::make_unique<rules_in_force>(ctx, std::move(changed), in_force->rules(), std::map<std::string, secret>{});
}

}  // namespace orderflow::daemon::testing
