// See housekeeping.hpp.
#include "daemon/housekeeping.hpp"

#include "common/log.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/detail/let_others_in.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "storage/retention.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace orderflow::daemon {

namespace asio = boost::asio;

housekeeping::housekeeping(context ctx, const rules_in_force& in_force, supervisor& sup)
    : ctx_(std::move(ctx)), in_force_(in_force), sup_(sup), wake_(ctx_.ex) {}

std::int64_t housekeeping::personal_data_cutoff() const {
    return ctx_.clock() - in_force_.cfg().retention.personal_data.count();
}

int housekeeping::purge_personal_data(std::int64_t cutoff, storage::purge_counts& sum) {
    // Without the forget key (tests) an empty span: ids in kept rows stay.
    const auto key = forget_key_.empty() ? std::span<const unsigned char>{} : key_bytes(forget_key_);
    const auto n = storage::purge_personal_data(ctx_.db, cutoff, batch_rows, key, ctx_.clock());
    sum.events += n.events;
    sum.orders += n.orders;
    sum.actions += n.actions;
    sum.conversations += n.conversations;
    sum.reviews += n.reviews;
    sum.notifications += n.notifications;
    sum.answers += n.answers;
    sum.tags += n.tags;
    sum.hashed += n.hashed;
    sum.expired_reviews += n.expired_reviews;
    sum.expired_events += n.expired_events;
    sum.expired_actions += n.expired_actions;
    sum.expired_notifications += n.expired_notifications;
    return n.total() + (n.more ? 1 : 0);   // the backlog of an older version's purge may move on hashing nothing
}

// One line for the whole purge, however many batches it took. A whole purge
// is recorded, so that `buyer forget` can say what became of older data.
void housekeeping::report_personal_data(const storage::purge_counts& sum, int batches, std::int64_t cutoff, bool whole) {
    if (sum.total() > 0)
        log::info("retention_purged", {{"events", sum.events}, {"orders", sum.orders}, {"actions", sum.actions},
                                       {"conversations", sum.conversations}, {"reviews", sum.reviews},
                                       {"notifications", sum.notifications}, {"answers", sum.answers}, {"tags", sum.tags},
                                       {"ids_hashed", sum.hashed}, {"batches", batches}, {"older_than", cutoff}});
    // Rows that never finished, settled before they were purged (counted in
    // retention_purged too): something nobody did, said once a purge.
    if (sum.expired() > 0)
        log::warn("retention_expired_unfinished",
                  {{"reviews", sum.expired_reviews}, {"events", sum.expired_events}, {"actions", sum.expired_actions},
                   {"notifications", sum.expired_notifications}, {"older_than", cutoff},
                   {"advice", "untouched for retention.personal_data: review items were closed unresolved, pending events set "
                              "aside unread, unsent messages skipped and unknown sends given up as failed (never sent again), "
                              "staff notifications no channel took deleted, and their personal data purged. orderflowctl audit "
                              "--action review.expire lists the items closed; work the queue (orderflowctl review list) before "
                              "the period runs out, and fix a failing channel (orderflowctl notify test)"}});
    if (whole && !forget_key_.empty()) {
        const std::int64_t now = ctx_.clock();
        ctx_.db.transaction([&] {
            ctx_.store.put_state(storage::last_purge_state, nlohmann::json{{"at", now}, {"before", cutoff}}.dump(), now);
        });
    }
}

int housekeeping::delete_rows(storage::row_purge_counts& sum) {
    const auto& r = in_force_.cfg().retention;
    const std::int64_t now = ctx_.clock();
    const auto n = storage::purge_rows(ctx_.db, {now - r.keys.count(), now - r.reviews.count(), now - r.audit.count()}, batch_rows);
    sum.events += n.events;
    sum.actions += n.actions;
    sum.tags += n.tags;
    sum.reviews += n.reviews;
    sum.audit += n.audit;
    return n.total();
}

void housekeeping::finish(const storage::row_purge_counts& sum) {
    if (sum.total() == 0) return;
    // At most 16,000 pages (64 MiB) a purge: the rest goes at the next one.
    const int freed = storage::return_free_pages(ctx_.db, 16000);
    log::info("retention_rows_deleted", {{"events", sum.events}, {"actions", sum.actions}, {"tags", sum.tags},
                                         {"reviews", sum.reviews}, {"audit", sum.audit}, {"pages_freed", freed}});
}

void housekeeping::purge() {
    const std::int64_t cutoff = personal_data_cutoff();
    storage::purge_counts purged;
    int batches = 0;
    while (purge_personal_data(cutoff, purged) > 0) ++batches;
    report_personal_data(purged, batches, cutoff, true);
    storage::row_purge_counts sum;
    while (delete_rows(sum) > 0) {
    }
    finish(sum);
}

void housekeeping::catch_up_forgets(bool at_start) {
    if (forget_key_.empty()) return;
    const auto& cfg = in_force_.cfg();
    daemon::catch_up_forgets(ctx_.db, ctx_.store, forget_key_, storage::forget_ledger_path(cfg.storage.path), ctx_.clock(),
                             ctx_.clock() - cfg.retention.forget_records().count(), at_start);
}

asio::awaitable<void> housekeeping::loop() {
    bool first_pass = true;
    while (!stopping_) {
        sup_.beat("housekeeping");
        // A backlog (the first purge of an old database, a shorter period
        // after a reload) goes a batch at a time, the loop's other work
        // running in between: in one transaction, two million events held
        // the event loop past the systemd watchdog, and the purge, rolled
        // back by the restart, started over at the next start.
        const std::int64_t cutoff = personal_data_cutoff();
        storage::purge_counts purged;
        int batches = 0;
        bool reported = false;
        // The first pass comes right after start, which has just caught
        // up (service::start). Its own failure does not cost the purge its pass.
        if (!first_pass) {
            try {
                catch_up_forgets(false);
            } catch (const std::exception& e) {
                log::error("forget_ledger_failed",
                           {{"error", e.what()}, {"advice", "tried again at the next retention pass; check the disk and the database"}});
            }
        }
        first_pass = false;
        try {
            while (!stopping_ && purge_personal_data(cutoff, purged) > 0) {
                ++batches;
                sup_.beat("housekeeping");
                co_await detail::let_others_in(ctx_);
            }
            reported = true;
            report_personal_data(purged, batches, cutoff, !stopping_);
            storage::row_purge_counts sum;
            while (!stopping_ && delete_rows(sum) > 0) {
                sup_.beat("housekeeping");
                co_await detail::let_others_in(ctx_);
            }
            finish(sum);
        } catch (const std::exception& e) {
            // The batches before the failure are committed: said as well.
            if (!reported) report_personal_data(purged, batches, cutoff, false);
            log::error("retention_failed", {{"error", e.what()}, {"advice", "retried at the next purge; check the disk and the database"}});
        }
        const auto interval = in_force_.cfg().retention.interval;
        sup_.beat("housekeeping", std::max<std::chrono::seconds>(interval, std::chrono::hours(1)));
        co_await wake_.wait(interval);
    }
}

void housekeeping::stop() {
    stopping_ = true;
    wake_.notify();
}

}  // namespace orderflow::daemon
