// The /control/ API: unsigned JSON endpoints with which tests and the demo
// play the buyer and the platform (create orders, move them through the
// state machine, post buyer messages, authorize, expire tokens, inject
// faults) and read what the shop saw (messages, calls, webhook deliveries).
// Plain JSON in and out; failures are {"error": "..."} with a 4xx status.
// It is not part of TikTok's API and is never recorded in the call log.
#include "tikapi/sandbox/shop.hpp"

#include "tikapi/sandbox/detail/util.hpp"

#include <algorithm>
#include <set>

namespace orderflow::sandbox {

using nlohmann::json;
using tikapi::http_response;

namespace {

http_response reply(int status, const json& body) { return http_response::json(status, body.dump()); }
http_response error(int status, std::string text) { return reply(status, {{"error", std::move(text)}}); }

std::optional<std::string> string_field(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

// {"prefecture","city","address_line1","address_detail","postal_code"}, each optional.
std::optional<std::string> read_address(const json& j, address& a) {
    for (auto [key, field] : {std::pair{"prefecture", &a.prefecture}, std::pair{"city", &a.city},
                              std::pair{"address_line1", &a.line1}, std::pair{"address_detail", &a.detail},
                              std::pair{"postal_code", &a.postal_code}}) {
        auto it = j.find(key);
        if (it == j.end()) continue;
        if (!it->is_string()) return std::string(key) + " must be a string";
        *field = it->get<std::string>();
    }
    return std::nullopt;
}

// A share from 0 to 1, an integer of at least 0, or a bool: nullopt when the
// field is absent, an error text when it is malformed.
std::optional<std::string> read_share(const json& j, const char* name, double& out) {
    auto it = j.find(name);
    if (it == j.end()) return std::nullopt;
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1)
        return std::string(name) + " must be a number from 0 to 1";
    out = it->get<double>();
    return std::nullopt;
}

std::optional<std::string> read_count(const json& j, const char* name, std::int64_t& out, std::int64_t min = 0) {
    auto it = j.find(name);
    if (it == j.end()) return std::nullopt;
    if (!it->is_number_integer() || it->get<std::int64_t>() < min)
        return std::string(name) + " must be an integer of at least " + std::to_string(min);
    out = it->get<std::int64_t>();
    return std::nullopt;
}

}  // namespace

tikapi::http_response shop::control(const tikapi::http_request& request) {
    const std::string path = request.path();
    const auto query = request.query();
    const auto seg = detail::split_path(path);   // seg[0] == "control"
    const std::string& method = request.method;

    json body = json::object();
    if ((method == "POST" || method == "DELETE") && request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
        body = json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return error(400, "the request body must be a JSON object");
    }
    // Split and combine (packages.cpp).
    if (auto answered = package_control(method, seg, body)) return std::move(*answered);
    auto is = [&](std::string_view m, std::initializer_list<std::string_view> rest) {
        if (m != method || seg.size() != rest.size() + 1) return false;
        std::size_t i = 1;
        for (auto part : rest) {
            if (part != "*" && part != seg[i]) return false;
            if (part == "*" && seg[i].empty()) return false;
            ++i;
        }
        return true;
    };

    // Cancellations and returns, by hand and as a story (after_sales.cpp).
    if (auto answered = after_sales_control(method, seg, body)) return std::move(*answered);

    // POST /control/orders {"buyer_name", "user_id"?, "line_items": [...], "buyer_message"?, "status"?}
    if (is("POST", {"orders"})) {
        order o;
        o.buyer_name = string_field(body, "buyer_name").value_or("");
        if (o.buyer_name.empty()) return error(400, "buyer_name is required");
        o.user_id = string_field(body, "user_id").value_or("");
        o.buyer_message = string_field(body, "buyer_message").value_or("");
        o.seller_note = string_field(body, "seller_note").value_or("");
        o.status = string_field(body, "status").value_or("UNPAID");
        if (!is_order_status(o.status)) return error(400, "unknown order status '" + o.status + "'");
        o.delivery_option_id = string_field(body, "delivery_option_id").value_or("");
        if (auto a = body.find("address"); a != body.end()) {
            if (!a->is_object()) return error(400, "address must be an object");
            if (auto problem = read_address(*a, o.recipient)) return error(400, *problem);
        }
        auto items = body.find("line_items");
        if (items == body.end() || !items->is_array() || items->empty())
            return error(400, "line_items must be a non-empty array");
        for (const auto& item : *items) {
            if (!item.is_object()) return error(400, "each line item must be an object");
            line_item li;
            li.seller_sku = string_field(item, "seller_sku").value_or("");
            li.product_name = string_field(item, "product_name").value_or("");
            li.sku_name = string_field(item, "sku_name").value_or("Default");
            li.sale_price = string_field(item, "sale_price").value_or("");
            if (li.seller_sku.empty() || li.product_name.empty())
                return error(400, "each line item needs seller_sku and product_name");
            if (!detail::parse_amount(li.sale_price))
                return error(400, "sale_price must be an amount written as a string, e.g. \"4980\"");
            // One line item per unit (docs/tiktok-shop-api.md §6); "quantity"
            // here is a convenience.
            auto quantity = item.find("quantity");
            std::int64_t n = 1;
            if (quantity != item.end()) {
                if (!quantity->is_number_integer() || quantity->get<std::int64_t>() < 1 ||
                    quantity->get<std::int64_t>() > 100)
                    return error(400, "quantity must be an integer from 1 to 100");
                n = quantity->get<std::int64_t>();
            }
            for (std::int64_t i = 0; i < n; ++i) o.line_items.push_back(li);
        }
        const order& stored = add_order(std::move(o));
        return reply(200, order_json(stored));
    }

    if (is("GET", {"orders"})) {
        json list = json::array();
        for (const auto& o : orders_) list.push_back(order_json(o));
        return reply(200, {{"orders", std::move(list)}});
    }

    if (is("GET", {"orders", "*"})) {
        auto it = order_index_.find(seg[2]);
        if (it == order_index_.end()) return error(404, "no order " + seg[2]);
        return reply(200, order_json(orders_[it->second]));
    }

    // POST /control/orders/{id}/status {"status", "cancel_reason"?}
    if (is("POST", {"orders", "*", "status"})) {
        auto it = order_index_.find(seg[2]);
        if (it == order_index_.end()) return error(404, "no order " + seg[2]);
        auto status = string_field(body, "status");
        if (!status) return error(400, "status is required");
        if (!is_order_status(*status)) return error(400, "unknown order status '" + *status + "'");
        order& o = orders_[it->second];
        if (*status == "CANCELLED") {
            o.cancel_reason = string_field(body, "cancel_reason").value_or("Buyer cancelled");
            o.cancellation_initiator = string_field(body, "cancellation_initiator").value_or("BUYER");
        }
        if (auto problem = change_status(o, *status)) return error(409, *problem);
        return reply(200, order_json(o));
    }

    // POST /control/messages {"order_id" | "user_id", "text" | "order_card"}: the
    // buyer writes, or shares an order's card (type ORDER_CARD, content
    // {"order_id": ...}) in the conversation.
    if (is("POST", {"messages"})) {
        auto text = string_field(body, "text");
        auto card = string_field(body, "order_card");
        if (card && !card->empty() && order_index_.find(*card) == order_index_.end()) return error(404, "no order " + *card);
        if ((!text || text->empty()) && (!card || card->empty())) return error(400, "text or order_card is required");
        std::string user_id;
        if (auto order_id = string_field(body, "order_id")) {
            auto it = order_index_.find(*order_id);
            if (it == order_index_.end()) return error(404, "no order " + *order_id);
            user_id = orders_[it->second].user_id;
        } else if (auto user = string_field(body, "user_id"); user && !user->empty()) {
            user_id = *user;
        } else {
            return error(400, "order_id or user_id is required");
        }
        bool created = false;
        conversation& c = open_conversation(user_id, created);
        const bool is_card = card && !card->empty();
        const message& m = is_card ? add_message(c, "BUYER", json{{"order_id", *card}}.dump(), "ORDER_CARD")
                                   : add_message(c, "BUYER", json{{"content", *text}}.dump());
        return reply(200, {{"message_id", m.id},
                           {"conversation_id", c.id},
                           {"user_id", user_id},
                           {"conversation_created", created},
                           {"create_time", m.create_time}});
    }

    // GET /control/messages[?sender=SHOP][&user_id=..]: oldest first.
    if (is("GET", {"messages"})) {
        auto sender = query.find("sender");
        auto user = query.find("user_id");
        json list = json::array();
        for (const auto& c : conversations_) {
            if (user != query.end() && c.buyer_user_id != user->second) continue;
            for (const auto& m : c.messages) {
                if (sender != query.end() && m.role != sender->second) continue;
                json inner = json::parse(m.content, nullptr, false);
                std::string text;
                if (inner.is_object() && inner.contains("content") && inner["content"].is_string())
                    text = inner["content"].get<std::string>();
                list.push_back({{"id", m.id},
                                {"conversation_id", c.id},
                                {"user_id", c.buyer_user_id},
                                {"sender", m.role},
                                {"type", m.type},
                                {"text", text},
                                {"content", m.content},
                                {"create_time", m.create_time},
                                {"index", std::to_string(m.index)}});
            }
        }
        std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) {
            return std::stoll(a["index"].get<std::string>()) < std::stoll(b["index"].get<std::string>());
        });
        return reply(200, {{"messages", std::move(list)}});
    }

    // GET /control/calls[?path=prefix]
    if (is("GET", {"calls"})) {
        auto prefix = query.find("path");
        json list = json::array();
        for (const auto& c : calls_) {
            if (prefix != query.end() && c.path.compare(0, prefix->second.size(), prefix->second) != 0) continue;
            list.push_back({{"seq", c.seq},
                            {"time", c.time},
                            {"method", c.method},
                            {"path", c.path},
                            {"query", c.query},
                            {"body", c.body},
                            {"http_status", c.http_status},
                            {"code", c.has_code ? json(c.code) : json(nullptr)},
                            {"api", c.api},
                            {"fault", c.fault.empty() ? json(nullptr) : json(c.fault)}});
        }
        return reply(200, {{"calls", std::move(list)}});
    }

    if (is("GET", {"webhooks"})) {
        json list = json::array();
        for (const auto& d : deliveries_) list.push_back(delivery_json(d));
        json target = webhook_target_ ? json(options_.webhook_url) : json(nullptr);
        json subs = json::object();
        for (const auto& [event_type, sub] : subscriptions_) subs[event_type] = sub.address;
        return reply(200, {{"webhooks", std::move(list)}, {"target", std::move(target)}, {"subscriptions", std::move(subs)}});
    }

    // POST /control/webhook {"url"}
    if (is("POST", {"webhook"})) {
        auto url = string_field(body, "url");
        if (!url) return error(400, "url is required");
        if (auto problem = set_webhook_url(*url)) return error(400, *problem);
        return reply(200, {{"url", *url}});
    }

    // POST /control/webhooks/redeliver {"notification_id"?}: the same payload again.
    if (is("POST", {"webhooks", "redeliver"})) {
        auto wanted = string_field(body, "notification_id");
        const delivery* source = nullptr;
        for (auto it = deliveries_.rbegin(); it != deliveries_.rend(); ++it) {
            if (!wanted || it->notification_id == *wanted) {
                source = &*it;
                break;
            }
        }
        if (!source) return error(404, wanted ? "no notification " + *wanted : "no webhook has been sent yet");
        delivery copy;
        copy.notification_id = source->notification_id;
        copy.type = source->type;
        copy.order_id = source->order_id;
        copy.body = source->body;
        copy.signature = source->signature;
        copy.redelivery = true;
        queue_delivery(std::move(copy), std::chrono::milliseconds(0));
        return reply(200, delivery_json(deliveries_.back()));
    }

    // POST /control/authorize {"state"?}
    if (is("POST", {"authorize"})) {
        return reply(200, {{"code", issue_auth_code()}, {"state", string_field(body, "state").value_or("")}});
    }

    if (is("POST", {"tokens", "expire"})) return reply(200, {{"expired", expire_access_tokens()}});

    // POST /control/faults {"path": prefix, "code"?, "http_status"?, "message"?, "count"?}:
    // the next `count` Open API calls under the path fail with that envelope.
    if (is("POST", {"faults"})) {
        fault f;
        f.path_prefix = string_field(body, "path").value_or("");
        if (f.path_prefix.empty() || f.path_prefix.front() != '/') return error(400, "path must be a path prefix such as /order/");
        auto int_field = [&](const char* name, std::int64_t fallback) -> std::optional<std::int64_t> {
            auto it = body.find(name);
            if (it == body.end()) return fallback;
            if (!it->is_number_integer()) return std::nullopt;
            return it->get<std::int64_t>();
        };
        auto code = int_field("code", 36009003);
        auto status = int_field("http_status", 500);
        auto count = int_field("count", 1);
        if (!code || !status || !count || *status < 100 || *status > 599 || *count < 1)
            return error(400, "code, http_status (100-599) and count (>= 1) must be integers");
        f.code = *code;
        f.http_status = static_cast<int>(*status);
        f.remaining = static_cast<int>(*count);
        f.message = string_field(body, "message").value_or("Internal error, please retry");
        faults_.push_back(f);
        return reply(200, {{"path", f.path_prefix}, {"code", f.code}, {"http_status", f.http_status}, {"count", f.remaining}});
    }


    // --- platform-side order moves and the notifications they bring ---------------
    // POST /control/orders/{id}/{collect|deliver|complete}
    if (method == "POST" && seg.size() == 4 && seg[1] == "orders" &&
        (seg[3] == "collect" || seg[3] == "deliver" || seg[3] == "complete")) {
        auto it = order_index_.find(seg[2]);
        if (it == order_index_.end()) return error(404, "no order " + seg[2]);
        order& o = orders_[it->second];
        const std::string to = seg[3] == "collect" ? "IN_TRANSIT" : seg[3] == "deliver" ? "DELIVERED" : "COMPLETED";
        if (auto problem = change_status(o, to)) return error(409, *problem);
        return reply(200, order_json(o));
    }

    // --- deadlines and the customer-service quota ---------------------------------
    // POST /control/orders/{id}/deadlines {"rts_sla_time"?: unix s, "tts_sla_time"?, "shipping_due_time"?,
    // "collection_due_time"?, "delivery_due_time"?}: replaces those deadlines (0 removes one, null
    // restores the computed one); no notification, as TikTok sends none for a moved deadline.
    if (is("POST", {"orders", "*", "deadlines"})) {
        auto it = order_index_.find(seg[2]);
        if (it == order_index_.end()) return error(404, "no order " + seg[2]);
        order& o = orders_[it->second];
        auto overrides = o.deadline_overrides;
        for (const auto& [key, value] : body.items()) {
            const auto& names = deadline_names();
            if (std::find(names.begin(), names.end(), key) == names.end())
                return error(400, "unknown deadline '" + key + "'; known: rts_sla_time, tts_sla_time, shipping_due_time, collection_due_time, delivery_due_time");
            if (value.is_null()) overrides.erase(key);
            else if (value.is_number_integer() && value.get<std::int64_t>() >= 0) overrides[key] = value.get<std::int64_t>();
            else return error(400, key + " must be unix seconds (0 removes it, null restores the computed one)");
        }
        o.deadline_overrides = std::move(overrides);
        return reply(200, order_json(o));
    }
    // GET /control/cs_quota: customer-service calls accepted today (UTC) and the quota.
    if (is("GET", {"cs_quota"}))
        return reply(200, {{"day", now() / 86400}, {"used", cs_calls_today()}, {"quota", options_.cs_daily_quota}});

    // POST /control/orders/{id}/address {"prefecture"?, "city"?, "address_line1"?, "address_detail"?, "postal_code"?}: type 3.
    if (is("POST", {"orders", "*", "address"})) {
        auto it = order_index_.find(seg[2]);
        if (it == order_index_.end()) return error(404, "no order " + seg[2]);
        order& o = orders_[it->second];
        address updated = o.recipient;
        if (auto problem = read_address(body, updated)) return error(400, *problem);
        o.recipient = updated;
        o.update_time = now();
        emit_webhook(3, {{"order_id", o.id}, {"update_time", o.update_time}}, o.id);
        return reply(200, order_json(o));
    }

    // POST /control/deauthorize {"message"?}: type 6; every token stops working (105001).
    if (is("POST", {"deauthorize"})) {
        int revoked = 0;
        for (auto& [value, tok] : access_tokens_) {
            if (!tok.revoked) ++revoked;
            tok.revoked = true;
        }
        for (auto& [value, rt] : refresh_tokens_) rt.used = true;
        emit_webhook(6, {{"message", string_field(body, "message").value_or("The seller has deauthorized the app")}}, "");
        return reply(200, {{"revoked", revoked}});
    }

    // POST /control/authorization/expiring {"expiration_time"?}: type 7.
    if (is("POST", {"authorization", "expiring"})) {
        const std::string when = string_field(body, "expiration_time").value_or(std::to_string(now() + 30 * 86400));
        emit_webhook(7, {{"message", "The authorization will expire soon"}, {"expiration_time", when}}, "");
        return reply(200, {{"expiration_time", when}});
    }

    // POST /control/webhooks/emit {"type", "data", "order_id"?}: any notification.
    if (is("POST", {"webhooks", "emit"})) {
        auto type = body.find("type");
        auto data = body.find("data");
        if (type == body.end() || !type->is_number_integer() || data == body.end() || !data->is_object())
            return error(400, "type (an integer) and data (an object) are required");
        emit_webhook(type->get<int>(), *data, string_field(body, "order_id").value_or(""));
        return reply(200, delivery_json(deliveries_.back()));
    }

    // POST /control/conversations/{id}/close and /reopen: can_send_message false / true.
    if (is("POST", {"conversations", "*", "close"}) || is("POST", {"conversations", "*", "reopen"})) {
        conversation* c = find_conversation(seg[2]);
        if (!c) return error(404, "no conversation " + seg[2]);
        c->closed = seg[3] == "close";
        return reply(200, {{"conversation_id", c->id}, {"closed", c->closed}, {"can_send_message", can_send_message(*c)}});
    }

    // GET /control/conversations: what the shop holds, with the CS flags.
    if (is("GET", {"conversations"})) {
        json list = json::array();
        for (const auto& c : conversations_)
            list.push_back({{"id", c.id}, {"user_id", c.buyer_user_id}, {"closed", c.closed},
                            {"can_send_message", can_send_message(c)}, {"unread_count", unread_count(c)},
                            {"messages", c.messages.size()}});
        return reply(200, {{"conversations", std::move(list)}});
    }

    // GET /control/calls/summary[?path=prefix][&since_seq=N]
    if (is("GET", {"calls", "summary"})) return reply(200, calls_summary(query));

    // GET / POST /control/settings: hold_seconds, auto_advance, webhook_cancel_status, require_subscription, rate_limit_qps,
    // handling_seconds, cs_daily_quota, conversation_close_after, packages_before_shipping.
    if (is("GET", {"settings"})) return reply(200, settings_json());
    if (is("POST", {"settings"})) {
        shop_options& o = options_;
        std::int64_t hold = o.hold_seconds, qps = o.rate_limit_qps, handling = o.handling_seconds, cs_quota = o.cs_daily_quota,
                     close_after = o.conversation_close_after;
        if (auto problem = read_count(body, "hold_seconds", hold)) return error(400, *problem);
        if (auto problem = read_count(body, "handling_seconds", handling)) return error(400, *problem);
        if (auto problem = read_count(body, "cs_daily_quota", cs_quota)) return error(400, *problem);
        if (auto problem = read_count(body, "rate_limit_qps", qps)) return error(400, *problem);
        if (auto problem = read_count(body, "conversation_close_after", close_after)) return error(400, *problem);
        std::int64_t transit = o.auto_in_transit_after, delivered = o.auto_delivered_after;
        if (auto a = body.find("auto_advance"); a != body.end()) {
            if (a->is_null()) {
                transit = delivered = -1;
            } else if (a->is_object()) {
                if (auto problem = read_count(*a, "in_transit_after", transit)) return error(400, "auto_advance." + *problem);
                if (auto problem = read_count(*a, "delivered_after", delivered)) return error(400, "auto_advance." + *problem);
            } else {
                return error(400, "auto_advance must be {\"in_transit_after\": N, \"delivered_after\": M} or null");
            }
        }
        std::string spelling = string_field(body, "webhook_cancel_status").value_or(o.webhook_cancel_status);
        if (spelling != "CANCEL" && spelling != "CANCELLED") return error(400, "webhook_cancel_status must be CANCEL or CANCELLED");
        bool before_shipping = o.packages_before_shipping;
        if (auto r = body.find("packages_before_shipping"); r != body.end()) {
            if (!r->is_boolean()) return error(400, "packages_before_shipping must be true or false");
            before_shipping = r->get<bool>();
        }
        bool require = o.require_subscription;
        if (auto r = body.find("require_subscription"); r != body.end()) {
            if (!r->is_boolean()) return error(400, "require_subscription must be true or false");
            require = r->get<bool>();
        }
        o.hold_seconds = hold;
        o.handling_seconds = handling;
        o.cs_daily_quota = cs_quota;
        o.rate_limit_qps = qps;
        o.conversation_close_after = close_after;
        o.packages_before_shipping = before_shipping;
        o.auto_in_transit_after = transit;
        o.auto_delivered_after = delivered;
        o.webhook_cancel_status = spelling;
        o.require_subscription = require;
        // Re-examine every order: the new settings may make changes due now.
        note_timer(now());
        return reply(200, settings_json());
    }

    // GET / POST /control/faults/random
    if (is("GET", {"faults", "random"})) return reply(200, faults_json());
    if (is("POST", {"faults", "random"})) {
        fault_options f = options_.faults;
        for (auto [name, field] : {std::pair{"error_share", &f.error_share}, std::pair{"throttle_share", &f.throttle_share},
                                   std::pair{"drop_share", &f.drop_share}, std::pair{"drop_after_share", &f.drop_after_share},
                                   std::pair{"slow_share", &f.slow_share}, std::pair{"garble_after_share", &f.garble_after_share},
                                   std::pair{"webhook_lose_share", &f.webhook_lose_share},
                                   std::pair{"webhook_duplicate_share", &f.webhook_duplicate_share},
                                   std::pair{"token_early_share", &f.token_early_share}})
            if (auto problem = read_share(body, name, *field)) return error(400, *problem);
        for (auto [name, field] : {std::pair{"slow_ms", &f.slow_ms}, std::pair{"webhook_reorder_ms", &f.webhook_reorder_ms},
                                   std::pair{"token_early_after", &f.token_early_after}})
            if (auto problem = read_count(body, name, *field)) return error(400, *problem);
        if (f.call_share_total() > 1.0 + 1e-9)
            return error(400, "error_share + throttle_share + drop_share + drop_after_share + slow_share + garble_after_share must not exceed 1");
        // "only_path": the calls' faults hit only paths containing it ("" or absent: every call).
        if (body.is_object() && body.contains("only_path")) {
            if (!body["only_path"].is_string()) return error(400, "only_path must be a string");
            f.only_path = body["only_path"].get<std::string>();
        }
        std::int64_t seed = 0;
        if (auto problem = read_count(body, "seed", seed)) return error(400, *problem);
        set_faults(f, static_cast<std::uint64_t>(seed));
        return reply(200, faults_json());
    }

    // POST /control/load {"orders", "rate", "custom_share"?, "note_share"?, "message_share"?, "seed"?}; GET; DELETE stops.
    if (is("GET", {"load"})) return reply(200, load_json());
    if (is("DELETE", {"load"})) {
        load_.running = false;
        load_.messages.clear();
        return reply(200, load_json());
    }
    if (is("POST", {"load"})) {
        load_options l;
        if (auto problem = read_count(body, "orders", l.orders, 1)) return error(400, *problem);
        if (!body.contains("orders")) return error(400, "orders is required");
        if (auto r = body.find("rate"); r != body.end()) {
            if (!r->is_number() || r->get<double>() <= 0 || r->get<double>() > 10000)
                return error(400, "rate must be a number of orders per second, above 0 and at most 10000");
            l.rate = r->get<double>();
        }
        for (auto [name, field] : {std::pair{"custom_share", &l.custom_share}, std::pair{"note_share", &l.note_share},
                                   std::pair{"message_share", &l.message_share}})
            if (auto problem = read_share(body, name, *field)) return error(400, *problem);
        std::int64_t seed = 0;
        if (auto problem = read_count(body, "seed", seed)) return error(400, *problem);
        l.seed = static_cast<std::uint64_t>(seed);
        start_load(l);
        return reply(200, load_json());
    }

    return error(404, "no control endpoint " + method + " " + path);
}

