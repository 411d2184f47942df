// systemd's notify protocol (sd_notify(3)) without libsystemd: a datagram to
// $NOTIFY_SOCKET. READY=1 once the database is open and listeners are bound,
// STOPPING=1 on shutdown, WATCHDOG=1 from the event loop. Outside systemd
// (no NOTIFY_SOCKET) every call is a no-op.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace orderflow::daemon::systemd {

bool notify(std::string_view state);    // false when not under systemd or the send failed

// The shortest interval watchdog_interval() returns.
inline constexpr std::chrono::milliseconds min_watchdog_interval{100};

// Half the watchdog interval systemd asked for ($WATCHDOG_USEC), if any, and
// never less than min_watchdog_interval.
std::optional<std::chrono::milliseconds> watchdog_interval();

}  // namespace orderflow::daemon::systemd
