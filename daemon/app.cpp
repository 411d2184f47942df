// See app.hpp. Construction order is dependency order; the wake-up callbacks
// between components (the pipeline wakes the executor, the review desk the
// notifier, ...) name members constructed later, which is safe because no
// callback runs before start().
#include "daemon/app.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "daemon/admin/commands.hpp"
#include "daemon/admin/console.hpp"
#include "daemon/admin/http_admin.hpp"
#include "daemon/admin/metrics.hpp"
#include "daemon/admin/socket_server.hpp"
#include "daemon/api_options.hpp"
#include "daemon/context.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/detail/storage_path.hpp"
#include "daemon/events.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/executor/executor.hpp"
#include "daemon/executor/guards.hpp"
#include "daemon/executor/message_sender.hpp"
#include "daemon/executor/outcomes.hpp"
#include "daemon/executor/reconciler.hpp"
#include "daemon/executor/tracking_sender.hpp"
#include "daemon/housekeeping.hpp"
#include "daemon/durable_commits.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/ingress/poller.hpp"
#include "daemon/ingress/tracking_feed.hpp"
#include "daemon/ingress/webhook_ingress.hpp"
#include "daemon/loop_delay.hpp"
#include "daemon/notifier/notifier.hpp"
#include "daemon/conversation_linker.hpp"
#include "daemon/order_source.hpp"
#include "daemon/pipeline.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/cs_quota.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/security_watch.hpp"
#include "daemon/storage_watch.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/systemd.hpp"
#include "daemon/tokens.hpp"
#include "storage/checkpointer.hpp"
#include "storage/idempotency.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"
#include "tikapi/rate_limiter.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <malloc.h>
#include <cstring>
#include <unistd.h>
#include <sys/file.h>
#include <fcntl.h>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// One orderflowd per database. A second one, started by mistake, would
// otherwise write before it noticed the first (its start-up marks the
// first's sends in flight as interrupted). An flock on the file beside
// storage.path, taken before anything is opened and held for the process's
// life: the kernel releases it at any exit, a crash included. The file
// holds the pid, for the refusal's message.
int lock_instance(const config& cfg) {
    const std::string path = cfg.storage.path.string() + ".lock";
    const std::string where = " (beside storage.path in " + cfg.file.string() + ")";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        throw std::runtime_error("cannot open the lock file " + path + ": " + std::strerror(errno) + where +
                                 "; check storage.path, and that its folder exists and is writable by the user orderflowd runs as");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char pid[24] = {};
        const auto got = ::pread(fd, pid, sizeof pid - 1, 0);
        std::string holder = got > 0 ? std::string(pid, static_cast<std::size_t>(got)) : "";
        holder.erase(std::remove_if(holder.begin(), holder.end(), [](char c) { return c < '0' || c > '9'; }), holder.end());
        ::close(fd);
        if (err != EWOULDBLOCK) throw std::runtime_error("cannot lock " + path + ": " + std::strerror(err) + where);
        throw std::runtime_error("another orderflowd" + (holder.empty() ? std::string() : " (pid " + holder + ")") +
                                 " runs on the database " + cfg.storage.path.string() +
                                 "; stop it first (systemctl stop orderflow), or give this one its own storage.path");
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        log::warn("instance_lock_pid_not_written", {{"file", path}, {"error", std::strerror(errno)}});
    return fd;
}

storage::database open_database(const config& cfg) {
    if (std::string why = detail::new_database_refusal(cfg.storage.path, cfg.file); !why.empty()) throw std::runtime_error(why);
    try {
        return storage::database::open(cfg.storage.path);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(e.what()) + " (storage.path in " + cfg.file.string() + ")");
    }
}

// The client tells the quota keeper of each customer-service call, so the
// day's count is stored as it grows (daemon/cs_quota.hpp).
tikapi::client_options counting_cs_calls(tikapi::client_options o, std::function<void(std::int64_t)> on_count) {
    o.on_cs_count = std::move(on_count);
    return o;
}

