// Tests for daemon/detail/local_time.hpp, the shop-local clock behind quiet
// hours and the daily heartbeat: minute of day and date at known instants,
// the next occurrence of a local time of day (today's when still ahead,
// tomorrow's otherwise, and a real future instant across daylight-saving
// changes), and membership in a daily window that may wrap midnight. The
// functions read the process time zone, as orderflowd sets it, so each test
// sets TZ itself; nothing else in daemon_tests reads the local time zone, so
// it is not restored.
#include "daemon/detail/local_time.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <tuple>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::daemon::detail;

namespace {

void use_time_zone(const char* tz) {
    ::setenv("TZ", tz, 1);
    ::tzset();
}

// Unix seconds of a UTC wall-clock time (timegm ignores TZ).
std::int64_t utc(int year, int month, int day, int hour, int minute, int second = 0) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<std::int64_t>(::timegm(&tm));
}

constexpr int hhmm(int hour, int minute) { return hour * 60 + minute; }

}  // namespace

TEST_CASE("Minute of day and date are the shop's local ones", "[local_time]") {
    use_time_zone("Asia/Tokyo");   // UTC+9, no daylight saving
    using row = std::tuple<std::int64_t, int, std::string>;
    auto [t, minute, date] = GENERATE(table<std::int64_t, int, std::string>({
        row{utc(2026, 12, 3, 0, 30), hhmm(9, 30), "2026-12-03"},
        row{utc(2026, 12, 2, 14, 59, 59), hhmm(23, 59), "2026-12-02"},
        row{utc(2026, 12, 2, 15, 0), hhmm(0, 0), "2026-12-03"},   // midnight in Tokyo, still the 2nd in UTC
        row{utc(2026, 12, 31, 15, 0), hhmm(0, 0), "2027-01-01"},
        row{utc(2026, 3, 1, 14, 45, 30), hhmm(23, 45), "2026-03-01"},
    }));
    INFO("t = " << t);
    CHECK(local_minute_of_day(t) == minute);
    CHECK(local_date(t) == date);
}

TEST_CASE("The next local time is today's when still ahead and tomorrow's when passed or equal", "[local_time]") {
    use_time_zone("Asia/Tokyo");
    using row = std::tuple<std::int64_t, int, std::int64_t>;
    const std::int64_t now = utc(2026, 12, 3, 0, 30);   // 09:30 in Tokyo
    auto [t, minute, expected] = GENERATE_COPY(table<std::int64_t, int, std::int64_t>({
        row{now, hhmm(17, 0), utc(2026, 12, 3, 8, 0)},           // later today
        row{now, hhmm(9, 31), utc(2026, 12, 3, 0, 31)},          // one minute ahead
        row{now, hhmm(9, 30), utc(2026, 12, 4, 0, 30)},          // equal: tomorrow
        row{now + 1, hhmm(9, 30), utc(2026, 12, 4, 0, 30)},      // a second past
        row{now - 1, hhmm(9, 30), now},                          // a second ahead
        row{now, hhmm(9, 0), utc(2026, 12, 4, 0, 0)},            // passed: tomorrow
        row{now, hhmm(0, 0), utc(2026, 12, 3, 15, 0)},           // the coming midnight
        row{utc(2026, 12, 31, 14, 0), hhmm(8, 0), utc(2026, 12, 31, 23, 0)},   // 23:00 on New Year's Eve: 08:00 next year
    }));
    INFO("t = " << t << ", minute = " << minute);
    const auto next = next_local_time(t, minute);
    CHECK(next == expected);
    CHECK(next > t);
    CHECK(local_minute_of_day(next) == minute);
}

