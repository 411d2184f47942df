// What orderflowctl's commands share: the parsed command line, loading the
// config with its errors shown, opening the daemon's database, times for
// people, who is running the command, and the TikTok client options. Each command is one function,
// `int cmd_NAME(const args&)`, returning the exit code (0 ok, 1 failure, 2 usage).
#pragma once

#include "daemon/config.hpp"
#include "storage/database.hpp"
#include "tikapi/client.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace orderflow::daemon::ctl {

struct args {
    std::vector<std::string> positional;
    std::string config;
    int limit = 20;       // activity; review list and audit have their own defaults (limit_set says it was given)
    // rules test / rules explain
    std::string rules_dir;
    std::string event_file, order_file, previous_file, message_file;
    // review
    std::string note, by;
    bool all = false;
    bool drop_held = false;
    std::string since;   // rules coverage, audit
    bool limit_set = false;
    // buyer, audit (--order is order_file's flag: an id there)
    std::string buyer, conversation, action;
    bool json = false;
    std::string role;    // account add
};

std::int64_t now_seconds();
// A time for people, in the shop's zone (load_config_or_report sets it); "-" for 0.
std::string format_time(std::int64_t t);
// The config, or nullopt after printing its errors (or that --config is
// missing). On success the process's local zone becomes the config's
// `timezone`, so every time orderflowctl prints is in the shop's zone, as the
// daemon prints them (review list, audit).
std::optional<config> load_config_or_report(const std::string& path);
// A command's exit code when load_config_or_report gave nothing: 2 (a usage
// error) when --config was not given, 1 when the config could not be loaded.
int config_exit_code(const args& a);

// Whether the command may create the database. Only what can come before the
// daemon's first start and stores something there may: `auth exchange`
// (docs/operations.md, the setup steps) and `account add`. The rest would
// leave an empty database, owned by whoever ran them, where the daemon's
// belongs, and report on (or back up) nothing as if all were well.
enum class if_missing { fail, create };
// The daemon's database (cfg.storage.path). Throws storage_error, e.g. "no
// database at PATH: has orderflowd run here? is storage.path right?"; and,
// when the user running orderflowctl is not the file's owner and may not
// open it (staff), a std::runtime_error saying to run as the service's user
// or to go through the daemon, not storage's advice to change the file's
// modes, which is for the daemon's own user.
storage::database open_database(const config& cfg, if_missing missing = if_missing::fail);
// Who runs the command, as the audit log names them: the person behind sudo, else the login.
std::string invoking_user();

int cmd_check(const args& a);
int cmd_keygen(const args& a);
int cmd_auth(const args& a);
int cmd_status(const args& a);
int cmd_activity(const args& a);
int cmd_rules(const args& a);
int cmd_replay(const args& a);
int cmd_notify(const args& a);
int cmd_admin(const args& a);
int cmd_data_rights(const args& a);   // buyer, audit, order
int cmd_backup(const args& a);
int cmd_account(const args& a);   // account add|list|remove

}  // namespace orderflow::daemon::ctl