json shop::settings_json() const {
    const auto& o = options_;
    json advance = nullptr;
    if (o.auto_in_transit_after >= 0 || o.auto_delivered_after >= 0)
        advance = {{"in_transit_after", o.auto_in_transit_after}, {"delivered_after", o.auto_delivered_after}};
    return {{"hold_seconds", o.hold_seconds},
            {"auto_advance", advance},
            {"webhook_cancel_status", o.webhook_cancel_status},
            {"require_subscription", o.require_subscription},
            {"rate_limit_qps", o.rate_limit_qps},
            {"handling_seconds", o.handling_seconds},
            {"cs_daily_quota", o.cs_daily_quota},
            {"conversation_close_after", o.conversation_close_after},
            {"packages_before_shipping", o.packages_before_shipping}};
}

json shop::faults_json() const {
    const auto& f = options_.faults;
    json applied = json::object();
    for (const auto& [name, n] : fault_counts_.calls) applied[name] = n;
    return {{"error_share", f.error_share},
            {"throttle_share", f.throttle_share},
            {"drop_share", f.drop_share},
            {"drop_after_share", f.drop_after_share},
            {"slow_share", f.slow_share},
            {"garble_after_share", f.garble_after_share},
            {"slow_ms", f.slow_ms},
            {"only_path", f.only_path},
            {"webhook_lose_share", f.webhook_lose_share},
            {"webhook_duplicate_share", f.webhook_duplicate_share},
            {"webhook_reorder_ms", f.webhook_reorder_ms},
            {"token_early_share", f.token_early_share},
            {"token_early_after", f.token_early_after},
            {"applied",
             {{"calls", std::move(applied)},
              {"webhooks_lost", fault_counts_.webhooks_lost},
              {"webhooks_duplicated", fault_counts_.webhooks_duplicated},
              {"tokens_early", fault_counts_.tokens_early}}}};
}

