// HMAC-SHA256 (RFC 2104) for request and webhook signing. Keys of any length
// (TikTok app secrets are not 32 bytes); the message may come in pieces, so
// a webhook's "app_key + body" is signed without first copying the body.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace orderflow::tikapi::detail {

// Lower-case hex of HMAC-SHA256(key, the pieces of the message in order).
std::string hmac_sha256_hex(std::string_view key, std::initializer_list<std::string_view> message);

inline std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    return hmac_sha256_hex(key, {message});
}

}  // namespace orderflow::tikapi::detail
