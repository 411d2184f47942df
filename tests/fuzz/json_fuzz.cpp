// Fuzzes the webhook's JSON reader (tikapi/detail/json_reader.hpp) against
// nlohmann's parser, the parser it stands in for: every webhook body is read
// by it before anything else looks at the body.
//
// Input: any bytes, taken as the body.
//
// Invariants: the reader accepts exactly what nlohmann accepts, and what it
// accepts is the same value, type for type (an unsigned 0 is not a signed
// 0) and float bit for bit. Beyond the reader's depth limit it may refuse
// what nlohmann accepts, never the other way round.
#include "common/json_limits.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/tikapi/json_identical.hpp"
#include "tikapi/detail/json_reader.hpp"

#include <nlohmann/json.hpp>

using json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace orderflow;
    const auto text = fuzz::as_text(data, size);
    // The reader refuses nesting deeper than its limit; nlohmann parses any
    // depth (its parse and destructor are iterative). Within the limit both
    // must agree on every text; beyond it, what the reader does read (the
    // deep part may follow a NUL that ends the text) nlohmann reads too.
    const bool shallow = !json_nests_deeper_than(text, 1000);
    json mine;
    const bool read = tikapi::detail::read_json(text, mine, 1000);
    const json theirs = json::parse(text, nullptr, false);
    if (shallow) {
        ORDERFLOW_FUZZ_CHECK(read == !theirs.is_discarded());
    } else if (read) {
        ORDERFLOW_FUZZ_CHECK(!theirs.is_discarded());
    }
    if (read) ORDERFLOW_FUZZ_CHECK(testing::json_identical(mine, theirs));
    return 0;
}
