// Tests for daemon/ingress/forwarded_for.hpp: X-Forwarded-For is read only
// from a trusted proxy's connection; the client is the rightmost entry that
// is not itself a trusted proxy, whatever the client put left of it; a
// malformed list leaves the proxy's address and is logged once.
#include "daemon/ingress/forwarded_for.hpp"

#include "tests/common/log_capture.hpp"
#include "tikapi/http.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow;
using namespace orderflow::daemon;

namespace {

ip_address address(const std::string& text) {
    auto a = parse_ip_address(text);
    REQUIRE(a.has_value());
    return *a;
}

// A request as the HTTP server hands it over, from `remote`, with these X-Forwarded-For fields.
tikapi::http_request from(const std::string& remote, const std::vector<std::string>& forwarded_for) {
    tikapi::http_request req;
    req.method = "POST";
    req.target = "/webhooks/tiktok";
    req.remote = remote;
    req.headers.push_back({"Host", "shop.example"});
    for (const auto& value : forwarded_for) req.headers.push_back({"X-Forwarded-For", value});
    return req;
}

}  // namespace

TEST_CASE("Addresses are parsed bare and an IPv4 address is one with its IPv4-mapped IPv6 form", "[forwarded_for]") {
    CHECK(address("127.0.0.1") == address("::ffff:127.0.0.1"));
    CHECK_FALSE(address("127.0.0.1") == address("127.0.0.2"));
    CHECK(remote_text(address("::ffff:203.0.113.5")) == "203.0.113.5");
    CHECK(remote_text(address("2001:DB8::1")) == "[2001:db8::1]");
    for (const char* not_an_address : {"", "localhost", "127.0.0.1:80", "[::1]", "10.0.0.0/8", "fe80::1%eth0", "1.2.3", " 1.2.3.4"}) {
        INFO(not_an_address);
        CHECK_FALSE(parse_ip_address(not_an_address).has_value());
    }
    CHECK(address("0.0.0.0").is_unspecified());
    CHECK(address("::").is_unspecified());
    CHECK_FALSE(address("::1").is_unspecified());
    CHECK(address_of("203.0.113.5:40112") == "203.0.113.5");
    CHECK(address_of("203.0.113.5") == "203.0.113.5");
    CHECK(address_of("[2001:db8::1]:443") == "2001:db8::1");
    CHECK(address_of("[2001:db8::1]") == "2001:db8::1");
}

TEST_CASE("X-Forwarded-For from a peer that is not a trusted proxy is never believed", "[forwarded_for]") {
    const std::vector<ip_address> trusted{address("127.0.0.1")};
    std::atomic<bool> reported{false};
    auto req = from("198.51.100.4:5000", {"127.0.0.1, 203.0.113.9"});
    CHECK(find_forwarded_client(trusted, req).what == forwarded_client::verdict::not_a_proxy);
    use_forwarded_client(trusted, req, reported, "webhook.trusted_proxies");
    CHECK(req.remote == "198.51.100.4:5000");
    CHECK_FALSE(reported.load());
}

TEST_CASE("From a trusted proxy the client is the rightmost address that is not a trusted proxy", "[forwarded_for]") {
    const std::vector<ip_address> trusted{address("127.0.0.1"), address("::1"), address("10.0.0.2")};
    using row = std::tuple<std::string, std::vector<std::string>, std::string>;
    const auto [remote, fields, client] = GENERATE(table<std::string, std::vector<std::string>, std::string>({
        row{"127.0.0.1:5000", {"203.0.113.9"}, "203.0.113.9"},
        // What the client sent itself is left of the proxy's entry and never read.
        row{"127.0.0.1:5000", {"127.0.0.1, 192.0.2.1, 203.0.113.9"}, "203.0.113.9"},
        row{"127.0.0.1:5000", {"not an address, 203.0.113.9"}, "203.0.113.9"},
        // A chain of trusted proxies is passed over.
        row{"127.0.0.1:5000", {"203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
        // Several fields are one list, in order.
        row{"127.0.0.1:5000", {"192.0.2.1", "203.0.113.9 , 10.0.0.2"}, "203.0.113.9"},
        row{"127.0.0.1:5000", {"192.0.2.1, 10.0.0.2", "10.0.0.2"}, "192.0.2.1"},
        // Ports and brackets as some proxies write them.
        row{"127.0.0.1:5000", {"203.0.113.9:61000"}, "203.0.113.9"},
        row{"127.0.0.1:5000", {"[2001:db8::9]:61000"}, "[2001:db8::9]"},
        row{"127.0.0.1:5000", {"2001:db8::9"}, "[2001:db8::9]"},
        // A dual-stack listener sees the IPv4 proxy as an IPv4-mapped address; an IPv6 proxy.
        row{"[::ffff:127.0.0.1]:5000", {"203.0.113.9"}, "203.0.113.9"},
        row{"[::1]:5000", {"203.0.113.9"}, "203.0.113.9"},
        // Only trusted proxies in the list: the first of the chain.
        row{"127.0.0.1:5000", {"10.0.0.2, 127.0.0.1"}, "10.0.0.2"},
        // The proxy's own request (a health check): it is the client.
        row{"127.0.0.1:5000", {}, "127.0.0.1:5000"},
    }));
    CAPTURE(remote, fields);
    std::atomic<bool> reported{false};
    auto req = from(remote, fields);
    use_forwarded_client(trusted, req, reported, "webhook.trusted_proxies");
    CHECK(req.remote == client);
    CHECK_FALSE(reported.load());
}

TEST_CASE("A malformed X-Forwarded-For from a trusted proxy leaves the proxy's address and is logged once", "[forwarded_for]") {
    const std::vector<ip_address> trusted{address("127.0.0.1")};
    std::atomic<bool> reported{false};
    const auto value = GENERATE(as<std::string>{}, "unknown", "203.0.113.9, ", "", "203.0.113.9:http", "[2001:db8::9");
    CAPTURE(value);
    orderflow::testing::log_capture capture;
    for (int i = 0; i < 3; ++i) {
        auto req = from("127.0.0.1:5000", {value});
        CHECK(find_forwarded_client(trusted, req).what == forwarded_client::verdict::malformed);
        use_forwarded_client(trusted, req, reported, "admin.trusted_proxies");
        CHECK(req.remote == "127.0.0.1:5000");
    }
    const auto lines = orderflow::testing::log_lines(capture.finish(), "forwarded_for_invalid");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].at("setting") == "admin.trusted_proxies");
    CHECK(lines[0].at("proxy") == "127.0.0.1");
    CHECK(lines[0].at("x_forwarded_for") == value);
}

}  // namespace ORDERFLOW_TEST_FILE
