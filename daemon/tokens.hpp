// Keeps the shop's OAuth tokens: loads them from the vault, refreshes the
// access token ahead of expiry (and once when TikTok answers 105002),
// persists rotated tokens immediately, and says plainly when the operator
// must re-authorize. Single-threaded: used only from the event loop.
#pragma once

#include "storage/vault.hpp"
#include "tikapi/client.hpp"
#include "tikapi/models.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace orderflow::daemon {

inline constexpr const char* token_vault_name = "tiktok_tokens";

class token_keeper {
public:
    token_keeper(storage::vault& vault, tikapi::client& api, std::function<std::int64_t()> clock);

    // An access token valid for at least the refresh margin, refreshing if
    // needed; when the refresh fails for now, the current one while it is
    // valid for more than 2 s; nullptr when there is none (not authorized,
    // the refresh token is dead: state() says which and what to do; or the
    // token expires before a refresh worked: why_no_token()).
    boost::asio::awaitable<const orderflow::secret*> access();

    // TikTok said 105002 (expired): refresh now, whatever the clock says.
    // Returns true when a fresh token is available.
    boost::asio::awaitable<bool> refresh_after_rejection();

    // The seller deauthorized the app (webhook 6): forget the tokens and
    // stop calling TikTok until new ones are stored.
    void deauthorized();
    // `orderflowctl auth disconnect` on the running daemon: the tokens are
    // wiped from memory at once and no further call is made until the shop
    // is authorized again (the caller deletes them from the vault).
    void disconnected();

    // Called with the new state and the advice whenever the state changes.
    void on_change(std::function<void(const std::string&, const std::string&)> callback) { on_change_ = std::move(callback); }

    // "authorized", "not_authorized", "reauthorization_required" or "deauthorized".
    const std::string& state() const { return state_; }
    const std::optional<tikapi::token_set>& tokens() const { return tokens_; }
    // What the operator should do, for logs and `orderflowctl status`.
    std::string advice() const;
    // Why access() gave no token: advice() when the operator must act, else
    // (authorized, but the access token expired and its refresh failed for
    // now) that it is tried again.
    std::string why_no_token() const;

private:
    bool load();
    void set_state(std::string state);
    void mark_dead(const std::string& state);
    boost::asio::awaitable<bool> refresh();

    storage::vault& vault_;
    tikapi::client& api_;
    std::function<std::int64_t()> clock_;
    std::optional<tikapi::token_set> tokens_;
    std::string state_ = "not_authorized";
    std::int64_t last_load_attempt_ = 0;
    bool refreshing_ = false;
    // After a refresh that failed on the way: no new attempt before
    // next_refresh_at_ (5 s, doubling per failure up to a minute), so a
    // TikTok outage is not met with a refresh for every call that needs a
    // token. A success clears both.
    int refresh_failures_ = 0;
    std::int64_t next_refresh_at_ = 0;
    orderflow::secret dead_refresh_token_;   // of tokens TikTok refused: not loaded again
    std::function<void(const std::string&, const std::string&)> on_change_;
};

}  // namespace orderflow::daemon
