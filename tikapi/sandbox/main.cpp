// orderflow-sandbox: a simulated TikTok Shop for tests and the demo (see
// tikapi/sandbox/cli.hpp for the options). Everything lives in the library.
#include "tikapi/sandbox/cli.hpp"

int main(int argc, char** argv) { return orderflow::sandbox::run(argc, argv); }
