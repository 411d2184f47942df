// See commands.hpp.
#include "daemon/admin/commands.hpp"

#include "common/json_limits.hpp"
#include "common/log.hpp"
#include "daemon/account_cli.hpp"
#include "daemon/admin.hpp"
#include "daemon/admin/metrics.hpp"
#include "daemon/data_rights.hpp"
#include "storage/buyer_data.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/review_cli.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

admin_commands::admin_commands(context ctx, const rules_in_force& in_force, breaker& brk, reload_fn reload)
    : ctx_(std::move(ctx)), in_force_(in_force), breaker_(brk), reload_(std::move(reload)) {}

std::string reload_failure_text(const rules_in_force::reload_outcome& outcome, std::size_t rules, const std::string& hash,
                                const std::string& config_file) {
    const std::string check = "orderflowctl check --config " + config_file;
    std::string text = "reload failed; the previous rules stay in force (" + std::to_string(rules) + " rules, hash " + hash + ").";
    if (outcome.errors.empty()) return text + " " + check + " shows why\n";
    const std::size_t total = outcome.total();
    text += " " + std::to_string(total) + (total == 1 ? " error" : " errors") + "; fix " + (total == 1 ? "it" : "them") +
            " and reload again:\n";
    // As `check` prints them: one per line, from the start of the line, so
    // that an editor or terminal can jump to file:line:column.
    for (const auto& e : outcome.errors) text += e + "\n";
    if (outcome.not_listed() > 0) text += "and " + std::to_string(outcome.not_listed()) + " more (" + check + " shows all)\n";
    return text;
}

json admin_commands::malformed(const std::string& why) {
    log::warn("admin_request_malformed", {{"error", why}});
    return {{"exit", 2}, {"stdout", ""}, {"stderr", "orderflowd: malformed request: " + why + "\n"}};
}

// One request line: {"argv": [strings], "by"?: string, "note"?: string,
// "all"?: bool, "limit"?: integer, "drop_held"?: bool, and the strings and
// numbers of buyer, audit and account (commands.hpp)}. Anything else is
// what is wrong; nothing here throws.
std::variant<admin_request, std::string> parse_admin_request(std::string_view line) {
    auto parsed = parse_untrusted_json(line);
    if (auto* why = std::get_if<std::string>(&parsed)) return "the request is " + *why;
    const json& request = std::get<json>(parsed);
    if (!request.is_object()) return std::string("not a JSON object");
    auto argv = request.find("argv");
    if (argv == request.end() || !argv->is_array() || argv->empty())
        return std::string("\"argv\" must be a non-empty array of strings");
    admin_request out;
    for (const auto& x : *argv) {
        if (!x.is_string()) return std::string("\"argv\" must be a non-empty array of strings");
        out.argv.push_back(x.get<std::string>());
    }
    for (const char* key : {"by", "note", "buyer", "order", "conversation", "action", "role", "password_hash"})
        if (request.contains(key) && !request[key].is_string()) return std::string("\"") + key + "\" must be a string";
    for (const char* key : {"all", "drop_held", "json"})
        if (request.contains(key) && !request[key].is_boolean()) return std::string("\"") + key + "\" must be true or false";
    for (const char* key : {"limit", "since"})
        if (request.contains(key) && !request[key].is_number_integer()) return std::string("\"") + key + "\" must be an integer";
    out.by = request.value("by", "");
    out.note = request.value("note", "");
    out.all = request.value("all", false);
    out.limit = request.value("limit", std::int64_t{50});
    out.drop_held = request.value("drop_held", false);
    out.buyer = request.value("buyer", "");
    out.order = request.value("order", "");
    out.conversation = request.value("conversation", "");
    out.action = request.value("action", "");
    out.since = request.value("since", std::int64_t{0});
    out.json = request.value("json", false);
    out.role = request.value("role", "");
    out.password_hash = request.value("password_hash", "");
    return out;
}

