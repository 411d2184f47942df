// The vocabulary rules and templates may use: the catalogue of field paths
// (order.*, event.*, message.*, shop.*), the fields of an order's line items,
// and the known event names. Kept in one place because conditions, templates
// and the docs (docs/rules.md) all check against the same list; a field that
// is not here is a load error, never a silently empty value.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::rules {

enum class field_type {
    string,
    number,
    boolean,
    timestamp,     // unix seconds (number, or a string of digits)
    string_list,   // array of strings (order.tags)
    object_list,   // array of objects (order.line_items)
    count_map,     // object: key -> number (order.sku_counts)
};

std::string_view type_name(field_type type);

struct field_info {
    std::string_view path;   // "order.buyer_name"; "order.sku_counts.<SKU>" for the per-SKU entry
    field_type type;
    std::string_view description;
};

// Every top-level field, in documentation order.
const std::vector<field_info>& field_catalogue();

// The fields of one element of `list` (an object_list such as order.line_items);
// empty for other fields.
const std::vector<field_info>& element_fields(std::string_view list);

// True for the catalogue's per-entry patterns ("order.sku_counts.<SKU>",
// "order.attributes.<NAME>"), which are not paths themselves.
bool is_entry_pattern(std::string_view path);

// Looks a path up in the catalogue; "order.sku_counts.ENG-001" finds the
// per-SKU entry (type number). nullopt when unknown.
std::optional<field_info> find_field(std::string_view path);

// Looks up a field of one element of `list`; nullopt when unknown.
std::optional<field_info> find_element_field(std::string_view list, std::string_view name);

// The values a field can hold when they form a closed set, in documentation
// order; empty for a field whose values are open (names, ids, texts). The
// sets are TikTok's documented enums (docs/tiktok-shop-api.md: order status
// §7, webhook data §5, cancellations and returns §6) as orderflow passes them
// on (a webhook's CANCEL is CANCELLED, a package's status is its line items'),
// and orderflow's own (event.type, event.source, conversation.order_link).
// event.type's values are numbers written as text ("1"). A field may also
// hold "" (TikTok left it out), which is not listed. The loader refuses a
// condition value outside the set: such a test never matches.
const std::vector<std::string_view>& closed_values(std::string_view path);

// The same for a field of one element of `list` (order.packages status).
const std::vector<std::string_view>& closed_element_values(std::string_view list, std::string_view name);

// Events a rule may name in `on`, besides "timer.<name>".
const std::vector<std::string_view>& known_events();

// True for a known event or "timer.<name>" with name [a-z0-9][a-z0-9._-]*.
bool is_known_event(std::string_view event);

// True for [a-z0-9][a-z0-9._-]* (rule ids and timer names).
bool is_identifier(std::string_view text);

// Up to `limit` candidates close to `word` (edit distance, or sharing its
// last path segment), best first; for "did you mean" hints.
std::vector<std::string> close_matches(std::string_view word, const std::vector<std::string_view>& candidates,
                                       std::size_t limit = 3);

// "did you mean a, b or c?" hint; empty when there is no close match.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace orderflow::rules
