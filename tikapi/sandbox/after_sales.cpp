// After-sales in the simulated shop: cancellation requests and returns
// (docs/tiktok-shop-api.md, "Cancellations and returns").
//
// The shop keeps one record per cancellation and per return, with its id,
// status, initiator and times. Every status change queues the notification
// TikTok sends (type 11 or type 12) and is what Search Cancellations and
// Search Returns answer from, so a client that lost the webhook finds the
// same change by searching.
//
// Two ways in through the /control/ API:
// - by hand, any status at once (`/control/orders/{id}/cancellation` and
//   `/control/orders/{id}/return`), for tests that need an odd notification;
// - the story, checked step by step: the buyer asks to cancel
//   (`/control/orders/{id}/cancel_request`), the seller or platform approves,
//   completes or rejects it, or the buyer withdraws it
//   (`/control/cancellations/{cancel_id}/{approve|complete|reject|withdraw}`);
//   the buyer asks for a return, refund or replacement
//   (`/control/orders/{id}/return_request`) and it moves on
//   (`/control/returns/{return_id}/{approve|buyer_ship|receive|refund|reject|cancel}`).
//
// A cancellation that succeeds cancels the order (its type 1 follows the
// type 11); a refund that completes on an order still on its way completes
// the order (§7, "on a full refund").
#include "tikapi/sandbox/shop.hpp"

#include "tikapi/sandbox/detail/params.hpp"

#include <algorithm>
#include <array>

