// Defensive decoding of token and order payloads (see models.hpp).
//
// A small field reader collects the first type error with its JSON path
// ("order.line_items[1].sale_price must be a string") instead of throwing,
// so one odd field from the API is a decode error, never a crash.
#include "tikapi/models.hpp"

#include <sodium.h>

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
           {"seller_base_region", tokens.seller_base_region}};
    orderflow::secret out(j.dump());
    wipe_string_field(j, "access_token");
    wipe_string_field(j, "refresh_token");
    return out;
}

std::optional<token_set> parse_tokens(const orderflow::secret& text) {
    auto j = json::parse(text.reveal(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
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

result<order> parse_order(const nlohmann::json& j) {
    if (!j.is_object()) return decode_error("order must be an object");
    order o;
    reader r("order");
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
    r.integer(j, "create_time", o.create_time);
    r.integer(j, "update_time", o.update_time);
    r.integer(j, "paid_time", o.paid_time);
    r.boolean(j, "is_on_hold_order", o.is_on_hold);

    if (const json* payment = r.object(j, "payment")) {
        reader p("order.payment");
        p.string(*payment, "currency", o.currency);
        p.string(*payment, "total_amount", o.total_amount);
        if (p.failed()) return decode_error(p.error());
    }

    if (const json* address = r.object(j, "recipient_address")) {
        reader a("order.recipient_address");
        std::string name, first, last;
        a.string(*address, "name", name);
        a.string(*address, "first_name", first);
        a.string(*address, "last_name", last);
        if (a.failed()) return decode_error(a.error());
        if (!name.empty()) o.recipient_name = name;
        else if (!first.empty() && !last.empty()) o.recipient_name = first + " " + last;
        else o.recipient_name = first.empty() ? last : first;
    }

    if (const json* items = r.array(j, "line_items")) {
        for (std::size_t i = 0; i < items->size(); ++i) {
            const json& item = (*items)[i];
            std::string where = "order.line_items[" + std::to_string(i) + "]";
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
            if (li.failed()) return decode_error(li.error());
            o.line_items.push_back(std::move(l));
        }
    }

    if (const json* packages = r.array(j, "packages")) {
        for (std::size_t i = 0; i < packages->size(); ++i) {
            const json& package = (*packages)[i];
            std::string where = "order.packages[" + std::to_string(i) + "]";
            if (!package.is_object()) return decode_error(where + " must be an object");
            reader pk(where);
            std::string id;
            pk.string(package, "id", id);
            if (pk.failed()) return decode_error(pk.error());
            if (!id.empty()) o.package_ids.push_back(std::move(id));
        }
    }

    if (r.failed()) return decode_error(r.error());
    if (o.id.empty()) return decode_error("order.id is missing");
    if (o.currency.empty() && !o.line_items.empty()) o.currency = o.line_items.front().currency;
    return o;
}

}  // namespace orderflow::tikapi
