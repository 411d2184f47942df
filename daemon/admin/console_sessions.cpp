// See console_sessions.hpp.
#include "daemon/admin/console_sessions.hpp"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

namespace orderflow::daemon {

namespace {

std::string hex(const unsigned char* bytes, std::size_t n) {
    std::string out(n * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), bytes, n);
    out.pop_back();
    return out;
}

std::string random_hex() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise (sodium_init)");
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    return hex(raw, sizeof raw);
}

std::string token_hash(std::string_view token) {
    unsigned char out[32];
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
    return hex(out, sizeof out);
}

}  // namespace

bool console_sessions::expired(const console_session& s, std::int64_t now) const {
    return now - s.last_seen >= opts_.idle.count() || now - s.opened_at >= opts_.lifetime.count();
}

std::string console_sessions::open(std::string_view account, std::string_view credential, std::int64_t now) {
    // Expired sessions go first; then, at the cap, the least recently used.
    std::erase_if(by_hash_, [&](const auto& kv) { return expired(kv.second, now); });
    while (!by_hash_.empty() && by_hash_.size() >= opts_.max_sessions)
        by_hash_.erase(std::min_element(by_hash_.begin(), by_hash_.end(), [](const auto& a, const auto& b) {
            return a.second.last_seen < b.second.last_seen;
        }));
    std::string token = random_hex();
    by_hash_[token_hash(token)] = console_session{std::string(account), std::string(credential), random_hex(), now, now};
    return token;
}

std::optional<console_session> console_sessions::find(std::string_view token, std::int64_t now) {
    if (token.size() != 64) return std::nullopt;
    auto it = by_hash_.find(token_hash(token));
    if (it == by_hash_.end()) return std::nullopt;
    if (expired(it->second, now)) {
        by_hash_.erase(it);
        return std::nullopt;
    }
    it->second.last_seen = now;
    return it->second;
}

void console_sessions::close(std::string_view token) { by_hash_.erase(token_hash(token)); }

bool console_sessions::csrf_matches(std::string_view expected, std::string_view given) {
    if (expected.empty() || expected.size() != given.size()) return false;
    return sodium_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

}  // namespace orderflow::daemon
