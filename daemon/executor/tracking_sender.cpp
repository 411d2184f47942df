// See tracking_sender.hpp.
#include "daemon/executor/tracking_sender.hpp"

#include "common/log.hpp"
#include "daemon/durable_commits.hpp"
#include "daemon/events.hpp"
#include "daemon/executor/outcomes.hpp"
#include "daemon/order_source.hpp"
#include "daemon/packages.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/tokens.hpp"
#include "daemon/tracking.hpp"
#include "tikapi/client.hpp"

#include <algorithm>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

tracking_sender::tracking_sender(context ctx, const rules_in_force& in_force, tikapi::client& api, token_keeper& tokens, outcomes& out,
                                 order_source& orders)
    : ctx_(std::move(ctx)), in_force_(in_force), api_(api), tokens_(tokens), out_(out), orders_(orders) {}

asio::awaitable<std::optional<tracking_sender::provider_names>> tracking_sender::shipping_providers(
    const std::string& delivery_option_id, const orderflow::secret& token, tikapi::api_error& error) {
    auto cached = providers_by_option_.find(delivery_option_id);
    if (cached != providers_by_option_.end() && ctx_.clock() - cached->second.fetched_at < 3600) co_return cached->second.providers;
    auto r = co_await api_.get_shipping_providers(delivery_option_id, token);
    if (!r) {
        error = r.error();
        co_return std::nullopt;
    }
    provider_list list{ctx_.clock(), {}};
    for (const auto& p : r.value()) list.providers.emplace_back(p.id, p.name);
    providers_by_option_[delivery_option_id] = list;
    co_return list.providers;
}

namespace {
// TikTok ships the order itself (its delivery option is fulfilled by TikTok):
// the seller has nothing to ship and no tracking number to give. Get
// Shipping Providers says so with 21008117, shipping with 21008025.
constexpr const char* tiktok_ships = "TikTok ships this order itself (shipping_type TIKTOK); the warehouse's tracking number is not sent";
bool tiktok_ships_refusal(const tikapi::api_error& e) {
    return e.kind == tikapi::error_kind::api && (e.code == 21008117 || e.code == 21008025);
}

bool has_shipped(const std::string& status) {
    return status == "AWAITING_COLLECTION" || status == "IN_TRANSIT" || status == "DELIVERED" || status == "COMPLETED" ||
           status == "PARTIALLY_SHIPPING";
}

}  // namespace

void tracking_sender::finish(const storage::action_row& a, const std::string& call, const json& result) {
    ctx_.db.transaction([&] {
        ctx_.store.set_action_state(a.id, "done", "", result.dump(), ctx_.clock());
        json detail = result;
        detail["action_id"] = a.id;
        detail["rule_id"] = a.rule_id;
        ctx_.store.audit(ctx_.clock(), "orderflowd", call, a.order_id, detail);
    });
    log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"call", call}});
}

