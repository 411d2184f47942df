// The staff console's sessions, in memory: a restart logs everyone out,
// and nothing about a session is ever on disk.
//
// A login opens a session and hands the browser a random 256-bit token (its
// cookie); the table keeps only a hash of it, so a memory dump shows no
// cookie anyone could replay. Each session has its own CSRF token, which
// every state-changing request must carry. A session ends at logout, after
// `idle` without a request, or `lifetime` after the login, whichever comes
// first; the oldest one goes when `max_sessions` are open.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace orderflow::daemon {

struct console_session {
    std::string account;
    // The account's password hash at the login: a session ends when the
    // password changes, or the account is removed and added again.
    std::string credential;
    std::string csrf;            // 64 hex digits
    std::int64_t opened_at = 0;  // unix seconds
    std::int64_t last_seen = 0;
};

class console_sessions {
public:
    struct options {
        std::chrono::seconds idle{30 * 60};
        std::chrono::seconds lifetime{12 * 60 * 60};
        std::size_t max_sessions = 1000;
    };

    console_sessions() : console_sessions(options{}) {}
    explicit console_sessions(options opts) : opts_(opts) {}

    // A new session for the account; returns the cookie's token (64 hex digits).
    std::string open(std::string_view account, std::string_view credential, std::int64_t now);
    // The session the token opens, its last_seen moved to now; nullopt when
    // there is none or it expired (it is then dropped).
    std::optional<console_session> find(std::string_view token, std::int64_t now);
    void close(std::string_view token);

    // Constant-time equality of two CSRF tokens ("" never matches).
    static bool csrf_matches(std::string_view expected, std::string_view given);

private:
    bool expired(const console_session& s, std::int64_t now) const;
    options opts_;
    std::map<std::string, console_session, std::less<>> by_hash_;   // hash of the token -> session
};

}  // namespace orderflow::daemon
