// The poller's after-sales passes: the backstop for lost type 11 and type 12
// webhooks. Each pass reads Search Cancellations / Search Returns by
// update_time from its cursor (daemon_state "poll.cancellations",
// "poll.returns") minus poll.overlap, and adds what it finds as
// order.cancellation_changed / order.return_changed events with the change
// key a webhook would have ("cancel:ID:STATUS", "return:ID:STATUS"), so a
// change seen by both is one event. A search sees a record's current status
// only: a request that was made and approved between two passes arrives as
// its approval. The cursors start at poll.start like the others, so the
// shop's past cancellations are not acted on (docs/operations.md, "Poller").
#include "daemon/ingress/poller.hpp"

#include "common/log.hpp"
#include "daemon/events.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "tikapi/client.hpp"

#include <algorithm>

namespace orderflow::daemon {

namespace asio = boost::asio;

namespace {

void log_poll_failed(const char* what, const tikapi::api_error& e, int pages) {
    log::warn("poll_failed", {{"what", what}, {"error", e.describe()}, {"pages_read", pages},
                              {"advice", "the cursor stays; the next poll reads the same window again"}});
}

}  // namespace

asio::awaitable<bool> poller::poll_cancellations(const orderflow::secret& token) {
    const std::int64_t started = ctx_.clock();
    tikapi::cancellation_search q;
    q.update_time_ge = poll_from("poll.cancellations");
    q.page_size = tikapi::max_cancellation_page_size;
    int pages = 0, seen = 0, added = 0, set_aside = 0;
    for (;;) {
        auto page = co_await api_.search_cancellations(q, token);
        if (!page) {
            log_poll_failed("cancellations", page.error(), pages);
            co_return page.error().token_expired();
        }
        ++pages;
        sup_.beat("poller");
        std::vector<storage::new_event> events;
        for (const auto& c : page.value().cancellations) {
            ++seen;
            if (c.status.empty() || c.order_id.empty()) continue;
            if (forgotten("", c.order_id, "", c.update_time > 0 ? c.update_time : c.create_time)) {
                ++set_aside;
                continue;
            }
            events.push_back(inbox_event_from_polled_cancellation(c, ctx_.clock()));
        }
        added += add_polled(events);
        if (page.value().next_page_token.empty()) break;
        if (stopping_) co_return false;   // not read to the end: the cursor stays
        q.page_token = page.value().next_page_token;
    }
    ctx_.store.put_state("poll.cancellations",
                         std::to_string(std::max(started, *q.update_time_ge + in_force_.cfg().poll.overlap.count())),
                         ctx_.clock());
    log::info("poll_done", {{"what", "cancellations"}, {"from", *q.update_time_ge}, {"pages", pages},
                            {"cancellations", seen}, {"new_changes", added}, {"set_aside", set_aside}});
    co_return false;
}

asio::awaitable<bool> poller::poll_returns(const orderflow::secret& token) {
    const std::int64_t started = ctx_.clock();
    tikapi::return_search q;
    q.update_time_ge = poll_from("poll.returns");
    q.page_size = tikapi::max_return_page_size;
    int pages = 0, seen = 0, added = 0, set_aside = 0;
    for (;;) {
        auto page = co_await api_.search_returns(q, token);
        if (!page) {
            log_poll_failed("returns", page.error(), pages);
            co_return page.error().token_expired();
        }
        ++pages;
        sup_.beat("poller");
        std::vector<storage::new_event> events;
        for (const auto& r : page.value().returns) {
            ++seen;
            if (r.status.empty() || r.order_id.empty()) continue;
            if (forgotten("", r.order_id, "", r.update_time > 0 ? r.update_time : r.create_time)) {
                ++set_aside;
                continue;
            }
            events.push_back(inbox_event_from_polled_return(r, ctx_.clock()));
        }
        added += add_polled(events);
        if (page.value().next_page_token.empty()) break;
        if (stopping_) co_return false;
        q.page_token = page.value().next_page_token;
    }
    ctx_.store.put_state("poll.returns",
                         std::to_string(std::max(started, *q.update_time_ge + in_force_.cfg().poll.overlap.count())),
                         ctx_.clock());
    log::info("poll_done", {{"what", "returns"}, {"from", *q.update_time_ge}, {"pages", pages}, {"returns", seen},
                            {"new_changes", added}, {"set_aside", set_aside}});
    co_return false;
}

}  // namespace orderflow::daemon
