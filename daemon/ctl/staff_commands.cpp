// orderflowctl commands the running daemon carries out over the admin socket: review, resume, reload, metrics, notify test.
#include "daemon/ctl/common.hpp"

#include "common/duration.hpp"
#include "common/log.hpp"
#include "daemon/admin.hpp"
#include "daemon/config.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/review_cli.hpp"
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

// Queues a test notification in the durable notification outbox, so the
// running daemon delivers it through the very path a review item takes.
int cmd_notify(const args& a) {
    if (a.positional.size() != 3 || a.positional[1] != "test") {
        std::cerr << "usage: orderflowctl notify test CHANNEL --config FILE\n";
        return 2;
    }
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    const std::string& name = a.positional[2];
    if (std::none_of(cfg->channels.begin(), cfg->channels.end(), [&](const auto& c) { return c.name == name; })) {
        std::cerr << "orderflowctl notify: no channel '" << name << "' in notify.channels of " << cfg->file.string() << "\n";
        return 1;
    }
    // The daemon queues it and delivers it through the very path a review
    // alert takes; with the daemon down there is nobody to deliver it.
    try {
        json reply = admin_call(cfg->admin.socket, {{"argv", {"notify", "test", name}}, {"by", invoking_user()}});
        std::cout << reply.value("stdout", "");
        std::cerr << reply.value("stderr", "");
        return reply.value("exit", 1);
    } catch (const std::exception& e) {
        std::cerr << "orderflowctl notify: " << e.what() << "; nothing was queued\n";
        return 1;
    }
}

// Commands the running daemon carries out, over the admin socket: its file
// permissions decide who may use them, and the daemon records who did.
int cmd_admin(const args& a) {
    if (a.config.empty()) {
        std::cerr << "orderflowctl " << a.positional[0] << ": --config FILE is required\n";
        return 2;
    }
    auto cfg = load_config_or_report(a.config);
    if (!cfg) return config_exit_code(a);
    std::string by = a.by;
    if (by.empty()) by = invoking_user();
    // review list's default is the daemon's own (review_args).
    const int limit = a.limit_set ? a.limit : review_args{}.limit;
    json request{{"argv", a.positional}, {"note", a.note}, {"by", by}, {"all", a.all}, {"limit", limit}, {"drop_held", a.drop_held}};
    json reply;
    try {
        reply = admin_call(cfg->admin.socket, request);
    } catch (const std::exception& e) {
        std::cerr << "orderflowctl " << a.positional[0] << ": " << e.what() << "\n";
        return 1;
    }
    std::cout << reply.value("stdout", "");
    std::cerr << reply.value("stderr", "");
    return reply["exit"].is_number_integer() ? reply["exit"].get<int>() : 1;
}

}  // namespace orderflow::daemon::ctl
