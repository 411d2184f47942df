// Tests for daemon/detail/wakeup.hpp: a wait ends at its timeout or at a
// notify, and a timeout longer than the steady clock can count (a config
// duration of a million days) waits until notified instead of overflowing
// into the past and returning at once, which made the loops spin.
#include "daemon/detail/wakeup.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using orderflow::daemon::detail::wakeup;
using steady = std::chrono::steady_clock::duration;

TEST_CASE("A wakeup timeout beyond what the steady clock counts is clamped to its longest", "[wakeup]") {
    CHECK(wakeup::saturated(std::chrono::hours(24) * 1'000'000) == steady::max());
    CHECK(wakeup::saturated(std::chrono::seconds(86400LL * 9'999'999'999LL)) == steady::max());
    CHECK(wakeup::saturated(std::chrono::seconds(5)) == std::chrono::seconds(5));
    CHECK(wakeup::saturated(std::chrono::milliseconds(1500)) == std::chrono::milliseconds(1500));
    CHECK(wakeup::saturated(std::chrono::seconds(-1)) == steady::zero());
}

TEST_CASE("A wakeup wait of a million days lasts until a notify instead of returning at once", "[wakeup]") {
    asio::io_context io;
    wakeup w(io.get_executor());
    int passes = 0;
    bool stop = false;
    // A loop like the poller's: one pass, then wait for the interval.
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        while (!stop) {
            ++passes;
            co_await w.wait(std::chrono::hours(24) * 1'000'000);
        }
    }, asio::detached);
    io.run_for(std::chrono::milliseconds(50));
    CHECK(passes == 1);
    stop = true;
    w.notify();
    io.run_for(std::chrono::milliseconds(50));
    CHECK(io.stopped());   // the loop ended: the notify woke it
    CHECK(passes == 1);
}

TEST_CASE("A wakeup wait ends at its timeout or at a notify, whichever comes first", "[wakeup]") {
    asio::io_context io;
    wakeup w(io.get_executor());
    int woken = 0;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        co_await w.wait(std::chrono::milliseconds(1));
        ++woken;
        w.notify();   // before the next wait: it returns at once
        co_await w.wait(std::chrono::hours(1));
        ++woken;
    }, asio::detached);
    io.run_for(std::chrono::seconds(5));
    CHECK(io.stopped());
    CHECK(woken == 2);
}

}  // namespace ORDERFLOW_TEST_FILE
