// The per-API token buckets, driven by an invented clock: no test waits.
#include "tikapi/rate_limiter.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::tikapi;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

constexpr const char* messages_api = "/customer_service/202309/conversations/{id}/messages";
constexpr const char* orders_api = "/order/202309/orders/search";

rate_limiter_options quiet(double rate = 50, double burst = 50) {
    rate_limiter_options o;
    o.rate = rate;
    o.burst = burst;
    o.penalty = 1000ms;
    o.penalty_jitter = 500ms;
    o.seed = 42;
    return o;
}

const rate_limiter::time_point t0{std::chrono::hours(1000)};

// Waits that come from a random penalty go through floating point: compare
// them to the nanosecond within a microsecond.
bool near(nanoseconds a, nanoseconds b) { return a - b < nanoseconds(1us) && b - a < nanoseconds(1us); }

}  // namespace

TEST_CASE("the first 50 requests of a second go at once and the 51st waits 20 ms", "[rate_limiter]") {
    rate_limiter limiter(quiet());
    for (int i = 0; i < 50; ++i) {
        CAPTURE(i);
        CHECK(limiter.reserve(messages_api, t0) == nanoseconds(0));
    }
    CHECK(limiter.reserve(messages_api, t0) == nanoseconds(20ms));
    CHECK(limiter.reserve(messages_api, t0) == nanoseconds(40ms));   // reserved slots queue up at 1/rate
}

TEST_CASE("the bucket refills at the rate and holds at most the burst", "[rate_limiter]") {
    rate_limiter limiter(quiet());
    for (int i = 0; i < 50; ++i) (void)limiter.reserve(orders_api, t0);
    SECTION("20 ms later one token is back") {
        CHECK(limiter.reserve(orders_api, t0 + 20ms) == nanoseconds(0));
        CHECK(limiter.reserve(orders_api, t0 + 20ms) == nanoseconds(20ms));
    }
    SECTION("after an idle hour only 50 go at once, not 180,000") {
        const auto later = t0 + 1h;
        for (int i = 0; i < 50; ++i) CHECK(limiter.reserve(orders_api, later) == nanoseconds(0));
        CHECK(limiter.reserve(orders_api, later) == nanoseconds(20ms));
    }
    SECTION("a clock that steps back refills nothing") {
        CHECK(limiter.reserve(orders_api, t0 - 5s) == nanoseconds(5s + 20ms));
    }
}

TEST_CASE("separate APIs have separate buckets", "[rate_limiter]") {
    rate_limiter limiter(quiet());
    for (int i = 0; i < 50; ++i) (void)limiter.reserve(messages_api, t0);
    CHECK(limiter.reserve(messages_api, t0) > nanoseconds(0));
    CHECK(limiter.reserve(orders_api, t0) == nanoseconds(0));
}

TEST_CASE("a smaller burst spaces requests from the start", "[rate_limiter]") {
    rate_limiter limiter(quiet(10, 2));
    CHECK(limiter.reserve(orders_api, t0) == nanoseconds(0));
    CHECK(limiter.reserve(orders_api, t0) == nanoseconds(0));
    CHECK(limiter.reserve(orders_api, t0) == nanoseconds(100ms));
}

TEST_CASE("admit lets at most `rate` requests out in any one second, counted when they go, whatever slots they held", "[rate_limiter]") {
    rate_limiter limiter(quiet(10, 1));
    // Ten sends 100 ms apart, on their slots: each goes at once.
    for (int i = 0; i < 10; ++i) {
        CAPTURE(i);
        CHECK(limiter.admit(messages_api, t0 + i * 100ms) == nanoseconds(0));
    }
    // A thread that stalled releases two callers at 950 ms whose slots have
    // passed: the second of that window would be the eleventh, so it waits
    // until the first send is a second old.
    CHECK(limiter.admit(messages_api, t0 + 950ms) == nanoseconds(50ms));
    CHECK(limiter.admit(messages_api, t0 + 1000ms) == nanoseconds(0));
    CHECK(limiter.admit(messages_api, t0 + 1000ms) == nanoseconds(100ms));   // the one at 100 ms is next to leave the window
    CHECK(limiter.admit(messages_api, t0 + 1100ms) == nanoseconds(0));
    // Another API counts its own sends.
    CHECK(limiter.admit(orders_api, t0 + 1100ms) == nanoseconds(0));
}

