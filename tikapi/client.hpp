// The TikTok Shop Open API client: signed calls (docs/tiktok-shop-api.md §2),
// the OAuth token exchange and refresh (§3), the {code, message, request_id,
// data} envelope (§4), and the endpoints the order flow uses (§6).
//
// Every call returns result<T>; nothing throws on a remote failure. Errors
// name the API path only: the token calls carry the app secret in the query,
// and no URL with a query string ever reaches an error message or a log line.
//
// Open API calls (not the auth host) go through a per-API rate limiter
// (rate_limiter.hpp) and are retried with capped, fully jittered exponential
// backoff as far as the call's retry mode allows (result.hpp, should_retry).
#pragma once

#include "common/secret.hpp"
#include "tikapi/http.hpp"
#include "tikapi/models.hpp"
#include "tikapi/rate_limiter.hpp"
#include "tikapi/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::tikapi {

struct client_options {
    url api_base;              // https://open-api.tiktokglobalshop.com (or the sandbox)
    url auth_base;             // https://auth.tiktok-shops.com
    std::string app_key;
    orderflow::secret app_secret;
    std::string shop_cipher;
    std::chrono::milliseconds timeout{10000};
    tls_options tls;
    std::function<std::int64_t()> clock;   // unix seconds; default: system clock

    // TikTok limits each API per app + shop (§4): give every client of the
    // same app and shop the same limiter. nullptr: the client makes its own
    // with rate_limit_qps (burst the same; 0 disables limiting), and
    // options().limiter then returns it.
    std::shared_ptr<rate_limiter> limiter;
    double rate_limit_qps = 50;

    // Attempts per call (1: never retry), and the backoff between them:
    // uniform in [0, min(backoff_cap, backoff_base * 2^(retry - 1))].
    int max_attempts = 4;
    std::chrono::milliseconds backoff_base{200}, backoff_cap{5000};
    std::uint32_t random_seed = 0;   // for the backoff jitter; 0: std::random_device

    // The customer-service quota per UTC day (§4): a 45101004 answer sets the
    // day's count to it (TikTok knows better than our count).
    std::int64_t cs_daily_quota = 10000;
    // Told of the day's customer-service count after each one that reached
    // TikTok (the daemon persists it); may be empty.
    std::function<void(std::int64_t count_today)> on_cs_count;
    // Told of every attempt of a signed API call (the daemon's metrics); may be empty.
    std::function<void(const struct attempt_report&)> on_attempt;
};

// One attempt of client::call, as on_attempt hears of it.
struct attempt_report {
    std::string_view api;     // the path template, e.g. "/order/202309/orders"
    std::string result;       // "0" on success, TikTok's code, "http_503", or the failure: "timeout", "connect", "tls", "protocol", "decode"
    std::chrono::nanoseconds took{0};
    bool throttled = false;   // the answer said the rate limit was reached
    bool retried = false;     // another attempt follows
};

// Limits the API documents (§6).
inline constexpr std::size_t max_order_ids_per_call = 50;
inline constexpr std::size_t max_text_message_chars = 2000;
inline constexpr int max_order_page_size = 100;
inline constexpr int max_package_page_size = 50;
inline constexpr int max_conversation_page_size = 20;
inline constexpr int max_message_page_size = 10;
inline constexpr std::size_t max_webhook_address_chars = 255;
inline constexpr std::int64_t cs_daily_quota = 10000;   // error 45101004 past it
// After-sales searches (docs/tiktok-shop-api.md, "Cancellations and returns").
inline constexpr int max_cancellation_page_size = 50;
inline constexpr int min_return_page_size = 10;
inline constexpr int max_return_page_size = 50;

class client {
public:
    client(boost::asio::any_io_executor ex, client_options options);
    ~client();
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;

    // GET auth_base/api/v2/token/get (§3): trades a one-time authorization code.
    boost::asio::awaitable<result<token_set>> get_token(std::string_view auth_code);
    // GET auth_base/api/v2/token/refresh.
    boost::asio::awaitable<result<token_set>> refresh_token(const orderflow::secret& refresh_token);

    // GET /order/202309/orders?ids=a,b (at most 50 ids; none -> empty, no
    // call). Retried as retry::idempotent.
    boost::asio::awaitable<result<std::vector<order>>> get_order_detail(const std::vector<std::string>& ids,
                                                                        const orderflow::secret& access_token);
    // POST /customer_service/202309/conversations -> conversation_id (an
    // existing conversation is reopened and its id returned). retry::at_most_once.
    boost::asio::awaitable<result<std::string>> create_conversation(std::string_view buyer_user_id,
                                                                    const orderflow::secret& access_token);
    // POST /customer_service/202309/conversations/{id}/messages, type TEXT ->
    // message_id. Text over 2000 characters is refused (kind decode) without
    // sending. retry::at_most_once: a timeout after sending comes back as
    // kind timeout with request_sent, for the caller to reconcile.
    boost::asio::awaitable<result<std::string>> send_text_message(std::string_view conversation_id,
                                                                  std::string_view text,
                                                                  const orderflow::secret& access_token);