asio::awaitable<void> tracking_sender::send(const storage::action_row& a) {
    json p = json::parse(a.payload, nullptr, false);
    if (!p.is_object()) p = json::object();
    const std::string order_id = p.value("order_id", a.order_id);
    const std::string number = p.value("tracking_number", "");
    const std::string carrier = p.value("carrier", "");
    std::string package_id = p.value("package_id", "");
    if (order_id.empty() || number.empty() || carrier.empty()) {
        out_.fail(a, "planned tracking update has no order, carrier or tracking number");
        co_return;
    }
    const orderflow::secret* token = co_await tokens_.access();
    if (!token) { out_.defer(a, tokens_.why_no_token()); co_return; }

    // The order as it is now: status, packages, what shipped.
    auto fetched = co_await orders_.fetch(order_id);
    if (!fetched.order) {
        if (fetched.retryable) out_.defer(a, fetched.error);
        else out_.fail(a, fetched.error);
        co_return;
    }
    const tikapi::order& o = *fetched.order;
    const std::string status = normalize_status(o.status);
    if (status == "CANCELLED") {
        out_.skip(a, "the order is cancelled; nothing is shipped", "tracking_for_cancelled_order", "warning");
        co_return;
    }
    if (o.shipping_type == "TIKTOK") {
        out_.skip(a, tiktok_ships, "tracking_for_tiktok_shipped_order", "warning");
        co_return;
    }
    if (status == "UNPAID" || status == "ON_HOLD" || o.is_on_hold) {
        // TikTok refuses fulfilment in the buyer's remorse window (21011044); it ends by itself.
        out_.defer(a, "the order is " + status + ": no fulfilment until it is AWAITING_SHIPMENT");
        co_return;
    }
    // TikTok names no package before shipping for local sellers in the US
    // and UK: such an order is shipped by its id (Mark Package As Shipped).
    const bool by_order = package_id.empty() && o.package_ids.empty() && !has_shipped(status);
    if (package_id.empty() && !by_order) {
        // An order in several packages: never guess which one the line
        // means. The same number again names the package it is already on.
        auto same = o.package_ids.size() > 1 ? package_with_tracking(o, number) : std::nullopt;
        if (same) {
            package_id = *same;
        } else if (o.package_ids.size() != 1) {
            out_.fail(a, o.package_ids.empty()
                             ? "the order has no package yet; the warehouse must name package_id"
                             : "the order ships in " + std::to_string(o.package_ids.size()) + " packages (" + describe_packages(o) +
                                   "); the feed line must name package_id (a package_id column in the CSV, or \"package_id\" in the POST)");
            co_return;
        } else {
            package_id = o.package_ids.front();
        }
    } else if (!o.package_ids.empty() &&
               std::find(o.package_ids.begin(), o.package_ids.end(), package_id) == o.package_ids.end()) {
        out_.fail(a, "package " + package_id + " is not one of the order's packages");
        co_return;
    }

    tikapi::api_error providers_error;
    auto providers = co_await shipping_providers(o.delivery_option_id, *token, providers_error);
    if (!providers) {
        if (tiktok_ships_refusal(providers_error)) {
            out_.skip(a, std::string(tiktok_ships) + ": " + providers_error.describe(), "tracking_for_tiktok_shipped_order", "warning");
            co_return;
        }
        const std::string why = "shipping providers: " + providers_error.describe();
        if (providers_error.token_expired()) co_await tokens_.refresh_after_rejection();
        // Nothing was shipped, so trying again is safe: deferred while it may
        // help (a refusal that will not change, such as an unknown delivery
        // option, fails for staff at once instead of for 24 hours).
        if (providers_error.kind != tikapi::error_kind::api || providers_error.retryable() || providers_error.token_expired())
            out_.defer(a, why);
        else
            out_.fail(a, why);
        co_return;
    }
    auto provider_id = resolve_provider(carrier, in_force_.cfg().tracking.carriers, *providers);
    if (!provider_id) {
        std::string names;
        for (const auto& pr : *providers) names += (names.empty() ? "" : ", ") + pr.second;
        out_.fail(a, "carrier \"" + carrier + "\" is not a shipping provider of this order's delivery option (" + names +
                    "); map it in tracking.carriers");
        co_return;
    }

    // What TikTok has for the package now.
    std::string current_number = o.tracking_number, current_provider = o.shipping_provider_id;
    for (const auto& li : o.line_items)
        if (li.package_id == package_id && !li.tracking_number.empty()) {
            current_number = li.tracking_number;
            current_provider = li.shipping_provider_id;
        }
    json result{{"package_id", package_id}, {"tracking_number", number}, {"shipping_provider_id", *provider_id}, {"carrier", carrier}};
    // Shipped or not is per package (an order PARTIALLY_SHIPPING has both);
    // the order's status decides only when no line item names the package.
    const bool shipped = package_shipped(o, package_id).value_or(has_shipped(status));
    if (shipped && current_number == number && (current_provider.empty() || current_provider == *provider_id)) {
        result["note"] = "TikTok already has this tracking number";
        ctx_.store.begin_attempt(a.id, ctx_.clock());   // done is reached only through sending (the state machine)
        finish(a, "tracking.already_current", result);
        co_return;
    }
    if (shipped && o.rts_time > 0 && ctx_.clock() - o.rts_time > 72 * 3600) {
        out_.skip(a, "shipped more than 72 hours ago, when TikTok no longer takes shipping info updates; correct it in Seller Center",
             "tracking_update_too_late", "warning");
        co_return;
    }

    // 'sending' on stable storage before the call (durable_commits.hpp).
    ctx_.db.transaction([&] { ctx_.store.begin_attempt(a.id, ctx_.clock()); }, storage::database::durability::process_crash);
    co_await ctx_.durable.durable();
    const char* call = by_order ? "mark_package_shipped" : shipped ? "update_package_shipping_info" : "ship_package";
    // co_await only as a whole statement (GCC 12).
    tikapi::result<tikapi::nothing> r = tikapi::api_error{};
    if (by_order) {
        auto marked = co_await api_.mark_package_shipped(order_id, number, *provider_id, *token);
        if (marked) {
            result["package_id"] = marked.value();
            r = tikapi::nothing{};
        } else {
            r = marked.error();
        }
    } else if (shipped) {
        r = co_await api_.update_package_shipping_info(package_id, number, *provider_id, *token);
    } else {
        r = co_await api_.ship_package(package_id, number, *provider_id, *token);
    }
    if (r) {
        finish(a, call, result);
        co_return;
    }
    const auto& err = r.error();
    if (err.token_expired()) {
        co_await tokens_.refresh_after_rejection();
        out_.defer(a, err.describe());
        co_return;
    }
    if (err.kind == tikapi::error_kind::api && (err.code == 11006021 || err.code == 21008099)) {
        // Shipped meanwhile (or our earlier attempt did ship it): the next
        // attempt looks again and updates the info if it differs.
        out_.defer(a, "TikTok says the package has shipped already; checking its tracking number next");
        co_return;
    }
    if (tiktok_ships_refusal(err)) {
        out_.skip(a, std::string(tiktok_ships) + ": " + err.describe(), "tracking_for_tiktok_shipped_order", "warning");
        co_return;
    }
    if (err.kind == tikapi::error_kind::api && err.code == 21011044) {
        out_.defer(a, "TikTok says the order is on hold: " + err.describe());
        co_return;
    }
    if (err.kind == tikapi::error_kind::api && (err.code == 21011049 || err.code == 21011050 || err.code == 21011051 || err.code == 21011052)) {
        out_.skip(a, "TikTok no longer takes shipping info updates for this package: " + err.describe(), "tracking_update_too_late", "warning");
        co_return;
    }
    // The answer never came, or came unreadable (a decode error is about an
    // answer): TikTok may have acted, and repeating is safe.
    const bool unknown = err.request_sent && (err.kind == tikapi::error_kind::timeout || err.kind == tikapi::error_kind::connect ||
                                              err.kind == tikapi::error_kind::protocol || err.kind == tikapi::error_kind::decode);
    if ((unknown || err.retryable()) && a.attempts + 1 < in_force_.cfg().executor.max_send_attempts) {
        out_.defer(a, (unknown ? "outcome unknown, tried again (safe to repeat): " : "") + err.describe());
        co_return;
    }
    out_.fail(a, std::string(call) + ": " + err.describe());
}

}  // namespace orderflow::daemon
