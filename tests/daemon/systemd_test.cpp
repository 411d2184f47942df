#include "daemon/systemd.hpp"

#include "tests/common/log_capture.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

TEST_CASE("sd_notify messages reach $NOTIFY_SOCKET as datagrams", "[systemd]") {
    std::string path = (std::filesystem::temp_directory_path() / ("orderflow-notify-" + std::to_string(::getpid()))).string();
    ::unlink(path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    CHECK(orderflow::daemon::systemd::notify("READY=1"));
    char buf[64] = {};
    auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(std::string(buf, n > 0 ? n : 0) == "READY=1");

    unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(orderflow::daemon::systemd::notify("STOPPING=1"));
    ::close(fd);
    ::unlink(path.c_str());
}

TEST_CASE("The watchdog interval is half of $WATCHDOG_USEC", "[systemd]") {
    setenv("WATCHDOG_USEC", "20000000", 1);
    unsetenv("WATCHDOG_PID");
    auto w = orderflow::daemon::systemd::watchdog_interval();
    REQUIRE(w);
    CHECK(*w == std::chrono::seconds(10));
    unsetenv("WATCHDOG_USEC");
    CHECK_FALSE(orderflow::daemon::systemd::watchdog_interval());
}

// Half of anything under 2 ms was 0 ms: a watchdog timer that fired at once,
// again and again, and a core spinning on WATCHDOG=1.
TEST_CASE("A watchdog interval too short to keep is raised to the floor and logged and never 0 ms", "[systemd]") {
    unsetenv("WATCHDOG_PID");
    const auto usec = GENERATE(as<std::string>{}, "1", "1999", "2000", "150000");
    setenv("WATCHDOG_USEC", usec.c_str(), 1);
    orderflow::testing::log_capture logs;
    auto w = orderflow::daemon::systemd::watchdog_interval();
    const auto lines = orderflow::testing::log_lines(logs.finish(), "watchdog_too_short");
    unsetenv("WATCHDOG_USEC");
    REQUIRE(w);
    CHECK(*w == orderflow::daemon::systemd::min_watchdog_interval);
    CHECK(lines.size() == 1);
}

TEST_CASE("A watchdog interval of at least twice the floor is halved as asked and not logged", "[systemd]") {
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "200000", 1);
    orderflow::testing::log_capture logs;
    auto w = orderflow::daemon::systemd::watchdog_interval();
    const auto text = logs.finish();
    unsetenv("WATCHDOG_USEC");
    REQUIRE(w);
    CHECK(*w == std::chrono::milliseconds(100));
    CHECK(orderflow::testing::log_lines(text, "watchdog_too_short").empty());
}

}  // namespace ORDERFLOW_TEST_FILE
