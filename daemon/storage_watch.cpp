// See storage_watch.hpp.
#include "daemon/storage_watch.hpp"

#include "common/log.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/supervisor.hpp"

namespace orderflow::daemon {

storage_watch::storage_watch(context ctx, review_desk& desk, supervisor& sup, std::function<void()> on_back)
    : ctx_(std::move(ctx)), desk_(desk), sup_(sup), on_back_(std::move(on_back)), wake_(ctx_.ex) {}

bool storage_watch::lost() {
    const bool now_lost = !ctx_.db.file_intact();
    if (now_lost == lost_) return now_lost;
    lost_ = now_lost;
    const std::string path = ctx_.db.path().string();
    if (!now_lost) {
        log::warn("database_file_back", {{"database", path}});
        if (on_back_) on_back_();
        return false;
    }
    const std::string advice =
        "webhooks get 503 and nothing is sent until it is back. If it was moved, move it back, and run no other program on "
        "the path meanwhile (orderflowctl auth exchange or account add, sqlite3: one would make a new file there and delete "
        "this one's write-ahead log); if orderflowd still "
        "says so once it is back, restart it (systemctl restart orderflow: a clean stop saves what it wrote). To restore "
        "a backup, stop orderflowd first (docs/operations.md, Restoring)";
    log::error("database_file_missing", {{"database", path}, {"advice", advice}});
    try {
        ctx_.db.transaction([&] {
            desk_.raise("", "database_file_missing", "critical",
                        "the database file " + path + " was deleted or replaced while orderflowd was running; " + advice, {{"database", path}});
        });
    } catch (const std::exception& e) {
        log::error("review_not_recorded", {{"error", e.what()}});
    }
    return true;
}

boost::asio::awaitable<void> storage_watch::loop() {
    while (!stopping_) {
        sup_.beat("storage_watch", std::chrono::seconds(5));
        lost();
        co_await wake_.wait(std::chrono::seconds(5));
    }
}

void storage_watch::stop() {
    stopping_ = true;
    wake_.notify();
}

}  // namespace orderflow::daemon