json shop::load_json() const {
    const auto& l = load_.options;
    return {{"running", load_.running},
            {"orders", l.orders},
            {"rate", l.rate},
            {"custom_share", l.custom_share},
            {"note_share", l.note_share},
            {"message_share", l.message_share},
            {"created", load_.created},
            {"messages_planned", load_.messages_planned},
            {"messages_sent", load_.messages_sent},
            {"started_at_ms", load_.start_ms}};
}

json shop::calls_summary(const std::map<std::string, std::string>& query) const {
    auto prefix = query.find("path");
    std::uint64_t since = 0;
    if (auto s = query.find("since_seq"); s != query.end()) since = static_cast<std::uint64_t>(detail::parse_int(s->second).value_or(0));
    std::map<std::string, std::int64_t> by_path, by_api, by_code, by_fault;
    std::map<std::pair<int, std::string>, std::int64_t> by_status_code;
    std::int64_t total = 0;
    for (const auto& c : calls_) {
        if (c.seq <= since) continue;
        if (prefix != query.end() && c.path.compare(0, prefix->second.size(), prefix->second) != 0) continue;
        ++total;
        ++by_path[c.path];
        ++by_api[c.api.empty() ? c.method + " " + c.path : c.api];
        const std::string code = c.has_code ? std::to_string(c.code) : "none";
        ++by_code[code];
        ++by_status_code[{c.http_status, code}];
        if (!c.fault.empty()) ++by_fault[c.fault];
    }
    json pairs = json::array();
    for (const auto& [key, n] : by_status_code)
        pairs.push_back({{"http_status", key.first},
                         {"code", key.second == "none" ? json(nullptr) : json(std::stoll(key.second))},
                         {"count", n}});
    return {{"total", total}, {"by_path", by_path},   {"by_api", by_api},
            {"by_code", by_code}, {"by_status_code", std::move(pairs)}, {"by_fault", by_fault}};
}

served shop::serve(const tikapi::http_request& request) {
    advance();
    const std::string path = request.path();
    if (path == "/control" || path.rfind("/control/", 0) == 0) {
        served out{control(request), {}};
        advance();   // a control change may be due at once (hold_seconds 0, a load started)
        return out;
    }
    return open_api(request);
}

}  // namespace orderflow::sandbox
