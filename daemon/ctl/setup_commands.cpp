// orderflowctl check, keygen and auth: setting the daemon up. Secrets are never printed.
#include "daemon/ctl/common.hpp"

#include "daemon/api_options.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/loopback.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/tokens.hpp"
#include "rules/engine.hpp"
#include "rules/fixture.hpp"
#include "rules/ruleset.hpp"
#include "storage/database.hpp"
#include "storage/idempotency.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>


namespace orderflow::daemon::ctl {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// Why the notifier could not start `program` (a command channel's first
// word): a path that is not an executable file for this user, or a bare name
// found nowhere in PATH. nullopt when it can be run.
std::optional<std::string> unrunnable_program(const std::string& program) {
    if (program.find('/') != std::string::npos) {
        if (std::filesystem::is_regular_file(program) && ::access(program.c_str(), X_OK) == 0) return std::nullopt;
        return program + " is not an executable file" +
               (std::filesystem::exists(program) ? std::string() : std::string(" (it does not exist)"));
    }
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t at = 0; at <= dirs.size();) {
        const std::size_t end = std::min(dirs.find(':', at), dirs.size());
        const std::filesystem::path candidate = std::filesystem::path(dirs.substr(at, end - at)) / program;
        if (std::filesystem::is_regular_file(candidate) && ::access(candidate.c_str(), X_OK) == 0) return std::nullopt;
        at = end + 1;
    }
    return "'" + program + "' is not found in PATH (" + dirs + ")";
}

// Why orderflowd could not use `dir` as the tracking drop folder, which it
// creates when missing: nullopt when it is a folder, or could be created
// (its nearest existing parent is a folder this user may write in).
std::optional<std::string> unusable_folder(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    if (dir.empty()) return std::nullopt;
    std::error_code ec;
    const auto st = fs::status(dir, ec);
    if (fs::is_directory(st)) return std::nullopt;
    if (fs::exists(st)) return dir.string() + " exists and is not a folder";
    fs::path parent = dir.parent_path();
    while (!parent.empty() && !fs::exists(parent, ec) && parent != parent.root_path()) parent = parent.parent_path();
    if (!fs::is_directory(parent, ec))
        return dir.string() + " does not exist and cannot be created: " + parent.string() + " is not a folder";
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
        return dir.string() + " does not exist and cannot be created: " + parent.string() + ": " + std::strerror(errno);
    return std::nullopt;
}

// What to do after a failed `auth exchange`. Only TikTok's own refusal
// speaks of the code; when TikTok was not reached, or did not answer in
// time, the code may well be unused (docs/tiktok-shop-api.md §3).
std::string exchange_advice(const tikapi::api_error& e, const config& cfg) {
    using tikapi::error_kind;
    const std::string again = "run the same command again; if TikTok then says the code is used or expired, get a new one with: orderflowctl auth url";
    switch (e.kind) {
        case error_kind::connect:
            return "TikTok's auth host (" + cfg.tiktok.auth_base + ", tiktok.auth_base) could not be reached: check the network, DNS and any "
                   "firewall or proxy, then " + again;
        case error_kind::timeout:
            return "TikTok's auth host (" + cfg.tiktok.auth_base + ") did not answer within tiktok.timeout (" +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cfg.tiktok.timeout).count()) +
                   " s): check the network and that setting, then " + again;
        case error_kind::tls:
            return "the TLS connection to " + cfg.tiktok.auth_base + " failed: check the system's CA certificates, tiktok.ca_file and the clock, then " +
                   again;
        case error_kind::api:
            if (!e.retryable())
                return "An authorization code works once and for 30 minutes; get a new one with: orderflowctl auth url";
            [[fallthrough]];
        case error_kind::http_status:
        case error_kind::protocol:
        case error_kind::decode: break;
    }
    return "TikTok could not complete the exchange now: wait a minute, then " + again;
}

// "error: ..." when the database at storage.path was made with another vault
// key, "warning: ..." when it is there but could not be compared; empty when
// the key is the database's, or there is no database (yet).
std::string vault_key_mismatch(const config& cfg, orderflow::secret key) {
    std::error_code ec;
    if (!std::filesystem::exists(cfg.storage.path, ec)) return {};
    try {
        auto db = storage::database::open_read_only(cfg.storage.path);
        if (std::string why = storage::vault_key_refusal(db, std::move(key)); !why.empty())
            return "error: storage.vault_key_file: " + why + " (orderflowd would refuse to start with it, exit 78)";
    } catch (const std::exception& e) {
        return "warning: storage.path: the vault key could not be compared with the database: " + std::string(e.what());
    }
    return {};
}

}  // namespace

