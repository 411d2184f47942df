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
#include <string_view>
#include <vector>

namespace orderflow::storage {
class database;
class store;
struct review_item;
}  // namespace orderflow::storage

namespace orderflow::daemon {

struct review_args {
    std::vector<std::string> positional;   // "review", subcommand, [ID]
    std::string note;
    std::string by;                        // who acts, as they say
    std::string peer;                      // who is on the other end of the socket (uid's name)
    bool all = false;                      // list: include resolved items
    int limit = 200;                       // list: the newest this many (the staff console shows 200 too)
};

// Runs one review subcommand against the database; output for people on
// `out`, problems on `err`. A list cut at the limit ends with how many more
// items there are and the --limit that shows them all. Returns the exit
// code: 0 ok, 1 failure (e.g. no such item), 2 usage (an extra argument
// too). Throws storage_error when the database fails.
int review_command(storage::database& db, storage::store& store, const review_args& args, std::ostream& out,
                   std::ostream& err, std::int64_t now);

// Acknowledges (verb "ack") or resolves ("resolve") an item and writes the
// audit entry (`actor` "orderflowctl" or "console"; by: who acted, peer:
// where from), in one transaction. Returns "" when done, else why not (a
// resolution without a note, an item already resolved). The one path both
// orderflowctl and the staff console take.
std::string settle_review(storage::database& db, storage::store& store, const storage::review_item& item, std::string_view verb,
                          std::string_view actor, const std::string& by, const std::string& peer, const std::string& note,
                          std::int64_t now);

}  // namespace orderflow::daemon
