// See review_cli.hpp. Output is for people at a terminal; the daemon runs
// this on its own connection when a request comes over the admin socket.
#include "daemon/review_cli.hpp"

#include "daemon/detail/local_time.hpp"

#include "storage/conversation_links.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace orderflow::daemon {

namespace {

std::string when(std::int64_t t) { return detail::local_minute_text(t); }

constexpr const char* usage =
    "usage: orderflowctl review list [--all] [--limit N] --config FILE   (the newest 200 unless --limit N)\n"
    "       orderflowctl review show ID --config FILE\n"
    "       orderflowctl review ack ID [--note TEXT] [--by NAME] --config FILE\n"
    "       orderflowctl review resolve ID --note TEXT [--by NAME] --config FILE\n";

}  // namespace

int review_command(storage::database& db, storage::store& store, const review_args& a, std::ostream& out, std::ostream& err,
                   std::int64_t now) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    if (sub.empty()) {
        err << usage;
        return 2;
    }
    // list takes nothing more, the others one ID: an extra word is a
    // mistake (a note without --note?), not something to drop silently.
    const std::size_t words = sub == "list" ? 2 : 3;
    if (a.positional.size() > words && (sub == "list" || sub == "show" || sub == "ack" || sub == "resolve")) {
        err << "orderflowctl review " << sub << ": unexpected argument '" << a.positional[words] << "'\n" << usage;
        return 2;
    }
    if (sub == "list") {
        auto items = store.reviews(a.all, a.limit);
        if (items.empty()) {
            out << (a.all ? "the review queue is empty\n" : "nothing needs review\n");
            return 0;
        }
        for (const auto& r : items)
            out << "#" << r.id << "  " << std::left << std::setw(12) << r.state << std::setw(9) << r.severity
                << when(r.updated_at) << "  order " << (r.order_id.empty() ? "-" : r.order_id) << "  " << r.reason
                << (r.occurrences > 1 ? " (x" + std::to_string(r.occurrences) + ")" : "") << "\n      " << r.summary << "\n";
        // Newest first: what is cut is the oldest, which has waited longest.
        if (static_cast<int>(items.size()) == a.limit) {
            std::int64_t total = 0;
            if (a.all) {
                auto st = db.prepare("SELECT count(*) FROM review");
                if (st.step()) total = st.int64(0);
            } else {
                total = store.open_review_count();
            }
            if (total > a.limit)
                out << (total - a.limit) << " more " << (a.all ? "" : "open ") << (total - a.limit == 1 ? "item" : "items")
                    << " not shown: --limit " << total << "\n";
        }
        return 0;
    }
    if (sub != "show" && sub != "ack" && sub != "resolve") {
        err << usage;
        return 2;
    }
    if (a.positional.size() < 3) {
        err << usage;
        return 2;
    }
    char* end = nullptr;
    long long id = std::strtoll(a.positional[2].c_str(), &end, 10);
    if (!end || *end != '\0' || id <= 0) {
        err << "orderflowctl review: '" << a.positional[2] << "' is not a review id (see orderflowctl review list)\n";
        return 2;
    }
    auto item = store.get_review(id);
    if (!item) {
        err << "orderflowctl review: no review item #" << id << " (see orderflowctl review list)\n";
        return 1;
    }
    if (sub == "show") {
        auto evidence = nlohmann::json::parse(item->evidence, nullptr, false);
        out << "review #" << item->id << ": " << item->summary << "\n"
            << "  order:       " << (item->order_id.empty() ? "-" : item->order_id) << "\n"
            << "  reason:      " << item->reason << " (" << item->severity << ")\n"
            << "  state:       " << item->state << (item->resolved_by.empty() ? "" : " by " + item->resolved_by) << "\n"
            << "  seen:        " << item->occurrences << " time(s), first " << when(item->created_at) << ", last "
            << when(item->updated_at) << "\n";
        if (!item->note.empty()) out << "  note:        " << item->note << "\n";
        out << "  evidence:    " << (evidence.is_discarded() ? item->evidence : evidence.dump(2)) << "\n";
        if (!item->order_id.empty()) {
            // What the buyer answered in chat (the rules' capture), beside the order.
            for (const auto& answer : storage::order_attribute_rows(db, item->order_id))
                out << "  answer:      " << answer.name << " = \"" << answer.value << "\" (" << when(answer.captured_at) << ", rule "
                    << answer.rule_id << ", message " << answer.message_id << ")\n";
            auto actions = store.actions_for_order(item->order_id);
            if (!actions.empty()) out << "  actions for this order:\n";
            for (const auto& x : actions) {
                out << "    #" << x.id << " " << x.kind << " (rule " << x.rule_id << "): " << x.state
                    << (x.reason.empty() ? "" : " - " + x.reason) << "\n";
                for (const auto& h : store.action_history(x.id))
                    out << "        " << when(h.at) << "  " << h.state << (h.attempt ? " (attempt " + std::to_string(h.attempt) + ")" : "")
                        << (h.reason.empty() ? "" : ": " + h.reason) << "\n";
            }
        }
        out << "act: orderflowctl review ack " << item->id << " | orderflowctl review resolve " << item->id
            << " --note \"what was done\"\n";
        return 0;
    }
    const std::string by = a.by.empty() ? "operator" : a.by;
    if (sub == "resolve" && a.note.empty()) {
        err << "orderflowctl review resolve: say what was done with --note \"...\"\n";
        return 2;
    }
    if (std::string why = settle_review(db, store, *item, sub, "orderflowctl", by, a.peer, a.note, now); !why.empty()) {
        err << "orderflowctl review: " << why << "\n";
        return 1;
    }
    const char* state = sub == "ack" ? "acknowledged" : "resolved";
    out << "review #" << id << " " << state << " by " << by << "\n";
    return 0;
}

std::string settle_review(storage::database& db, storage::store& store, const storage::review_item& item, std::string_view verb,
                          std::string_view actor, const std::string& by, const std::string& peer, const std::string& note,
                          std::int64_t now) {
    if (verb == "resolve" && note.empty()) return "a resolution needs a note saying what was done";
    if (item.state == "resolved") return "#" + std::to_string(item.id) + " is already resolved";
    const char* state = verb == "ack" ? "acknowledged" : "resolved";
    db.transaction([&] {
        store.set_review_state(item.id, state, by, note, now);
        store.audit(now, actor, "review." + std::string(verb), item.order_id,
                    {{"review_id", item.id}, {"by", by}, {"peer", peer}, {"note", note}});
    });
    return "";
}

}  // namespace orderflow::daemon
