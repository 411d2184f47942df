// Secrets at rest: access and refresh tokens are stored encrypted in the
// `vault` table (libsodium crypto_secretbox_easy: XSalsa20-Poly1305, a fresh
// random nonce per write), under a 32-byte key read from a file that only the
// service may read (DESIGN.md, "Privacy and security").
//
// Plaintext only ever exists in orderflow::secret holders; it is never
// written to the database file, its WAL, or an error message.
#pragma once

#include "common/secret.hpp"
#include "storage/database.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

namespace orderflow::storage {

// Reads a vault key file: 64 hex characters (+ an optional newline) -> 32 raw
// bytes. Throws std::runtime_error naming the file and saying what to do when
// the file is missing, is not a regular file, is readable or writable by
// group/others, or is malformed. The message never contains key material.
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
    // nullopt when there is no entry. Throws storage_error "cannot decrypt
    // ... wrong vault key?" when the entry does not authenticate.
    std::optional<orderflow::secret> get(std::string_view name);
    // true when an entry was removed.
    bool erase(std::string_view name);

private:
    database& db_;
    orderflow::secret key_;
};

}  // namespace orderflow::storage
