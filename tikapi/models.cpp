// Defensive decoding of token, order, package, logistics, customer-service,
// shop, webhook and after-sales (cancellation, return) payloads (see models.hpp).
//
// A small field reader collects the first type error with its JSON path
// ("order.line_items[1].sale_price must be a string") instead of throwing,
// so one odd field from the API is a decode error, never a crash.
#include "tikapi/models.hpp"

#include "common/json_limits.hpp"

#include <sodium.h>

#include <charconv>
#include <limits>
#include <system_error>

namespace orderflow::tikapi {

namespace {

using json = nlohmann::json;

class reader {
public:
    explicit reader(std::string path) : path_(std::move(path)) {}

    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    void fail(const std::string& where, const char* expected) {
        if (error_.empty()) error_ = where + " must be " + expected;
    }
    void missing(const std::string& where) {
        if (error_.empty()) error_ = where + " is missing";
    }
    std::string at(const char* key) const { return path_ + "." + key; }

    // Absent or null leaves `out` alone.
    void string(const json& j, const char* key, std::string& out) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        if (it->is_string()) out = it->get<std::string>();
        else fail(at(key), "a string");
    }
    void integer(const json& j, const char* key, std::int64_t& out) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        if (it->is_number_integer()) out = it->get<std::int64_t>();
        else fail(at(key), "an integer");
    }
    void boolean(const json& j, const char* key, bool& out) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        if (it->is_boolean()) out = it->get<bool>();
        else fail(at(key), "a boolean");
    }
    // The object under `key`, or nullptr when absent/null (or wrong, recorded).
    const json* object(const json& j, const char* key) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return nullptr;
        if (it->is_object()) return &*it;
        fail(at(key), "an object");
        return nullptr;
    }
    const json* array(const json& j, const char* key) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return nullptr;
        if (it->is_array()) return &*it;
        fail(at(key), "an array");
        return nullptr;
    }
    void integer(const json& j, const char* key, int& out) {
        std::int64_t v = out;
        integer(j, key, v);
        if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) fail(at(key), "a 32-bit integer");
        else out = static_cast<int>(v);
    }
    // An integer sent either as a JSON number or as a string of digits
    // (message `index`: a string in webhooks, GUESS: a number elsewhere).
    void integer_or_string(const json& j, const char* key, std::int64_t& out) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        if (it->is_number_integer()) {
            out = it->get<std::int64_t>();
            return;
        }
        if (it->is_string()) {
            const auto& s = it->get_ref<const std::string&>();
            std::int64_t v = 0;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) {
                out = v;
                return;
            }
        }
        fail(at(key), "an integer or a string of digits");
    }
    // An array of strings; a non-string element is an error naming its index.
    void strings(const json& j, const char* key, std::vector<std::string>& out) {
        const json* a = array(j, key);
        if (!a) return;
        for (std::size_t i = 0; i < a->size(); ++i) {
            const json& v = (*a)[i];
            if (v.is_string()) out.push_back(v.get<std::string>());
            else if (!v.is_null()) fail(at(key) + "[" + std::to_string(i) + "]", "a string");
        }
    }

private:
    std::string path_;
    std::string error_;
};

api_error decode_error(std::string message) {
    api_error e;
    e.kind = error_kind::decode;
    e.message = std::move(message);
    return e;
}

void wipe_string_field(json& j, const char* key) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string()) {
        auto& s = it->get_ref<std::string&>();
        sodium_memzero(s.data(), s.size());
    }
}

}  // namespace

orderflow::secret serialize_tokens(const token_set& tokens) {
    json j{{"access_token", tokens.access_token.reveal()},
           {"refresh_token", tokens.refresh_token.reveal()},
           {"access_expires_at", tokens.access_expires_at},
           {"refresh_expires_at", tokens.refresh_expires_at},
           {"open_id", tokens.open_id},
           {"seller_name", tokens.seller_name},
           {"seller_base_region", tokens.seller_base_region},
           {"obtained_at", tokens.obtained_at}};
    orderflow::secret out(j.dump());
    wipe_string_field(j, "access_token");
    wipe_string_field(j, "refresh_token");
    return out;
}

