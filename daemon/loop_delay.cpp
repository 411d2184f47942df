// See loop_delay.hpp.
#include "daemon/loop_delay.hpp"

#include "common/log.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/telemetry.hpp"

#include <algorithm>

namespace orderflow::daemon {

loop_delay::loop_delay(context ctx, supervisor& sup, options opts)
    : ctx_(std::move(ctx)),
      sup_(sup),
      opts_(opts),
      delays_(telemetry::timing("orderflow_event_loop_delay_seconds")),
      wake_(ctx_.ex) {}

boost::asio::awaitable<void> loop_delay::loop() {
    using clock = std::chrono::steady_clock;
    while (!stopping_) {
        sup_.beat("loop_delay", opts_.every);
        const auto due = clock::now() + opts_.every;
        co_await wake_.wait(opts_.every);
        if (stopping_) break;
        // The wait ends early only on stop(), handled above.
        observe(std::max(clock::now() - due, clock::duration::zero()));
    }
}

void loop_delay::observe(std::chrono::steady_clock::duration late) {
    longest_ = std::max(longest_, late);
    delays_.observe(std::chrono::duration<double>(late).count());
    if (late < opts_.told_over) return;
    const std::int64_t now = ctx_.clock();
    if (!told_.due(now)) return;
    log::warn("event_loop_stalled",
              {{"ms", std::chrono::duration_cast<std::chrono::milliseconds>(late).count()},
               {"stalled_since_last_line", told_.held_back()},
               {"advice", "for that time nothing on the event loop ran: no event processed, no message or shipment sent, no "
                          "console or orderflowctl answer (webhooks are answered on their own thread); usually the disk "
                          "(a slow fsync or checkpoint) or a host short of CPU: check the host's load and disk (iostat -x), "
                          "and orderflow_event_loop_delay_seconds"}});
    told_.told(now);
}

void loop_delay::stop() {
    stopping_ = true;
    wake_.notify();
}

}  // namespace orderflow::daemon
