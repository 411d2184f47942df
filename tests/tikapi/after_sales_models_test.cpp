// Decoding the after-sales searches (tikapi/models.hpp, "After-sales"): the
// reference pages' samples, the role under either name, the two spellings
// of the withdrawn cancellation, and errors that name the field.
#include "tikapi/models.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::tikapi;
using json = nlohmann::json;

TEST_CASE("A Search Cancellations page decodes with its role, status and times", "[models][after_sales]") {
    json data = json::parse(R"({"cancellations":[{"order_id":"577087614418520388","cancel_type":"BUYER_CANCEL",
        "cancel_status":"CANCELLATION_REQUEST_PENDING","role":"BUYER","cancel_reason":"ecom_order_to_ship_canceled_reason_created_by_mistakes",
        "create_time":1690451136,"update_time":1690451137,"seller_next_action_response":[{"action":"SELLER_RESPOND_CANCEL","deadline":1690554680}],
        "cancel_id":"4035318504086604100"},
        {"order_id":"2","cancel_status":"CANCELLATION_REQUEST_CANCEL","cancellations_role":"SYSTEM","cancel_id":"9"}],
        "total_count":2,"next_page_token":"abc"})");
    auto page = parse_cancellation_page(data);
    REQUIRE(page.ok());
    REQUIRE(page.value().cancellations.size() == 2);
    const auto& c = page.value().cancellations[0];
    CHECK(c.id == "4035318504086604100");
    CHECK(c.order_id == "577087614418520388");
    CHECK(c.status == "CANCELLATION_REQUEST_PENDING");
    CHECK(c.role == "BUYER");
    CHECK(c.cancel_type == "BUYER_CANCEL");
    CHECK(c.create_time == 1690451136);
    CHECK(c.update_time == 1690451137);
    // GUESS: the webhook's name for the role is read too; CANCEL is CANCELLED.
    CHECK(page.value().cancellations[1].role == "SYSTEM");
    CHECK(page.value().cancellations[1].status == "CANCELLATION_REQUEST_CANCELLED");
    CHECK(page.value().total_count == 2);
    CHECK(page.value().next_page_token == "abc");
}

TEST_CASE("A Search Returns page decodes return_orders", "[models][after_sales]") {
    json data = json::parse(R"({"return_orders":[{"order_id":"577686530908261117","return_id":"4035318504086604100",
        "return_type":"REFUND","return_status":"RETURN_OR_REFUND_REQUEST_PENDING","role":"BUYER","return_reason":"damaged",
        "create_time":1690451136,"update_time":1690453136,"is_combined_return":"true "}],"total_count":1,"next_page_token":""})");
    auto page = parse_return_page(data);
    REQUIRE(page.ok());
    REQUIRE(page.value().returns.size() == 1);
    const auto& r = page.value().returns[0];
    CHECK(r.id == "4035318504086604100");
    CHECK(r.type == "REFUND");
    CHECK(r.status == "RETURN_OR_REFUND_REQUEST_PENDING");
    CHECK(r.role == "BUYER");
    CHECK(r.update_time == 1690453136);
    CHECK(parse_return_page(json::object()).value().returns.empty());
}

TEST_CASE("After-sales records without their id, or with a field of the wrong type, are decode errors naming it", "[models][after_sales]") {
    auto no_id = parse_cancellation_page(json{{"cancellations", {{{"order_id", "1"}}}}});
    REQUIRE_FALSE(no_id.ok());
    CHECK(no_id.error().message == "data.cancellations[0].cancel_id is missing");
    auto bad_time = parse_return_page(json{{"return_orders", {{{"return_id", "1"}, {"update_time", "soon"}}}}});
    REQUIRE_FALSE(bad_time.ok());
    CHECK(bad_time.error().message == "data.return_orders[0].update_time must be an integer");
    CHECK_FALSE(parse_return_order(json::array()).ok());
    CHECK(normalize_cancel_status("CANCELLATION_REQUEST_CANCEL") == "CANCELLATION_REQUEST_CANCELLED");
    CHECK(normalize_cancel_status("CANCELLATION_REQUEST_PENDING") == "CANCELLATION_REQUEST_PENDING");
}

}  // namespace ORDERFLOW_TEST_FILE
