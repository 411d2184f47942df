// See systemd.hpp. Abstract socket names start with '@' (sd_notify(3)).
#include "daemon/systemd.hpp"

#include "common/log.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace orderflow::daemon::systemd {

bool notify(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::size_t len = std::strlen(path);
    if (len >= sizeof(addr.sun_path)) return false;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
    ::close(fd);
    return sent == static_cast<ssize_t>(state.size());
}

std::optional<std::chrono::milliseconds> watchdog_interval() {
    const char* usec = std::getenv("WATCHDOG_USEC");
    if (!usec) return std::nullopt;
    const char* pid = std::getenv("WATCHDOG_PID");
    if (pid && std::strtol(pid, nullptr, 10) != ::getpid()) return std::nullopt;
    long long us = std::strtoll(usec, nullptr, 10);
    if (us <= 0) return std::nullopt;
    const std::chrono::milliseconds half(us / 2000);
    if (half >= min_watchdog_interval) return half;
    // Below 2 ms half the interval rounds down to 0 ms, and a watchdog timer
    // of 0 spins the event loop. A WatchdogSec= that short cannot be kept
    // anyway (one storage call on the event loop takes longer): ping at the
    // floor, say so, and let systemd judge.
    log::warn("watchdog_too_short", {{"watchdog_usec", us}, {"ping_every_ms", min_watchdog_interval.count()},
                                     {"advice", "WatchdogSec= in the unit is too short for orderflowd to keep; the shipped unit sets 60s"}});
    return min_watchdog_interval;
}

}  // namespace orderflow::daemon::systemd
