// orderflowd: the daemon. All of it lives in the orderflow::daemon library.
#include "daemon/app.hpp"
#include "tikapi/http.hpp"

int main(int argc, char** argv) {
    // Before any thread starts: the soft open-file limit up to the hard one,
    // so connection floods meet the listeners' own caps, not EMFILE.
    orderflow::tikapi::raise_open_file_limit();
    return orderflow::daemon::run_orderflowd(argc, argv);
}
