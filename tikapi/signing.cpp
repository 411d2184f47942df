// Request signing (docs/tiktok-shop-api.md §2) and constant-time signature
// comparison shared with webhook verification.
#include "tikapi/signing.hpp"

#include "tikapi/detail/hmac.hpp"

#include <sodium.h>

#include <array>
#include <cctype>

namespace orderflow::tikapi {

std::string string_to_sign(std::string_view app_secret, std::string_view path,
                           const std::map<std::string, std::string>& query,
                           std::string_view body) {
    std::string s;
    s.reserve(app_secret.size() * 2 + path.size() + body.size() + 64);
    s.append(app_secret);
    s.append(path);
    // std::map iterates keys in byte order, the order Go's sort.Slice and
    // Java's Collections.sort give for ASCII parameter names.
    for (const auto& [key, value] : query) {
        if (key == "sign" || key == "access_token") continue;
        s.append(key);
        s.append(value);
    }
    s.append(body);
    s.append(app_secret);
    return s;
}

std::string sign_request(std::string_view app_secret, std::string_view path,
                         const std::map<std::string, std::string>& query,
                         std::string_view body) {
    std::string s = string_to_sign(app_secret, path, query, body);
    std::string sign = detail::hmac_sha256_hex(app_secret, s);
    sodium_memzero(s.data(), s.size());
    return sign;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    return detail::hmac_sha256_hex(key, message);
}

bool signature_equals(std::string_view expected_hex, std::string_view received) {
    auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!received.empty() && is_space(received.front())) received.remove_prefix(1);
    while (!received.empty() && is_space(received.back())) received.remove_suffix(1);
    if (received.empty() || received.size() != expected_hex.size()) return false;

    // Lower-cased on the stack (a signature is 64 characters): no allocation
    // per webhook.
    std::array<char, 128> small;
    std::string large;
    char* normalized = small.data();
    if (received.size() > small.size()) {
        large.resize(received.size());
        normalized = large.data();
    }
    for (std::size_t i = 0; i < received.size(); ++i)
        normalized[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(received[i])));
    // The length is public (always 64 for SHA-256); the contents are compared
    // in constant time.
    return sodium_memcmp(normalized, expected_hex.data(), received.size()) == 0;
}

}  // namespace orderflow::tikapi
