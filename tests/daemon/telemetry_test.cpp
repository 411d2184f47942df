// Tests for daemon/telemetry.hpp: series are made on first use and kept,
// counters and histograms render in Prometheus's text format (cumulative
// buckets, +Inf, _sum and _count, escaped labels), and a family that was
// never declared is refused at the call site.
#include "daemon/telemetry.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::daemon;

TEST_CASE("A counter is one series per label set, and the same labels give the same counter", "[telemetry]") {
    auto& a = telemetry::count("orderflow_reloads_total", {{"result", "telemetry-test-a"}});
    auto& again = telemetry::count("orderflow_reloads_total", {{"result", "telemetry-test-a"}});
    auto& b = telemetry::count("orderflow_reloads_total", {{"result", "telemetry-test-b"}});
    CHECK(&a == &again);
    CHECK(&a != &b);
    const auto before = a.value();
    a.add();
    again.add(2);
    CHECK(a.value() == before + 3);
    const std::string text = telemetry::render();
    CHECK_THAT(text, Catch::Contains("# HELP orderflow_reloads_total "));
    CHECK_THAT(text, Catch::Contains("# TYPE orderflow_reloads_total counter\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_reloads_total{result=\"telemetry-test-a\"} " + std::to_string(before + 3) + "\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_reloads_total{result=\"telemetry-test-b\"} 0\n"));
}

TEST_CASE("A histogram renders cumulative buckets up to +Inf, with its sum and count", "[telemetry]") {
    auto& h = telemetry::timing("orderflow_tiktok_call_seconds", {{"api", "/telemetry/test"}});
    h.observe(0.02);    // le 0.025
    h.observe(0.02);
    h.observe(0.3);     // le 0.5
    h.observe(100);     // above every bound
    h.observe(-1);      // a clock step back counts as 0
    const std::string text = telemetry::render();
    CHECK_THAT(text, Catch::Contains("# TYPE orderflow_tiktok_call_seconds histogram\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api=\"/telemetry/test\",le=\"0.01\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api=\"/telemetry/test\",le=\"0.025\"} 3\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api=\"/telemetry/test\",le=\"0.25\"} 3\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api=\"/telemetry/test\",le=\"0.5\"} 4\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api=\"/telemetry/test\",le=\"30\"} 4\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_bucket{api=\"/telemetry/test\",le=\"+Inf\"} 5\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_sum{api=\"/telemetry/test\"} 100.34\n"));
    CHECK_THAT(text, Catch::Contains("orderflow_tiktok_call_seconds_count{api=\"/telemetry/test\"} 5\n"));
}

TEST_CASE("Label values are escaped, and an undeclared family or the wrong type is refused", "[telemetry]") {
    telemetry::count("orderflow_notifications_total", {{"channel", "a\"b\\c\nd"}, {"outcome", "sent"}}).add();
    CHECK_THAT(telemetry::render(), Catch::Contains("orderflow_notifications_total{channel=\"a\\\"b\\\\c\\nd\",outcome=\"sent\"} 1\n"));
    CHECK_THROWS_AS(telemetry::count("orderflow_no_such_total"), std::logic_error);
    CHECK_THROWS_AS(telemetry::timing("orderflow_reloads_total"), std::logic_error);
    CHECK_THROWS_AS(telemetry::count("orderflow_webhook_ack_seconds"), std::logic_error);
}

// An alert on increase(orderflow_webhooks_total{result="rejected"}[5m]) must
// see the first bad signature: a series that appears at 1 shows no increase.
TEST_CASE("Counters whose label takes known values show each value's series before it is first counted", "[telemetry]") {
    const std::string text = telemetry::render();
    for (const char* series : {"orderflow_webhooks_total{result=\"rejected\"} ", "orderflow_webhooks_total{result=\"unavailable\"} ",
                               "orderflow_events_processed_total{outcome=\"quarantined\"} ",
                               "orderflow_tracking_submissions_total{result=\"invalid\"} ", "orderflow_reloads_total{result=\"failed\"} ",
                               "orderflow_security_failures_total{door=\"console_login\"} ",
                               "orderflow_security_alerts_total{door=\"admin_token\"} "}) {
        INFO(series);
        CHECK_THAT(text, Catch::Contains(std::string("\n") + series));
    }
    // Each family's HELP and TYPE once, whatever was shown before.
    std::size_t helps = 0;
    for (std::size_t at = text.find("# HELP orderflow_webhooks_total "); at != std::string::npos;
         at = text.find("# HELP orderflow_webhooks_total ", at + 1))
        ++helps;
    CHECK(helps == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