namespace orderflow::sandbox {

using nlohmann::json;
using tikapi::http_response;
using detail::string_field;

namespace {

constexpr std::int64_t bad_request = 25001001;   // "An invalid request parameter was passed" (the search pages)
constexpr std::int64_t body_not_json = 36009022;

constexpr std::array<std::string_view, 4> cancel_statuses = {
    "CANCELLATION_REQUEST_PENDING", "CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_CANCELLED",
    "CANCELLATION_REQUEST_COMPLETE"};

constexpr std::array<std::string_view, 14> return_statuses = {
    "RETURN_OR_REFUND_REQUEST_PENDING", "REFUND_OR_RETURN_REQUEST_REJECT", "AWAITING_BUYER_SHIP",
    "BUYER_SHIPPED_ITEM",               "REJECT_RECEIVE_PACKAGE",          "RETURN_OR_REFUND_REQUEST_SUCCESS",
    "RETURN_OR_REFUND_REQUEST_CANCEL",  "RETURN_OR_REFUND_REQUEST_COMPLETE", "REPLACEMENT_REQUEST_PENDING",
    "REPLACEMENT_REQUEST_REJECT",       "REPLACEMENT_REQUEST_REFUND_SUCCESS", "REPLACEMENT_REQUEST_CANCEL",
    "REPLACEMENT_REQUEST_COMPLETE",     "AWAITING_BUYER_RESPONSE"};

constexpr std::array<std::string_view, 8> final_return_statuses = {
    "REFUND_OR_RETURN_REQUEST_REJECT", "REJECT_RECEIVE_PACKAGE",     "RETURN_OR_REFUND_REQUEST_CANCEL",
    "RETURN_OR_REFUND_REQUEST_COMPLETE", "REPLACEMENT_REQUEST_REJECT", "REPLACEMENT_REQUEST_REFUND_SUCCESS",
    "REPLACEMENT_REQUEST_CANCEL",      "REPLACEMENT_REQUEST_COMPLETE"};

// The return story, after the status descriptions of the Search Returns
// reference page. "" as type: any type but REPLACEMENT.
struct return_move {
    std::string_view step, type, from, to;
};
constexpr return_move return_moves[] = {
    {"approve", "RETURN_AND_REFUND", "RETURN_OR_REFUND_REQUEST_PENDING", "AWAITING_BUYER_SHIP"},
    {"approve", "REFUND", "RETURN_OR_REFUND_REQUEST_PENDING", "RETURN_OR_REFUND_REQUEST_SUCCESS"},
    {"approve", "REPLACEMENT", "REPLACEMENT_REQUEST_PENDING", "REPLACEMENT_REQUEST_COMPLETE"},
    {"buyer_ship", "RETURN_AND_REFUND", "AWAITING_BUYER_SHIP", "BUYER_SHIPPED_ITEM"},
    {"receive", "RETURN_AND_REFUND", "BUYER_SHIPPED_ITEM", "RETURN_OR_REFUND_REQUEST_COMPLETE"},
    {"refund", "", "RETURN_OR_REFUND_REQUEST_SUCCESS", "RETURN_OR_REFUND_REQUEST_COMPLETE"},
    {"refund", "REPLACEMENT", "REPLACEMENT_REQUEST_PENDING", "REPLACEMENT_REQUEST_REFUND_SUCCESS"},
    {"reject", "", "RETURN_OR_REFUND_REQUEST_PENDING", "REFUND_OR_RETURN_REQUEST_REJECT"},
    {"reject", "RETURN_AND_REFUND", "BUYER_SHIPPED_ITEM", "REJECT_RECEIVE_PACKAGE"},
    {"reject", "REPLACEMENT", "REPLACEMENT_REQUEST_PENDING", "REPLACEMENT_REQUEST_REJECT"},
    {"cancel", "", "RETURN_OR_REFUND_REQUEST_PENDING", "RETURN_OR_REFUND_REQUEST_CANCEL"},
    {"cancel", "RETURN_AND_REFUND", "AWAITING_BUYER_SHIP", "RETURN_OR_REFUND_REQUEST_CANCEL"},
    {"cancel", "REPLACEMENT", "REPLACEMENT_REQUEST_PENDING", "REPLACEMENT_REQUEST_CANCEL"},
};

// Orders a buyer may ask to return or refund: on the way or arrived.
constexpr std::array<std::string_view, 4> returnable = {"AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& list, std::string_view value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

http_response reply(int status, const json& body) { return http_response::json(status, body.dump()); }
http_response error(int status, std::string text) { return reply(status, {{"error", std::move(text)}}); }

bool is_role(std::string_view role) { return role == "BUYER" || role == "SELLER" || role == "SYSTEM"; }

// The search filter spells the withdrawn status CANCELLATION_REQUEST_CANCEL;
// answers and webhooks spell it CANCELLED (docs/tiktok-shop-api.md).
std::string cancel_status_filter(std::string status) {
    return status == "CANCELLATION_REQUEST_CANCEL" ? "CANCELLATION_REQUEST_CANCELLED" : status;
}

// A body filter that is a list of strings; nullopt when absent, an error text
// when it is something else.
std::optional<std::string> read_list(const json& body, const char* name, std::optional<std::vector<std::string>>& out) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (!it->is_array()) return std::string(name) + " must be a list of strings";
    std::vector<std::string> values;
    for (const auto& v : *it) {
        if (!v.is_string()) return std::string(name) + " must be a list of strings";
        values.push_back(v.get<std::string>());
    }
    out = std::move(values);
    return std::nullopt;
}

bool listed(const std::optional<std::vector<std::string>>& filter, const std::string& value) {
    return !filter || std::find(filter->begin(), filter->end(), value) != filter->end();
}

// The time filters both searches share (update_time_ge and so on).
struct time_window {
    std::optional<std::int64_t> create_ge, create_lt, update_ge, update_lt;
    bool holds(std::int64_t created, std::int64_t updated) const {
        return !(create_ge && created < *create_ge) && !(create_lt && created >= *create_lt) &&
               !(update_ge && updated < *update_ge) && !(update_lt && updated >= *update_lt);
    }
};

std::optional<std::string> read_window(const json& body, time_window& w) {
    for (auto [name, field] : {std::pair{"create_time_ge", &w.create_ge}, std::pair{"create_time_lt", &w.create_lt},
                               std::pair{"update_time_ge", &w.update_ge}, std::pair{"update_time_lt", &w.update_lt}}) {
        auto it = body.find(name);
        if (it == body.end() || it->is_null()) continue;
        if (!it->is_number_integer()) return std::string(name) + " must be a unix timestamp";
        *field = it->get<std::int64_t>();
    }
    return std::nullopt;
}

// Paging and sorting: page_size is optional here (default 10), within
// [min_size, 50]; sort_field create_time (default) or update_time; ASC default.
struct search_order {
    detail::page page;
    bool by_update = false, ascending = true;
};

std::optional<std::string> read_search_order(const std::map<std::string, std::string>& query, std::size_t min_size,
                                             search_order& out) {
    auto q = query;
    if (!q.count("page_size")) q["page_size"] = "10";
    std::string problem;
    auto p = detail::read_page(q, 50, problem);
    if (!p) return problem;
    if (p->size < min_size) return "page_size must be between " + std::to_string(min_size) + " and 50";
    out.page = *p;
    const std::string field = detail::query_value(q, "sort_field").value_or("create_time");
    const std::string order = detail::query_value(q, "sort_order").value_or("ASC");
    if (field != "create_time" && field != "update_time") return "sort_field must be create_time or update_time";
    if (order != "ASC" && order != "DESC") return "sort_order must be ASC or DESC";
    out.by_update = field == "update_time";
    out.ascending = order == "ASC";
    return std::nullopt;
}

template <typename Record>
void sort_records(std::vector<const Record*>& hits, const search_order& o) {
    std::stable_sort(hits.begin(), hits.end(), [&](const Record* a, const Record* b) {
        const auto ka = o.by_update ? a->update_time : a->create_time;
        const auto kb = o.by_update ? b->update_time : b->create_time;
        return o.ascending ? ka < kb : ka > kb;
    });
}

}  // namespace

bool is_cancel_status(std::string_view status) { return one_of(cancel_statuses, status); }
bool is_return_status(std::string_view status) { return one_of(return_statuses, status); }
bool is_final_cancel_status(std::string_view status) {
    return status == "CANCELLATION_REQUEST_CANCELLED" || status == "CANCELLATION_REQUEST_COMPLETE";
}
bool is_final_return_status(std::string_view status) { return one_of(final_return_statuses, status); }

std::string_view return_step_target(std::string_view type, std::string_view from, std::string_view step) {
    for (const auto& m : return_moves) {
        const bool type_fits = m.type.empty() ? type != "REPLACEMENT" : m.type == type;
        if (m.step == step && type_fits && m.from == from) return m.to;
    }
    return "";
}

// --- state changes -------------------------------------------------------------------

// The order's open cancellation, or a new one (a finished one is never reopened).
cancellation& shop::cancellation_for(order& o, const std::string& role, const std::string& reason) {
    for (auto it = cancellations_.rbegin(); it != cancellations_.rend(); ++it)
        if (it->order_id == o.id && !is_final_cancel_status(it->status)) return *it;
    cancellation c;
    c.id = fresh_id("58", 18);
    c.order_id = o.id;
    c.role = role;
    c.reason = reason;
    c.create_time = c.update_time = now();
    o.cancel_id = c.id;
    cancellations_.push_back(std::move(c));
    return cancellations_.back();
}

return_request& shop::return_for(order& o, const std::string& type, const std::string& role) {
    for (auto it = returns_.rbegin(); it != returns_.rend(); ++it)
        if (it->order_id == o.id && !is_final_return_status(it->status)) return *it;
    return_request r;
    r.id = fresh_id("46", 18);
    r.order_id = o.id;
    r.type = type;
    r.role = role;
    r.reason = "Item not as described";
    r.create_time = r.update_time = now();
    o.return_id = r.id;
    returns_.push_back(std::move(r));
    return returns_.back();
}

// Records the status and sends type 11; a success or completion cancels the
// order (type 1 after the type 11), and a pending buyer request sets
// is_buyer_request_cancel until the request ends.
void shop::set_cancel_status(order& o, cancellation& c, const std::string& status) {
    c.status = status;
    c.update_time = now();
    o.buyer_request_cancel = status == "CANCELLATION_REQUEST_PENDING" && c.role == "BUYER";
    o.update_time = now();
    emit_webhook(11, {{"order_id", o.id}, {"cancellations_role", c.role}, {"cancel_status", status},
                      {"cancel_id", c.id}, {"create_time", c.create_time}},
                 o.id);
    const bool cancels = status == "CANCELLATION_REQUEST_SUCCESS" || status == "CANCELLATION_REQUEST_COMPLETE";
    if (cancels && o.status != "CANCELLED") {
        o.cancellation_initiator = c.role;
        o.cancel_reason = c.reason;
        change_status(o, "CANCELLED");
    }
}

void shop::set_return_status(order& o, return_request& r, const std::string& status) {
    r.status = status;
    r.update_time = now();
    emit_webhook(12, {{"order_id", o.id}, {"return_id", r.id}, {"return_role", r.role}, {"return_type", r.type},
                      {"return_status", status}, {"create_time", r.create_time}, {"update_time", r.update_time}},
                 o.id);
    // §7: a full refund of an order still on its way completes it.
    if (status == "RETURN_OR_REFUND_REQUEST_COMPLETE" && (o.status == "AWAITING_COLLECTION" || o.status == "IN_TRANSIT"))
        change_status(o, "COMPLETED");
}

// --- /control/ -----------------------------------------------------------------------

std::optional<http_response> shop::after_sales_control(const std::string& method, const std::vector<std::string>& seg,
                                                       const json& body) {
    auto path_is = [&](std::initializer_list<std::string_view> parts) {
        if (seg.size() != parts.size() + 1) return false;
        std::size_t i = 1;
        for (auto part : parts) {
            if (part == "*" ? seg[i].empty() : part != seg[i]) return false;
            ++i;
        }
        return true;
    };
    if (method == "GET" && path_is({"cancellations"})) {
        json list = json::array();
        for (const auto& c : cancellations_) list.push_back(cancellation_json(c));
        return reply(200, {{"cancellations", std::move(list)}});
    }
    if (method == "GET" && path_is({"returns"})) {
        json list = json::array();
        for (const auto& r : returns_) list.push_back(return_json(r));
        return reply(200, {{"returns", std::move(list)}});
    }
    if (method != "POST") return std::nullopt;

    if (path_is({"orders", "*", "cancellation"}) || path_is({"orders", "*", "return"}) ||
        path_is({"orders", "*", "cancel_request"}) || path_is({"orders", "*", "return_request"})) {
        auto it = order_index_.find(seg[2]);
        if (it == order_index_.end()) return error(404, "no order " + seg[2]);
        order& o = orders_[it->second];
        if (seg[3] == "cancellation") return cancellation_by_hand(o, body);
        if (seg[3] == "return") return return_by_hand(o, body);
        if (seg[3] == "cancel_request") return cancel_request(o, body);
        return return_request_call(o, body);
    }
    if (path_is({"cancellations", "*", "*"})) {
        auto c = std::find_if(cancellations_.begin(), cancellations_.end(), [&](const cancellation& x) { return x.id == seg[2]; });
        if (c == cancellations_.end()) return error(404, "no cancellation " + seg[2]);
        return cancellation_step(*c, seg[3]);
    }
    if (path_is({"returns", "*", "*"})) {
        auto r = std::find_if(returns_.begin(), returns_.end(), [&](const return_request& x) { return x.id == seg[2]; });
        if (r == returns_.end()) return error(404, "no return " + seg[2]);
        return return_step(*r, seg[3]);
    }
    return std::nullopt;
}

// POST /control/orders/{id}/cancellation {"cancel_status"?, "role"?, "cancel_reason"?}:
// any status at once, without checking the story.
http_response shop::cancellation_by_hand(order& o, const json& body) {
    const std::string status = string_field(body, "cancel_status").value_or("CANCELLATION_REQUEST_PENDING");
    const std::string role = string_field(body, "role").value_or("BUYER");
    if (!is_cancel_status(status))
        return error(400, "cancel_status must be one of CANCELLATION_REQUEST_{PENDING,SUCCESS,CANCELLED,COMPLETE}");
    if (!is_role(role)) return error(400, "role must be BUYER, SELLER or SYSTEM");
    const bool cancels = status == "CANCELLATION_REQUEST_SUCCESS" || status == "CANCELLATION_REQUEST_COMPLETE";
    if (cancels && o.status != "CANCELLED" && !is_legal_transition(o.status, "CANCELLED"))
        return error(409, "illegal transition " + o.status + " -> CANCELLED for order " + o.id);
    const std::string reason = string_field(body, "cancel_reason").value_or(role == "BUYER" ? "Buyer cancelled" : "Cancelled");
    cancellation& c = cancellation_for(o, role, reason);
    c.role = role;   // by hand: the role asked for, also on an open record
    c.reason = reason;
    set_cancel_status(o, c, status);
    return reply(200, order_json(o));
}

// POST /control/orders/{id}/return {"return_status"?, "return_type"?, "role"?}: by hand.
http_response shop::return_by_hand(order& o, const json& body) {
    const std::string status = string_field(body, "return_status").value_or("RETURN_OR_REFUND_REQUEST_PENDING");
    const std::string type = string_field(body, "return_type").value_or("RETURN_AND_REFUND");
    const std::string role = string_field(body, "role").value_or("BUYER");
    if (!is_return_status(status)) return error(400, "unknown return_status '" + status + "'");
    if (type != "REFUND" && type != "RETURN_AND_REFUND" && type != "REPLACEMENT")
        return error(400, "return_type must be REFUND, RETURN_AND_REFUND or REPLACEMENT");
    return_request& r = return_for(o, type, role);
    r.type = type;
    r.role = role;
    set_return_status(o, r, status);
    return reply(200, {{"order_id", o.id}, {"return_id", r.id}, {"return_role", r.role}, {"return_type", r.type},
                       {"return_status", r.status}, {"create_time", r.create_time}, {"update_time", r.update_time}});
}

// POST /control/orders/{id}/cancel_request {"reason"?}: the buyer asks to cancel.
http_response shop::cancel_request(order& o, const json& body) {
    if (o.status == "CANCELLED") return error(409, "order " + o.id + " is already cancelled");
    if (!is_legal_transition(o.status, "CANCELLED")) return error(409, "order " + o.id + " cannot be cancelled in " + o.status);
    for (const auto& c : cancellations_)
        if (c.order_id == o.id && !is_final_cancel_status(c.status))
            return error(409, "order " + o.id + " already has cancellation " + c.id + " in " + c.status);
    cancellation& c = cancellation_for(o, "BUYER", string_field(body, "reason").value_or("Buyer changed their mind"));
    set_cancel_status(o, c, "CANCELLATION_REQUEST_PENDING");
    return reply(200, cancellation_json(c));
}

// POST /control/cancellations/{cancel_id}/{approve|complete|reject|withdraw}:
// approve -> SUCCESS (the order is cancelled), complete -> COMPLETE (the
// refund is done; cancels the order if not yet), reject (the seller or
// platform refuses) and withdraw (the buyer takes it back) -> CANCELLED.
http_response shop::cancellation_step(cancellation& c, const std::string& step) {
    std::string to;
    if (step == "approve") to = "CANCELLATION_REQUEST_SUCCESS";
    else if (step == "complete") to = "CANCELLATION_REQUEST_COMPLETE";
    else if (step == "reject" || step == "withdraw") to = "CANCELLATION_REQUEST_CANCELLED";
    else return error(404, "no cancellation step '" + step + "'; steps: approve, complete, reject, withdraw");
    const bool from_pending = c.status == "CANCELLATION_REQUEST_PENDING";
    const bool allowed = from_pending || (step == "complete" && c.status == "CANCELLATION_REQUEST_SUCCESS");
    if (!allowed) return error(409, "cancellation " + c.id + " is " + c.status + "; '" + step + "' is not possible there");
    auto it = order_index_.find(c.order_id);
    if (it == order_index_.end()) return error(404, "no order " + c.order_id);
    order& o = orders_[it->second];
    if (to != "CANCELLATION_REQUEST_CANCELLED" && o.status != "CANCELLED" && !is_legal_transition(o.status, "CANCELLED"))
        return error(409, "illegal transition " + o.status + " -> CANCELLED for order " + o.id);
    set_cancel_status(o, c, to);
    return reply(200, cancellation_json(c));
}

// POST /control/orders/{id}/return_request {"return_type"?, "reason"?}: the
// buyer asks for a return (default RETURN_AND_REFUND), a refund or a replacement.
http_response shop::return_request_call(order& o, const json& body) {
    const std::string type = string_field(body, "return_type").value_or("RETURN_AND_REFUND");
    if (type != "REFUND" && type != "RETURN_AND_REFUND" && type != "REPLACEMENT")
        return error(400, "return_type must be REFUND, RETURN_AND_REFUND or REPLACEMENT");
    if (!one_of(returnable, o.status))
        return error(409, "order " + o.id + " is " + o.status + "; a return needs a shipped or delivered order");
    for (const auto& r : returns_)
        if (r.order_id == o.id && !is_final_return_status(r.status))
            return error(409, "order " + o.id + " already has return " + r.id + " in " + r.status);
    return_request& r = return_for(o, type, "BUYER");
    if (auto reason = string_field(body, "reason")) r.reason = *reason;
    set_return_status(o, r, type == "REPLACEMENT" ? "REPLACEMENT_REQUEST_PENDING" : "RETURN_OR_REFUND_REQUEST_PENDING");
    return reply(200, return_json(r));
}

// POST /control/returns/{return_id}/{step}: one move of return_moves.
http_response shop::return_step(return_request& r, const std::string& step) {
    const std::string to(return_step_target(r.type, r.status, step));
    if (to.empty())
        return error(409, "return " + r.id + " (" + r.type + ") is " + r.status + "; '" + step +
                              "' is not possible there (steps: approve, buyer_ship, receive, refund, reject, cancel)");
    auto it = order_index_.find(r.order_id);
    if (it == order_index_.end()) return error(404, "no order " + r.order_id);
    set_return_status(orders_[it->second], r, to);
    return reply(200, return_json(r));
}

// --- Open API: the two searches --------------------------------------------------------

json shop::cancellation_json(const cancellation& c) const {
    return {{"cancel_id", c.id},
            {"order_id", c.order_id},
            {"cancel_type", c.role == "BUYER" ? "BUYER_CANCEL" : "CANCEL"},
            {"cancel_status", c.status},
            {"role", c.role},
            {"cancel_reason", c.reason},
            {"cancel_reason_text", c.reason},
            {"create_time", c.create_time},
            {"update_time", c.update_time}};
}

json shop::return_json(const return_request& r) const {
    return {{"return_id", r.id},
            {"order_id", r.order_id},
            {"return_type", r.type},
            {"return_status", r.status},
            {"role", r.role},
            {"return_reason", r.reason},
            {"return_reason_text", r.reason},
            {"create_time", r.create_time},
            {"update_time", r.update_time}};
}

// POST /return_refund/202309/cancellations/search
shop::api_reply shop::search_cancellations(api_context& ctx) {
    search_order order;
    if (auto problem = read_search_order(ctx.query, 1, order)) return fail(400, bad_request, *problem);
    auto body = detail::body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    std::optional<std::vector<std::string>> ids, order_ids, buyers, types, statuses;
    time_window window;
    for (auto [name, out] : {std::pair{"cancel_ids", &ids}, std::pair{"order_ids", &order_ids},
                             std::pair{"buyer_user_ids", &buyers}, std::pair{"cancel_types", &types},
                             std::pair{"cancel_status", &statuses}})
        if (auto problem = read_list(*body, name, *out)) return fail(400, bad_request, *problem);
    if (auto problem = read_window(*body, window)) return fail(400, bad_request, *problem);
    if (statuses)
        for (auto& s : *statuses) s = cancel_status_filter(s);

    std::vector<const cancellation*> hits;
    for (const auto& c : cancellations_) {
        auto o = find_order(c.order_id);
        const std::string type = c.role == "BUYER" ? "BUYER_CANCEL" : "CANCEL";
        if (!listed(ids, c.id) || !listed(order_ids, c.order_id) || !listed(types, type) || !listed(statuses, c.status))
            continue;
        if (buyers && (!o || !listed(buyers, o->user_id))) continue;
        if (!window.holds(c.create_time, c.update_time)) continue;
        hits.push_back(&c);
    }
    sort_records(hits, order);
    json list = json::array();
    for (std::size_t i = order.page.offset; i < hits.size() && i < order.page.offset + order.page.size; ++i)
        list.push_back(cancellation_json(*hits[i]));
    api_reply out;
    out.data = {{"cancellations", std::move(list)},
                {"total_count", hits.size()},
                {"next_page_token", detail::next_token(order.page, hits.size())}};
    return out;
}

// POST /return_refund/202309/returns/search (page_size 10..50, as the reference page says).
shop::api_reply shop::search_returns(api_context& ctx) {
    search_order order;
    if (auto problem = read_search_order(ctx.query, 10, order)) return fail(400, bad_request, *problem);
    auto body = detail::body_object(ctx.request.body);
    if (!body) return fail(400, body_not_json, "The request body must be a JSON object");
    std::optional<std::vector<std::string>> ids, order_ids, buyers, types, statuses;
    time_window window;
    for (auto [name, out] : {std::pair{"return_ids", &ids}, std::pair{"order_ids", &order_ids},
                             std::pair{"buyer_user_ids", &buyers}, std::pair{"return_types", &types},
                             std::pair{"return_status", &statuses}})
        if (auto problem = read_list(*body, name, *out)) return fail(400, bad_request, *problem);
    if (auto problem = read_window(*body, window)) return fail(400, bad_request, *problem);

    std::vector<const return_request*> hits;
    for (const auto& r : returns_) {
        auto o = find_order(r.order_id);
        if (!listed(ids, r.id) || !listed(order_ids, r.order_id) || !listed(types, r.type) || !listed(statuses, r.status))
            continue;
        if (buyers && (!o || !listed(buyers, o->user_id))) continue;
        if (!window.holds(r.create_time, r.update_time)) continue;
        hits.push_back(&r);
    }
    sort_records(hits, order);
    json list = json::array();
    for (std::size_t i = order.page.offset; i < hits.size() && i < order.page.offset + order.page.size; ++i)
        list.push_back(return_json(*hits[i]));
    api_reply out;
    out.data = {{"return_orders", std::move(list)},
                {"total_count", hits.size()},
                {"next_page_token", detail::next_token(order.page, hits.size())}};
    return out;
}

}  // namespace orderflow::sandbox
