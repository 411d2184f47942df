// See common.hpp.
#include "daemon/ctl/common.hpp"

#include "daemon/context.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/detail/local_time.hpp"
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

#include <algorithm>
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

std::optional<config> load_config_or_report(const std::string& path) {
    if (path.empty()) {
        std::cerr << "orderflowctl: --config FILE is required\n";
        return std::nullopt;
    }
    auto loaded = load_config(path);
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
    if (!loaded.ok()) return std::nullopt;
    return std::move(*loaded.value);
}

std::string invoking_user() {
    if (const char* u = std::getenv("SUDO_USER")) return u;
    if (const char* u = std::getenv("USER")) return u;
    return "";
}

}  // namespace orderflow::daemon::ctl
