// SQL behind buyer_data.hpp. Sets of ids go to SQLite as one JSON array
// parameter and are read with json_each, so each question is one statement
// however many orders the buyer has.
//
// Columns that hold JSON written by orderflow (payloads, snapshots, details)
// are read with json_extract behind json_valid, so one row that is not JSON
// cannot fail a whole export or forget.
#include "storage/buyer_data.hpp"

#include "storage/detail/pseudonyms.hpp"
#include "storage/detail/sodium.hpp"

#include <algorithm>
#include <utility>

#include <sodium.h>
#include <sqlite3.h>

namespace orderflow::storage {

namespace {

using json = nlohmann::json;

template <class Set>
std::string json_array(const Set& s) {
    json a = json::array();
    for (const auto& v : s) a.push_back(v);
    return a.dump();
}

json parsed_or_text(const std::string& text) {
    if (text.empty()) return "";
    json j = json::parse(text, nullptr, false);
    return j.is_discarded() ? json(text) : j;
}

// Adds what `sql` (binding ?1) returns in column 0 to `out`; true when something new came.
bool add_texts(database& db, std::string_view sql, std::string_view arg, std::set<std::string>& out) {
    auto st = db.prepare(sql);
    st.bind(1, arg);
    bool grew = false;
    while (st.step()) {
        std::string v = st.text(0);
        if (!v.empty() && out.insert(std::move(v)).second) grew = true;
    }
    return grew;
}

// Adds the ids `st` returns in column 0 to `out`.
void add_ids(statement& st, std::set<std::int64_t>& out) {
    while (st.step()) out.insert(st.int64(0));
}

// The conversation a JSON column names ($.conversation_id, or $.data.conversation_id for an inbox payload).
constexpr std::string_view outbox_conversation =
    "CASE WHEN json_valid(payload) THEN json_extract(payload, '$.conversation_id') END";

}  // namespace

// ------------------------------------------------------------------- find_buyer

buyer_subject find_buyer(database& db, const buyer_lookup& by, std::span<const unsigned char> key) {
    buyer_subject s;
    s.buyer_user_id = by.buyer_user_id;
    if (!by.order_id.empty()) s.order_ids.insert(by.order_id);
    if (!by.conversation_id.empty()) s.conversation_ids.insert(by.conversation_id);

    // Each round follows every link once; a buyer with orders, actions and
    // conversations is complete after two, three rounds bound it.
    for (int round = 0; round < 3; ++round) {
        bool grew = false;
        std::set<std::string> buyers;
        for (const auto& o : s.order_ids) {
            add_texts(db, "SELECT CASE WHEN json_valid(snapshot) THEN json_extract(snapshot, '$.user_id') END FROM orders WHERE order_id = ?1",
                      o, buyers);
            add_texts(db, "SELECT DISTINCT buyer_user_id FROM outbox WHERE order_id = ?1 AND buyer_user_id != ''", o, buyers);
        }
        for (const auto& c : s.conversation_ids) {
            add_texts(db, "SELECT buyer_user_id FROM conversations WHERE conversation_id = ?1", c, buyers);
            grew |= add_texts(db, "SELECT order_id FROM conversation_cards WHERE conversation_id = ?1", c, s.order_ids);
        }
        if (s.buyer_user_id.empty() && buyers.size() == 1) {
            s.buyer_user_id = *buyers.begin();
            grew = true;
        }
        if (!s.buyer_user_id.empty()) {
            const std::string& b = s.buyer_user_id;
            grew |= add_texts(db,
                              "SELECT order_id FROM orders WHERE json_valid(snapshot) AND json_extract(snapshot, '$.user_id') = ?1",
                              b, s.order_ids);
            grew |= add_texts(db, "SELECT DISTINCT order_id FROM outbox WHERE buyer_user_id = ?1 AND order_id != ''", b, s.order_ids);
            grew |= add_texts(db, "SELECT conversation_id FROM conversations WHERE buyer_user_id = ?1", b, s.conversation_ids);
        }
        if (!grew) break;
    }

    const std::string orders = json_array(s.order_ids), conversations = json_array(s.conversation_ids);
    const std::string& buyer = s.buyer_user_id;
    {
        auto st = db.prepare(std::string("SELECT id FROM outbox WHERE order_id IN (SELECT value FROM json_each(?1)) "
                                         "OR (?3 != '' AND buyer_user_id = ?3) "
                                         "OR (instr(payload, 'conversation_id') AND ") + std::string(outbox_conversation) +
                             " IN (SELECT value FROM json_each(?2)))");
        st.bind(1, orders).bind(2, conversations).bind(3, buyer);
        add_ids(st, s.action_ids);
    }
    {
        auto st = db.prepare(
            "SELECT id FROM inbox WHERE order_id IN (SELECT value FROM json_each(?1)) "
            "OR (payload != '{}' AND instr(payload, 'conversation_id') AND json_valid(payload) "
            "    AND json_extract(payload, '$.data.conversation_id') IN (SELECT value FROM json_each(?2)))");
        st.bind(1, orders).bind(2, conversations);
        add_ids(st, s.event_ids);
    }
    // An event that planned one of the buyer's actions is about the buyer too.
    {
        auto st = db.prepare("SELECT DISTINCT event_id FROM outbox WHERE id IN (SELECT value FROM json_each(?1)) AND event_id != 0");
        st.bind(1, json_array(s.action_ids));
        add_ids(st, s.event_ids);
    }
    {
        auto st = db.prepare(
            "SELECT id FROM review WHERE order_id IN (SELECT value FROM json_each(?1)) "
            "OR case_key IN (SELECT 'conversation:' || value FROM json_each(?2)) "
            "OR (json_valid(evidence) AND (json_extract(evidence, '$.conversation_id') IN (SELECT value FROM json_each(?2)) "
            "    OR json_extract(evidence, '$.inbox_id') IN (SELECT value FROM json_each(?3)) "
            "    OR json_extract(evidence, '$.action_id') IN (SELECT value FROM json_each(?4))))");
        st.bind(1, orders).bind(2, conversations).bind(3, json_array(s.event_ids)).bind(4, json_array(s.action_ids));
        add_ids(st, s.review_ids);
    }
    if (!key.empty()) {
        if (!s.buyer_user_id.empty()) s.hashed_ids.insert(detail::pseudonym(key, "buyer", s.buyer_user_id));
        for (const auto& o : s.order_ids) s.hashed_ids.insert(detail::pseudonym(key, "order", o));
        for (const auto& c : s.conversation_ids) s.hashed_ids.insert(detail::pseudonym(key, "conversation", c));
    }
    return s;
}

// ----------------------------------------------------------------------- export

// By review id too: a review item about a buyer's message has no order, and
// staff's review.ack / review.resolve entries (and console.view of the item)
// carry its note, which may name the buyer ("called 山田 花子 at ...").
// A pseudonym (what the purge leaves of an id) never equals an id, so the
// ids and the pseudonyms can be looked for in one list: each column is
// compared with both.
std::vector<json> audit_rows_about(database& db, const buyer_subject& who) {
    auto st = db.prepare(
        "SELECT id, at, actor, action, order_id, detail FROM audit_log "
        "WHERE order_id IN (SELECT value FROM json_each(?1)) "
        "OR (json_valid(detail) AND (json_extract(detail, '$.conversation_id') IN (SELECT value FROM json_each(?2)) "
        "    OR json_extract(detail, '$.action_id') IN (SELECT value FROM json_each(?3)) "
        "    OR json_extract(detail, '$.review_id') IN (SELECT value FROM json_each(?5)) "
        "    OR json_extract(detail, '$.buyer_user_id') IN (SELECT value FROM json_each(?4)))) "
        "ORDER BY id");
    std::set<std::string> orders = who.order_ids, conversations = who.conversation_ids, buyers = who.hashed_ids;
    orders.insert(who.hashed_ids.begin(), who.hashed_ids.end());
    conversations.insert(who.hashed_ids.begin(), who.hashed_ids.end());
    if (!who.buyer_user_id.empty()) buyers.insert(who.buyer_user_id);
    st.bind(1, json_array(orders)).bind(2, json_array(conversations)).bind(3, json_array(who.action_ids));
    st.bind(4, json_array(buyers)).bind(5, json_array(who.review_ids));
    std::vector<json> rows;
    while (st.step())
        rows.push_back({{"id", st.int64(0)}, {"at", st.int64(1)}, {"actor", st.text(2)}, {"action", st.text(3)},
                        {"order_id", st.text(4)}, {"detail", parsed_or_text(st.text(5))}});
    return rows;
}

json export_buyer(database& db, const buyer_subject& who) {
    const std::string orders = json_array(who.order_ids);
    json doc{{"format", "orderflow-buyer-export/1"},
             {"buyer", {{"buyer_user_id", who.buyer_user_id},
                        {"order_ids", who.order_ids},
                        {"conversation_ids", who.conversation_ids}}}};
    // One read transaction: every section from the same moment.
    db.exec("BEGIN");
    try {
        json& out_orders = doc["orders"] = json::array();
        {
            auto st = db.prepare("SELECT order_id, status, snapshot, updated_at FROM orders WHERE order_id IN (SELECT value FROM json_each(?1)) ORDER BY order_id");
            st.bind(1, orders);
            while (st.step())
                out_orders.push_back({{"order_id", st.text(0)}, {"status", st.text(1)}, {"order", parsed_or_text(st.text(2))},
                                      {"cached_at", st.int64(3)}});
        }
        json& tags = doc["tags"] = json::array();
        {
            auto st = db.prepare("SELECT order_id, tag, created_at FROM order_tags WHERE order_id IN (SELECT value FROM json_each(?1)) ORDER BY order_id, tag");
            st.bind(1, orders);
            while (st.step()) tags.push_back({{"order_id", st.text(0)}, {"tag", st.text(1)}, {"set_at", st.int64(2)}});
        }
        json& answers = doc["answers"] = json::array();
        {
            auto st = db.prepare("SELECT order_id, name, value, message_id, rule_id, captured_at FROM order_attributes "
                                 "WHERE order_id IN (SELECT value FROM json_each(?1)) ORDER BY order_id, name");
            st.bind(1, orders);
            while (st.step())
                answers.push_back({{"order_id", st.text(0)}, {"attribute", st.text(1)}, {"value", st.text(2)},
                                   {"message_id", st.text(3)}, {"rule_id", st.text(4)}, {"captured_at", st.int64(5)}});
        }
        json& cards = doc["order_cards"] = json::array();
        {
            auto st = db.prepare("SELECT conversation_id, order_id, message_id, message_time FROM conversation_cards "
                                 "WHERE conversation_id IN (SELECT value FROM json_each(?1)) ORDER BY conversation_id");
            st.bind(1, json_array(who.conversation_ids));
            while (st.step())
                cards.push_back({{"conversation_id", st.text(0)}, {"order_id", st.text(1)}, {"message_id", st.text(2)},
                                 {"sent_at", st.int64(3)}});
        }
        json& events = doc["events"] = json::array();
        {
            auto st = db.prepare(
                "SELECT id, source, event, order_id, received_at, state, note, finished_at, payload, context "
                "FROM inbox WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id");
            st.bind(1, json_array(who.event_ids));
            while (st.step())
                events.push_back({{"id", st.int64(0)}, {"source", st.text(1)}, {"event", st.text(2)}, {"order_id", st.text(3)},
                                  {"received_at", st.int64(4)}, {"state", st.text(5)}, {"note", st.text(6)},
                                  {"finished_at", st.int64(7)}, {"payload", parsed_or_text(st.text(8))},
                                  {"rules_saw", parsed_or_text(st.text(9))}});
        }
        json& actions = doc["actions"] = json::array();
        {
            auto st = db.prepare(
                "SELECT id, kind, rule_id, order_id, state, reason, created_at, updated_at, payload, result, attempts "
                "FROM outbox WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id");
            st.bind(1, json_array(who.action_ids));
            while (st.step()) {
                json a{{"id", st.int64(0)}, {"kind", st.text(1)}, {"rule_id", st.text(2)}, {"order_id", st.text(3)},
                       {"state", st.text(4)}, {"reason", st.text(5)}, {"planned_at", st.int64(6)}, {"updated_at", st.int64(7)},
                       {"what", parsed_or_text(st.text(8))}, {"tiktok_answer", parsed_or_text(st.text(9))}, {"attempts", st.int64(10)}};
                auto h = db.prepare("SELECT at, state, reason FROM outbox_history WHERE action_id = ?1 ORDER BY id");
                h.bind(1, st.int64(0));
                json& history = a["history"] = json::array();
                while (h.step()) history.push_back({{"at", h.int64(0)}, {"state", h.text(1)}, {"reason", h.text(2)}});
                actions.push_back(std::move(a));
            }
        }
        json& conversations = doc["conversations"] = json::array();
        {
            auto st = db.prepare(
                "SELECT buyer_user_id, conversation_id, updated_at FROM conversations "
                "WHERE (?1 != '' AND buyer_user_id = ?1) OR conversation_id IN (SELECT value FROM json_each(?2)) ORDER BY conversation_id");
            st.bind(1, who.buyer_user_id).bind(2, json_array(who.conversation_ids));
            while (st.step())
                conversations.push_back({{"buyer_user_id", st.text(0)}, {"conversation_id", st.text(1)}, {"updated_at", st.int64(2)}});
        }
        json& reviews = doc["reviews"] = json::array();
        {
            auto st = db.prepare(
                "SELECT id, order_id, reason, severity, summary, evidence, state, created_at, updated_at, resolved_by, note "
                "FROM review WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id");
            st.bind(1, json_array(who.review_ids));
            while (st.step())
                reviews.push_back({{"id", st.int64(0)}, {"order_id", st.text(1)}, {"reason", st.text(2)}, {"severity", st.text(3)},
                                   {"summary", st.text(4)}, {"evidence", parsed_or_text(st.text(5))}, {"state", st.text(6)},
                                   {"created_at", st.int64(7)}, {"updated_at", st.int64(8)}, {"resolved_by", st.text(9)},
                                   {"note", st.text(10)}});
        }
        json& notifications = doc["notifications"] = json::array();
        {
            auto st = db.prepare(
                "SELECT id, channel, review_id, payload, state, updated_at FROM notifications "
                "WHERE review_id IN (SELECT value FROM json_each(?1)) ORDER BY id");
            st.bind(1, json_array(who.review_ids));
            while (st.step())
                notifications.push_back({{"id", st.int64(0)}, {"channel", st.text(1)}, {"review_id", st.int64(2)},
                                         {"payload", parsed_or_text(st.text(3))}, {"state", st.text(4)}, {"updated_at", st.int64(5)}});
        }
        doc["audit"] = audit_rows_about(db, who);
        db.exec("COMMIT");
    } catch (...) {
        try {
            db.exec("ROLLBACK");
        } catch (...) {
        }
        throw;
    }
    return doc;
}

// ----------------------------------------------------------------------- forget

std::string forget_hash(std::span<const unsigned char> key, std::string_view material) {
    return detail::keyed_hex(key, material, 16);
}

std::string order_pseudonym(std::span<const unsigned char> key, std::string_view order_id) {
    return detail::pseudonym(key, "order", order_id);
}

forget_counts& forget_counts::operator+=(const forget_counts& n) {
    orders += n.orders;
    tags += n.tags;
    answers += n.answers;
    events += n.events;
    actions += n.actions;
    conversations += n.conversations;
    reviews += n.reviews;
    notifications += n.notifications;
    audit += n.audit;
    suppressed += n.suppressed;
    given_up += n.given_up;
    wal_kept = wal_kept || n.wal_kept;
    return *this;
}

json forget_counts::to_json() const {
    return {{"orders", orders},   {"tags", tags},       {"answers", answers},       {"events", events},       {"actions", actions},
            {"conversations", conversations}, {"reviews", reviews}, {"notifications", notifications},
            {"audit", audit},     {"suppressed", suppressed}, {"given_up", given_up}};
}

namespace {

int run(database& db, std::string_view sql, const std::string& ids) {
    auto st = db.prepare(sql);
    st.bind(1, ids);
    st.step();
    return db.changes();
}

int run(database& db, std::string_view sql, const std::string& ids, const std::string& more_ids) {
    auto st = db.prepare(sql);
    st.bind(1, ids).bind(2, more_ids);
    st.step();
    return db.changes();
}

}  // namespace

forget_counts forget_buyer(database& db, const buyer_subject& who, std::span<const unsigned char> key, bool suppress,
                           std::int64_t now, std::string_view by, const forget_options& options) {
    const in_flight sends = options.sends;
    const std::string orders = json_array(who.order_ids), actions = json_array(who.action_ids),
                      events = json_array(who.event_ids), reviews = json_array(who.review_ids),
                      conversations = json_array(who.conversation_ids);
    // Freed and overwritten bytes are zeroed, not left in free pages. Every
    // connection is opened with secure_delete on (database::open), and the
    // forget no longer turns it off afterwards: that left every later write
    // of a long-lived connection (the daemon's) leaving old copies of rows
    // in free space (even where SQLite is built with it on by default), in
    // pages a later forget does not rewrite (e.g. the rows a table's first
    // page held before it split). Set here again only so that the forget
    // never depends on how the connection was opened.
    db.exec("PRAGMA secure_delete = ON");
    forget_counts n;
    db.transaction([&] {
        {
            auto st = db.prepare(sends == in_flight::refuse
                                     ? "SELECT count(*) FROM outbox WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('sending', 'unknown')"
                                     : "SELECT count(*) FROM outbox WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'sending'");
            st.bind(1, actions);
            st.step();
            if (st.int64(0) > 0)
                throw forget_refused(std::to_string(st.int64(0)) +
                                     " message(s) to this buyer are being sent or have an unknown outcome, and reconciling them needs "
                                     "their text; nothing was erased. Try again once they are settled (orderflowctl review list "
                                     "shows the unknown ones)");
        }
        n.orders = run(db, "DELETE FROM orders WHERE order_id IN (SELECT value FROM json_each(?1))", orders);
        n.tags = run(db, "DELETE FROM order_tags WHERE order_id IN (SELECT value FROM json_each(?1))", orders);
        n.answers = run(db, "DELETE FROM order_attributes WHERE order_id IN (SELECT value FROM json_each(?1))", orders) +
                    run(db, "DELETE FROM conversation_cards WHERE conversation_id IN (SELECT value FROM json_each(?1)) "
                            "OR order_id IN (SELECT value FROM json_each(?2))",
                        conversations, orders);

        // The audit rows first: they are found by the ids about to be erased.
        {
            json ids = json::array();
            for (const auto& row : audit_rows_about(db, who)) ids.push_back(row.at("id"));
            auto st = db.prepare("UPDATE audit_log SET order_id = '', detail = ?2 WHERE id IN (SELECT value FROM json_each(?1))");
            st.bind(1, ids.dump()).bind(2, json{{"erased", "at the buyer's request"}}.dump());
            st.step();
            n.audit = db.changes();
        }

        // The reason too: like the history's, it may quote an API error about
        // the order. Emptied first, so the skipped ones then say why.
        n.actions = run(db,
                        "UPDATE outbox SET payload = '{}', result = '', buyer_user_id = '', order_id = '', reason = '' "
                        "WHERE id IN (SELECT value FROM json_each(?1))",
                        actions);
        {
            auto st = db.prepare(
                "UPDATE outbox SET state = 'skipped', reason = 'the buyer''s data was erased at their request', updated_at = ?2 "
                "WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('planned', 'deferred')");
            st.bind(1, actions).bind(2, now);
            st.step();
        }
        if (sends == in_flight::give_up) {
            auto st = db.prepare(
                "UPDATE outbox SET state = 'failed', updated_at = ?2, "
                "reason = 'given up, never sent: the buyer''s data was erased at their request after the backup this database "
                "was restored from' "
                "WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'unknown'");
            st.bind(1, actions).bind(2, now);
            st.step();
            n.given_up = db.changes();
        }
        // The history's reasons may quote an API error about the order.
        run(db, "UPDATE outbox_history SET reason = '' WHERE action_id IN (SELECT value FROM json_each(?1))", actions);

        for (std::int64_t id : who.event_ids) detail::hash_keys_of_event(db, key, id);
        n.events = run(db,
                       "UPDATE inbox SET payload = '{}', context = '', order_id = '', "
                       "note = CASE WHEN state = 'pending' THEN '' ELSE note END, "
                       "finished_at = CASE WHEN state = 'pending' THEN unixepoch() ELSE finished_at END, "
                       "state = CASE WHEN state = 'pending' THEN 'ignored' ELSE state END "
                       "WHERE id IN (SELECT value FROM json_each(?1))",
                       events);

        {
            auto st = db.prepare(
                "DELETE FROM conversations WHERE (?1 != '' AND buyer_user_id = ?1) OR conversation_id IN (SELECT value FROM json_each(?2))");
            st.bind(1, who.buyer_user_id).bind(2, conversations);
            st.step();
            n.conversations = db.changes();
        }
        n.notifications = run(db, "DELETE FROM notifications WHERE review_id IN (SELECT value FROM json_each(?1))", reviews);
        {
            auto st = db.prepare(
                // Staff's note goes too, on an item already resolved as
                // well: staff write what they did about the buyer there
                // ("called 山田 花子 at ...", a corrected engraving text).
                // Who resolved it stays.
                "UPDATE review SET order_id = '', case_key = '', evidence = '{}', summary = 'erased at the buyer''s request', "
                "state = 'resolved', resolved_by = CASE WHEN state = 'resolved' THEN resolved_by ELSE ?2 END, "
                "note = CASE WHEN state = 'resolved' THEN 'erased at the buyer''s request' "
                "ELSE 'closed by a forget of the buyer''s data' END, updated_at = ?3 "
                "WHERE id IN (SELECT value FROM json_each(?1))");
            st.bind(1, reviews).bind(2, by).bind(3, now);
            st.step();
            n.reviews = db.changes();
        }

        {
            std::vector<std::string> subjects;
            if (!who.buyer_user_id.empty()) subjects.push_back("buyer:" + who.buyer_user_id);
            for (const auto& o : who.order_ids) subjects.push_back("order:" + o);
            for (const auto& c : who.conversation_ids) subjects.push_back("conversation:" + c);
            for (const auto& s : subjects) n.suppressed += note_forgotten(db, forget_hash(key, s), options.forgotten_at > 0 ? options.forgotten_at : now, suppress);
        }

        auto st = db.prepare("INSERT INTO audit_log (at, actor, action, order_id, detail) VALUES (?1, ?2, 'buyer.forget', '', ?3)");
        json detail = n.to_json();
        detail["by"] = by;
        st.bind(1, now).bind(2, options.actor).bind(3, detail.dump());
        st.step();
        if (options.before_commit) options.before_commit();
    });
    // The old page images are still in the WAL: copied over and the WAL
    // emptied. TRUNCATE waits (busy timeout) for readers of older snapshots.
    auto st = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    n.wal_kept = st.step() && st.int64(0) != 0;
    return n;
}

void set_aside_event(database& db, std::span<const unsigned char> key, std::int64_t id, std::int64_t now) {
    detail::hash_keys_of_event(db, key, id);
    auto st = db.prepare(
        "UPDATE inbox SET payload = '{}', context = '', order_id = '', state = 'ignored', "
        "note = 'about a buyer whose data was erased at their request; not read or acted on', finished_at = ?2, starts = 0 "
        "WHERE id = ?1 AND state = 'pending'");
    st.bind(1, id).bind(2, now);
    st.step();
}

bool note_forgotten(database& db, std::string_view subject, std::int64_t at, bool suppress) {
    auto had = db.prepare("SELECT suppress FROM forgotten WHERE subject = ?1");
    had.bind(1, subject);
    if (!had.step()) {
        auto st = db.prepare("INSERT INTO forgotten (subject, at, suppress) VALUES (?1, ?2, ?3)");
        st.bind(1, subject).bind(2, at).bind(3, std::int64_t{suppress});
        st.step();
        return suppress;
    }
    const bool suppressed = had.int64(0) != 0;
    auto st = db.prepare("UPDATE forgotten SET at = max(at, ?2), suppress = max(suppress, ?3) WHERE subject = ?1");
    st.bind(1, subject).bind(2, at).bind(3, std::int64_t{suppress});
    st.step();
    return suppress && !suppressed;
}

std::optional<forget_mark> forget_mark_of(database& db, std::span<const unsigned char> key, std::string_view buyer_user_id,
                                          std::string_view order_id, std::string_view conversation_id) {
    {
        auto any = db.prepare("SELECT 1 FROM forgotten LIMIT 1");
        if (!any.step()) return std::nullopt;
    }
    auto st = db.prepare("SELECT at, suppress FROM forgotten WHERE subject = ?1");
    std::optional<forget_mark> out;
    for (const auto& [kind, id] : {std::pair{"buyer:", buyer_user_id}, std::pair{"order:", order_id},
                                   std::pair{"conversation:", conversation_id}}) {
        if (id.empty()) continue;
        st.reset();
        st.bind(1, forget_hash(key, std::string(kind) + std::string(id)));
        if (!st.step()) continue;
        if (!out) out.emplace();
        out->at = std::max(out->at, st.int64(0));
        out->suppress = out->suppress || st.int64(1) != 0;
    }
    return out;
}

bool is_forgotten(database& db, std::span<const unsigned char> key, std::string_view buyer_user_id, std::string_view order_id,
                  std::string_view conversation_id) {
    const auto mark = forget_mark_of(db, key, buyer_user_id, order_id, conversation_id);
    return mark && mark->suppress;
}

int drop_forget_horizons(database& db, std::int64_t before) {
    int n = 0;
    db.transaction([&] {
        auto st = db.prepare("DELETE FROM forgotten WHERE suppress = 0 AND at < ?1");
        st.bind(1, before);
        st.step();
        n = db.changes();
    });
    return n;
}

}  // namespace orderflow::storage
