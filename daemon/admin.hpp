// The admin socket's protocol, and its client side for orderflowctl.
//
// orderflowd listens on a Unix stream socket (`admin.socket`, mode 0660: the
// service's user and group may use it, nobody else). A client connects,
// writes one JSON object on one line and reads one JSON object back:
//
//   -> {"argv": ["review", "resolve", "7"], "note": "...", "by": "hanako", "all": false, "limit": 50}
//   <- {"exit": 0, "stdout": "review #7 resolved by hanako\n", "stderr": ""}
//
// The reply carries what orderflowctl prints and its exit code, so the
// command's output is written once, in the daemon. The daemon learns who
// the client is from the socket (SO_PEERCRED), not from the request.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace orderflow::daemon {

// The daemon could not be asked: not running, wrong path, no permission.
// The message says which and what to do.
class admin_unreachable : public std::runtime_error {
public:
    explicit admin_unreachable(const std::string& what, bool not_running = false) : std::runtime_error(what), not_running_(not_running) {}
    // Nothing listens on the socket (it is missing, or refuses): the daemon
    // is not running, so a command may act on the database directly.
    bool not_running() const { return not_running_; }

private:
    bool not_running_;
};

// One request and its reply. Throws admin_unreachable when the socket cannot
// be reached, and std::runtime_error when the daemon's answer is cut off or
// is not JSON (after `timeout`).
nlohmann::json admin_call(const std::filesystem::path& socket, const nlohmann::json& request,
                          std::chrono::seconds timeout = std::chrono::seconds(30));

// "name" of the user on the other end of a connected Unix socket, or
// "uid N" when the name cannot be looked up; "unknown" without credentials.
std::string peer_user(int fd);

// The names of the groups a Unix user belongs to (primary and
// supplementary); empty when the user is unknown.
std::vector<std::string> user_groups(const std::string& user);

// True when `user` is listed in `operators` by name, or through a "@group"
// it belongs to; an empty list makes everyone an operator.
bool is_operator(const std::string& user, const std::vector<std::string>& operators);

}  // namespace orderflow::daemon
