// See tokens.hpp. Refresh margin: 10 minutes before access_token_expire_in.
#include "daemon/tokens.hpp"

#include "common/log.hpp"

#include <algorithm>

namespace orderflow::daemon {

namespace {
// Refresh this long before the access token expires: 10 minutes, or a
// quarter of the token's life when that is shorter (short-lived tokens),
// but never less than 5 s. The life is counted from when the token was
// issued (stored with it), not from when this process loaded it.
std::int64_t refresh_margin(const tikapi::token_set& t) {
    if (t.obtained_at <= 0 || t.obtained_at >= t.access_expires_at) return 600;
    return std::max<std::int64_t>(5, std::min<std::int64_t>(600, (t.access_expires_at - t.obtained_at) / 4));
}

// A token whose refresh failed is still handed out until this close to its
// expiry, no closer: a call made with it in its last seconds reaches TikTok
// after it expired (the clock counts whole seconds; the call takes time),
// and is refused with 105002 instead of waiting for the refresh's retry.
constexpr std::int64_t last_use_guard = 2;
}

token_keeper::token_keeper(storage::vault& vault, tikapi::client& api, std::function<std::int64_t()> clock)
    : vault_(vault), api_(api), clock_(std::move(clock)) {
    load();
}

void token_keeper::set_state(std::string state) {
    if (state == state_) return;
    state_ = std::move(state);
    if (on_change_) on_change_(state_, advice());
}

bool token_keeper::load() {
    last_load_attempt_ = clock_();
    auto stored = vault_.get(token_vault_name);
    if (!stored) {
        tokens_.reset();
        dead_refresh_token_ = orderflow::secret();
        if (state_ != "reauthorization_required" && state_ != "deauthorized") set_state("not_authorized");
        return false;
    }
    auto parsed = tikapi::parse_tokens(*stored);
    if (!parsed) {
        log::error("tokens_unreadable", {{"advice", "run: orderflowctl auth exchange CODE"}});
        tokens_.reset();
        set_state("not_authorized");
        return false;
    }
    // The same tokens that TikTok refused stay refused: only a new
    // authorization (auth exchange writes new ones) resumes calling.
    if (!dead_refresh_token_.empty() && parsed->refresh_token.reveal() == dead_refresh_token_.reveal()) return false;
    dead_refresh_token_ = orderflow::secret();
    tokens_ = std::move(*parsed);
    set_state(tokens_->refresh_expires_at != 0 && tokens_->refresh_expires_at <= clock_() ? "reauthorization_required"
                                                                                           : "authorized");
    return state_ == "authorized";
}

void token_keeper::mark_dead(const std::string& state) {
    if (tokens_) dead_refresh_token_ = tokens_->refresh_token.clone();
    tokens_.reset();
    set_state(state);
}

void token_keeper::deauthorized() {
    log::error("shop_deauthorized", {{"advice", "the seller removed the app's authorization; orderflow stops calling TikTok. "
                                                "Re-authorize: orderflowctl auth url, then orderflowctl auth exchange CODE"}});
    mark_dead("deauthorized");
    // The stored tokens are worthless now and must not linger (the privacy
    // policy: disconnecting the shop deletes its tokens).
    vault_.erase(token_vault_name);
}

void token_keeper::disconnected() {
    tokens_.reset();
    dead_refresh_token_ = orderflow::secret();
    set_state("not_authorized");
    log::warn("shop_disconnected", {{"advice", "orderflowctl auth disconnect: the tokens are deleted; orderflow makes no TikTok call "
                                               "until the shop is authorized again (orderflowctl auth url, then auth exchange CODE)"}});
}

std::string token_keeper::advice() const {
    if (state_ == "authorized") return "";
    if (state_ == "reauthorization_required")
        return "the refresh token is no longer valid: re-authorize the shop (orderflowctl auth url, then orderflowctl auth exchange CODE)";
    if (state_ == "deauthorized")
        return "the seller deauthorized the app in TikTok Shop: re-authorize the shop (orderflowctl auth url, then orderflowctl auth exchange CODE)";
    return "the shop is not authorized: run orderflowctl auth url, authorize, then orderflowctl auth exchange CODE";
}

std::string token_keeper::why_no_token() const {
    if (state_ != "authorized") return advice();
    return "the access token expired and its refresh failed for now (token_refresh_failed in the log); tried again within a minute";
}

boost::asio::awaitable<const orderflow::secret*> token_keeper::access() {
    // Tokens appear in the vault when the operator runs `auth exchange` while
    // the daemon is running: look again, at most every few seconds.
    if ((!tokens_ || state_ != "authorized") && clock_() - last_load_attempt_ >= 5) load();
    if (!tokens_ || state_ != "authorized") co_return nullptr;
    if (tokens_->access_expires_at - refresh_margin(*tokens_) <= clock_()) {
        const bool refreshed = co_await refresh();   // as a statement: see service.cpp on GCC 12
        if (!refreshed) {
            if (state_ != "authorized" || tokens_->access_expires_at - last_use_guard <= clock_()) co_return nullptr;
        }
    }
    co_return &tokens_->access_token;
}

boost::asio::awaitable<bool> token_keeper::refresh_after_rejection() {
    if (!tokens_) co_return false;
    const bool refreshed = co_await refresh();
    co_return refreshed;
}

boost::asio::awaitable<bool> token_keeper::refresh() {
    if (refreshing_ || !tokens_ || clock_() < next_refresh_at_) co_return false;
    refreshing_ = true;
    auto r = co_await api_.refresh_token(tokens_->refresh_token);
    refreshing_ = false;
    if (!r) {
        const auto& e = r.error();
        // Only TikTok's own answer (an envelope with a code) can say the
        // refresh token is dead. A TLS or HTTP failure on the way, an HTTP
        // error without an envelope, a body that could not be read: the
        // network's or a gateway's, tried again at the next call.
        if (e.retryable() || e.kind != tikapi::error_kind::api) {
            const std::int64_t pause = std::min<std::int64_t>(60, std::int64_t{5} << std::min(refresh_failures_, 4));
            ++refresh_failures_;
            next_refresh_at_ = clock_() + pause;
            log::warn("token_refresh_failed", {{"error", e.describe()}, {"retry", true}, {"retry_in_seconds", pause}});
            co_return false;
        }
        // The refresh token is dead: stop calling the API until the operator acts.
        mark_dead("reauthorization_required");
        log::error("token_refresh_failed", {{"error", e.describe()}, {"retry", false}, {"advice", advice()}});
        co_return false;
    }
    refresh_failures_ = 0;
    next_refresh_at_ = 0;
    tokens_ = std::move(r.value());
    tokens_->obtained_at = clock_();
    vault_.put(token_vault_name, tikapi::serialize_tokens(*tokens_), clock_());
    set_state("authorized");
    log::info("token_refreshed", {{"access_expires_at", tokens_->access_expires_at},
                                  {"refresh_expires_at", tokens_->refresh_expires_at}});
    co_return true;
}

}  // namespace orderflow::daemon
