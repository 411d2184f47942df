// `orderflowctl account`: the staff console's named accounts
// (storage/accounts.hpp; docs/operations.md, "Console accounts"):
//
//   account add NAME --role staff|operator   (a new account, or a new role
//                                             and password for one)
//   account list
//   account remove NAME
//
// Like `review`, this runs inside orderflowd on a request over the admin
// socket (an operator command there: the socket's permissions and
// admin.operators decide who may, the daemon records who did), or, when the
// daemon is not running, in orderflowctl against the database directly: the
// same function either way. It never sees a password: orderflowctl hashes
// it (storage::hash_password) before anything leaves the process, and `add`
// takes only a hash that looks like one it made.
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

struct account_request {
    std::vector<std::string> argv;   // "account", "add"|"list"|"remove", [NAME]
    std::string role;                // add: staff | operator
    std::string password_hash;       // add: storage::hash_password's string
    std::string by;                  // who acts, as they say (or the socket's user)
};

// Runs one account subcommand; output for people on `out` (never a hash),
// problems on `err`. Returns the exit code: 0 ok, 1 failure (remove: no
// such account), 2 usage (a bad name, role or hash). Every add and remove is
// recorded in the audit log, in the same transaction (account.add,
// account.remove: who, which account, its role; never the hash). Throws
// storage_error when the database fails.
int account_command(storage::database& db, storage::store& store, const account_request& r, std::ostream& out,
                    std::ostream& err, std::int64_t now);

}  // namespace orderflow::daemon
