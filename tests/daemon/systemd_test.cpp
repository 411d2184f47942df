#include "daemon/systemd.hpp"

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

}  // namespace ORDERFLOW_TEST_FILE
