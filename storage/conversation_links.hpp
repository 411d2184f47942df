// What links a buyer's conversation to their orders, and what the buyer
// answered there (docs/rules.md, "Buyer messages and their order").
//
// - The conversation map (table conversations: buyer -> conversation) read
//   the other way: the buyer of a conversation.
// - The latest ORDER_CARD a buyer sent in each conversation: the order the
//   buyer pointed at, which wins over every guess.
// - Order attributes: what the rules' `capture` action kept of a buyer's
//   answer (order.attributes.<name>), one value per order and name, with the
//   message it came from. Personal data: exported, forgotten and purged with
//   the buyer's other data (storage/buyer_data.hpp, storage/retention.hpp).
//
// Synchronous, like the rest of storage.
#pragma once

#include "storage/database.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::storage {

// The buyer user id of a conversation orderflow has seen (opened it, or
// read its participants); "" when unknown.
std::string buyer_of_conversation(database& db, std::string_view conversation_id);

// Records that the buyer sent an order card for `order_id` in the
// conversation; the latest one (by message time, then arrival) is kept.
void note_order_card(database& db, std::string_view conversation_id, std::string_view order_id,
                     std::string_view message_id, std::int64_t message_time, std::int64_t now);

// The order of the latest order card in the conversation; "" when none.
std::string latest_order_card(database& db, std::string_view conversation_id);

struct order_attribute {
    std::string order_id, name, value;
    std::string message_id;        // the buyer message it was captured from
    std::string rule_id;           // the rule whose capture stored it
    std::int64_t captured_at = 0;
};

// name -> value, as rules see it in order.attributes; {} when none.
nlohmann::json order_attributes(database& db, std::string_view order_id);
// The rows behind it, by name (review show, activity, the console).
std::vector<order_attribute> order_attribute_rows(database& db, std::string_view order_id);
// Stores (or replaces) one attribute. Call inside a transaction with the
// action's outcome, so it happens exactly once.
void set_order_attribute(database& db, const order_attribute& a);

}  // namespace orderflow::storage