std::optional<token_set> parse_tokens(const orderflow::secret& text) {
    auto parsed = parse_untrusted_json(text.reveal());
    auto* found = std::get_if<json>(&parsed);
    if (found == nullptr || !found->is_object()) return std::nullopt;
    json& j = *found;
    token_set t;
    reader r("tokens");
    std::string access, refresh;
    r.string(j, "access_token", access);
    r.string(j, "refresh_token", refresh);
    r.integer(j, "access_expires_at", t.access_expires_at);
    r.integer(j, "refresh_expires_at", t.refresh_expires_at);
    r.string(j, "open_id", t.open_id);
    r.string(j, "seller_name", t.seller_name);
    r.string(j, "seller_base_region", t.seller_base_region);
    r.integer(j, "obtained_at", t.obtained_at);
    t.access_token = orderflow::secret(std::move(access));
    t.refresh_token = orderflow::secret(std::move(refresh));
    wipe_string_field(j, "access_token");
    wipe_string_field(j, "refresh_token");
    if (r.failed() || t.access_token.empty()) return std::nullopt;
    return t;
}

result<token_set> parse_token_data(const nlohmann::json& data) {
    if (!data.is_object()) return decode_error("token data must be an object");
    token_set t;
    reader r("data");
    std::string access, refresh;
    r.string(data, "access_token", access);
    r.string(data, "refresh_token", refresh);
    r.integer(data, "access_token_expire_in", t.access_expires_at);
    r.integer(data, "refresh_token_expire_in", t.refresh_expires_at);
    r.string(data, "open_id", t.open_id);
    r.string(data, "seller_name", t.seller_name);
    r.string(data, "seller_base_region", t.seller_base_region);
    t.access_token = orderflow::secret(std::move(access));
    t.refresh_token = orderflow::secret(std::move(refresh));
    if (r.failed()) return decode_error(r.error());
    if (t.access_token.empty()) return decode_error("data.access_token is missing");
    return t;
}

