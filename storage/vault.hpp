// Secrets at rest: access and refresh tokens are stored encrypted in the
// `vault` table (libsodium crypto_secretbox_easy: XSalsa20-Poly1305, a fresh
// random nonce per write), under a 32-byte key read from a file that only the
// service may read (docs/architecture.md, "Privacy and security").
//
// Plaintext only ever exists in orderflow::secret holders; it is never
// written to the database file, its WAL, or an error message.
#pragma once

#include "common/secret.hpp"
#include "storage/database.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

namespace orderflow::storage {

// Another vault key than the database's own: a vault entry that does not
// decrypt (vault::get), or idempotency keys made with another key
// (check_idempotency_key, storage/idempotency.hpp). No restart can fix it:
// orderflowd exits 78, which its unit does not restart on.
class wrong_key_error : public storage_error {
public:
    using storage_error::storage_error;
};

// The one rule for every secret file (the vault key, the app secret, the
// admin token, notification HMAC keys): reads at most max_bytes of `file`.
// Throws std::runtime_error, starting with config_key (the config key that
// names the file, e.g. "tiktok.app_secret_file") and naming the file, never
// its content, when the file does not exist or holds nothing but whitespace
// (the message then ends with `advice`: how to create it), cannot be read,
// is not a regular file, or is readable or writable by group or others.
// A result of exactly max_bytes may mean the file is longer: the caller judges.
orderflow::secret read_secret_bytes(const std::filesystem::path& file, std::string_view config_key, std::string_view advice,
                                    std::size_t max_bytes);

// Reads a vault key file (config key storage.vault_key_file) under the rule
// above: 64 hex characters (+ an optional newline) -> 32 raw bytes. Throws
// std::runtime_error naming the key and file and saying what to do when the
// rule refuses the file or it is malformed. The message never contains key
// material.
orderflow::secret read_vault_key(const std::filesystem::path& file);

// Writes a new random key (32 bytes as 64 hex characters and a newline) to a
// new file created with mode 0600. Refuses (std::runtime_error) to overwrite
// an existing file: replacing a key makes every stored secret unreadable.
void write_vault_key(const std::filesystem::path& file);

class vault {
public:
    // key: exactly 32 bytes (std::invalid_argument otherwise). db must
    // outlive the vault.
    vault(database& db, orderflow::secret key);

    // Encrypts and stores (replacing any previous value under name).
    void put(std::string_view name, const orderflow::secret& plaintext, std::int64_t now);
    // nullopt when there is no entry. Throws wrong_key_error "cannot
    // decrypt ... wrong vault key?" when the entry does not authenticate.
    std::optional<orderflow::secret> get(std::string_view name);
    // true when an entry was removed.
    bool erase(std::string_view name);
    // Whether an entry exists, without the key: for `orderflowctl status`,
    // which staff may run without being able to read the key file.
    static bool stored(database& db, std::string_view name);
    // A 32-byte key derived from the vault key for another use, named by
    // `purpose` (BLAKE2b keyed with the vault key): the vault key itself is
    // used for nothing but the vault.
    orderflow::secret derived_key(std::string_view purpose) const;

private:
    database& db_;
    orderflow::secret key_;
};

}  // namespace orderflow::storage