TEST_CASE("Across a daylight-saving change the next local time is a real future instant at that local time", "[local_time]") {
    // Europe/Berlin in 2026: on 29 March 02:00 CET jumps to 03:00 CEST at
    // 01:00Z (02:xx does not exist); on 25 October 03:00 CEST falls back to
    // 02:00 CET at 01:00Z (02:xx happens twice).
    use_time_zone("Europe/Berlin");

    SECTION("the day before the spring change is 23 hours long") {
        const auto t = utc(2026, 3, 28, 11, 0);   // 12:00 CET
        const auto next = next_local_time(t, hhmm(9, 0));
        CHECK(next == utc(2026, 3, 29, 7, 0));     // 09:00 CEST
        CHECK(local_date(next) == "2026-03-29");
        CHECK(local_minute_of_day(next) == hhmm(9, 0));
    }
    SECTION("a time just after the spring gap is an hour away, not a day") {
        const auto t = utc(2026, 3, 29, 0, 30);   // 01:30 CET
        CHECK(local_minute_of_day(t) == hhmm(1, 30));
        const auto next = next_local_time(t, hhmm(3, 30));
        CHECK(next == utc(2026, 3, 29, 1, 30));   // 03:30 CEST
        CHECK(local_minute_of_day(next) == hhmm(3, 30));
    }
    SECTION("a time inside the spring gap, which does not exist, still gives a future instant within a day") {
        const auto t = utc(2026, 3, 29, 0, 30);   // 01:30 CET
        const auto next = next_local_time(t, hhmm(2, 30));
        CHECK(next > t);
        CHECK(next - t <= 24 * 3600);
    }
    SECTION("the day before the autumn change is 25 hours long") {
        const auto t = utc(2026, 10, 24, 10, 0);   // 12:00 CEST
        const auto next = next_local_time(t, hhmm(9, 0));
        CHECK(next == utc(2026, 10, 25, 8, 0));      // 09:00 CET
        CHECK(local_date(next) == "2026-10-25");
        CHECK(local_minute_of_day(next) == hhmm(9, 0));
    }
    SECTION("during the first pass of the repeated hour, a later minute of it is still today") {
        const auto t = utc(2026, 10, 25, 0, 30);    // 02:30 CEST
        CHECK(local_minute_of_day(t) == hhmm(2, 30));
        const auto next = next_local_time(t, hhmm(2, 45));
        CHECK(next > t);
        CHECK(local_date(next) == "2026-10-25");
        CHECK(local_minute_of_day(next) == hhmm(2, 45));
    }
    SECTION("after both passes of the repeated hour, its minutes are tomorrow's") {
        const auto t = utc(2026, 10, 25, 1, 50);    // 02:50 CET, the second pass
        CHECK(local_minute_of_day(t) == hhmm(2, 50));
        const auto next = next_local_time(t, hhmm(2, 45));
        CHECK(next == utc(2026, 10, 26, 1, 45));    // 02:45 CET on the 26th
    }
    SECTION("any hour of the change days comes next within a day and at the requested local time") {
        const auto start = GENERATE(utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 1, 0),
                                    utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 0, 59), utc(2026, 10, 25, 1, 0));
        const int hour = GENERATE(range(0, 24));
        // 02:xx does not exist on 29 March (its own section above).
        const bool gap = hour == 2 && local_date(start).substr(5, 2) == "03";
        INFO("start = " << start << ", hour = " << hour);
        const auto next = next_local_time(start, hhmm(hour, 15));
        CHECK(next > start);
        CHECK(next - start <= 25 * 3600);
        if (!gap) CHECK(local_minute_of_day(next) == hhmm(hour, 15));
    }
}

TEST_CASE("A daily window includes its start and excludes its end, also when it wraps midnight", "[local_time]") {
    using row = std::tuple<int, int, int, bool>;
    auto [minute, from, to, inside] = GENERATE(table<int, int, int, bool>({
        // 09:00-17:00
        row{hhmm(8, 59), hhmm(9, 0), hhmm(17, 0), false},
        row{hhmm(9, 0), hhmm(9, 0), hhmm(17, 0), true},
        row{hhmm(12, 0), hhmm(9, 0), hhmm(17, 0), true},
        row{hhmm(16, 59), hhmm(9, 0), hhmm(17, 0), true},
        row{hhmm(17, 0), hhmm(9, 0), hhmm(17, 0), false},
        row{hhmm(0, 0), hhmm(9, 0), hhmm(17, 0), false},
        row{hhmm(23, 59), hhmm(9, 0), hhmm(17, 0), false},
        // 21:00-09:00, across midnight
        row{hhmm(20, 59), hhmm(21, 0), hhmm(9, 0), false},
        row{hhmm(21, 0), hhmm(21, 0), hhmm(9, 0), true},
        row{hhmm(23, 59), hhmm(21, 0), hhmm(9, 0), true},
        row{hhmm(0, 0), hhmm(21, 0), hhmm(9, 0), true},
        row{hhmm(8, 59), hhmm(21, 0), hhmm(9, 0), true},
        row{hhmm(9, 0), hhmm(21, 0), hhmm(9, 0), false},
        row{hhmm(12, 0), hhmm(21, 0), hhmm(9, 0), false},
    }));
    INFO("minute " << minute << " in [" << from << ", " << to << ")");
    CHECK(in_daily_window(minute, from, to) == inside);
}

}  // namespace ORDERFLOW_TEST_FILE