namespace {

// parse_order with the name errors use for the order ("order", or
// "data.orders[3]" inside a page).
result<order> parse_order_named(const json& j, const std::string& name) {
    if (!j.is_object()) return decode_error(name + " must be an object");
    order o;
    reader r(name);
    r.string(j, "id", o.id);
    r.string(j, "status", o.status);
    r.string(j, "user_id", o.user_id);
    r.string(j, "buyer_message", o.buyer_message);
    r.string(j, "seller_note", o.seller_note);
    r.string(j, "shipping_type", o.shipping_type);
    r.string(j, "delivery_option_id", o.delivery_option_id);
    r.string(j, "delivery_option_name", o.delivery_option_name);
    r.string(j, "tracking_number", o.tracking_number);
    r.string(j, "shipping_provider", o.shipping_provider);
    r.string(j, "shipping_provider_id", o.shipping_provider_id);
    r.string(j, "warehouse_id", o.warehouse_id);
    r.string(j, "cancel_reason", o.cancel_reason);
    r.string(j, "cancellation_initiator", o.cancellation_initiator);
    r.string(j, "fulfillment_type", o.fulfillment_type);
    r.integer(j, "create_time", o.create_time);
    r.integer(j, "update_time", o.update_time);
    r.integer(j, "paid_time", o.paid_time);
    r.integer(j, "rts_time", o.rts_time);
    r.integer(j, "delivery_time", o.delivery_time);
    r.integer(j, "cancel_time", o.cancel_time);
    r.integer(j, "shipping_due_time", o.shipping_due_time);
    r.integer(j, "rts_sla_time", o.rts_sla_time);
    r.integer(j, "tts_sla_time", o.tts_sla_time);
    r.integer(j, "collection_due_time", o.collection_due_time);
    r.integer(j, "delivery_due_time", o.delivery_due_time);
    r.boolean(j, "is_on_hold_order", o.is_on_hold);
    r.boolean(j, "is_buyer_request_cancel", o.is_buyer_request_cancel);

    if (const json* payment = r.object(j, "payment")) {
        reader p(name + ".payment");
        p.string(*payment, "currency", o.currency);
        p.string(*payment, "total_amount", o.total_amount);
        if (p.failed()) return decode_error(p.error());
    }

    if (const json* address = r.object(j, "recipient_address")) {
        reader a(name + ".recipient_address");
        std::string recipient, first, last;
        a.string(*address, "name", recipient);
        a.string(*address, "first_name", first);
        a.string(*address, "last_name", last);
        if (a.failed()) return decode_error(a.error());
        if (!recipient.empty()) o.recipient_name = recipient;
        else if (!first.empty() && !last.empty()) o.recipient_name = first + " " + last;
        else o.recipient_name = first.empty() ? last : first;
    }

    if (const json* items = r.array(j, "line_items")) {
        for (std::size_t i = 0; i < items->size(); ++i) {
            const json& item = (*items)[i];
            std::string where = name + ".line_items[" + std::to_string(i) + "]";
            if (!item.is_object()) return decode_error(where + " must be an object");
            reader li(where);
            line_item l;
            li.string(item, "id", l.id);
            li.string(item, "sku_id", l.sku_id);
            li.string(item, "product_id", l.product_id);
            li.string(item, "product_name", l.product_name);
            li.string(item, "sku_name", l.sku_name);
            li.string(item, "seller_sku", l.seller_sku);
            li.string(item, "sale_price", l.sale_price);
            li.string(item, "currency", l.currency);
            li.string(item, "package_id", l.package_id);
            li.string(item, "display_status", l.display_status);
            li.string(item, "package_status", l.package_status);
            li.string(item, "tracking_number", l.tracking_number);
            li.string(item, "shipping_provider_id", l.shipping_provider_id);
            li.string(item, "shipping_provider_name", l.shipping_provider_name);
            if (li.failed()) return decode_error(li.error());
            o.line_items.push_back(std::move(l));
        }
    }

    if (const json* packages = r.array(j, "packages")) {
        for (std::size_t i = 0; i < packages->size(); ++i) {
            const json& pkg = (*packages)[i];
            std::string where = name + ".packages[" + std::to_string(i) + "]";
            if (!pkg.is_object()) return decode_error(where + " must be an object");
            reader pk(where);
            std::string id;
            pk.string(pkg, "id", id);
            if (pk.failed()) return decode_error(pk.error());
            if (!id.empty()) o.package_ids.push_back(std::move(id));
        }
    }

    if (r.failed()) return decode_error(r.error());
    if (o.id.empty()) return decode_error(name + ".id is missing");
    if (o.currency.empty() && !o.line_items.empty()) o.currency = o.line_items.front().currency;
    return o;
}

result<package> parse_package_named(const json& j, const std::string& name) {
    if (!j.is_object()) return decode_error(name + " must be an object");
    package p;
    reader r(name);
    std::string package_id, id, package_status, status;
    r.string(j, "package_id", package_id);
    r.string(j, "id", id);
    r.string(j, "package_status", package_status);
    r.string(j, "status", status);
    r.string(j, "tracking_number", p.tracking_number);
    r.string(j, "shipping_provider_id", p.shipping_provider_id);
    r.string(j, "shipping_provider_name", p.shipping_provider_name);
    r.string(j, "shipping_type", p.shipping_type);
    r.string(j, "delivery_option_id", p.delivery_option_id);
    r.string(j, "handover_method", p.handover_method);
    r.integer(j, "create_time", p.create_time);
    r.integer(j, "update_time", p.update_time);
    r.strings(j, "order_line_item_ids", p.order_line_item_ids);
    if (const json* orders = r.array(j, "orders")) {
        for (std::size_t i = 0; i < orders->size(); ++i) {
            const json& o = (*orders)[i];
            std::string where = name + ".orders[" + std::to_string(i) + "]";
            if (!o.is_object()) return decode_error(where + " must be an object");
            reader ro(where);
            std::string order_id;
            ro.string(o, "id", order_id);
            if (ro.failed()) return decode_error(ro.error());
            if (!order_id.empty()) p.order_ids.push_back(std::move(order_id));
        }
    }
    if (r.failed()) return decode_error(r.error());
    p.id = !package_id.empty() ? std::move(package_id) : std::move(id);
    p.status = !package_status.empty() ? std::move(package_status) : std::move(status);
    if (p.id.empty()) return decode_error(name + ".package_id is missing");
    return p;
}

result<cs_message> parse_message_named(const json& j, const std::string& name) {
    if (!j.is_object()) return decode_error(name + " must be an object");
    cs_message m;
    reader r(name);
    r.string(j, "id", m.id);
    r.string(j, "type", m.type);
    r.string(j, "content", m.content);
    r.integer(j, "create_time", m.create_time);
    r.integer_or_string(j, "index", m.index);
    r.boolean(j, "is_visible", m.is_visible);
    if (const json* sender = r.object(j, "sender")) {
        reader rs(name + ".sender");
        rs.string(*sender, "role", m.sender_role);
        rs.string(*sender, "im_user_id", m.sender_im_user_id);
        if (rs.failed()) return decode_error(rs.error());
    }
    if (r.failed()) return decode_error(r.error());
    if (m.id.empty()) return decode_error(name + ".id is missing");
    // content is a JSON string: {"content":"hi"} for TEXT
    // (docs/tiktok-shop-api.md §5, §6). An unreadable one is kept raw; the text
    // stays empty.
    if (m.type == "TEXT" && !m.content.empty()) {
        // A content nested too deep is unreadable too (common/json_limits.hpp).
        auto parsed = parse_untrusted_json(m.content);
        if (const auto* c = std::get_if<json>(&parsed); c != nullptr && c->is_object()) {
            auto it = c->find("content");
            if (it != c->end() && it->is_string()) m.text = it->get<std::string>();
        }
    }
    return m;
}

result<conversation> parse_conversation_named(const json& j, const std::string& name) {
    if (!j.is_object()) return decode_error(name + " must be an object");
    conversation c;
    reader r(name);
    r.string(j, "id", c.id);
    r.integer(j, "participant_count", c.participant_count);
    r.integer(j, "unread_count", c.unread_count);
    r.boolean(j, "can_send_message", c.can_send_message);
    r.integer(j, "create_time", c.create_time);
    if (const json* people = r.array(j, "participants")) {
        for (std::size_t i = 0; i < people->size(); ++i) {
            const json& pj = (*people)[i];
            std::string where = name + ".participants[" + std::to_string(i) + "]";
            if (!pj.is_object()) return decode_error(where + " must be an object");
            reader rp(where);
            participant p;
            rp.string(pj, "im_user_id", p.im_user_id);
            rp.string(pj, "user_id", p.user_id);
            rp.string(pj, "role", p.role);
            rp.string(pj, "nickname", p.nickname);
            if (rp.failed()) return decode_error(rp.error());
            c.participants.push_back(std::move(p));
        }
    }
    if (const json* latest = r.object(j, "latest_message"); latest && !latest->empty()) {
        auto m = parse_message_named(*latest, name + ".latest_message");
        if (!m.ok()) return m.error();
        c.latest_message = std::move(m).value();
    }
    if (r.failed()) return decode_error(r.error());
    if (c.id.empty()) return decode_error(name + ".id is missing");
    return c;
}

// The array data[key] decoded element by element with `parse`, whose errors
// name the element ("data.orders[3].id must be a string"). Absent or null is
// an empty list.
template <class T, class Parse>
result<std::vector<T>> parse_list(const json& data, const char* key, Parse parse) {
    std::vector<T> out;
    if (!data.is_object()) return decode_error("data must be an object");
    reader r("data");
    const json* items = r.array(data, key);
    if (r.failed()) return decode_error(r.error());
    if (!items) return out;
    out.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
        result<T> item = parse((*items)[i], "data." + std::string(key) + "[" + std::to_string(i) + "]");
        if (!item.ok()) return item.error();
        out.push_back(std::move(item).value());
    }
    return out;
}

