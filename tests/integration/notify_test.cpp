// Staff notifications through real channels: a local HTTP receiver standing in
// for Slack and for a generic signed webhook, and a real command.
#include "tests/integration/harness.hpp"

#include "tikapi/http.hpp"
#include "tikapi/signing.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::testing;
namespace asio = boost::asio;

namespace {

// An HTTP receiver on its own thread that answers 503 to the first `refuse`
// requests (a chat service that is down) and records what it was sent.
class receiver {
public:
    explicit receiver(int refuse) : refuse_(refuse) {
        server_ = std::make_unique<orderflow::tikapi::http_server>(
            io_.get_executor(), "127.0.0.1", 0, [this](orderflow::tikapi::http_request& req) -> asio::awaitable<orderflow::tikapi::http_response> {
                std::lock_guard lock(mutex_);
                if (refuse_ > 0) {
                    --refuse_;
                    ++refused_;
                    co_return orderflow::tikapi::http_response::text(503, "down");
                }
                bodies_.push_back(req.body);
                signatures_.push_back(std::string(req.header("X-Orderflow-Signature")));
                paths_.push_back(req.path());
                co_return orderflow::tikapi::http_response::text(200, "ok");
            });
        server_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~receiver() {
        asio::post(io_, [this] { server_->stop(); });
        thread_.join();
    }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server_->port()) + path; }
    std::vector<std::string> bodies() {
        std::lock_guard lock(mutex_);
        return bodies_;
    }
    std::vector<std::string> signatures() {
        std::lock_guard lock(mutex_);
        return signatures_;
    }
    int refused() {
        std::lock_guard lock(mutex_);
        return refused_;
    }

private:
    asio::io_context io_;
    std::unique_ptr<orderflow::tikapi::http_server> server_;
    std::thread thread_;
    std::mutex mutex_;
    int refuse_;
    int refused_ = 0;
    std::vector<std::string> bodies_, signatures_, paths_;
};

}  // namespace

TEST_CASE("A review item reaches chat, a signed webhook and a command, once each, even when the chat service was down",
          "[integration][notify]") {
    receiver chat(2);      // down for the first two tries
    receiver hook(0);
    stack s;
    write_file(s.dir / "hook_secret", "notify-hmac-key-4b1e", 0600);
    s.extra_config = {{"notify", {{"heartbeat", "off"}, {"channels", {
        {"ops-chat", {{"type", "slack"}, {"url", chat.url("/hooks/T000/B000/XXXX")}, {"min_severity", "warning"}}},
        {"ops-hook", {{"type", "webhook"}, {"url", hook.url("/orderflow")}, {"secret_file", "hook_secret"}}},
        {"mail", {{"type", "command"}, {"command", {"/bin/sh", "-c", "cat > " + (s.dir / "mail.json").string()}}}},
        {"pager", {{"type", "slack"}, {"url", hook.url("/pager")}, {"min_severity", "critical"}}},
    }}}}};
    s.write_rules("10-thanks.json", thanks_rules);
    s.start_all();
    s.control("POST", "/control/faults", {{"path", "/customer_service/202309/conversations"}, {"code", 45109001}, {"http_status", 200},
                                          {"message", "Unable to send messages due to conversation rules"}, {"count", 1}});
    auto order = s.create_order({{"buyer_name", "中村 葵"}, {"line_items", {{{"seller_sku", "PEN-1"}, {"product_name", "万年筆"}, {"sale_price", "5000"}}}}});
    std::string id = order.at("id").get<std::string>();
    s.set_status(id, "ON_HOLD");
    s.set_status(id, "AWAITING_SHIPMENT");

    // The chat channel refused twice; with the retry backoff (5 s, then 10 s) it gets it on the third try.
    REQUIRE(eventually([&] { return chat.bodies().size() == 1; }, std::chrono::seconds(40)));
    REQUIRE(eventually([&] { return std::filesystem::exists(s.dir / "mail.json") && !read_file(s.dir / "mail.json").empty(); }));
    CHECK(chat.refused() == 2);

    auto slack = json::parse(chat.bodies().at(0));
    CHECK_THAT(slack.at("text").get<std::string>(), Catch::Contains("order " + id));
    CHECK_THAT(slack.at("text").get<std::string>(), Catch::Contains("orderflowctl review show"));

    // The generic webhook got the JSON, signed with the channel's key; the
    // critical-only pager got nothing for a warning.
    REQUIRE(hook.bodies().size() == 1);
    auto body = hook.bodies().at(0);
    CHECK(hook.signatures().at(0) == "sha256=" + orderflow::tikapi::hmac_sha256_hex("notify-hmac-key-4b1e", body));
    auto payload = json::parse(body);
    CHECK(payload.at("order_id") == id);
    CHECK(payload.at("reason") == "send_failed");

    auto mail = json::parse(read_file(s.dir / "mail.json"));
    CHECK(mail.at("review_id") == payload.at("review_id"));

    // notify test goes through the same outbox and loop.
    auto r = run({(bin_dir() / "orderflowctl").string(), "notify", "test", "ops-hook", "--config", s.config_path().string()});
    CHECK(r.exit_code == 0);
    REQUIRE(eventually([&] { return hook.bodies().size() == 2; }));
    CHECK(json::parse(hook.bodies().at(1)).at("kind") == "test");
    CHECK(run({(bin_dir() / "orderflowctl").string(), "notify", "test", "nope", "--config", s.config_path().string()}).exit_code == 1);

    // Nothing was delivered twice.
    CHECK(chat.bodies().size() == 1);
    CHECK(log_lines(s.daemon.log(), "notification_sent").size() == 4);
}

}  // namespace ORDERFLOW_TEST_FILE
