// What every runtime component shares: the event loop's executor, the
// database (one connection, used only from the loop's thread), the order-flow
// tables over it, what makes its commits survive a power loss off the loop's
// thread (durable_commits.hpp), and the clock. Passed by value; the references outlive
// every component (the composition root, app.cpp, owns them).
#pragma once

#include "storage/database.hpp"
#include "storage/store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace orderflow::daemon {

class durable_commits;

struct context {
    boost::asio::any_io_executor ex;
    storage::database& db;
    storage::store& store;
    durable_commits& durable;
    std::function<std::int64_t()> clock;   // unix seconds; injected by tests
};

// Unix seconds from the system clock.
std::int64_t system_now();

// "24 h", "10 min", "90 s": a config duration as a person reads it.
std::string spoken(std::chrono::seconds d);

// Capped exponential backoff in seconds after `attempts` tries: 5, 10, 20, ... up to `cap`.
std::int64_t backoff(int attempts, std::chrono::seconds cap);

// Actions that send the buyer a message (guards, caps, the breaker and
// reconciliation are about these); the others change orderflow's own state.
bool is_message(std::string_view kind);

}  // namespace orderflow::daemon
