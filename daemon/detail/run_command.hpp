// Runs a program with some bytes on its standard input and waits for it,
// with a deadline (the notification command channel). Its stdout and stderr
// go to the daemon's stderr, i.e. the journal.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon::detail {

struct command_result {
    bool ok = false;       // started, read its input and exited 0 in time
    std::string error;     // otherwise what went wrong, for the log
};

// Blocks the calling thread for at most `timeout` (then the child is killed,
// with every process it started: it runs in a process group of its own).
command_result run_command(const std::vector<std::string>& argv, std::string_view input, std::chrono::milliseconds timeout);

}  // namespace orderflow::daemon::detail