int cmd_check(const args& a) {
    if (a.config.empty()) {
        std::cerr << "orderflowctl: --config FILE is required\n";
        return 2;
    }
    auto loaded = load_config(a.config);
    int errors = 0, warnings = 0;
    for (const auto& d : loaded.diagnostics) {
        std::cout << d.to_string() << "\n";
        (d.warning ? warnings : errors)++;
    }
    if (loaded.ok()) {
        const auto& cfg = *loaded.value;
        auto rules = rules::load_directory(cfg.rules.dir);
        for (const auto& d : rules.diagnostics) {
            std::cout << d.to_string() << "\n";
            (d.warning ? warnings : errors)++;
        }
        // Every secret the config names, read by the very functions orderflowd
        // reads them with at start, so check refuses what the daemon would
        // refuse, with the daemon's message.
        auto read = [&](const std::function<orderflow::secret()>& read_secret) -> std::optional<orderflow::secret> {
            try {
                return read_secret();
            } catch (const std::exception& e) {
                std::cout << cfg.file.string() << ": error: " << e.what() << "\n";
                ++errors;
                return std::nullopt;
            }
        };
        // A database already here (an upgrade, a restored backup) must be
        // this key's: orderflowd would refuse another at its start, with
        // exit 78 (the tokens would not decrypt, or every message could be
        // sent again). Compared on a read-only connection: check writes
        // nothing and runs no migration.
        if (auto vault_key = read([&] { return storage::read_vault_key(cfg.storage.vault_key_file); }))
            if (std::string why = vault_key_mismatch(cfg, std::move(*vault_key)); !why.empty()) {
                std::cout << cfg.file.string() << ": " << why << "\n";
                (why.starts_with("error: ") ? errors : warnings)++;
            }
        read([&] { return read_secret_file(cfg.tiktok.app_secret_file); });
        if (cfg.admin.listen) read([&] { return read_secret_file(cfg.admin.token_file); });
        for (const auto& ch : cfg.channels)
            if (ch.type == "webhook") read([&] { return read_secret_file(ch.secret_file); });
        // An operator named who does not exist here is no operator: say so
        // now rather than when the person is refused.
        for (const auto& who : cfg.admin.operators) {
            const bool group = who.front() == '@';
            const bool known = group ? ::getgrnam(who.c_str() + 1) != nullptr : ::getpwnam(who.c_str()) != nullptr;
            if (known) continue;
            std::cout << cfg.file.string() << ": warning: admin.operators: no " << (group ? "group '" + who.substr(1) : "user '" + who)
                      << "' on this machine; nobody is an operator through it until it exists\n";
            ++warnings;
        }
        // The database holds buyer data: its files are the service's alone.
        for (const auto& w : storage::permission_warnings(cfg.storage.path)) {
            std::cout << cfg.file.string() << ": warning: storage.path: " << w << "\n";
            ++warnings;
        }
        // The CA bundle, loaded as the daemon's API client loads it at start.
        if (!cfg.tiktok.ca_file.empty()) {
            try {
                asio::io_context io;
                tikapi::http_client probe(io.get_executor(), tikapi::tls_options{true, cfg.tiktok.ca_file.string()});
            } catch (const std::exception& e) {
                std::cout << cfg.file.string() << ": error: tiktok.ca_file: " << e.what()
                          << "; point it at a PEM bundle the service's user can read, or remove it to use the system's CA store\n";
                ++errors;
            }
        }
        // Off this machine the admin listener speaks plain HTTP: fine behind
        // a proxy that adds TLS, which check cannot see, so only a warning.
        if (cfg.admin.listen && !is_loopback_host(cfg.admin.listen->host)) {
            std::cout << cfg.file.string() << ": warning: admin.listen: " << cfg.admin.listen->host << ":" << cfg.admin.listen->port
                      << " is not a loopback address, and the listener speaks plain HTTP: console passwords, session cookies and the "
                         "bearer token would cross the network in clear. Listen on 127.0.0.1 and put an HTTPS reverse proxy in front "
                         "(see admin.console_host) or use an SSH tunnel (docs/operations.md, \"The staff console\")\n";
            ++warnings;
        }
        // A command channel's program, as the notifier will start it.
        for (const auto& ch : cfg.channels)
            if (ch.type == "command" && !ch.command.empty())
                if (auto why = unrunnable_program(ch.command[0])) {
                    std::cout << cfg.file.string() << ": warning: notify.channels." << ch.name << ".command: " << *why
                              << "; its notifications would be retried until it can be run. Give the program's absolute "
                                 "path, or one relative to this file's folder\n";
                    ++warnings;
                }
        if (auto why = unusable_folder(cfg.tracking.feed_dir)) {
            std::error_code ec;
            const bool taken = std::filesystem::exists(std::filesystem::symlink_status(cfg.tracking.feed_dir, ec));   // something else in its place
            std::cout << cfg.file.string() << ": warning: tracking.feed_dir: " << *why
                      << "; CSV files dropped there are not read until it is a folder. "
                      << (taken ? "Move what is there out of the way and create the folder (mkdir " : "Create it (mkdir -p ")
                      << cfg.tracking.feed_dir.string() << ", writable by the service's user) or correct the path\n";
            ++warnings;
        }
        if (rules.ok() && errors == 0) {
            std::cout << "ok: " << cfg.file.string() << "; " << rules.rules->size() << " rule(s), "
                      << rules.rules->template_names().size() << " template(s) in " << cfg.rules.dir.string()
                      << " (rules hash " << rules.rules->hash() << ")";
            if (warnings) std::cout << "; " << warnings << " warning(s)";
            std::cout << "\n";
            return 0;
        }
    }
    std::cout << errors << " error(s), " << warnings << " warning(s)\n";
    return 1;
}