// The vault key must be the one the database's idempotency keys were made
// with (another would plan again what was sent: storage/idempotency.hpp),
// and a database written before version 22 holds its keys as plain hashes:
// converted here, 10,000 rows a transaction, before anything plans an action.
// A large database takes a while, so each step tells systemd how far it got
// and asks for more start time.
void convert_plain_hashes(storage::database& db, const orderflow::secret& key) {
    storage::check_idempotency_key(db, key_bytes(key), true);
    if (!storage::plain_hashes_left(db)) return;
    // A new database carries the record too (migration 22): nothing to say.
    auto rows = db.prepare("SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM inbox)");
    const bool said = rows.step() && rows.int64(0) != 0;
    rows.reset();
    if (said)
        log::info("idempotency_keys_rekeying", {{"why", "this database holds keys made before they were keyed hashes; "
                                                        "they are converted once, before webhooks are taken"}});
    const auto started = std::chrono::steady_clock::now();
    std::int64_t actions = 0, events = 0;
    for (;;) {
        const auto n = storage::rekey_plain_hashes(db, key_bytes(key));
        actions += n.actions;
        events += n.events;
        if (n.done) break;
        systemd::notify("EXTEND_TIMEOUT_USEC=60000000\nSTATUS=converting stored keys: " + std::to_string(actions) +
                        " actions and " + std::to_string(events) + " events so far");
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (said) log::info("idempotency_keys_rekeyed", {{"actions", actions}, {"events", events}, {"ms", ms.count()}});
}

}  // namespace

