// See order_source.hpp.
#include "daemon/order_source.hpp"

#include "common/log.hpp"
#include "daemon/tokens.hpp"
#include "tikapi/client.hpp"

#include <algorithm>

namespace orderflow::daemon {

order_source::order_source(tikapi::client& api, token_keeper& tokens) : api_(api), tokens_(tokens) {}

boost::asio::awaitable<void> order_source::prefetch(const std::vector<std::string>& ids) {
    prefetched_.clear();
    if (ids.size() < 2) co_return;
    const orderflow::secret* token = nullptr;
    try {
        token = co_await tokens_.access();
    } catch (const std::exception& e) {
        log::warn("prefetch_failed", {{"error", e.what()}});
    }
    if (!token) co_return;
    for (std::size_t i = 0; i < ids.size(); i += tikapi::max_order_ids_per_call) {
        const std::vector<std::string> chunk(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                             ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + tikapi::max_order_ids_per_call)));
        auto r = co_await api_.get_order_detail(chunk, *token);
        if (!r) co_return;
        for (auto& o : r.value()) prefetched_[o.id] = std::move(o);
    }
}

boost::asio::awaitable<order_source::fetched> order_source::fetch(const std::string& order_id) {
    fetched out;
    if (auto hit = prefetched_.find(order_id); hit != prefetched_.end()) {
        out.order = std::move(hit->second);
        prefetched_.erase(hit);
        co_return out;
    }
    const orderflow::secret* token = co_await tokens_.access();
    if (!token) {
        out.error = tokens_.why_no_token();
        out.retryable = true;
        co_return out;
    }
    // Named arguments only: GCC 12 mishandles class-type temporaries inside co_await.
    const std::vector<std::string> ids{order_id};
    auto r = co_await api_.get_order_detail(ids, *token);
    if (!r && r.error().token_expired()) {
        const bool refreshed = co_await tokens_.refresh_after_rejection();
        if (refreshed) token = co_await tokens_.access();
        if (refreshed && token) r = co_await api_.get_order_detail(ids, *token);
    }
    if (!r) {
        out.error = "order detail: " + r.error().describe();
        out.retryable = r.error().retryable() || r.error().token_expired();
        co_return out;
    }
    auto it = std::find_if(r.value().begin(), r.value().end(), [&](const tikapi::order& o) { return o.id == order_id; });
    if (it == r.value().end()) out.error = "order not returned by Get Order Detail";
    else out.order = *it;
    co_return out;
}

}  // namespace orderflow::daemon
