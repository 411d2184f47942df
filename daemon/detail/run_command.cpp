// See run_command.hpp.
#include "daemon/detail/run_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace orderflow::daemon::detail {

command_result run_command(const std::vector<std::string>& argv, std::string_view input, std::chrono::milliseconds timeout) {
    if (argv.empty()) return {false, "no command"};
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {false, std::string("pipe: ") + std::strerror(errno)};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], 0);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);   // its stdout joins our stderr (the journal)
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    // In a process group of its own, so that a timeout kills what it
    // started too (a mail bridge's child left running could deliver the
    // notification beside the retry).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[0]);
    if (rc != 0) {
        ::close(pipe_fds[1]);
        return {false, "cannot start " + argv[0] + ": " + std::strerror(rc)};
    }
    // Write the input (ignore SIGPIPE: a command that does not read is its own problem).
    struct sigaction ignore{}, previous{};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &previous);
    std::size_t written = 0;
    while (written < input.size()) {
        auto n = ::write(pipe_fds[1], input.data() + written, input.size() - written);
        if (n <= 0) break;
        written += static_cast<std::size_t>(n);
    }
    ::close(pipe_fds[1]);
    ::sigaction(SIGPIPE, &previous, nullptr);

    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0) return {false, std::string("waitpid: ") + std::strerror(errno)};
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(-pid, SIGKILL);   // the group: the command and what it started
            ::waitpid(pid, &status, 0);
            return {false, argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms and was killed"};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, ""};
    if (WIFEXITED(status)) return {false, argv[0] + " exited with status " + std::to_string(WEXITSTATUS(status))};
    return {false, argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status))};
}

}  // namespace orderflow::daemon::detail
