// See service.hpp for the shape. This file holds the loops; each section
// below is one stage of DESIGN.md's data flow.
#include "daemon/service.hpp"

#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/detail/run_command.hpp"
#include "daemon/review_cli.hpp"
#include "daemon/detail/trouble.hpp"
#include "daemon/detail/wakeup.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/events.hpp"
#include "daemon/reconcile.hpp"
#include "daemon/notify.hpp"
#include "daemon/systemd.hpp"
#include "daemon/tokens.hpp"
#include "daemon/tracking.hpp"
#include "rules/engine.hpp"
#include "rules/ruleset.hpp"
#include "storage/database.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"
#include "tikapi/http.hpp"
#include "tikapi/rate_limiter.hpp"
#include "tikapi/signing.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <malloc.h>
#include <map>
#include <sstream>
#include <stdexcept>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;

namespace {

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "24 h", "10 min", "90 s": a config duration as a person reads it.
std::string spoken(std::chrono::seconds d) {
    const auto n = d.count();
    if (n >= 3600 && n % 3600 == 0) return std::to_string(n / 3600) + " h";
    if (n >= 60 && n % 60 == 0) return std::to_string(n / 60) + " min";
    return std::to_string(n) + " s";
}

// Actions that send the buyer a message (guards, caps, the breaker and
// reconciliation are about these); the others change orderflow's own state.
bool is_message(std::string_view kind) { return kind == "send_message" || kind == "reply"; }

// Capped exponential backoff: 5 s, 10 s, 20 s, ... up to `cap`.
std::int64_t backoff(int attempts, std::chrono::seconds cap) {
    std::int64_t delay = 5;
    for (int i = 0; i < attempts && delay < cap.count(); ++i) delay *= 2;
    return std::min<std::int64_t>(delay, cap.count());
}

tikapi::url parse_url_or_throw(const std::string& text, const char* key) {
    auto u = tikapi::url::parse(text);
    if (!u) throw std::runtime_error(std::string("config: '") + key + "' is not an http(s) URL: " + text);
    return *u;
}

storage::database open_database(const config& cfg) {
    try {
        return storage::database::open(cfg.storage.path);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(e.what()) + " (storage.path in " + cfg.file.string() + ")");
    }
}

std::shared_ptr<const rules::ruleset> load_rules_or_throw(const config& cfg) {
    auto loaded = rules::load_directory(cfg.rules.dir);
    for (const auto& d : loaded.diagnostics) log::write(d.warning ? log::level::warn : log::level::error, "rules_diagnostic", {{"message", d.to_string()}});
    if (!loaded.ok())
        throw std::runtime_error("rules in " + cfg.rules.dir.string() + " are not valid; run orderflowctl check --config " + cfg.file.string());
    return loaded.rules;
}

tikapi::client_options api_options(const config& cfg, orderflow::secret app_secret, std::function<std::int64_t()> clock) {
    tikapi::client_options o;
    o.api_base = parse_url_or_throw(cfg.tiktok.api_base, "tiktok.api_base");
    o.auth_base = parse_url_or_throw(cfg.tiktok.auth_base, "tiktok.auth_base");
    o.app_key = cfg.tiktok.app_key;
    o.app_secret = std::move(app_secret);
    o.shop_cipher = cfg.tiktok.shop_cipher;
    o.timeout = cfg.tiktok.timeout;
    o.tls.ca_file = cfg.tiktok.ca_file.string();
    o.clock = std::move(clock);
    // TikTok counts requests per API in each second (§4). A bucket of B
    // tokens refilled at R/s lets B + R through in any one second, so R and B
    // are chosen to sum to the limit: 90% steady rate, 10% burst.
    o.rate_limit_qps = cfg.tiktok.rate_limit_qps;
    if (cfg.tiktok.rate_limit_qps > 0) {
        tikapi::rate_limiter_options limits;
        limits.rate = cfg.tiktok.rate_limit_qps * 0.9;
        limits.burst = std::max(1.0, cfg.tiktok.rate_limit_qps * 0.1);
        o.limiter = std::make_shared<tikapi::rate_limiter>(limits);
    }
    return o;
}

enum class write_outcome { inserted, duplicate, unavailable };

// One group commit: every event that arrives while a batch is open is
// written in the same transaction (DESIGN.md "Runtime model").
struct write_batch {
    explicit write_batch(asio::any_io_executor ex) : done_signal(ex) { done_signal.expires_at(asio::steady_timer::time_point::max()); }
    std::vector<storage::new_event> events;
    std::vector<write_outcome> outcomes;
    asio::steady_timer done_signal;
    bool done = false;
};

}  // namespace

struct service::impl {
    impl(asio::io_context& io_, config cfg_, std::function<std::int64_t()> clock_)
        : io(io_),
          cfg(std::move(cfg_)),
          clock(clock_ ? std::move(clock_) : std::function<std::int64_t()>(system_now)),
          db(open_database(cfg)),
          store(db),
          vault(db, storage::read_vault_key(cfg.storage.vault_key_file)),
          app_secret(read_secret_file(cfg.tiktok.app_secret_file)),
          api(io.get_executor(), api_options(cfg, app_secret.clone(), clock)),
          tokens(vault, api, clock),
          rules(load_rules_or_throw(cfg)),
          pipeline_wake(io.get_executor()),
          executor_wake(io.get_executor()),
          notifier_wake(io.get_executor()),
          housekeeping_wake(io.get_executor()),
          poll_wake(io.get_executor()),
          feed_wake(io.get_executor()),
          notify_http(io.get_executor()) {
        for (const auto& ch : cfg.channels)
            if (ch.type == "webhook") channel_secrets.emplace(ch.name, read_secret_file(ch.secret_file));
        // The shop's time zone for quiet hours and the heartbeat (detail/local_time.hpp).
        ::setenv("TZ", cfg.timezone.c_str(), 1);
        ::tzset();
        load_breaker();
        // The operator hears of dead tokens three ways: the log, status, and staff.
        tokens.on_change([this](const std::string& state, const std::string& advice) {
            try {
                store.put_state("auth", json{{"state", state}, {"advice", advice}, {"since", clock()}}.dump(), clock());
                if (state == "reauthorization_required" || state == "deauthorized")
                    raise_review("", state, "critical", "orderflow has stopped calling TikTok: " + advice, {{"state", state}});
            } catch (const std::exception& e) {
                log::error("auth_state_not_recorded", {{"error", e.what()}});
            }
        });
        store.put_state("auth", json{{"state", tokens.state()}, {"advice", tokens.advice()}, {"since", clock()}}.dump(), clock());
    }

    asio::io_context& io;
    config cfg;
    std::function<std::int64_t()> clock;
    storage::database db;
    storage::store store;
    storage::vault vault;
    orderflow::secret app_secret;
    tikapi::client api;
    token_keeper tokens;
    std::shared_ptr<const rules::ruleset> rules;
    std::unique_ptr<tikapi::http_server> ingress;
    std::unique_ptr<tikapi::http_server> admin_http;   // admin.listen: the tracking feed
    orderflow::secret admin_token;
    detail::wakeup pipeline_wake;
    detail::wakeup executor_wake;
    detail::wakeup notifier_wake;
    detail::wakeup housekeeping_wake;
    detail::wakeup poll_wake;
    detail::wakeup feed_wake;
    tikapi::http_client notify_http;
    std::map<std::string, orderflow::secret> channel_secrets;   // webhook channels' HMAC keys
    std::shared_ptr<write_batch> open_batch;
    supervisor sup{io.get_executor()};
    detail::wakeup storage_watch_wake{io.get_executor()};
    bool storage_lost = false;   // the database file was deleted or replaced under us
    std::unique_ptr<asio::local::stream_protocol::acceptor> admin;
    // Command channels run here, off the event loop: a slow mail bridge must
    // not delay webhook acknowledgements (TikTok waits 3 s at most).
    asio::thread_pool command_runner{1};
    // Reading and parsing files (CSV drops, rules at reload) happens here,
    // off the event loop, so a large file never stalls webhooks.
    asio::thread_pool background{1};
    bool stopping = false;

    // The circuit breaker (persisted as daemon_state "breaker", so a restart
    // does not quietly resume sending).
    struct {
        bool open = false;
        std::int64_t counted_after = 0;   // outbox id at the last resume: what was planned before it does not count
    } breaker;
    std::map<std::string, std::int64_t> channel_last_review;   // digest pacing, per channel
    std::string heartbeat_done;                                 // dedupe key of the last heartbeat queued

    // ---- ingress -------------------------------------------------------

    asio::awaitable<http_response> on_webhook(http_request& req) {
        if (req.path() != cfg.webhook.path) co_return http_response::text(404, "not found\n");
        if (req.method != "POST") co_return http_response::text(405, "use POST\n");
        if (!tikapi::verify_webhook_signature(cfg.tiktok.app_key, app_secret, req.body, req.header("Authorization"))) {
            log::warn("webhook_rejected", {{"reason", "signature does not match"}, {"remote", req.remote}, {"bytes", req.body.size()}});
            co_return http_response{401, {}, {}};
        }
        auto parsed = tikapi::parse_webhook(req.body);
        if (auto* problem = std::get_if<std::string>(&parsed)) {
            log::warn("webhook_malformed", {{"error", *problem}, {"remote", req.remote}, {"bytes", req.body.size()}});
            co_return http_response::text(400, "malformed webhook: " + *problem + "\n");
        }
        const auto& hook = std::get<tikapi::webhook_event>(parsed);
        if (!cfg.tiktok.shop_id.empty() && hook.shop_id != cfg.tiktok.shop_id) {
            log::warn("webhook_other_shop", {{"shop_id", hook.shop_id}, {"type", hook.type}});
            co_return http_response{200, {}, {}};
        }
        auto event = inbox_event_from_webhook(hook, req.body, clock());
        json fields{{"type", hook.type}, {"topic", std::string(tikapi::topic_name(hook.type))}, {"rule_event", event.event},
                    {"notification_id", hook.notification_id}, {"order_id", event.order_id}};
        // co_await only as a whole statement: GCC 12 miscompiles it inside
        // conditions and short-circuit operators.
        const write_outcome outcome = co_await enqueue(std::move(event));
        switch (outcome) {
            case write_outcome::inserted:
                log::info("webhook_received", std::move(fields));
                pipeline_wake.notify();
                co_return http_response{200, {}, {}};
            case write_outcome::duplicate:
                log::info("webhook_duplicate", std::move(fields));
                co_return http_response{200, {}, {}};
            case write_outcome::unavailable:
                break;
        }
        co_return http_response::text(503, "storage unavailable; retry later\n");
    }

    asio::awaitable<write_outcome> enqueue(storage::new_event e) {
        if (!open_batch) {
            open_batch = std::make_shared<write_batch>(io.get_executor());
            asio::post(io, [this] { commit_open_batch(); });
        }
        auto batch = open_batch;
        std::size_t index = batch->events.size();
        batch->events.push_back(std::move(e));
        if (!batch->done) co_await batch->done_signal.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return batch->outcomes.at(index);
    }

    void commit_open_batch() {
        auto batch = std::move(open_batch);
        open_batch.reset();
        batch->outcomes.assign(batch->events.size(), write_outcome::unavailable);
        if (database_lost()) {
            // A commit into a deleted file is lost at the next start: 503, and TikTok retries.
            batch->done = true;
            batch->done_signal.cancel();
            return;
        }
        try {
            db.transaction([&] {
                for (std::size_t i = 0; i < batch->events.size(); ++i)
                    batch->outcomes[i] = store.add_event(batch->events[i]) ? write_outcome::inserted : write_outcome::duplicate;
            });
        } catch (const std::exception& e) {
            batch->outcomes.assign(batch->events.size(), write_outcome::unavailable);
            log::error("inbox_commit_failed", {{"error", e.what()}, {"events", batch->events.size()},
                                               {"advice", "webhooks get 503 and TikTok retries them; check the disk and the database file"}});
        }
        batch->done = true;
        batch->done_signal.cancel();
    }

    // ---- the database file ---------------------------------------------
    //
    // If the file is deleted (or replaced) while the daemon runs, SQLite goes
    // on writing into the unlinked file, and everything acknowledged or sent
    // meanwhile is lost at the next start, tokens included. Checked before
    // every inbox commit and every 5 s: while the file is not the one opened,
    // webhooks get 503, nothing is polled, processed or sent, and staff hear
    // of it through a critical review item (the notifier still reads the
    // open file). If the file comes back (moved back), work resumes.
    bool database_lost() {
        const bool lost = !db.file_intact();
        if (lost == storage_lost) return lost;
        storage_lost = lost;
        if (!lost) {
            log::warn("database_file_back", {{"database", cfg.storage.path.string()}});
            pipeline_wake.notify();
            executor_wake.notify();
            return false;
        }
        const std::string advice = "webhooks get 503 and nothing is sent until it is back; if it was moved, move it back; "
                                   "otherwise restore it from a backup and restart orderflowd";
        log::error("database_file_missing", {{"database", cfg.storage.path.string()}, {"advice", advice}});
        try {
            db.transaction([&] {
                raise_review("", "database_file_missing", "critical",
                             "the database file " + cfg.storage.path.string() + " was deleted or replaced while orderflowd was running; " + advice,
                             {{"database", cfg.storage.path.string()}});
            });
        } catch (const std::exception& e) {
            log::error("review_not_recorded", {{"error", e.what()}});
        }
        return true;
    }

