// See harness.hpp.
#include "tests/integration/harness.hpp"

#include "tikapi/http.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace orderflow::testing {

namespace fs = std::filesystem;

fs::path bin_dir() {
    const char* p = std::getenv("ORDERFLOW_BIN");
    return p && *p ? p : ORDERFLOW_BIN_DIR;
}

fs::path source_dir() {
    const char* p = std::getenv("ORDERFLOW_SOURCE");
    return p && *p ? p : ORDERFLOW_SOURCE_DIR;
}

temp_dir::temp_dir() {
    std::string templ = (fs::temp_directory_path() / "orderflow-itest-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    if (!std::getenv("ORDERFLOW_KEEP_TEMP")) fs::remove_all(path_, ec);
}

void write_file(const fs::path& p, const std::string& content, unsigned mode) {
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out) throw std::runtime_error("cannot write " + p.string());
    }
    ::chmod(p.c_str(), mode);
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

process::process(std::vector<std::string> argv, fs::path log, const fs::path& input) : log_(std::move(log)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, input.c_str(), O_RDONLY, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

process::process(process&& o) noexcept : pid_(o.pid_), status_(o.status_), log_(std::move(o.log_)) { o.pid_ = -1; }

process& process::operator=(process&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0 && running()) {
            ::kill(pid_, SIGKILL);
            wait();
        }
        pid_ = o.pid_;
        status_ = o.status_;
        log_ = std::move(o.log_);
        o.pid_ = -1;
    }
    return *this;
}

process::~process() {
    if (pid_ > 0 && running()) {
        ::kill(pid_, SIGKILL);
        wait();
    }
}

bool process::running() {
    if (pid_ <= 0 || status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == 0) return true;
    if (r == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return false;
}

void process::signal(int sig) {
    if (pid_ > 0 && running()) ::kill(pid_, sig);
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
    eventually([&] { return !running(); }, timeout);
    return status_;
}

run_result run(std::vector<std::string> argv) {
    temp_dir tmp;
    auto out = tmp / "output";
    process p(std::move(argv), out);
    auto status = p.wait(std::chrono::seconds(60));
    return {status.value_or(-999), read_file(out)};
}

run_result run_with_stdin(std::vector<std::string> argv, const std::string& input) {
    temp_dir tmp;
    auto in = tmp / "input";
    write_file(in, input, 0600);
    auto out = tmp / "output";
    process p(std::move(argv), out, in);
    auto status = p.wait(std::chrono::seconds(60));
    return {status.value_or(-999), read_file(out)};
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::vector<json> log_lines(const fs::path& log, const std::string& event) {
    std::vector<json> out;
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.value("event", "") == event) out.push_back(std::move(j));
    }
    return out;
}

json wait_for_log(const fs::path& log, const std::string& event, std::chrono::milliseconds timeout, std::size_t nth) {
    json found;
    bool ok = eventually([&] {
        auto lines = log_lines(log, event);
        if (lines.size() < nth) return false;
        found = lines[nth - 1];
        return true;
    }, timeout);
    if (!ok) throw std::runtime_error("no log line '" + event + "' in " + log.string() + ":\n" + read_file(log));
    return found;
}

json http_reply::json_body() const { return json::parse(body, nullptr, false); }

http_reply http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                const std::vector<std::pair<std::string, std::string>>& headers) {
    boost::asio::io_context io;
    tikapi::http_client client(io.get_executor());
    tikapi::url base{"http", "127.0.0.1", port, ""};
    tikapi::http_request req;
    req.method = method;
    req.target = target;
    req.body = body;
    for (auto& [k, v] : headers) req.headers.push_back({k, v});
    if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
    std::optional<tikapi::result<tikapi::http_response>> outcome;
    boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
        outcome.emplace(co_await client.send(base, std::move(req), std::chrono::seconds(20)));
    }, boost::asio::detached);
    io.run();
    auto& r = *outcome;
    if (!r) throw std::runtime_error(method + " " + target + " on port " + std::to_string(port) + ": " + r.error().describe());
    return {r.value().status, r.value().body};
}

stack::stack() { fs::create_directories(rules_dir()); }

stack::~stack() {
    daemon.signal(SIGTERM);
    daemon.wait(std::chrono::seconds(10));
    sandbox.signal(SIGTERM);
    sandbox.wait(std::chrono::seconds(10));
}

void stack::write_rules(const std::string& file_name, const std::string& text) { write_file(rules_dir() / file_name, text); }