struct service::impl {
    impl(asio::io_context& io_, config cfg, std::function<std::int64_t()> clock_)
        : io(io_),
          clock(clock_ ? std::move(clock_) : std::function<std::int64_t()>(system_now)),
          db(open_database(cfg)),
          checkpoints(db.path()),
          store(db),
          durable(io.get_executor(), db),
          ctx{io.get_executor(), db, store, durable, clock},
          vault(db, storage::read_vault_key(cfg.storage.vault_key_file)),
          app_secret(read_secret_file(cfg.tiktok.app_secret_file)),
          api(io.get_executor(), counting_cs_calls(api_options(cfg, app_secret.clone(), clock), [this](std::int64_t n) { quota.counted(n); })),
          tokens(vault, api, clock),
          in_force(ctx, cfg, load_rules_or_throw(cfg), read_channel_secrets(cfg)),
          desk(ctx, in_force, [this] { notify.wake(); }),
          quota(ctx, in_force.cfg(), desk),
          security(ctx, desk),
          watch(ctx, desk, sup, [this] {
              pipe.wake();
              exec.wake();
          }),
          lag(ctx, sup),
          writer(ctx, watch, std::chrono::seconds(5), &checkpoints),
          orders(api, tokens),
          links(ctx, api, tokens),
          pipe(ctx, in_force, orders, links, tokens, desk, watch, sup, [this] { exec.wake(); }),
          out(ctx, in_force, desk),
          brk(ctx, in_force, desk, [this] { exec.wake(); }),
          grd(ctx, in_force, out, orders),
          messages(ctx, in_force, api, tokens, out, grd),
          tracking(ctx, in_force, api, tokens, out, orders),
          recon(ctx, api, tokens, desk),
          exec(ctx, executor::parts{brk, out, messages, tracking, recon}, desk, api, watch, sup),
          notify(ctx, in_force, sup, command_runner.get_executor(), [this] { return brk.open(); }),
          webhooks(ctx, in_force, app_secret, writer, security, [this] { pipe.wake(); }),
          feed(ctx, in_force, writer, desk, sup, background.get_executor(), [this] { pipe.wake(); }),
          ui(ctx, in_force,
             {brk, security, [this] { return in_force.reload(background.get_executor(), desk); }, [this] { return readiness(); }}),
          web(ctx, in_force, feed, security, ui, {[this] { return readiness(); }, [this] { return metrics(); }}),
          poll(ctx, in_force, api, tokens, writer, watch, sup, [this] { pipe.wake(); }),
          house(ctx, in_force, sup),
          commands(ctx, in_force, brk, [this] { return in_force.reload(background.get_executor(), desk); }),
          admin(io.get_executor(), in_force.cfg().admin.socket, commands, sup) {
        // The loop's writes poll for the lock every 0.1 ms, as the inbox
        // writer's do: with SQLite's own wait (sleeps of 1, 2, 5 ... 100 ms
        // between tries) a burst of webhooks, whose writer takes the lock
        // again within microseconds of each commit, kept the loop asleep
        // for seconds (bench/README.md, nineteenth round).
        db.set_busy_timeout(std::chrono::seconds(5));
        // The loop's commits leave the checkpoint at four thresholds to the
        // inbox writer and to the pipeline's waits (storage/checkpointer.hpp).
        checkpoints.serve(db, 16);
        durable.checkpoints_by(checkpoints);
        in_force.running_with_app_secret(app_secret);
        asio::post(background, [] { name_this_thread("of-background"); });
        asio::post(command_runner, [] { name_this_thread("of-commands"); });
        commands.on_metrics([this] { return metrics(); });
        // The shop's time zone for quiet hours and the heartbeat (detail/local_time.hpp).
        apply_timezone(in_force.cfg().timezone);
        // The operator hears of dead tokens three ways: the log, status, and staff.
        tokens.on_change([this](const std::string& state, const std::string& advice) {
            try {
                store.put_state("auth", json{{"state", state}, {"advice", advice}, {"since", clock()}}.dump(), clock());
                if (state == "reauthorization_required" || state == "deauthorized")
                    db.transaction([&] { desk.raise("", state, "critical", "orderflow has stopped calling TikTok: " + advice, {{"state", state}}); });
            } catch (const std::exception& e) {
                log::error("auth_state_not_recorded", {{"error", e.what()}});
            }
        });
        store.put_state("auth", json{{"state", tokens.state()}, {"advice", tokens.advice()}, {"since", clock()}}.dump(), clock());
        // orderflowctl auth disconnect on the running daemon: API calls stop
        // at once, the tokens leave memory and disk together.
        commands.on_auth_disconnect([this](const std::string& by) -> std::string {
            bool had = false;
            db.transaction([&] {
                had = vault.erase(token_vault_name);
                store.audit(clock(), "orderflowctl", "auth.disconnect", "", {{"by", by}});
            });
            tokens.disconnected();
            return had ? "tokens deleted; orderflowd stopped calling TikTok and makes no call until the shop is authorized again\n"
                       : "no tokens were stored; orderflowd makes no TikTok call until the shop is authorized\n";
        });
        // orderflowctl buyer forget hashes ids with a key derived from the vault's;
        // the pipeline and the poller set aside changes about forgotten buyers;
        // the retention purge hashes the ids it keeps with it.
        {
            orderflow::secret key = forget_key(vault);
            pipe.set_forget_key(key.clone());
            poll.set_forget_key(key.clone());
            house.set_forget_key(key.clone());
            commands.set_forget_key(std::move(key));
        }
        // Idempotency keys, and the inbox keys made from what names an
        // order, are hashed with another key derived from the vault's, so
        // what stays after the purge or a forget cannot be tested against
        // an order id (storage/idempotency.hpp).
        {
            orderflow::secret key = storage::idempotency_key(vault);
            pipe.set_hash_key(key.clone());
            webhooks.set_hash_key(key.clone());
            feed.set_hash_key(key.clone());
            hash_key = std::move(key);
        }
        // orderflowctl buyer refresh: TikTok is the source of truth for order
        // data; the cached copies are replaced by what it says now.
        commands.on_buyer_refresh([this](std::vector<std::string> ids) -> asio::awaitable<std::pair<bool, std::string>> {
            std::ostringstream said;
            int replaced = 0, failed = 0;
            for (const auto& id : ids) {
                auto fetched = co_await orders.fetch(id);
                if (!fetched.order) {
                    said << "order " << id << ": not refreshed: " << fetched.error << "\n";
                    ++failed;
                    continue;
                }
                json view = order_view(*fetched.order);
                view["tags"] = store.tags(id);
                db.transaction([&] { store.put_order({id, view.value("status", ""), view.dump(), clock()}); });
                ++replaced;
            }
            if (ids.empty()) said << "no order of this buyer is known to orderflow; nothing to refresh\n";
            else said << "replaced " << replaced << " cached order(s) with TikTok's current copy" << (failed ? "; " : "") 
                      << (failed ? std::to_string(failed) + " could not be read (see above); run it again later" : "") << "\n";
            co_return std::pair{failed == 0, said.str()};
        });
        // orderflowctl notify test CHANNEL: through the very path a review alert takes.
        commands.on_notify_test([this](const std::string& name) -> std::string {
            const auto& channels = in_force.cfg().channels;
            if (std::none_of(channels.begin(), channels.end(), [&](const auto& c) { return c.name == name; }))
                return "no channel '" + name + "' in notify.channels of " + in_force.cfg().file.string();
            const std::int64_t now = clock();
            json payload{{"kind", "test"}, {"severity", "info"}, {"order_id", ""},
                         {"summary", "test notification from orderflowctl for channel " + name}, {"act", "nothing to do"}, {"at", now}};
            store.add_notification(name, "test:" + std::to_string(now) + ":" + std::to_string(++notify_tests), 0, payload, now);
            notify.wake();
            return "";
        });
    }

