// See conversation_linker.hpp.
#include "daemon/conversation_linker.hpp"

#include "common/log.hpp"
#include "daemon/tokens.hpp"
#include "storage/conversation_links.hpp"
#include "tikapi/client.hpp"

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

bool is_open_order_status(std::string_view status) {
    return !status.empty() && status != "UNPAID" && status != "CANCELLED" && status != "CANCEL" && status != "COMPLETED";
}

json conversation_link::view() const {
    json v{{"id", conversation_id},
           {"order_link", how},
           {"orders", candidates},
           {"order_count", static_cast<int>(candidates.size())}};
    if (!buyer_user_id.empty()) v["buyer_user_id"] = buyer_user_id;
    return v;
}

conversation_linker::conversation_linker(context ctx, tikapi::client& api, token_keeper& tokens)
    : ctx_(std::move(ctx)), api_(api), tokens_(tokens) {}

asio::awaitable<conversation_link> conversation_linker::link(const json& message) {
    const orderflow::secret* token = co_await tokens_.access();
    if (!token) {
        conversation_link out;
        out.conversation_id = message.value("conversation_id", "");
        out.error = tokens_.why_no_token();
        out.retryable = true;
        co_return out;
    }
    conversation_link out = co_await link_with(message, *token);
    if (!out.token_rejected) co_return out;
    const bool refreshed = co_await tokens_.refresh_after_rejection();
    if (refreshed) token = co_await tokens_.access();
    if (refreshed && token) out = co_await link_with(message, *token);
    co_return out;
}

asio::awaitable<conversation_link> conversation_linker::link_with(const json& message, const orderflow::secret& token) {
    conversation_link out;
    out.conversation_id = message.value("conversation_id", "");
    const std::string card = message.value("order_id", "");
    if (!card.empty()) {
        out.card_order_id = card;
        out.card_message_id = message.value("id", "");
        out.card_time = message.value("create_time", std::int64_t{0});
    }
    out.buyer_user_id = storage::buyer_of_conversation(ctx_.db, out.conversation_id);
    const std::string latest_card = card.empty() ? storage::latest_order_card(ctx_.db, out.conversation_id) : card;
    // With a card, the order names its buyer (the pipeline reads it): no
    // customer-service call is spent on the conversation list.
    if (out.buyer_user_id.empty() && latest_card.empty()) {
        out.buyer_user_id = co_await find_buyer(out.conversation_id, token, out);
        if (!out.error.empty()) co_return out;
        out.learned_buyer = !out.buyer_user_id.empty();
    }
    if (!out.buyer_user_id.empty()) {
        const bool ok = co_await find_open_orders(token, out);
        if (!ok) co_return out;
    }
    if (!latest_card.empty()) {
        out.order_id = latest_card;
        out.how = "order_card";
    } else if (out.buyer_user_id.empty()) {
        out.how = "unknown_buyer";
    } else if (out.candidates.size() == 1) {
        out.order_id = out.candidates.front();
        out.how = "only_open_order";
    } else {
        out.how = out.candidates.empty() ? "no_open_order" : "ambiguous";
    }
    co_return out;
}

// The conversation's buyer from TikTok's conversation list; "" when it is
// not among the most recent pages.
asio::awaitable<std::string> conversation_linker::find_buyer(const std::string& conversation_id, const orderflow::secret& token,
                                                             conversation_link& out) {
    std::string page_token, found;
    for (int page = 0; page < max_conversation_pages && found.empty(); ++page) {
        auto r = co_await api_.get_conversations(tikapi::max_conversation_page_size, page_token, token);
        if (!r && r.error().kind == tikapi::error_kind::api && r.error().code == 45101004) {
            // The day's customer-service quota is used up: the message is
            // handled without its buyer rather than held until 00:00 UTC.
            log::warn("conversation_buyer_unknown", {{"conversation_id", conversation_id}, {"error", r.error().describe()},
                                                     {"advice", "the message is handled without an order (conversation.order_link unknown_buyer)"}});
            co_return std::string();
        }
        if (!r) {
            out.error = "conversation list: " + r.error().describe();
            out.token_rejected = r.error().token_expired();
            out.retryable = r.error().retryable() || out.token_rejected;
            co_return std::string();
        }
        // Only this conversation's buyer is kept: the other buyers on the
        // page are none of this message's business.
        for (const auto& c : r.value().conversations)
            if (c.id == conversation_id) found = c.buyer_user_id();
        if (r.value().next_page_token.empty()) break;
        page_token = r.value().next_page_token;
    }
    if (found.empty())
        log::warn("conversation_buyer_unknown", {{"conversation_id", conversation_id},
                                                 {"advice", "the message is handled without an order (conversation.order_link unknown_buyer)"}});
    co_return found;
}

asio::awaitable<bool> conversation_linker::find_open_orders(const orderflow::secret& token, conversation_link& out) {
    tikapi::order_search q;
    q.buyer_user_id = out.buyer_user_id;
    q.sort_field = "create_time";
    q.sort_order = "DESC";
    q.page_size = order_page_size;
    auto r = co_await api_.search_orders(q, token);
    if (!r) {
        out.error = "the buyer's orders: " + r.error().describe();
        out.token_rejected = r.error().token_expired();
        out.retryable = r.error().retryable() || out.token_rejected;
        co_return false;
    }
    for (const auto& o : r.value().orders)
        if (o.user_id == out.buyer_user_id || o.user_id.empty())
            if (is_open_order_status(o.status)) out.candidates.push_back(o.id);
    co_return true;
}

void conversation_linker::remember(const conversation_link& link) {
    if (link.learned_buyer) ctx_.store.put_conversation(link.buyer_user_id, link.conversation_id, ctx_.clock());
    if (!link.card_order_id.empty())
        storage::note_order_card(ctx_.db, link.conversation_id, link.card_order_id, link.card_message_id, link.card_time, ctx_.clock());
}

}  // namespace orderflow::daemon
