// See inbox_writer.hpp.
#include "daemon/ingress/inbox_writer.hpp"

#include "common/log.hpp"
#include "daemon/storage_watch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace orderflow::daemon {

namespace asio = boost::asio;

// One group commit: the events, their outcomes once committed, and the
// signal their writers wait on.
struct inbox_writer::batch {
    explicit batch(asio::any_io_executor ex) : done_signal(ex) { done_signal.expires_at(asio::steady_timer::time_point::max()); }
    std::vector<storage::new_event> events;
    std::vector<write_outcome> outcomes;
    asio::steady_timer done_signal;
    bool done = false;
};

inbox_writer::inbox_writer(context ctx, storage_watch& watch) : ctx_(std::move(ctx)), watch_(watch) {}
inbox_writer::~inbox_writer() = default;

asio::awaitable<write_outcome> inbox_writer::enqueue(storage::new_event e) {
    if (!open_batch_) {
        open_batch_ = std::make_shared<batch>(ctx_.ex);
        asio::post(ctx_.ex, [this] { commit_open_batch(); });
    }
    auto b = open_batch_;
    const std::size_t index = b->events.size();
    b->events.push_back(std::move(e));
    if (!b->done) co_await b->done_signal.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return b->outcomes.at(index);
}

void inbox_writer::commit_open_batch() {
    auto b = std::move(open_batch_);
    open_batch_.reset();
    b->outcomes.assign(b->events.size(), write_outcome::unavailable);
    // A commit into a deleted file is lost at the next start: 503, and TikTok retries.
    if (!watch_.lost()) {
        try {
            ctx_.db.transaction([&] {
                for (std::size_t i = 0; i < b->events.size(); ++i)
                    b->outcomes[i] = ctx_.store.add_event(b->events[i]) ? write_outcome::inserted : write_outcome::duplicate;
            });
        } catch (const std::exception& e) {
            b->outcomes.assign(b->events.size(), write_outcome::unavailable);
            log::error("inbox_commit_failed", {{"error", e.what()}, {"events", b->events.size()},
                                               {"advice", "webhooks get 503 and TikTok retries them; check the disk and the database file"}});
        }
    }
    b->done = true;
    b->done_signal.cancel();
}

int inbox_writer::add_now(const std::vector<storage::new_event>& events) {
    int added = 0;
    if (events.empty()) return 0;
    ctx_.db.transaction([&] {
        for (const auto& e : events)
            if (ctx_.store.add_event(e)) ++added;
    });
    return added;
}

}  // namespace orderflow::daemon
