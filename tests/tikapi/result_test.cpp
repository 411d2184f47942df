// Which failures client::call tries again, in each retry mode
// (should_retry), as one table: the error, then idempotent, at_most_once.
#include "tikapi/result.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::tikapi;

namespace {

api_error failure(error_kind kind, int http_status, std::int64_t code, bool sent) {
    api_error e;
    e.kind = kind;
    e.http_status = http_status;
    e.code = code;
    e.request_sent = sent;
    return e;
}

}  // namespace

TEST_CASE("the retry classification table", "[result]") {
    using k = error_kind;
    auto [what, error, idempotent, at_most_once] = GENERATE(table<std::string, api_error, bool, bool>({
        // TikTok refused before acting: both modes retry.
        {"429 with 36009002", failure(k::api, 429, 36009002, true), true, true},
        {"36009002 on a 200", failure(k::api, 200, 36009002, true), true, true},
        {"429 without an envelope", failure(k::http_status, 429, 0, true), true, true},
        // Nothing reached TikTok: both modes retry.
        {"connection refused", failure(k::connect, 0, 0, false), true, true},
        {"connect timeout", failure(k::timeout, 0, 0, false), true, true},
        // The request was sent: only idempotent calls retry.
        {"timeout after sending", failure(k::timeout, 0, 0, true), true, false},
        {"reset after sending", failure(k::connect, 0, 0, true), true, false},
        {"36009003 internal error", failure(k::api, 200, 36009003, true), true, false},
        {"36009003 on a 503", failure(k::api, 503, 36009003, true), true, false},
        {"36009007 request timeout", failure(k::api, 200, 36009007, true), true, false},
        {"503 without an envelope", failure(k::http_status, 503, 0, true), true, false},
        {"502 without an envelope", failure(k::http_status, 502, 0, true), true, false},
        {"504 without an envelope", failure(k::http_status, 504, 0, true), true, false},
        // Never retried.
        {"105002 expired token", failure(k::api, 401, 105002, true), false, false},
        {"105002 on a 503", failure(k::api, 503, 105002, true), false, false},
        {"106001 bad signature", failure(k::api, 401, 106001, true), false, false},
        {"11006021 already shipped", failure(k::api, 200, 11006021, true), false, false},
        {"45101004 daily quota", failure(k::api, 200, 45101004, true), false, false},
        {"500 without an envelope", failure(k::http_status, 500, 0, true), false, false},
        {"TLS failure", failure(k::tls, 0, 0, false), false, false},
        {"malformed HTTP", failure(k::protocol, 0, 0, true), false, false},
        {"undecodable data", failure(k::decode, 200, 0, true), false, false},
    }));
    CAPTURE(what);
    CHECK(should_retry(error, retry::idempotent) == idempotent);
    CHECK(should_retry(error, retry::at_most_once) == at_most_once);
}

}  // namespace ORDERFLOW_TEST_FILE
