// The TikTok Shop Open API client: signed calls (docs/tiktok-shop-api.md §2),
// the OAuth token exchange and refresh (§3), the {code, message, request_id,
// data} envelope (§4), and the endpoints the order flow uses (§6).
//
// Every call returns result<T>; nothing throws on a remote failure. Errors
// name the API path only: the token calls carry the app secret in the query,
// and no URL with a query string ever reaches an error message or a log line.
#pragma once

#include "common/secret.hpp"
#include "tikapi/http.hpp"
#include "tikapi/models.hpp"
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
};

// Limits the API documents (§6).
inline constexpr std::size_t max_order_ids_per_call = 50;
inline constexpr std::size_t max_text_message_chars = 2000;

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

    // GET /order/202309/orders?ids=a,b (at most 50 ids; none -> empty, no call).
    boost::asio::awaitable<result<std::vector<order>>> get_order_detail(const std::vector<std::string>& ids,
                                                                        const orderflow::secret& access_token);
    // POST /customer_service/202309/conversations -> conversation_id (an
    // existing conversation is reopened and its id returned).
    boost::asio::awaitable<result<std::string>> create_conversation(std::string_view buyer_user_id,
                                                                    const orderflow::secret& access_token);
    // POST /customer_service/202309/conversations/{id}/messages, type TEXT ->
    // message_id. Text over 2000 characters is refused (kind decode) without sending.
    boost::asio::awaitable<result<std::string>> send_text_message(std::string_view conversation_id,
                                                                  std::string_view text,
                                                                  const orderflow::secret& access_token);

    // The generic signed call. Adds app_key, timestamp, shop_cipher (when
    // shop_scoped and configured) and sign; sends x-tts-access-token (when
    // not empty) and content-type application/json; serializes `body` once and
    // signs exactly those bytes (path signed as sent: api_base.base_path + path).
    // Parses the envelope on any HTTP status: code != 0 -> kind api; a non-2xx
    // without an envelope -> kind http_status; a 2xx that is not an envelope -> decode.
    // Returns `data` (an empty object when absent or null).
    boost::asio::awaitable<result<nlohmann::json>> call(std::string_view method, std::string_view path,
                                                        std::map<std::string, std::string> query,
                                                        const nlohmann::json* body,
                                                        const orderflow::secret& access_token,
                                                        bool shop_scoped = true);

    const client_options& options() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Builds "k1=v1&k2=v2" with percent-encoded keys and values.
std::string encode_query(const std::map<std::string, std::string>& query);

// Reads a TikTok envelope from an HTTP response: `data` on code 0, otherwise
// the matching api_error. `path` is used in messages (never a query string).
result<nlohmann::json> parse_envelope(const http_response& response, std::string_view path);

// Counts Unicode code points in UTF-8 text (invalid bytes count one each).
std::size_t utf8_length(std::string_view text);

}  // namespace orderflow::tikapi