// A page's next_page_token and (when `total` is given) total_count; a
// decode error when either has the wrong type.
std::optional<api_error> page_fields(const json& data, std::string& next_page_token, std::int64_t* total) {
    reader r("data");
    r.string(data, "next_page_token", next_page_token);
    if (total) r.integer(data, "total_count", *total);
    if (r.failed()) return decode_error(r.error());
    return std::nullopt;
}

}  // namespace

result<order> parse_order(const nlohmann::json& j) { return parse_order_named(j, "order"); }
result<package> parse_package(const nlohmann::json& j) { return parse_package_named(j, "package"); }
result<cs_message> parse_message(const nlohmann::json& j) { return parse_message_named(j, "message"); }
result<conversation> parse_conversation(const nlohmann::json& j) { return parse_conversation_named(j, "conversation"); }

std::string conversation::buyer_user_id() const {
    for (const auto& p : participants) {
        if (p.role == "BUYER") return p.user_id;
    }
    return {};
}

result<order_page> parse_order_page(const nlohmann::json& data) {
    auto orders = parse_list<order>(data, "orders", parse_order_named);
    if (!orders.ok()) return orders.error();
    order_page page;
    page.orders = std::move(orders).value();
    if (auto e = page_fields(data, page.next_page_token, &page.total_count)) return *e;
    return page;
}

