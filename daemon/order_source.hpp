// Orders from TikTok, for the pipeline (what rules see) and the executor
// (re-checks before sending, tracking updates): Get Order Detail with the
// token kept fresh (refreshed once on 105002), and a page-wide prefetch so a
// backlog of events costs one call per 50 orders instead of one per event.
#pragma once

#include "tikapi/models.hpp"

#include <boost/asio/awaitable.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class token_keeper;

class order_source {
public:
    order_source(tikapi::client& api, token_keeper& tokens);

    struct fetched {
        std::optional<tikapi::order> order;
        std::string error;          // when there is no order
        bool retryable = false;     // try again later (TikTok busy, not authorized yet)
    };
    // One order: from the prefetched page when it is there (taken out, so a
    // second event of the same order fetches afresh), else from TikTok.
    boost::asio::awaitable<fetched> fetch(const std::string& order_id);

    // Best effort: fetches these orders (at most 50 per call) for the fetch()
    // calls that follow; on any failure they fetch one by one as usual.
    // Fewer than two ids: nothing to gain, nothing fetched.
    boost::asio::awaitable<void> prefetch(const std::vector<std::string>& ids);
    void forget_prefetched() { prefetched_.clear(); }
    // Whether fetch(order_id) answers from the prefetched page, without waiting.
    bool has_prefetched(const std::string& order_id) const { return prefetched_.contains(order_id); }

private:
    tikapi::client& api_;
    token_keeper& tokens_;
    std::map<std::string, tikapi::order> prefetched_;
};

}  // namespace orderflow::daemon