void stack::start_sandbox() {
    write_file(dir / "app_secret", app_secret, 0600);
    std::vector<std::string> argv = {(bin_dir() / "orderflow-sandbox").string(), "--listen", "127.0.0.1:0", "--app-key", app_key,
                                     "--app-secret-file", (dir / "app_secret").string(), "--shop-cipher", shop_cipher,
                                     "--retry-scale", sandbox_retry_scale};
    argv.insert(argv.end(), sandbox_args.begin(), sandbox_args.end());
    sandbox = process(argv, dir / "sandbox.log");
    sandbox_port = wait_for_log(sandbox.log(), "sandbox_listening").at("port").get<std::uint16_t>();
}

void stack::write_config() {
    std::string base = "http://127.0.0.1:" + std::to_string(sandbox_port);
    json cfg = {
        {"tiktok", {{"api_base", base}, {"auth_base", base}, {"app_key", app_key}, {"app_secret_file", "app_secret"},
                    {"shop_cipher", shop_cipher}, {"timeout", "5s"}}},
        {"webhook", {{"listen", "127.0.0.1:0"}, {"path", "/webhooks/tiktok"}, {"max_body", 65536}}},
        {"storage", {{"path", "orderflow.db"}, {"vault_key_file", "vault.key"}}},
        {"rules", {{"dir", "rules"}, {"default_locale", "ja"}}},
        {"admin", {{"socket", "admin.sock"}}},
        {"timezone", "Asia/Tokyo"},
        {"executor", {{"send_retry_max", "2s"}, {"event_retry_max", "2s"}}},
    };
    cfg.merge_patch(extra_config);
    write_file(config_path(), "// written by the integration test\n" + cfg.dump(2) + "\n");
}

std::string stack::ctl_log() const { return read_file(dir / "ctl.log"); }

void stack::authorize() {
    if (!fs::exists(dir / "vault.key")) {
        auto r = run({(bin_dir() / "orderflowctl").string(), "keygen", (dir / "vault.key").string()});
        if (r.exit_code != 0) throw std::runtime_error("keygen failed: " + r.output);
    }
    auto code = control("POST", "/control/authorize", json::object()).json_body().at("code").get<std::string>();
    auto r = run({(bin_dir() / "orderflowctl").string(), "auth", "exchange", code, "--config", config_path().string()});
    std::ofstream(dir / "ctl.log", std::ios::app) << r.output;
    if (r.exit_code != 0) throw std::runtime_error("auth exchange failed: " + r.output);
}

void stack::start_daemon() {
    ++daemon_starts;
    auto log = dir / ("orderflowd-" + std::to_string(daemon_starts) + ".log");
    daemon = process({(bin_dir() / "orderflowd").string(), "--config", config_path().string()}, log);
    webhook_port = wait_for_log(log, "webhook_listening").at("port").get<std::uint16_t>();
    auto r = control("POST", "/control/webhook", {{"url", "http://127.0.0.1:" + std::to_string(webhook_port) + "/webhooks/tiktok"}});
    if (r.status != 200) throw std::runtime_error("sandbox refused the webhook URL: " + r.body);
}

void stack::start_all() {
    start_sandbox();
    write_config();
    authorize();
    start_daemon();
}

const char* const thanks_rules = R"({
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
  "rules": [ { "id": "thanks", "on": "order.status_changed",
               "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "thanks" } } ] } ]
})";

std::string thanks_text(const std::string& buyer_name, const std::string& order_id) {
    return buyer_name + "様、ご注文 " + order_id + " ありがとうございます。";
}

void stack::kill_daemon() {
    daemon.signal(SIGKILL);
    daemon.wait();
}

http_reply stack::control(const std::string& method, const std::string& target, const json& body) {
    return http(sandbox_port, method, target, body.is_null() ? "" : body.dump());
}

json stack::create_order(const json& order) {
    auto r = control("POST", "/control/orders", order);
    if (r.status != 200) throw std::runtime_error("create order failed: " + r.body);
    return r.json_body();
}

void stack::set_status(const std::string& order_id, const std::string& status) {
    auto r = control("POST", "/control/orders/" + order_id + "/status", {{"status", status}});
    if (r.status != 200) throw std::runtime_error("status change failed: " + r.body);
}

std::vector<json> stack::shop_messages() {
    auto j = control("GET", "/control/messages?sender=SHOP").json_body();
    std::vector<json> out;
    const json& list = j.is_object() && j.contains("messages") ? j["messages"] : j;
    if (list.is_array())
        for (auto& m : list) out.push_back(m);
    return out;
}

http_reply stack::post_webhook(const std::string& body, bool sign) {
    std::string signature = sign ? tikapi::webhook_signature(app_key, app_secret, body) : std::string(64, '0');
    return http(webhook_port, "POST", "/webhooks/tiktok", body, {{"Authorization", signature}});
}

run_result ctl(const stack& s, std::vector<std::string> args) {
    args.insert(args.begin(), (bin_dir() / "orderflowctl").string());
    args.push_back("--config");
    args.push_back(s.config_path().string());
    return run(args);
}

}  // namespace orderflow::testing