result<package_page> parse_package_page(const nlohmann::json& data) {
    auto packages = parse_list<package>(data, "packages", parse_package_named);
    if (!packages.ok()) return packages.error();
    package_page page;
    page.packages = std::move(packages).value();
    if (auto e = page_fields(data, page.next_page_token, &page.total_count)) return *e;
    return page;
}

result<conversation_page> parse_conversation_page(const nlohmann::json& data) {
    auto conversations = parse_list<conversation>(data, "conversations", parse_conversation_named);
    if (!conversations.ok()) return conversations.error();
    conversation_page page;
    page.conversations = std::move(conversations).value();
    if (auto e = page_fields(data, page.next_page_token, nullptr)) return *e;
    return page;
}

result<message_page> parse_message_page(const nlohmann::json& data) {
    auto messages = parse_list<cs_message>(data, "messages", parse_message_named);
    if (!messages.ok()) return messages.error();
    message_page page;
    page.messages = std::move(messages).value();
    if (auto e = page_fields(data, page.next_page_token, nullptr)) return *e;
    return page;
}

result<std::vector<shipping_provider>> parse_shipping_providers(const nlohmann::json& data) {
    return parse_list<shipping_provider>(data, "shipping_providers",
                                         [](const json& j, const std::string& name) -> result<shipping_provider> {
                                             if (!j.is_object()) return decode_error(name + " must be an object");
                                             shipping_provider p;
                                             reader r(name);
                                             r.string(j, "id", p.id);
                                             r.string(j, "name", p.name);
                                             if (r.failed()) return decode_error(r.error());
                                             if (p.id.empty()) return decode_error(name + ".id is missing");
                                             return p;
                                         });
}

result<std::vector<tracking_event>> parse_tracking(const nlohmann::json& data) {
    return parse_list<tracking_event>(data, "tracking",
                                      [](const json& j, const std::string& name) -> result<tracking_event> {
                                          if (!j.is_object()) return decode_error(name + " must be an object");
                                          tracking_event t;
                                          reader r(name);
                                          r.string(j, "description", t.description);
                                          r.integer(j, "update_time_millis", t.update_time_millis);
                                          if (r.failed()) return decode_error(r.error());
                                          return t;
                                      });
}

result<std::vector<authorized_shop>> parse_authorized_shops(const nlohmann::json& data) {
    return parse_list<authorized_shop>(data, "shops",
                                       [](const json& j, const std::string& name) -> result<authorized_shop> {
                                           if (!j.is_object()) return decode_error(name + " must be an object");
                                           authorized_shop s;
                                           reader r(name);
                                           r.string(j, "id", s.id);
                                           r.string(j, "name", s.name);
                                           r.string(j, "region", s.region);
                                           r.string(j, "seller_type", s.seller_type);
                                           r.string(j, "cipher", s.cipher);
                                           r.string(j, "code", s.code);
                                           if (r.failed()) return decode_error(r.error());
                                           return s;
                                       });
}

