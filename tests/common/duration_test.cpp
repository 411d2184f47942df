// Tests for common/duration.hpp: the units, sums, what is refused, and a
// sum too long to mean anything refused rather than overflowing.
#include "common/duration.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::max_duration_seconds;
using orderflow::parse_duration;

TEST_CASE("Durations in seconds, minutes, hours and days, and their sums", "[duration]") {
    CHECK(parse_duration("90s")->count() == 90);
    CHECK(parse_duration("10m")->count() == 600);
    CHECK(parse_duration("24h")->count() == 86400);
    CHECK(parse_duration("7d")->count() == 7 * 86400);
    CHECK(parse_duration("1h30m")->count() == 5400);
    CHECK(parse_duration("0s")->count() == 0);
    for (const char* bad : {"", "10", "m", "10x", "1h 30m", "-5s", "1.5h", "10mm", "h1"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration(bad).has_value());
    }
}

TEST_CASE("A duration longer than any setting means is refused, however it is written", "[duration]") {
    CHECK(parse_duration("10000000000d")->count() == 864'000'000'000'000);   // one part at its largest
    CHECK_FALSE(parse_duration("100000000000s").has_value());                // a part with more digits
    // Parts add up to the cap and no further: 115 parts of 10^10 days are
    // 9.936e16 s, the 116th passes 10^17.
    std::string parts;
    for (int i = 0; i < 115; ++i) parts += "10000000000d";
    CHECK(parse_duration(parts)->count() == 115 * 864'000'000'000'000);
    CHECK(parse_duration(parts)->count() <= max_duration_seconds);
    CHECK_FALSE(parse_duration(parts + "10000000000d").has_value());
    // Thousands of parts at their largest would leave int64 (undefined
    // behaviour) without the cap: about 10,700 of them reach 2^63.
    std::string many;
    for (int i = 0; i < 12000; ++i) many += "10000000000d";
    CHECK_FALSE(parse_duration(many).has_value());
}

}  // namespace ORDERFLOW_TEST_FILE
