// Test support for the daemon's components: one environment with what they
// share, real and in-process: a temporary SQLite database, the in-process
// sandbox shop served on a loopback port, the real tikapi client and token
// keeper (authorized), one injected clock (unix seconds) shared by all of
// them, a supervisor, the rules in force (from a rules text) and a review
// desk. A test constructs the component under test on top of it.
#pragma once

#include "daemon/config.hpp"
#include "daemon/context.hpp"
#include "daemon/durable_commits.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/tokens.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/storage/temp_dir.hpp"
#include "tikapi/client.hpp"
#include "tikapi/sandbox/server.hpp"
#include "tikapi/sandbox/shop.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <unistd.h>

namespace orderflow::daemon::testing {

// One rule most component tests need: thank the buyer once the order is ready to ship.
extern const char* const thanks_rules;

// The app's credentials the sandbox, the client and cfg.tiktok share: a test
// signs a webhook with them (tikapi::webhook_signature).
extern const char* const test_app_key;
extern const char* const test_app_secret;

struct runtime_env {
    // rules_text: the one rules file in force (JSON with comments).
    explicit runtime_env(const std::string& rules_text = thanks_rules);
    // configure: changes cfg (e.g. notification channels, retention) before
    // the rules in force and the review desk are built on it.
    explicit runtime_env(std::function<void(config&)> configure, const std::string& rules_text = thanks_rules);
    // configure: sets config fields (guards, breaker, channels, ...) before
    // the rules in force are built from cfg. cfg.file's folder is the
    // environment's temporary directory, for files a setting names (a
    // webhook channel's secret_file is read as orderflowd reads it).
    runtime_env(const std::string& rules_text, const std::function<void(config&)>& configure);
    ~runtime_env();

    std::int64_t now = 1'790'000'000;
    std::function<std::int64_t()> clock = [this] { return now; };
    boost::asio::io_context io;
    orderflow::storage::testing::temp_dir dir;
    std::unique_ptr<sandbox::shop> shop;
    std::unique_ptr<sandbox::server> server;
    std::unique_ptr<tikapi::client> api;
    storage::database db;
    storage::store store{db};
    std::unique_ptr<storage::vault> vault;
    std::unique_ptr<token_keeper> tokens;
    // Set: every sync of the WAL fails with this errno (durable_commits.hpp).
    std::atomic<int> wal_sync_error{0};
    durable_commits durable{io.get_executor(), db, [this](int fd) {
                                const int e = wal_sync_error.load();
                                return e != 0 ? e : ::fdatasync(fd) == 0 ? 0 : errno;
                            }};
    context ctx{io.get_executor(), db, store, durable, clock};
    supervisor sup{io.get_executor()};
    config cfg;                                   // what in_force started with
    std::unique_ptr<rules_in_force> in_force;
    int notifier_wakes = 0;                       // review_desk's wake-ups of the notifier
    std::unique_ptr<review_desk> desk;

    // Trades a fresh authorization code and stores the tokens, as `orderflowctl auth exchange` does.
    void authorize();
    // The sandbox's /control/ API, in process: e.g. control("POST", "/control/orders", {...}).
    nlohmann::json control(const std::string& method, const std::string& target, const nlohmann::json& body = nullptr);
    // A new order (UNPAID) for `buyer_name` with one line item; returns its id.
    std::string create_order(const std::string& buyer_name = "山田 太郎");
    // UNPAID -> ON_HOLD -> AWAITING_SHIPMENT, as the sandbox allows.
    void make_ready_to_ship(const std::string& order_id);
    // Runs one coroutine to its end on the io_context (which also serves the sandbox).
    void drive(std::function<boost::asio::awaitable<void>()> body);
    // Runs the io_context a little (loops, timers).
    void run_for(std::chrono::milliseconds d);
    // Messages the shop sent (the sandbox's record): {"conversation_id", "text", "user_id"}.
    std::vector<nlohmann::json> shop_messages();
    // Rules in force over a copy of `cfg` changed by `change`: for settings
    // the environment leaves unset (tracking.feed_dir, admin.listen,
    // poll.start_at, tiktok.shop_id, ...). The rules are the same.
    std::unique_ptr<rules_in_force> in_force_with(const std::function<void(config&)>& change);
    // Runs the io_context until `done` holds (checked after every handler)
    // or `limit` passes; returns whether it holds.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(10));
};

// The database's write lock held by another connection, as a backup tool or
// a stuck sqlite3 shell would hold it for longer than the busy timeout. While
// it is held the environment's connection gives up at once (busy timeout 0
// stands in for the daemon's 5 s wait running out), so every write by a
// component fails with a storage_error; reads still work (WAL).
class outside_write_lock {
public:
    explicit outside_write_lock(runtime_env& env);
    ~outside_write_lock();
    outside_write_lock(const outside_write_lock&) = delete;
    outside_write_lock& operator=(const outside_write_lock&) = delete;

    void release();   // the components' writes succeed again (busy timeout back to 5 s)

private:
    runtime_env& env_;
    storage::database other_;
    bool held_ = true;
};

// Log capture for the components' tests (tests/common/log_capture.hpp).
using orderflow::testing::log_capture;
using orderflow::testing::log_lines;

}  // namespace orderflow::daemon::testing
