// orderflowctl rules test / explain / coverage and replay: the operator's tools for rules. They send nothing.
#include "daemon/ctl/common.hpp"

#include "daemon/events.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/context.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/tokens.hpp"
#include "rules/engine.hpp"
#include "rules/fixture.hpp"
#include "rules/ruleset.hpp"
#include "daemon/data_rights.hpp"
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
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>


namespace orderflow::daemon::ctl {

namespace asio = boost::asio;
using json = nlohmann::json;

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
    if (!loaded) return a.config.empty() && a.rules_dir.empty() ? 2 : 1;   // neither given: a usage error
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

// "timer.sla.shipping_soon at 2026-11-26T01:00:00Z (6 h before order.rts_sla_time,
// 2026-11-26T07:00:00Z)", saying when the time has already passed.
std::string schedule_from_deadline(const nlohmann::json& p, std::int64_t now) {
    const auto offset = p.value("offset_s", std::int64_t{0});
    const auto fire_at = p.value("fire_at", std::int64_t{0});
    std::string distance = offset == 0 ? "at" : spoken(std::chrono::seconds(offset < 0 ? -offset : offset)) + (offset < 0 ? " before" : " after");
    return p.value("event", "") + " at " + rules::format_utc(fire_at) + " (" + distance + " " + p.value("at", "") + ", " +
           rules::format_utc(p.value("anchor", std::int64_t{0})) + ")" + (fire_at <= now ? "; already past: fires at once" : "");
}

int cmd_rules_explain(const args& a) {
    if (a.event_file.empty() || a.positional.size() != 2) {
        std::cerr << "usage: orderflowctl rules explain --event FILE [--order FILE] [--previous FILE] [--message FILE] "
                     "(--config FILE | --rules DIR)\n";
        return 2;
    }
    auto loaded = load_rules_for_tools(a);
    if (!loaded) return a.config.empty() && a.rules_dir.empty() ? 2 : 1;   // neither given: a usage error
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
                std::cout << "MATCHED" << (t.shadow ? " (shadow: would be recorded, not sent)" : "")
                          << (t.would_stop ? " (its stop applies once it is live: the rules after it would not run)" : "") << "\n";
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
                    } else if (p.kind == "schedule" && p.params.contains("at")) {
                        std::cout << " " << schedule_from_deadline(p.params, ctx.now) << "\n";
                    } else if (p.kind == "schedule") {
                        std::cout << " " << p.params.value("event", "") << " in " << p.params.value("after_s", std::int64_t{0})
                                  << " s (at " << rules::format_utc(p.params.value("fire_at", std::int64_t{0})) << ")\n";
                    } else if (p.kind == "capture") {
                        // What would be kept, and from which message: the buyer's words, as a message's text is shown.
                        std::cout << " order.attributes." << p.params.value("attribute", "") << " from message "
                                  << p.params.value("message_id", "") << ":\n";
                        print_indented(p.params.value("value", ""), "    | ");
                    } else if (p.kind == "update_tracking") {
                        const std::string package = p.params.value("package_id", "");
                        std::cout << " " << p.params.value("carrier", "") << " " << p.params.value("tracking_number", "")
                                  << (package.empty() ? " (the order's package)" : " (package " + package + ")") << "\n";
                    } else if (p.params.is_object() && p.params.contains("text")) {
                        std::cout << ":\n";
                        print_indented(p.params.value("text", ""), "    | ");
                    } else {
                        std::cout << " " << p.params.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
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
    if (!cfg) return config_exit_code(a);
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
    // Rules that do not load have no ids to count against: every rule would
    // look removed. Refused as check refuses them, with the same errors.
    const std::filesystem::path dir = a.rules_dir.empty() ? cfg->rules.dir : std::filesystem::path(a.rules_dir);
    auto loaded = rules::load_directory(dir);
    if (!loaded.ok()) {
        int errors = 0, warnings = 0;
        for (const auto& d : loaded.diagnostics) {
            std::cerr << d.to_string() << "\n";
            (d.warning ? warnings : errors)++;
        }
        std::cerr << errors << " error(s), " << warnings << " warning(s)\n"
                  << "orderflowctl rules coverage: the rules in " << dir.string()
                  << " do not load, so their coverage cannot be shown; fix them first (orderflowctl check)\n";
        return 1;
    }
    std::vector<std::string> ids = loaded.rules->rule_ids();
    auto db = open_database(*cfg);
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
    if (!cfg) return config_exit_code(a);
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
    auto db = open_database(*cfg);
    storage::store store(db);
    // Idempotency keys are hashed with a key derived from the vault's
    // (storage/idempotency.hpp): the planned actions' keys are made as
    // orderflowd makes them. In a database orderflowd has not yet converted
    // (a copy from before version 22), the actions after the conversion's
    // mark still have plain keys, and are compared in their keyed form.
    const orderflow::secret hash_key = storage::idempotency_key(storage::vault(db, storage::read_vault_key(cfg->storage.vault_key_file)));
    const auto hash_key_bytes = key_bytes(hash_key);
    storage::check_idempotency_key(db, hash_key_bytes, false);
    const std::int64_t keyed_through = storage::actions_keyed_through(db);
    auto stored_key = [&](const storage::action_row& row) {
        return row.id <= keyed_through ? row.idem_key : storage::keyed_hash(hash_key_bytes, row.idem_key);
    };
    auto stored = [&](const std::string& material) {
        if (store.action_by_key(storage::idempotency_hash(hash_key_bytes, material))) return true;
        return keyed_through < std::numeric_limits<std::int64_t>::max() && store.action_by_key(storage::hash_key(material));
    };
    auto events = store.events_with_context(since, 1000000);

    struct candidate {
        std::string order_id, rule_id, kind, text, error, material;
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
        rules::context ctx = context_from_json(c, e, cfg->rules.default_locale);
        // An action that cannot be prepared is planned too, as the daemon
        // records it: skipped, under its per-event key. Left out, every
        // such skip the daemon recorded would look like an action the
        // candidate drops.
        for (const auto& p : rules::evaluate(*loaded.rules, ctx).actions) {
            if (!p.error.empty()) ++skipped;
            const std::string key = storage::idempotency_hash(hash_key_bytes, p.key_material);
            planned.try_emplace(key, candidate{e.order_id, p.rule_id, p.kind, p.params.value("text", ""), p.error, p.key_material, e.id,
                                               p.shadow});
        }
        for (auto& row : store.actions_of_event(e.id)) {
            row.idem_key = stored_key(row);
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
        if (actual_keys.count(key) || stored(p.material)) {
            ++same;
            continue;
        }
        ++added;
        std::cout << "+ order " << (p.order_id.empty() ? "-" : p.order_id) << ": rule " << p.rule_id;
        if (!p.error.empty()) {
            std::cout << " " << p.kind << " would be skipped: " << p.error << (p.shadow ? " (shadow)" : "") << " (event #" << p.inbox_id
                      << ")\n";
            continue;
        }
        std::cout << " would " << p.kind << (p.shadow ? " (shadow: recorded only)" : "") << " (event #" << p.inbox_id << ")\n";
        show_text(p.text);
    }
    for (const auto& row : actual) {
        if (planned.count(row.idem_key)) continue;
        ++removed;
        json pl = json::parse(row.payload, nullptr, false);
        std::cout << "- order " << (row.order_id.empty() ? "-" : row.order_id) << ": rule " << row.rule_id << " " << row.kind
                  << " would no longer happen (it was " << row.state << (row.reason.empty() ? "" : ": " + row.reason) << ", event #"
                  << row.event_id << ")\n";
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
    if (sub == "replay") return cmd_replay(a);   // also `orderflowctl replay`
    std::cerr << "usage: orderflowctl rules test FILE... | rules explain --event FILE [--order FILE] ... (--config FILE | --rules DIR)\n"
                 "       orderflowctl rules coverage [--since 7d] [--rules DIR] --config FILE\n"
                 "       orderflowctl rules replay --since TIME [--rules DIR] --config FILE\n";
    return 2;
}

}  // namespace orderflow::daemon::ctl
