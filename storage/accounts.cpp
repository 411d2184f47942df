// SQL and libsodium behind accounts.hpp. The hash is libsodium's
// crypto_pwhash_str string (Argon2id with its salt and limits inside it), so
// one TEXT column holds all that checking a password needs.
#include "storage/accounts.hpp"

#include "storage/detail/sodium.hpp"

#include <sodium.h>

#include <stdexcept>

namespace orderflow::storage {

namespace {

constexpr std::size_t max_name = 64;
constexpr std::size_t min_password = 12;
constexpr std::size_t max_password = 1024;
constexpr std::string_view hash_prefix = "$argon2id$";

// What crypto_pwhash_str writes after the salt: a 32-byte Argon2 hash.
constexpr std::size_t hash_bytes = 32;

// Characters of unpadded base64 for n bytes.
constexpr std::size_t base64_length(std::size_t n) { return (n * 4 + 2) / 3; }

bool lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

account account_of(const statement& st) {
    return {st.text(0), st.text(1), st.text(2), st.int64(3), st.int64(4)};
}

}  // namespace

std::string account_name_problem(std::string_view name) {
    if (name.empty()) return "an account name may not be empty";
    if (name.size() > max_name) return "an account name has at most 64 characters";
    if (!lower_or_digit(name.front())) return "an account name starts with a lowercase letter or a digit";
    for (char c : name)
        if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-')
            return "an account name has only lowercase letters a-z, digits, '.', '_' and '-'";
    return "";
}

bool valid_role(std::string_view role) { return role == "staff" || role == "operator"; }

std::string password_problem(std::string_view password) {
    if (password.size() < min_password) return "the password is too short: at least 12 bytes";
    if (password.size() > max_password) return "the password is too long: at most 1024 bytes";
    return "";
}

std::string hash_password(std::string_view password) {
    detail::ensure_sodium();
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        throw std::runtime_error("hashing the password failed: libsodium could not get the memory it needs (64 MiB)");
    return out;
}

bool check_password(std::string_view password_hash, std::string_view password) {
    detail::ensure_sodium();
    // crypto_pwhash_str_verify reads a NUL-terminated string of at most
    // crypto_pwhash_STRBYTES: anything longer (or with a NUL inside) is no
    // hash of ours.
    if (password_hash.size() >= crypto_pwhash_STRBYTES || password_hash.find('\0') != std::string_view::npos) return false;
    const std::string terminated(password_hash);
    return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool looks_like_password_hash(std::string_view text) {
    if (!text.starts_with(hash_prefix) || text.size() >= crypto_pwhash_STRBYTES) return false;
    for (char c : text)
        if (c < '!' || c > '~') return false;   // printable ASCII, no space
    // "$argon2id$v=19$m=...,t=...,p=...$SALT$HASH": hash_password's salt
    // and hash have fixed lengths (16 and 32 bytes, unpadded base64), and
    // Argon2 would take a shorter hash too.
    std::vector<std::string_view> parts;
    for (std::size_t from = 0;;) {
        const auto dollar = text.find('$', from);
        parts.push_back(text.substr(from, dollar - from));
        if (dollar == std::string_view::npos) break;
        from = dollar + 1;
    }
    if (parts.size() != 6 || parts[4].size() != base64_length(crypto_pwhash_SALTBYTES) || parts[5].size() != base64_length(hash_bytes))
        return false;
    // The whole string parses, with the very limits hash_password uses: a
    // hash with larger ones would make every later check of it slower and
    // hungrier than the daemon bargained for.
    detail::ensure_sodium();
    const std::string terminated(text);
    return crypto_pwhash_str_needs_rehash(terminated.c_str(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
}

bool put_account(database& db, const account& a, std::int64_t now) {
    // Whether it is new and the write itself in one transaction: the
    // caller's (with its audit entry), else its own.
    auto body = [&] {
        const bool is_new = !get_account(db, a.name).has_value();
        auto st = db.prepare(
            "INSERT INTO console_accounts (name, role, password_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) "
            "ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, "
            "updated_at = excluded.updated_at");
        st.bind(1, a.name).bind(2, a.role).bind(3, a.password_hash).bind(4, now);
        st.step();
        return is_new;
    };
    return db.in_transaction() ? body() : db.transaction(body);
}

std::optional<account> get_account(database& db, std::string_view name) {
    auto st = db.prepare("SELECT name, role, password_hash, created_at, updated_at FROM console_accounts WHERE name = ?1");
    st.bind(1, name);
    if (!st.step()) return std::nullopt;
    return account_of(st);
}

std::vector<account> list_accounts(database& db) {
    auto st = db.prepare("SELECT name, role, password_hash, created_at, updated_at FROM console_accounts ORDER BY name");
    std::vector<account> out;
    while (st.step()) out.push_back(account_of(st));
    return out;
}

bool remove_account(database& db, std::string_view name) {
    auto st = db.prepare("DELETE FROM console_accounts WHERE name = ?1");
    st.bind(1, name);
    st.step();
    return db.changes() > 0;
}

}  // namespace orderflow::storage