    asio::awaitable<void> storage_watch_loop() {
        while (!stopping) {
            sup.beat("storage_watch", std::chrono::seconds(5));
            database_lost();
            co_await storage_watch_wake.wait(std::chrono::seconds(5));
        }
    }

    // ---- tracking feed ---------------------------------------------------
    //
    // The warehouse posts {"order_id", "package_id"?, "carrier",
    // "tracking_number"} to POST /v1/tracking on the admin listener with
    // "Authorization: Bearer <admin.token_file>", or drops CSV files with
    // those columns into tracking.feed_dir. Each submission becomes one
    // tracking.received event; the same submission twice is one event.

    asio::awaitable<http_response> on_admin_http(http_request& req) {
        const auto auth = req.header("Authorization");
        constexpr std::string_view bearer = "Bearer ";
        const bool authorized = auth.size() > bearer.size() && auth.substr(0, bearer.size()) == bearer &&
                                // Hashed first, so the comparison takes the same time whatever the lengths.
                                tikapi::signature_equals(tikapi::hmac_sha256_hex("orderflow-admin", admin_token.reveal()),
                                                         tikapi::hmac_sha256_hex("orderflow-admin", auth.substr(bearer.size())));
        if (!authorized) {
            log::warn("admin_http_rejected", {{"remote", req.remote}, {"path", req.path()},
                                              {"reason", auth.empty() ? "no bearer token" : "wrong bearer token"}});
            co_return http_response::json(401, json{{"error", "missing or wrong bearer token (admin.token_file)"}}.dump());
        }
        if (req.path() != "/v1/tracking")
            co_return http_response::json(404, json{{"error", "no such endpoint; the tracking feed is POST /v1/tracking"}}.dump());
        if (req.method != "POST") co_return http_response::json(405, json{{"error", "use POST"}}.dump());
        auto parsed = parse_tracking_request(req.body);
        if (auto* why = std::get_if<std::string>(&parsed)) {
            log::warn("tracking_rejected", {{"remote", req.remote}, {"error", *why}});
            co_return http_response::json(400, json{{"error", *why}}.dump());
        }
        const auto& submission = std::get<tracking_submission>(parsed);
        auto event = tracking_event(submission, "api", clock());
        json fields{{"order_id", submission.order_id}, {"package_id", submission.package_id}, {"carrier", submission.carrier},
                    {"via", "api"}};
        const write_outcome outcome = co_await enqueue(std::move(event));
        if (outcome == write_outcome::unavailable)
            co_return http_response::json(503, json{{"error", "storage unavailable; retry later"}}.dump());
        const bool fresh = outcome == write_outcome::inserted;
        log::info(fresh ? "tracking_received" : "tracking_duplicate", std::move(fields));
        if (fresh) pipeline_wake.notify();
        co_return http_response::json(fresh ? 202 : 200, json{{"accepted", true}, {"duplicate", !fresh}}.dump());
    }

    // The largest CSV file the drop folder takes (documented in
    // docs/operations.md): a day's shipments are a few thousand rows, well
    // under a megabyte. A larger file is refused with a review item.
    static constexpr std::uintmax_t max_feed_file_bytes = 10 * 1024 * 1024;
    // Rows committed per transaction, the event loop served between them.
    static constexpr std::size_t feed_rows_per_commit = 500;