TEST_CASE("admit does not count when limiting is disabled", "[rate_limiter]") {
    rate_limiter limiter(quiet(0, 0));
    for (int i = 0; i < 1000; ++i) CHECK(limiter.admit(messages_api, t0) == nanoseconds(0));
}

TEST_CASE("throttled pauses the API for the penalty plus jitter, then spaces the callers", "[rate_limiter]") {
    rate_limiter limiter(quiet());
    (void)limiter.reserve(orders_api, t0);
    limiter.throttled(orders_api, t0);

    const auto first = limiter.reserve(orders_api, t0);
    // penalty 1 s + jitter in [0, 0.5 s], then one slot (20 ms)
    CHECK(first >= nanoseconds(1s + 20ms));
    CHECK(first <= nanoseconds(1500ms + 20ms));
    CHECK(near(limiter.reserve(orders_api, t0) - first, 20ms));   // not all at once after the pause
    CHECK(limiter.reserve(messages_api, t0) == nanoseconds(0));             // other APIs are not paused

    SECTION("a second 429 restarts the pause instead of adding to it") {
        limiter.throttled(orders_api, t0);
        CHECK(limiter.reserve(orders_api, t0) <= nanoseconds(1500ms + 60ms));
    }
    SECTION("once the pause is over the API runs at the normal rate again") {
        const auto later = t0 + 1600ms;
        const auto wait = limiter.reserve(orders_api, later);
        CHECK(wait == nanoseconds(0));
    }
}

TEST_CASE("the jitter is drawn from the seed", "[rate_limiter]") {
    auto pause_after_429 = [](std::uint32_t seed) {
        auto o = quiet();
        o.seed = seed;
        rate_limiter limiter(o);
        limiter.throttled(orders_api, t0);
        return limiter.reserve(orders_api, t0);
    };
    CHECK(pause_after_429(1) == pause_after_429(1));
    CHECK(pause_after_429(1) != pause_after_429(2));
}

TEST_CASE("a rate of 0 disables limiting but still honours a 429 pause", "[rate_limiter]") {
    rate_limiter limiter(quiet(0, 0));
    CHECK_FALSE(limiter.enabled());
    for (int i = 0; i < 1000; ++i) REQUIRE(limiter.reserve(orders_api, t0) == nanoseconds(0));
    limiter.throttled(orders_api, t0);
    const auto wait = limiter.reserve(orders_api, t0 + 100ms);
    CHECK(wait >= nanoseconds(900ms));
    CHECK(wait <= nanoseconds(1400ms));
    CHECK(limiter.reserve(orders_api, t0 + 2s) == nanoseconds(0));
}

TEST_CASE("the bucket key is the path template", "[rate_limiter]") {
    auto [path, key] = GENERATE(table<std::string, std::string>({
        {"/customer_service/202309/conversations/7494560109732334598/messages",
         "/customer_service/202309/conversations/{id}/messages"},
        {"/customer_service/202309/conversations/KRn8aB_c-1/messages/read",
         "/customer_service/202309/conversations/{id}/messages/read"},
        {"/customer_service/202309/conversations", "/customer_service/202309/conversations"},
        {"/fulfillment/202309/packages/1152331870948577560/ship", "/fulfillment/202309/packages/{id}/ship"},
        {"/fulfillment/202309/orders/576486316948490001/shipping_info/update",
         "/fulfillment/202309/orders/{id}/shipping_info/update"},
        {"/logistics/202309/delivery_options/7091146663229654785/shipping_providers",
         "/logistics/202309/delivery_options/{id}/shipping_providers"},
        {"/fulfillment/202309/packages/a%2Fb", "/fulfillment/202309/packages/{id}"},
        {"/order/202309/orders", "/order/202309/orders"},
        {"/authorization/202309/shops", "/authorization/202309/shops"},
    }));
    CAPTURE(path);
    CHECK(api_template(path) == key);
}

}  // namespace ORDERFLOW_TEST_FILE
