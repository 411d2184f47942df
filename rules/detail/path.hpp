// Field paths compiled once at load: the root they start from and the keys to
// follow, so evaluation walks nlohmann objects without splitting strings.
#pragma once

#include "rules/context.hpp"
#include "rules/fields.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::rules::detail {

enum class root_kind : std::uint8_t { order, event, message, conversation, shop, element };

struct field_ref {
    root_kind root = root_kind::order;
    std::vector<std::string> segments;  // keys below the root; empty means the root itself
    std::string path;                   // as written, for messages ("order.buyer_name")
    field_type type = field_type::string;
    // Index of this path among the ruleset's distinct non-element fields, so
    // evaluation resolves each field once per event; no_id for element fields.
    static constexpr std::uint32_t no_id = UINT32_MAX;
    std::uint32_t id = no_id;
};

// A catalogue path ("order.sku_counts.ENG-1" keeps "ENG-1" as one key, dots and all).
// nullopt when the path is not in the catalogue.
std::optional<field_ref> make_field_ref(std::string_view path);

// A field of an array element; `name` empty means the element itself.
field_ref make_element_ref(std::string_view name, field_type type);

// The value at `ref`, or nullptr when missing or JSON null. `element` is the
// current array element for element refs (nullptr otherwise).
const nlohmann::json* resolve(const field_ref& ref, const context& ctx, const nlohmann::json* element = nullptr);

// The value at `ref` below an explicit root object.
const nlohmann::json* resolve_in(const field_ref& ref, const nlohmann::json& root);

}  // namespace orderflow::rules::detail