    // db outlives the checkpointer it hands its checkpoints to (members go
    // in reverse order): take them back first.
    ~impl() { db.hand_off_checkpoints({}); }

    std::string metrics() {
        return metrics_text(ctx, in_force, brk, {tokens.state() == "authorized", static_cast<int>(sup.unhealthy().size()), started_at});
    }

    // GET /readyz: each check names what fails and what to do.
    std::vector<readiness_check> readiness() {
        std::vector<readiness_check> out;
        readiness_check database{"database", false, ""};
        if (watch.known_lost()) {
            database.detail = "the database file " + db.path().string() + " is missing or was replaced; see the review item";
        } else {
            try {
                db.transaction([&] { store.put_state("ready_probe", std::to_string(clock()), clock()); });
                database.ok = true;
                database.detail = "writable";
            } catch (const std::exception& e) {
                database.detail = std::string("a write failed: ") + e.what();
            }
        }
        out.push_back(std::move(database));
        const auto rules = in_force.rules();
        json state = json::parse(store.get_state("rules").value_or("{}"), nullptr, false);
        const bool reload_failed = state.is_object() && state.contains("last_reload") && !state["last_reload"].value("ok", true);
        out.push_back({"rules", true, std::to_string(rules->size()) + " rule(s) in force, hash " + rules->hash() +
                                          (reload_failed ? "; the last reload failed and these stay in force (orderflowctl status)" : "")});
        const bool authorized = tokens.state() == "authorized";
        out.push_back({"authorized", authorized, authorized ? "TikTok tokens usable" : tokens.state() + ": " + tokens.advice()});
        const auto unhealthy = sup.unhealthy();
        std::string loops;
        for (const auto& name : unhealthy) loops += (loops.empty() ? "" : ", ") + name;
        if (!in_force.cfg().tracking.feed_dir.empty()) {
            const std::string problem = feed.unavailable();
            out.push_back({"tracking_feed", problem.empty(),
                           problem.empty() ? "reading " + in_force.cfg().tracking.feed_dir.string() : problem});
        }
        out.push_back({"loops", unhealthy.empty(),
                       unhealthy.empty() ? "every loop made progress recently" : "dead or wedged: " + loops + " (see loop_crashed in the log)"});
        return out;
    }

    asio::io_context& io;
    std::function<std::int64_t()> clock;
    storage::database db;
    // Checkpoints the WAL for db and the inbox writer's connection, off
    // both their threads (storage/checkpointer.hpp).
    storage::checkpointer checkpoints;
    storage::store store;
    durable_commits durable;
    context ctx;
    storage::vault vault;
    orderflow::secret app_secret;
    tikapi::client api;
    token_keeper tokens;
    // Reading and parsing files (CSV drops, rules at reload) happens here,
    // off the event loop, so a large file never stalls webhooks; command
    // channels run on their own thread, so a slow one delays nothing else.
    asio::thread_pool background{1};
    asio::thread_pool command_runner{1};
    supervisor sup{io.get_executor()};
    rules_in_force in_force;
    review_desk desk;
    cs_quota quota;
    security_watch security;
    storage_watch watch;
    loop_delay lag;   // how late the event loop runs what is due (loop_delay.hpp)
    inbox_writer writer;
    order_source orders;
    conversation_linker links;
    pipeline pipe;
    outcomes out;
    breaker brk;
    guards grd;
    message_sender messages;
    tracking_sender tracking;
    reconciler recon;
    executor exec;
    notifier notify;
    webhook_ingress webhooks;
    tracking_feed feed;
    console ui;
    http_admin web;
    poller poll;
    housekeeping house;
    admin_commands commands;
    admin_socket_server admin;
    orderflow::secret hash_key;   // storage::idempotency_key(vault), for convert_plain_hashes at start
    bool stopping = false;
    std::int64_t started_at = clock();
    std::int64_t notify_tests = 0;   // makes each test notification's dedupe key unique
};

