// See housekeeping.hpp.
#include "daemon/housekeeping.hpp"

#include "common/log.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "storage/retention.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace orderflow::daemon {

housekeeping::housekeeping(context ctx, const rules_in_force& in_force, supervisor& sup)
    : ctx_(std::move(ctx)), in_force_(in_force), sup_(sup), wake_(ctx_.ex) {}

void housekeeping::purge_personal_data() {
    const std::int64_t cutoff = ctx_.clock() - in_force_.cfg().retention.personal_data.count();
    auto n = storage::purge_personal_data(ctx_.db, cutoff);
    if (n.total() > 0)
        log::info("retention_purged", {{"events", n.events}, {"orders", n.orders}, {"actions", n.actions},
                                       {"conversations", n.conversations}, {"reviews", n.reviews},
                                       {"notifications", n.notifications}, {"older_than", cutoff}});
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
    purge_personal_data();
    storage::row_purge_counts sum;
    while (delete_rows(sum) > 0) {
    }
    finish(sum);
}

boost::asio::awaitable<void> housekeeping::loop() {
    while (!stopping_) {
        sup_.beat("housekeeping");
        try {
            purge_personal_data();
            // A backlog (the first purge of an old database) goes a batch at
            // a time, the loop's other work running in between.
            storage::row_purge_counts sum;
            while (!stopping_ && delete_rows(sum) > 0) {
                sup_.beat("housekeeping");
                co_await boost::asio::post(ctx_.ex, boost::asio::use_awaitable);
            }
            finish(sum);
        } catch (const std::exception& e) {
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
