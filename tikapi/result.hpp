// The result type of every remote call in tikapi (docs/architecture.md, "Error
// policy"): either a value or an api_error that says what failed and whether
// trying again can help. Expected remote failures never throw.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace orderflow::tikapi {

enum class error_kind {
    connect,      // DNS, TCP connect or connection reset: nothing known to be received
    timeout,      // the deadline passed; the request may or may not have been received
    tls,          // handshake or certificate verification failed
    protocol,     // malformed HTTP from the peer
    http_status,  // non-2xx without a TikTok envelope
    api,          // a TikTok envelope with code != 0
    decode,       // the body was not the JSON shape we expected
};

struct api_error {
    error_kind kind = error_kind::api;
    int http_status = 0;
    std::int64_t code = 0;       // TikTok error code when kind == api
    std::string message;         // safe to log: never holds secrets
    std::string request_id;
    bool request_sent = false;   // the request was fully written before the failure

    // Retryable: 36009003 internal error, 36009002 / 429 rate limit, 503,
    // timeouts and connection errors (docs/tiktok-shop-api.md §4).
    bool retryable() const {
        switch (kind) {
            case error_kind::connect:
            case error_kind::timeout: return true;
            case error_kind::tls:
            case error_kind::protocol:
            case error_kind::decode: return false;
            case error_kind::http_status: return http_status == 429 || http_status == 503 || http_status == 502 || http_status == 504;
            case error_kind::api:
                return code == 36009003 || code == 36009002 || code == 36009007 || http_status == 429 || http_status == 503;
        }
        return false;
    }
    bool rate_limited() const { return code == 36009002 || http_status == 429; }
    // 105002 expired, or 105001 invalid (e.g. rotated away by a refresh
    // whose answer was lost): either way, refresh once and try again.
    bool token_expired() const { return kind == error_kind::api && (code == 105002 || code == 105001); }

    // One line for logs and operator output.
    std::string describe() const {
        std::string s;
        switch (kind) {
            case error_kind::connect: s = "connection failed"; break;
            case error_kind::timeout: s = "timed out"; break;
            case error_kind::tls: s = "TLS failed"; break;
            case error_kind::protocol: s = "bad HTTP response"; break;
            case error_kind::http_status: s = "HTTP " + std::to_string(http_status); break;
            case error_kind::api: s = "TikTok error " + std::to_string(code); break;
            case error_kind::decode: s = "unexpected response"; break;
        }
        if (!message.empty()) s += ": " + message;
        if (!request_id.empty()) s += " (request_id " + request_id + ")";
        return s;
    }
};

// How client::call may repeat a request that failed (docs/tiktok-shop-api.md §4).
enum class retry {
    // Repeating is harmless: reads, searches, ship_package (a second ship is
    // refused with 11006021), update_*_shipping_info, webhook PUT/DELETE.
    idempotent,
    // A repeat could act twice (a message sent twice): only repeat what
    // TikTok certainly did not act on.
    at_most_once,
};

// Whether `mode` allows another attempt after `e`:
// - idempotent: 36009003 (internal error), 36009007 (request timeout),
//   36009002 / HTTP 429 (rate limit), HTTP 502 / 503 / 504 with or without an
//   envelope, timeouts and connection errors whether or not the request was sent.
// - at_most_once: rate-limit rejections (36009002 / 429: refused, not acted
//   on), and connection errors or timeouts that happened before the request
//   was fully written (request_sent == false). Anything else is returned,
//   and the caller decides: a message whose call may have acted (a timeout
//   or reset after sending, a 502 / 504, 36009007) becomes unknown and is
//   reconciled; a refusal (503, 36009003) is tried again later.
// Nothing else is retried (105002 in particular: the caller refreshes).
inline bool should_retry(const api_error& e, retry mode) {
    if (e.rate_limited() && (e.kind == error_kind::api || e.kind == error_kind::http_status)) return true;
    if (mode == retry::at_most_once) {
        return (e.kind == error_kind::connect || e.kind == error_kind::timeout) && !e.request_sent;
    }
    switch (e.kind) {
        case error_kind::connect:
        case error_kind::timeout: return true;
        case error_kind::http_status:
        case error_kind::api:
            if (e.token_expired()) return false;
            if (e.kind == error_kind::api && (e.code == 36009003 || e.code == 36009007)) return true;
            return e.http_status == 502 || e.http_status == 503 || e.http_status == 504;
        case error_kind::tls:
        case error_kind::protocol:
        case error_kind::decode: return false;
    }
    return false;
}

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    result(api_error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { assert(ok()); return std::get<0>(v_); }
    const T& value() const& { assert(ok()); return std::get<0>(v_); }
    T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
    const api_error& error() const { assert(!ok()); return std::get<1>(v_); }

private:
    std::variant<T, api_error> v_;
};

}  // namespace orderflow::tikapi
