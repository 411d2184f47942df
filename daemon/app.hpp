// The running daemon's composition root: it opens the database, reads the
// secrets, loads the rules, constructs every component in dependency order
// and wires them together (docs/architecture.md, "Components"):
//
//   ingress/   webhook_ingress, tracking_feed, poller -> inbox_writer (group commit)
//   pipeline   inbox -> order_source -> rules -> ONE transaction: event done + actions planned
//   executor/  outbox -> breaker, guards -> message_sender | tracking_sender; reconciler; outcomes
//   notifier/  staff notifications (review_desk queues them)
//   admin/     the admin socket, its commands and the metrics
//   housekeeping, storage_watch, rules_in_force (reload), supervisor (every loop, the watchdog)
//
// Everything runs as coroutines on one io_context thread; storage calls are
// synchronous; files are read and commands run on two small thread pools.
// reload() and stop() are called from the signal coroutine.
#pragma once

#include "daemon/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>

namespace orderflow::daemon {

class service {
public:
    // Opens the database (running migrations), reads the secrets and loads
    // the rules. Throws std::runtime_error saying which file and what to do.
    service(boost::asio::io_context& io, config cfg, std::function<std::int64_t()> clock = {});
    ~service();

    void start();     // binds the listeners, starts the loops, sends READY=1
    // Re-reads config and rules (off the event loop); swaps only when all is
    // valid. Completes with whether it did.
    boost::asio::awaitable<bool> reload();
    void stop();      // stops accepting, cancels in-flight TikTok calls, lets the loops end; io_context::run returns

    std::uint16_t webhook_port() const;
    std::uint16_t admin_port() const;   // the TCP admin listener (admin.listen); 0 when there is none

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// orderflowd's whole main: parses --config, runs until SIGTERM. Returns the exit code.
int run_orderflowd(int argc, char** argv);

}  // namespace orderflow::daemon
