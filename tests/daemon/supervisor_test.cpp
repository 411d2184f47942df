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

// The real loops beat at the top of each pass, before the work that can
// throw: with a crash backoff (at most 60 s) shorter than wedged_after, those
// beats alone kept such a loop "alive" while it crashed forever.
TEST_CASE("A loop that beats and then throws on every pass stops the watchdog until it completes a pass again", "[supervisor]") {
    asio::io_context io;
    manual_clock clock;
    supervisor sup(io.get_executor(), fast(), clock.fn());
    // A beat inside the pass (without a wait) proves no more than the one at its top.
    const bool beat_inside_the_pass = GENERATE(false, true);
    bool failing = true;
    int pings = 0;
    sup.run("executor", [&]() -> asio::awaitable<void> {
        for (;;) {
            sup.beat("executor", 5s);
            if (beat_inside_the_pass) sup.beat("executor");
            if (failing) throw std::runtime_error("no such column: lane");
            co_await pause(1ms);
        }
    });
    asio::co_spawn(io, sup.watchdog(2ms, [&] { ++pings; }), asio::detached);
    io.run_for(30ms);
    CHECK(sup.crashes("executor") >= 3);
    CHECK(sup.unhealthy().empty());   // not judged before wedged_after
    CHECK(pings > 0);

    // It keeps beating and crashing past wedged_after without completing a pass.
    clock.t += 61s;
    io.run_for(30ms);
    CHECK(sup.unhealthy() == std::vector<std::string>{"executor"});
    const int at_failing = pings;
    io.run_for(30ms);
    CHECK(pings == at_failing);

    // The fault is gone: the next start goes round a pass, and the pings resume.
    failing = false;
    io.run_for(50ms);
    CHECK(sup.unhealthy().empty());
    CHECK(pings > at_failing);
    sup.stop();
    io.run_for(20ms);
}

TEST_CASE("A loop that crashed once and then waits for work for a long time stays healthy", "[supervisor]") {
    asio::io_context io;
    manual_clock clock;
    supervisor sup(io.get_executor(), fast(), clock.fn());
    int starts = 0;
    // As the admin socket's loop: one beat, then a wait for a connection that may take hours.
    sup.run("admin", [&]() -> asio::awaitable<void> {
        sup.beat("admin", std::chrono::hours(24 * 365));
        if (++starts == 1) throw std::runtime_error("accept: too many open files");
        co_await pause(1h);
    });
    io.run_for(20ms);
    CHECK(sup.crashes("admin") == 1);
    clock.t += std::chrono::hours(2);
    CHECK(sup.unhealthy().empty());
    sup.stop();
    io.run_for(20ms);
}

TEST_CASE("A loop that crashed three times in a row and then runs with a long wait stays healthy", "[supervisor]") {
    asio::io_context io;
    manual_clock clock;
    supervisor sup(io.get_executor(), fast(), clock.fn());
    int starts = 0;
    // As the poller with a poll.interval of a day: one beat a pass, so the
    // start that recovered completes its first pass only a day later.
    sup.run("poller", [&]() -> asio::awaitable<void> {
        for (;;) {
            sup.beat("poller", std::chrono::hours(24));
            if (++starts <= 3) throw std::runtime_error("database is locked");
            co_await pause(1h);
        }
    });
    io.run_for(50ms);
    REQUIRE(sup.crashes("poller") == 3);
    clock.t += std::chrono::hours(2);
    io.run_for(10ms);
    CHECK(sup.unhealthy().empty());
    sup.stop();
    io.run_for(20ms);
}

}  // namespace ORDERFLOW_TEST_FILE
