// See conversation_links.hpp.
#include "storage/conversation_links.hpp"

namespace orderflow::storage {

std::string buyer_of_conversation(database& db, std::string_view conversation_id) {
    if (conversation_id.empty()) return {};
    auto st = db.prepare("SELECT buyer_user_id FROM conversations WHERE conversation_id = ?1 ORDER BY updated_at DESC LIMIT 1");
    st.bind(1, conversation_id);
    return st.step() ? st.text(0) : std::string();
}

void note_order_card(database& db, std::string_view conversation_id, std::string_view order_id, std::string_view message_id,
                     std::int64_t message_time, std::int64_t now) {
    // A card that arrives late (a poll after a webhook) does not replace a newer one.
    auto st = db.prepare(
        "INSERT INTO conversation_cards (conversation_id, order_id, message_id, message_time, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (conversation_id) DO UPDATE SET order_id = excluded.order_id, message_id = excluded.message_id, "
        "message_time = excluded.message_time, updated_at = excluded.updated_at "
        "WHERE excluded.message_time >= conversation_cards.message_time");
    st.bind(1, conversation_id).bind(2, order_id).bind(3, message_id).bind(4, message_time).bind(5, now);
    st.step();
}

std::string latest_order_card(database& db, std::string_view conversation_id) {
    auto st = db.prepare("SELECT order_id FROM conversation_cards WHERE conversation_id = ?1");
    st.bind(1, conversation_id);
    return st.step() ? st.text(0) : std::string();
}

nlohmann::json order_attributes(database& db, std::string_view order_id) {
    nlohmann::json out = nlohmann::json::object();
    auto st = db.prepare("SELECT name, value FROM order_attributes WHERE order_id = ?1 ORDER BY name");
    st.bind(1, order_id);
    while (st.step()) out[st.text(0)] = st.text(1);
    return out;
}

std::vector<order_attribute> order_attribute_rows(database& db, std::string_view order_id) {
    auto st = db.prepare(
        "SELECT order_id, name, value, message_id, rule_id, captured_at FROM order_attributes WHERE order_id = ?1 ORDER BY name");
    st.bind(1, order_id);
    std::vector<order_attribute> rows;
    while (st.step()) rows.push_back({st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.int64(5)});
    return rows;
}

void set_order_attribute(database& db, const order_attribute& a) {
    auto st = db.prepare(
        "INSERT INTO order_attributes (order_id, name, value, message_id, rule_id, captured_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (order_id, name) DO UPDATE SET value = excluded.value, message_id = excluded.message_id, "
        "rule_id = excluded.rule_id, captured_at = excluded.captured_at");
    st.bind(1, a.order_id).bind(2, a.name).bind(3, a.value).bind(4, a.message_id).bind(5, a.rule_id).bind(6, a.captured_at);
    st.step();
}

}  // namespace orderflow::storage
