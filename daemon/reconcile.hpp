// The decisions of reconciliation, as pure functions (docs/architecture.md,
// "Effects"): a send whose outcome is unknown is looked for in the buyer
// conversation, page by page, newest first, and then judged delivered, not
// delivered, or impossible to tell. The daemon does the I/O (service.cpp);
// these functions hold every branch, so unit tests cover each one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace orderflow::daemon {

// What one page of Get Conversation Messages says about one sent text.
struct page_scan {
    bool found = false;            // the exact text, from the shop, at or after `since`
    std::string message_id;        // when found
    bool complete = false;         // nothing older can hold it: empty page, a message before `since`, or no next page
    std::string next_page_token;
};

// Looks for `text` sent by the shop (sender role SHOP or CUSTOMER_SERVICE)
// at or after `since` (unix seconds) in one page's `data` (its "messages"
// with `content` a JSON string holding {"content": text}). Malformed
// messages are passed over; a page that is not an object is empty.
page_scan scan_page(const nlohmann::json& data, std::string_view text, std::int64_t since);

enum class reconcile_verdict {
    delivered,       // mark done
    send_again,      // a complete look found nothing: plan it once more, under the same key
    inconclusive,    // stays unknown, and a person looks (review item)
};

// found -> delivered. A complete look without it -> send_again, but only
// when reconciliation has not sent it again before (`resent`: how often an
// earlier reconciliation found it absent and planned it again): each time
// only after a complete look shows it absent, and at most max_resends times,
// never again and again. Attempts TikTok refused outright (a 503, a 36009003)
// do not count. Anything else -> inconclusive.
inline constexpr int max_resends = 3;
reconcile_verdict decide_reconcile(bool found, bool complete, int resent);

}  // namespace orderflow::daemon
