// HMAC-SHA256 over libsodium's streaming API, which takes keys of any length
// (TikTok app secrets are not 32 bytes). Shared by request and webhook signing.
#pragma once

#include <string>
#include <string_view>

namespace orderflow::tikapi::detail {

// Lower-case hex of HMAC-SHA256(key, message).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

}  // namespace orderflow::tikapi::detail
