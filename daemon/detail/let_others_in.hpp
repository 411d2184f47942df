// Between two batches of a long storage task on the event loop (the
// pipeline's pages, the retention purge): the loop's other work runs first,
// and the inbox writer, when it waits for the write lock (it polls every
// 0.1 ms), takes it before the next batch does; at most 10 ms, so the task
// still moves on.
#pragma once

#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace orderflow::daemon::detail {

inline boost::asio::awaitable<void> let_others_in(const context& ctx) {
    co_await boost::asio::post(ctx.ex, boost::asio::use_awaitable);
    boost::asio::steady_timer pause(ctx.ex);
    for (int i = 0; i < 100 && ctx.db.others_want_the_lock(); ++i) {
        pause.expires_after(std::chrono::microseconds(100));
        co_await pause.async_wait(boost::asio::use_awaitable);
    }
}

}  // namespace orderflow::daemon::detail
