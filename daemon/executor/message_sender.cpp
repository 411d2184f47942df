// See message_sender.hpp.
#include "daemon/executor/message_sender.hpp"

#include "common/log.hpp"
#include "daemon/cs_quota.hpp"
#include "daemon/durable_commits.hpp"
#include "daemon/executor/guards.hpp"
#include "daemon/executor/outcomes.hpp"
#include "daemon/executor/reconciler.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/tokens.hpp"
#include "tikapi/client.hpp"

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

message_sender::message_sender(context ctx, const rules_in_force& in_force, tikapi::client& api, token_keeper& tokens, outcomes& out,
                               guards& g)
    : ctx_(std::move(ctx)), in_force_(in_force), api_(api), tokens_(tokens), out_(out), guards_(g) {}

// The customer-service quota (daemon/cs_quota.hpp): near its end only
// replies to buyers go out; the rest wait for 00:00 UTC, saying why. Not a
// failure, so it does not use up the action's attempts.
bool message_sender::waits_for_cs_quota(const storage::action_row& a) {
    const auto purpose = a.kind == "reply" ? cs_purpose::reply : cs_purpose::proactive;
    const auto wait = cs_refusal(purpose, api_, in_force_.cfg(), ctx_.clock());
    if (!wait) return false;
    ctx_.store.set_action_state(a.id, "deferred", wait->why, "", ctx_.clock(), wait->until);
    log::info("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                  {"reason", wait->why}, {"retry_at", wait->until}});
    return true;
}

// TikTok says the day's customer-service quota is used up (45101004):
// nothing was sent, so the message waits for 00:00 UTC instead of failing.
// TikTok's count may run ahead of ours (other apps of the shop use it too).
bool message_sender::waits_for_quota_refusal(const storage::action_row& a, const tikapi::api_error& err, bool attempt_begun) {
    if (err.kind != tikapi::error_kind::api || err.code != 45101004) return false;
    if (attempt_begun) ctx_.store.give_back_attempt(a.id);
    const std::int64_t until = next_utc_midnight(ctx_.clock());
    ctx_.store.set_action_state(a.id, "deferred", "TikTok says the customer-service quota of the day is used up (45101004); waits for 00:00 UTC",
                                "", ctx_.clock(), until);
    log::warn("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                  {"reason", "customer-service quota used up (45101004)"}, {"retry_at", until}});
    return true;
}

// Whether TikTok may have sent the message although the call failed (once
// the request was written): the answer was lost (a timeout, a reset, bad
// HTTP), or a gateway or TikTok itself says the request timed out behind it
// (HTTP 504 or 502 without an envelope, 36009007), so the service may have
// acted, or an answer came that we cannot read (an HTTP 200 that is not
// TikTok's envelope, or code 0 without the message id). Such a send is never repeated blindly: it becomes unknown and is
// reconciled against the conversation. A refusal (429 / 36009002, 503,
// 36009003, any other code) sent nothing and may be tried again.
bool message_sender::may_have_acted(const tikapi::api_error& err) {
    switch (err.kind) {
        case tikapi::error_kind::timeout:
        case tikapi::error_kind::connect:
        case tikapi::error_kind::protocol: return true;
        case tikapi::error_kind::http_status: return err.http_status == 502 || err.http_status == 504;
        case tikapi::error_kind::api: return err.code == 36009007;
        case tikapi::error_kind::decode: return true;   // about an answer: request_sent is set only then
        case tikapi::error_kind::tls: return false;     // the handshake: nothing was written
    }
    return false;
}

// Why a message waits after TikTok refused the access token and no fresh one
// came (105001 / 105002: nothing was sent).
std::string message_sender::token_refused_why(const tikapi::api_error& err) const {
    const std::string advice = tokens_.advice();
    if (!advice.empty()) return advice;
    return "TikTok refused the access token (" + err.describe() +
           "), so nothing was sent; waits for the token's refresh (under way, or failed for now)";
}

// Deferred after a refusal that certainly sent nothing and says nothing about
// the message (the access token refused): the attempt, if begun, is given
// back, so waiting for a token never uses up the message's attempts.
void message_sender::defer_unsent(const storage::action_row& a, const std::string& why, bool attempt_begun) {
    if (attempt_begun) ctx_.store.give_back_attempt(a.id);
    out_.defer(a, why);
}

// A send refused because the conversation is closed (45109001, "conversation
// rules": TikTok closes one after 6 h without a buyer reply) or unknown
// (45101003): Create Conversation reopens the buyer's.
bool message_sender::conversation_gone(const tikapi::api_error& err) {
    return err.kind == tikapi::error_kind::api && (err.code == 45109001 || err.code == 45101003);
}

// Create Conversation for the buyer, cached: the conversation's id, or
// nothing when the action was deferred or failed instead (saying why).
asio::awaitable<std::optional<std::string>> message_sender::open_conversation(const storage::action_row& a, const std::string& buyer,
                                                                              const orderflow::secret*& token, bool attempt_begun) {
    auto r = co_await api_.create_conversation(buyer, *token);
    if (!r && r.error().token_expired()) {
        const bool refreshed = co_await tokens_.refresh_after_rejection();
        if (refreshed) token = co_await tokens_.access();
        if (!refreshed || !token) { defer_unsent(a, token_refused_why(r.error()), attempt_begun); co_return std::nullopt; }
        r = co_await api_.create_conversation(buyer, *token);
    }
    if (!r && waits_for_quota_refusal(a, r.error(), attempt_begun)) co_return std::nullopt;
    if (!r) {
        // Nothing was sent to the buyer yet, so retrying is safe.
        if (r.error().retryable() && a.attempts + 1 < in_force_.cfg().executor.max_send_attempts) out_.defer(a, "create conversation: " + r.error().describe());
        else out_.fail(a, "create conversation: " + r.error().describe());
        co_return std::nullopt;
    }
    std::string conversation = r.value();
    // Durable before a message goes into it (the caller's durable() before
    // the send): the reconciler looks for an interrupted send in the buyer's
    // cached conversation, and after a reopen that is not the one the
    // message was first sent to.
    ctx_.db.transaction([&] {
        ctx_.store.put_conversation(buyer, conversation, ctx_.clock());
        ctx_.store.audit(ctx_.clock(), "orderflowd", "create_conversation", a.order_id,
                         {{"action_id", a.id}, {"conversation_id", conversation}});
    }, storage::database::durability::process_crash);
    co_return conversation;
}

asio::awaitable<void> message_sender::send(const storage::action_row& a) {
    if (guards_.check(a) != guard_result::go) co_return;
    if (waits_for_cs_quota(a)) co_return;
    if (a.state == "deferred" && !a.order_id.empty()) {
        const bool still = co_await guards_.rule_still_matches(a);
        if (!still) co_return;
    }
    json p = json::parse(a.payload, nullptr, false);
    std::string buyer = p.is_object() ? p.value("buyer_user_id", "") : "";
    std::string text = p.is_object() ? p.value("text", "") : "";
    // An event from a conversation (message.received) names it; order events name the buyer.
    std::string known_conversation = p.is_object() ? p.value("conversation_id", "") : "";
    if ((buyer.empty() && known_conversation.empty()) || text.empty()) {
        out_.fail(a, "planned message has no buyer or no text");
        co_return;
    }
    const orderflow::secret* token = co_await tokens_.access();
    if (!token) { out_.defer(a, tokens_.why_no_token()); co_return; }

    // Restored from a backup a day ago or less: this message may have gone
    // out after the copy was taken. The reconciler looks for it in the
    // conversation first, and sends it only if it is not there.
    if (in_restore_window(ctx_.store, ctx_.clock())) {
        bool looked = false;
        for (const auto& h : ctx_.store.action_history(a.id))
            looked |= h.reason.starts_with("in a backup") || h.reason.starts_with("reconciled");
        if (!looked) {
            ctx_.db.transaction([&] {
                ctx_.store.begin_attempt(a.id, ctx_.clock());
                ctx_.store.set_action_state(a.id, "unknown",
                                            "in a backup window: the database was restored from a backup; "
                                            "looked for in the conversation before it is sent", "", ctx_.clock());
            });
            co_return;
        }
    }

    // The conversation: the event's, or cached per buyer, else opened
    // (Create Conversation reopens an existing one and returns its id).
    std::optional<std::string> conversation;
    if (!known_conversation.empty()) conversation = known_conversation;
    else conversation = ctx_.store.conversation_for(buyer);
    const bool opened_now = !conversation;
    if (opened_now) {
        auto opened = co_await open_conversation(a, buyer, token, false);
        if (!opened) co_return;
        conversation = std::move(opened);
    }

    // From here the outcome may become unknown: 'sending' on stable storage
    // first, so a crash or a power loss mid-send is found at start-up
    // instead of sending twice. The fsync is the WAL thread's
    // (durable_commits.hpp), shared with the other lanes' intents.
    ctx_.db.transaction([&] { ctx_.store.begin_attempt(a.id, ctx_.clock()); }, storage::database::durability::process_crash);
    co_await ctx_.durable.durable();
    auto r = co_await api_.send_text_message(*conversation, text, *token);
    if (!r && r.error().token_expired()) {
        // 105002 means TikTok refused the request: nothing was sent, so one retry is safe.
        const bool refreshed = co_await tokens_.refresh_after_rejection();
        if (refreshed) token = co_await tokens_.access();
        // Not refreshed: another lane's refresh is under way, or the refresh
        // failed for now. Either way nothing was sent, so the message waits,
        // and the attempt does not count.
        if (!refreshed || !token) { defer_unsent(a, token_refused_why(r.error()), true); co_return; }
        r = co_await api_.send_text_message(*conversation, text, *token);
    }
    if (!r && !opened_now && !buyer.empty() && conversation_gone(r.error())) {
        // TikTok closed the conversation (6 h without a buyer reply) or no
        // longer knows it: a refusal, nothing was sent. Create Conversation
        // reopens it (or opens a new one), and the message goes once more.
        log::info("conversation_reopening", {{"action_id", a.id}, {"order_id", a.order_id}, {"error", r.error().describe()}});
        auto reopened = co_await open_conversation(a, buyer, token, true);
        if (!reopened) co_return;
        // A reply is reconciled against the conversation its event named:
        // it goes only into that one (TikTok reopens it under the same id).
        if (!known_conversation.empty() && *reopened != known_conversation) {
            // The reason becomes a review item's summary, which the staff
            // channels receive: it names the order, not the conversations.
            out_.fail(a, "the buyer's conversation is gone (" + r.error().describe() +
                             "); TikTok opened another one instead, so the reply was not sent: answer the buyer in Seller Center");
            co_return;
        }
        conversation = std::move(reopened);
        co_await ctx_.durable.durable();   // the reopened conversation, before the message goes into it
        r = co_await api_.send_text_message(*conversation, text, *token);
        if (!r && r.error().token_expired()) {
            // Refused: nothing was sent. The message waits for a fresh token.
            co_await tokens_.refresh_after_rejection();
            defer_unsent(a, token_refused_why(r.error()), true);
            co_return;
        }
    }
    if (r) {
        json result{{"message_id", r.value()}, {"conversation_id", *conversation}};
        // Crash-safe is enough: the 'sending' before the call is durable, so
        // a power loss that takes this back leaves the row 'sending', found
        // at start-up as unknown and reconciled, never sent again.
        ctx_.db.transaction([&] {
            ctx_.store.set_action_state(a.id, "done", "", result.dump(), ctx_.clock());
            ctx_.store.audit(ctx_.clock(), "orderflowd", "send_message", a.order_id,
                        {{"action_id", a.id}, {"rule_id", a.rule_id}, {"conversation_id", *conversation},
                         {"message_id", r.value()}, {"template", p.value("template", "")}, {"locale", p.value("locale", "")}});
        }, storage::database::durability::process_crash);
        log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                  {"message_id", r.value()}});
        co_return;
    }
    const auto& err = r.error();
    const bool maybe_delivered = err.request_sent && may_have_acted(err);
    if (maybe_delivered) {
        ctx_.store.set_action_state(a.id, "unknown", "outcome unknown: " + err.describe(), "", ctx_.clock());
        log::warn("action_outcome_unknown", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"error", err.describe()},
                                             {"advice", "not re-sent automatically; check the buyer conversation"}});
        co_return;
    }
    if (waits_for_quota_refusal(a, err, true)) co_return;
    if (err.retryable() && a.attempts + 1 < in_force_.cfg().executor.max_send_attempts) { out_.defer(a, err.describe()); co_return; }
    out_.fail(a, err.describe());
}

}  // namespace orderflow::daemon
