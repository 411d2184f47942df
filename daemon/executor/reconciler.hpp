// Reconciliation of sends whose outcome is unknown. A send that was in
// flight when the process died, or whose answer never came, is never resent
// blindly (docs/architecture.md, "Effects"). Instead the buyer conversation
// is read: the exact text from the shop, after the action was planned, means
// it was delivered (done); a complete look that does not find it means it
// was not (planned again under the same key, at most three times); anything
// else stays unknown with a critical review item for a person to check.
// An interrupted tracking update is simply planned again: shipping and
// updating shipping info are safe to repeat. The verdict itself is the pure
// decide_reconcile (reconcile.hpp).
#pragma once

#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class review_desk;
class token_keeper;

// A database restored from a backup (storage::database::backup_to marks
// the copy with daemon_state "backup" = {"taken_at"}; the first start on it
// adds "restored_at"). For a day after the restore every message is
// reconciled against the buyer's conversation before it is sent: it may
// have gone out between the backup and the restore, which the copy cannot
// know (docs/operations.md, "Backups").
constexpr std::int64_t restore_window_seconds = 86400;
std::int64_t restored_backup_taken_at(storage::store& store);   // 0: not a restored copy
bool in_restore_window(storage::store& store, std::int64_t now);

class reconciler {
public:
    reconciler(context ctx, tikapi::client& api, token_keeper& tokens, review_desk& desk);

    // Looks at every `unknown` action once (at most 100). Throws storage_error.
    boost::asio::awaitable<void> pass();
    void stop() { stopping_ = true; }

private:
    boost::asio::awaitable<void> reconcile(const storage::action_row& a);
    void replan(const storage::action_row& a, const std::string& why);

    context ctx_;
    tikapi::client& api_;
    token_keeper& tokens_;
    review_desk& desk_;
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
