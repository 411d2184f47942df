// Retention: at start and then hourly, personal data of finished rows older
// than retention.personal_data is purged (storage/retention.hpp);
// idempotency and dedupe keys stay, so nothing purged can be sent again.
#pragma once

#include "daemon/context.hpp"
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/awaitable.hpp>

namespace orderflow::daemon {

class rules_in_force;
class supervisor;

class housekeeping {
public:
    housekeeping(context ctx, const rules_in_force& in_force, supervisor& sup);

    boost::asio::awaitable<void> loop();   // supervised as "housekeeping"
    void stop();
    // One purge now (public for tests); logs what it did. Throws storage_error.
    void purge();

private:
    context ctx_;
    const rules_in_force& in_force_;
    supervisor& sup_;
    detail::wakeup wake_;
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
