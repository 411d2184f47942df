// orderflowctl: the operator's command line, as a table of commands. Each
// command names the flags it takes; an unknown flag, or one the command does
// not take, is an error naming it (exit 2), never a positional argument.
// The commands themselves are in ctl/: setup_commands.cpp (check, keygen,
// auth), status_commands.cpp (status, activity), rules_commands.cpp (rules
// test/explain/coverage, replay) and staff_commands.cpp (review, resume,
// reload, metrics, notify test: through the running daemon's admin socket),
// privacy_commands.cpp (buyer export/forget/refresh, order tag, audit, backup),
// account_commands.cpp (account add/list/remove: the staff console's accounts).
#include "daemon/ctl.hpp"

#include "common/log.hpp"
#include "daemon/ctl/common.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace orderflow::daemon {

namespace {

using ctl::args;

constexpr const char* usage_text =
    "usage: orderflowctl COMMAND [ARGS] --config FILE\n"
    "\n"
    "commands:\n"
    "  check                 validate the config, rules, templates and secret files, and the vault key against\n"
    "                        an existing database (read-only; exit 1 on any error)\n"
    "  keygen FILE           write a new vault key (32 random bytes as hex, mode 0600)\n"
    "  auth url              print the link the seller opens to authorize the app\n"
    "  auth exchange CODE    trade an authorization code for tokens and store them encrypted\n"
    "  auth status           show whether the shop is authorized and when tokens expire\n"
    "  auth disconnect       delete the stored tokens\n"
    "  status                whether orderflowd runs (asked on its admin socket), counts of events\n"
    "                        and actions, authorization state; exit 1 when orderflowd does not\n"
    "                        answer, and the rest is then the last known state\n"
    "  activity [--limit N]  recent events, what the rules did, and the actions' outcomes\n"
    "  rules test FILE...    run fixture files against the rules (--config FILE or --rules DIR);\n"
    "                        PASS/FAIL per case with a diff, exit 1 on any failure\n"
    "  rules explain --event FILE [--order FILE] [--previous FILE] [--message FILE]\n"
    "                        for one event, every rule: listens? matched? the first condition\n"
    "                        that failed and the value it saw; rendered texts. Sends nothing\n"
    "  rules coverage [--since 7d|TIME] [--rules DIR]\n"
    "                        how often each rule matched and acted; the rules that never fired;\n"
    "                        exit 1 when the rules do not load\n"
    "  rules replay --since TIME [--rules DIR]   (also: replay ...)\n"
    "                        the stored events since TIME through candidate rules: what would be\n"
    "                        new and what would no longer happen. Sends nothing\n"
    "  review list [--all] [--limit N]\n"
    "                        the staff review queue (open and acknowledged items), newest first;\n"
    "                        200 at most unless --limit N, and a last line says how many more\n"
    "  review show ID        one item with its evidence and the order's actions\n"
    "  review ack ID         someone is on it (--note, --by optional)\n"
    "  review resolve ID --note TEXT   close it, saying what was done (--by NAME)\n"
    "  resume [--drop-held]  continue sending after the circuit breaker paused it; --drop-held\n"
    "                        skips the messages it held instead of sending them\n"
    "  reload                re-read config and rules in the running daemon (like SIGHUP)\n"
    "  metrics               the running daemon's gauges in Prometheus text format\n"
    "  notify test CHANNEL   queue a test notification; orderflowd sends it like a review alert\n"
    "  buyer export --buyer ID | --order ID | --conversation ID\n"
    "                        everything orderflow holds about that buyer, as one JSON document\n"
    "  buyer forget (the same)   erase that buyer's personal data from every table and the WAL;\n"
    "                        keys that stop resends are kept as hashes (docs/privacy.md)\n"
    "  buyer refresh (the same)  replace the cached copies of the buyer's orders with TikTok's\n"
    "  order tag|untag ORDER TAG correct the tags of an order orderflow has seen (audited)\n"
    "  audit [--since 7d|TIME] [--order ID] [--buyer ID] [--action NAME] [--limit N] [--json]\n"
    "                        who did what when: sends, shipping updates, reviews, resumes, reloads,\n"
    "                        auth changes, exports, forgets, backups (oldest first)\n"
    "  backup FILE           a consistent copy of the database, taken while orderflowd runs (mode 0600)\n"
    "  account add NAME --role staff|operator\n"
    "                        add a staff console account, or give an existing one a new role and\n"
    "                        password; the password is asked for twice (one line of stdin when it is\n"
    "                        not a terminal) and only its Argon2id hash leaves orderflowctl\n"
    "  account list          the console accounts: name, role, created, updated\n"
    "  account remove NAME   delete a console account\n";


// Flags that take a value, and flags that stand alone.
const std::set<std::string> value_flags = {"--config", "--limit", "--rules", "--event", "--order", "--previous", "--message",
                                           "--note", "--by", "--since", "--buyer", "--conversation", "--action",
                                           "--role"};
const std::set<std::string> switch_flags = {"--all", "--drop-held", "--json"};

struct command {
    const char* name;
    std::set<std::string> flags;   // besides --config and --help
    std::function<int(const args&)> run;
};

const std::vector<command>& commands() {
    static const std::vector<command> table = {
        {"check", {}, ctl::cmd_check},
        {"keygen", {}, ctl::cmd_keygen},
        {"auth", {}, ctl::cmd_auth},
        {"status", {}, ctl::cmd_status},
        {"activity", {"--limit"}, ctl::cmd_activity},
        {"rules", {"--rules", "--event", "--order", "--previous", "--message", "--since"}, ctl::cmd_rules},
        {"replay", {"--since", "--rules"}, ctl::cmd_replay},
        {"notify", {}, ctl::cmd_notify},
        {"review", {"--note", "--by", "--all", "--limit"}, ctl::cmd_admin},
        {"resume", {"--drop-held", "--by"}, ctl::cmd_admin},
        {"reload", {}, ctl::cmd_admin},
        {"metrics", {}, ctl::cmd_admin},
        {"buyer", {"--buyer", "--order", "--conversation", "--by"}, ctl::cmd_data_rights},
        {"audit", {"--since", "--order", "--buyer", "--action", "--limit", "--json"}, ctl::cmd_data_rights},
        {"order", {"--by"}, ctl::cmd_data_rights},
        {"backup", {"--by"}, ctl::cmd_backup},
        {"account", {"--role", "--by"}, ctl::cmd_account},
    };
    return table;
}

int usage_error(const std::string& what) {
    std::cerr << "orderflowctl: " << what << "; orderflowctl --help lists the commands and their flags\n";
    return 2;
}

}  // namespace

