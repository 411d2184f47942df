// Runs the daemon's loops and vouches for them to systemd's watchdog.
//
// Every loop (pipeline, executor, notifier, poller, ...) runs under run():
// an exception that escapes it is logged (`loop_crashed`), the loop waits a
// growing backoff (1 s, 2 s, ... 60 s) and starts again, so one SQLITE_BUSY
// or one bad answer never leaves a loop dead. A loop proves it is alive by
// calling beat() on every pass and before it waits, saying how long it may
// now stay quiet. watchdog() sends WATCHDOG=1 only while every loop is
// healthy; a loop that is dead, wedged (stuck in one pass longer than
// `wedged_after`) or failing (it crashes again and again, has completed no
// pass for `wedged_after`, and is waiting to start again) stops the pings, and systemd restarts the
// daemon instead of trusting a husk (docs/architecture.md, "Supervision").
//
// A pass is complete when the loop beats with a wait (quiet > 0) after an
// earlier beat of the same start: every loop beats so at the top of each
// pass or before its wait. A beat at the top of a pass that then throws
// proves nothing, so a loop that beats and throws on every pass is failing,
// however often it beats.
//
// Everything runs on the io_context's one thread; nothing here locks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon {

struct supervisor_options {
    // How long one pass of a loop may take between beats before the loop
    // counts as wedged (a pass makes TikTok calls with their own
    // deadlines and retries, so this is generous).
    std::chrono::seconds wedged_after{300};
    std::chrono::milliseconds first_backoff{1000};
    std::chrono::milliseconds max_backoff{60000};
    // A loop that crashed this many times in a row without completing a
    // pass in between, and has completed none for wedged_after, is failing
    // until it completes one. Not one crash: a loop that rarely completes a
    // pass (the admin socket's, between two connections) and crashed once
    // is restarted, not judged.
    int failing_after_crashes = 3;
};

class supervisor {
public:
    using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

    using options = supervisor_options;

    explicit supervisor(boost::asio::any_io_executor ex, options opts = {}, clock_fn now = {});
    supervisor(const supervisor&) = delete;
    supervisor& operator=(const supervisor&) = delete;
    ~supervisor();

    // Starts `loop()` now and again after every exception, with backoff,
    // until stop(). A loop that returns normally is finished (and no longer
    // watched): loops return only when stopping.
    void run(std::string name, std::function<boost::asio::awaitable<void>()> loop);

    // The loop `name` is alive and may stay quiet for `quiet` (its wait)
    // plus wedged_after before it counts as wedged. With quiet > 0 after an
    // earlier beat of the same start, it has also completed a pass.
    void beat(std::string_view name, std::chrono::steady_clock::duration quiet = {});

    // Loops that are dead, wedged or failing, by name; empty while all is well.
    std::vector<std::string> unhealthy() const;
    // How many times a loop has crashed since the start (for status and tests).
    int crashes(std::string_view name) const;

    // Sends `ping` ("WATCHDOG=1" via systemd::notify in the daemon) every
    // `every` while unhealthy() is empty; when it is not, logs
    // `watchdog_withheld` naming the loops (once per change) and sends nothing.
    boost::asio::awaitable<void> watchdog(std::chrono::milliseconds every, std::function<void()> ping);

    // Loops are no longer restarted, and whatever each one awaits is
    // cancelled (terminal cancellation: a TikTok call in flight ends at once,
    // and the loop's next co_await throws), so shutdown never waits for an
    // answer that may not come. The watchdog coroutine returns.
    void stop();
    bool stopping() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace orderflow::daemon
