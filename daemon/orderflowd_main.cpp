// orderflowd: the daemon. All of it lives in the orderflow::daemon library.
#include "daemon/app.hpp"

int main(int argc, char** argv) { return orderflow::daemon::run_orderflowd(argc, argv); }
