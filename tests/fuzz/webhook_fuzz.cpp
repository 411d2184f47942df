// Fuzzes the webhook door the way orderflowd takes a request: signature
// check, envelope parse and the inbox event (judge_webhook in
// daemon/ingress/webhook_ingress.hpp, the function the listener calls).
//
// Input: the first line is the Authorization header, the rest the body. A
// first line of exactly "SIGN" makes the harness sign the body with the
// app secret, so the fuzzer gets past the signature to the parser; any
// other line is taken as the header as sent.
//
// Invariants: a request whose signature does not verify never gets parsed
// nor becomes an event (nor does any request with an empty app secret); a
// parsed envelope written back as JSON parses to the same envelope; an
// event carries the body as its payload and the rule event of its topic.
#include "daemon/config.hpp"
#include "daemon/events.hpp"
#include "daemon/ingress/webhook_ingress.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tikapi/http.hpp"
#include "tikapi/webhook.hpp"

#include <nlohmann/json.hpp>

namespace {

using namespace orderflow;

const std::string app_key = "fuzzappkey";
const orderflow::secret& app_secret() {
    static const orderflow::secret s("fuzz-app-secret");
    return s;
}

daemon::config make_config(std::string shop_id) {
    daemon::config cfg;
    cfg.tiktok.app_key = app_key;
    cfg.tiktok.shop_id = std::move(shop_id);
    return cfg;
}

// What the parser made, written back in the envelope's own shape.
std::string envelope_text(const tikapi::webhook_event& w) {
    return nlohmann::json{{"type", w.type},
                          {"tts_notification_id", w.notification_id},
                          {"shop_id", w.shop_id},
                          {"timestamp", w.timestamp},
                          {"data", w.data}}
        .dump();
}

void check_verdict(const daemon::webhook_verdict& v, const tikapi::http_request& req, const orderflow::secret& secret) {
    const bool verified = tikapi::verify_webhook_signature(app_key, secret, req.body, req.header("Authorization"));
    if (!verified) {
        ORDERFLOW_FUZZ_CHECK(v.status == 401);
        ORDERFLOW_FUZZ_CHECK(!v.hook && v.events.empty());
        return;
    }
    ORDERFLOW_FUZZ_CHECK(v.status == 200 || v.status == 400);
    ORDERFLOW_FUZZ_CHECK((v.status == 400) == !v.hook);
    ORDERFLOW_FUZZ_CHECK(v.events.empty() || v.hook);
    if (v.status == 400) ORDERFLOW_FUZZ_CHECK(!v.problem.empty());
    for (const auto& e : v.events) {
        // A package update naming packages fans out: one row per (package,
        // order) pair, each with its own payload and key; any other webhook
        // is one row holding the body as received.
        const bool fanned_out = v.events.size() > 1 || e.payload != req.body;
        ORDERFLOW_FUZZ_CHECK(!fanned_out || (v.hook->type == 4 && !e.order_id.empty()));
        ORDERFLOW_FUZZ_CHECK(e.event == daemon::event_for_topic(v.hook->type));
        ORDERFLOW_FUZZ_CHECK(e.topic == v.hook->type);
        ORDERFLOW_FUZZ_CHECK(!e.dedupe_key.empty());
        ORDERFLOW_FUZZ_CHECK(e.change_key == daemon::change_key_of(v.hook->type, v.hook->data));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_logs();
    static const daemon::config any_shop = make_config("");
    static const daemon::config one_shop = make_config("7494049642642441621");
    static const orderflow::secret no_secret;

    const auto text = fuzz::as_text(data, size);
    const auto newline = text.find('\n');
    const std::string_view header = text.substr(0, newline);
    tikapi::http_request req;
    req.method = "POST";
    req.target = any_shop.webhook.path;
    req.body = newline == std::string_view::npos ? std::string() : std::string(text.substr(newline + 1));
    const std::string authorization =
        header == "SIGN" ? tikapi::webhook_signature(app_key, app_secret().reveal(), req.body) : std::string(header);
    req.headers.push_back({"Authorization", authorization});

    const auto verdict = daemon::judge_webhook(any_shop, app_secret(), req, 1700000000);
    check_verdict(verdict, req, app_secret());

    // The same request for a configured shop: only that shop's webhooks become events.
    const auto for_shop = daemon::judge_webhook(one_shop, app_secret(), req, 1700000000);
    check_verdict(for_shop, req, app_secret());
    ORDERFLOW_FUZZ_CHECK(for_shop.status == verdict.status);
    if (!for_shop.events.empty()) ORDERFLOW_FUZZ_CHECK(for_shop.hook->shop_id == one_shop.tiktok.shop_id);

    // Without a secret nothing verifies.
    const auto unsigned_verdict = daemon::judge_webhook(any_shop, no_secret, req, 1700000000);
    ORDERFLOW_FUZZ_CHECK(unsigned_verdict.status == 401 && unsigned_verdict.events.empty());

    if (verdict.hook) {
        const auto& hook = *verdict.hook;
        auto again = tikapi::parse_webhook(envelope_text(hook));
        ORDERFLOW_FUZZ_CHECK(std::holds_alternative<tikapi::webhook_event>(again));
        const auto& h2 = std::get<tikapi::webhook_event>(again);
        ORDERFLOW_FUZZ_CHECK(h2.type == hook.type && h2.notification_id == hook.notification_id &&
                             h2.shop_id == hook.shop_id && h2.timestamp == hook.timestamp && h2.data == hook.data);
        // What the pipeline then reads from the event's data.
        (void)daemon::message_view(hook.data);
        (void)tikapi::topic_name(hook.type);
    }
    return 0;
}
