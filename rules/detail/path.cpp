// Compiling and resolving field paths (see detail/path.hpp).
#include "rules/detail/path.hpp"

namespace orderflow::rules::detail {

std::optional<field_ref> make_field_ref(std::string_view path) {
    auto info = find_field(path);
    if (!info) return std::nullopt;
    field_ref ref;
    ref.path = std::string(path);
    ref.type = info->type;
    auto dot = path.find('.');
    std::string_view root = path.substr(0, dot);
    std::string_view rest = path.substr(dot + 1);
    if (root == "order") {
        ref.root = root_kind::order;
    } else if (root == "event") {
        ref.root = root_kind::event;
    } else if (root == "message") {
        ref.root = root_kind::message;
    } else if (root == "conversation") {
        ref.root = root_kind::conversation;
    } else {
        ref.root = root_kind::shop;
    }
    for (std::string_view map : {"sku_counts.", "attributes."}) {
        if (ref.root == root_kind::order && rest.substr(0, map.size()) == map) {
            ref.segments = {std::string(map.substr(0, map.size() - 1)), std::string(rest.substr(map.size()))};
            return ref;
        }
    }
    while (true) {
        auto next = rest.find('.');
        ref.segments.emplace_back(rest.substr(0, next));
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 1);
    }
    return ref;
}

field_ref make_element_ref(std::string_view name, field_type type) {
    field_ref ref;
    ref.root = root_kind::element;
    ref.path = std::string(name);
    ref.type = type;
    if (!name.empty()) ref.segments.emplace_back(name);
    return ref;
}

const nlohmann::json* resolve_in(const field_ref& ref, const nlohmann::json& root) {
    const nlohmann::json* cur = &root;
    for (const auto& key : ref.segments) {
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(key);
        if (it == cur->end()) return nullptr;
        cur = &*it;
    }
    return cur->is_null() ? nullptr : cur;
}

const nlohmann::json* resolve(const field_ref& ref, const context& ctx, const nlohmann::json* element) {
    switch (ref.root) {
        case root_kind::order: return resolve_in(ref, ctx.order);
        case root_kind::event: return resolve_in(ref, ctx.event_data);
        case root_kind::message: return resolve_in(ref, ctx.message);
        case root_kind::conversation: return resolve_in(ref, ctx.conversation);
        case root_kind::shop: return resolve_in(ref, ctx.shop);
        case root_kind::element: return element ? resolve_in(ref, *element) : nullptr;
    }
    return nullptr;
}

}  // namespace orderflow::rules::detail