    // One pass over the drop folder: every *.csv file whose writer is done
    // (unchanged for 2 s) is read and parsed off the event loop, its good
    // rows committed as events in chunks, then the file is moved to
    // processed/ with a .errors.txt beside it naming each bad line, and
    // staff are told. Symbolic links and anything but a regular file are
    // never opened; they, and files over the size limit, go to rejected/.
    asio::awaitable<void> scan_feed_dir() {
        namespace fs = std::filesystem;
        const fs::path dir = cfg.tracking.feed_dir;
        std::error_code ec;
        if (dir.empty() || !fs::is_directory(dir, ec)) co_return;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            if (entry.path().extension() != ".csv") continue;
            if (entry.is_symlink(ec) || (!entry.is_regular_file(ec) && !entry.is_directory(ec))) {
                files.push_back(entry.path());   // refused when its turn comes
                continue;
            }
            if (!entry.is_regular_file(ec)) continue;
            auto age = fs::file_time_type::clock::now() - entry.last_write_time(ec);
            if (!ec && age >= std::chrono::seconds(2)) files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            if (stopping) break;
            sup.beat("tracking_feed");
            co_await process_feed_file(file);
        }
    }

    // What the background thread makes of one file.
    struct feed_file {
        std::string refused;     // why the file is not taken at all ("" when it is)
        bool unreadable = false; // a read error: left in place, tried again
        csv_result parsed;
    };

    // Runs on a background thread: no storage, no loop state.
    static feed_file read_feed_file(const std::filesystem::path& file) {
        feed_file out;
        // O_NOFOLLOW: a link planted in the folder (to /etc/shadow, say) is
        // never opened; O_NONBLOCK: a FIFO cannot hang the reader.
        int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            if (errno == ELOOP) out.refused = "it is a symbolic link; put the file itself in the folder";
            else out.unreadable = true;
            return out;
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            out.refused = "it is not a regular file";
            return out;
        }
        if (static_cast<std::uintmax_t>(st.st_size) > max_feed_file_bytes) {
            ::close(fd);
            out.refused = "it is " + std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_feed_file_bytes) +
                          " bytes; split it into smaller files";
            return out;
        }
        std::string text;
        text.reserve(static_cast<std::size_t>(st.st_size));
        char buf[65536];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                out.unreadable = true;
                break;
            }
            if (n == 0) break;
            text.append(buf, static_cast<std::size_t>(n));
            if (text.size() > max_feed_file_bytes) {   // grew while being read
                out.refused = "it grew over the limit of " + std::to_string(max_feed_file_bytes) + " bytes while being read";
                break;
            }
        }
        ::close(fd);
        if (out.refused.empty() && !out.unreadable) out.parsed = parse_tracking_csv(text);
        return out;
    }

    // Moves a file into dir/sub/, beside a .errors.txt naming its problems. Returns the new path.
    std::filesystem::path move_feed_file(const std::filesystem::path& file, const char* sub, const std::vector<std::string>& report) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path done_dir = file.parent_path() / sub;
        fs::create_directories(done_dir, ec);
        fs::path target = done_dir / file.filename();
        if (fs::exists(fs::symlink_status(target, ec))) target = done_dir / (file.stem().string() + "." + std::to_string(clock()) + file.extension().string());
        fs::rename(file, target, ec);
        if (ec) log::error("tracking_file_not_moved", {{"file", file.string()}, {"error", ec.message()}});
        if (!report.empty()) {
            std::ofstream out(target.string() + ".errors.txt");
            for (const auto& line : report) out << line << "\n";
        }
        return target;
    }

    asio::awaitable<void> process_feed_file(const std::filesystem::path& file) {
        const std::filesystem::path path = file;
        auto read = [path]() -> asio::awaitable<feed_file> { co_return read_feed_file(path); };
        feed_file got = co_await asio::co_spawn(background.get_executor(), read, asio::use_awaitable);
        const std::string name = file.filename().string();
        if (got.unreadable) {
            log::error("tracking_file_unreadable", {{"file", file.string()}, {"advice", "check the file's permissions"}});
            co_return;
        }
        if (!got.refused.empty()) {
            db.transaction([&] {
                raise_review("", "tracking_file_refused", "warning", name + " was not read: " + got.refused, {{"file", name}, {"why", got.refused}});
            });
            const auto target = move_feed_file(file, "rejected", {name + ": " + got.refused});
            log::warn("tracking_file_refused", {{"file", name}, {"why", got.refused}, {"moved_to", target.string()}});
            co_return;
        }
        const auto& parsed = got.parsed;
        // Committed in chunks, the loop serving webhooks between them. A
        // crash part-way reads the file again; the rows already in are
        // duplicates of their events and add nothing.
        int added = 0;
        for (std::size_t at = 0; at < parsed.rows.size(); at += feed_rows_per_commit) {
            const std::size_t end = std::min(parsed.rows.size(), at + feed_rows_per_commit);
            try {
                db.transaction([&] {
                    for (std::size_t i = at; i < end; ++i)
                        if (store.add_event(tracking_event(parsed.rows[i].submission, "csv", clock()))) ++added;
                });
            } catch (const std::exception& e) {
                log::error("tracking_file_failed", {{"file", file.string()}, {"error", e.what()}, {"rows_committed", at},
                                                    {"advice", "the file stays in place and is read again on the next scan"}});
                if (added > 0) pipeline_wake.notify();
                co_return;
            }
            sup.beat("tracking_feed");
            co_await asio::post(io, asio::use_awaitable);
        }
        std::vector<std::string> report;
        for (const auto& p : parsed.problems) report.push_back(name + ":" + std::to_string(p.line) + ": " + p.why);
        if (!parsed.problems.empty()) {
            try {
                db.transaction([&] {
                    std::string summary = name + ": " + std::to_string(parsed.problems.size()) + " bad row(s), first line " +
                                          std::to_string(parsed.problems.front().line) + ": " + parsed.problems.front().why;
                    json lines = json::array();
                    for (const auto& p : parsed.problems) lines.push_back({{"line", p.line}, {"error", p.why}});
                    raise_review("", "tracking_feed_bad_rows", "warning", summary, {{"file", name}, {"problems", lines}});
                });
            } catch (const std::exception& e) {
                log::error("tracking_file_failed", {{"file", file.string()}, {"error", e.what()},
                                                    {"advice", "the file stays in place and is read again on the next scan"}});
                co_return;
            }
        }
        // Committed: the file moves aside.
        const auto target = move_feed_file(file, "processed", report);
        for (const auto& p : parsed.problems)
            log::warn("tracking_bad_row", {{"file", name}, {"line", p.line}, {"error", p.why}});
        log::info("tracking_file_processed", {{"file", name}, {"rows", parsed.rows.size()}, {"new_events", added},
                                              {"bad_rows", parsed.problems.size()}, {"moved_to", target.string()}});
        if (added > 0) pipeline_wake.notify();
    }

    asio::awaitable<void> feed_dir_loop() {
        while (!stopping) {
            sup.beat("tracking_feed", cfg.tracking.scan_interval);
            try {
                co_await scan_feed_dir();
            } catch (const std::exception& e) {
                log::error("tracking_scan_failed", {{"error", e.what()}});
            }
            co_await feed_wake.wait(cfg.tracking.scan_interval);
        }
    }

    // ---- pipeline ------------------------------------------------------

    // An event whose processing started this many times without an orderly
    // outcome (the process died each time) is set aside as failed, with a
    // review item, so no input can crash-loop the daemon.
    static constexpr int max_event_starts = 3;

    detail::trouble pipeline_trouble{"pipeline_storage_failed"};

    asio::awaitable<void> pipeline_loop() {
        while (!stopping) {
            sup.beat("pipeline", std::chrono::seconds(5));
            if (storage_lost) {
                co_await pipeline_wake.wait(std::chrono::seconds(5));
                continue;
            }
            std::vector<storage::event_row> events;
            std::string storage_error;
            try {
                events = store.pending_events(clock(), 50);
                // Counted and committed before processing (one commit for the
                // page); an event that was in a page when the process died is
                // processed alone afterwards, its own start counted, so only
                // the event that kills the process reaches the limit.
                if (!events.empty())
                    db.transaction([&] {
                        for (const auto& e : events)
                            if (e.starts == 0) store.mark_started(e.id);
                    });
            } catch (const std::exception& e) {
                storage_error = e.what();
            }
            if (!storage_error.empty()) {
                co_await pipeline_wake.wait(pipeline_trouble.failed(storage_error));
                continue;
            }
            if (events.empty()) {
                pipeline_trouble.ok();
                co_await pipeline_wake.wait(std::chrono::seconds(5));
                continue;
            }
            // One Get Order Detail for the orders of the whole page (it takes
            // 50 ids), instead of one call per event: a backlog drains at
            // TikTok's rate limit fifty times faster.
            co_await prefetch_orders(events);
            bool storage_trouble = false;
            for (auto& e : events) {
                if (stopping || storage_trouble) break;
                sup.beat("pipeline");
                try {
                    if (e.starts >= max_event_starts) {
                        quarantine(e);
                        continue;
                    }
                    if (e.starts > 0) db.transaction([&] { store.mark_started(e.id); });
                } catch (const std::exception& ex) {
                    storage_error = ex.what();
                    storage_trouble = true;
                    break;
                }
                try {
                    co_await process(e);
                    continue;
                } catch (const std::exception& ex) {
                    storage_error = ex.what();
                }
                log::error("event_failed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"error", storage_error}});
                try {
                    store.retry_event(e.id, storage_error, clock() + backoff(e.attempts, cfg.executor.event_retry_max));
                    storage_error.clear();
                } catch (const std::exception& again) {
                    // Not even the retry could be recorded: the database refuses
                    // writes. Back off in memory rather than re-read it at once.
                    storage_error = again.what();
                    storage_trouble = true;
                }
            }
            prefetched.clear();
            if (storage_trouble) co_await pipeline_wake.wait(pipeline_trouble.failed(storage_error));
            else pipeline_trouble.ok();
        }
    }

    void quarantine(const storage::event_row& e) {
        const std::string why = "processing started " + std::to_string(e.starts) +
                                " times and never finished (the daemon stopped or crashed each time); set aside so it cannot do so again";
        db.transaction([&] {
            store.finish_event(e.id, "failed", why, clock());
            raise_review(e.order_id, "event_quarantined", "critical",
                         e.event + " (inbox " + std::to_string(e.id) + ") was set aside: " + why +
                             ". Look at it with orderflowctl activity; the webhook's payload is kept",
                         {{"inbox_id", e.id}, {"event", e.event}, {"source", e.source}, {"starts", e.starts}});
        });
        log::error("event_quarantined", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"starts", e.starts},
                                         {"advice", "see the review item; the event is not processed again"}});
    }

    // Orders fetched for the page of events being processed, by id.
    std::map<std::string, tikapi::order> prefetched;

    asio::awaitable<void> prefetch_orders(const std::vector<storage::event_row>& events) {
        prefetched.clear();
        std::vector<std::string> ids;
        for (const auto& e : events)
            if (needs_order(e.event) && !e.order_id.empty() && std::find(ids.begin(), ids.end(), e.order_id) == ids.end())
                ids.push_back(e.order_id);
        if (ids.size() < 2) co_return;   // one order: process() fetches it as usual
        // Best effort: on any failure (the vault busy, TikTok down) each event
        // fetches its own order and handles the error there.
        const orderflow::secret* token = nullptr;
        try {
            token = co_await tokens.access();
        } catch (const std::exception& e) {
            log::warn("prefetch_failed", {{"error", e.what()}});
        }
        if (!token) co_return;
        for (std::size_t i = 0; i < ids.size(); i += tikapi::max_order_ids_per_call) {
            const std::vector<std::string> chunk(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                                 ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + tikapi::max_order_ids_per_call)));
            auto r = co_await api.get_order_detail(chunk, *token);
            // On any failure the events fetch their orders one by one, and
            // each one's error is handled there as before.
            if (!r) co_return;
            for (auto& o : r.value()) prefetched[o.id] = std::move(o);
        }
    }

    void retry_later(const storage::event_row& e, const std::string& why) {
        auto at = clock() + backoff(e.attempts, cfg.executor.event_retry_max);
        store.retry_event(e.id, why, at);
        log::warn("event_deferred", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"reason", why}, {"retry_at", at}});
    }

    // The event cannot be processed: recorded as failed, and a person is told.
    void fail_event(const storage::event_row& e, const std::string& why) {
        db.transaction([&] {
            store.finish_event(e.id, "failed", why, clock());
            raise_review(e.order_id, "event_failed", "warning", e.event + " could not be processed: " + why,
                         {{"inbox_id", e.id}, {"event", e.event}, {"source", e.source}, {"error", why}});
        });
        log::error("event_failed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"error", why}});
    }

    // What rules see of an inbox event, before the order is added.
    rules::context event_context(const storage::event_row& e) {
        json payload = json::parse(e.payload, nullptr, false);
        json data = payload.is_object() && payload.contains("data") ? payload["data"] : json::object();
        rules::context ctx;
        ctx.event = e.event;
        ctx.event_id = e.dedupe_key;
        ctx.now = clock();
        ctx.utc_offset = detail::local_utc_offset(ctx.now);
        ctx.default_locale = cfg.rules.default_locale;
        ctx.event_data = json{{"type", e.topic}, {"source", e.source}};
        if (data.contains("order_status")) ctx.event_data["order_status"] = data["order_status"];
        if (data.contains("update_time")) ctx.event_data["update_time"] = data["update_time"];
        if (data.contains("fire_at")) ctx.event_data["fire_at"] = data["fire_at"];
        for (const char* key : {"package_id", "carrier", "tracking_number"})
            if (data.contains(key) && data[key].is_string() && !data[key].get_ref<const std::string&>().empty())
                ctx.event_data[key] = data[key];
        if (e.event == "message.received") ctx.message = message_view(data);
        return ctx;
    }

    // Get Order Detail for one order, refreshing the token once on 105002.
    struct fetched_order {
        std::optional<tikapi::order> order;
        std::string error;          // when there is no order
        bool retryable = false;     // try again later (TikTok busy, not authorized yet)
    };
    asio::awaitable<fetched_order> fetch_order(const std::string& order_id) {
        fetched_order out;
        if (auto hit = prefetched.find(order_id); hit != prefetched.end()) {
            out.order = std::move(hit->second);
            prefetched.erase(hit);   // a second event of the same order fetches afresh
            co_return out;
        }
        const orderflow::secret* token = co_await tokens.access();
        if (!token) {
            out.error = tokens.advice();
            out.retryable = true;
            co_return out;
        }
        // Named arguments only: GCC 12 mishandles class-type temporaries inside co_await.
        const std::vector<std::string> ids{order_id};
        auto r = co_await api.get_order_detail(ids, *token);
        if (!r && r.error().token_expired()) {
            const bool refreshed = co_await tokens.refresh_after_rejection();
            if (refreshed) token = co_await tokens.access();
            if (refreshed && token) r = co_await api.get_order_detail(ids, *token);
        }
        if (!r) {
            out.error = "order detail: " + r.error().describe();
            out.retryable = r.error().retryable() || r.error().token_expired();
            co_return out;
        }
        auto it = std::find_if(r.value().begin(), r.value().end(), [&](const tikapi::order& o) { return o.id == order_id; });
        if (it == r.value().end()) out.error = "order not returned by Get Order Detail";
        else out.order = *it;
        co_return out;
    }

    asio::awaitable<void> process(const storage::event_row& e) {
        auto rule_set = rules;   // in-flight work finishes on the set it started with
        if (e.event == "unknown") {
            store.finish_event(e.id, "ignored", "topic " + std::to_string(e.topic) + " is not used by orderflow", clock());
            log::info("event_ignored", {{"inbox_id", e.id}, {"topic", e.topic}});
            co_return;
        }
        rules::context ctx = event_context(e);
        if (e.event == "shop.deauthorized") {
            // A late retry of an old notification must not undo a newer authorization.
            json payload = json::parse(e.payload, nullptr, false);
            const std::int64_t sent_at = payload.is_object() && payload.contains("timestamp") && payload["timestamp"].is_number_integer()
                                             ? payload["timestamp"].get<std::int64_t>() : 0;
            const auto& current = tokens.tokens();
            if (current && current->obtained_at > 0 && sent_at > 0 && sent_at < current->obtained_at)
                log::warn("deauthorization_ignored", {{"inbox_id", e.id}, {"sent_at", sent_at}, {"tokens_obtained_at", current->obtained_at},
                                                      {"reason", "the shop was authorized again after this notification was sent"}});
            else
                tokens.deauthorized();
        }
        if (e.event == "shop.authorization_expiring") {
            json payload = json::parse(e.payload, nullptr, false);
            std::string when = payload.is_object() && payload.contains("data") && payload["data"].is_object()
                                   ? payload["data"].value("expiration_time", std::string()) : std::string();
            raise_review("", "authorization_expiring", "warning",
                         "TikTok says the shop's authorization expires" + (when.empty() ? std::string() : " at " + when) +
                             "; re-authorize before then: orderflowctl auth url, then orderflowctl auth exchange CODE",
                         {{"expiration_time", when}});
        }
        if (e.event == "message.received") {
            auto role = ctx.message.is_object() ? ctx.message.value("sender_role", "") : "";
            if (role != "BUYER") {
                // The shop's own messages (ours included) come back as webhooks too.
                store.finish_event(e.id, "ignored", "message from " + (role.empty() ? std::string("unknown sender") : role), clock());
                co_return;
            }
        }

        std::string buyer_user_id;
        if (needs_order(e.event)) {
            if (e.order_id.empty()) {
                fail_event(e, "webhook has no order_id");
                co_return;
            }
            const std::string order_id = e.order_id;
            auto fetched = co_await fetch_order(order_id);
            if (!fetched.order) {
                if (fetched.retryable) retry_later(e, fetched.error);
                else fail_event(e, fetched.error);
                co_return;
            }
            ctx.order = order_view(*fetched.order);
            ctx.order["tags"] = store.tags(e.order_id);
            buyer_user_id = fetched.order->user_id;
            if (auto cached = store.get_order(e.order_id)) {
                json prev = json::parse(cached->snapshot, nullptr, false);
                if (!prev.is_discarded()) ctx.previous_order = std::move(prev);
            }
        }

        auto result = rules::evaluate(*rule_set, ctx);
        int planned = 0, repeated = 0, skipped = 0;
        db.transaction([&] {
            if (ctx.order.is_object())
                store.put_order({e.order_id, ctx.order.value("status", ""), ctx.order.dump(), ctx.now});
            for (const auto& a : result.actions) {
                storage::new_action na;
                na.idem_key = storage::hash_key(a.key_material);
                na.rule_id = a.rule_id;
                na.action_index = a.index;
                na.kind = a.kind;
                na.order_id = e.order_id;
                na.event_id = e.id;
                json p = a.params;
                p["buyer_user_id"] = buyer_user_id;
                if (ctx.message.is_object()) p["conversation_id"] = ctx.message.value("conversation_id", "");
                if (a.kind == "flag_review" && ctx.message.is_object())
                    p["message"] = {{"id", ctx.message.value("id", "")}, {"text", ctx.message.value("text", "")}};
                na.payload = p.dump();
                na.buyer_user_id = buyer_user_id;
                na.state = a.shadow ? "shadow" : (a.error.empty() ? "planned" : "skipped");
                na.reason = a.error;
                na.created_at = ctx.now;
                if (store.add_action(na)) {
                    if (na.state == "skipped") {
                        ++skipped;
                        // Never a message with a hole in it: a person decides instead.
                        raise_review(e.order_id, "action_not_prepared", "warning", "rule " + a.rule_id + ": " + a.error,
                                     {{"rule_id", a.rule_id}, {"event", e.event}, {"inbox_id", e.id}, {"error", a.error}});
                    } else {
                        ++planned;
                    }
                } else {
                    ++repeated;
                }
            }
            // What the rules saw, for orderflowctl replay (purged with the payload).
            store.set_event_context(e.id, json{{"order", ctx.order}, {"previous_order", ctx.previous_order}, {"message", ctx.message},
                                               {"event_data", ctx.event_data}, {"now", ctx.now}, {"utc_offset", ctx.utc_offset},
                                               {"locale", ctx.default_locale}}
                                              .dump(-1, ' ', false, json::error_handler_t::replace));
            std::string note = result.matched_rules.empty() ? "no rule matched" : "matched:";
            for (const auto& id : result.matched_rules) note += " " + id;
            store.finish_event(e.id, "done", note, ctx.now);
        });
        log::info("event_processed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id},
                                      {"matched", result.matched_rules}, {"planned", planned},
                                      {"already_planned", repeated}, {"skipped", skipped}});
        for (const auto& a : result.actions)
            if (!a.error.empty()) log::warn("action_skipped", {{"rule_id", a.rule_id}, {"order_id", e.order_id}, {"reason", a.error}});
        if (planned > 0) executor_wake.notify();
    }

    // ---- executor ------------------------------------------------------

    // ---- reconciliation of sends whose outcome is unknown ----------------
    //
    // A send that was in flight when the process died, or whose answer never
    // came, is never resent blindly (DESIGN.md "Effects"). Instead the buyer
    // conversation is read: the exact text from the shop, after the action
    // was planned, means it was delivered (done); a complete look that does
    // not find it means it was not (planned again, once, under the same key);
    // anything else stays unknown for a person to check.

    asio::awaitable<void> reconcile_unknown_sends() {
        std::vector<storage::action_row> rows;
        try {
            rows = store.actions_in_state("unknown", 100);
        } catch (const std::exception& e) {
            log::error("executor_storage_failed", {{"error", e.what()}});
        }
        for (const auto& a : rows) {
            if (stopping) break;
            json previous = json::parse(a.result.empty() ? "{}" : a.result, nullptr, false);
            if (a.kind == "update_tracking") {
                // Interrupted mid-call: shipping and updating are safe to repeat.
                replan(a, "outcome unknown after a restart; a tracking update is safe to repeat, so it is tried again");
                continue;
            }
            if (!is_message(a.kind) || (previous.is_object() && previous.contains("reconciled"))) continue;
            co_await reconcile(a);
        }
    }

    asio::awaitable<void> reconcile(const storage::action_row& a) {
        json p = json::parse(a.payload, nullptr, false);
        if (!p.is_object()) co_return;
        const std::string text = p.value("text", "");
        std::optional<std::string> conversation;
        if (!p.value("conversation_id", "").empty()) conversation = p.value("conversation_id", "");
        else conversation = store.conversation_for(p.value("buyer_user_id", ""));
        if (!conversation) {
            // The conversation is opened (and cached) before a message is sent.
            replan(a, "reconciled: no conversation was opened, so nothing was sent");
            co_return;
        }
        const orderflow::secret* token = co_await tokens.access();
        if (!token) co_return;   // stays unknown; looked at again on the next start

        // TikTok's clock and ours may differ: look a little before the planning
        // time. Erring this way can only mistake an older identical text for
        // this one (not sent: at most once), never send twice.
        constexpr std::int64_t clock_skew = 300;
        const std::int64_t since = a.created_at - clock_skew;
        const std::string path = "/customer_service/202309/conversations/" + *conversation + "/messages";
        bool found = false, complete = false;
        std::string message_id, page_token;
        for (int page = 0; page < 10 && !found && !complete; ++page) {
            std::map<std::string, std::string> query{{"page_size", "10"}};
            if (!page_token.empty()) query["page_token"] = page_token;
            auto r = co_await api.call("GET", path, query, nullptr, *token, true, tikapi::retry::idempotent);
            if (!r) {
                log::warn("reconcile_failed", {{"action_id", a.id}, {"error", r.error().describe()}});
                co_return;   // stays unknown; looked at again on the next start
            }
            const page_scan scan = scan_page(r.value(), text, since);
            found = scan.found;
            message_id = scan.message_id;
            complete = scan.complete;
            page_token = scan.next_page_token;
        }
        int resent = 0;
        for (const auto& h : store.action_history(a.id))
            resent += h.state == "planned" && h.reason.rfind("reconciled", 0) == 0;
        const reconcile_verdict verdict = decide_reconcile(found, complete, resent);
        if (verdict == reconcile_verdict::delivered) {
            json result{{"message_id", message_id}, {"conversation_id", *conversation}, {"reconciled", "found"}};
            db.transaction([&] {
                store.set_action_state(a.id, "done", "reconciled: the message is in the conversation", result.dump(), clock());
                store.audit(clock(), "orderflowd", "send_message.reconciled", a.order_id,
                            {{"action_id", a.id}, {"rule_id", a.rule_id}, {"message_id", message_id}, {"outcome", "delivered"}});
            });
            log::info("action_reconciled", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"outcome", "delivered"}});
        } else if (verdict == reconcile_verdict::send_again) {
            replan(a, "reconciled: not in the conversation; sending once more under the same key");
        } else {
            db.transaction([&] {
                store.set_action_state(a.id, "unknown", "reconciliation could not tell whether it was delivered; check the conversation",
                                       json{{"reconciled", "inconclusive"}}.dump(), clock());
                raise_review(a.order_id, "send_unknown", "critical",
                             "rule " + a.rule_id + ": a message may or may not have reached the buyer; check conversation " + *conversation,
                             {{"action_id", a.id}, {"rule_id", a.rule_id}, {"conversation_id", *conversation}, {"text", text}});
            });
            log::warn("action_reconcile_inconclusive", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                                        {"advice", "look at the buyer conversation; it is not re-sent automatically"}});
        }
    }

    void replan(const storage::action_row& a, const std::string& why) {
        db.transaction([&] {
            store.set_action_state(a.id, "planned", why, json{{"reconciled", "absent"}}.dump(), clock());
            store.audit(clock(), "orderflowd", "send_message.reconciled", a.order_id,
                        {{"action_id", a.id}, {"rule_id", a.rule_id}, {"outcome", "not delivered"}});
        });
        log::info("action_reconciled", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"outcome", "not delivered"}});
    }

    detail::trouble executor_trouble{"executor_storage_failed"};

    asio::awaitable<void> executor_loop() {
        std::int64_t last_reconcile = 0;
        while (!stopping) {
            sup.beat("executor", std::chrono::seconds(5));
            if (storage_lost) {
                co_await executor_wake.wait(std::chrono::seconds(5));
                continue;
            }
            std::string storage_error;
            // At start (crash leftovers) and then every 10 s (timeouts).
            if (clock() - last_reconcile >= 10) {
                last_reconcile = clock();
                try {
                    co_await reconcile_unknown_sends();
                } catch (const std::exception& e) {
                    storage_error = e.what();
                }
            }
            std::vector<storage::action_row> due;
            if (storage_error.empty()) {
                try {
                    due = store.due_actions(clock(), 20);
                } catch (const std::exception& e) {
                    storage_error = e.what();
                }
            }
            if (!storage_error.empty()) {
                co_await executor_wake.wait(executor_trouble.failed(storage_error));
                continue;
            }
            if (due.empty()) {
                executor_trouble.ok();
                co_await executor_wake.wait(std::chrono::seconds(5));
                continue;
            }
            bool storage_trouble = false, paused = false;
            for (auto& a : due) {
                if (stopping || storage_trouble) break;
                sup.beat("executor");
                try {
                    if (is_message(a.kind) && !breaker_allows_sending()) {
                        paused = true;   // messages wait; reviews and tags go on
                        continue;
                    }
                    co_await execute(a);
                } catch (const std::exception& ex) {
                    // A storage failure after the send leaves the row 'sending':
                    // it becomes 'unknown' at the next start, never re-sent blindly.
                    log::error("action_error", {{"action_id", a.id}, {"error", ex.what()}});
                    storage_error = ex.what();
                    storage_trouble = true;
                }
            }
            try {
                record_cs_calls();
            } catch (const std::exception& e) {
                storage_error = e.what();
                storage_trouble = true;
            }
            if (storage_trouble) co_await executor_wake.wait(executor_trouble.failed(storage_error));
            else if (paused) co_await executor_wake.wait(std::chrono::seconds(5));
            if (!storage_trouble) executor_trouble.ok();
        }
    }

    // Opens (or adds to) a review item and returns its id; call inside the
    // transaction that records the outcome, so the item exists exactly when
    // the outcome does.
    std::int64_t raise_review(const std::string& order_id, const std::string& reason, const std::string& severity, const std::string& summary,
                      const json& evidence) {
        auto id = store.raise_review(order_id, reason, severity, summary, evidence, clock());
        log::warn("review_raised", {{"review_id", id}, {"order_id", order_id}, {"reason", reason}, {"severity", severity},
                                    {"summary", summary}, {"advice", "orderflowctl review show " + std::to_string(id)}});
        // Staff hear about an item once, when it opens; repeats only raise its count.
        auto item = store.get_review(id);
        if (!item || item->occurrences != 1) return id;
        json payload = review_notification(*item);
        for (const auto& ch : cfg.channels)
            if (severity_rank(item->severity) >= severity_rank(ch.min_severity))
                store.add_notification(ch.name, "review:" + std::to_string(id), id, payload, clock());
        notifier_wake.notify();
        return id;
    }

    // ---- staff notifications -------------------------------------------
    //
    // A durable outbox of their own: queued in the transaction that opens the
    // review item, delivered by this loop, retried with backoff until the
    // channel takes it (a receiver that is down gets it once it is back).

    detail::trouble notifier_trouble{"notifier_storage_failed"};

    asio::awaitable<void> notifier_loop() {
        while (!stopping) {
            sup.beat("notifier", std::chrono::seconds(5));
            std::vector<storage::notification_row> due;
            std::string storage_error;
            try {
                queue_heartbeat();
                due = store.due_notifications(clock(), 500);
            } catch (const std::exception& e) {
                storage_error = e.what();
            }
            if (!storage_error.empty()) {
                co_await notifier_wake.wait(notifier_trouble.failed(storage_error));
                continue;
            }
            if (due.empty()) {
                notifier_trouble.ok();
                co_await notifier_wake.wait(std::chrono::seconds(5));
                continue;
            }
            // Per channel: tests and heartbeats go at once; review alerts go
            // at most once per digest_interval, what gathered meanwhile as
            // one digest (a storm is one message, not hundreds). When an
            // outcome cannot be recorded the pass ends and the loop backs
            // off: going on would deliver the same rows again at once.
            std::map<std::string, std::vector<storage::notification_row>> reviews;
            for (const auto& n : due) {
                if (stopping || !storage_error.empty()) break;
                sup.beat("notifier");
                if (n.review_id == 0) {
                    const std::vector<storage::notification_row> one{n};
                    storage_error = co_await deliver(one);
                } else {
                    reviews[n.channel].push_back(n);
                }
            }
            for (const auto& [channel, rows] : reviews) {
                if (stopping || !storage_error.empty()) break;
                sup.beat("notifier");
                bool postponed = false;
                try {
                    auto [last, fresh] = channel_last_review.try_emplace(channel, 0);
                    if (fresh) last->second = store.last_review_notification(channel);
                    const std::int64_t next = last->second + cfg.digest_interval.count();
                    if (last->second > 0 && next > clock()) {
                        store.postpone_notifications(channel, next);
                        postponed = true;
                    }
                } catch (const std::exception& e) {
                    storage_error = e.what();
                    break;
                }
                if (postponed) continue;
                storage_error = co_await deliver(rows);
            }
            if (!storage_error.empty()) co_await notifier_wake.wait(notifier_trouble.failed(storage_error));
            else notifier_trouble.ok();
        }
    }

    // Once a day at notify.heartbeat (shop time), every channel that takes
    // heartbeats gets one; the dedupe key is the date, so restarts never double it.
    void queue_heartbeat() {
        if (!cfg.heartbeat_at || cfg.channels.empty()) return;
        const std::int64_t now = clock();
        if (detail::local_minute_of_day(now) < *cfg.heartbeat_at) return;
        const std::string dedupe = "heartbeat:" + detail::local_date(now);
        if (dedupe == heartbeat_done) return;   // today's is queued (the database key makes sure across restarts)
        heartbeat_done = dedupe;
        std::optional<json> payload;
        for (const auto& ch : cfg.channels) {
            if (!ch.heartbeat) continue;
            if (!payload) payload = heartbeat_notification(store.activity_since(now - 86400), breaker.open, now);
            if (store.add_notification(ch.name, dedupe, 0, *payload, now))
                log::info("heartbeat_queued", {{"channel", ch.name}, {"summary", (*payload)["summary"]}});
        }
    }

    // One message to one channel: a single notification as it is, several
    // review alerts as one digest. All rows share the outcome.
    // Returns the storage error when the outcome could not be recorded ("" when it was).
    asio::awaitable<std::string> deliver(const std::vector<storage::notification_row>& rows) {
        const std::string& channel = rows.front().channel;
        auto ch = std::find_if(cfg.channels.begin(), cfg.channels.end(), [&](const auto& c) { return c.name == channel; });
        std::string body;
        if (rows.size() == 1) {
            body = rows.front().payload;
        } else {
            std::vector<json> items;
            for (const auto& n : rows) items.push_back(json::parse(n.payload, nullptr, false));
            body = digest_notification(items, clock()).dump(-1, ' ', false, json::error_handler_t::replace);
        }
        std::string error;
        if (ch == cfg.channels.end()) {
            error = "channel '" + channel + "' is no longer configured";
        } else if (ch->type == "command") {
            const std::vector<std::string> argv = ch->command;
            auto run = [argv, body]() -> asio::awaitable<detail::command_result> {
                co_return detail::run_command(argv, body, std::chrono::seconds(10));
            };
            auto r = co_await asio::co_spawn(command_runner.get_executor(), run, asio::use_awaitable);
            if (!r.ok) error = r.error;
        } else {
            auto base = tikapi::url::parse(ch->url);
            if (!base) {
                error = "not a URL";
            } else {
                tikapi::http_request req;
                req.method = "POST";
                req.target = base->base_path.empty() ? "/" : base->base_path;
                base->base_path.clear();
                req.body = ch->type == "slack" ? json{{"text", notification_text(json::parse(body, nullptr, false))}}.dump() : body;
                req.headers.push_back({"Content-Type", "application/json"});
                if (ch->type == "webhook")
                    req.headers.push_back({"X-Orderflow-Signature", "sha256=" + tikapi::hmac_sha256_hex(channel_secrets.at(ch->name).reveal(), req.body)});
                const auto timeout = std::chrono::milliseconds(10000);
                auto r = co_await notify_http.send(*base, req, timeout);
                if (!r) error = r.error().describe();
                else if (r.value().status < 200 || r.value().status >= 300) error = "HTTP " + std::to_string(r.value().status);
            }
        }
        try {
            const std::int64_t now = clock();
            db.transaction([&] {
                for (const auto& n : rows) {
                    if (error.empty()) store.notification_sent(n.id, now);
                    else store.notification_retry(n.id, error, now + std::min<std::int64_t>(600, 5LL << std::min(n.attempts, 7)), now);
                }
            });
            std::vector<std::int64_t> ids, review_ids;
            for (const auto& n : rows) {
                ids.push_back(n.id);
                if (n.review_id) review_ids.push_back(n.review_id);
            }
            if (error.empty()) {
                if (!review_ids.empty()) channel_last_review[channel] = now;
                log::info("notification_sent", {{"notification_ids", ids}, {"channel", channel}, {"review_ids", review_ids},
                                                {"digest", rows.size() > 1}});
            } else {
                log::warn("notification_failed", {{"notification_ids", ids}, {"channel", channel}, {"error", error},
                                                  {"attempts", rows.front().attempts + 1},
                                                  {"retry_in_s", std::min<std::int64_t>(600, 5LL << std::min(rows.front().attempts, 7))}});
            }
        } catch (const std::exception& e) {
            co_return e.what();
        }
        co_return std::string();
    }

    // A retryable failure: tried again later, until executor.give_up_after
    // has passed since the action was planned; then it fails into review.
    void defer(const storage::action_row& a, const std::string& why) {
        if (clock() - a.created_at >= cfg.executor.give_up_after.count()) {
            fail(a, "gave up after " + spoken(cfg.executor.give_up_after) + " of retryable failures; last: " + why);
            return;
        }
        auto at = clock() + backoff(a.attempts, cfg.executor.send_retry_max);
        store.set_action_state(a.id, "deferred", why, "", clock(), at);
        log::warn("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"reason", why}, {"retry_at", at}});
    }

    void fail(const storage::action_row& a, const std::string& why) {
        db.transaction([&] {
            store.set_action_state(a.id, "failed", why, "", clock());
            store.audit(clock(), "orderflowd", a.kind + ".failed", a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"error", why}});
            raise_review(a.order_id, "send_failed", "warning", "rule " + a.rule_id + ": " + a.kind + " failed: " + why,
                         {{"action_id", a.id}, {"rule_id", a.rule_id}, {"error", why}, {"attempts", a.attempts}});
        });
        log::error("action_failed", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"error", why}});
    }

    // ---- guards at send time (DESIGN.md "Effects") ------------------------
    //
    // Checked just before each send, against what is known now: the order's
    // latest status (the orders cache, refreshed by every order webhook),
    // the messages already sent, the clock. A send that must wait is deferred
    // (not an attempt); one that must not happen is skipped, saying why.

    enum class guard_result { go, waited, stopped };

    guard_result check_guards(const storage::action_row& a) {
        const std::int64_t now = clock();
        json p = json::parse(a.payload, nullptr, false);
        if (!p.is_object()) p = json::object();
        // The rule's own guards (docs/rules.md "Guards") override the config's.
        const json g = p.contains("guards") && p["guards"].is_object() ? p["guards"] : json::object();
        // Plain ints: GCC 12 warns falsely of an uninitialized optional<pair> here.
        bool quiet_on = cfg.guards.quiet_hours.has_value();
        int quiet_from = quiet_on ? cfg.guards.quiet_hours->first : 0, quiet_to = quiet_on ? cfg.guards.quiet_hours->second : 0;
        if (g.contains("quiet_hours")) {
            const json& q = g["quiet_hours"];
            quiet_on = q.is_object();
            if (quiet_on) {
                quiet_from = q.value("from", 0);
                quiet_to = q.value("to", 0);
            }
        }
        const int per_order = g.value("messages_per_order_per_day", cfg.guards.messages_per_order_per_day);
        const int per_buyer = g.value("messages_per_buyer_per_day", cfg.guards.messages_per_buyer_per_day);
        const bool cancelled_ok = g.value("cancelled", false);

        if (quiet_on && detail::in_daily_window(detail::local_minute_of_day(now), quiet_from, quiet_to)) {
            const auto until = detail::next_local_time(now, quiet_to);
            char hhmm[32];
            std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", quiet_to / 60, quiet_to % 60);
            store.set_action_state(a.id, "deferred", std::string("quiet hours: waits until ") + hhmm + " " + cfg.timezone, "", now, until);
            log::info("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                          {"reason", "quiet hours"}, {"retry_at", until}});
            return guard_result::waited;
        }
        if (!a.order_id.empty()) {
            auto cached = store.get_order(a.order_id);
            if (!cancelled_ok && cached && (cached->status == "CANCELLED" || cached->status == "CANCEL")) {
                skip(a, "the order is cancelled (a rule may allow it with \"guards\": {\"cancelled\": true})", "order_cancelled", "info");
                return guard_result::stopped;
            }
            const int to_order = store.messages_to_order_since(a.order_id, now - 86400);
            if (to_order >= per_order) {
                skip(a, "cap: " + std::to_string(to_order) + " automated messages to this order in 24 h (messages_per_order_per_day " +
                            std::to_string(per_order) + ")", "message_cap");
                return guard_result::stopped;
            }
        }
        const std::string buyer = p.value("buyer_user_id", "");
        const int to_buyer = store.messages_to_buyer_since(buyer, now - 86400);
        if (!buyer.empty() && to_buyer >= per_buyer) {
            skip(a, "cap: " + std::to_string(to_buyer) + " automated messages to this buyer in 24 h (messages_per_buyer_per_day " +
                        std::to_string(per_buyer) + ")", "message_cap");
            return guard_result::stopped;
        }
        return guard_result::go;
    }

    // Not sent, on purpose, saying why; with a review reason a person hears of it.
    void skip(const storage::action_row& a, const std::string& why, const char* review_reason = nullptr,
              const char* severity = "warning") {
        db.transaction([&] {
            store.set_action_state(a.id, "skipped", why, "", clock());
            store.audit(clock(), "orderflowd", a.kind + ".skipped", a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"reason", why}});
            if (review_reason)
                raise_review(a.order_id, review_reason, severity, "rule " + a.rule_id + ": not sent: " + why,
                             {{"action_id", a.id}, {"rule_id", a.rule_id}, {"reason", why}});
        });
        log::warn("action_skipped", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"reason", why}});
    }

    // A send that waited (quiet hours, a retry) is checked once more against
    // the order as it is now: its rule must still match. previous_order is
    // left empty, so an edge (changed_to) counts as given and what is tested
    // is the present: still AWAITING_SHIPMENT, still no buyer note, ...
    // False when the action was deferred or skipped here.
    asio::awaitable<bool> rule_still_matches(const storage::action_row& a) {
        auto event = store.get_event(a.event_id);
        if (!event || !needs_order(event->event)) co_return true;
        const std::string order_id = a.order_id;
        auto fetched = co_await fetch_order(order_id);
        if (!fetched.order) {
            if (fetched.retryable) defer(a, "re-check before sending: " + fetched.error);
            else skip(a, "re-check before sending: " + fetched.error, "send_failed");
            co_return false;
        }
        rules::context ctx = event_context(*event);
        ctx.order = order_view(*fetched.order);
        ctx.order["tags"] = store.tags(order_id);
        store.put_order({order_id, ctx.order.value("status", ""), ctx.order.dump(), clock()});
        auto rule_set = rules;
        const auto result = rules::evaluate(*rule_set, ctx);
        if (std::find(result.matched_rules.begin(), result.matched_rules.end(), a.rule_id) != result.matched_rules.end()) co_return true;
        skip(a, "its rule no longer matches the order as it is now (checked again after waiting)");
        co_return false;
    }

    // ---- circuit breaker ---------------------------------------------------
    //
    // More messages planned within breaker.interval than breaker.max_sends
    // means a rule has gone wrong: sending pauses (the planned rows wait),
    // staff get a critical review item, and only `orderflowctl resume`
    // continues. The state is persisted, so a restart keeps it paused.

    void load_breaker() {
        json st = json::parse(store.get_state("breaker").value_or("{}"), nullptr, false);
        if (!st.is_object()) return;
        breaker.open = st.value("open", false);
        breaker.counted_after = st.value("resumed_after_action", std::int64_t{0});
    }

    // True when sending may go on; trips the breaker when the volume is exceeded.
    bool breaker_allows_sending() {
        if (breaker.open) return false;
        const std::int64_t now = clock();
        const int planned = store.sends_planned_since(now - cfg.breaker.interval.count(), breaker.counted_after);
        if (planned <= cfg.breaker.max_sends) return true;
        json st{{"open", true}, {"tripped_at", now}, {"planned", planned}, {"limit", cfg.breaker.max_sends},
                {"interval_s", cfg.breaker.interval.count()}, {"resumed_after_action", breaker.counted_after}};
        db.transaction([&] {
            store.put_state("breaker", st.dump(), now);
            store.audit(now, "orderflowd", "breaker.tripped", "", st);
            raise_review("", "circuit_breaker", "critical",
                         "sending paused: " + std::to_string(planned) + " messages planned within " +
                             spoken(cfg.breaker.interval) + " (limit " + std::to_string(cfg.breaker.max_sends) +
                             "); check the rules (orderflowctl activity), then orderflowctl resume, or resume --drop-held to skip what was held",
                         st);
        });
        breaker.open = true;
        log::error("sending_paused", {{"planned", planned}, {"limit", cfg.breaker.max_sends}, {"interval_s", cfg.breaker.interval.count()},
                                      {"advice", "a rule may have gone wrong: check orderflowctl activity, fix it, then orderflowctl resume"}});
        return false;
    }

    // orderflowctl resume: sending continues; what was planned before now no
    // longer counts against the limit. With drop_held the held messages are
    // skipped instead of sent. The breaker's review item is resolved.
    std::string resume(const std::string& by, const std::string& peer, bool drop_held) {
        if (!breaker.open) return "";
        const std::int64_t now = clock();
        int dropped = 0;
        const std::int64_t newest = store.newest_action_id();
        db.transaction([&] {
            if (drop_held) dropped = store.skip_held_sends(now + 1, "held by the circuit breaker and dropped at resume by " + by, now);
            store.put_state("breaker", json{{"open", false}, {"resumed_at", now}, {"resumed_after_action", newest},
                                            {"resumed_by", by}, {"dropped", dropped}}.dump(), now);
            store.audit(now, "orderflowctl", "breaker.resumed", "", {{"by", by}, {"peer", peer}, {"dropped", dropped}});
            for (const auto& r : store.reviews(false, 1000))
                if (r.reason == "circuit_breaker" && r.order_id.empty())
                    store.set_review_state(r.id, "resolved", by, drop_held ? "resumed; held messages dropped" : "resumed", now);
        });
        breaker.open = false;
        breaker.counted_after = newest;
        log::warn("sending_resumed", {{"by", by}, {"dropped", dropped}});
        executor_wake.notify();
        return "sending resumed by " + by + (drop_held ? "; " + std::to_string(dropped) + " held messages dropped (skipped)" : "") + "\n";
    }

    // flag_review, tag, untag, schedule: orderflow's own state, in one
    // transaction with the action's outcome, so each happens exactly once. A
    // schedule is an inbox event that waits (not_before) for its time: durable,
    // fired once (its dedupe key is the action's key), and processed like any
    // event, so its rules are evaluated on the order as it is then.
    void apply(const storage::action_row& a) {
        json p = json::parse(a.payload, nullptr, false);
        if (!p.is_object()) p = json::object();
        const std::int64_t now = clock();
        json result = json::object();
        db.transaction([&] {
            store.begin_attempt(a.id, now);
            if (a.kind == "flag_review") {
                const std::string reason = p.value("reason", "flagged"), note = p.value("note", "");
                json evidence{{"rule_id", a.rule_id}, {"action_id", a.id}, {"inbox_id", a.event_id}};
                if (auto ev = store.get_event(a.event_id)) evidence["event"] = ev->event;
                if (p.contains("message")) evidence["buyer_message"] = p["message"];
                if (!note.empty()) evidence["note"] = note;
                result["review_id"] = raise_review(a.order_id, reason, p.value("severity", "warning"),
                                                   "rule " + a.rule_id + ": " + (note.empty() ? reason : note), evidence);
            } else if (a.kind == "schedule") {
                storage::new_event timer;
                timer.dedupe_key = "timer:" + a.idem_key;
                timer.source = "timer";
                timer.event = p.value("event", "");
                timer.order_id = a.order_id;
                timer.not_before = p.value("fire_at", now);
                timer.received_at = now;
                timer.payload = json{{"data", {{"order_id", a.order_id}, {"timer", timer.event}, {"scheduled_by", a.rule_id},
                                               {"action_id", a.id}, {"fire_at", timer.not_before}}}}.dump();
                store.add_event(timer);
                result["fire_at"] = timer.not_before;
            } else if (a.kind == "tag") {
                store.add_tag(a.order_id, p.value("tag", ""), now);
            } else {
                store.remove_tag(a.order_id, p.value("tag", ""));
            }
            store.set_action_state(a.id, "done", "", result.dump(), now);
            store.audit(now, "orderflowd", a.kind, a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"params", p.value("tag", p.value("reason", ""))}});
        });
        log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id}});
    }

    asio::awaitable<void> execute(const storage::action_row& a) {
        if (a.kind == "flag_review" || a.kind == "tag" || a.kind == "untag" || a.kind == "schedule") {
            if (a.order_id.empty() && a.kind != "flag_review") {
                skip(a, a.kind + " needs an order, and this event has none (orderflowctl check warns of it)");
                co_return;
            }
            apply(a);
            co_return;
        }
        if (a.kind == "update_tracking") {
            co_await execute_tracking(a);
            co_return;
        }
        if (!is_message(a.kind)) {
            fail(a, "action kind '" + a.kind + "' is not supported by this version");
            co_return;
        }
        if (check_guards(a) != guard_result::go) co_return;
        if (a.state == "deferred" && !a.order_id.empty()) {
            const bool still = co_await rule_still_matches(a);
            if (!still) co_return;
        }
        json p = json::parse(a.payload, nullptr, false);
        std::string buyer = p.is_object() ? p.value("buyer_user_id", "") : "";
        std::string text = p.is_object() ? p.value("text", "") : "";
        // An event from a conversation (message.received) names it; order events name the buyer.
        std::string known_conversation = p.is_object() ? p.value("conversation_id", "") : "";
        if ((buyer.empty() && known_conversation.empty()) || text.empty()) {
            fail(a, "planned message has no buyer or no text");
            co_return;
        }
        const orderflow::secret* token = co_await tokens.access();
        if (!token) { defer(a, tokens.advice()); co_return; }

        // The conversation: cached per buyer, else opened (Create Conversation
        // reopens an existing one and returns its id).
        std::optional<std::string> conversation;
        if (!known_conversation.empty()) conversation = known_conversation;
        else conversation = store.conversation_for(buyer);
        if (!conversation) {
            auto r = co_await api.create_conversation(buyer, *token);
            if (!r && r.error().token_expired()) {
                const bool refreshed = co_await tokens.refresh_after_rejection();
                if (refreshed) token = co_await tokens.access();
                if (!refreshed || !token) { defer(a, tokens.advice()); co_return; }
                r = co_await api.create_conversation(buyer, *token);
            }
            if (!r) {
                // Nothing was sent to the buyer yet, so retrying is safe.
                if (r.error().retryable() && a.attempts + 1 < cfg.executor.max_send_attempts) { defer(a, "create conversation: " + r.error().describe()); co_return; }
                { fail(a, "create conversation: " + r.error().describe()); co_return; }
            }
            conversation = r.value();
            db.transaction([&] {
                store.put_conversation(buyer, *conversation, clock());
                store.audit(clock(), "orderflowd", "create_conversation", a.order_id,
                            {{"action_id", a.id}, {"conversation_id", *conversation}});
            });
        }

        // From here the outcome may become unknown: commit 'sending' first, so a
        // crash mid-send is found at start-up instead of sending twice.
        store.begin_attempt(a.id, clock());
        auto r = co_await api.send_text_message(*conversation, text, *token);
        if (!r && r.error().token_expired()) {
            // 105002 means TikTok refused the request: nothing was sent, so one retry is safe.
            const bool refreshed = co_await tokens.refresh_after_rejection();
            if (refreshed) token = co_await tokens.access();
            if (refreshed && token) r = co_await api.send_text_message(*conversation, text, *token);
        }
        if (r) {
            json result{{"message_id", r.value()}, {"conversation_id", *conversation}};
            db.transaction([&] {
                store.set_action_state(a.id, "done", "", result.dump(), clock());
                store.audit(clock(), "orderflowd", "send_message", a.order_id,
                            {{"action_id", a.id}, {"rule_id", a.rule_id}, {"conversation_id", *conversation},
                             {"message_id", r.value()}, {"template", p.value("template", "")}, {"locale", p.value("locale", "")}});
            });
            log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                      {"message_id", r.value()}});
            co_return;
        }
        const auto& err = r.error();
        bool maybe_delivered = err.request_sent && (err.kind == tikapi::error_kind::timeout ||
                                                    err.kind == tikapi::error_kind::connect ||
                                                    err.kind == tikapi::error_kind::protocol);
        if (maybe_delivered) {
            store.set_action_state(a.id, "unknown", "outcome unknown: " + err.describe(), "", clock());
            log::warn("action_outcome_unknown", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"error", err.describe()},
                                                 {"advice", "not re-sent automatically; check the buyer conversation"}});
            co_return;
        }
        if (err.retryable() && a.attempts + 1 < cfg.executor.max_send_attempts) { defer(a, err.describe()); co_return; }
        fail(a, err.describe());
    }

    // ---- update_tracking -------------------------------------------------
    //
    // Ships the package with the warehouse's carrier and tracking number
    // (Ship Package, self_shipment), or corrects the shipping info of one
    // that has shipped (Update Package Shipping Info). Guards: never while
    // the order is ON_HOLD (deferred until it is not), never for a cancelled
    // order (skipped), never past TikTok's 72 hours after shipping (skipped,
    // for staff). Both calls are safe to repeat (a second ship is refused
    // with 11006021, the same info twice changes nothing), so an outcome that
    // is not known is simply tried again.

    struct provider_list {
        std::int64_t fetched_at = 0;
        std::vector<std::pair<std::string, std::string>> providers;   // id, name
    };
    std::map<std::string, provider_list> providers_by_option;

    asio::awaitable<std::optional<std::vector<std::pair<std::string, std::string>>>> shipping_providers(
        const std::string& delivery_option_id, const orderflow::secret& token, std::string& error) {
        auto cached = providers_by_option.find(delivery_option_id);
        if (cached != providers_by_option.end() && clock() - cached->second.fetched_at < 3600) co_return cached->second.providers;
        auto r = co_await api.get_shipping_providers(delivery_option_id, token);
        if (!r) {
            error = "shipping providers: " + r.error().describe();
            co_return std::nullopt;
        }
        provider_list list{clock(), {}};
        for (const auto& p : r.value()) list.providers.emplace_back(p.id, p.name);
        providers_by_option[delivery_option_id] = list;
        co_return list.providers;
    }

    static bool has_shipped(const std::string& status) {
        return status == "AWAITING_COLLECTION" || status == "IN_TRANSIT" || status == "DELIVERED" || status == "COMPLETED" ||
               status == "PARTIALLY_SHIPPING";
    }

    void finish_tracking(const storage::action_row& a, const std::string& call, const json& result) {
        db.transaction([&] {
            store.set_action_state(a.id, "done", "", result.dump(), clock());
            json detail = result;
            detail["action_id"] = a.id;
            detail["rule_id"] = a.rule_id;
            store.audit(clock(), "orderflowd", call, a.order_id, detail);
        });
        log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"call", call}});
    }

    asio::awaitable<void> execute_tracking(const storage::action_row& a) {
        json p = json::parse(a.payload, nullptr, false);
        if (!p.is_object()) p = json::object();
        const std::string order_id = p.value("order_id", a.order_id);
        const std::string number = p.value("tracking_number", "");
        const std::string carrier = p.value("carrier", "");
        std::string package_id = p.value("package_id", "");
        if (order_id.empty() || number.empty() || carrier.empty()) {
            fail(a, "planned tracking update has no order, carrier or tracking number");
            co_return;
        }
        const orderflow::secret* token = co_await tokens.access();
        if (!token) { defer(a, tokens.advice()); co_return; }

        // The order as it is now: status, packages, what shipped.
        auto fetched = co_await fetch_order(order_id);
        if (!fetched.order) {
            if (fetched.retryable) defer(a, fetched.error);
            else fail(a, fetched.error);
            co_return;
        }
        const tikapi::order& o = *fetched.order;
        const std::string status = normalize_status(o.status);
        if (status == "CANCELLED") {
            skip(a, "the order is cancelled; nothing is shipped", "tracking_for_cancelled_order", "warning");
            co_return;
        }
        if (status == "UNPAID" || status == "ON_HOLD" || o.is_on_hold) {
            // TikTok refuses fulfilment in the buyer's remorse window (21011044); it ends by itself.
            defer(a, "the order is " + status + ": no fulfilment until it is AWAITING_SHIPMENT");
            co_return;
        }
        if (package_id.empty()) {
            if (o.package_ids.size() != 1) {
                fail(a, o.package_ids.empty() ? "the order has no package yet; the warehouse must name package_id"
                                              : "the order has " + std::to_string(o.package_ids.size()) +
                                                    " packages; the tracking feed must name package_id");
                co_return;
            }
            package_id = o.package_ids.front();
        } else if (!o.package_ids.empty() &&
                   std::find(o.package_ids.begin(), o.package_ids.end(), package_id) == o.package_ids.end()) {
            fail(a, "package " + package_id + " is not one of the order's packages");
            co_return;
        }

        std::string error;
        auto providers = co_await shipping_providers(o.delivery_option_id, *token, error);
        if (!providers) {
            defer(a, error);
            co_return;
        }
        auto provider_id = resolve_provider(carrier, cfg.tracking.carriers, *providers);
        if (!provider_id) {
            std::string names;
            for (const auto& pr : *providers) names += (names.empty() ? "" : ", ") + pr.second;
            fail(a, "carrier \"" + carrier + "\" is not a shipping provider of this order's delivery option (" + names +
                        "); map it in tracking.carriers");
            co_return;
        }

        // What TikTok has for the package now.
        std::string current_number = o.tracking_number, current_provider = o.shipping_provider_id;
        for (const auto& li : o.line_items)
            if (li.package_id == package_id && !li.tracking_number.empty()) {
                current_number = li.tracking_number;
                current_provider = li.shipping_provider_id;
            }
        json result{{"package_id", package_id}, {"tracking_number", number}, {"shipping_provider_id", *provider_id}, {"carrier", carrier}};
        const bool shipped = has_shipped(status);
        if (shipped && current_number == number && (current_provider.empty() || current_provider == *provider_id)) {
            result["note"] = "TikTok already has this tracking number";
            store.begin_attempt(a.id, clock());   // done is reached only through sending (the state machine)
            finish_tracking(a, "tracking.already_current", result);
            co_return;
        }
        if (shipped && o.rts_time > 0 && clock() - o.rts_time > 72 * 3600) {
            skip(a, "shipped more than 72 hours ago, when TikTok no longer takes shipping info updates; correct it in Seller Center",
                 "tracking_update_too_late", "warning");
            co_return;
        }

        store.begin_attempt(a.id, clock());
        const char* call = shipped ? "update_package_shipping_info" : "ship_package";
        // co_await only as a whole statement (GCC 12).
        tikapi::result<tikapi::nothing> r = tikapi::api_error{};
        if (shipped) r = co_await api.update_package_shipping_info(package_id, number, *provider_id, *token);
        else r = co_await api.ship_package(package_id, number, *provider_id, *token);
        if (r) {
            finish_tracking(a, call, result);
            co_return;
        }
        const auto& err = r.error();
        if (err.token_expired()) {
            co_await tokens.refresh_after_rejection();
            defer(a, err.describe());
            co_return;
        }
        if (err.kind == tikapi::error_kind::api && err.code == 11006021) {
            // Shipped meanwhile (or our earlier attempt did ship it): the next
            // attempt looks again and updates the info if it differs.
            defer(a, "TikTok says the package has shipped already; checking its tracking number next");
            co_return;
        }
        if (err.kind == tikapi::error_kind::api && err.code == 21011044) {
            defer(a, "TikTok says the order is on hold: " + err.describe());
            co_return;
        }
        if (err.kind == tikapi::error_kind::api && (err.code == 21011049 || err.code == 21011050 || err.code == 21011051 || err.code == 21011052)) {
            skip(a, "TikTok no longer takes shipping info updates for this package: " + err.describe(), "tracking_update_too_late", "warning");
            co_return;
        }
        const bool unknown = err.request_sent && (err.kind == tikapi::error_kind::timeout || err.kind == tikapi::error_kind::connect ||
                                                  err.kind == tikapi::error_kind::protocol);
        if ((unknown || err.retryable()) && a.attempts + 1 < cfg.executor.max_send_attempts) {
            defer(a, (unknown ? "outcome unknown, tried again (safe to repeat): " : "") + err.describe());
            co_return;
        }
        fail(a, std::string(call) + ": " + err.describe());
    }

    // What `orderflowctl status` shows of the rules in force and of the last
    // reload (daemon_state "rules"); kept across restarts.
    void record_rules(const char* how, bool ok, const std::vector<std::string>& errors) {
        const std::int64_t now = clock();
        json st = json::parse(store.get_state("rules").value_or("{}"), nullptr, false);
        if (!st.is_object()) st = json::object();
        if (ok) st["in_force"] = {{"count", rules->size()}, {"hash", rules->hash()}, {"since", now}, {"how", how}};
        if (std::string_view(how) != "start") st["last_reload"] = {{"at", now}, {"ok", ok}, {"errors", errors}};
        try {
            store.put_state("rules", st.dump(), now);
        } catch (const std::exception& e) {
            log::error("pipeline_storage_failed", {{"error", e.what()}});
        }
    }

    // What a reload reads, read on the background thread.
    struct candidate {
        config_result cfg;
        std::optional<rules::load_result> rules;   // when the config was valid
    };
    bool reloading = false;

    // SIGHUP and orderflowctl reload: all or nothing (error policy in
    // docs/architecture.md). The files are read and compiled off the event
    // loop, so webhooks are served meanwhile; the swap happens on the loop.
    // Reloads run one at a time, in the order asked.
    asio::awaitable<bool> reload_rules() {
        while (reloading) {
            asio::steady_timer turn(io);
            turn.expires_after(std::chrono::milliseconds(20));
            co_await turn.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        reloading = true;
        systemd::notify("RELOADING=1");
        const std::filesystem::path file = cfg.file;
        auto read = [file]() -> asio::awaitable<candidate> {
            candidate c{load_config(file), std::nullopt};
            if (c.cfg.ok()) c.rules = rules::load_directory(c.cfg.value->rules.dir);
            co_return c;
        };
        candidate next = co_await asio::co_spawn(background.get_executor(), read, asio::use_awaitable);
        const bool ok = apply_reload(next);
        next = candidate{};
        // A large rejected rule set is freed above; hand its pages back to the system.
        ::malloc_trim(0);
        reloading = false;
        co_return ok;
    }

    bool apply_reload(candidate& next) {
        auto& s = *this;
        auto& loaded_cfg = next.cfg;
        bool ok = false;
        std::vector<std::string> errors;
        if (!loaded_cfg.ok()) {
            for (const auto& d : loaded_cfg.diagnostics) {
                log::error("reload_failed", {{"message", d.to_string()}});
                if (!d.warning && errors.size() < 5) errors.push_back(d.to_string());
            }
        } else {
            auto& loaded = *next.rules;
            for (const auto& d : loaded.diagnostics) {
                log::write(d.warning ? log::level::warn : log::level::error, d.warning ? "rules_warning" : "rules_reload_failed", {{"message", d.to_string()}});
                if (!d.warning && errors.size() < 5) errors.push_back(d.to_string());
            }
            if (loaded.ok()) {
                s.rules = loaded.rules;
                // What takes effect without a restart: rules and the
                // executor's, guards', breaker's, retention's and digest settings.
                s.cfg.rules = loaded_cfg.value->rules;
                s.cfg.executor = loaded_cfg.value->executor;
                s.cfg.guards = loaded_cfg.value->guards;
                s.cfg.breaker = loaded_cfg.value->breaker;
                s.cfg.retention = loaded_cfg.value->retention;
                s.cfg.digest_interval = loaded_cfg.value->digest_interval;
                s.cfg.heartbeat_at = loaded_cfg.value->heartbeat_at;
                ok = true;
                log::info("rules_reloaded", {{"rules", s.rules->size()}, {"rules_hash", s.rules->hash()}});
                if (loaded_cfg.value->webhook.listen.port != s.cfg.webhook.listen.port || loaded_cfg.value->storage.path != s.cfg.storage.path ||
                    loaded_cfg.value->tiktok.api_base != s.cfg.tiktok.api_base)
                    log::warn("config_change_needs_restart", {{"advice", "listen addresses, storage and tiktok settings take effect after a restart"}});
            }
        }
        if (!ok) {
            log::error("rules_kept", {{"rules", s.rules->size()}, {"rules_hash", s.rules->hash()}, {"advice", "fix the errors above and reload again; the previous rules stay in force"}});
            try {
                db.transaction([&] {
                    raise_review("", "reload_failed", "warning",
                                 "a reload failed; the previous rules stay in force. Run orderflowctl check --config " + cfg.file.string(),
                                 {{"rules_hash", s.rules->hash()}, {"config", cfg.file.string()}});
                });
            } catch (const std::exception& e) {
                log::error("pipeline_storage_failed", {{"error", e.what()}});
            }
        }
        record_rules("reload", ok, errors);
        systemd::notify("READY=1");
        return ok;
    }

    // ---- retention ---------------------------------------------------------
    //
    // At start and then hourly: personal data of finished rows older than
    // retention.personal_data is purged (storage/retention.hpp); idempotency
    // and dedupe keys stay, so nothing purged can be sent again.

    asio::awaitable<void> housekeeping_loop() {
        while (!stopping) {
            sup.beat("housekeeping", std::chrono::hours(1));
            try {
                const std::int64_t cutoff = clock() - cfg.retention.personal_data.count();
                auto n = storage::purge_personal_data(db, cutoff);
                if (n.total() > 0)
                    log::info("retention_purged", {{"events", n.events}, {"orders", n.orders}, {"actions", n.actions},
                                                   {"conversations", n.conversations}, {"reviews", n.reviews},
                                                   {"notifications", n.notifications}, {"older_than", cutoff}});
            } catch (const std::exception& e) {
                log::error("retention_failed", {{"error", e.what()}, {"advice", "retried within the hour; check the disk and the database"}});
            }
            co_await housekeeping_wake.wait(std::chrono::hours(1));
        }
    }

    // ---- poller: the backstop for lost webhooks ------------------------------
    //
    // Every poll.interval: Search Orders by update_time from the cursor
    // minus poll.overlap, and the buyer conversations for messages newer
    // than the message cursor minus the overlap. What it finds goes into the
    // inbox with the same change key a webhook would have, so a change seen
    // by both is one event. Cursors (daemon_state "poll.orders",
    // "poll.messages") advance to the start of a pass that read every page;
    // on the very first start they begin at poll.start ("now" by default),
    // so the shop's history is not messaged.

    // Where a pass starts reading: the cursor minus the overlap, or on the
    // very first pass exactly the start point (nothing before it).
    std::int64_t poll_from(const char* name) {
        if (auto v = store.get_state(name)) return std::stoll(*v) - cfg.poll.overlap.count();
        const std::int64_t start = cfg.poll.start_at.value_or(clock());
        store.put_state(name, std::to_string(start + cfg.poll.overlap.count()), clock());
        log::info("poll_cursor_started", {{"cursor", name}, {"from", start}});
        return start;
    }

    // Commits polled events in one transaction; returns how many were new changes.
    int add_polled(const std::vector<storage::new_event>& events) {
        int added = 0;
        if (events.empty()) return 0;
        db.transaction([&] {
            for (const auto& e : events)
                if (store.add_event(e)) ++added;
        });
        if (added > 0) pipeline_wake.notify();
        return added;
    }

    asio::awaitable<bool> poll_orders(const orderflow::secret& token) {
        const std::int64_t started = clock();
        tikapi::order_search q;
        q.update_time_ge = poll_from("poll.orders");
        q.sort_field = "update_time";
        q.sort_order = "ASC";
        q.page_size = 50;
        int pages = 0, seen = 0, added = 0;
        for (;;) {
            auto page = co_await api.search_orders(q, token);
            if (!page) {
                log::warn("poll_failed", {{"what", "orders"}, {"error", page.error().describe()}, {"pages_read", pages},
                                          {"advice", "the cursor stays; the next poll reads the same window again"}});
                co_return page.error().token_expired();
            }
            ++pages;
            sup.beat("poller");
            std::vector<storage::new_event> events;
            for (const auto& o : page.value().orders) {
                ++seen;
                if (o.status.empty()) continue;
                events.push_back(inbox_event_from_polled_order(o, clock()));
            }
            added += add_polled(events);
            if (page.value().next_page_token.empty()) break;
            if (stopping) co_return false;   // not read to the end: the cursor stays
            q.page_token = page.value().next_page_token;
        }
        // Never behind the start point: the next pass reads from here minus the overlap.
        store.put_state("poll.orders", std::to_string(std::max(started, *q.update_time_ge + cfg.poll.overlap.count())), clock());
        log::info("poll_done", {{"what", "orders"}, {"from", *q.update_time_ge}, {"pages", pages}, {"orders", seen}, {"new_changes", added}});
        co_return false;
    }

    std::map<std::string, std::string> polled_latest;   // conversation id -> latest message id already read

    asio::awaitable<bool> poll_messages(const orderflow::secret& token) {
        const std::int64_t started = clock();
        const std::int64_t from = poll_from("poll.messages");
        std::string page_token;
        int pages = 0, conversations = 0, added = 0;
        bool complete = false;
        for (int page_no = 0; page_no < 20 && !stopping; ++page_no) {
            auto page = co_await api.get_conversations(20, page_token, token);
            if (!page) {
                log::warn("poll_failed", {{"what", "conversations"}, {"error", page.error().describe()},
                                          {"advice", "the cursor stays; the next poll reads the same window again"}});
                co_return page.error().token_expired();
            }
            ++pages;
            sup.beat("poller");
            bool older_seen = false;
            for (const auto& c : page.value().conversations) {
                if (!c.latest_message || c.latest_message->create_time < from) {
                    older_seen = true;
                    continue;
                }
                // Only conversations with something new from the buyer: the
                // latest message is the buyer's, or some are unread, and the
                // latest is not the one this process already looked at.
                const bool buyer_news = c.latest_message->sender_role == "BUYER" || c.unread_count > 0;
                const std::string latest_id = c.latest_message->id;
                if (!buyer_news || polled_latest[c.id] == latest_id) continue;
                ++conversations;
                if (auto buyer = c.buyer_user_id(); !buyer.empty()) store.put_conversation(buyer, c.id, clock());
                const std::string conversation_id = c.id;
                std::string message_token;
                for (int message_page = 0; message_page < 10 && !stopping; ++message_page) {
                    auto messages = co_await api.get_conversation_messages(conversation_id, 10, message_token, token);
                    if (!messages) {
                        log::warn("poll_failed", {{"what", "messages"}, {"conversation_id", conversation_id},
                                                  {"error", messages.error().describe()}});
                        co_return messages.error().token_expired();
                    }
                    std::vector<storage::new_event> events;
                    bool reached_old = false;
                    for (const auto& m : messages.value().messages) {
                        if (m.create_time < from) {
                            reached_old = true;
                            continue;
                        }
                        if (m.sender_role != "BUYER") continue;
                        events.push_back(inbox_event_from_polled_message(m, conversation_id, clock()));
                    }
                    added += add_polled(events);
                    if (reached_old || messages.value().next_page_token.empty()) break;
                    message_token = messages.value().next_page_token;
                }
                polled_latest[conversation_id] = latest_id;   // read completely
            }
            // Conversations come most recently active first: past the window, stop.
            if (older_seen || page.value().next_page_token.empty()) {
                complete = true;
                break;
            }
            page_token = page.value().next_page_token;
        }
        if (!complete) {
            // Stopped, or more active conversations than one pass reads: the cursor stays.
            log::warn("poll_incomplete", {{"what", "messages"}, {"pages", pages}, {"conversations", conversations}});
            co_return false;
        }
        store.put_state("poll.messages", std::to_string(std::max(started, from + cfg.poll.overlap.count())), clock());
        record_cs_calls();
        log::info("poll_done", {{"what", "messages"}, {"from", from}, {"pages", pages}, {"conversations", conversations},
                                {"new_changes", added}});
        co_return false;
    }

    // Customer-service calls count against 10,000 a day (45101004); status shows it.
    void record_cs_calls() {
        const std::time_t t = static_cast<std::time_t>(clock());
        std::tm utc{};
        gmtime_r(&t, &utc);
        char day[16];
        std::strftime(day, sizeof day, "%Y-%m-%d", &utc);
        store.put_state("cs_calls", json{{"day", day}, {"count", api.cs_calls_today()}}.dump(), clock());
    }

    asio::awaitable<void> poll_loop() {
        while (!stopping) {
            sup.beat("poller", cfg.poll.interval);
            if (storage_lost) {
                co_await poll_wake.wait(cfg.poll.interval);
                continue;
            }
            try {
                const orderflow::secret* token = co_await tokens.access();
                if (token) {
                    bool expired = co_await poll_orders(*token);
                    if (expired) co_await tokens.refresh_after_rejection();
                    token = co_await tokens.access();
                    if (token && !stopping) {
                        expired = co_await poll_messages(*token);
                        if (expired) co_await tokens.refresh_after_rejection();
                    }
                }
            } catch (const std::exception& e) {
                log::error("poll_failed", {{"error", e.what()}});
            }
            co_await poll_wake.wait(cfg.poll.interval);
        }
    }

    // ---- admin socket ----------------------------------------------------
    //
    // One JSON request line in, one JSON reply out (daemon/admin.hpp). The
    // socket is 0660: the service's user and group, nobody else. Requests are
    // served on the event-loop thread, like everything else, so a command
    // sees the same database state as the loops and needs no locks.

    void open_admin_socket() {
        using local = asio::local::stream_protocol;
        const auto& path = cfg.admin.socket;
        std::error_code fs_ec;
        std::filesystem::create_directories(path.parent_path(), fs_ec);
        if (std::filesystem::exists(path)) {
            // A socket left by a daemon that died can be replaced; a live one cannot.
            local::socket probe(io);
            boost::system::error_code ec;
            probe.connect(local::endpoint(path.string()), ec);
            if (!ec) throw std::runtime_error("another orderflowd is listening on admin.socket " + path.string() + "; stop it first");
            std::filesystem::remove(path, fs_ec);
        }
        admin = std::make_unique<local::acceptor>(io);
        boost::system::error_code ec;
        admin->open(local(), ec);
        if (!ec) admin->bind(local::endpoint(path.string()), ec);
        if (!ec) admin->listen(16, ec);
        if (ec) throw std::runtime_error("cannot listen on admin.socket " + path.string() + ": " + ec.message() + " (check that its folder exists and is writable by the service)");
        ::chmod(path.c_str(), 0660);
        log::info("admin_listening", {{"socket", path.string()}});
    }

    asio::awaitable<void> admin_loop() {
        while (!stopping) {
            // Waiting for a connection is its normal state, for as long as it takes.
            sup.beat("admin", std::chrono::hours(24 * 365));
            auto [ec, sock] = co_await admin->async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (stopping || ec == asio::error::operation_aborted) co_return;
                log::warn("admin_accept_failed", {{"error", ec.message()}});
                continue;
            }
            spawn_session(admin_session(std::move(sock)));
        }
    }

    asio::awaitable<void> admin_session(asio::local::stream_protocol::socket sock) {
        const std::string peer = peer_user(sock.native_handle());
        asio::steady_timer deadline(io);
        deadline.expires_after(std::chrono::seconds(10));
        deadline.async_wait([&sock](boost::system::error_code ec) {
            if (!ec) sock.close();   // a client that never finishes its request
        });
        std::string line;
        // Named arguments only: GCC 12 mishandles class-type temporaries inside co_await.
        auto buffer = asio::dynamic_buffer(line, 64 * 1024);
        auto [ec, n] = co_await asio::async_read_until(sock, buffer, '\n', asio::as_tuple(asio::use_awaitable));
        json reply;
        if (ec == asio::error::not_found) {
            reply = admin_error("the request is longer than 64 KiB");
        } else if (ec) {
            deadline.cancel();
            co_return;
        } else {
            line.resize(n);
            reply = co_await admin_dispatch(std::move(line), peer);
        }
        const std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
        auto reply_buffer = asio::buffer(out);
        auto [wec, written] = co_await asio::async_write(sock, reply_buffer, asio::as_tuple(asio::use_awaitable));
        (void)wec;
        (void)written;
        deadline.cancel();
        boost::system::error_code ignored;
        sock.shutdown(asio::local::stream_protocol::socket::shutdown_both, ignored);
    }

    // Prometheus text exposition (orderflowctl metrics; e.g. for node_exporter's
    // textfile collector): rules in force and the last reload, the queues by
    // state, open reviews, the breaker and pending notifications.
    std::string metrics_text() {
        std::ostringstream m;
        json rs = json::parse(store.get_state("rules").value_or("{}"), nullptr, false);
        const json last = rs.is_object() ? rs.value("last_reload", json::object()) : json::object();
        m << "# HELP orderflow_rules_loaded Rules in force.\n# TYPE orderflow_rules_loaded gauge\n"
          << "orderflow_rules_loaded{hash=\"" << rules->hash() << "\"} " << rules->size() << "\n";
        m << "# HELP orderflow_rules_last_reload_ok 1 when the last reload succeeded (1 before any reload).\n"
          << "# TYPE orderflow_rules_last_reload_ok gauge\norderflow_rules_last_reload_ok " << (last.value("ok", true) ? 1 : 0) << "\n";
        m << "# HELP orderflow_rules_last_reload_timestamp_seconds When the last reload ran (0: none since the database was made).\n"
          << "# TYPE orderflow_rules_last_reload_timestamp_seconds gauge\norderflow_rules_last_reload_timestamp_seconds "
          << last.value("at", std::int64_t{0}) << "\n";
        const json c = store.counts();
        m << "# HELP orderflow_events Inbox events by state.\n# TYPE orderflow_events gauge\n";
        for (const auto& [state, n] : c["inbox"].items()) m << "orderflow_events{state=\"" << state << "\"} " << n.dump() << "\n";
        m << "# HELP orderflow_actions Outbox actions by state.\n# TYPE orderflow_actions gauge\n";
        for (const auto& [state, n] : c["outbox"].items()) m << "orderflow_actions{state=\"" << state << "\"} " << n.dump() << "\n";
        int open = 0, critical = 0;
        for (const auto& r : store.reviews(false, 100000)) {
            ++open;
            critical += r.severity == "critical";
        }
        m << "# HELP orderflow_reviews_open Open or acknowledged review items.\n# TYPE orderflow_reviews_open gauge\n"
          << "orderflow_reviews_open " << open << "\norderflow_reviews_open_critical " << critical << "\n";
        m << "# HELP orderflow_sending_paused 1 while the circuit breaker holds messages.\n# TYPE orderflow_sending_paused gauge\n"
          << "orderflow_sending_paused " << (breaker.open ? 1 : 0) << "\n";
        m << "# HELP orderflow_notifications_pending Staff notifications not yet delivered.\n# TYPE orderflow_notifications_pending gauge\n"
          << "orderflow_notifications_pending " << store.due_notifications(std::numeric_limits<std::int64_t>::max(), 100000).size() << "\n";
        return m.str();
    }

    static json admin_error(const std::string& why) {
        log::warn("admin_request_malformed", {{"error", why}});
        return {{"exit", 2}, {"stdout", ""}, {"stderr", "orderflowd: malformed request: " + why + "\n"}};
    }

    // One request line: {"argv": [strings], "by"?: string, "note"?: string,
    // "all"?: bool, "limit"?: integer, "drop_held"?: bool}. Anything else
    // gets an error reply naming what is wrong; nothing here throws.
    asio::awaitable<json> admin_dispatch(std::string line, std::string peer) {
        json request = json::parse(line, nullptr, false);
        if (request.is_discarded() || !request.is_object()) co_return admin_error("not a JSON object");
        if (!request.contains("argv") || !request["argv"].is_array() || request["argv"].empty())
            co_return admin_error("\"argv\" must be a non-empty array of strings");
        std::vector<std::string> argv;
        for (const auto& x : request["argv"]) {
            if (!x.is_string()) co_return admin_error("\"argv\" must be a non-empty array of strings");
            argv.push_back(x.get<std::string>());
        }
        for (const char* key : {"by", "note"})
            if (request.contains(key) && !request[key].is_string()) co_return admin_error(std::string("\"") + key + "\" must be a string");
        for (const char* key : {"all", "drop_held"})
            if (request.contains(key) && !request[key].is_boolean()) co_return admin_error(std::string("\"") + key + "\" must be true or false");
        if (request.contains("limit") && !request["limit"].is_number_integer()) co_return admin_error("\"limit\" must be an integer");
        std::ostringstream out, err;
        int exit_code = 2;
        // Who acted: the name they give (a shared account may serve several
        // people), else who the socket says they are; the audit log keeps both.
        const std::string by_claim = request.value("by", "");
        const std::string by = by_claim.empty() ? peer : by_claim;
        log::info("admin_request", {{"command", argv[0]}, {"peer", peer}});
        try {
            if (argv[0] == "review") {
                review_args ra{argv, request.value("note", ""), by, peer, request.value("all", false),
                               static_cast<int>(std::clamp<std::int64_t>(request.value("limit", std::int64_t{50}), 1, 100000))};
                exit_code = review_command(db, store, ra, out, err, clock());
            } else if (argv[0] == "resume") {
                std::string done = resume(by, peer, request.value("drop_held", false));
                if (done.empty()) out << "sending is not paused; nothing to resume\n";
                else out << done;
                exit_code = 0;
            } else if (argv[0] == "metrics") {
                out << metrics_text();
                exit_code = 0;
            } else if (argv[0] == "reload") {
                const bool ok = co_await reload_rules();
                if (ok) out << "reloaded: " << rules->size() << " rules in force (hash " << rules->hash() << ")\n";
                else err << "reload failed; the previous rules stay in force (" << rules->size() << " rules, hash " << rules->hash()
                         << "). orderflowctl check --config " << cfg.file.string() << " shows why\n";
                exit_code = ok ? 0 : 1;
            } else {
                err << "orderflowd: unknown admin command '" << argv[0] << "'\n";
            }
        } catch (const std::exception& e) {
            err << "orderflowd: " << argv[0] << " failed: " << e.what() << "\n";
            exit_code = 1;
        }
        co_return json{{"exit", exit_code}, {"stdout", out.str()}, {"stderr", err.str()}};
    }

    // ---- lifecycle -----------------------------------------------------

    // One admin connection: not supervised (it ends by itself), but what
    // escapes it is logged and harms nothing else.
    void spawn_session(asio::awaitable<void> session) {
        asio::co_spawn(io, std::move(session), [](std::exception_ptr ep) {
            if (!ep) return;
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                log::error("admin_session_failed", {{"error", e.what()}});
            }
        });
    }
};

