// The running daemon: the composition root that wires storage, rules and
// tikapi into ingress, pipeline and executor (DESIGN.md "Data flow").
//
//   ingress   verified webhooks -> inbox, group-committed; 200 only after commit
//   pipeline  inbox -> enrich (Get Order Detail) -> rules -> ONE transaction:
//             event done + planned actions (INSERT OR IGNORE on the key)
//   executor  outbox -> 'sending' committed -> TikTok call -> result + audit
//
// Everything runs as coroutines on one io_context thread; storage calls are
// synchronous. reload() and stop() are called from the signal coroutine.
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

    void start();     // binds the webhook listener, spawns the loops, sends READY=1
    // Re-reads config and rules (off the event loop); swaps only when all is
    // valid. Completes with whether it did.
    boost::asio::awaitable<bool> reload();
    void stop();      // stops accepting and lets the loops finish; io_context::run returns

    std::uint16_t webhook_port() const;
    std::uint16_t admin_port() const;   // the TCP admin listener (admin.listen); 0 when there is none

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// orderflowd's whole main: parses --config, runs until SIGTERM. Returns the exit code.
int run_orderflowd(int argc, char** argv);

}  // namespace orderflow::daemon
