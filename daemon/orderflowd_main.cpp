// orderflowd: the daemon. All of it lives in the orderflow::daemon library.
#include "daemon/app.hpp"
#include "tikapi/http.hpp"

#include <algorithm>
#include <csignal>
#include <string_view>

int main(int argc, char** argv) {
    // A SIGHUP before the daemon's signal handling exists (a reload at the
    // wrong moment) would end the process without a word: until then it is
    // ignored, the config being loaded being the newest anyway
    // (run_orderflowd catches it from before the service is built).
    std::signal(SIGHUP, SIG_IGN);
    // Before any thread starts: the soft open-file limit up to the hard one,
    // so connection floods meet the listeners' own caps, not EMFILE.
    // (Not for --help, which should print the usage and nothing else.)
    const bool help = std::any_of(argv + 1, argv + argc, [](std::string_view a) { return a == "--help" || a == "-h"; });
    if (!help) orderflow::tikapi::raise_open_file_limit();
    return orderflow::daemon::run_orderflowd(argc, argv);
}
