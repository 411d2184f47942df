// Test harness for integration tests: starts the real binaries
// (orderflow-sandbox, orderflowd, orderflowctl) from build/bin, talks to them
// over real HTTP on loopback, and reads their JSON log lines. Every wait has
// a deadline and polls for a condition; nothing sleeps for time to pass.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace orderflow::testing {

using json = nlohmann::json;

std::filesystem::path bin_dir();      // $ORDERFLOW_BIN
std::filesystem::path source_dir();   // $ORDERFLOW_SOURCE

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

void write_file(const std::filesystem::path& p, const std::string& content, unsigned mode = 0644);
std::string read_file(const std::filesystem::path& p);

// A child process with stdout and stderr appended to `log`, and stdin
// read from `input` (nothing by default).
class process {
public:
    process() = default;
    process(std::vector<std::string> argv, std::filesystem::path log, const std::filesystem::path& input = "/dev/null");
    process(process&&) noexcept;
    process& operator=(process&&) noexcept;
    ~process();

    pid_t pid() const { return pid_; }
    const std::filesystem::path& log() const { return log_; }
    bool running();
    void signal(int sig);
    // Waits for exit (deadline); returns the exit status, or -signal when killed; nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(15));

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path log_;
};

// Runs a command to completion and returns exit code and combined output.
struct run_result {
    int exit_code = -1;
    std::string output;
};
run_result run(std::vector<std::string> argv);
// The same, with `input` on the command's stdin (a file, not a terminal).
run_result run_with_stdin(std::vector<std::string> argv, const std::string& input);

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// JSON log lines of a file whose "event" equals `event`.
std::vector<json> log_lines(const std::filesystem::path& log, const std::string& event);
// Waits for the first line with `event` and returns it (throws on timeout).
json wait_for_log(const std::filesystem::path& log, const std::string& event,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20), std::size_t nth = 1);

struct http_reply {
    int status = 0;
    std::string body;
    json json_body() const;
};
// One HTTP request to 127.0.0.1:port (throws when the connection fails).
http_reply http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {});

// The rule most tests need: one thank-you per order when it is ready to ship.
extern const char* const thanks_rules;
std::string thanks_text(const std::string& buyer_name, const std::string& order_id);   // its rendered text

// A sandbox plus a daemon configured against it, in one temporary directory.
class stack {
public:
    static constexpr const char* app_key = "itest_app_key";
    static constexpr const char* app_secret = "itest-app-secret-5f1d9c0a7e";
    static constexpr const char* shop_cipher = "ROW_itestcipher";

    stack();
    ~stack();

    temp_dir dir;
    process sandbox;
    process daemon;
    std::uint16_t sandbox_port = 0;
    std::uint16_t webhook_port = 0;
    int daemon_starts = 0;
    std::string sandbox_retry_scale = "0.001";   // TikTok's webhook retry schedule, scaled
    std::vector<std::string> sandbox_args;        // more orderflow-sandbox flags (faults, --hold-seconds, ...)
    json extra_config = json::object();           // merged into the generated config (e.g. notify channels)

    std::filesystem::path config_path() const { return dir / "orderflow.json"; }
    std::filesystem::path rules_dir() const { return dir / "rules"; }
    std::filesystem::path db_path() const { return dir / "orderflow.db"; }

    void write_rules(const std::string& file_name, const std::string& text);
    void start_sandbox();
    void write_config();
    // Uses orderflowctl keygen, the sandbox's authorize control call and
    // `orderflowctl auth exchange`, as an operator would.
    void authorize();
    void start_daemon();        // waits for webhook_listening and points the sandbox's webhooks at it
    void start_all();           // sandbox, config, authorization, daemon: the usual start of a test
    void kill_daemon();         // SIGKILL, as a crash
    http_reply control(const std::string& method, const std::string& target, const json& body = nullptr);
    json create_order(const json& order);
    void set_status(const std::string& order_id, const std::string& status);
    std::vector<json> shop_messages();   // messages sent by the shop (sandbox's record)
    // POSTs a webhook body to the daemon, signed with the app secret (or not).
    http_reply post_webhook(const std::string& body, bool sign = true);
    std::string ctl_log() const;
};

// orderflowctl ARGS --config <the stack's config>, run to completion.
run_result ctl(const stack& s, std::vector<std::string> args);

}  // namespace orderflow::testing
