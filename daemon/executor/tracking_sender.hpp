// update_tracking: ships the package with the warehouse's carrier and
// tracking number (Ship Package, self_shipment), or corrects the shipping
// info of one that has shipped (Update Package Shipping Info). Guards: never
// while the order is ON_HOLD or UNPAID (deferred until it is not), never for
// a cancelled order (skipped), never past TikTok's 72 hours after shipping
// (skipped, for staff). Both calls are safe to repeat (a second ship is
// refused with 11006021, the same info twice changes nothing), so an outcome
// that is not known is simply tried again. The carrier name is resolved to
// a shipping provider of the order's delivery option (resolve_provider in
// tracking.hpp); the provider lists are cached for an hour.
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "tikapi/result.hpp"

#include <nlohmann/json.hpp>

#include <boost/asio/awaitable.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class order_source;
class outcomes;
class rules_in_force;
class token_keeper;

class tracking_sender {
public:
    tracking_sender(context ctx, const rules_in_force& in_force, tikapi::client& api, token_keeper& tokens, outcomes& out,
                    order_source& orders);

    boost::asio::awaitable<void> send(const storage::action_row& a);

private:
    using provider_names = std::vector<std::pair<std::string, std::string>>;   // id, name
    boost::asio::awaitable<std::optional<provider_names>> shipping_providers(const std::string& delivery_option_id,
                                                                             const orderflow::secret& token, tikapi::api_error& error);
    void finish(const storage::action_row& a, const std::string& call, const nlohmann::json& result);

    context ctx_;
    const rules_in_force& in_force_;
    tikapi::client& api_;
    token_keeper& tokens_;
    outcomes& out_;
    order_source& orders_;
    struct provider_list {
        std::int64_t fetched_at = 0;
        provider_names providers;
    };
    std::map<std::string, provider_list> providers_by_option_;
};

}  // namespace orderflow::daemon
