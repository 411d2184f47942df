// Fuzzes the typed models of TikTok's answers (tikapi/models.hpp): the
// input is the HTTP body of an answer. It goes through the envelope parse
// the client uses (parse_envelope), and its `data` through every decode
// function, as a page and as a single object; what decodes is then turned
// into what the daemon builds from it (order_view, the poller's events).
// The input is also read as the token vault's text (parse_tokens).
//
// Invariants: nothing throws or crashes; a failed decode says why; tokens
// are the one model with an encoder: parse -> serialize -> parse gives the
// same tokens, and serializing them again gives the same text.
#include "daemon/events.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tikapi/client.hpp"
#include "tikapi/http.hpp"
#include "tikapi/models.hpp"

namespace {

using namespace orderflow;

// Runs `use` on what decoded; a failed decode must say why.
template <class T, class Use>
void when_decoded(const tikapi::result<T>& r, Use use) {
    if (r.ok()) use(r.value());
    else ORDERFLOW_FUZZ_CHECK(!r.error().message.empty());
}
constexpr auto ignore = [](const auto&) {};

void order_uses(const tikapi::order& o) {
    ORDERFLOW_FUZZ_CHECK(!o.id.empty());
    const auto view = daemon::order_view(o);
    ORDERFLOW_FUZZ_CHECK(view["item_count"] == static_cast<int>(o.line_items.size()));
    (void)daemon::inbox_event_from_polled_order(o, 1700000000);
}

void message_uses(const tikapi::cs_message& m) {
    ORDERFLOW_FUZZ_CHECK(!m.id.empty());
    auto e = daemon::inbox_event_from_polled_message(m, "conversation", 1700000000);
    ORDERFLOW_FUZZ_CHECK(e.change_key == "msg:" + m.id);
}

bool same_tokens(const tikapi::token_set& a, const tikapi::token_set& b) {
    return a.access_token.reveal() == b.access_token.reveal() && a.refresh_token.reveal() == b.refresh_token.reveal() &&
           a.access_expires_at == b.access_expires_at && a.refresh_expires_at == b.refresh_expires_at &&
           a.obtained_at == b.obtained_at && a.open_id == b.open_id && a.seller_name == b.seller_name &&
           a.seller_base_region == b.seller_base_region;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_logs();
    const auto text = fuzz::as_text(data, size);

    // A failure status takes the other branches of the envelope check.
    (void)tikapi::parse_envelope(tikapi::http_response{500, {}, std::string(text)}, "/fuzz");
    auto envelope = tikapi::parse_envelope(tikapi::http_response{200, {}, std::string(text)}, "/fuzz");
    when_decoded(envelope, [](const nlohmann::json& d) {
        when_decoded(tikapi::parse_order_page(d), [](const tikapi::order_page& page) {
            for (const auto& o : page.orders) order_uses(o);
        });
        when_decoded(tikapi::parse_order(d), order_uses);
        when_decoded(tikapi::parse_package(d), [](const tikapi::package& p) { ORDERFLOW_FUZZ_CHECK(!p.id.empty()); });
        when_decoded(tikapi::parse_package_page(d), ignore);
        when_decoded(tikapi::parse_shipping_providers(d), ignore);
        when_decoded(tikapi::parse_tracking(d), ignore);
        when_decoded(tikapi::parse_message(d), message_uses);
        when_decoded(tikapi::parse_conversation(d), [](const tikapi::conversation& c) {
            ORDERFLOW_FUZZ_CHECK(!c.id.empty());
            (void)c.buyer_user_id();
            if (c.latest_message) message_uses(*c.latest_message);
        });
        when_decoded(tikapi::parse_conversation_page(d), [](const tikapi::conversation_page& page) {
            for (const auto& c : page.conversations) (void)c.buyer_user_id();
        });
        when_decoded(tikapi::parse_message_page(d), [](const tikapi::message_page& page) {
            for (const auto& m : page.messages) message_uses(m);
        });
        when_decoded(tikapi::parse_authorized_shops(d), ignore);
        when_decoded(tikapi::parse_webhooks(d), ignore);
        when_decoded(tikapi::parse_token_data(d), [](const tikapi::token_set& t) { ORDERFLOW_FUZZ_CHECK(!t.access_token.empty()); });
    });

    if (auto tokens = tikapi::parse_tokens(orderflow::secret(std::string(text)))) {
        const auto written = tikapi::serialize_tokens(*tokens);
        auto again = tikapi::parse_tokens(written);
        ORDERFLOW_FUZZ_CHECK(again.has_value());
        ORDERFLOW_FUZZ_CHECK(same_tokens(*tokens, *again));
        ORDERFLOW_FUZZ_CHECK(tikapi::serialize_tokens(*again).reveal() == written.reveal());
    }
    return 0;
}