int run_orderflowctl(int argc, char** argv) {
    args a;
    std::vector<std::string> given_flags;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--help" || s == "-h") {
            std::cout << usage_text;
            return 0;
        }
        if (s.size() > 1 && s[0] == '-') {
            std::string name = s, value;
            const bool inline_value = s.rfind("--", 0) == 0 && s.find('=') != std::string::npos;
            if (inline_value) {
                name = s.substr(0, s.find('='));
                value = s.substr(s.find('=') + 1);
            }
            if (value_flags.count(name)) {
                if (!inline_value) {
                    if (i + 1 >= argc) return usage_error(name + " needs a value");
                    value = argv[++i];
                }
            } else if (switch_flags.count(name)) {
                if (inline_value) return usage_error(name + " takes no value");
            } else {
                return usage_error("unknown flag '" + name + "'");
            }
            given_flags.push_back(name);
            if (name == "--config") a.config = value;
            else if (name == "--limit") {
                char* end = nullptr;
                const long n = std::strtol(value.c_str(), &end, 10);
                if (value.empty() || *end != '\0' || n <= 0) return usage_error("--limit needs a positive number, not '" + value + "'");
                a.limit = static_cast<int>(n);
                a.limit_set = true;
            } else if (name == "--rules") a.rules_dir = value;
            else if (name == "--event") a.event_file = value;
            else if (name == "--order") a.order_file = value;
            else if (name == "--previous") a.previous_file = value;
            else if (name == "--message") a.message_file = value;
            else if (name == "--note") a.note = value;
            else if (name == "--by") a.by = value;
            else if (name == "--since") a.since = value;
            else if (name == "--buyer") a.buyer = value;
            else if (name == "--conversation") a.conversation = value;
            else if (name == "--action") a.action = value;
            else if (name == "--role") a.role = value;
            else if (name == "--json") a.json = true;
            else if (name == "--all") a.all = true;
            else if (name == "--drop-held") a.drop_held = true;
            continue;
        }
        a.positional.push_back(s);
    }
    if (a.positional.empty()) {
        std::cerr << usage_text;
        return 2;
    }
    const std::string& cmd = a.positional[0];
    auto it = std::find_if(commands().begin(), commands().end(), [&](const command& c) { return cmd == c.name; });
    if (it == commands().end()) return usage_error("unknown command '" + cmd + "'");
    for (const auto& f : given_flags) {
        if (f == "--config" || it->flags.count(f)) continue;
        std::string takes;
        for (const auto& ok : it->flags) takes += (takes.empty() ? "" : ", ") + ok;
        std::cerr << "orderflowctl " << cmd << ": it does not take " << f << " (it takes --config"
                  << (takes.empty() ? "" : ", " + takes) << ")\n";
        return 2;
    }
    // The library's info lines (e.g. storage_migrated) are for the daemon's
    // journal; on a terminal only warnings and errors are worth showing.
    log::threshold() = log::level::warn;
    if (sodium_init() < 0) {
        std::cerr << "orderflowctl: libsodium failed to initialize\n";
        return 1;
    }
    try {
        return it->run(a);
    } catch (const std::exception& e) {
        std::cerr << "orderflowctl " << cmd << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace orderflow::daemon