service::service(asio::io_context& io, config cfg, std::function<std::int64_t()> clock)
    : impl_(std::make_unique<impl>(io, std::move(cfg), std::move(clock))) {}

service::~service() = default;

void service::start() {
    auto& s = *impl_;
    const auto& cfg = s.in_force.cfg();
    // The first start on a database restored from a backup: for a day,
    // every message is looked for in the conversation before it is sent.
    if (auto b = s.store.get_state("backup")) {
        json j = json::parse(*b, nullptr, false);
        if (j.is_object() && !j.contains("restored_at")) {
            j["restored_at"] = s.clock();
            s.store.put_state("backup", j.dump(), s.clock());
            log::warn("restored_from_backup", {{"taken_at", j.value("taken_at", std::int64_t{0})},
                                               {"advice", "messages are checked against the buyer's conversation before they are sent "
                                                          "for 24 h, so what went out after the backup is not sent again"}});
        }
    }
    for (const auto& w : storage::permission_warnings(cfg.storage.path))
        log::warn("storage_permissions_wide", {{"message", w}});
    // Today's customer-service count survives the restart (daemon/cs_quota.hpp).
    s.quota.restore(s.api);
    int interrupted = s.store.mark_interrupted_sends(s.clock());
    if (interrupted > 0)
        log::warn("sends_interrupted", {{"count", interrupted},
                                        {"advice", "these sends were in flight when the daemon stopped; they are marked unknown and not re-sent"}});
    // Keys a version before 22 stored as plain hashes are converted, once,
    // before a webhook is taken or an action planned.
    convert_plain_hashes(s.db, s.hash_key);
    // A database restored from a backup taken before some buyer forgets:
    // they are done again before a webhook is taken or an event processed.
    s.house.catch_up_forgets(true);
    s.webhooks.start();
    s.admin.open();
    s.sup.run("admin", [&s] { return s.admin.loop(); });
    s.web.start();
    if (cfg.poll.enabled) s.sup.run("poller", [&s] { return s.poll.loop(); });
    if (!cfg.tracking.feed_dir.empty()) {
        // The feed creates the folder when it is missing, and says so in
        // the log and /readyz when it cannot (tracking_feed::scan).
        s.sup.run("tracking_feed", [&s] { return s.feed.loop(); });
        log::info("tracking_feed_watching", {{"dir", cfg.tracking.feed_dir.string()}, {"every_s", cfg.tracking.scan_interval.count()}});
    }
    s.sup.run("pipeline", [&s] { return s.pipe.loop(); });
    s.sup.run("executor", [&s] { return s.exec.loop(); });
    s.sup.run("notifier", [&s] { return s.notify.loop(); });
    s.sup.run("housekeeping", [&s] { return s.house.loop(); });
    s.sup.run("storage_watch", [&s] { return s.watch.loop(); });
    s.sup.run("loop_delay", [&s] { return s.lag.loop(); });
    // WATCHDOG=1 only while every loop above makes progress (supervisor.hpp).
    if (auto every = systemd::watchdog_interval())
        asio::co_spawn(s.io, s.sup.watchdog(*every, [] { systemd::notify("WATCHDOG=1"); }), asio::detached);
    s.in_force.record("start", true, {});
    const auto rules = s.in_force.rules();
    log::info("daemon_ready", {{"rules", rules->size()}, {"rules_hash", rules->hash()}, {"auth", s.tokens.state()},
                               {"database", cfg.storage.path.string()}});
    if (s.tokens.state() != "authorized") log::warn("not_authorized", {{"advice", s.tokens.advice()}});
    if (s.brk.open())
        log::error("sending_paused", {{"advice", "the circuit breaker paused sending before this start; check orderflowctl status, then orderflowctl resume"}});
    systemd::notify("READY=1\nSTATUS=running");
}

asio::awaitable<bool> service::reload() {
    auto& s = *impl_;
    const auto outcome = co_await s.in_force.reload(s.background.get_executor(), s.desk);
    try {
        const auto rules = s.in_force.rules();
        s.db.transaction([&] {
            s.store.audit(s.clock(), "orderflowd", "config.reload", "",
                          {{"by", "SIGHUP"}, {"ok", outcome.ok}, {"rules", rules->size()}, {"rules_hash", rules->hash()}});
        });
    } catch (const std::exception& e) {
        log::error("audit_failed", {{"action", "config.reload"}, {"error", e.what()}});
    }
    co_return outcome.ok;
}

