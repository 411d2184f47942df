// See data_rights.hpp.
#include "daemon/data_rights.hpp"

#include "common/log.hpp"
#include "common/secret.hpp"
#include "daemon/detail/local_time.hpp"
#include "storage/buyer_data.hpp"
#include "storage/database.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iomanip>
#include <iterator>
#include <ostream>

namespace orderflow::daemon {

using json = nlohmann::json;

namespace {

constexpr const char* buyer_usage =
    "usage: orderflowctl buyer export|forget|refresh --buyer ID | --order ID | --conversation ID --config FILE\n";

// Who acted on an audit row: the person the detail names, else the program.
std::string actor_of(const json& row) {
    const json& d = row.at("detail");
    if (d.is_object() && d.contains("by") && d["by"].is_string() && !d["by"].get_ref<const std::string&>().empty())
        return d["by"].get<std::string>();
    return row.at("actor").get<std::string>();
}

bool action_matches(const std::string& action, const std::string& filter) {
    return filter.empty() || action == filter || (action.size() > filter.size() && action.starts_with(filter) && action[filter.size()] == '.');
}

int audit(storage::database& db, storage::store& store, std::span<const unsigned char> key, const data_request& r, std::ostream& out,
          std::ostream& err) {
    if (r.argv.size() != 1) {
        err << "usage: orderflowctl audit [--since 7d|TIME] [--order ID] [--buyer ID] [--action NAME] [--limit N] [--json] --config FILE\n";
        return 2;
    }
    // Newest first until --limit matches, then turned around.
    std::vector<json> rows;
    // An entry older than retention.personal_data names its order by a
    // keyed pseudonym (storage/retention.hpp): --order finds it by that too.
    const std::string hashed_order = r.order.empty() ? std::string() : storage::order_pseudonym(key, r.order);
    auto take = [&](json row) {
        if (row.at("at").get<std::int64_t>() < r.since) return;
        if (!r.order.empty() && row.at("order_id") != r.order && row.at("order_id") != hashed_order) return;
        if (!action_matches(row.at("action").get<std::string>(), r.action)) return;
        if (static_cast<int>(rows.size()) < r.limit) rows.push_back(std::move(row));
    };
    if (!r.buyer.empty()) {
        // Everything about the buyer, found as an export finds it.
        storage::buyer_lookup by;
        by.buyer_user_id = r.buyer;
        auto about = storage::audit_rows_about(db, storage::find_buyer(db, by, key));
        for (auto it = about.rbegin(); it != about.rend(); ++it) take(std::move(*it));
    } else if (!r.order.empty()) {
        // Newest first from both: the entries naming the order, and those naming its pseudonym.
        auto plain = store.audit_entries(r.since, r.order, r.action, r.limit);
        auto hashed = store.audit_entries(r.since, hashed_order, r.action, r.limit);
        std::vector<json> both;
        std::merge(std::make_move_iterator(plain.begin()), std::make_move_iterator(plain.end()), std::make_move_iterator(hashed.begin()),
                   std::make_move_iterator(hashed.end()), std::back_inserter(both),
                   [](const json& a, const json& b) { return a.at("id").get<std::int64_t>() > b.at("id").get<std::int64_t>(); });
        for (auto& row : both) take(std::move(row));
    } else {
        for (auto& row : store.audit_entries(r.since, r.order, r.action, r.limit)) take(std::move(row));
    }
    std::reverse(rows.begin(), rows.end());   // oldest first, as a log reads
    if (r.json) {
        for (const auto& row : rows) out << row.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
        return 0;
    }
    if (rows.empty()) {
        out << "no audit entries match\n";
        return 0;
    }
    for (const auto& row : rows) {
        json detail = row.at("detail");
        if (detail.is_object()) detail.erase("by");
        out << detail::local_time_text(row.at("at").get<std::int64_t>()) << "  " << std::left << std::setw(14) << actor_of(row) << " "
            << std::setw(26) << row.at("action").get<std::string>() << " "
            << (row.at("order_id").get<std::string>().empty() ? "-" : "order " + row.at("order_id").get<std::string>()) << "  "
            << detail.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    }
    out << rows.size() << " entr" << (rows.size() == 1 ? "y" : "ies") << " (oldest first; --limit " << r.limit << ")\n";
    return 0;
}

// The last forget ledger record this database has had applied
// (storage/forget_ledger.hpp), in daemon_state; 0 before the first.
constexpr std::string_view ledger_mark_state = "forget_ledger";

std::int64_t ledger_mark(storage::store& store) {
    const json j = json::parse(store.get_state(ledger_mark_state).value_or("null"), nullptr, false);
    return j.is_object() && j.contains("seq") && j["seq"].is_number_integer() ? j["seq"].get<std::int64_t>() : 0;
}

void set_ledger_mark(storage::store& store, std::int64_t seq, std::int64_t now) {
    store.put_state(ledger_mark_state, json{{"seq", seq}}.dump(), now);
}

// The daemon's last whole purge (daemon/housekeeping.cpp records it):
// {"purge_ran_at", "purged_before"} (unix seconds), or null before the first.
json last_purge(storage::store& store) {
    const json purge = json::parse(store.get_state(storage::last_purge_state).value_or("null"), nullptr, false);
    if (!purge.is_object() || !purge.contains("at") || !purge.contains("before") || !purge["at"].is_number_integer() ||
        !purge["before"].is_number_integer())
        return nullptr;
    return {{"purge_ran_at", purge["at"]}, {"purged_before", purge["before"]}};
}

// What became of the data older than retention.personal_data: a forget by
// the buyer's id finds none of it, and must say why truthfully.
std::string older_data(storage::store& store) {
    const json purge = last_purge(store);
    if (purge.is_null())
        return "older data: no retention purge has run yet, so none was removed before this";
    return "older data: the retention purge of " + detail::local_time_text(purge["purge_ran_at"].get<std::int64_t>()) +
           " removed the personal data of everything finished before " +
           detail::local_time_text(purge["purged_before"].get<std::int64_t>()) +
           ", and what it keeps (keys, audit entries) names orders, conversations and buyers only by keyed hashes, which nothing "
           "links to this buyer any more";
}

int buyer(storage::database& db, storage::store& store, std::span<const unsigned char> key, const data_request& r,
          std::ostream& out, std::ostream& err, std::int64_t now) {
    if (r.argv.size() != 2 || (r.argv[1] != "export" && r.argv[1] != "forget")) {
        err << buyer_usage;
        return 2;
    }
    storage::buyer_lookup lookup;
    if (!buyer_lookup_of(r, lookup, err)) return 2;
    const storage::buyer_subject who = storage::find_buyer(db, lookup, key);
    if (r.argv[1] == "export") {
        json doc = storage::export_buyer(db, who);
        // An empty export on day 100 must not read as "never held": what
        // the purge removed, and up to when (docs/privacy.md).
        doc["older_data"] = last_purge(store);
        doc["exported_at"] = now;
        doc["exported_by"] = r.by;
        json counts = json::object();
        for (const char* part : {"orders", "tags", "events", "actions", "conversations", "reviews", "notifications", "audit"})
            counts[part] = doc[part].size();
        // Who handed over whose data: the export is in the audit log, and so
        // in the next export, and erased with the rest by a forget.
        db.transaction([&] {
            store.audit(now, "orderflowctl", "buyer.export", lookup.order_id,
                        {{"by", r.by}, {"buyer_user_id", who.buyer_user_id}, {"conversation_id", lookup.conversation_id},
                         {"counts", counts}});
        });
        out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return 0;
    }
    // Recorded outside the database, so a restore of an older backup does
    // not bring the buyer back (storage/forget_ledger.hpp): synced to the
    // ledger inside the forget's transaction, before its commit. A crash or
    // a failed commit between the two leaves the record without the
    // erasure, which the daemon's next catch-up applies, rather than the
    // erasure without its record. Only a record that cannot be written at
    // all (its folder, its permissions) lets the erasure go on without it:
    // the buyer's request comes first, and the command says what to fix. A
    // ledger another process holds locked (storage::ledger_locked) passes:
    // then nothing is erased, and the command says to run it again.
    const std::filesystem::path ledger = storage::forget_ledger_path(db.path());
    std::int64_t seq = 0;
    std::string not_recorded;
    storage::forget_options how;
    how.before_commit = [&] {
        // The database's place in the ledger: only when it had every
        // earlier record applied does it move on to this one (otherwise
        // catch_up_forgets applies them, this one with them).
        const std::int64_t mark = ledger_mark(store);
        try {
            seq = storage::append_forget_record(ledger, now, r.suppress, storage::forget_subjects(key, who), mark,
                                                r.ledger_keep > 0 ? now - r.ledger_keep : 0);
        } catch (const storage::ledger_locked&) {
            throw;   // rolls the erasure back
        } catch (const storage::storage_error& e) {
            not_recorded = e.what();
            return;
        }
        if (seq == mark + 1) set_ledger_mark(store, seq, now);
    };
    storage::forget_counts n;
    try {
        n = storage::forget_buyer(db, who, key, r.suppress, now, r.by, how);
    } catch (const storage::forget_refused& e) {
        err << "orderflowctl buyer forget: " << e.what() << "\n";
        return 1;
    } catch (const storage::ledger_locked& e) {
        err << "orderflowctl buyer forget: nothing was erased: " << e.what() << "\n";
        return 1;
    } catch (const storage::storage_error& e) {
        if (seq == 0) throw;
        // The record is synced; the erasure may not be committed.
        err << "orderflowctl buyer forget: the forget failed (" << e.what() << ") after it was recorded in the forget ledger ("
            << ledger.filename().string() << ", record " << seq
            << "): if its erasure did not commit, orderflowd does it at its next start or retention pass (retention.interval); "
               "fix the database's trouble and run this forget again now to finish it (it is safe to repeat)\n";
        return 1;
    }
    if (n.total() > 0)
        out << "erased the buyer's data: " << n.orders << " cached order(s), " << n.tags << " tag(s), " << n.events
            << " event(s), " << n.actions << " action(s), " << n.conversations << " conversation(s), " << n.reviews
            << " review item(s), " << n.notifications << " notification(s), " << n.audit << " audit entr"
            << (n.audit == 1 ? "y" : "ies") << "\n";
    else
        out << "nothing left that names this buyer: no row holds their id, or an order or conversation linked to them; "
               "nothing was erased\n";
    out << older_data(store) << "\n";
    out << "kept: the keys that stop anything being sent twice (hashes)";
    if (r.suppress) out << "; " << n.suppressed << " suppression entr" << (n.suppressed == 1 ? "y" : "ies")
                        << " (keyed hashes): later events about this buyer are set aside unread";
    else out << "; no suppression entry (privacy.suppress_forgotten is off): a later order from them is handled as anyone's, "
                "while a change from before this forget that TikTok reports again is set aside unread";
    out << "\n";
    if (n.wal_kept)
        err << "orderflowctl buyer forget: the buyer's data was erased, but the write-ahead log could not be emptied now "
               "(another connection was reading), so old copies of their rows stay in it until the next checkpoint; "
               "run the forget again in a minute (it is safe to repeat)\n";
    if (!not_recorded.empty()) {
        err << "orderflowctl buyer forget: the buyer's data was erased, but the forget could not be recorded in the forget "
               "ledger (" << not_recorded << "). A database restored from an older backup would not forget them again: fix "
               "the ledger file's folder or permissions and run this forget again (it is safe to repeat)\n";
        return 1;
    }
    out << "recorded in the forget ledger (" << ledger.filename().string() << ", record " << seq
        << "): a database restored from an older backup forgets them again when orderflowd starts on it\n";
    return n.wal_kept ? 1 : 0;
}

// Staff correct an order's tags (the attributes rules set and read).
int order_tags(storage::database& db, storage::store& store, const data_request& r, std::ostream& out, std::ostream& err,
               std::int64_t now) {
    if (r.argv.size() != 4 || (r.argv[1] != "tag" && r.argv[1] != "untag") || r.argv[2].empty() || r.argv[3].empty()) {
        err << "usage: orderflowctl order tag|untag ORDER_ID TAG --config FILE\n";
        return 2;
    }
    const std::string& order_id = r.argv[2];
    const std::string& tag = r.argv[3];
    bool changed = false, unknown = false;
    db.transaction([&] {
        const auto before = store.tags(order_id);
        const bool had = std::find(before.begin(), before.end(), tag) != before.end();
        // A mistyped id must not pass for a correction: an order orderflow
        // has neither cached nor had an event about is refused. A tag it
        // has can still be removed (one set before this check existed).
        if (!store.get_order(order_id) && !(r.argv[1] == "untag" && had)) {
            auto seen = db.prepare("SELECT 1 FROM inbox WHERE order_id = ?1 LIMIT 1");
            seen.bind(1, order_id);
            unknown = !seen.step();
            if (unknown) return;
        }
        if (r.argv[1] == "tag") store.add_tag(order_id, tag, now);
        else store.remove_tag(order_id, tag);
        changed = (r.argv[1] == "tag") != had;
        if (changed) store.audit(now, "orderflowctl", "order." + r.argv[1], order_id, {{"by", r.by}, {"tag", tag}});
    });
    if (unknown) {
        err << "orderflowctl order " << r.argv[1] << ": orderflow knows no order " << order_id
            << " (none cached, no event about it); check the id; nothing changed\n";
        return 1;
    }
    if (!changed) out << "order " << order_id << (r.argv[1] == "tag" ? " already has" : " does not have") << " tag " << tag << "; nothing changed\n";
    else out << "order " << order_id << ": tag " << tag << (r.argv[1] == "tag" ? " set" : " removed") << " by " << r.by << "\n";
    return 0;
}

}  // namespace

orderflow::secret forget_key(const storage::vault& vault) { return vault.derived_key("orderflow: forget_hash key, v1"); }

std::span<const unsigned char> key_bytes(const orderflow::secret& key) {
    return {reinterpret_cast<const unsigned char*>(key.reveal().data()), key.reveal().size()};
}

forget_catch_up catch_up_forgets(storage::database& db, storage::store& store, const orderflow::secret& forget_key,
                                 const std::filesystem::path& ledger_file, std::int64_t now, std::int64_t drop_before,
                                 bool at_start) {
    forget_catch_up out;
    const std::string fix = "make " + ledger_file.string() + " a file the daemon's user can read and write (chown orderflow: "
                            "FILE; chmod 600 FILE), or move what is there aside and run again the forgets it held";
    const auto ledger_failed = [&](const storage::storage_error& e) {
        log::error("forget_ledger_failed",
                   {{"error", e.what()},
                    {"advice", "until the forget ledger can be read and written, forgets made after the backup this database "
                               "may be restored from cannot be done again: " + fix + "; tried again at every retention pass"}});
        out.unreadable = true;
    };
    storage::ledger_contents ledger;
    try {
        ledger = storage::read_forget_ledger(ledger_file);
    } catch (const storage::storage_error& e) {
        // At start nothing has been processed yet: a copy restored from a
        // backup may hold forgotten buyers, and its sends to them would be
        // reconciled and sent. Better not to start than to message them.
        if (at_start)
            throw std::runtime_error(std::string(e.what()) + "; orderflowd does not start without it, since this database may "
                                     "be a restored backup holding buyers forgotten since: " + fix);
        ledger_failed(e);
        return out;
    }
    out.unreadable_lines = ledger.unreadable_lines;
    const std::int64_t mark = ledger_mark(store);
    std::vector<storage::forget_record> pending;
    for (const auto& r : ledger.records)
        if (r.seq > mark) pending.push_back(r);
    out.pending = static_cast<int>(pending.size());
    if (!pending.empty()) {
        // The mark moves record by record: a stop half way does not start over.
        out.done = storage::reapply_forgets(db, key_bytes(forget_key), pending, now, "forget ledger (applied again)",
                                            [&](std::int64_t seq) { db.transaction([&] { set_ledger_mark(store, seq, now); }); });
        if (out.done.records > 0)
            log::warn("forgets_applied_again",
                      {{"records", out.done.records},
                       {"found", out.done.found},
                       {"erased", out.done.erased.total()},
                       {"sends_given_up", out.done.erased.given_up},
                       {"suppressed", out.done.suppressed},
                       {"skipped_lines", out.unreadable_lines},
                       {"advice", "this database was behind the forget ledger (restored from a backup taken before these "
                                  "forgets): the buyers it still held were forgotten again; orderflowctl audit --action "
                                  "buyer.forget lists them"}});
        if (!out.done.refused.empty())
            log::warn("forgets_waiting",
                      {{"records", out.pending - out.done.records},
                       {"reason", out.done.refused},
                       {"advice", "a message to the buyer is being sent right now; tried again at the next retention pass"}});
    }
    if (drop_before > 0) {
        // The horizons of forgets without suppression go with their records.
        out.horizons_dropped = storage::drop_forget_horizons(db, drop_before);
        try {
            out.dropped = storage::prune_forget_ledger(ledger_file, drop_before);
        } catch (const storage::storage_error& e) {
            ledger_failed(e);
        }
    }
    return out;
}

bool buyer_lookup_of(const data_request& r, storage::buyer_lookup& out, std::ostream& err) {
    const int given = !r.buyer.empty() + !r.order.empty() + !r.conversation.empty();
    if (given != 1) {
        err << "orderflowctl buyer: name the buyer by exactly one of --buyer USER_ID, --order ORDER_ID, --conversation ID\n";
        return false;
    }
    out.buyer_user_id = r.buyer;
    out.order_id = r.order;
    out.conversation_id = r.conversation;
    return true;
}

int data_rights_command(storage::database& db, storage::store& store, const orderflow::secret& forget_key,
                        const data_request& r, std::ostream& out, std::ostream& err, std::int64_t now) {
    if (r.argv.empty()) return 2;
    if (r.argv[0] == "audit") return audit(db, store, key_bytes(forget_key), r, out, err);
    if (r.argv[0] == "buyer") return buyer(db, store, key_bytes(forget_key), r, out, err, now);
    if (r.argv[0] == "order") return order_tags(db, store, r, out, err, now);
    err << "unknown command '" << r.argv[0] << "'\n";
    return 2;
}

}  // namespace orderflow::daemon
