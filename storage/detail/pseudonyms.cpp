// See pseudonyms.hpp.
#include "storage/detail/pseudonyms.hpp"

#include "storage/buyer_data.hpp"

#include <nlohmann/json.hpp>

#include <utility>
#include <vector>

namespace orderflow::storage::detail {

namespace {

constexpr std::string_view hashed_package_marker = "#forgotten:";

}  // namespace

bool key_names_ids(std::string_view k) {
    if (k.starts_with("poll:")) return true;
    return k.find('#') != std::string_view::npos && k.find(hashed_package_marker) == std::string_view::npos;
}

std::string hashed_dedupe_key(std::span<const unsigned char> key, std::string_view k) {
    const std::string hash = forget_hash(key, k);
    if (k.starts_with("poll:")) return "forgotten:" + hash;
    const auto base = k.find('#');
    if (base == std::string_view::npos) return "forgotten:" + hash;
    return std::string(k.substr(0, base)) + std::string(hashed_package_marker) + hash;
}

// Every key of one delivery starts with "BASE#"; its hashed rows with
// "BASE#forgotten:", which sort just before "BASE#forgotten;" (';' follows
// ':'), so the range is the index's own terms and the search reads one entry.
bool package_delivery_hashed(database& db, std::string_view k) {
    const auto base = k.find('#');
    if (base == std::string_view::npos) return false;
    const std::string from = std::string(k.substr(0, base)) + std::string(hashed_package_marker);
    std::string to = from;
    to.back() = ';';
    auto st = db.prepare("SELECT 1 FROM inbox WHERE dedupe_key >= ?1 AND dedupe_key < ?2 LIMIT 1");
    st.bind(1, from).bind(2, to);
    return st.step();
}

void hash_keys_of_event(database& db, std::span<const unsigned char> key, std::int64_t id) {
    auto st = db.prepare("SELECT dedupe_key FROM inbox WHERE id = ?1");
    st.bind(1, id);
    if (st.step()) {
        const std::string k = st.text(0);
        st.reset();
        if (key_names_ids(k)) {
            const std::string hashed = hashed_dedupe_key(key, k);
            auto taken = db.prepare("SELECT 1 FROM inbox WHERE dedupe_key = ?1");
            taken.bind(1, hashed);
            if (taken.step()) {
                auto del = db.prepare("DELETE FROM inbox WHERE id = ?1");
                del.bind(1, id);
                del.step();
            } else {
                auto up = db.prepare("UPDATE inbox SET dedupe_key = ?2 WHERE id = ?1");
                up.bind(1, id).bind(2, hashed);
                up.step();
            }
        }
    }
    std::vector<std::string> changes;
    {
        auto ch = db.prepare("SELECT change_key FROM inbox_changes WHERE inbox_id = ?1 AND change_key NOT LIKE 'forgotten:%'");
        ch.bind(1, id);
        while (ch.step()) changes.push_back(ch.text(0));
    }
    for (const auto& k : changes) {
        auto del = db.prepare("DELETE FROM inbox_changes WHERE change_key = ?1");
        del.bind(1, k);
        del.step();
        auto ins = db.prepare("INSERT OR IGNORE INTO inbox_changes (change_key, inbox_id) VALUES (?1, ?2)");
        ins.bind(1, "forgotten:" + forget_hash(key, k)).bind(2, id);
        ins.step();
    }
    // The claim the row had still to make (store::claim_change): a pending
    // event is set aside as ignored by both forget and set_aside_event, so
    // it never makes it; a finished one made it already.
    auto unclaimed = db.prepare("UPDATE inbox SET change_key = '' WHERE id = ?1 AND change_key != ''");
    unclaimed.bind(1, id);
    unclaimed.step();
}

std::string pseudonym(std::span<const unsigned char> key, std::string_view kind, std::string_view id) {
    if (id.starts_with(pseudonym_prefix)) return std::string(id);
    std::string material(kind);
    material += ':';
    material += id;
    return std::string(pseudonym_prefix) + forget_hash(key, material);
}

std::string pseudonymised_audit_detail(std::span<const unsigned char> key, const std::string& detail, bool names_order) {
    using json = nlohmann::json;
    json d = json::parse(detail, nullptr, false);
    if (d.is_discarded() || !d.is_object()) return "{}";
    static const std::pair<const char*, const char*> ids[] = {{"conversation_id", "conversation"},
                                                              {"buyer_user_id", "buyer"},
                                                              {"message_id", "message"},
                                                              {"package_id", "package"},
                                                              {"tracking_number", "tracking"}};
    bool about_a_buyer = names_order || d.contains("action_id") || d.contains("review_id");
    for (const auto& [field, kind] : ids) {
        auto it = d.find(field);
        if (it == d.end()) continue;
        about_a_buyer = true;
        if (it->is_string() && !it->get_ref<const std::string&>().empty())
            *it = pseudonym(key, kind, it->get_ref<const std::string&>());
        else if (!it->is_string())
            *it = pseudonym(key, kind, it->dump());
    }
    // Free text about an order, an action or a review item may quote the
    // buyer or an id; an entry about the daemon itself (a reload, a backup,
    // the breaker) keeps its own.
    if (about_a_buyer)
        for (const char* free_text : {"note", "error", "reason"}) d.erase(free_text);
    return d.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace orderflow::storage::detail