service::service(asio::io_context& io, config cfg, std::function<std::int64_t()> clock)
    : impl_(std::make_unique<impl>(io, std::move(cfg), std::move(clock))) {}

service::~service() = default;

void service::start() {
    auto& s = *impl_;
    int interrupted = s.store.mark_interrupted_sends(s.clock());
    if (interrupted > 0)
        log::warn("sends_interrupted", {{"count", interrupted},
                                        {"advice", "these sends were in flight when the daemon stopped; they are marked unknown and not re-sent"}});
    tikapi::server_options opts;
    opts.body_limit = s.cfg.webhook.max_body;
    opts.read_timeout = s.cfg.webhook.read_timeout;
    s.ingress = std::make_unique<tikapi::http_server>(
        s.io.get_executor(), s.cfg.webhook.listen.host, s.cfg.webhook.listen.port,
        [&s](http_request& req) { return s.on_webhook(req); }, opts);
    s.ingress->start();
    log::info("webhook_listening", {{"host", s.cfg.webhook.listen.host}, {"port", s.ingress->port()}, {"path", s.cfg.webhook.path}});
    s.open_admin_socket();
    s.sup.run("admin", [&s] { return s.admin_loop(); });
    if (s.cfg.admin.listen) {
        s.admin_token = read_secret_file(s.cfg.admin.token_file);
        tikapi::server_options admin_opts;
        admin_opts.body_limit = 16 * 1024;
        s.admin_http = std::make_unique<tikapi::http_server>(
            s.io.get_executor(), s.cfg.admin.listen->host, s.cfg.admin.listen->port,
            [&s](http_request& req) { return s.on_admin_http(req); }, admin_opts);
        s.admin_http->start();
        log::info("admin_http_listening", {{"host", s.cfg.admin.listen->host}, {"port", s.admin_http->port()}, {"paths", {"POST /v1/tracking"}}});
    }
    if (s.cfg.poll.enabled) s.sup.run("poller", [&s] { return s.poll_loop(); });
    if (!s.cfg.tracking.feed_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(s.cfg.tracking.feed_dir, ec);
        s.sup.run("tracking_feed", [&s] { return s.feed_dir_loop(); });
        log::info("tracking_feed_watching", {{"dir", s.cfg.tracking.feed_dir.string()}, {"every_s", s.cfg.tracking.scan_interval.count()}});
    }
    s.sup.run("pipeline", [&s] { return s.pipeline_loop(); });
    s.sup.run("executor", [&s] { return s.executor_loop(); });
    s.sup.run("notifier", [&s] { return s.notifier_loop(); });
    s.sup.run("housekeeping", [&s] { return s.housekeeping_loop(); });
    s.sup.run("storage_watch", [&s] { return s.storage_watch_loop(); });
    // WATCHDOG=1 only while every loop above makes progress (supervisor.hpp).
    if (auto every = systemd::watchdog_interval())
        asio::co_spawn(s.io, s.sup.watchdog(*every, [] { systemd::notify("WATCHDOG=1"); }), asio::detached);
    s.record_rules("start", true, {});
    log::info("daemon_ready", {{"rules", s.rules->size()}, {"rules_hash", s.rules->hash()}, {"auth", s.tokens.state()},
                               {"database", s.cfg.storage.path.string()}});
    if (s.tokens.state() != "authorized") log::warn("not_authorized", {{"advice", s.tokens.advice()}});
    if (s.breaker.open)
        log::error("sending_paused", {{"advice", "the circuit breaker paused sending before this start; check orderflowctl status, then orderflowctl resume"}});
    systemd::notify("READY=1\nSTATUS=running");
}

