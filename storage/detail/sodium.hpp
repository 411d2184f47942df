// libsodium must be initialised once before use; sodium_init() is
// idempotent and thread-safe, so every entry point that uses libsodium calls
// ensure_sodium() first instead of relying on main() to remember it.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace orderflow::storage::detail {

inline void ensure_sodium() {
    static const bool ready = sodium_init() >= 0;
    if (!ready) throw std::runtime_error("libsodium failed to initialise (sodium_init); cannot hash or encrypt");
}

// BLAKE2b of `material` keyed with `key`, `bytes` long (16 to 64), as
// lowercase hex: the keyed hashes a forget and the idempotency keys keep.
inline std::string keyed_hex(std::span<const unsigned char> key, std::string_view material, std::size_t bytes) {
    ensure_sodium();
    unsigned char digest[crypto_generichash_BYTES_MAX];
    crypto_generichash(digest, bytes, reinterpret_cast<const unsigned char*>(material.data()), material.size(), key.data(), key.size());
    char hex[crypto_generichash_BYTES_MAX * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, digest, bytes);
    return std::string(hex, bytes * 2);
}

}  // namespace orderflow::storage::detail
