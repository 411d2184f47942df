// The /control/ API: unsigned JSON endpoints with which tests and the demo
// play the buyer and the platform (create orders, move them through the
// state machine, post buyer messages, authorize, expire tokens, inject
// faults) and read what the shop saw (messages, calls, webhook deliveries).
// Plain JSON in and out; failures are {"error": "..."} with a 4xx status.
// It is not part of TikTok's API and is never recorded in the call log.
#include "tikapi/sandbox/shop.hpp"

#include "tikapi/sandbox/detail/util.hpp"

#include <algorithm>

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

}  // namespace

tikapi::http_response shop::control(const tikapi::http_request& request) {
    const std::string path = request.path();
    const auto query = request.query();
    const auto seg = detail::split_path(path);   // seg[0] == "control"
    const std::string& method = request.method;

    json body = json::object();
    if (method == "POST" && request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
        body = json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return error(400, "the request body must be a JSON object");
    }
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
            // One line item per unit (§6); "quantity" here is a convenience.
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
        if (*status == "CANCELLED") o.cancel_reason = string_field(body, "cancel_reason").value_or("Buyer cancelled");
        if (auto problem = change_status(o, *status)) return error(409, *problem);
        return reply(200, order_json(o));
    }

    // POST /control/messages {"order_id" | "user_id", "text"}: the buyer writes.
    if (is("POST", {"messages"})) {
        auto text = string_field(body, "text");
        if (!text || text->empty()) return error(400, "text is required");
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
        const message& m = add_message(c, "BUYER", json{{"content", *text}}.dump());
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
                            {"code", c.code}});
        }
        return reply(200, {{"calls", std::move(list)}});
    }

    if (is("GET", {"webhooks"})) {
        json list = json::array();
        for (const auto& d : deliveries_) list.push_back(delivery_json(d));
        json target = webhook_target_ ? json(options_.webhook_url) : json(nullptr);
        return reply(200, {{"webhooks", std::move(list)}, {"target", std::move(target)}});
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
        copy.seq = deliveries_.size() + 1;
        copy.notification_id = source->notification_id;
        copy.type = source->type;
        copy.order_id = source->order_id;
        copy.body = source->body;
        copy.signature = source->signature;
        copy.redelivery = true;
        copy.due = std::chrono::steady_clock::now();
        deliveries_.push_back(std::move(copy));
        const delivery& queued = deliveries_.back();
        json out = delivery_json(queued);
        if (on_queued_) on_queued_();
        return reply(200, out);
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

    return error(404, "no control endpoint " + method + " " + path);
}

tikapi::http_response shop::handle(const tikapi::http_request& request) {
    const std::string path = request.path();
    if (path == "/control" || path.rfind("/control/", 0) == 0) return control(request);
    return open_api(request);
}

}  // namespace orderflow::sandbox
