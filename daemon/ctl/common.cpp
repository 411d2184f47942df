// See common.hpp.
#include "daemon/ctl/common.hpp"

#include "daemon/context.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/detail/storage_path.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/tokens.hpp"
#include "rules/engine.hpp"
#include "rules/fixture.hpp"
#include "rules/ruleset.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>

#include <sodium.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>


namespace orderflow::daemon::ctl {

namespace asio = boost::asio;
using json = nlohmann::json;

std::int64_t now_seconds() { return system_now(); }

std::string format_time(std::int64_t t) {
    return t == 0 ? "-" : detail::local_time_text(t);
}

int config_exit_code(const args& a) { return a.config.empty() ? 2 : 1; }

std::optional<config> load_config_or_report(const std::string& path) {
    if (path.empty()) {
        std::cerr << "orderflowctl: --config FILE is required\n";
        return std::nullopt;
    }
    auto loaded = load_config(path);
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    if (!loaded.ok()) return std::nullopt;
    apply_timezone(loaded.value->timezone);
    return std::move(*loaded.value);
}

namespace {

// Why someone who does not own the database may not open it, or "" when
// that is not the trouble (it opens, it is theirs, or something else is
// wrong: storage says what then). The owner of the file, or of its folder
// when they may not even look into that.
std::string not_yours(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0) {
        if (::access(file.c_str(), R_OK | W_OK) == 0) return "";
    } else {
        const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
        if (errno != EACCES || ::stat(dir.c_str(), &st) != 0) return "";
    }
    if (st.st_uid == ::geteuid()) return "";
    passwd pw{};
    passwd* found = nullptr;
    char buf[4096];
    const std::string owner = ::getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &found) == 0 && found ? found->pw_name
                                                                                                  : "uid " + std::to_string(st.st_uid);
    return "cannot open database " + file.string() + ": permission denied; it is " + owner +
           "'s, the user orderflowd runs as: run this as that user (sudo -u " + owner +
           " orderflowctl ...), or use orderflowctl review, which goes through the daemon";
}

}  // namespace

storage::database open_database(const config& cfg, if_missing missing) {
    if (std::string why = not_yours(cfg.storage.path); !why.empty()) throw std::runtime_error(why);
    if (missing == if_missing::create)
        if (std::string why = detail::new_database_refusal(cfg.storage.path, cfg.file); !why.empty()) throw std::runtime_error(why);
    return missing == if_missing::create ? storage::database::open(cfg.storage.path) : storage::database::open_existing(cfg.storage.path);
}

std::string invoking_user() {
    if (const char* u = std::getenv("SUDO_USER")) return u;
    if (const char* u = std::getenv("USER")) return u;
    return "";
}

}  // namespace orderflow::daemon::ctl
