// Packages as orderflow sees them: an order may ship in several packages
// (split) and one package may carry several orders of a buyer (combined)
// (docs/tiktok-shop-api.md, "Packages"). This file turns TikTok's
// PACKAGE_UPDATE webhook (type 4) into one inbox event per (package, order)
// pair, builds what rules see of a package event and of an order's packages,
// and tells the tracking sender which of an order's packages have shipped.
// Pure functions: no I/O, so each is unit-tested on its own.
#pragma once

#include "storage/store.hpp"
#include "tikapi/models.hpp"
#include "tikapi/webhook.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orderflow::daemon {

// The (package id, order id) pairs of a type 4 webhook's
// data.package_list[]{package_id, order_id_list[]}, in the order given,
// each pair once. Ids may be strings or integers; malformed entries are
// skipped. Empty when data has no usable package_list.
std::vector<std::pair<std::string, std::string>> package_order_pairs(const nlohmann::json& data);

// The inbox rows of a PACKAGE_UPDATE webhook: one per (package, order)
// pair, so that each evaluation has one order and one package (and
// once_per "package" means what it says). Each row's dedupe key is
// `base_key#PACKAGE#ORDER`; its payload is the webhook's envelope with
// data.package_id and data.order_id set to the pair, and data.package_list
// holding only that package's entry (its order ids; the rest of data kept).
// Empty when the webhook names no pair: the caller then stores it as one
// row, as for any topic. A webhook naming more than max_package_pairs pairs
// is refused before this (judge_webhook: 400).
inline constexpr std::size_t max_package_pairs = 500;
std::vector<storage::new_event> package_events_from_webhook(const tikapi::webhook_event& w, const std::string& base_key,
                                                            std::int64_t now);

// What a package.updated evaluation adds to event.*: sc_type, role_type
// (empty strings when absent) and package_orders (the order ids the
// webhook lists for data.package_id: several for a combined package).
// package_status is added by package_status_of once the order is known.
nlohmann::json package_event_fields(const nlohmann::json& data);

// The status of one package of an order, from its line items'
// package_status (the first non-empty one); "" when no line item names it.
std::string package_status_of(const tikapi::order& o, std::string_view package_id);

// For a package.updated event: event_data.package_status, the status of
// event_data.package_id in the order as fetched. Nothing for other events.
void add_package_status(nlohmann::json& event_data, std::string_view event, const tikapi::order& o);

// order.packages: one object per package of the order ({id, status,
// tracking_number, shipping_provider}), from the line items grouped by
// package_id and the order's packages[] (a package with no line item
// listed last, its fields empty), in the order first seen.
nlohmann::json packages_view(const tikapi::order& o);

// Whether TikTok shows the package as shipped: one of its line items has a
// tracking number or the package status FULFILLING or COMPLETED. nullopt
// when no line item names the package (the order's status must decide).
std::optional<bool> package_shipped(const tikapi::order& o, std::string_view package_id);

// For the warehouse, when a feed line names only an order that has several
// packages: each package with what it has ("1152... shipped with JP123",
// "1153... not shipped"), comma separated.
std::string describe_packages(const tikapi::order& o);

// The package that already has `tracking_number`, if exactly one does (a
// feed line repeated without its package_id is then no guess).
std::optional<std::string> package_with_tracking(const tikapi::order& o, std::string_view tracking_number);

}  // namespace orderflow::daemon
