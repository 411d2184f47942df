// Tests of tikapi/sandbox/after_sales.cpp: the buyer's cancellation request
// and its outcomes, the return story with its statuses and refunds, the type
// 11 / type 12 notifications each step sends, and Search Cancellations /
// Search Returns answering from that state with the checks of every Open API
// path (signing, envelope, page sizes, filters).
#include "tikapi/sandbox/shop.hpp"

#include "tests/sandbox/helpers.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;

namespace {

json last_payload(const orderflow::sandbox::shop& shop) { return json::parse(shop.deliveries().back().body); }

json search(fixture& f, const std::string& what, const json& body, std::map<std::string, std::string> query = {}) {
    return f.call("POST", "/return_refund/202309/" + what + "/search", std::move(query), body.dump());
}

}  // namespace

TEST_CASE("A buyer's cancellation request is pending with is_buyer_request_cancel, and approving it cancels the order", "[after_sales]") {
    fixture f;
    f.authorize();
    const std::string id = f.create_order()["id"];
    json request = body_of(f.control("POST", "/control/orders/" + id + "/cancel_request", {{"reason", "Ordered twice"}}));
    CHECK(request["cancel_status"] == "CANCELLATION_REQUEST_PENDING");
    CHECK(request["role"] == "BUYER");
    CHECK(request["cancel_type"] == "BUYER_CANCEL");
    const std::string cancel_id = request["cancel_id"];
    json p = last_payload(f.shop);
    CHECK(p["type"] == 11);
    CHECK(p["data"] == json{{"order_id", id}, {"cancellations_role", "BUYER"}, {"cancel_status", "CANCELLATION_REQUEST_PENDING"},
                            {"cancel_id", cancel_id}, {"create_time", f.clock}});
    CHECK(f.order_detail(id)["is_buyer_request_cancel"] == true);
    // One open request at a time.
    CHECK(f.control("POST", "/control/orders/" + id + "/cancel_request", json::object()).status == 409);

    f.clock += 60;
    const auto before = f.shop.deliveries().size();
    json approved = body_of(f.control("POST", "/control/cancellations/" + cancel_id + "/approve", json::object()));
    CHECK(approved["cancel_status"] == "CANCELLATION_REQUEST_SUCCESS");
    REQUIRE(f.shop.deliveries().size() == before + 2);   // type 11, then the order's type 1
    CHECK(json::parse(f.shop.deliveries()[before].body)["data"]["cancel_status"] == "CANCELLATION_REQUEST_SUCCESS");
    CHECK(last_payload(f.shop)["type"] == 1);
    json order = f.order_detail(id);
    CHECK(order["status"] == "CANCELLED");
    CHECK(order["is_buyer_request_cancel"] == false);
    CHECK(order["cancellation_initiator"] == "BUYER");
    CHECK(order["cancel_reason"] == "Ordered twice");

    json completed = body_of(f.control("POST", "/control/cancellations/" + cancel_id + "/complete", json::object()));
    CHECK(completed["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE");
    CHECK(last_payload(f.shop)["type"] == 11);   // already cancelled: no second type 1
    CHECK(f.control("POST", "/control/cancellations/" + cancel_id + "/approve", json::object()).status == 409);
}

TEST_CASE("A rejected or withdrawn cancellation request leaves the order as it was, and a new request gets a new id", "[after_sales]") {
    fixture f;
    f.authorize();
    const std::string id = f.create_order()["id"];
    const std::string step = GENERATE(std::string("reject"), std::string("withdraw"));
    json first = body_of(f.control("POST", "/control/orders/" + id + "/cancel_request", json::object()));
    json ended = body_of(f.control("POST", "/control/cancellations/" + first["cancel_id"].get<std::string>() + "/" + step, json::object()));
    CHECK(ended["cancel_status"] == "CANCELLATION_REQUEST_CANCELLED");
    json order = f.order_detail(id);
    CHECK(order["status"] == "AWAITING_SHIPMENT");
    CHECK(order["is_buyer_request_cancel"] == false);
    json again = body_of(f.control("POST", "/control/orders/" + id + "/cancel_request", json::object()));
    CHECK(again["cancel_id"] != first["cancel_id"]);
    CHECK(f.control("POST", "/control/cancellations/" + first["cancel_id"].get<std::string>() + "/nope", json::object()).status == 404);
}

TEST_CASE("Cancellation requests are refused for orders that cannot be cancelled", "[after_sales]") {
    fixture f;
    const std::string delivered = f.create_order("DELIVERED")["id"];
    CHECK(f.control("POST", "/control/orders/" + delivered + "/cancel_request", json::object()).status == 409);
    const std::string cancelled = f.create_order("CANCELLED")["id"];
    CHECK(f.control("POST", "/control/orders/" + cancelled + "/cancel_request", json::object()).status == 409);
    CHECK(f.control("POST", "/control/orders/1/cancel_request", json::object()).status == 404);
    CHECK(f.control("POST", "/control/cancellations/1/approve", json::object()).status == 404);
}

TEST_CASE("A return moves through its statuses step by step, each one a type 12", "[after_sales]") {
    fixture f;
    f.authorize();
    const std::string id = f.create_order("DELIVERED")["id"];
    json r = body_of(f.control("POST", "/control/orders/" + id + "/return_request", json::object()));
    CHECK(r["return_type"] == "RETURN_AND_REFUND");
    CHECK(r["return_status"] == "RETURN_OR_REFUND_REQUEST_PENDING");
    const std::string return_id = r["return_id"];
    for (auto [step, status] : {std::pair{"approve", "AWAITING_BUYER_SHIP"}, std::pair{"buyer_ship", "BUYER_SHIPPED_ITEM"},
                                std::pair{"receive", "RETURN_OR_REFUND_REQUEST_COMPLETE"}}) {
        f.clock += 60;
        json moved = body_of(f.control("POST", "/control/returns/" + return_id + "/" + step, json::object()));
        CHECK(moved["return_status"] == status);
        json p = last_payload(f.shop);
        CHECK(p["type"] == 12);
        CHECK(p["data"]["return_status"] == status);
        CHECK(p["data"]["return_id"] == return_id);
        CHECK(p["data"]["return_role"] == "BUYER");
        CHECK(p["data"]["update_time"] == f.clock);
    }
    CHECK(f.control("POST", "/control/returns/" + return_id + "/approve", json::object()).status == 409);
    CHECK(f.order_detail(id)["status"] == "DELIVERED");
}

TEST_CASE("A refund-only request is approved and refunded, completing an order still on its way", "[after_sales]") {
    fixture f;
    f.authorize();
    const std::string id = f.create_order("IN_TRANSIT")["id"];
    json r = body_of(f.control("POST", "/control/orders/" + id + "/return_request", {{"return_type", "REFUND"}}));
    const std::string return_id = r["return_id"];
    CHECK(body_of(f.control("POST", "/control/returns/" + return_id + "/approve", json::object()))["return_status"] ==
          "RETURN_OR_REFUND_REQUEST_SUCCESS");
    CHECK(body_of(f.control("POST", "/control/returns/" + return_id + "/refund", json::object()))["return_status"] ==
          "RETURN_OR_REFUND_REQUEST_COMPLETE");
    CHECK(f.order_detail(id)["status"] == "COMPLETED");
    CHECK(last_payload(f.shop)["type"] == 1);
}

TEST_CASE("The return story table allows only the documented moves", "[after_sales]") {
    using orderflow::sandbox::return_step_target;
    CHECK(return_step_target("RETURN_AND_REFUND", "RETURN_OR_REFUND_REQUEST_PENDING", "approve") == "AWAITING_BUYER_SHIP");
    CHECK(return_step_target("REFUND", "RETURN_OR_REFUND_REQUEST_PENDING", "approve") == "RETURN_OR_REFUND_REQUEST_SUCCESS");
    CHECK(return_step_target("REPLACEMENT", "REPLACEMENT_REQUEST_PENDING", "approve") == "REPLACEMENT_REQUEST_COMPLETE");
    CHECK(return_step_target("RETURN_AND_REFUND", "BUYER_SHIPPED_ITEM", "reject") == "REJECT_RECEIVE_PACKAGE");
    CHECK(return_step_target("REFUND", "RETURN_OR_REFUND_REQUEST_PENDING", "buyer_ship").empty());
    CHECK(return_step_target("REPLACEMENT", "RETURN_OR_REFUND_REQUEST_PENDING", "approve").empty());
    CHECK(return_step_target("RETURN_AND_REFUND", "RETURN_OR_REFUND_REQUEST_COMPLETE", "cancel").empty());
    CHECK(orderflow::sandbox::is_final_return_status("REFUND_OR_RETURN_REQUEST_REJECT"));
    CHECK_FALSE(orderflow::sandbox::is_final_return_status("AWAITING_BUYER_SHIP"));
}

TEST_CASE("Return requests need a shipped or delivered order and one open return at a time", "[after_sales]") {
    fixture f;
    const std::string waiting = f.create_order()["id"];
    CHECK(f.control("POST", "/control/orders/" + waiting + "/return_request", json::object()).status == 409);
    const std::string id = f.create_order("DELIVERED")["id"];
    CHECK(f.control("POST", "/control/orders/" + id + "/return_request", {{"return_type", "SWAP"}}).status == 400);
    REQUIRE(f.control("POST", "/control/orders/" + id + "/return_request", json::object()).status == 200);
    CHECK(f.control("POST", "/control/orders/" + id + "/return_request", json::object()).status == 409);
    CHECK(f.control("POST", "/control/returns/1/approve", json::object()).status == 404);
}

TEST_CASE("Search Cancellations answers from the shop's records with filters, sorting and pages", "[after_sales][open_api]") {
    fixture f;
    f.authorize();
    const std::string a = f.create_order()["id"], b = f.create_order()["id"];
    json ca = body_of(f.control("POST", "/control/orders/" + a + "/cancel_request", json::object()));
    f.clock += 10;
    json cb = body_of(f.control("POST", "/control/orders/" + b + "/cancel_request", json::object()));
    f.clock += 10;
    f.control("POST", "/control/cancellations/" + ca["cancel_id"].get<std::string>() + "/reject", json::object());

    json all = search(f, "cancellations", json::object(), {{"sort_field", "update_time"}});
    REQUIRE(all["code"] == 0);
    REQUIRE(all["data"]["cancellations"].size() == 2);
    CHECK(all["data"]["total_count"] == 2);
    CHECK(all["data"]["cancellations"][0]["cancel_id"] == cb["cancel_id"]);   // b updated earlier than a's rejection
    CHECK(all["data"]["cancellations"][1]["cancel_status"] == "CANCELLATION_REQUEST_CANCELLED");
    CHECK(all["data"]["cancellations"][1]["role"] == "BUYER");

    // The filter's spelling CANCELLATION_REQUEST_CANCEL finds the CANCELLED one.
    json withdrawn = search(f, "cancellations", {{"cancel_status", {"CANCELLATION_REQUEST_CANCEL"}}});
    REQUIRE(withdrawn["data"]["cancellations"].size() == 1);
    CHECK(withdrawn["data"]["cancellations"][0]["order_id"] == a);
    CHECK(search(f, "cancellations", {{"order_ids", {b}}})["data"]["cancellations"].size() == 1);
    CHECK(search(f, "cancellations", {{"update_time_ge", f.clock}})["data"]["cancellations"].size() == 1);

    json first = search(f, "cancellations", json::object(), {{"page_size", "1"}});
    CHECK(first["data"]["cancellations"].size() == 1);
    json second = search(f, "cancellations", json::object(), {{"page_size", "1"}, {"page_token", first["data"]["next_page_token"].get<std::string>()}});
    CHECK(second["data"]["cancellations"].size() == 1);
    CHECK(second["data"]["next_page_token"] == "");

    CHECK(search(f, "cancellations", json::object(), {{"page_size", "51"}})["code"] == 25001001);
    CHECK(search(f, "cancellations", {{"order_ids", "not a list"}})["code"] == 25001001);
}

TEST_CASE("Search Returns answers with return_orders, takes page sizes from 10 and is signed like every Open API path", "[after_sales][open_api]") {
    fixture f;
    f.authorize();
    const std::string id = f.create_order("DELIVERED")["id"];
    json r = body_of(f.control("POST", "/control/orders/" + id + "/return_request", {{"return_type", "REFUND"}}));
    json found = search(f, "returns", {{"return_status", {"RETURN_OR_REFUND_REQUEST_PENDING"}}, {"return_types", {"REFUND"}}});
    REQUIRE(found["code"] == 0);
    REQUIRE(found["data"]["return_orders"].size() == 1);
    const json& ret = found["data"]["return_orders"][0];
    CHECK(ret["return_id"] == r["return_id"]);
    CHECK(ret["order_id"] == id);
    CHECK(ret["return_type"] == "REFUND");
    CHECK(ret["role"] == "BUYER");
    CHECK(search(f, "returns", {{"return_types", {"REPLACEMENT"}}})["data"]["return_orders"].empty());
    CHECK(search(f, "returns", json::object(), {{"page_size", "5"}})["code"] == 25001001);

    // A bad signature is refused as on every signed path.
    auto req = f.signed_request("POST", "/return_refund/202309/returns/search", {}, "{}");
    req.body = R"({"order_ids":["someone else's"]})";
    CHECK(body_of(f.shop.handle(req))["code"] == 106001);
}

TEST_CASE("The by-hand cancellation and return calls record what they send, so the searches find it", "[after_sales]") {
    fixture f;
    f.authorize();
    const std::string id = f.create_order("DELIVERED")["id"];
    json r = body_of(f.control("POST", "/control/orders/" + id + "/return", {{"return_status", "BUYER_SHIPPED_ITEM"}}));
    json found = search(f, "returns", json::object());
    REQUIRE(found["data"]["return_orders"].size() == 1);
    CHECK(found["data"]["return_orders"][0]["return_status"] == "BUYER_SHIPPED_ITEM");
    CHECK(found["data"]["return_orders"][0]["return_id"] == r["return_id"]);
    const std::string other = f.create_order()["id"];
    f.control("POST", "/control/orders/" + other + "/cancellation", {{"role", "SELLER"}});
    json c = search(f, "cancellations", json::object());
    REQUIRE(c["data"]["cancellations"].size() == 1);
    CHECK(c["data"]["cancellations"][0]["role"] == "SELLER");
    CHECK(c["data"]["cancellations"][0]["cancel_type"] == "CANCEL");
    CHECK(body_of(f.control("GET", "/control/cancellations"))["cancellations"].size() == 1);
    CHECK(body_of(f.control("GET", "/control/returns"))["returns"].size() == 1);
}

}  // namespace ORDERFLOW_TEST_FILE
