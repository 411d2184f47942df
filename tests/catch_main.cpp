// The one Catch2 main shared by every test binary. Besides what the command
// line asks, a run fails when its name filter matches no test (ctest splits
// test names on ';', and the halves used to "pass" in 0.0 s running nothing)
// and when a test case makes no assertion (it could not have failed).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
    Catch::Session session;
    if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
    auto& data = session.configData();
    data.warnings = static_cast<Catch::WarnAbout::What>(data.warnings | Catch::WarnAbout::NoTests | Catch::WarnAbout::NoAssertions);
    return session.run();
}
