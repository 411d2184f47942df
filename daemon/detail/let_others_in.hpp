// Before and between the batches of a long storage task on the event loop
// (the pipeline's pages, the retention purge): the loop's other work runs
// first, and the inbox writer, when it waits for the write lock (it polls
// every 0.1 ms), takes it before the next batch does; at most 10 ms. While
// it commits again and again (a burst of webhooks, whose 200s wait for its
// commits), the batch waits, without holding the loop, for up to 50 ms
// more; so the task still moves on, taking about a tenth of the lock's
// time. The loop's own writes poll for the lock as the writer's do
// (daemon/app.cpp), so without this wait the pipeline took the lock as
// often as the writer and halved the webhooks answered in a burst
// (bench/README.md, nineteenth round).
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
    for (int i = 0; i < 50 && ctx.db.others_writing(); ++i) {
        pause.expires_after(std::chrono::milliseconds(1));
        co_await pause.async_wait(boost::asio::use_awaitable);
    }
}

}  // namespace orderflow::daemon::detail
