// What orderflowctl's commands share: the parsed command line, loading the
// config with its errors shown, times for people, who is running the command,
// and the TikTok client options. Each command is one function,
// `int cmd_NAME(const args&)`, returning the exit code (0 ok, 1 failure, 2 usage).
#pragma once

#include "daemon/config.hpp"
#include "tikapi/client.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace orderflow::daemon::ctl {

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
    std::string since;   // rules coverage, audit
    bool limit_set = false;
    // buyer, audit (--order is order_file's flag: an id there)
    std::string buyer, conversation, action;
    bool json = false;
    std::string role;    // account add
};

std::int64_t now_seconds();
// A time for people, in the local zone; "-" for 0.
std::string format_time(std::int64_t t);
// The config, or nullopt after printing its errors (or that --config is missing).
std::optional<config> load_config_or_report(const std::string& path);
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