result<std::vector<webhook_subscription>> parse_webhooks(const nlohmann::json& data) {
    return parse_list<webhook_subscription>(
        data, "webhooks", [](const json& j, const std::string& name) -> result<webhook_subscription> {
            if (!j.is_object()) return decode_error(name + " must be an object");
            webhook_subscription w;
            reader r(name);
            r.string(j, "event_type", w.event_type);
            r.string(j, "address", w.address);
            r.integer(j, "create_time", w.create_time);
            r.integer(j, "update_time", w.update_time);
            if (r.failed()) return decode_error(r.error());
            return w;
        });
}

// --- After-sales: cancellations and returns --------------------------------------

std::string normalize_cancel_status(std::string_view status) {
    if (status == "CANCELLATION_REQUEST_CANCEL") return "CANCELLATION_REQUEST_CANCELLED";
    return std::string(status);
}

namespace {

result<cancellation> parse_cancellation_named(const json& j, const std::string& name) {
    if (!j.is_object()) return decode_error(name + " must be an object");
    cancellation c;
    reader r(name);
    r.string(j, "cancel_id", c.id);
    r.string(j, "order_id", c.order_id);
    r.string(j, "cancel_status", c.status);
    r.string(j, "cancel_type", c.cancel_type);
    r.string(j, "cancel_reason", c.reason);
    r.integer(j, "create_time", c.create_time);
    r.integer(j, "update_time", c.update_time);
    // The reference page names the initiator `role`; the webhook calls it
    // cancellations_role. GUESS: either may appear, `role` wins.
    std::string webhook_role;
    r.string(j, "role", c.role);
    r.string(j, "cancellations_role", webhook_role);
    if (r.failed()) return decode_error(r.error());
    if (c.role.empty()) c.role = std::move(webhook_role);
    if (c.id.empty()) return decode_error(name + ".cancel_id is missing");
    c.status = normalize_cancel_status(c.status);
    return c;
}

result<return_order> parse_return_named(const json& j, const std::string& name) {
    if (!j.is_object()) return decode_error(name + " must be an object");
    return_order o;
    reader r(name);
    r.string(j, "return_id", o.id);
    r.string(j, "order_id", o.order_id);
    r.string(j, "return_type", o.type);
    r.string(j, "return_status", o.status);
    r.string(j, "return_reason", o.reason);
    r.integer(j, "create_time", o.create_time);
    r.integer(j, "update_time", o.update_time);
    std::string webhook_role;   // as for cancellations: `role` here, return_role in the webhook
    r.string(j, "role", o.role);
    r.string(j, "return_role", webhook_role);
    if (r.failed()) return decode_error(r.error());
    if (o.role.empty()) o.role = std::move(webhook_role);
    if (o.id.empty()) return decode_error(name + ".return_id is missing");
    return o;
}

}  // namespace

result<cancellation> parse_cancellation(const nlohmann::json& j) { return parse_cancellation_named(j, "cancellation"); }
result<return_order> parse_return_order(const nlohmann::json& j) { return parse_return_named(j, "return"); }

result<cancellation_page> parse_cancellation_page(const nlohmann::json& data) {
    auto cancellations = parse_list<cancellation>(data, "cancellations", parse_cancellation_named);
    if (!cancellations.ok()) return cancellations.error();
    cancellation_page page;
    page.cancellations = std::move(cancellations).value();
    if (auto e = page_fields(data, page.next_page_token, &page.total_count)) return *e;
    return page;
}

result<return_page> parse_return_page(const nlohmann::json& data) {
    auto returns = parse_list<return_order>(data, "return_orders", parse_return_named);
    if (!returns.ok()) return returns.error();
    return_page page;
    page.returns = std::move(returns).value();
    if (auto e = page_fields(data, page.next_page_token, &page.total_count)) return *e;
    return page;
}

}  // namespace orderflow::tikapi
