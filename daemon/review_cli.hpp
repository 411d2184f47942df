// `orderflowctl review`: the staff review queue (list, show, ack, resolve).
//
// The command runs inside orderflowd, on a request over the admin socket
// (daemon/admin.hpp), so that the socket's file permissions, not the
// database's, decide who may use it, and so that the daemon, which knows
// who is on the other end of the socket, records who acted.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace orderflow::storage {
class database;
class store;
}  // namespace orderflow::storage

namespace orderflow::daemon {

struct review_args {
    std::vector<std::string> positional;   // "review", subcommand, [ID]
    std::string note;
    std::string by;                        // who acts, as they say
    std::string peer;                      // who is on the other end of the socket (uid's name)
    bool all = false;                      // list: include resolved items
    int limit = 50;
};

// Runs one review subcommand against the database; output for people on
// `out`, problems on `err`. Returns the exit code: 0 ok, 1 failure (e.g. no
// such item), 2 usage. Throws storage_error when the database fails.
int review_command(storage::database& db, storage::store& store, const review_args& args, std::ostream& out,
                   std::ostream& err, std::int64_t now);

}  // namespace orderflow::daemon
