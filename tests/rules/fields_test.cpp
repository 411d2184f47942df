// Tests for rules/fields.hpp: the catalogue lookups, events and hints.
#include "rules/fields.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;

TEST_CASE("Catalogue fields are found with their types", "[fields]") {
    auto [path, type] = GENERATE(table<std::string, field_type>({
        {"order.id", field_type::string},
        {"order.create_time", field_type::timestamp},
        {"order.is_on_hold", field_type::boolean},
        {"order.total_amount", field_type::number},
        {"order.line_items", field_type::object_list},
        {"order.tags", field_type::string_list},
        {"order.sku_counts", field_type::count_map},
        {"order.sku_counts.ENG-001", field_type::number},
        {"order.sku_counts.A.B", field_type::number},
        {"event.type", field_type::number},
        {"message.text", field_type::string},
        {"shop.name", field_type::string},
    }));
    CAPTURE(path);
    auto f = find_field(path);
    REQUIRE(f);
    CHECK(f->type == type);
}

TEST_CASE("Unknown fields are not found", "[fields]") {
    auto path = GENERATE(as<std::string>{}, "order", "order.buyer", "order.sku_counts.",
                         "buyer.name", "order.line_items.seller_sku", "");
    CAPTURE(path);
    CHECK_FALSE(find_field(path));
}

TEST_CASE("Line item fields are known only under order.line_items", "[fields]") {
    CHECK(find_element_field("order.line_items", "seller_sku"));
    CHECK(find_element_field("order.line_items", "sale_price")->type == field_type::number);
    CHECK_FALSE(find_element_field("order.line_items", "quantity"));
    CHECK_FALSE(find_element_field("order.tags", "seller_sku"));
}

TEST_CASE("Known events and timer events are accepted, others are not", "[fields]") {
    CHECK(is_known_event("order.status_changed"));
    CHECK(is_known_event("shop.authorization_expiring"));
    CHECK(is_known_event("timer.engraving.reminder"));
    CHECK_FALSE(is_known_event("timer."));
    CHECK_FALSE(is_known_event("timer.Reminder"));
    CHECK_FALSE(is_known_event("order.status_change"));
}

TEST_CASE("Close matches suggest the intended name", "[fields]") {
    std::vector<std::string_view> names = {"order.buyer_name", "order.buyer_message", "order.id", "message.text"};
    CHECK(did_you_mean("order.buyer_nme", names) == "did you mean order.buyer_name?");
    CHECK(close_matches("event.buyer_name", names).front() == "order.buyer_name");
    CHECK(did_you_mean("completely.different", names).empty());
}

TEST_CASE("Closed sets of values belong to text and number fields of the catalogue and follow TikTok's documents", "[fields][values]") {
    std::size_t with_values = 0;
    for (const auto& f : field_catalogue()) {
        const auto& values = closed_values(f.path);
        if (values.empty()) continue;
        ++with_values;
        CAPTURE(f.path);
        CHECK((f.type == field_type::string || f.type == field_type::number));
        CHECK(std::find(values.begin(), values.end(), std::string_view()) == values.end());
    }
    CHECK(with_values == 17u);
    CHECK(closed_values("order.status") == closed_values("event.order_status"));
    const auto& statuses = closed_values("order.status");
    CHECK(std::find(statuses.begin(), statuses.end(), "DELIVERED") != statuses.end());
    CHECK(std::find(statuses.begin(), statuses.end(), "CANCEL") == statuses.end());   // the webhook's spelling, normalized
    CHECK(closed_element_values("order.packages", "status") == closed_values("event.package_status"));
    CHECK(closed_values("order.buyer_name").empty());
    CHECK(closed_values("order.nope").empty());
    CHECK(closed_element_values("order.line_items", "seller_sku").empty());
}

}  // namespace ORDERFLOW_TEST_FILE
