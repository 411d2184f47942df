// Fuzzes the tracking feed's door (daemon/tracking.hpp): the same bytes as
// the JSON body of POST /v1/tracking (parse_tracking_request) and as a CSV
// file from the drop folder (parse_tracking_csv, encoding detection and
// CP932 conversion included); each submission taken becomes the inbox event
// (tracking_event) and its carrier is looked up (resolve_provider).
//
// Invariants (what tracking.hpp promises): nothing throws or crashes; every
// submission taken passes check_submission; every row and problem text is
// valid UTF-8; an event's payload is JSON.
#include "daemon/tracking.hpp"
#include "tests/fuzz/fuzz_support.hpp"

#include <nlohmann/json.hpp>

namespace {

using namespace orderflow;

void take(const daemon::tracking_submission& s) {
    ORDERFLOW_FUZZ_CHECK(daemon::check_submission(s).empty());
    for (const auto* field : {&s.order_id, &s.package_id, &s.carrier, &s.tracking_number})
        ORDERFLOW_FUZZ_CHECK(fuzz::valid_utf8(*field));
    const auto e = daemon::tracking_event(s, "fuzz", 1700000000);
    ORDERFLOW_FUZZ_CHECK(e.order_id == s.order_id);
    ORDERFLOW_FUZZ_CHECK(nlohmann::json::accept(e.payload));
    static const std::vector<std::pair<std::string, std::string>> aliases{{"ヤマト運輸", "Yamato Transport"},
                                                                          {"佐川急便", "Sagawa"}};
    static const std::vector<std::pair<std::string, std::string>> providers{{"7117858858072016686", "Yamato Transport"},
                                                                            {"7117859084333745966", "Sagawa Express"}};
    (void)daemon::resolve_provider(s.carrier, aliases, providers);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_logs();
    const auto text = fuzz::as_text(data, size);

    auto request = daemon::parse_tracking_request(text);
    if (auto* s = std::get_if<daemon::tracking_submission>(&request)) take(*s);
    else ORDERFLOW_FUZZ_CHECK(fuzz::valid_utf8(std::get<std::string>(request)));

    const auto csv = daemon::parse_tracking_csv(text);
    ORDERFLOW_FUZZ_CHECK(csv.encoding == "utf-8" || csv.encoding == "utf-8-bom" || csv.encoding == "cp932" ||
                         csv.encoding == "utf-16");
    int previous = 0;
    for (const auto& row : csv.rows) {
        ORDERFLOW_FUZZ_CHECK(row.line > previous);
        previous = row.line;
        take(row.submission);
    }
    for (const auto& p : csv.problems) {
        ORDERFLOW_FUZZ_CHECK(p.line >= 0);
        ORDERFLOW_FUZZ_CHECK(!p.why.empty());
        ORDERFLOW_FUZZ_CHECK(fuzz::valid_utf8(p.why));
    }
    return 0;
}
