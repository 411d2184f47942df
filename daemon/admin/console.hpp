// The staff console: the review queue, order lookup, the buyer's
// conversation as orderflow saw it and the daemon's status, in the browser,
// served under /console on the admin listener (http_admin.hpp hands it every
// path there). docs/operations.md, "The staff console", is the guide.
//
// Who may do what comes from named accounts (storage/accounts.hpp, added
// with `orderflowctl account add`): staff review and look orders up;
// operators may also resume sending and reload. A login checks the password
// (Argon2id, on its own thread, one at a time) and opens a session
// (console_sessions.hpp) whose cookie is HttpOnly and SameSite=Strict, and
// Secure behind an HTTPS proxy. Every POST but the login needs the session's
// CSRF token and, when the browser sends one, an Origin matching the Host.
// Failed logins are logged without the name typed and count towards a
// security alert (security_watch.hpp). Every action, and every look at a
// buyer's order or conversation, is in the audit log with the account.
#pragma once

#include "daemon/admin/console_sessions.hpp"
#include "daemon/admin/http_admin.hpp"
#include "daemon/context.hpp"
#include "daemon/rules_in_force.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon {

class breaker;
class security_watch;

class console {
public:
    struct parts {
        breaker& brk;
        security_watch& security;
        std::function<boost::asio::awaitable<rules_in_force::reload_outcome>()> reload;
        std::function<std::vector<readiness_check>()> readiness;
    };

    console(context ctx, const rules_in_force& in_force, parts p, console_sessions::options sessions = {});
    ~console();

    // True for /console and everything under it.
    static bool serves(std::string_view path);
    boost::asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req);

private:
    struct request;
    boost::asio::awaitable<tikapi::http_response> login(tikapi::http_request& req);
    tikapi::http_response page_for(request& r);
    boost::asio::awaitable<tikapi::http_response> act(request& r);

    context ctx_;
    const rules_in_force& in_force_;
    parts parts_;
    console_sessions sessions_;
    // Password checks (Argon2id: a tenth of a second and 64 MiB each) run
    // here, one at a time, never on the event loop or the thread that reads
    // files and reloads. At most max_pending_logins wait, one per address.
    boost::asio::thread_pool passwords_{1};
    std::map<std::string, int, std::less<>> pending_logins_;   // address -> logins waiting
};

}  // namespace orderflow::daemon
