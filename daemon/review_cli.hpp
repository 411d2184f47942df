// `orderflowctl review`: the staff review queue (list, show, ack, resolve).
//
// For now it works on the database directly; the daemon's admin socket
// (issue 5) will carry the same commands so that file permissions on the
// socket, not on the database, decide who may use them.
#pragma once

#include <string>
#include <vector>

namespace orderflow::daemon {

struct review_args {
    std::vector<std::string> positional;   // "review", subcommand, [ID]
    std::string config;
    std::string note;
    std::string by;                        // who acts; default $USER
    bool all = false;                      // list: include resolved items
    int limit = 50;
};

// Returns the exit code: 0 ok, 1 failure (e.g. no such item), 2 usage.
int run_review_command(const review_args& args);

}  // namespace orderflow::daemon
