// orderflow-sandbox's command line (cli.hpp) and its single-threaded main
// loop: one io_context, the sandbox server, and one coroutine-free signal
// set that stops everything on SIGTERM / SIGINT.
#include "tikapi/sandbox/cli.hpp"

#include "common/log.hpp"
#include "tikapi/sandbox/detail/util.hpp"
#include "tikapi/sandbox/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <csignal>
#include <exception>
#include <fstream>
#include <sstream>

namespace orderflow::sandbox {

std::string usage() {
    return "usage: orderflow-sandbox --listen 127.0.0.1:PORT --app-key KEY --app-secret-file FILE "
           "--shop-cipher CIPHER [--shop-id ID] [--webhook-url URL] [--retry-scale 0.001] "
           "[--access-ttl 604800] [--seed N] [--hold-seconds 3600] [--handling-seconds 172800] [--cs-daily-quota 10000] [--auto-advance N,M] "
           "[--webhook-cancel-status CANCEL|CANCELLED] [--require-subscription true|false] [--rate-limit-qps 50] "
           "[--fault-error-share S] [--fault-throttle-share S] [--fault-drop-share S] [--fault-drop-after-share S] "
           "[--fault-slow-share S] [--fault-garble-after-share S] [--fault-slow-ms MS] [--webhook-lose-share S] [--webhook-duplicate-share S] "
           "[--webhook-reorder-ms MS] [--token-early-share S] [--token-early-after SECONDS] "
           "[--load-orders N] [--load-rate PER_SECOND] [--load-custom-share S] [--load-note-share S] "
           "[--load-message-share S] [--tls-cert FILE --tls-key FILE]";
}

namespace {

std::optional<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find("]:");
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    auto n = detail::parse_int(port);
    if (host.empty() || !n || *n < 0 || *n > 65535) return std::nullopt;
    return std::pair{std::string(host), static_cast<std::uint16_t>(*n)};
}

std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

}  // namespace

