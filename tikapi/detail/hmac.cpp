// HMAC-SHA256 with libsodium (see detail/hmac.hpp).
#include "tikapi/detail/hmac.hpp"

#include <sodium.h>

#include <stdexcept>

namespace orderflow::tikapi::detail {

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    static const bool initialized = sodium_init() >= 0;
    if (!initialized) throw std::runtime_error("libsodium failed to initialize");

    crypto_auth_hmacsha256_state state;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_memzero(&state, sizeof state);

    char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    return std::string(hex, crypto_auth_hmacsha256_BYTES * 2);
}

}  // namespace orderflow::tikapi::detail
