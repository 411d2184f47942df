// orderflowctl buyer, audit, order tag|untag and backup: the buyer's requests,
// the record of who did what, and copies of the database (docs/privacy.md,
// docs/operations.md). The first three go to the running daemon over the
// admin socket (its permissions decide who may; it records who did) and,
// when no daemon is running, run here against the database directly.
#include "daemon/ctl/common.hpp"

#include "common/duration.hpp"
#include "daemon/admin.hpp"
#include "daemon/data_rights.hpp"
#include "rules/fixture.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"

#include <iostream>

namespace orderflow::daemon::ctl {

using json = nlohmann::json;

int cmd_data_rights(const args& a) {
    const std::string& cmd = a.positional[0];
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    std::int64_t since = 0;
    if (!a.since.empty()) {
        if (auto d = parse_duration(a.since)) since = now_seconds() - d->count();
        else if (auto t = rules::parse_rfc3339(a.since)) since = *t;
        else {
            std::cerr << "orderflowctl " << cmd << ": --since takes a duration back from now (\"7d\", \"24h\") or an RFC 3339 time, not \""
                      << a.since << "\"\n";
            return 2;
        }
    }
    const int limit = a.limit_set ? a.limit : 50;
    const std::string by = a.by.empty() ? invoking_user() : a.by;
    if (cmd == "buyer" && (a.positional.size() != 2 || (a.positional[1] != "export" && a.positional[1] != "forget" &&
                                                         a.positional[1] != "refresh"))) {
        std::cerr << "usage: orderflowctl buyer export|forget|refresh --buyer ID | --order ID | --conversation ID --config FILE\n";
        return 2;
    }
    json request{{"argv", a.positional}, {"by", by}, {"buyer", a.buyer}, {"order", a.order_file}, {"conversation", a.conversation},
                 {"action", a.action}, {"since", since}, {"limit", limit}, {"json", a.json}};
    try {
        // An export can be large: the daemon gets longer to answer.
        json reply = admin_call(cfg->admin.socket, request, std::chrono::seconds(120));
        std::cout << reply.value("stdout", "");
        std::cerr << reply.value("stderr", "");
        return reply["exit"].is_number_integer() ? reply["exit"].get<int>() : 1;
    } catch (const admin_unreachable& e) {
        if (!e.not_running()) {
            std::cerr << "orderflowctl " << cmd << ": " << e.what() << "\n";
            return 1;
        }
    }
    if (cmd == "buyer" && a.positional[1] == "refresh") {
        std::cerr << "orderflowctl buyer refresh: orderflowd is not running, and the refresh reads the orders from TikTok "
                     "through it; start it (systemctl start orderflow) and run this again\n";
        return 1;
    }
    // No daemon: the same command, here.
    auto db = open_database(*cfg);
    storage::store store(db);
    data_request r{a.positional, by, a.buyer, a.order_file, a.conversation, a.action, since, limit, a.json,
                   cfg->privacy.suppress_forgotten, cfg->retention.forget_records().count()};
    const orderflow::secret key = forget_key(storage::vault(db, storage::read_vault_key(cfg->storage.vault_key_file)));
    return data_rights_command(db, store, key, r, std::cout, std::cerr, now_seconds());
}

// A consistent copy of the database, taken while orderflowd runs.
int cmd_backup(const args& a) {
    if (a.positional.size() != 2) {
        std::cerr << "usage: orderflowctl backup FILE --config FILE\n";
        return 2;
    }
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    // Never of a database made here: a nightly backup with a mistyped path
    // would otherwise copy an empty one, successfully, every night.
    auto db = open_database(*cfg);
    const std::int64_t bytes = db.backup_to(a.positional[1]);
    // Who took a copy of everyone's data, and where to.
    db.transaction([&] {
        storage::store(db).audit(now_seconds(), "orderflowctl", "backup", "",
                                 {{"by", a.by.empty() ? invoking_user() : a.by}, {"file", a.positional[1]}, {"bytes", bytes}});
    });
    std::cout << "backed up " << cfg->storage.path.string() << " to " << a.positional[1] << " (" << bytes
              << " bytes, mode 0600, integrity checked; the tokens in it stay encrypted with the vault key, which is not in it)\n";
    return 0;
}

}  // namespace orderflow::daemon::ctl
