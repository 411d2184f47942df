// See review_cli.hpp. Output is for people at a terminal.
#include "daemon/review_cli.hpp"

#include "daemon/config.hpp"
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

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string when(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    std::ostringstream out;
    out << std::put_time(&tm, "%Y-%m-%d %H:%M");
    return out.str();
}

constexpr const char* usage =
    "usage: orderflowctl review list [--all] --config FILE\n"
    "       orderflowctl review show ID --config FILE\n"
    "       orderflowctl review ack ID [--note TEXT] [--by NAME] --config FILE\n"
    "       orderflowctl review resolve ID --note TEXT [--by NAME] --config FILE\n";

}  // namespace

int run_review_command(const review_args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    if (sub.empty() || a.config.empty()) {
        std::cerr << usage;
        return 2;
    }
    auto loaded = load_config(a.config);
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    if (!loaded.ok()) return 1;
    auto db = storage::database::open(loaded.value->storage.path);
    storage::store store(db);

    if (sub == "list") {
        auto items = store.reviews(a.all, a.limit);
        if (items.empty()) {
            std::cout << (a.all ? "the review queue is empty\n" : "nothing needs review\n");
            return 0;
        }
        for (const auto& r : items)
            std::cout << "#" << r.id << "  " << std::left << std::setw(12) << r.state << std::setw(9) << r.severity
                      << when(r.updated_at) << "  order " << (r.order_id.empty() ? "-" : r.order_id) << "  " << r.reason
                      << (r.occurrences > 1 ? " (x" + std::to_string(r.occurrences) + ")" : "") << "\n      " << r.summary << "\n";
        return 0;
    }

    if (a.positional.size() < 3) {
        std::cerr << usage;
        return 2;
    }
    char* end = nullptr;
    long long id = std::strtoll(a.positional[2].c_str(), &end, 10);
    if (!end || *end != '\0' || id <= 0) {
        std::cerr << "orderflowctl review: '" << a.positional[2] << "' is not a review id (see orderflowctl review list)\n";
        return 2;
    }
    auto item = store.get_review(id);
    if (!item) {
        std::cerr << "orderflowctl review: no review item #" << id << " (see orderflowctl review list)\n";
        return 1;
    }
    if (sub == "show") {
        auto evidence = nlohmann::json::parse(item->evidence, nullptr, false);
        std::cout << "review #" << item->id << ": " << item->summary << "\n"
                  << "  order:       " << (item->order_id.empty() ? "-" : item->order_id) << "\n"
                  << "  reason:      " << item->reason << " (" << item->severity << ")\n"
                  << "  state:       " << item->state << (item->resolved_by.empty() ? "" : " by " + item->resolved_by) << "\n"
                  << "  seen:        " << item->occurrences << " time(s), first " << when(item->created_at) << ", last "
                  << when(item->updated_at) << "\n";
        if (!item->note.empty()) std::cout << "  note:        " << item->note << "\n";
        std::cout << "  evidence:    " << (evidence.is_discarded() ? item->evidence : evidence.dump(2)) << "\n";
        if (!item->order_id.empty()) {
            auto actions = store.actions_for_order(item->order_id);
            if (!actions.empty()) std::cout << "  actions for this order:\n";
            for (const auto& x : actions)
                std::cout << "    #" << x.id << " " << x.kind << " (rule " << x.rule_id << "): " << x.state
                          << (x.reason.empty() ? "" : " - " + x.reason) << "\n";
        }
        std::cout << "act: orderflowctl review ack " << item->id << " | orderflowctl review resolve " << item->id
                  << " --note \"what was done\"\n";
        return 0;
    }
    std::string by = a.by;
    if (by.empty()) by = std::getenv("SUDO_USER") ? std::getenv("SUDO_USER") : std::getenv("USER") ? std::getenv("USER") : "operator";
    if (sub == "ack" || sub == "resolve") {
        if (sub == "resolve" && a.note.empty()) {
            std::cerr << "orderflowctl review resolve: say what was done with --note \"...\"\n";
            return 2;
        }
        if (item->state == "resolved") {
            std::cerr << "orderflowctl review: #" << id << " is already resolved\n";
            return 1;
        }
        const char* state = sub == "ack" ? "acknowledged" : "resolved";
        db.transaction([&] {
            store.set_review_state(id, state, by, a.note, now_seconds());
            store.audit(now_seconds(), "orderflowctl", std::string("review.") + sub, item->order_id,
                        {{"review_id", id}, {"by", by}, {"note", a.note}});
        });
        std::cout << "review #" << id << " " << state << " by " << by << "\n";
        return 0;
    }
    std::cerr << usage;
    return 2;
}

}  // namespace orderflow::daemon
