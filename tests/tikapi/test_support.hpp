// Helpers for the tikapi tests: run one coroutine to completion on an
// io_context (with a generous safety limit so a bug fails instead of hanging).
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>

namespace orderflow::tikapi::test {

template <class T>
boost::asio::awaitable<void> store_into(boost::asio::awaitable<T> work, std::optional<T>& out) {
    out.emplace(co_await std::move(work));
}

// Runs `work` until it and everything else on the context finishes (servers
// must be stopped by the coroutine). Throws what the coroutine threw.
template <class T>
T run(boost::asio::io_context& ioc, boost::asio::awaitable<T> work) {
    std::optional<T> out;
    std::exception_ptr error;
    // co_spawn wants default-constructible results; result<T> is not.
    boost::asio::co_spawn(ioc, store_into(std::move(work), out), [&](std::exception_ptr e) { error = e; });
    ioc.run_for(std::chrono::seconds(20));
    ioc.restart();
    if (error) std::rethrow_exception(error);
    if (!out) throw std::runtime_error("the test coroutine did not finish within 20 s");
    return std::move(*out);
}

}  // namespace orderflow::tikapi::test
