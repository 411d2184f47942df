// orderflowctl: the operator's tool. All of it lives in the orderflow::daemon library.
#include "daemon/ctl.hpp"

int main(int argc, char** argv) { return orderflow::daemon::run_orderflowctl(argc, argv); }