std::variant<command_line, std::string> parse_command_line(int argc, const char* const* argv) {
    command_line cl;
    std::string listen, secret_file;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") return usage();
        if (i + 1 >= argc) return "option " + std::string(arg) + " needs a value\n" + usage();
        std::string value = argv[++i];
        if (arg == "--listen") {
            listen = value;
        } else if (arg == "--app-key") {
            cl.shop.app_key = value;
        } else if (arg == "--app-secret-file") {
            secret_file = value;
        } else if (arg == "--shop-cipher") {
            cl.shop.shop_cipher = value;
        } else if (arg == "--shop-id") {
            cl.shop.shop_id = value;
        } else if (arg == "--webhook-url") {
            cl.shop.webhook_url = value;
        } else if (arg == "--retry-scale") {
            auto v = parse_double(value);
            if (!v || *v < 0) return "--retry-scale must be a non-negative number, e.g. 0.001";
            cl.shop.retry_scale = *v;
        } else if (arg == "--access-ttl") {
            auto v = detail::parse_int(value);
            if (!v || *v < 1) return "--access-ttl must be a positive number of seconds";
            cl.shop.access_ttl = *v;
        } else if (arg == "--seed") {
            auto v = detail::parse_int(value);
            if (!v || *v < 0) return "--seed must be a non-negative integer";
            cl.shop.seed = static_cast<std::uint64_t>(*v);
        } else if (arg == "--hold-seconds") {
            auto v = detail::parse_int(value);
            if (!v || *v < 0) return "--hold-seconds must be a non-negative number of seconds";
            cl.shop.hold_seconds = *v;
        } else if (arg == "--handling-seconds") {
            auto v = detail::parse_int(value);
            if (!v || *v < 0) return "--handling-seconds must be a non-negative number of seconds";
            cl.shop.handling_seconds = *v;
        } else if (arg == "--cs-daily-quota") {
            auto v = detail::parse_int(value);
            if (!v || *v < 0) return "--cs-daily-quota must be a non-negative integer (customer-service calls per UTC day)";
            cl.shop.cs_daily_quota = *v;
        } else if (arg == "--rate-limit-qps") {
            auto v = detail::parse_int(value);
            if (!v || *v < 0) return "--rate-limit-qps must be a non-negative integer (0 disables throttling)";
            cl.shop.rate_limit_qps = *v;
        } else if (arg == "--auto-advance") {
            auto comma = value.find(',');
            auto n = detail::parse_int(value.substr(0, comma));
            auto m = comma == std::string::npos ? std::optional<std::int64_t>{} : detail::parse_int(value.substr(comma + 1));
            if (!n || !m || *n < 0 || *m < *n)
                return "--auto-advance must be N,M: seconds after shipping until IN_TRANSIT and until DELIVERED (M >= N)";
            cl.shop.auto_in_transit_after = *n;
            cl.shop.auto_delivered_after = *m;
        } else if (arg == "--webhook-cancel-status") {
            if (value != "CANCEL" && value != "CANCELLED") return "--webhook-cancel-status must be CANCEL or CANCELLED";
            cl.shop.webhook_cancel_status = value;
        } else if (arg == "--require-subscription") {
            if (value != "true" && value != "false") return "--require-subscription must be true or false";
            cl.shop.require_subscription = value == "true";
        } else if (double* share = arg == "--fault-error-share"         ? &cl.shop.faults.error_share
                                   : arg == "--fault-throttle-share"    ? &cl.shop.faults.throttle_share
                                   : arg == "--fault-drop-share"        ? &cl.shop.faults.drop_share
                                   : arg == "--fault-drop-after-share"  ? &cl.shop.faults.drop_after_share
                                   : arg == "--fault-slow-share"        ? &cl.shop.faults.slow_share
                                   : arg == "--fault-garble-after-share" ? &cl.shop.faults.garble_after_share
                                   : arg == "--webhook-lose-share"      ? &cl.shop.faults.webhook_lose_share
                                   : arg == "--webhook-duplicate-share" ? &cl.shop.faults.webhook_duplicate_share
                                   : arg == "--token-early-share"       ? &cl.shop.faults.token_early_share
                                   : arg == "--load-custom-share"       ? &cl.load.custom_share
                                   : arg == "--load-note-share"         ? &cl.load.note_share
                                   : arg == "--load-message-share"      ? &cl.load.message_share
                                                                        : nullptr) {
            auto v = parse_double(value);
            if (!v || *v < 0 || *v > 1) return std::string(arg) + " must be a share from 0 to 1, e.g. 0.05";
            *share = *v;
        } else if (std::int64_t* count = arg == "--fault-slow-ms"        ? &cl.shop.faults.slow_ms
                                         : arg == "--webhook-reorder-ms" ? &cl.shop.faults.webhook_reorder_ms
                                         : arg == "--token-early-after"  ? &cl.shop.faults.token_early_after
                                         : arg == "--load-orders"        ? &cl.load.orders
                                                                         : nullptr) {
            auto v = detail::parse_int(value);
            if (!v || *v < 0) return std::string(arg) + " must be a non-negative integer";
            *count = *v;
        } else if (arg == "--load-rate") {
            auto v = parse_double(value);
            if (!v || *v <= 0 || *v > 10000) return "--load-rate must be a number of orders per second, above 0";
            cl.load.rate = *v;
        } else if (arg == "--tls-cert") {
            cl.tls_cert = value;
        } else if (arg == "--tls-key") {
            cl.tls_key = value;
        } else {
            return "unknown option " + std::string(arg) + "\n" + usage();
        }
    }
    {
        const auto& f = cl.shop.faults;
        if (f.call_share_total() > 1.0 + 1e-9) return "the --fault-*-share values must add up to at most 1";
    }
    if (cl.tls_cert.empty() != cl.tls_key.empty()) return "--tls-cert and --tls-key go together";
    if (listen.empty() || cl.shop.app_key.empty() || secret_file.empty() || cl.shop.shop_cipher.empty())
        return "--listen, --app-key, --app-secret-file and --shop-cipher are required\n" + usage();
    auto hp = parse_listen(listen);
    if (!hp) return "--listen must be HOST:PORT, e.g. 127.0.0.1:0";
    if (!detail::is_loopback_host(hp->first))
        return "--listen must be a loopback address (127.0.0.1, ::1, localhost): the sandbox stays on this machine";
    cl.host = hp->first;
    cl.port = hp->second;

    std::ifstream in(secret_file, std::ios::binary);
    if (!in) return "cannot read the app secret file " + secret_file;
    std::ostringstream buffer;
    buffer << in.rdbuf();
    std::string secret = buffer.str();
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
    if (secret.empty()) return "the app secret file " + secret_file + " is empty";
    cl.shop.app_secret = orderflow::secret(std::move(secret));

    if (!cl.shop.webhook_url.empty()) {
        auto target = tikapi::url::parse(cl.shop.webhook_url);
        if (!target || !detail::is_loopback_host(target->host))
            return "--webhook-url must be an http(s) URL on this machine, e.g. http://127.0.0.1:8080/webhooks/tiktok";
    }
    return cl;
}

bool asks_for_help(int argc, const char* const* argv) {
    // Options come in pairs: "--help" as another option's value is a value.
    for (int i = 1; i < argc; i += 2) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") return true;
    }
    return false;
}

int run(int argc, const char* const* argv) {
    if (asks_for_help(argc, argv)) {
        std::printf("%s\n", usage().c_str());
        return 0;
    }
    auto parsed = parse_command_line(argc, argv);
    if (auto* problem = std::get_if<std::string>(&parsed)) {
        log::error("sandbox_bad_arguments", {{"error", *problem}});
        return 1;
    }
    command_line& cl = std::get<command_line>(parsed);
    try {
        boost::asio::io_context io;
        const std::string webhook_url = cl.shop.webhook_url;
        shop the_shop(std::move(cl.shop));
        server srv(io.get_executor(), the_shop, cl.host, cl.port, cl.tls_cert, cl.tls_key);
        srv.start();
        if (cl.load.orders > 0) the_shop.start_load(cl.load);

        boost::asio::signal_set signals(io, SIGTERM, SIGINT);
        signals.async_wait([&](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            log::info("sandbox_stopping", {{"signal", signal}});
            srv.stop();
            io.stop();
        });

        log::info("sandbox_listening", {{"port", srv.port()},
                                        {"host", cl.host},
                                        {"shop_id", the_shop.shop_id()},
                                        {"shop_cipher", the_shop.shop_cipher()},
                                        {"app_key", the_shop.app_key()},
                                        {"webhook_url", webhook_url},
                                        {"tls", !cl.tls_cert.empty()},
                                        {"hold_seconds", the_shop.options().hold_seconds}});
        io.run();
        return 0;
    } catch (const std::exception& e) {
        log::error("sandbox_start_failed", {{"error", e.what()}});
        return 1;
    }
}

}  // namespace orderflow::sandbox
