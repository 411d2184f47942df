// Turning what arrives (webhooks now; polls and the tracking feed later)
// into inbox events, and TikTok models into the views the rules see.
// Pure functions: no I/O, so the mapping is unit-tested on its own.
#pragma once

#include "rules/engine.hpp"
#include "storage/store.hpp"
#include "tikapi/models.hpp"
#include "tikapi/webhook.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon {

// Webhook topic number -> rule event name (docs/rules.md, "Events"); "unknown"
// for topics orderflow does not act on (they are stored and counted).
std::string_view event_for_topic(int type);

// The inbox row for a verified webhook. The dedupe key is the
// tts_notification_id when present, otherwise "h:" and a hash of type and
// data (docs/tiktok-shop-api.md §5: the field is optional on some topics),
// keyed with `key` (storage/idempotency.hpp: the data names the order; a
// plain hash without a key).
storage::new_event inbox_event_from_webhook(const tikapi::webhook_event& w, std::string_view raw_body,
                                            std::int64_t now, std::span<const unsigned char> key = {});

// Every inbox row of a verified webhook, all to be committed together: one
// row (inbox_event_from_webhook), except that a PACKAGE_UPDATE (type 4)
// naming packages fans out into one row per (package, order) pair
// (daemon/packages.hpp, package_events_from_webhook).
std::vector<storage::new_event> inbox_events_from_webhook(const tikapi::webhook_event& w, std::string_view raw_body,
                                                          std::int64_t now, std::span<const unsigned char> key = {});

// CANCEL (the webhook's spelling) -> CANCELLED; other statuses unchanged.
std::string normalize_status(std::string_view status);

// The change a webhook reports, shared with the poller so that a webhook and
// a poll that see the same change make one event: "order:ID:STATUS" for an
// order status change (type 1), "msg:ID" for a new message (type 14),
// "cancel:CANCEL_ID:CANCEL_STATUS" (type 11), "return:RETURN_ID:RETURN_STATUS"
// (type 12), "" for topics the poller cannot see.
std::string change_key_of(int type, const nlohmann::json& data);

// The inbox row for an order the poller found changed: an
// order.status_changed event shaped like a type 1 webhook, source "poll".
storage::new_event inbox_event_from_polled_order(const tikapi::order& o, std::int64_t now);

// The inbox row for a buyer message the poller found: message.received,
// shaped like a type 14 webhook, source "poll".
storage::new_event inbox_event_from_polled_message(const tikapi::cs_message& m, const std::string& conversation_id,
                                                   std::int64_t now);

// The inbox rows for a cancellation or a return the poller found:
// order.cancellation_changed / order.return_changed, shaped like a type 11 /
// type 12 webhook (with update_time besides), source "poll".
storage::new_event inbox_event_from_polled_cancellation(const tikapi::cancellation& c, std::int64_t now);
storage::new_event inbox_event_from_polled_return(const tikapi::return_order& r, std::int64_t now);

// The order as rules see it (rules/fields.hpp lists the fields).
nlohmann::json order_view(const tikapi::order& o);

// message.* for a NEW_MESSAGE webhook's data; the text is decoded from the
// JSON-string `content`. Returns null when data is not a message.
nlohmann::json message_view(const nlohmann::json& data);

// True for events whose rules need the order fetched first.
bool needs_order(std::string_view event);

// What the rules saw for an event, as stored with it (inbox.context) for
// `orderflowctl replay`, and back: the pipeline writes it, replay reads it,
// so both agree on the form. Fields missing when reading take the
// defaults given (an older row, or a purged one).
nlohmann::json context_json(const rules::context& ctx);
rules::context context_from_json(const nlohmann::json& stored, const storage::event_row& e, const std::string& default_locale);

}  // namespace orderflow::daemon
