// orderflowctl account add|list|remove: the staff console's named accounts
// (daemon/account_cli.hpp; docs/operations.md, "Console accounts").
//
// `add` asks for the password (twice, without echo, on a terminal; one line
// of stdin otherwise, for scripts) and hashes it here, so the password never
// crosses the admin socket or reaches the daemon's log: the request carries
// only the Argon2id string. Like `buyer`, the commands go to the running
// daemon over the admin socket (its permissions and admin.operators decide
// who may; it records who did) and, when no daemon is running, run here
// against the database directly.
#include "daemon/ctl/common.hpp"

#include "common/secret.hpp"
#include "daemon/account_cli.hpp"
#include "daemon/admin.hpp"
#include "daemon/detail/storage_path.hpp"
#include "storage/accounts.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <optional>
#include <string>

namespace orderflow::daemon::ctl {

namespace {

using json = nlohmann::json;

// Longer than any acceptable password (storage::password_problem), so a
// longer line is reported as too long rather than cut.
constexpr std::size_t max_line = 1025;

// One line of stdin without its newline, read a byte at a time (no stdio
// buffer keeps a copy) into storage reserved up front (no reallocation
// leaves one behind either). Bytes past max_line are read and dropped;
// nullopt when stdin ends before anything.
std::optional<orderflow::secret> read_line() {
    std::string line;
    line.reserve(max_line);
    bool any = false;
    for (;;) {
        char c = 0;
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        any = true;
        if (c == '\n') break;
        if (line.size() < max_line) line.push_back(c);
    }
    if (!any) return std::nullopt;
    return orderflow::secret(std::move(line));
}

// Echo off on the terminal while it lives; the old settings come back
// however the scope is left.
class no_echo {
public:
    no_echo() {
        if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios quiet = saved_;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;   // the newline typed after the password still shows
        active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    no_echo(const no_echo&) = delete;
    no_echo& operator=(const no_echo&) = delete;
    ~no_echo() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    }

private:
    termios saved_{};
    bool active_ = false;
};

std::optional<orderflow::secret> prompt(const std::string& text) {
    std::cerr << text << std::flush;
    no_echo quiet;
    return read_line();
}

// The new password: asked twice on a terminal, one line of stdin otherwise.
// nullopt after saying what is wrong (the password itself is never shown).
std::optional<orderflow::secret> new_password(const std::string& name) {
    std::optional<orderflow::secret> password;
    if (::isatty(STDIN_FILENO)) {
        password = prompt("password for " + name + ": ");
        if (!password) {
            std::cerr << "\norderflowctl account add: no password given; nothing changed\n";
            return std::nullopt;
        }
        if (const std::string problem = storage::password_problem(password->reveal()); !problem.empty()) {
            std::cerr << "orderflowctl account add: " << problem << "; nothing changed\n";
            return std::nullopt;
        }
        const auto again = prompt("again: ");
        if (!again || again->reveal() != password->reveal()) {
            std::cerr << "orderflowctl account add: the passwords do not match; nothing changed\n";
            return std::nullopt;
        }
    } else {
        password = read_line();
        if (!password) {
            std::cerr << "orderflowctl account add: no password given on stdin (it reads one line); nothing changed\n";
            return std::nullopt;
        }
        const std::string problem = storage::password_problem(password->reveal());
        if (!problem.empty()) {
            std::cerr << "orderflowctl account add: " << problem << " (read from stdin, one line); nothing changed\n";
            return std::nullopt;
        }
    }
    return password;
}

}  // namespace

int cmd_account(const args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    const bool shape_ok = ((sub == "add" || sub == "remove") && a.positional.size() == 3) || (sub == "list" && a.positional.size() == 2);
    if (!shape_ok) {
        std::cerr << "usage: orderflowctl account add NAME --role staff|operator --config FILE   (the password is asked for)\n"
                     "       orderflowctl account list --config FILE\n"
                     "       orderflowctl account remove NAME --config FILE\n";
        return 2;
    }
    if (sub != "add" && !a.role.empty()) {
        std::cerr << "orderflowctl account " << sub << ": --role is for account add\n";
        return 2;
    }
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    const std::string by = a.by.empty() ? invoking_user() : a.by;
    account_request r{a.positional, a.role, "", by};
    if (sub == "add") {
        // What can be told before the password is asked for. A mistyped
        // storage.path is refused whether or not a daemon answers on
        // admin.socket: without one, this would start a new database.
        if (std::string why = detail::new_database_refusal(cfg->storage.path, cfg->file); !why.empty()) {
            std::cerr << "orderflowctl account add: " << why << "\n";
            return 1;
        }
        const std::string& name = a.positional[2];
        if (const std::string problem = storage::account_name_problem(name); !problem.empty()) {
            std::cerr << "orderflowctl account add: '" << name << "' cannot name an account: " << problem << "\n";
            return 2;
        }
        if (!storage::valid_role(a.role)) {
            std::cerr << "orderflowctl account add: "
                      << (a.role.empty() ? std::string("the account needs a role") : "'" + a.role + "' is not a role")
                      << "; give --role staff (review, look orders up) or --role operator (also what changes the daemon)\n";
            return 2;
        }
        const auto password = new_password(name);
        if (!password) return 2;
        r.password_hash = storage::hash_password(password->reveal());
    }
    json request{{"argv", r.argv}, {"by", by}};
    if (sub == "add") {
        request["role"] = r.role;
        request["password_hash"] = r.password_hash;
    }
    try {
        json reply = admin_call(cfg->admin.socket, request);
        std::cout << reply.value("stdout", "");
        std::cerr << reply.value("stderr", "");
        return reply["exit"].is_number_integer() ? reply["exit"].get<int>() : 1;
    } catch (const admin_unreachable& e) {
        if (!e.not_running()) {
            std::cerr << "orderflowctl account: " << e.what() << "\n";
            return 1;
        }
    }
    // No daemon: the same command, here. Only `add` may make the database:
    // accounts can be set up before the first start (docs/operations.md).
    auto db = open_database(*cfg, sub == "add" ? if_missing::create : if_missing::fail);
    storage::store store(db);
    return account_command(db, store, r, std::cout, std::cerr, now_seconds());
}

}  // namespace orderflow::daemon::ctl
