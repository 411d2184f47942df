// See housekeeping.hpp.
#include "daemon/housekeeping.hpp"

#include "common/log.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "storage/retention.hpp"

namespace orderflow::daemon {

housekeeping::housekeeping(context ctx, const rules_in_force& in_force, supervisor& sup)
    : ctx_(std::move(ctx)), in_force_(in_force), sup_(sup), wake_(ctx_.ex) {}

void housekeeping::purge() {
    const std::int64_t cutoff = ctx_.clock() - in_force_.cfg().retention.personal_data.count();
    auto n = storage::purge_personal_data(ctx_.db, cutoff);
    if (n.total() > 0)
        log::info("retention_purged", {{"events", n.events}, {"orders", n.orders}, {"actions", n.actions},
                                       {"conversations", n.conversations}, {"reviews", n.reviews},
                                       {"notifications", n.notifications}, {"older_than", cutoff}});
}

boost::asio::awaitable<void> housekeeping::loop() {
    while (!stopping_) {
        sup_.beat("housekeeping", std::chrono::hours(1));
        try {
            purge();
        } catch (const std::exception& e) {
            log::error("retention_failed", {{"error", e.what()}, {"advice", "retried within the hour; check the disk and the database"}});
        }
        co_await wake_.wait(std::chrono::hours(1));
    }
}

void housekeeping::stop() {
    stopping_ = true;
    wake_.notify();
}

}  // namespace orderflow::daemon
