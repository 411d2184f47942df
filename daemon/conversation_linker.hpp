// Buyer messages linked to their order (docs/rules.md, "Buyer messages and
// their order"). A NEW_MESSAGE webhook names only its conversation; rules
// that answer a buyer want the order. The linker finds
// - the buyer: the conversation map (orderflow opened the conversation, or
//   the poller read its participants), else the conversation list on TikTok
//   (most recently active first, so the conversation that just got a message
//   is on its first page);
// - the buyer's open orders: Search Orders by buyer_user_id, newest first;
// - the order, by one documented rule: the order named by the latest
//   ORDER_CARD the buyer sent in this conversation; else the buyer's only
//   open order; else none (several candidates, or none), and the rules see
//   the candidates in conversation.orders.
// It never guesses between two orders: a rule can ask the buyer which one,
// or flag the message for staff.
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class token_keeper;

// An order still being worked on: paid, not cancelled, not completed.
bool is_open_order_status(std::string_view status);

struct conversation_link {
    std::string conversation_id, buyer_user_id;
    std::string order_id;                 // "" when not linked
    // order_card, only_open_order, ambiguous, no_open_order, unknown_buyer
    // (and order_unavailable, set by the pipeline when the order cannot be read).
    std::string how;
    std::vector<std::string> candidates;  // the buyer's open orders, newest first
    std::string error;                    // TikTok could not be asked; the event waits
    bool retryable = false;
    bool token_rejected = false;          // TikTok said the access token expired (105002)
    // To remember, written by the pipeline with the event's outcome (after
    // the check for a forgotten buyer): the buyer just learned from TikTok's
    // conversation list, and an order card this message carries.
    bool learned_buyer = false;
    std::string card_order_id, card_message_id;
    std::int64_t card_time = 0;

    // conversation.* as rules see it.
    nlohmann::json view() const;
};

class conversation_linker {
public:
    // Conversation list pages read when looking for an unknown conversation's buyer.
    static constexpr int max_conversation_pages = 3;
    // Open orders considered: the buyer's newest orders, one page of Search Orders.
    static constexpr int order_page_size = 20;

    conversation_linker(context ctx, tikapi::client& api, token_keeper& tokens);

    // For a buyer message (message.* as the pipeline builds it). Writes
    // nothing: what is to be remembered is in the link (learned_buyer, card_*).
    // An access token TikTok calls expired is refreshed at once and the link
    // tried again, once, as the order source does.
    boost::asio::awaitable<conversation_link> link(const nlohmann::json& message);
    // Remembers what link() learned; call inside the event's commit.
    void remember(const conversation_link& link);

private:
    boost::asio::awaitable<conversation_link> link_with(const nlohmann::json& message, const orderflow::secret& token);
    boost::asio::awaitable<std::string> find_buyer(const std::string& conversation_id, const orderflow::secret& token,
                                                   conversation_link& out);
    boost::asio::awaitable<bool> find_open_orders(const orderflow::secret& token, conversation_link& out);

    context ctx_;
    tikapi::client& api_;
    token_keeper& tokens_;
};

}  // namespace orderflow::daemon
