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

    boost::asio::awaitable<void> wait(std::chrono::steady_clock::duration timeout) {
        if (pending_) {
            pending_ = false;
            co_return;
        }
        timer_.expires_after(timeout);
        co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        pending_ = false;
    }

    void cancel() { timer_.cancel(); }

private:
    boost::asio::steady_timer timer_;
    bool pending_ = false;
};

}  // namespace orderflow::daemon::detail
