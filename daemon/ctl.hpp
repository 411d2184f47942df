// orderflowctl: the operator's command line. Every command takes --config;
// `check` runs the very same loaders as the daemon (docs/architecture.md,
// "Error policy").
#pragma once

namespace orderflow::daemon {

// The whole of orderflowctl's main. Returns the exit code (0 ok, 1 failure, 2 usage).
int run_orderflowctl(int argc, char** argv);

}  // namespace orderflow::daemon
