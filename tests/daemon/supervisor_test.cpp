#include "daemon/supervisor.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
using orderflow::daemon::supervisor;
using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand.
struct manual_clock {
    std::chrono::steady_clock::time_point t{std::chrono::hours(1000)};
    supervisor::clock_fn fn() {
        return [this] { return t; };
    }
};

supervisor::options fast() {
    supervisor::options o;
    o.wedged_after = std::chrono::seconds(60);
    o.first_backoff = std::chrono::milliseconds(1);
    o.max_backoff = std::chrono::milliseconds(4);
    return o;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

TEST_CASE("A loop that throws is logged and started again, and its work gets done", "[supervisor]") {
    asio::io_context io;
    supervisor sup(io.get_executor(), fast());
    int runs = 0, done = 0;
    sup.run("pipeline", [&]() -> asio::awaitable<void> {
        ++runs;
        if (runs < 3) throw std::runtime_error("database is locked");
        ++done;
        sup.stop();
        co_return;
    });
    io.run_for(5s);
    CHECK(runs == 3);
    CHECK(done == 1);
}

TEST_CASE("A loop that returns while the daemon runs counts as a crash and is restarted", "[supervisor]") {
    asio::io_context io;
    supervisor sup(io.get_executor(), fast());
    int runs = 0;
    sup.run("notifier", [&]() -> asio::awaitable<void> {
        if (++runs == 2) sup.stop();
        co_return;
    });
    io.run_for(5s);
    CHECK(runs == 2);
}

TEST_CASE("Crashes are counted per loop and the backoff never exceeds its cap", "[supervisor]") {
    asio::io_context io;
    supervisor sup(io.get_executor(), fast());
    int runs = 0;
    sup.run("executor", [&]() -> asio::awaitable<void> {
        if (++runs == 6) {
            co_await pause(1h);   // stays up from the sixth start on
        }
        throw std::runtime_error("disk I/O error");
    });
    // Five crashes with backoffs of 1, 2, 4, 4, 4 ms: well within a second
    // unless the cap were ignored (doubling would reach 16 ms, still fast,
    // so what is checked is the count, not the time).
    io.run_for(500ms);
    CHECK(runs == 6);
    CHECK(sup.crashes("executor") == 5);
    sup.stop();
}

TEST_CASE("A loop that beats stays healthy, one that stops beating is named as unhealthy", "[supervisor]") {
    asio::io_context io;
    manual_clock clock;
    supervisor sup(io.get_executor(), fast(), clock.fn());
    sup.run("pipeline", [&]() -> asio::awaitable<void> { co_await pause(1h); });
    sup.run("executor", [&]() -> asio::awaitable<void> { co_await pause(1h); });
    io.poll();
    CHECK(sup.unhealthy().empty());

    sup.beat("pipeline", 5s);
    sup.beat("executor", 5s);
    clock.t += 64s;   // within 5 s + 60 s for both
    CHECK(sup.unhealthy().empty());
    sup.beat("pipeline", 5s);
    clock.t += 10s;   // the executor is now 74 s past its beat
    CHECK(sup.unhealthy() == std::vector<std::string>{"executor"});
    sup.beat("executor", 5s);
    CHECK(sup.unhealthy().empty());
    sup.stop();
}

TEST_CASE("The watchdog pings while every loop beats and stops pinging when one is wedged", "[supervisor]") {
    asio::io_context io;
    manual_clock clock;
    supervisor sup(io.get_executor(), fast(), clock.fn());
    bool wedged = false;
    int pings = 0;
    sup.run("pipeline", [&]() -> asio::awaitable<void> {
        for (;;) {
            if (!wedged) sup.beat("pipeline", 1s);
            co_await pause(1ms);
        }
    });
    asio::co_spawn(io, sup.watchdog(2ms, [&] { ++pings; }), asio::detached);
    io.run_for(50ms);
    const int healthy_pings = pings;
    CHECK(healthy_pings > 0);

    // The loop is stuck in one pass: no beat, and time passes beyond the allowance.
    wedged = true;
    io.run_for(5ms);
    clock.t += 120s;
    const int at_wedge = pings;
    io.run_for(50ms);
    CHECK(pings == at_wedge);
    CHECK(sup.unhealthy() == std::vector<std::string>{"pipeline"});

    // It comes back: the pings resume.
    wedged = false;
    io.run_for(50ms);
    CHECK(pings > at_wedge);
    sup.stop();
    io.run_for(20ms);
}

TEST_CASE("A loop that fails at every pass stops the watchdog once it has made no progress for too long", "[supervisor]") {
    asio::io_context io;
    manual_clock clock;
    supervisor sup(io.get_executor(), fast(), clock.fn());
    sup.run("notifier", [&]() -> asio::awaitable<void> { throw std::runtime_error("no such table"); co_return; });
    io.run_for(20ms);
    CHECK(sup.crashes("notifier") > 1);
    CHECK(sup.unhealthy().empty());   // restarting: not yet judged
    clock.t += 61s;
    CHECK(sup.unhealthy() == std::vector<std::string>{"notifier"});
    sup.stop();
    io.run_for(20ms);
}

}  // namespace ORDERFLOW_TEST_FILE
