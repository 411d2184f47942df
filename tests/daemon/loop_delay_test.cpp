// Tests for daemon/loop_delay.hpp: a timer due every few milliseconds notes
// how late the event loop ran it, into orderflow_event_loop_delay_seconds;
// a handler that holds the loop shows as one long delay, and one at or over
// the threshold is logged as event_loop_stalled at most once a minute, with
// how many were held back. Run on runtime_env's io_context, blocked for real.
#include "daemon/loop_delay.hpp"

#include "daemon/supervisor.hpp"
#include "daemon/telemetry.hpp"
#include "tests/common/log_capture.hpp"
#include "tests/daemon/runtime_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace std::chrono_literals;
using namespace orderflow;
using namespace orderflow::daemon;
using orderflow::daemon::testing::runtime_env;

namespace {

// Observations at or above `seconds` (a bound of the family's buckets).
std::uint64_t at_least(const telemetry::histogram& h, double seconds) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i <= h.bounds().size(); ++i)
        if (i == h.bounds().size() || h.bounds()[i] > seconds) n += h.in_bucket(i);
    return n;
}

struct delay_rig {
    runtime_env env;
    loop_delay lag{env.ctx, env.sup, loop_delay_options{10ms, 200ms}};

    delay_rig() {
        env.sup.run("loop_delay", [this] { return lag.loop(); });
    }
    ~delay_rig() {
        lag.stop();
        env.sup.stop();
        env.run_for(20ms);
    }
    // Something on the loop that holds its thread, as a slow fsync would.
    // One timer is pending at a time, so one observation spans the hold;
    // three more after the post include it (the one due first may have
    // been queued ahead of the hold).
    void hold_loop(std::chrono::milliseconds d) {
        const auto seen = telemetry::timing("orderflow_event_loop_delay_seconds").count();
        boost::asio::post(env.io, [d] { std::this_thread::sleep_for(d); });
        REQUIRE(env.run_until([&] { return telemetry::timing("orderflow_event_loop_delay_seconds").count() >= seen + 3; }, 5s));
    }
};

}  // namespace

TEST_CASE("A loop that runs freely has short delays, counted, and no stall is told", "[loop_delay]") {
    auto& delays = telemetry::timing("orderflow_event_loop_delay_seconds");
    const auto before = delays.count();
    orderflow::testing::log_capture logs;
    delay_rig rig;
    rig.env.run_for(300ms);
    // About 30 timers of 10 ms; fewer when the machine is busy, never none.
    CHECK(delays.count() - before >= 5);
    CHECK(rig.lag.longest() < 200ms);
    CHECK(rig.env.sup.unhealthy().empty());
    CHECK(orderflow::testing::log_lines(logs.finish(), "event_loop_stalled").empty());
}

TEST_CASE("A handler that holds the event loop shows as one long delay, told once a minute with the ones held back",
          "[loop_delay]") {
    auto& delays = telemetry::timing("orderflow_event_loop_delay_seconds");
    delay_rig rig;
    rig.env.run_for(30ms);
    const auto long_before = at_least(delays, 0.25);

    orderflow::testing::log_capture logs;
    rig.hold_loop(300ms);
    CHECK(rig.lag.longest() >= 250ms);
    CHECK(at_least(delays, 0.25) == long_before + 1);
    rig.hold_loop(300ms);   // within the minute: counted, not told
    rig.env.now += 59;
    rig.hold_loop(300ms);   // still within it
    auto lines = orderflow::testing::log_lines(logs.finish(), "event_loop_stalled");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["level"] == "warn");
    CHECK(lines[0]["ms"].get<long>() >= 250);
    CHECK(lines[0]["stalled_since_last_line"] == 0);
    CHECK_THAT(lines[0]["advice"].get<std::string>(), Catch::Contains("orderflow_event_loop_delay_seconds"));
    CHECK(at_least(delays, 0.25) == long_before + 3);

    // A minute after the line, the next stall gets one, with the two held back.
    rig.env.now += 1;
    orderflow::testing::log_capture later;
    rig.hold_loop(300ms);
    lines = orderflow::testing::log_lines(later.finish(), "event_loop_stalled");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["stalled_since_last_line"] == 2);

    // Delays under the threshold are counted and not told.
    rig.env.now += 60;
    orderflow::testing::log_capture short_ones;
    const auto long_now = at_least(delays, 0.25);
    rig.hold_loop(50ms);
    CHECK(at_least(delays, 0.25) == long_now);
    CHECK(orderflow::testing::log_lines(short_ones.finish(), "event_loop_stalled").empty());
}

TEST_CASE("The delay loop runs until stopped, then ends", "[loop_delay]") {
    runtime_env env;
    loop_delay lag{env.ctx, env.sup, loop_delay_options{10ms, 1000ms}};
    bool ended = false;
    boost::asio::co_spawn(env.io, [&]() -> boost::asio::awaitable<void> {
        co_await lag.loop();
        ended = true;
    }, boost::asio::detached);
    env.run_for(50ms);
    CHECK_FALSE(ended);
    lag.stop();
    CHECK(env.run_until([&] { return ended; }, 1s));
}

}  // namespace ORDERFLOW_TEST_FILE
