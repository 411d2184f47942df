// The shop's local time, for quiet hours and the daily heartbeat.
//
// orderflowd sets TZ to the configured `timezone` at start (one thread, one
// shop), so localtime_r and mktime speak the shop's time, daylight saving
// included. libstdc++ 12 has no std::chrono time-zone database, hence the C
// calls.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace orderflow::daemon::detail {

// Minutes after local midnight at `t` (unix seconds).
inline int local_minute_of_day(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    return tm.tm_hour * 60 + tm.tm_min;
}

// Seconds east of UTC of the local time at `t` (Asia/Tokyo: 32400).
inline std::int64_t local_utc_offset(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    return tm.tm_gmtoff;
}

// The local date at `t` as "YYYY-MM-DD".
inline std::string local_date(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return buf;
}

// `t` in the local zone, written with strftime's `format`.
inline std::string local_text(std::int64_t t, const char* format) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

// The local minute at `t`, for lists people read: "2026-12-04 21:05".
inline std::string local_minute_text(std::int64_t t) { return local_text(t, "%Y-%m-%d %H:%M"); }

// The local time at `t` for people: "2026-12-04 21:05:09 +0900".
inline std::string local_time_text(std::int64_t t) { return local_text(t, "%Y-%m-%d %H:%M:%S %z"); }

// The first moment after `t` whose local time is `minute` after midnight
// (today's if it is still ahead, else tomorrow's). Across a daylight-saving
// change mktime decides: a time skipped in spring comes out an hour later,
// and of a repeated autumn hour glibc may pick the second. Japan has no DST;
// elsewhere quiet hours can end an hour late on those two nights.
inline std::int64_t next_local_time(std::int64_t t, int minute) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    for (int day = 0; day < 3; ++day) {
        std::tm at = tm;
        at.tm_mday += day;
        at.tm_hour = minute / 60;
        at.tm_min = minute % 60;
        at.tm_sec = 0;
        at.tm_isdst = -1;
        std::time_t r = std::mktime(&at);
        if (r > tt) return r;
    }
    return t + 86400;
}

// Whether `minute` falls in [from, to), a window that may wrap midnight
// (21:00-09:00).
inline bool in_daily_window(int minute, int from, int to) {
    return from < to ? (minute >= from && minute < to) : (minute >= from || minute < to);
}

}  // namespace orderflow::daemon::detail
