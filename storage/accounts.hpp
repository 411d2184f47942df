// The staff console's named accounts (docs/operations.md, "Console
// accounts"): a name, a role and a password hash, in the database's
// console_accounts table. A password is never stored or passed around in
// the clear beyond the call that hashes or checks it: hash_password makes a
// libsodium crypto_pwhash string (Argon2id, the library's interactive
// limits, its own random salt), check_password verifies one in constant time.
//
// Roles: "staff" review and look orders up; "operator" may also resume
// sending, reload and run what changes the daemon. A session re-reads its
// account on every request, so removing an account or changing its role takes
// effect at once.
#pragma once

#include "storage/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::storage {

struct account {
    std::string name;
    std::string role;            // staff | operator
    std::string password_hash;   // crypto_pwhash_str's "$argon2id$..." string
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
};

// "" when `name` may name an account: 1 to 64 of a-z, 0-9, '.', '_', '-',
// starting with a letter or digit; otherwise what is wrong with it.
std::string account_name_problem(std::string_view name);
// True for "staff" and "operator".
bool valid_role(std::string_view role);
// "" when the password is acceptable (at least 12 bytes, at most 1024);
// otherwise what is wrong with it (never the password itself).
std::string password_problem(std::string_view password);

// crypto_pwhash_str with OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE: takes
// a tenth of a second or so and 64 MiB while it runs; call it off any event
// loop. Throws std::runtime_error when libsodium runs out of memory.
std::string hash_password(std::string_view password);
// True when the password matches the hash (crypto_pwhash_str_verify); false
// for a malformed hash. Same cost as hash_password.
bool check_password(std::string_view password_hash, std::string_view password);
// True when `text` has the shape of a hash_password result (the admin socket
// takes hashes made by orderflowctl and refuses anything else).
bool looks_like_password_hash(std::string_view text);

// Adds the account, or replaces the role and hash of the one with that name
// (created_at stays). Returns true when it is new. The caller checks the
// name, role and hash. Runs in the caller's transaction when one is open
// (so an audit entry can commit with it), else in its own.
bool put_account(database& db, const account& a, std::int64_t now);
std::optional<account> get_account(database& db, std::string_view name);
std::vector<account> list_accounts(database& db);   // by name
// True when there was one.
bool remove_account(database& db, std::string_view name);

}  // namespace orderflow::storage
