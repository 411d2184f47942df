// See admin.hpp. Plain POSIX sockets: orderflowctl makes one short request,
// so it needs no event loop.
#include "daemon/admin.hpp"

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace orderflow::daemon {

namespace {

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// The group whose members may use the socket: the socket's own, or its
// folder's when the socket cannot be looked at from here; "orderflow" (the
// package's) when neither can.
std::string socket_group(const std::filesystem::path& socket) {
    struct stat st {};
    if (::stat(socket.c_str(), &st) != 0 && ::stat(socket.parent_path().empty() ? "." : socket.parent_path().c_str(), &st) != 0)
        return "orderflow";
    if (const group* g = ::getgrgid(st.st_gid)) return g->gr_name;
    return std::to_string(st.st_gid);
}

}  // namespace

nlohmann::json admin_call(const std::filesystem::path& socket, const nlohmann::json& request, std::chrono::seconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = socket.string();
    if (path.size() >= sizeof addr.sun_path) throw admin_unreachable("admin.socket path is too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    fd_guard s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) throw admin_unreachable(std::string("cannot create a socket: ") + std::strerror(errno));
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        std::string why = std::strerror(e);
        if (e == ENOENT || e == ECONNREFUSED)
            throw admin_unreachable("orderflowd is not listening on " + path + " (" + why +
                                    "): is it running? (systemctl status orderflow)", true);
        if (e == EACCES || e == EPERM)
            throw admin_unreachable("no permission to use " + path + " (" + why +
                                    "): run as the service's user, or join its group (usermod -aG " + socket_group(socket) +
                                    " $USER)");
        throw admin_unreachable("cannot connect to " + path + ": " + why);
    }
    std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    for (std::size_t off = 0; off < line.size();) {
        ssize_t n = ::send(s.fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("orderflowd closed " + path + " before taking the request: " + std::strerror(errno));
        off += static_cast<std::size_t>(n);
    }
    std::string reply;
    char buf[8192];
    for (;;) {
        ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                throw std::runtime_error("orderflowd did not answer within " + std::to_string(timeout.count()) + " s on " + path);
            throw std::runtime_error("reading the answer from " + path + ": " + std::strerror(errno));
        }
        if (n == 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
    }
    auto parsed = nlohmann::json::parse(reply, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("exit"))
        throw std::runtime_error("orderflowd's answer on " + path + " is not a reply (" + std::to_string(reply.size()) +
                                 " bytes); is another program listening there?");
    return parsed;
}

std::string peer_user(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "unknown";
    passwd pw{};
    passwd* found = nullptr;
    char buf[4096];
    if (::getpwuid_r(cred.uid, &pw, buf, sizeof buf, &found) == 0 && found) return found->pw_name;
    return "uid " + std::to_string(cred.uid);
}

std::vector<std::string> user_groups(const std::string& user) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return {};
    int count = 64;
    std::vector<gid_t> gids(count);
    if (::getgrouplist(user.c_str(), found->pw_gid, gids.data(), &count) < 0) {
        gids.resize(count);
        if (::getgrouplist(user.c_str(), found->pw_gid, gids.data(), &count) < 0) return {};
    }
    gids.resize(count);
    std::vector<std::string> names;
    for (gid_t g : gids) {
        group gr{};
        group* hit = nullptr;
        std::vector<char> gbuf(16384);
        if (::getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &hit) == 0 && hit) names.emplace_back(hit->gr_name);
    }
    return names;
}

bool is_operator(const std::string& user, const std::vector<std::string>& operators) {
    if (operators.empty()) return true;
    if (std::find(operators.begin(), operators.end(), user) != operators.end()) return true;
    for (const auto& g : user_groups(user))
        if (std::find(operators.begin(), operators.end(), "@" + g) != operators.end()) return true;
    return false;
}

}  // namespace orderflow::daemon
