// The inbox's one writer for what arrives from outside: group commit. Every
// event enqueued while a commit is being prepared is written in the same
// transaction, so durability (synchronous=FULL) costs one fsync per batch,
// not per webhook (docs/architecture.md, "Ingress"). A caller learns its
// event's outcome only after the commit: ingress answers 200 only then.
// While the database file is missing (storage_watch) nothing is committed:
// the outcome is `unavailable` and webhooks get 503.
#pragma once

#include "daemon/context.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <vector>

namespace orderflow::daemon {

class storage_watch;

enum class write_outcome { inserted, duplicate, unavailable };

class inbox_writer {
public:
    inbox_writer(context ctx, storage_watch& watch);
    ~inbox_writer();

    // Queues the event for the next group commit and waits for it.
    boost::asio::awaitable<write_outcome> enqueue(storage::new_event e);

    // Commits these events now, in one transaction (the poller's pages).
    // Returns how many were new. Throws storage_error.
    int add_now(const std::vector<storage::new_event>& events);

private:
    struct batch;
    void commit_open_batch();

    context ctx_;
    storage_watch& watch_;
    std::shared_ptr<batch> open_batch_;
};

}  // namespace orderflow::daemon