    // Argument checks shared by the calls below: an id that goes in the path
    // must not be empty, "." or ".." (it is percent-encoded), and a page size
    // must be within the API's range. A bad argument is an error of kind
    // decode, returned without calling. Unless said otherwise, calls are
    // retried as retry::idempotent, and they are shop scoped.

    // POST /order/202309/orders/search; see order_search for how
    // order_status is sent.
    boost::asio::awaitable<result<order_page>> search_orders(const order_search& q,
                                                             const orderflow::secret& access_token);
    // GET /fulfillment/202309/packages/{package_id}.
    boost::asio::awaitable<result<package>> get_package_detail(std::string_view package_id,
                                                               const orderflow::secret& access_token);
    // POST /fulfillment/202309/packages/search.
    boost::asio::awaitable<result<package_page>> search_packages(const package_search& q,
                                                                 const orderflow::secret& access_token);
    // POST /fulfillment/202309/packages/{package_id}/ship with
    // {"self_shipment":{"tracking_number","shipping_provider_id"}} (seller
    // shipping). Retried: TikTok refuses a second ship with 11006021, so a
    // 11006021 after a retry may mean the first attempt went through; check
    // get_package_detail's tracking_number.
    boost::asio::awaitable<result<nothing>> ship_package(std::string_view package_id, std::string_view tracking_number,
                                                         std::string_view shipping_provider_id,
                                                         const orderflow::secret& access_token);
    // POST /fulfillment/202309/orders/{order_id}/packages (Mark Package As
    // Shipped, seller shipping): ships the order's package when TikTok gives
    // no package id before shipping (local sellers in the US and UK); the
    // package's id, as TikTok answers it. Retried like ship_package: a
    // second mark is refused with 21008099 ("Package has been shipped").
    boost::asio::awaitable<result<std::string>> mark_package_shipped(std::string_view order_id,
                                                                     std::string_view tracking_number,
                                                                     std::string_view shipping_provider_id,
                                                                     const orderflow::secret& access_token);
    // POST /fulfillment/202309/orders/{order_id}/shipping_info/update (shipped,
    // seller-shipped orders, within 72 h of shipping).
    boost::asio::awaitable<result<nothing>> update_order_shipping_info(std::string_view order_id,
                                                                       std::string_view tracking_number,
                                                                       std::string_view shipping_provider_id,
                                                                       const orderflow::secret& access_token);
    // POST /fulfillment/202309/packages/{package_id}/shipping_info/update.
    boost::asio::awaitable<result<nothing>> update_package_shipping_info(std::string_view package_id,
                                                                         std::string_view tracking_number,
                                                                         std::string_view shipping_provider_id,
                                                                         const orderflow::secret& access_token);
    // GET /fulfillment/202309/orders/{order_id}/tracking.
    boost::asio::awaitable<result<std::vector<tracking_event>>> get_tracking(std::string_view order_id,
                                                                             const orderflow::secret& access_token);
    // GET /logistics/202309/delivery_options/{delivery_option_id}/shipping_providers
    // (21008117 when TikTok ships that option itself).
    boost::asio::awaitable<result<std::vector<shipping_provider>>> get_shipping_providers(
        std::string_view delivery_option_id, const orderflow::secret& access_token);

    // Customer service (§6). Each request that reaches TikTok counts towards
    // the 10,000/day quota (cs_calls_today).
    // GET /customer_service/202309/conversations, page_size 1..20.
    boost::asio::awaitable<result<conversation_page>> get_conversations(int page_size, std::string_view page_token,
                                                                        const orderflow::secret& access_token);
    // GET /customer_service/202309/conversations/{id}/messages, page_size
    // 1..10. Does not mark the messages read.
    boost::asio::awaitable<result<message_page>> get_conversation_messages(std::string_view conversation_id,
                                                                           int page_size, std::string_view page_token,
                                                                           const orderflow::secret& access_token);
    // POST /customer_service/202309/conversations/{id}/messages/read (retry::at_most_once).
    boost::asio::awaitable<result<nothing>> mark_read(std::string_view conversation_id,
                                                      const orderflow::secret& access_token);

