// Cancellations and returns as rules see them (daemon/events.cpp,
// event_context in daemon/pipeline.cpp): the change keys a webhook and a poll
// share, the polled events shaped like their webhooks, the event.* fields a
// type 11 / type 12 carries, and the order's after-sales fields.
#include "daemon/events.hpp"
#include "daemon/pipeline.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using json = nlohmann::json;

TEST_CASE("Cancellation and return webhooks get the change keys the poller uses", "[events][after_sales]") {
    CHECK(daemon::change_key_of(11, {{"order_id", "5761"}, {"cancel_id", "5800"}, {"cancel_status", "CANCELLATION_REQUEST_PENDING"}}) ==
          "cancel:5800:CANCELLATION_REQUEST_PENDING");
    // The filter's spelling is the same change as the webhook's.
    CHECK(daemon::change_key_of(11, {{"cancel_id", "5800"}, {"cancel_status", "CANCELLATION_REQUEST_CANCEL"}}) ==
          "cancel:5800:CANCELLATION_REQUEST_CANCELLED");
    CHECK(daemon::change_key_of(12, {{"return_id", "4600"}, {"return_status", "AWAITING_BUYER_SHIP"}}) ==
          "return:4600:AWAITING_BUYER_SHIP");
    CHECK(daemon::change_key_of(11, {{"order_id", "5761"}, {"cancel_status", "CANCELLATION_REQUEST_PENDING"}}).empty());
    CHECK(daemon::change_key_of(12, {{"return_id", "4600"}}).empty());

    tikapi::webhook_event w;
    w.type = 11;
    w.notification_id = "7327";
    w.data = {{"order_id", "5761"}, {"cancellations_role", "BUYER"}, {"cancel_status", "CANCELLATION_REQUEST_PENDING"},
              {"cancel_id", "5800"}, {"create_time", 1'790'000'000}};
    auto hook = daemon::inbox_event_from_webhook(w, w.data.dump(), 100);
    CHECK(hook.change_key == "cancel:5800:CANCELLATION_REQUEST_PENDING");
    CHECK(hook.event == "order.cancellation_changed");
}

TEST_CASE("A polled cancellation or return is an event shaped like its webhook, with the same change key", "[events][after_sales]") {
    tikapi::cancellation c;
    c.id = "5800";
    c.order_id = "5761";
    c.status = "CANCELLATION_REQUEST_PENDING";
    c.role = "BUYER";
    c.create_time = 1'790'000'000;
    c.update_time = 1'790'000'010;
    auto e = daemon::inbox_event_from_polled_cancellation(c, 1'790'000'100);
    CHECK(e.source == "poll");
    CHECK(e.topic == 11);
    CHECK(e.event == "order.cancellation_changed");
    CHECK(e.order_id == "5761");
    CHECK(e.change_key == "cancel:5800:CANCELLATION_REQUEST_PENDING");
    CHECK(e.dedupe_key == "poll:cancel:5800:CANCELLATION_REQUEST_PENDING");
    json data = json::parse(e.payload).at("data");
    CHECK(data == json{{"order_id", "5761"}, {"cancellations_role", "BUYER"}, {"cancel_status", "CANCELLATION_REQUEST_PENDING"},
                       {"cancel_id", "5800"}, {"create_time", 1'790'000'000}, {"update_time", 1'790'000'010}});
    CHECK(daemon::change_key_of(11, data) == e.change_key);

    tikapi::return_order r;
    r.id = "4600";
    r.order_id = "5762";
    r.type = "REFUND";
    r.status = "RETURN_OR_REFUND_REQUEST_SUCCESS";
    r.role = "BUYER";
    auto re = daemon::inbox_event_from_polled_return(r, 1'790'000'100);
    CHECK(re.topic == 12);
    CHECK(re.event == "order.return_changed");
    CHECK(re.change_key == "return:4600:RETURN_OR_REFUND_REQUEST_SUCCESS");
    CHECK(json::parse(re.payload).at("data").at("return_type") == "REFUND");
}

TEST_CASE("event_context gives rules the cancellation's and the return's fields", "[pipeline][after_sales]") {
    storage::event_row e;
    e.id = 9;
    e.dedupe_key = "tts:n-9";
    e.source = "webhook";
    e.topic = 11;
    e.event = "order.cancellation_changed";
    e.payload = json{{"type", 11},
                     {"data",
                      {{"order_id", "5761"},
                       {"cancellations_role", "BUYER"},
                       {"cancel_status", "CANCELLATION_REQUEST_CANCEL"},
                       {"cancel_id", "5800"},
                       {"create_time", 1'790'000'000}}}}
                    .dump();
    auto ctx = daemon::event_context(e, 1'790'000'200, "ja");
    CHECK(ctx.event_data == json{{"type", 11},
                                 {"source", "webhook"},
                                 {"cancel_id", "5800"},
                                 {"cancel_status", "CANCELLATION_REQUEST_CANCELLED"},
                                 {"cancellations_role", "BUYER"},
                                 {"create_time", 1'790'000'000}});

    e.topic = 12;
    e.event = "order.return_changed";
    e.payload = json{{"type", 12},
                     {"data",
                      {{"order_id", "5761"},
                       {"return_id", "4600"},
                       {"return_role", "BUYER"},
                       {"return_type", "RETURN_AND_REFUND"},
                       {"return_status", "BUYER_SHIPPED_ITEM"},
                       {"create_time", 1'790'000'000},
                       {"update_time", 1'790'000'050}}}}
                    .dump();
    ctx = daemon::event_context(e, 1'790'000'200, "ja");
    CHECK(ctx.event_data == json{{"type", 12},
                                 {"source", "webhook"},
                                 {"update_time", 1'790'000'050},
                                 {"return_id", "4600"},
                                 {"return_type", "RETURN_AND_REFUND"},
                                 {"return_status", "BUYER_SHIPPED_ITEM"},
                                 {"return_role", "BUYER"},
                                 {"create_time", 1'790'000'000}});
}

TEST_CASE("event_context spells a cancelled order CANCELLED whether a webhook or a poll reported it", "[pipeline][after_sales]") {
    storage::event_row e;
    e.id = 10;
    e.dedupe_key = "tts:n-10";
    e.source = "webhook";
    e.topic = 1;
    e.event = "order.status_changed";
    e.payload = json{{"type", 1}, {"data", {{"order_id", "5761"}, {"order_status", "CANCEL"}, {"update_time", 1'790'000'100}}}}.dump();
    CHECK(daemon::event_context(e, 1'790'000'200, "ja").event_data["order_status"] == "CANCELLED");

    e.source = "poll";
    e.payload = json{{"type", 1}, {"data", {{"order_id", "5761"}, {"order_status", "CANCELLED"}, {"update_time", 1'790'000'100}}}}.dump();
    CHECK(daemon::event_context(e, 1'790'000'200, "ja").event_data["order_status"] == "CANCELLED");

    e.payload = json{{"type", 1}, {"data", {{"order_id", "5761"}, {"order_status", "AWAITING_SHIPMENT"}}}}.dump();
    CHECK(daemon::event_context(e, 1'790'000'200, "ja").event_data["order_status"] == "AWAITING_SHIPMENT");
}

TEST_CASE("The order view carries the buyer's cancellation request and who cancelled", "[events][after_sales]") {
    tikapi::order o;
    o.id = "5761";
    o.is_buyer_request_cancel = true;
    o.cancel_reason = "Ordered twice";
    o.cancellation_initiator = "BUYER";
    json v = daemon::order_view(o);
    CHECK(v.at("is_buyer_request_cancel") == true);
    CHECK(v.at("cancel_reason") == "Ordered twice");
    CHECK(v.at("cancellation_initiator") == "BUYER");

    auto parsed = tikapi::parse_order({{"id", "5761"}, {"is_buyer_request_cancel", true}, {"cancellation_initiator", "SELLER"}});
    REQUIRE(parsed.ok());
    CHECK(parsed.value().cancellation_initiator == "SELLER");
    CHECK(parsed.value().is_buyer_request_cancel);
}

}  // namespace ORDERFLOW_TEST_FILE
