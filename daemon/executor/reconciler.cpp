// See reconciler.hpp.
#include "daemon/executor/reconciler.hpp"

#include "common/log.hpp"
#include "daemon/reconcile.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/tokens.hpp"
#include "tikapi/client.hpp"

#include <map>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

std::int64_t restored_backup_taken_at(storage::store& store) {
    auto v = store.get_state("backup");
    if (!v) return 0;
    json j = json::parse(*v, nullptr, false);
    return j.is_object() ? j.value("taken_at", std::int64_t{0}) : 0;
}

bool in_restore_window(storage::store& store, std::int64_t now) {
    auto v = store.get_state("backup");
    if (!v) return false;
    json j = json::parse(*v, nullptr, false);
    const std::int64_t restored = j.is_object() ? j.value("restored_at", std::int64_t{0}) : 0;
    return restored > 0 && now < restored + restore_window_seconds;
}

reconciler::reconciler(context ctx, tikapi::client& api, token_keeper& tokens, review_desk& desk)
    : ctx_(std::move(ctx)), api_(api), tokens_(tokens), desk_(desk) {}

asio::awaitable<void> reconciler::pass() {
    // An inconclusive look already has a critical review item: a person
    // decides, so those are not read (however many build up). Anything else
    // unknown is looked at, a resend that was itself interrupted included
    // (the resend limit bounds it).
    const std::vector<storage::action_row> rows = ctx_.store.actions_to_reconcile(100);
    for (const auto& a : rows) {
        if (stopping_) break;
        if (a.kind == "update_tracking") {
            // Interrupted mid-call: shipping and updating are safe to repeat.
            replan(a, "outcome unknown after a restart; a tracking update is safe to repeat, so it is tried again");
            continue;
        }
        if (!is_message(a.kind)) continue;
        co_await reconcile(a);
    }
}

asio::awaitable<void> reconciler::reconcile(const storage::action_row& a) {
    json p = json::parse(a.payload, nullptr, false);
    if (!p.is_object()) co_return;
    const std::string text = p.value("text", "");
    std::optional<std::string> conversation;
    if (!p.value("conversation_id", "").empty()) conversation = p.value("conversation_id", "");
    else conversation = ctx_.store.conversation_for(p.value("buyer_user_id", ""));
    // A send restored from a backup (storage::database::backup_to) may have
    // gone out after the copy was taken, through a conversation the copy
    // never cached: ask TikTok for the buyer's conversation (Create
    // Conversation returns the existing one) instead of concluding.
    bool from_backup = false;
    for (const auto& h : ctx_.store.action_history(a.id)) from_backup |= h.reason.starts_with("in a backup");
    from_backup = from_backup && restored_backup_taken_at(ctx_.store) > 0;
    if (!conversation && !from_backup) {
        // The conversation is opened (and cached) before a message is sent.
        replan(a, "reconciled: no conversation was opened, so nothing was sent");
        co_return;
    }
    const orderflow::secret* token = co_await tokens_.access();
    if (!token) co_return;   // stays unknown; looked at again on the next start
    if (!conversation) {
        auto opened = co_await api_.create_conversation(p.value("buyer_user_id", ""), *token);
        if (!opened) co_return;   // stays unknown; looked at again on the next pass or start
        conversation = opened.value();
    }

    // TikTok's clock and ours may differ: look a little before the planning
    // time. Erring this way can only mistake an older identical text for
    // this one (not sent: at most once), never send twice.
    constexpr std::int64_t clock_skew = 300;
    std::int64_t since = a.created_at - clock_skew;
    // Restored from a backup: the message may have gone out any time after the copy was taken.
    if (from_backup) since = std::min(since, restored_backup_taken_at(ctx_.store) - clock_skew);
    const std::string path = "/customer_service/202309/conversations/" + *conversation + "/messages";
    bool found = false, complete = false;
    std::string message_id, page_token;
    for (int page = 0; page < 10 && !found && !complete; ++page) {
        std::map<std::string, std::string> query{{"page_size", "10"}};
        if (!page_token.empty()) query["page_token"] = page_token;
        auto r = co_await api_.call("GET", path, query, nullptr, *token, true, tikapi::retry::idempotent);
        if (!r) {
            log::warn("reconcile_failed", {{"action_id", a.id}, {"error", r.error().describe()}});
            co_return;   // stays unknown; looked at again on the next start
        }
        const page_scan scan = scan_page(r.value(), text, since);
        found = scan.found;
        message_id = scan.message_id;
        complete = scan.complete;
        page_token = scan.next_page_token;
    }
    int resent = 0;
    for (const auto& h : ctx_.store.action_history(a.id))
        resent += h.state == "planned" && h.reason.rfind("reconciled", 0) == 0;
    const reconcile_verdict verdict = decide_reconcile(found, complete, resent);
    if (verdict == reconcile_verdict::delivered) {
        json result{{"message_id", message_id}, {"conversation_id", *conversation}, {"reconciled", "found"}};
        ctx_.db.transaction([&] {
            ctx_.store.set_action_state(a.id, "done", "reconciled: the message is in the conversation", result.dump(), ctx_.clock());
            ctx_.store.audit(ctx_.clock(), "orderflowd", a.kind + ".reconciled", a.order_id,
                        {{"action_id", a.id}, {"rule_id", a.rule_id}, {"message_id", message_id}, {"outcome", "delivered"}});
        });
        log::info("action_reconciled", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"outcome", "delivered"}});
    } else if (verdict == reconcile_verdict::send_again) {
        replan(a, "reconciled: not in the conversation; sending once more under the same key");
    } else {
        ctx_.db.transaction([&] {
            ctx_.store.set_action_state(a.id, "unknown", "reconciliation could not tell whether it was delivered; check the conversation",
                                   json{{"reconciled", "inconclusive"}}.dump(), ctx_.clock());
            // The summary goes to the staff channels: the conversation is
            // named in the evidence (the console and review show), not there.
            desk_.raise(a.order_id, "send_unknown", "critical",
                         "rule " + a.rule_id + ": a message may or may not have reached the buyer; check the order's conversation "
                         "(the item's evidence names it)",
                         {{"action_id", a.id}, {"rule_id", a.rule_id}, {"conversation_id", *conversation}, {"text", text}});
        });
        log::warn("action_reconcile_inconclusive", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                                    {"advice", "look at the buyer conversation; it is not re-sent automatically"}});
    }
}

void reconciler::replan(const storage::action_row& a, const std::string& why) {
    ctx_.db.transaction([&] {
        ctx_.store.set_action_state(a.id, "planned", why, json{{"reconciled", "absent"}}.dump(), ctx_.clock());
        ctx_.store.audit(ctx_.clock(), "orderflowd", a.kind + ".reconciled", a.order_id,
                    {{"action_id", a.id}, {"rule_id", a.rule_id}, {"outcome", "not delivered"}});
    });
    log::info("action_reconciled", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"outcome", "not delivered"}});
}

}  // namespace orderflow::daemon