    // GET /authorization/202309/shops (not shop scoped): the shops the token
    // may act for, with the cipher to configure as shop_cipher.
    boost::asio::awaitable<result<std::vector<authorized_shop>>> get_authorized_shops(
        const orderflow::secret& access_token);

    // The Event API (§5). GET /event/202309/webhooks.
    boost::asio::awaitable<result<std::vector<webhook_subscription>>> get_webhooks(
        const orderflow::secret& access_token);
    // PUT /event/202309/webhooks {"address","event_type"}; the address is at
    // most 255 characters. Retried (setting the same address twice is harmless).
    boost::asio::awaitable<result<nothing>> put_webhook(std::string_view event_type, std::string_view address,
                                                        const orderflow::secret& access_token);
    // DELETE /event/202309/webhooks {"event_type"}. Retried: a repeat after a
    // lost answer may come back as TikTok's error for a missing subscription.
    boost::asio::awaitable<result<nothing>> delete_webhook(std::string_view event_type,
                                                           const orderflow::secret& access_token);

    // After-sales (docs/tiktok-shop-api.md, "Cancellations and returns"):
    // read only. orderflow never approves or rejects a cancellation or a return.
    // POST /return_refund/202309/cancellations/search, page_size 1..50.
    boost::asio::awaitable<result<cancellation_page>> search_cancellations(const cancellation_search& q,
                                                                           const orderflow::secret& access_token);
    // POST /return_refund/202309/returns/search, page_size 10..50.
    boost::asio::awaitable<result<return_page>> search_returns(const return_search& q,
                                                               const orderflow::secret& access_token);

    // Customer-service requests that reached TikTok (answered, or failed
    // after being sent) in the current UTC day by options().clock, retries
    // included; options().cs_daily_quota once TikTok answered 45101004. Not
    // persisted here: the daemon stores it and resumes it at start.
    std::int64_t cs_calls_today() const;
    // Resumes today's count from a stored one (a restart): the count becomes
    // the larger of the two. A count of another day is the caller's to drop.
    void resume_cs_calls(std::int64_t count_today);

    // The generic signed call. Adds app_key, timestamp, shop_cipher (when
    // shop_scoped and configured) and sign; sends x-tts-access-token (when
    // not empty) and content-type application/json; serializes `body` once and
    // signs exactly those bytes (path signed as sent: api_base.base_path + path).
    // Parses the envelope on any HTTP status: code != 0 -> kind api; a non-2xx
    // without an envelope -> kind http_status; a 2xx that is not an envelope -> decode.
    // Returns `data` (an empty object when absent or null).
    //
    // Before each attempt it waits for the rate limiter's slot of the path's
    // template (api_template). A 429 / 36009002 throttles that API in the
    // limiter. A failed attempt is repeated, up to options().max_attempts
    // times in all, when should_retry(error, mode) says so, after
    // retry_delay(); each attempt is signed anew with a fresh timestamp. The
    // last error is returned. A cancelled wait returns the error so far (or
    // kind timeout, request_sent false, before the first attempt).
    boost::asio::awaitable<result<nlohmann::json>> call(std::string_view method, std::string_view path,
                                                        std::map<std::string, std::string> query,
                                                        const nlohmann::json* body,
                                                        const orderflow::secret& access_token,
                                                        bool shop_scoped = true,
                                                        retry mode = retry::at_most_once);

    const client_options& options() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Builds "k1=v1&k2=v2" with percent-encoded keys and values.
std::string encode_query(const std::map<std::string, std::string>& query);

// Reads a TikTok envelope from an HTTP response: `data` on code 0, otherwise
// the matching api_error. `path` is used in messages (never a query string).
// A body nested deeper than orderflow::max_json_depth is not read: a 2xx is a
// decode error "PATH: the response is JSON nested deeper than 64 levels".
result<nlohmann::json> parse_envelope(const http_response& response, std::string_view path);

// Counts Unicode code points in UTF-8 text (invalid bytes count one each).
std::size_t utf8_length(std::string_view text);

// The upper bound of the wait before retry `retry_number` (1 = the first
// retry): min(cap, base * 2^(retry_number - 1)), without overflow.
std::chrono::milliseconds backoff_ceiling(int retry_number, std::chrono::milliseconds base,
                                          std::chrono::milliseconds cap);
// "Full jitter" (the docs recommend random exponential backoff, §4): the wait
// is `unit` (a uniform draw in [0, 1)) times backoff_ceiling. Pure; the client
// draws `unit` from its seeded std::mt19937.
std::chrono::milliseconds retry_delay(int retry_number, std::chrono::milliseconds base,
                                      std::chrono::milliseconds cap, double unit);

}  // namespace orderflow::tikapi
