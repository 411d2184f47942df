// How long the event loop goes without running what is due.
//
// The pipeline, the executor's sends, the notifier, the console and the
// admin socket all run on one thread (webhooks are answered on their own).
// Anything that holds that thread (an fsync, a checkpoint, a long query, a
// host whose CPU is taken by something else) delays all of them at once,
// and the executor then releases the sends it held back together, which is
// how a loop stall turns into TikTok's "too many requests" (bench/README.md,
// "Eighteenth round"). This is measured the way Node.js's
// monitorEventLoopDelay does: a timer due every `every` notes how long after
// its time it ran (orderflow_event_loop_delay_seconds), and one that ran
// `told_over` late or more is logged as event_loop_stalled, at most once a
// minute, with how many others were since the last line.
#pragma once

#include "daemon/context.hpp"
#include "daemon/detail/once_a_minute.hpp"
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace orderflow::daemon {

class supervisor;

namespace telemetry {
class histogram;
}

struct loop_delay_options {
    std::chrono::milliseconds every{50};
    std::chrono::milliseconds told_over{1000};
};

class loop_delay {
public:
    using options = loop_delay_options;

    loop_delay(context ctx, supervisor& sup, options opts = {});
    loop_delay(const loop_delay&) = delete;
    loop_delay& operator=(const loop_delay&) = delete;

    boost::asio::awaitable<void> loop();   // supervised as "loop_delay"
    void stop();

    // The longest delay since the start (for tests).
    std::chrono::steady_clock::duration longest() const { return longest_; }

private:
    void observe(std::chrono::steady_clock::duration late);

    context ctx_;
    supervisor& sup_;
    options opts_;
    telemetry::histogram& delays_;
    detail::wakeup wake_;
    std::chrono::steady_clock::duration longest_{};
    detail::once_a_minute told_;   // event_loop_stalled lines
    bool stopping_ = false;
};

}  // namespace orderflow::daemon