asio::awaitable<json> admin_commands::dispatch(std::string line, std::string peer) {
    auto parsed = parse_admin_request(line);
    if (auto* why = std::get_if<std::string>(&parsed)) co_return malformed(*why);
    const admin_request& request = std::get<admin_request>(parsed);
    const std::vector<std::string>& argv = request.argv;
    std::ostringstream out, err;
    int exit_code = 2;
    // Who acted: the name they give (a shared account may serve several
    // people), else who the socket says they are; the audit log keeps both.
    const std::string by = request.by.empty() ? peer : request.by;
    log::info("admin_request", {{"command", argv[0]}, {"peer", peer}});
    // Staff (admin.operators) review, read metrics, tag orders and test a
    // channel; what changes the daemon, reads buyers' data or says who may
    // use the staff console is the operators'.
    static const std::set<std::string, std::less<>> operator_commands{"resume", "reload", "auth", "buyer", "audit", "account"};
    if (operator_commands.count(argv[0]) && !is_operator(peer, in_force_.cfg().admin.operators)) {
        log::warn("admin_request_refused", {{"command", argv[0]}, {"peer", peer}, {"reason", "staff may not run operator commands"}});
        co_return json{{"exit", 1}, {"stdout", ""},
                       {"stderr", "orderflowd: '" + argv[0] + "' is an operator command and " + peer +
                                      " is staff; admin.operators in " + in_force_.cfg().file.string() + " lists the operators\n"}};
    }
    try {
        if (argv[0] == "review") {
            review_args ra{argv, request.note, by, peer, request.all,
                           static_cast<int>(std::clamp<std::int64_t>(request.limit, 1, 100000))};
            exit_code = review_command(ctx_.db, ctx_.store, ra, out, err, ctx_.clock());
        } else if (argv[0] == "resume") {
            std::string done = breaker_.resume(by, peer, request.drop_held);
            if (done.empty()) out << "sending is not paused; nothing to resume\n";
            else out << done;
            exit_code = 0;
        } else if (argv[0] == "metrics") {
            out << (metrics_ ? metrics_() : metrics_text(ctx_, in_force_, breaker_, {}));
            exit_code = 0;
        } else if (argv[0] == "reload") {
            const rules_in_force::reload_outcome outcome = co_await reload_();
            const bool ok = outcome.ok;
            const auto rules = in_force_.rules();
            if (ok) out << "reloaded: " << rules->size() << " rules in force (hash " << rules->hash() << ")\n";
            else err << reload_failure_text(outcome, rules->size(), rules->hash(), in_force_.cfg().file.string());
            for (const auto& key : outcome.needs_restart) err << key << " changed; it takes effect after a restart\n";
            ctx_.db.transaction([&] {
                ctx_.store.audit(ctx_.clock(), "orderflowctl", "config.reload", "",
                                 {{"by", by}, {"ok", ok}, {"rules", rules->size()}, {"rules_hash", rules->hash()}});
            });
            exit_code = ok ? 0 : 1;
        } else if (argv[0] == "auth" && argv.size() == 2 && argv[1] == "disconnect" && auth_disconnect_) {
            out << auth_disconnect_(by);
            exit_code = 0;
        } else if (argv[0] == "notify" && argv.size() == 3 && argv[1] == "test" && notify_test_) {
            const std::string why = notify_test_(argv[2]);
            if (why.empty()) {
                out << "queued a test notification for channel " << argv[2]
                    << "; orderflowd delivers it within seconds and logs notification_sent or notification_failed\n";
                exit_code = 0;
            } else {
                err << "orderflowd: " << why << "\n";
                exit_code = 1;
            }
        } else if (argv[0] == "buyer" && argv.size() == 2 && argv[1] == "refresh" && buyer_refresh_) {
            data_request dr;
            dr.argv = argv;
            dr.buyer = request.buyer;
            dr.order = request.order;
            dr.conversation = request.conversation;
            storage::buyer_lookup lookup;
            if (!buyer_lookup_of(dr, lookup, err)) {
                exit_code = 2;
            } else {
                const auto who = storage::find_buyer(ctx_.db, lookup);
                std::vector<std::string> ids(who.order_ids.begin(), who.order_ids.end());
                auto [ok, said] = co_await buyer_refresh_(ids);
                (ok ? out : err) << said;
                ctx_.db.transaction([&] {
                    ctx_.store.audit(ctx_.clock(), "orderflowctl", "buyer.refresh", request.order,
                                     {{"by", by}, {"buyer_user_id", who.buyer_user_id}, {"orders", ids.size()}, {"ok", ok}});
                });
                exit_code = ok ? 0 : 1;
            }
        } else if (argv[0] == "buyer" || argv[0] == "audit" || argv[0] == "order") {
            data_request dr{argv, by, request.buyer, request.order, request.conversation, request.action, request.since,
                            static_cast<int>(std::clamp<std::int64_t>(request.limit, 1, 1000000)), request.json,
                            in_force_.cfg().privacy.suppress_forgotten, in_force_.cfg().retention.forget_records().count()};
            exit_code = data_rights_command(ctx_.db, ctx_.store, forget_key_, dr, out, err, ctx_.clock());
        } else if (argv[0] == "account") {
            account_request ar{argv, request.role, request.password_hash, by};
            exit_code = account_command(ctx_.db, ctx_.store, ar, out, err, ctx_.clock());
        } else {
            err << "orderflowd: unknown admin command '" << argv[0] << "'\n";
        }
    } catch (const std::exception& e) {
        err << "orderflowd: " << argv[0] << " failed: " << e.what() << "\n";
        exit_code = 1;
    }
    co_return json{{"exit", exit_code}, {"stdout", out.str()}, {"stderr", err.str()}};
}

}  // namespace orderflow::daemon
