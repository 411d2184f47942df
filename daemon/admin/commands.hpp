// The commands the admin socket serves: one JSON request line in
// ({"argv": [strings], "by"?: string, "note"?: string, "all"?: bool,
// "limit"?: integer, "drop_held"?: bool, "buyer"?, "order"?, "conversation"?,
// "action"?: string, "since"?: integer, "json"?: bool, "role"?,
// "password_hash"?: string}), one JSON reply out ({"exit", "stdout",
// "stderr"}), as orderflowctl sends and prints them (daemon/admin.hpp is the
// client side). Commands: review (the staff queue), resume (after the
// circuit breaker), metrics, reload, auth disconnect, notify test CHANNEL,
// buyer export|forget|refresh, audit, order tag|untag
// (daemon/data_rights.hpp), account add|list|remove (daemon/account_cli.hpp).
// A request of
// any other shape gets exit 2 and what is wrong; nothing here throws.
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "daemon/rules_in_force.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace orderflow::daemon {

class breaker;

// One admin request line, checked (the socket's only door for bytes from
// outside; the fuzz harness drives it directly).
struct admin_request {
    std::vector<std::string> argv;   // non-empty
    std::string by;                  // "" when not given
    std::string note;
    bool all = false;
    std::int64_t limit = 50;         // as sent; review clamps it
    bool drop_held = false;
    // buyer, audit, order (daemon/data_rights.hpp)
    std::string buyer, order, conversation, action;
    std::int64_t since = 0;
    bool json = false;
    // account add (daemon/account_cli.hpp): a password hash, never a password
    std::string role, password_hash;
};

// The request, or what is wrong with it ("\"argv\" must be a non-empty
// array of strings"), the text admin_commands::malformed puts in its reply.
// Pure: no log, no throw on any input.
std::variant<admin_request, std::string> parse_admin_request(std::string_view line);

// What `orderflowctl reload` prints when the reload failed: the rules that
// stay in force, then the errors as `orderflowctl check` prints them (the
// first rules_in_force::errors_listed, then "and N more (orderflowctl check
// --config FILE shows all)").
std::string reload_failure_text(const rules_in_force::reload_outcome& outcome, std::size_t rules, const std::string& hash,
                                const std::string& config_file);

class admin_commands {
public:
    using reload_fn = std::function<boost::asio::awaitable<rules_in_force::reload_outcome>()>;

    admin_commands(context ctx, const rules_in_force& in_force, breaker& brk, reload_fn reload);

    // peer: the Unix user on the other end of the socket.
    boost::asio::awaitable<nlohmann::json> dispatch(std::string line, std::string peer);

    // `auth disconnect`: deletes the stored tokens and wipes them from the
    // running daemon; returns what to tell the person.
    void on_auth_disconnect(std::function<std::string(const std::string& by)> f) { auth_disconnect_ = std::move(f); }
    // `notify test CHANNEL`: queues a test notification; returns "" or why not.
    void on_notify_test(std::function<std::string(const std::string& channel)> f) { notify_test_ = std::move(f); }
    // `buyer refresh`: re-reads these orders from TikTok into the cache;
    // returns what to tell the person, and whether it all worked.
    using refresh_fn = std::function<boost::asio::awaitable<std::pair<bool, std::string>>(std::vector<std::string> order_ids)>;
    void on_buyer_refresh(refresh_fn f) { buyer_refresh_ = std::move(f); }
    // `metrics`: the whole text GET /metrics serves (admin/metrics.hpp).
    void on_metrics(std::function<std::string()> f) { metrics_ = std::move(f); }
    // The key buyer forget hashes ids with (daemon/data_rights.hpp, forget_key).
    void set_forget_key(orderflow::secret key) { forget_key_ = std::move(key); }

    // The reply to a request that could not be read.
    static nlohmann::json malformed(const std::string& why);

private:
    context ctx_;
    const rules_in_force& in_force_;
    breaker& breaker_;
    reload_fn reload_;
    std::function<std::string(const std::string&)> auth_disconnect_;
    std::function<std::string(const std::string&)> notify_test_;
    refresh_fn buyer_refresh_;
    std::function<std::string()> metrics_;
    orderflow::secret forget_key_;
};

}  // namespace orderflow::daemon
