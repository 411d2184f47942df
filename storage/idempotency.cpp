// See idempotency.hpp.
#include "storage/idempotency.hpp"

#include "storage/detail/sodium.hpp"
#include "storage/vault.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace orderflow::storage {

namespace {

bool is_plain_hash(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A series (a plain hash) in its keyed form; false when it is not one.
bool rekey_series(std::span<const unsigned char> key, nlohmann::json& series) {
    if (!series.is_string() || !is_plain_hash(series.get_ref<const std::string&>())) return false;
    series = keyed_hash(key, series.get_ref<const std::string&>());
    return true;
}

// An outbox payload ({"series": ...}) or a timer's ({"data": {"series": ...}})
// with its series keyed; the payload as it was when there is none.
std::string rekeyed_payload(std::span<const unsigned char> key, const std::string& payload, bool in_data) {
    if (payload.find("\"series\"") == std::string::npos) return payload;
    auto doc = nlohmann::json::parse(payload, nullptr, false);
    if (!doc.is_object()) return payload;
    nlohmann::json* holder = &doc;
    if (in_data) {
        auto it = doc.find("data");
        if (it == doc.end() || !it->is_object()) return payload;
        holder = &*it;
    }
    auto series = holder->find("series");
    if (series == holder->end() || !rekey_series(key, *series)) return payload;
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct progress {
    std::int64_t done = 0, last = 0;
};

}  // namespace

orderflow::secret idempotency_key(const vault& v) { return v.derived_key("orderflow: idempotency keys, v1"); }

std::string keyed_hash(std::span<const unsigned char> key, std::string_view plain_hash) {
    return detail::keyed_hex(key, plain_hash, 32);
}

std::string idempotency_hash(std::span<const unsigned char> key, std::string_view material) {
    std::string plain = hash_key(material);
    return key.empty() ? plain : keyed_hash(key, plain);
}

std::string keyed_dedupe_key(std::span<const unsigned char> key, std::string_view dedupe_key) {
    for (std::string_view prefix : {std::string_view("h:"), std::string_view("trk:"), std::string_view("timer:")}) {
        if (dedupe_key.substr(0, prefix.size()) != prefix) continue;
        const std::string_view plain = dedupe_key.substr(prefix.size(), 64);
        const std::string_view rest = dedupe_key.substr(std::min(dedupe_key.size(), prefix.size() + 64));
        // What may follow: a package row's "#PACKAGE#ORDER" (or "#forgotten:HASH"), a timer's "@DEADLINE".
        if (!is_plain_hash(plain) || !(rest.empty() || rest[0] == '#' || rest[0] == '@')) break;
        return std::string(prefix) + keyed_hash(key, plain) + std::string(rest);
    }
    return std::string(dedupe_key);
}

bool plain_hashes_left(database& db) {
    auto st = db.prepare("SELECT 1 FROM daemon_state WHERE name = 'plain_hashes'");
    return st.step();
}

void require_keyed(database& db, std::string_view who) {
    if (plain_hashes_left(db))
        throw storage_error(0, std::string(who) + " started before the database's stored keys were converted to keyed hashes "
                                                  "(orderflowd converts them at its start, before anything plans an action); "
                                                  "it stops rather than make keys that would be converted again: a fault in "
                                                  "orderflowd's start-up, please report it");
}

std::int64_t actions_keyed_through(database& db) {
    auto st = db.prepare("SELECT value FROM daemon_state WHERE name = 'plain_hashes'");
    if (!st.step()) return std::numeric_limits<std::int64_t>::max();
    auto record = nlohmann::json::parse(st.text(0), nullptr, false);
    if (!record.is_object() || !record.contains("outbox") || !record["outbox"].is_number_integer()) return 0;
    return record["outbox"].get<std::int64_t>();
}

void check_idempotency_key(database& db, std::span<const unsigned char> key, bool record) {
    const std::string check = keyed_hash(key, "orderflow: the key idempotency keys are made with");
    auto read = db.prepare("SELECT value FROM daemon_state WHERE name = 'idempotency_key_check'");
    if (read.step()) {
        if (read.text(0) == check) return;
        throw wrong_key_error(0, "the vault key (storage.vault_key_file) is not the key this database's idempotency keys were made "
                            "with: with it, every message already sent could be planned and sent again. Put back the vault "
                            "key file this database was used with (a backup of it), and start again");
    }
    read.reset();
    if (!record) return;
    db.transaction([&] {
        auto write = db.prepare("INSERT OR IGNORE INTO daemon_state (name, value, updated_at) VALUES ('idempotency_key_check', ?1, 0)");
        write.bind(1, check);
        write.step();
    });
}

std::string vault_key_refusal(database& db, orderflow::secret vault_key) {
    vault v(db, std::move(vault_key));
    try {
        // In the order orderflowd meets them at its start: the tokens, then the keys.
        std::vector<std::string> names;
        for (auto st = db.prepare("SELECT name FROM vault ORDER BY name"); st.step();) names.push_back(st.text(0));
        for (const auto& name : names) v.get(name);
        const orderflow::secret key = idempotency_key(v);
        check_idempotency_key(db, {reinterpret_cast<const unsigned char*>(key.reveal().data()), key.reveal().size()}, false);
    } catch (const wrong_key_error& e) {
        return e.what();
    }
    return {};
}

rekey_counts rekey_plain_hashes(database& db, std::span<const unsigned char> key, int max_rows) {
    rekey_counts n;
    if (key.size() != 32) throw std::invalid_argument("rekey_plain_hashes: the key must be 32 bytes");
    db.transaction([&] {
        auto read = db.prepare("SELECT value FROM daemon_state WHERE name = 'plain_hashes'");
        if (!read.step()) {
            n.done = true;
            return;
        }
        auto record = nlohmann::json::parse(read.text(0), nullptr, false);
        read.reset();
        // The rows to convert run to the table's last row now, not the one
        // migration 22 saw: an orderflowctl command may have run the
        // migration while the older orderflowd still ran and went on writing
        // plain keys. While the record exists nothing writes a keyed one
        // (orderflowd converts before it plans or takes a webhook), so every
        // row after the mark is plain.
        auto range = [&](const char* table) {
            if (!record.is_object() || !record.contains(table) || !record[table].is_number_integer())
                throw storage_error(0, std::string("the record of the keys still to convert (daemon_state 'plain_hashes') is "
                                                "unreadable; nothing was converted. Restore the database from a backup "
                                                "taken before this version, and start orderflowd on it"));
            progress p;
            p.done = record[table].get<std::int64_t>();
            auto last = db.prepare(std::string("SELECT coalesce(max(id), 0) FROM ") + table);
            last.step();
            p.last = last.int64(0);
            return p;
        };
        const std::int64_t limit = max_rows < 0 ? -1 : std::max(max_rows, 1);
        // The next rows of a table, the record's mark moved past them.
        auto next = [&](const char* table, const std::string& sql, auto&& convert) {
            progress p = range(table);
            if (p.done >= p.last) return std::int64_t{0};
            auto pick = db.prepare(sql);
            pick.bind(1, p.done).bind(2, p.last).bind(3, limit);
            std::int64_t seen = 0, changed = 0, last_id = p.done;
            while (pick.step()) {
                ++seen;
                last_id = pick.int64(0);
                changed += convert(pick);
            }
            pick.reset();
            record[table] = limit > 0 && seen == limit ? last_id : p.last;
            return changed;
        };
        auto write_action = db.prepare("UPDATE outbox SET idem_key = ?2, payload = ?3 WHERE id = ?1");
        n.actions = next("outbox", "SELECT id, idem_key, payload FROM outbox WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
                         [&](statement& row) {
                             const std::string idem = row.text(1), payload = row.text(2);
                             std::string new_idem = is_plain_hash(idem) ? keyed_hash(key, idem) : idem;
                             std::string new_payload = rekeyed_payload(key, payload, false);
                             if (new_idem == idem && new_payload == payload) return 0;
                             write_action.bind(1, row.int64(0)).bind(2, new_idem).bind(3, new_payload);
                             write_action.step();
                             write_action.reset();
                             return 1;
                         });
        // Only the keys made from content: a rowid range, not the dedupe
        // key's index (whose order the conversion changes).
        auto write_event = db.prepare("UPDATE inbox SET dedupe_key = ?2, payload = ?3 WHERE id = ?1");
        n.events = next("inbox",
                        "SELECT id, dedupe_key, payload, source FROM inbox NOT INDEXED WHERE id > ?1 AND id <= ?2 "
                        "AND (dedupe_key GLOB 'h:*' OR dedupe_key GLOB 'trk:*' OR dedupe_key GLOB 'timer:*') ORDER BY id LIMIT ?3",
                        [&](statement& row) {
                            const std::string dedupe = row.text(1), payload = row.text(2);
                            std::string new_dedupe = keyed_dedupe_key(key, dedupe);
                            std::string new_payload = row.text(3) == "timer" ? rekeyed_payload(key, payload, true) : payload;
                            if (new_dedupe == dedupe && new_payload == payload) return 0;
                            write_event.bind(1, row.int64(0)).bind(2, new_dedupe).bind(3, new_payload);
                            write_event.step();
                            write_event.reset();
                            return 1;
                        });
        const progress a = range("outbox"), e = range("inbox");
        if (a.done >= a.last && e.done >= e.last) {
            db.exec("DELETE FROM daemon_state WHERE name = 'plain_hashes'");
            n.done = true;
        } else {
            auto write = db.prepare("UPDATE daemon_state SET value = ?1 WHERE name = 'plain_hashes'");
            write.bind(1, record.dump());
            write.step();
        }
    });
    return n;
}

}  // namespace orderflow::storage
