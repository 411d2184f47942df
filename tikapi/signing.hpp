// TikTok Shop Open API request signing, exactly as docs/tiktok-shop-api.md §2
// describes it: sorted query parameters (without "sign" and "access_token")
// as key+value, prefixed by the request path, followed by the body, wrapped
// in the app secret on both sides, HMAC-SHA256 keyed with the app secret,
// lower-case hex. The client signs with it and the sandbox verifies with it.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace orderflow::tikapi {

// `query` holds decoded values (sign what the server decodes, percent-encode
// only on the wire); `body` is the exact bytes sent, empty for GET.
std::string sign_request(std::string_view app_secret, std::string_view path,
                         const std::map<std::string, std::string>& query,
                         std::string_view body);

// The string that sign_request feeds to HMAC, for diagnostics and tests.
// It contains the app secret: never log it.
std::string string_to_sign(std::string_view app_secret, std::string_view path,
                           const std::map<std::string, std::string>& query,
                           std::string_view body);

// Lower-case hex HMAC-SHA256 (keys of any length).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// Constant-time comparison of two signatures given as hex; case and
// surrounding whitespace of `received` are ignored. False on any length
// mismatch or non-hex input.
bool signature_equals(std::string_view expected_hex, std::string_view received);

}  // namespace orderflow::tikapi