void service::stop() {
    auto& s = *impl_;
    if (s.stopping) return;
    s.stopping = true;
    systemd::notify("STOPPING=1");
    log::info("daemon_stopping", {});
    s.webhooks.stop();
    s.feed.stop();
    s.web.stop();
    // Commits what the listeners handed over (their 200s go out), then no more.
    s.writer.stop();
    s.admin.stop();
    s.pipe.stop();
    s.exec.stop();
    s.notify.stop();
    s.house.stop();
    s.poll.stop();
    s.watch.stop();
    s.lag.stop();
    s.sup.stop();
}

std::uint16_t service::webhook_port() const { return impl_->webhooks.port(); }
std::uint16_t service::admin_port() const { return impl_->web.port(); }

int run_orderflowd(int argc, char** argv) {
    // SIGHUP is ignored from main (orderflowd_main.cpp) until the signal
    // set below exists; SIGTERM keeps its default: before the lock nothing
    // has been written.
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) config_path = argv[++i];
        else if (a == "--config" || a == "--config=") {
            std::cerr << "orderflowd: --config needs the path of the config file, e.g. --config /etc/orderflow/orderflow.json\n"
                         "usage: orderflowd --config FILE\n";
            return 2;
        } else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
        else if (a == "--help" || a == "-h") {
            std::cout << "usage: orderflowd --config FILE\n";
            return 0;
        } else {
            std::cerr << "orderflowd: unknown argument '" << a << "'\nusage: orderflowd --config FILE\n";
            return 2;
        }
    }
    if (config_path.empty()) {
        std::cerr << "usage: orderflowd --config FILE\n";
        return 2;
    }
    auto loaded = load_config(config_path);
    for (const auto& d : loaded.diagnostics) log::write(d.warning ? log::level::warn : log::level::error, "config_invalid", {{"message", d.to_string()}});
    // 78 (EX_CONFIG): a config orderflowd refuses; the unit does not restart
    // on it (RestartPreventExitStatus=78), as no restart can fix it.
    if (!loaded.ok()) return 78;
    log::threshold() = log::parse_level(loaded.value->log_level);

    // Events are allocated on the listener's thread and freed on the inbox
    // writer's, so glibc's per-thread arenas grow and shrink with every
    // batch; the default trim threshold (128 KiB) then hands memory back to
    // the kernel and takes it again thousands of times a second (madvise,
    // page faults, TLB flushes: a third of ingest's CPU in a burst). Keeping
    // up to 4 MiB free per arena costs little resident memory.
    ::mallopt(M_TRIM_THRESHOLD, 4 << 20);
    try {
        // A mistyped storage.path is refused before its lock file is made,
        // which would otherwise stay beside the real database (open_database
        // asks again, for the service built without this function).
        if (std::string why = detail::new_database_refusal(loaded.value->storage.path, loaded.value->file); !why.empty())
            throw std::runtime_error(why);
        const int instance_lock = lock_instance(*loaded.value);   // held until exit
        (void)instance_lock;
        asio::io_context io(1);
        // Before anything starts, so a signal during start-up (READY=1 is
        // sent from svc.start(); a locked database can hold the constructor
        // for seconds) waits for the loop below instead of killing the
        // process without a word.
        asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
        service svc(io, std::move(*loaded.value));
        svc.start();
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (;;) {
                auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec) co_return;
                if (sig == SIGHUP) {
                    log::info("reload_requested", {{"signal", "SIGHUP"}});
                    // Detached, so a SIGTERM during a reload is still heard at once.
                    asio::co_spawn(io, svc.reload(), asio::detached);
                    continue;
                }
                log::info("shutdown_requested", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
                svc.stop();
                co_return;
            }
        }, asio::detached);
        io.run();
        log::info("daemon_stopped", {});
        return 0;
    } catch (const storage::wrong_key_error& e) {
        // No restart can fix it either (RestartPreventExitStatus=78).
        log::error("startup_failed", {{"error", e.what()}});
        return 78;
    } catch (const std::exception& e) {
        log::error("startup_failed", {{"error", e.what()}});
        return 1;
    }
}

}  // namespace orderflow::daemon
