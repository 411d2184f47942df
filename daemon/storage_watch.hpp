// Watches the database file itself. If it is deleted (or replaced) while the
// daemon runs, SQLite goes on writing into the unlinked file, and everything
// acknowledged or sent meanwhile is lost at the next start, tokens included.
// lost() is asked before every inbox commit, and the loop asks every 5 s:
// while the path does not name the file that was opened, webhooks get 503,
// nothing is polled, processed or sent, and staff hear of it through a
// critical review item (the notifier still reads the open file). If the file
// comes back (moved back), work resumes.
#pragma once

#include "daemon/context.hpp"
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>

namespace orderflow::daemon {

class review_desk;
class supervisor;

class storage_watch {
public:
    // on_back: called when the file is back (wake the loops that idled).
    storage_watch(context ctx, review_desk& desk, supervisor& sup, std::function<void()> on_back);

    // Checks the file now; true while it is missing or replaced. Raises the
    // alarm (log, review item) once when it goes, logs when it is back.
    bool lost();
    // The last answer of lost(), without checking again.
    bool known_lost() const { return lost_; }

    boost::asio::awaitable<void> loop();   // supervised as "storage_watch"
    void stop();

private:
    context ctx_;
    review_desk& desk_;
    supervisor& sup_;
    std::function<void()> on_back_;
    detail::wakeup wake_;
    bool lost_ = false;
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