asio::awaitable<bool> service::reload() { return impl_->reload_rules(); }

void service::stop() {
    auto& s = *impl_;
    if (s.stopping) return;
    s.stopping = true;
    systemd::notify("STOPPING=1");
    log::info("daemon_stopping", {});
    if (s.ingress) s.ingress->stop();
    if (s.admin_http) s.admin_http->stop();
    if (s.admin) {
        boost::system::error_code ignored;
        s.admin->close(ignored);
        std::error_code fs_ignored;
        std::filesystem::remove(s.cfg.admin.socket, fs_ignored);
    }
    s.pipeline_wake.notify();
    s.executor_wake.notify();
    s.notifier_wake.notify();
    s.housekeeping_wake.notify();
    s.poll_wake.notify();
    s.feed_wake.notify();
    s.storage_watch_wake.notify();
    s.sup.stop();
}

std::uint16_t service::webhook_port() const { return impl_->ingress ? impl_->ingress->port() : 0; }
std::uint16_t service::admin_port() const { return impl_->admin_http ? impl_->admin_http->port() : 0; }

int run_orderflowd(int argc, char** argv) {
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) config_path = argv[++i];
        else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
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
    if (!loaded.ok()) return 1;
    const auto& lvl = loaded.value->log_level;
    log::threshold() = lvl == "debug" ? log::level::debug : lvl == "warn" ? log::level::warn : lvl == "error" ? log::level::error : log::level::info;

    try {
        asio::io_context io(1);
        service svc(io, std::move(*loaded.value));
        svc.start();
        asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
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
    } catch (const std::exception& e) {
        log::error("startup_failed", {{"error", e.what()}});
        return 1;
    }
}

}  // namespace orderflow::daemon
