// Tests for daemon/detail/run_command.hpp (the notification command
// channel): the input on stdin, the exit status, and a command past its
// deadline killed together with what it started.
#include "daemon/detail/run_command.hpp"

#include "tests/storage/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <sys/types.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::daemon::detail::run_command;
using orderflow::storage::testing::temp_dir;

namespace {

std::string read_all(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Whether the process runs: it exists and is not a zombie waiting for a
// parent that does not reap (pid 1 in a container may not).
bool running(pid_t pid) {
    const std::string stat = read_all("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("A command gets the input on stdin and its exit status decides", "[run_command]") {
    temp_dir dir;
    const auto got = dir / "got.json";
    const auto ok = run_command({"/bin/sh", "-c", "cat > '" + got.string() + "'"}, R"({"kind":"test"})", std::chrono::seconds(10));
    CHECK(ok.ok);
    CHECK(read_all(got) == R"({"kind":"test"})");
    const auto failed = run_command({"/bin/sh", "-c", "exit 3"}, "", std::chrono::seconds(10));
    CHECK_FALSE(failed.ok);
    CHECK(failed.error == "/bin/sh exited with status 3");
    const auto missing = run_command({"/nonexistent/mailer"}, "", std::chrono::seconds(10));
    CHECK_FALSE(missing.ok);
    CHECK(missing.error == "cannot start /nonexistent/mailer: No such file or directory");
}

TEST_CASE("A command past its deadline is killed with the processes it started", "[run_command]") {
    temp_dir dir;
    const auto pid_file = dir / "child.pid";
    // A bridge that hands the work to a child and waits for it.
    const auto r = run_command({"/bin/sh", "-c", "sleep 30 & echo $! > '" + pid_file.string() + "'; wait"}, "", std::chrono::milliseconds(500));
    CHECK_FALSE(r.ok);
    CHECK(r.error == "/bin/sh did not finish within 500 ms and was killed");
    const std::string text = read_all(pid_file);
    REQUIRE_FALSE(text.empty());
    const pid_t child = static_cast<pid_t>(std::stol(text));
    // SIGKILL is delivered at once, but the process goes away asynchronously.
    for (int i = 0; i < 200 && running(child); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK_FALSE(running(child));
}

}  // namespace ORDERFLOW_TEST_FILE
