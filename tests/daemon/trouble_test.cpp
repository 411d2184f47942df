#include "daemon/detail/trouble.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <unistd.h>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::daemon::detail::trouble;
using namespace std::chrono_literals;

TEST_CASE("Repeated failures back off from 1 s doubling to 30 s and start over after a success", "[trouble]") {
    trouble t("pipeline_storage_failed");
    CHECK(t.failed("database or disk is full") == 1s);
    CHECK(t.failed("database or disk is full") == 2s);
    CHECK(t.failed("database or disk is full") == 4s);
    CHECK(t.failed("database or disk is full") == 8s);
    CHECK(t.failed("database or disk is full") == 16s);
    CHECK(t.failed("database or disk is full") == 30s);
    CHECK(t.failed("database or disk is full") == 30s);
    CHECK(t.failures_in_a_row() == 7);
    t.ok();
    CHECK(t.failures_in_a_row() == 0);
    CHECK(t.failed("database or disk is full") == 1s);
}

TEST_CASE("A repeated failure is logged once per interval with the count of lines not written", "[trouble]") {
    // stderr goes to a file for the test, to count the lines.
    char name[] = "/tmp/orderflow-trouble-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    const int saved = ::dup(2);
    std::fflush(stderr);
    ::dup2(fd, 2);

    std::chrono::steady_clock::time_point now{std::chrono::hours(10)};
    trouble t("pipeline_storage_failed", 60s, [&] { return now; });
    for (int i = 0; i < 1000; ++i) t.failed("database or disk is full");   // 1 line
    now += 61s;
    t.failed("database or disk is full");                                  // 1 line, 999 not logged
    t.ok();                                                                 // 1 line: recovered

    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    FILE* f = std::fopen(name, "r");
    REQUIRE(f != nullptr);
    std::vector<nlohmann::json> lines;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, f)) lines.push_back(nlohmann::json::parse(buf));
    std::fclose(f);
    ::close(fd);
    ::unlink(name);

    REQUIRE(lines.size() == 3);
    CHECK(lines[0].at("event") == "pipeline_storage_failed");
    CHECK(lines[0].at("repeats_not_logged") == 0);
    CHECK(lines[1].at("repeats_not_logged") == 999);
    CHECK(lines[1].at("failures_in_a_row") == 1001);
    CHECK(lines[2].at("event") == "pipeline_storage_failed_recovered");
}

}  // namespace ORDERFLOW_TEST_FILE
