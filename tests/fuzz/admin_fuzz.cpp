// Fuzzes the admin socket's door: one request line as orderflowctl sends it
// (daemon/admin/commands.hpp, parse_admin_request; the socket hands it the
// line read up to '\n', at most 64 KiB). Invariants: a request that parses
// has a non-empty argv, and written back as JSON it parses to the same
// request; a refused one gets a reply that serializes.
#include "daemon/admin/commands.hpp"
#include "tests/fuzz/fuzz_support.hpp"

#include <nlohmann/json.hpp>

using orderflow::daemon::admin_request;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    orderflow::fuzz::quiet_logs();
    const auto line = orderflow::fuzz::as_text(data, size);
    auto parsed = orderflow::daemon::parse_admin_request(line);
    if (auto* why = std::get_if<std::string>(&parsed)) {
        ORDERFLOW_FUZZ_CHECK(!why->empty());
        auto reply = orderflow::daemon::admin_commands::malformed(*why);
        ORDERFLOW_FUZZ_CHECK(reply["exit"] == 2);
        (void)reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return 0;
    }
    const auto& request = std::get<admin_request>(parsed);
    ORDERFLOW_FUZZ_CHECK(!request.argv.empty());
    nlohmann::json again{{"argv", request.argv},
                         {"by", request.by},
                         {"note", request.note},
                         {"all", request.all},
                         {"limit", request.limit},
                         {"drop_held", request.drop_held},
                         {"role", request.role},
                         {"password_hash", request.password_hash}};
    auto reparsed = orderflow::daemon::parse_admin_request(again.dump() + "\n");
    ORDERFLOW_FUZZ_CHECK(std::holds_alternative<admin_request>(reparsed));
    const auto& r2 = std::get<admin_request>(reparsed);
    ORDERFLOW_FUZZ_CHECK(r2.argv == request.argv && r2.by == request.by && r2.note == request.note && r2.all == request.all &&
                         r2.limit == request.limit && r2.drop_held == request.drop_held && r2.role == request.role &&
                         r2.password_hash == request.password_hash);
    return 0;
}
