// orderflowctl commands. Output is plain text for people; errors go to
// stderr with what to do next. Secrets and tokens are never printed.
#include "daemon/ctl.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/tokens.hpp"
#include "rules/engine.hpp"
#include "rules/fixture.hpp"
#include "rules/ruleset.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>

#include <sodium.h>

#include <algorithm>
#include <chrono>
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
#include <vector>

namespace orderflow::daemon {

namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

constexpr const char* usage_text =
    "usage: orderflowctl COMMAND [ARGS] --config FILE\n"
    "\n"
    "commands:\n"
    "  check                 validate the config, rules, templates and secret files (exit 1 on any error)\n"
    "  keygen FILE           write a new vault key (32 random bytes as hex, mode 0600)\n"
    "  auth url              print the link the seller opens to authorize the app\n"
    "  auth exchange CODE    trade an authorization code for tokens and store them encrypted\n"
    "  auth status           show whether the shop is authorized and when tokens expire\n"
    "  auth disconnect       delete the stored tokens\n"
    "  status                counts of events and actions, authorization state\n"
    "  activity [--limit N]  recent events, what the rules did, and the actions' outcomes\n"
    "  rules test FILE...    run fixture files against the rules (--config FILE or --rules DIR);\n"
    "                        PASS/FAIL per case with a diff, exit 1 on any failure\n"
    "  rules explain --event FILE [--order FILE] [--previous FILE] [--message FILE]\n"
    "                        for one event, every rule: listens? matched? the first condition\n"
    "                        that failed and the value it saw; rendered texts. Sends nothing\n"
    "  rules coverage [--since 7d|TIME]\n"
    "                        how often each rule matched and acted; the rules that never fired\n"
    "  replay --since TIME [--rules DIR]\n"
    "                        the stored events since TIME through candidate rules: what would be\n"
    "                        new and what would no longer happen. Sends nothing\n"
    "  review list [--all]   the staff review queue (open and acknowledged items)\n"
    "  review show ID        one item with its evidence and the order's actions\n"
    "  review ack ID         someone is on it (--note, --by optional)\n"
    "  review resolve ID --note TEXT   close it, saying what was done (--by NAME)\n"
    "  resume [--drop-held]  continue sending after the circuit breaker paused it; --drop-held\n"
    "                        skips the messages it held instead of sending them\n"
    "  reload                re-read config and rules in the running daemon (like SIGHUP)\n"
    "  metrics               the running daemon's gauges in Prometheus text format\n"
    "  notify test CHANNEL   queue a test notification; orderflowd sends it like a review alert\n";

struct args {
    std::vector<std::string> positional;
    std::string config;
    int limit = 20;
    // rules test / rules explain
    std::string rules_dir;
    std::string event_file, order_file, previous_file, message_file;
    // review
    std::string note, by;
    bool all = false;
    bool drop_held = false;
    std::string since;   // rules coverage
};

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string format_time(std::int64_t t) {
    if (t == 0) return "-";
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    std::ostringstream out;
    out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S %z");
    return out.str();
}

std::optional<config> load_config_or_report(const std::string& path) {
    if (path.empty()) {
        std::cerr << "orderflowctl: --config FILE is required\n";
        return std::nullopt;
    }
    auto loaded = load_config(path);
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    if (!loaded.ok()) return std::nullopt;
    return std::move(*loaded.value);
}

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
        auto read = [&](const std::function<orderflow::secret()>& read_secret) {
            try {
                read_secret();
            } catch (const std::exception& e) {
                std::cout << cfg.file.string() << ": error: " << e.what() << "\n";
                ++errors;
            }
        };
        read([&] { return storage::read_vault_key(cfg.storage.vault_key_file); });
        read([&] { return read_secret_file(cfg.tiktok.app_secret_file); });
        if (cfg.admin.listen) read([&] { return read_secret_file(cfg.admin.token_file); });
        for (const auto& ch : cfg.channels)
            if (ch.type == "webhook") read([&] { return read_secret_file(ch.secret_file); });
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

// Everything `auth` needs: the database and the vault (with its key).
struct local_state {
    explicit local_state(const config& cfg)
        : db(storage::database::open(cfg.storage.path)), store(db), vault(db, storage::read_vault_key(cfg.storage.vault_key_file)) {}
    storage::database db;
    storage::store store;
    storage::vault vault;
};

tikapi::client_options client_options_for(const config& cfg) {
    tikapi::client_options o;
    auto api = tikapi::url::parse(cfg.tiktok.api_base);
    auto auth = tikapi::url::parse(cfg.tiktok.auth_base);
    if (!api || !auth) throw std::runtime_error("tiktok.api_base or tiktok.auth_base is not an http(s) URL");
    o.api_base = *api;
    o.auth_base = *auth;
    o.app_key = cfg.tiktok.app_key;
    o.app_secret = read_secret_file(cfg.tiktok.app_secret_file);
    o.shop_cipher = cfg.tiktok.shop_cipher;
    o.timeout = cfg.tiktok.timeout;
    o.tls.ca_file = cfg.tiktok.ca_file.string();
    return o;
}

// Who runs the command, as the audit log names them: the person behind sudo, else the login.
std::string invoking_user() {
    if (const char* u = std::getenv("SUDO_USER")) return u;
    if (const char* u = std::getenv("USER")) return u;
    return "";
}

int cmd_auth(const args& a) {
    std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    if (sub == "url") {
        unsigned char raw[12];
        randombytes_buf(raw, sizeof raw);
        char state[25];
        sodium_bin2hex(state, sizeof state, raw, sizeof raw);
        // The legacy form (docs/tiktok-shop-api.md §3); Partner Center also shows a services.* link per region.
        std::cout << cfg->tiktok.auth_base << "/oauth/authorize?app_key=" << tikapi::percent_encode(cfg->tiktok.app_key)
                  << "&state=" << state << "\n"
                  << "Open it as the seller, authorize, then run: orderflowctl auth exchange CODE --config " << cfg->file.string() << "\n";
        return 0;
    }
    local_state st(*cfg);
    if (sub == "exchange") {
        if (a.positional.size() != 3) {
            std::cerr << "usage: orderflowctl auth exchange CODE --config FILE\n";
            return 2;
        }
        asio::io_context io;
        tikapi::client api(io.get_executor(), client_options_for(*cfg));
        std::string code = a.positional[2];
        std::optional<tikapi::result<tikapi::token_set>> outcome;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> { outcome.emplace(co_await api.get_token(code)); }, asio::detached);
        io.run();
        auto& r = *outcome;
        if (!r) {
            std::cerr << "orderflowctl: token exchange failed: " << r.error().describe()
                      << "\nAn authorization code works once and for 30 minutes; get a new one with: orderflowctl auth url\n";
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

int cmd_status(const args& a) {
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    // No secret: staff who may not read the vault key can still see the state.
    auto db = storage::database::open(cfg->storage.path);
    storage::store store(db);
    auto counts = store.counts();
    const bool stored = storage::vault::stored(db, token_vault_name);
    std::cout << "database: " << cfg->storage.path.string() << "\n";
    // What the daemon last knew of the tokens (daemon_state "auth"), else what is stored.
    json auth = json::parse(store.get_state("auth").value_or("{}"), nullptr, false);
    const std::string auth_state = auth.is_object() ? auth.value("state", "") : "";
    // A deauthorization deletes the tokens: the daemon's word comes first.
    if (auth_state == "reauthorization_required" || auth_state == "deauthorized") {
        std::cout << "auth:     STOPPED since " << format_time(auth.value("since", std::int64_t{0})) << ": " << auth.value("advice", "")
                  << "\n";
    } else if (!stored) {
        std::cout << "auth:     not authorized (orderflowctl auth url, then orderflowctl auth exchange CODE)\n";
    } else {
        std::cout << "auth:     tokens stored" << (auth_state.empty() ? "" : "; daemon: " + auth_state) << "\n";
    }
    json cs = json::parse(store.get_state("cs_calls").value_or("{}"), nullptr, false);
    if (cs.is_object() && cs.contains("count"))
        std::cout << "tiktok:   customer-service calls on " << cs.value("day", "") << " (UTC): " << cs.value("count", 0)
                  << " of 10000\n";
    // What the next poll pass reads: changes since the cursor minus the overlap.
    for (const char* cursor : {"poll.orders", "poll.messages"})
        if (auto v = store.get_state(cursor))
            std::cout << (std::string(cursor) == "poll.orders" ? "poll:     next pass reads orders changed since "
                                                                : "          and buyer messages since ")
                      << format_time(std::stoll(*v) - cfg->poll.overlap.count()) << "\n";
    for (const char* table : {"inbox", "outbox"}) {
        std::cout << (std::string(table) == "inbox" ? "events:   " : "actions:  ");
        bool first = true;
        if (counts.contains(table))
            for (auto& [state, n] : counts[table].items()) {
                std::cout << (first ? "" : ", ") << state << " " << n.dump();
                first = false;
            }
        std::cout << (first ? "none" : "") << "\n";
    }
    auto open_reviews = store.reviews(false, 1000);
    int critical = 0;
    for (const auto& r : open_reviews) critical += r.severity == "critical";
    std::cout << "review:   " << open_reviews.size() << " open" << (critical ? " (" + std::to_string(critical) + " critical)" : "")
              << (open_reviews.empty() ? "" : "; see orderflowctl review list") << "\n";
    json rules_state = json::parse(store.get_state("rules").value_or("{}"), nullptr, false);
    if (rules_state.is_object() && rules_state.contains("in_force")) {
        const json& f = rules_state["in_force"];
        std::cout << "rules:    " << f.value("count", 0) << " in force (hash " << f.value("hash", "").substr(0, 12) << "), since "
                  << format_time(f.value("since", std::int64_t{0})) << " (" << f.value("how", "") << ")\n";
    }
    if (rules_state.is_object() && rules_state.contains("last_reload")) {
        const json& r = rules_state["last_reload"];
        std::cout << "reload:   last " << format_time(r.value("at", std::int64_t{0})) << " " << (r.value("ok", false) ? "ok" : "FAILED; the rules above stay in force");
        for (const auto& e : r.value("errors", json::array())) std::cout << "\n          " << e.get<std::string>();
        std::cout << "\n";
    }
    json breaker = json::parse(store.get_state("breaker").value_or("{}"), nullptr, false);
    if (breaker.is_object() && breaker.value("open", false))
        std::cout << "sending:  PAUSED by the circuit breaker since " << format_time(breaker.value("tripped_at", std::int64_t{0})) << ": "
                  << breaker.value("planned", 0) << " messages planned within " << breaker.value("interval_s", 0)
                  << " s (limit " << breaker.value("limit", 0) << "); check the rules, then orderflowctl resume [--drop-held]\n";
    else
        std::cout << "sending:  on\n";
    return 0;
}

// What happened, oldest first: each event with what the rules made of it, and
// each action with its outcome and text. For operators and for `make demo`.
int cmd_activity(const args& a) {
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    auto db = storage::database::open(cfg->storage.path);
    storage::store store(db);
    auto events = store.recent_events(a.limit);
    std::reverse(events.begin(), events.end());
    std::cout << "events (oldest first):\n";
    for (const auto& e : events) {
        json payload = json::parse(e.payload, nullptr, false);
        std::string detail;
        if (payload.is_object() && payload.contains("data") && payload["data"].is_object()) {
            const auto& d = payload["data"];
            if (d.contains("order_status") && d["order_status"].is_string()) detail = " -> " + d["order_status"].get<std::string>();
        }
        std::cout << "  #" << e.id << "  " << format_time(e.received_at) << "  " << e.source << "  " << e.event << detail
                  << (e.order_id.empty() ? "" : "  order " + e.order_id) << "\n"
                  << "        " << e.state << (e.note.empty() ? "" : ": " + e.note) << "\n";
    }
    auto actions = store.recent_actions(a.limit);
    std::reverse(actions.begin(), actions.end());
    std::cout << "actions (oldest first):\n";
    for (const auto& x : actions) {
        json p = json::parse(x.payload, nullptr, false);
        std::string text = p.is_object() ? p.value("text", "") : "";
        std::cout << "  #" << x.id << "  " << x.kind << " (rule " << x.rule_id << ") for order " << x.order_id << ": " << x.state
                  << (x.reason.empty() ? "" : " (" + x.reason + ")") << "\n";
        if (!text.empty()) {
            std::string indented = "        | ";
            for (char c : text) indented += c == '\n' ? std::string("\n        | ") : std::string(1, c);
            std::cout << indented << "\n";
        }
    }
    return 0;
}

// ---- rules test / rules explain ---------------------------------------------
//
// The parsing, running and comparing live in rules/fixture.hpp and
// rules::explain (unit-tested there); these functions load and print.

// The rules and the defaults for cases (the config's default locale): from
// --rules DIR, or the config's rules.dir. Diagnostics go to stderr.
struct loaded_rules {
    std::shared_ptr<const rules::ruleset> rules;
    rules::fixture_defaults defaults;
};

// The shop's UTC offset at `now` (template date filters), as the daemon
// computes it: from the config's timezone (Asia/Tokyo when there is none).
std::int64_t shop_utc_offset(const std::string& timezone, std::int64_t now) {
    ::setenv("TZ", timezone.c_str(), 1);
    ::tzset();
    return detail::local_utc_offset(now);
}

std::optional<loaded_rules> load_rules_for_tools(const args& a) {
    loaded_rules out;
    out.defaults.now = now_seconds();
    out.defaults.utc_offset = shop_utc_offset(config{}.timezone, out.defaults.now);
    std::filesystem::path dir;
    if (!a.rules_dir.empty()) {
        dir = a.rules_dir;
        if (!a.config.empty()) {
            auto cfg = load_config_or_report(a.config);
            if (!cfg) return std::nullopt;
            out.defaults.locale = cfg->rules.default_locale;
            out.defaults.utc_offset = shop_utc_offset(cfg->timezone, out.defaults.now);
        }
    } else {
        if (a.config.empty()) {
            std::cerr << "orderflowctl: --config FILE or --rules DIR is required\n";
            return std::nullopt;
        }
        auto cfg = load_config_or_report(a.config);
        if (!cfg) return std::nullopt;
        dir = cfg->rules.dir;
        out.defaults.locale = cfg->rules.default_locale;
        out.defaults.utc_offset = shop_utc_offset(cfg->timezone, out.defaults.now);
    }
    auto loaded = rules::load_directory(dir);
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    if (!loaded.ok()) {
        std::cerr << "orderflowctl: the rules in " << dir.string() << " do not load; fix them first (orderflowctl check)\n";
        return std::nullopt;
    }
    out.rules = loaded.rules;
    return out;
}

int cmd_rules_test(const args& a) {
    std::vector<std::string> files(a.positional.begin() + 2, a.positional.end());
    if (files.empty()) {
        std::cerr << "usage: orderflowctl rules test FILE... (--config FILE | --rules DIR)\n";
        return 2;
    }
    auto loaded = load_rules_for_tools(a);
    if (!loaded) return 1;
    int passed = 0, failed = 0;
    bool malformed = false;
    for (const auto& file : files) {
        auto fixture = rules::read_fixture_file(file, loaded->defaults);
        for (const auto& d : fixture.diagnostics) std::cout << d.to_string() << "\n";
        if (!fixture.ok()) {
            std::cout << file << ": malformed fixture, no case run\n";
            malformed = true;
            continue;
        }
        for (const auto& c : fixture.cases) {
            auto result = rules::run_case(*loaded->rules, c);
            if (result.passed) {
                std::cout << "PASS " << c.name << "\n";
                ++passed;
            } else {
                std::cout << "FAIL " << c.name << " (" << c.file << ":" << c.line << ":" << c.column << ")\n" << result.diff;
                ++failed;
            }
        }
    }
    std::cout << passed << " passed, " << failed << " failed\n";
    return failed == 0 && !malformed ? 0 : 1;
}

void print_indented(const std::string& text, const std::string& prefix) {
    std::string out = prefix;
    for (char c : text) out += c == '\n' ? "\n" + prefix : std::string(1, c);
    std::cout << out << "\n";
}

int cmd_rules_explain(const args& a) {
    if (a.event_file.empty() || a.positional.size() != 2) {
        std::cerr << "usage: orderflowctl rules explain --event FILE [--order FILE] [--previous FILE] [--message FILE] "
                     "(--config FILE | --rules DIR)\n";
        return 2;
    }
    auto loaded = load_rules_for_tools(a);
    if (!loaded) return 1;
    bool bad = false;
    auto event = rules::read_event_file(a.event_file, loaded->defaults);
    for (const auto& d : event.diagnostics) std::cerr << d.to_string() << "\n";
    if (!event.ctx) return 1;
    rules::context ctx = std::move(*event.ctx);
    for (auto [file, root, into] : {std::tuple{&a.order_file, "order", &ctx.order}, std::tuple{&a.previous_file, "order", &ctx.previous_order},
                                    std::tuple{&a.message_file, "message", &ctx.message}}) {
        if (file->empty()) continue;
        auto object = rules::read_object_file(*file, root);
        for (const auto& d : object.diagnostics) std::cerr << d.to_string() << "\n";
        if (object.value) {
            *into = std::move(*object.value);
        } else {
            bad = true;
        }
    }
    if (bad) return 1;

    std::cout << "event " << ctx.event << " (id " << ctx.event_id << ", now " << rules::format_utc(ctx.now) << ")";
    if (ctx.order.is_object() && ctx.order.contains("id")) std::cout << " order " << ctx.order["id"].dump();
    std::cout << "\n";
    auto traces = rules::explain(*loaded->rules, ctx);
    std::size_t matched = 0, actions = 0;
    for (const auto& t : traces) {
        std::cout << t.rule_id << " (" << t.file << ":" << t.line << ":" << t.column << "): ";
        switch (t.verdict) {
            case rules::rule_verdict::disabled: std::cout << "disabled\n"; break;
            case rules::rule_verdict::after_stop: std::cout << "not evaluated: an earlier rule stopped this event\n"; break;
            case rules::rule_verdict::not_listening: {
                std::string on;
                for (const auto& e : t.on) on += (on.empty() ? "" : ", ") + e;
                std::cout << "does not listen to " << ctx.event << " (on: " << on << ")\n";
                break;
            }
            case rules::rule_verdict::not_matched:
                std::cout << "not matched\n  first failed: " << (t.failure ? t.failure->to_string() : "?") << "\n";
                break;
            case rules::rule_verdict::matched:
                ++matched;
                std::cout << "MATCHED" << (t.shadow ? " (shadow: would be recorded, not sent)" : "") << "\n";
                for (const auto& p : t.actions) {
                    ++actions;
                    std::cout << "  " << p.kind;
                    if (p.params.is_object() && p.params.contains("template")) {
                        std::cout << " " << p.params["template"].get<std::string>() << " (" << p.params.value("locale", "") << ")";
                    }
                    if (!p.error.empty()) {
                        std::cout << ": error: " << p.error << " (would be skipped)\n";
                    } else if (p.kind == "flag_review") {
                        std::cout << " " << p.params.value("reason", "") << " (" << p.params.value("severity", "") << ")"
                                  << (p.params.value("note", "").empty() ? "" : ": " + p.params.value("note", "")) << "\n";
                    } else if (p.kind == "tag" || p.kind == "untag") {
                        std::cout << " " << p.params.value("tag", "") << "\n";
                    } else if (p.kind == "schedule") {
                        std::cout << " " << p.params.value("event", "") << " in " << p.params.value("after_s", std::int64_t{0})
                                  << " s (at " << rules::format_utc(p.params.value("fire_at", std::int64_t{0})) << ")\n";
                    } else {
                        std::cout << ":\n";
                        print_indented(p.params.value("text", ""), "    | ");
                    }
                }
                break;
        }
    }
    std::cout << matched << " of " << traces.size() << " rule(s) matched, " << actions << " action(s) planned; nothing was sent\n";
    return 0;
}

// How often each rule matched and acted over a period, and the rules that
// never fired: from the database (read only), against the rules in rules.dir.
int cmd_rules_coverage(const args& a) {
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    const std::int64_t now = now_seconds();
    std::int64_t since = now - 7 * 86400;
    if (!a.since.empty()) {
        if (auto d = parse_duration(a.since)) since = now - d->count();
        else if (auto t = rules::parse_rfc3339(a.since)) since = *t;
        else {
            std::cerr << "orderflowctl rules coverage: --since takes a duration back from now (\"7d\", \"24h\") or an RFC 3339 time, not \"" << a.since << "\"\n";
            return 2;
        }
    }
    auto loaded = rules::load_directory(cfg->rules.dir);
    for (const auto& d : loaded.diagnostics)
        if (!d.warning) std::cerr << d.to_string() << "\n";
    std::vector<std::string> ids = loaded.rules ? loaded.rules->rule_ids() : std::vector<std::string>{};
    auto db = storage::database::open(cfg->storage.path);
    storage::store store(db);
    auto cov = store.rule_coverage(since);
    std::cout << "rules coverage since " << format_time(since) << ": " << cov.events << " events processed\n";
    auto line = [&](const std::string& id, const storage::store::rule_activity* r, const char* suffix) {
        std::cout << "  " << std::left << std::setw(32) << id;
        if (!r || (r->matched == 0 && r->actions.empty())) {
            std::cout << "never fired" << suffix << "\n";
            return;
        }
        std::cout << "matched " << r->matched << " event" << (r->matched == 1 ? "" : "s");
        if (!r->actions.empty()) {
            std::cout << "; actions:";
            bool first = true;
            for (const auto& [state, n] : r->actions) {
                std::cout << (first ? " " : ", ") << state << " " << n;
                first = false;
            }
        }
        std::cout << suffix << "\n";
    };
    int never = 0;
    for (const auto& id : ids) {
        auto it = cov.rules.find(id);
        const auto* r = it == cov.rules.end() ? nullptr : &it->second;
        never += !r || (r->matched == 0 && r->actions.empty());
        line(id, r, "");
    }
    for (const auto& [id, r] : cov.rules)
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) line(id, &r, " (no longer in the rules)");
    if (never) std::cout << never << " rule" << (never == 1 ? "" : "s") << " never fired in this period\n";
    return 0;
}

// `orderflowctl replay --since TIME [--rules DIR]`: the stored events of a
// period through a candidate rule set (by default the rules in rules.dir), with
// exactly what the live rules saw (the inbox keeps each event's context), and
// what would change against what happened: actions that would be new, and
// actions that happened but would not. Reads the database; sends nothing.
int cmd_replay(const args& a) {
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    if (a.since.empty()) {
        std::cerr << "usage: orderflowctl replay --since TIME|DURATION [--rules DIR] --config FILE\n";
        return 2;
    }
    const std::int64_t now = now_seconds();
    std::int64_t since = 0;
    if (auto d = parse_duration(a.since)) since = now - d->count();
    else if (auto t = rules::parse_rfc3339(a.since)) since = *t;
    else {
        std::cerr << "orderflowctl replay: --since takes a duration back from now (\"24h\", \"7d\") or an RFC 3339 time, not \"" << a.since << "\"\n";
        return 2;
    }
    const std::filesystem::path dir = a.rules_dir.empty() ? cfg->rules.dir : std::filesystem::path(a.rules_dir);
    auto loaded = rules::load_directory(dir);
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    if (!loaded.ok()) {
        std::cerr << "orderflowctl replay: the rules in " << dir.string() << " do not load; fix them first (orderflowctl check)\n";
        return 1;
    }
    auto db = storage::database::open(cfg->storage.path);
    storage::store store(db);
    auto events = store.events_with_context(since, 1000000);

    struct candidate {
        std::string order_id, rule_id, kind, text;
        std::int64_t inbox_id = 0;
        bool shadow = false;
    };
    std::map<std::string, candidate> planned;   // idempotency key -> the first event that plans it
    std::set<std::string> actual_keys;
    std::vector<storage::action_row> actual;
    int skipped = 0;
    for (const auto& [e, context_text] : events) {
        json c = json::parse(context_text, nullptr, false);
        if (!c.is_object()) continue;
        rules::context ctx;
        ctx.event = e.event;
        ctx.event_id = e.dedupe_key;
        ctx.now = c.value("now", e.finished_at);
        ctx.utc_offset = c.value("utc_offset", std::int64_t{0});
        ctx.default_locale = c.value("locale", cfg->rules.default_locale);
        ctx.order = c.value("order", json());
        ctx.previous_order = c.value("previous_order", json());
        ctx.message = c.value("message", json());
        ctx.event_data = c.value("event_data", json::object());
        for (const auto& p : rules::evaluate(*loaded.rules, ctx).actions) {
            if (!p.error.empty()) {
                ++skipped;
                continue;
            }
            const std::string key = storage::hash_key(p.key_material);
            planned.try_emplace(key, candidate{e.order_id, p.rule_id, p.kind, p.params.value("text", ""), e.id, p.shadow});
        }
        for (auto& row : store.actions_of_event(e.id)) {
            actual_keys.insert(row.idem_key);
            actual.push_back(std::move(row));
        }
    }
    std::cout << "replay of " << events.size() << " events since " << format_time(since) << " through the rules in " << dir.string()
              << " (" << loaded.rules->size() << " rules, hash " << loaded.rules->hash() << "); nothing is sent\n";
    auto show_text = [](const std::string& text) {
        if (text.empty()) return;
        std::string indented = "      | ";
        for (char ch : text) indented += ch == '\n' ? std::string("\n      | ") : std::string(1, ch);
        std::cout << indented << "\n";
    };
    int added = 0, removed = 0, same = 0;
    for (const auto& [key, p] : planned) {
        if (actual_keys.count(key) || store.action_by_key(key)) {
            ++same;
            continue;
        }
        ++added;
        std::cout << "+ order " << (p.order_id.empty() ? "-" : p.order_id) << ": rule " << p.rule_id << " would " << p.kind
                  << (p.shadow ? " (shadow: recorded only)" : "") << " (event #" << p.inbox_id << ")\n";
        show_text(p.text);
    }
    for (const auto& row : actual) {
        if (planned.count(row.idem_key)) continue;
        ++removed;
        json pl = json::parse(row.payload, nullptr, false);
        std::cout << "- order " << (row.order_id.empty() ? "-" : row.order_id) << ": rule " << row.rule_id << " " << row.kind
                  << " would no longer happen (it was " << row.state << ", event #" << row.event_id << ")\n";
        show_text(pl.is_object() ? pl.value("text", "") : "");
    }
    std::cout << added << " new, " << removed << " no longer, " << same << " unchanged";
    if (skipped) std::cout << "; " << skipped << " could not be prepared (a value missing)";
    std::cout << "\n";
    return 0;
}

int cmd_rules(const args& a) {
    std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    if (sub == "test") return cmd_rules_test(a);
    if (sub == "explain") return cmd_rules_explain(a);
    if (sub == "coverage") return cmd_rules_coverage(a);
    std::cerr << "usage: orderflowctl rules test FILE... | rules explain --event FILE [--order FILE] ... | rules coverage [--since 7d] (--config FILE | --rules DIR)\n";
    return 2;
}

// Queues a test notification in the durable notification outbox, so the
// running daemon delivers it through the very path a review item takes.
int cmd_notify(const args& a) {
    if (a.positional.size() != 3 || a.positional[1] != "test") {
        std::cerr << "usage: orderflowctl notify test CHANNEL --config FILE\n";
        return 2;
    }
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    const std::string& name = a.positional[2];
    if (std::none_of(cfg->channels.begin(), cfg->channels.end(), [&](const auto& c) { return c.name == name; })) {
        std::cerr << "orderflowctl notify: no channel '" << name << "' in notify.channels of " << cfg->file.string() << "\n";
        return 1;
    }
    // The daemon queues it and delivers it through the very path a review
    // alert takes; with the daemon down there is nobody to deliver it.
    try {
        json reply = admin_call(cfg->admin.socket, {{"argv", {"notify", "test", name}}, {"by", invoking_user()}});
        std::cout << reply.value("stdout", "");
        std::cerr << reply.value("stderr", "");
        return reply.value("exit", 1);
    } catch (const std::exception& e) {
        std::cerr << "orderflowctl notify: " << e.what() << "; nothing was queued\n";
        return 1;
    }
}

// Commands the running daemon carries out, over the admin socket: its file
// permissions decide who may use them, and the daemon records who did.
int cmd_admin(const args& a) {
    if (a.config.empty()) {
        std::cerr << "orderflowctl " << a.positional[0] << ": --config FILE is required\n";
        return 2;
    }
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return 1;
    std::string by = a.by;
    if (by.empty()) by = invoking_user();
    json request{{"argv", a.positional}, {"note", a.note}, {"by", by}, {"all", a.all}, {"limit", a.limit}, {"drop_held", a.drop_held}};
    json reply;
    try {
        reply = admin_call(cfg->admin.socket, request);
    } catch (const std::exception& e) {
        std::cerr << "orderflowctl " << a.positional[0] << ": " << e.what() << "\n";
        return 1;
    }
    std::cout << reply.value("stdout", "");
    std::cerr << reply.value("stderr", "");
    return reply["exit"].is_number_integer() ? reply["exit"].get<int>() : 1;
}

}  // namespace

int run_orderflowctl(int argc, char** argv) {
    args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--config" && i + 1 < argc) a.config = argv[++i];
        else if (s.rfind("--config=", 0) == 0) a.config = s.substr(9);
        else if (s == "--limit" && i + 1 < argc) a.limit = std::atoi(argv[++i]);
        else if (s == "--rules" && i + 1 < argc) a.rules_dir = argv[++i];
        else if (s == "--event" && i + 1 < argc) a.event_file = argv[++i];
        else if (s == "--order" && i + 1 < argc) a.order_file = argv[++i];
        else if (s == "--previous" && i + 1 < argc) a.previous_file = argv[++i];
        else if (s == "--message" && i + 1 < argc) a.message_file = argv[++i];
        else if (s == "--note" && i + 1 < argc) a.note = argv[++i];
        else if (s == "--by" && i + 1 < argc) a.by = argv[++i];
        else if (s == "--all") a.all = true;
        else if (s == "--drop-held") a.drop_held = true;
        else if (s == "--since" && i + 1 < argc) a.since = argv[++i];
        else if (s == "--help" || s == "-h") {
            std::cout << usage_text;
            return 0;
        } else a.positional.push_back(s);
    }
    if (a.positional.empty()) {
        std::cerr << usage_text;
        return 2;
    }
    // The library's info lines (e.g. storage_migrated) are for the daemon's
    // journal; on a terminal only warnings and errors are worth showing.
    log::threshold() = log::level::warn;
    if (sodium_init() < 0) {
        std::cerr << "orderflowctl: libsodium failed to initialize\n";
        return 1;
    }
    const std::string& cmd = a.positional[0];
    try {
        if (cmd == "check") return cmd_check(a);
        if (cmd == "keygen") return cmd_keygen(a);
        if (cmd == "auth") return cmd_auth(a);
        if (cmd == "status") return cmd_status(a);
        if (cmd == "activity") return cmd_activity(a);
        if (cmd == "rules") return cmd_rules(a);
        if (cmd == "notify") return cmd_notify(a);
        if (cmd == "replay") return cmd_replay(a);
        if (cmd == "review" || cmd == "resume" || cmd == "reload" || cmd == "metrics") return cmd_admin(a);
    } catch (const std::exception& e) {
        std::cerr << "orderflowctl " << cmd << ": " << e.what() << "\n";
        return 1;
    }
    std::cerr << "orderflowctl: unknown command '" << cmd << "'\n" << usage_text;
    return 2;
}

}  // namespace orderflow::daemon
