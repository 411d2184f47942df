// A level-triggered wake-up signal between coroutines on one io_context:
// notify() wakes the waiter (or makes its next wait return at once);
// wait(timeout) returns after a notify or the timeout, whichever is first.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace orderflow::daemon::detail {

class wakeup {
public:
    explicit wakeup(boost::asio::any_io_executor ex) : timer_(ex) {}

    void notify() {
        pending_ = true;
        timer_.cancel();
    }

    // Any duration: one longer than the clock can count (nanoseconds, about
    // 292 years) waits as long as it can instead of overflowing into the
    // past, which would make every wait return at once.
    template <class Rep, class Period>
    boost::asio::awaitable<void> wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_for(saturated(timeout));
    }

    void cancel() { timer_.cancel(); }

    // d in the steady clock's unit, clamped to what it can hold (0 for a negative d).
    template <class Rep, class Period>
    static std::chrono::steady_clock::duration saturated(std::chrono::duration<Rep, Period> d) {
        using steady = std::chrono::steady_clock::duration;
        using given = std::chrono::duration<Rep, Period>;
        if (d <= given::zero()) return steady::zero();
        if (d >= std::chrono::duration_cast<given>(steady::max())) return steady::max();
        return std::chrono::duration_cast<steady>(d);
    }

private:
    boost::asio::awaitable<void> wait_for(std::chrono::steady_clock::duration timeout) {
        if (pending_) {
            pending_ = false;
            co_return;
        }
        timer_.expires_after(timeout);
        co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        pending_ = false;
    }

    boost::asio::steady_timer timer_;
    bool pending_ = false;
};

}  // namespace orderflow::daemon::detail