int cmd_keygen(const args& a) {
    if (a.positional.size() != 2) {
        std::cerr << "usage: orderflowctl keygen FILE\n";
        return 2;
    }
    storage::write_vault_key(a.positional[1]);
    std::cout << "wrote a new vault key to " << a.positional[1] << " (mode 0600)\n";
    return 0;
}

// Everything `auth` needs: the database and the vault (with its key). Only
// `auth exchange` makes the database: it is a setup step before the first
// start (docs/operations.md).
struct local_state {
    local_state(const config& cfg, if_missing missing)
        : db(open_database(cfg, missing)), store(db), vault(db, storage::read_vault_key(cfg.storage.vault_key_file)) {}
    storage::database db;
    storage::store store;
    storage::vault vault;
};

int cmd_auth(const args& a) {
    std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    if (sub == "url") {
        unsigned char raw[12];
        randombytes_buf(raw, sizeof raw);
        char state[25];
        sodium_bin2hex(state, sizeof state, raw, sizeof raw);
        // The current link names the app's service id; without one, the
        // legacy form, which the PHP SDK still builds (docs/tiktok-shop-api.md §3).
        const std::string& service = cfg->tiktok.service_id;
        if (!service.empty())
            std::cout << cfg->tiktok.authorize_base << "/open/authorize?service_id=" << tikapi::percent_encode(service) << "&state=" << state
                      << "\n";
        else
            std::cout << cfg->tiktok.auth_base << "/oauth/authorize?app_key=" << tikapi::percent_encode(cfg->tiktok.app_key)
                      << "&state=" << state << "\n";
        std::cout << "Open it as the seller, authorize, then run: orderflowctl auth exchange CODE --config " << cfg->file.string() << "\n";
        if (service.empty())
            std::cout << "This is TikTok's legacy authorization link. For the current one, set tiktok.service_id in " << cfg->file.string()
                      << " to the app's service id from Partner Center (App & Service: the id under the app's name, the value after "
                         "service_id= in its authorization link) and run orderflowctl auth url again\n";
        return 0;
    }
    if (sub != "exchange" && sub != "status" && sub != "disconnect") {
        std::cerr << "usage: orderflowctl auth url|exchange CODE|status|disconnect --config FILE\n";
        return 2;
    }
    if (sub == "exchange" && a.positional.size() != 3) {
        std::cerr << "usage: orderflowctl auth exchange CODE --config FILE\n";
        return 2;
    }
    local_state st(*cfg, sub == "exchange" ? if_missing::create : if_missing::fail);
    if (sub == "exchange") {
        asio::io_context io;
        tikapi::client api(io.get_executor(), api_options(*cfg, read_secret_file(cfg->tiktok.app_secret_file)));
        std::string code = a.positional[2];
        std::optional<tikapi::result<tikapi::token_set>> outcome;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> { outcome.emplace(co_await api.get_token(code)); }, asio::detached);
        io.run();
        auto& r = *outcome;
        if (!r) {
            std::cerr << "orderflowctl: token exchange failed: " << r.error().describe() << "\n"
                      << exchange_advice(r.error(), *cfg) << "\n";
            return 1;
        }
        auto& t = r.value();
        t.obtained_at = now_seconds();   // the daemon refreshes a quarter of the token's life ahead (at most 10 min)
        st.db.transaction([&] {
            st.vault.put(token_vault_name, tikapi::serialize_tokens(t), now_seconds());
            // The running daemon takes the new tokens within seconds; status says so now.
            st.store.put_state("auth", json{{"state", "authorized"}, {"advice", ""}, {"since", now_seconds()}}.dump(), now_seconds());
            st.store.audit(now_seconds(), "orderflowctl", "auth.exchange", "", {{"seller_name", t.seller_name}, {"access_expires_at", t.access_expires_at}});
        });
        std::cout << "authorized" << (t.seller_name.empty() ? "" : " shop of " + t.seller_name) << "; access token valid until "
                  << format_time(t.access_expires_at) << ", refresh token until " << format_time(t.refresh_expires_at)
                  << "\ntokens are stored encrypted in " << cfg->storage.path.string() << "\n";
        return 0;
    }
    if (sub == "status") {
        auto stored = st.vault.get(token_vault_name);
        if (!stored) {
            std::cout << "not authorized: run orderflowctl auth url, then orderflowctl auth exchange CODE\n";
            return 1;
        }
        auto t = tikapi::parse_tokens(*stored);
        if (!t) {
            std::cout << "stored tokens are unreadable: re-authorize with orderflowctl auth exchange CODE\n";
            return 1;
        }
        auto now = now_seconds();
        std::cout << "authorized" << (t->seller_name.empty() ? "" : " (" + t->seller_name + ")") << "\n"
                  << "  access token:  " << (t->access_expires_at > now ? "valid until " : "expired at ") << format_time(t->access_expires_at) << "\n"
                  << "  refresh token: " << (t->refresh_expires_at > now || t->refresh_expires_at == 0 ? "valid until " : "expired at ") << format_time(t->refresh_expires_at) << "\n";
        if (t->refresh_expires_at != 0 && t->refresh_expires_at <= now) {
            std::cout << "the refresh token has expired: re-authorize the shop (orderflowctl auth url)\n";
            return 1;
        }
        return 0;
    }
    if (sub == "disconnect") {
        // The running daemon holds the tokens in memory too: it deletes them
        // from both at once. Only when it is not running is the database
        // changed here.
        try {
            json reply = admin_call(cfg->admin.socket, {{"argv", {"auth", "disconnect"}}, {"by", invoking_user()}});
            std::cout << reply.value("stdout", "");
            std::cerr << reply.value("stderr", "");
            return reply.value("exit", 1);
        } catch (const admin_unreachable& e) {
            if (!e.not_running()) {
                std::cerr << "orderflowctl auth disconnect: " << e.what() << "\n";
                return 1;
            }
        } catch (const std::exception& e) {
            std::cerr << "orderflowctl auth disconnect: " << e.what() << "\n";
            return 1;
        }
        bool had = false;
        st.db.transaction([&] {
            had = st.vault.erase(token_vault_name);
            st.store.audit(now_seconds(), "orderflowctl", "auth.disconnect", "", json::object());
            st.store.put_state("auth", json{{"state", "not_authorized"}, {"advice", "disconnected by orderflowctl auth disconnect"},
                                            {"since", now_seconds()}}.dump(), now_seconds());
        });
        std::cout << (had ? "tokens deleted; the daemon stops calling TikTok until the shop is authorized again\n" : "no tokens were stored\n");
        return 0;
    }
    std::cerr << "usage: orderflowctl auth url|exchange CODE|status|disconnect --config FILE\n";
    return 2;
}

}  // namespace orderflow::daemon::ctl
