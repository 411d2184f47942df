// The parts of tikapi/http.hpp that need no Beast: the request and response
// value types, URL parsing and percent-encoding, and raising the process's
// file descriptor limit that the server's connection caps assume. The client
// is in tikapi/http_client.cpp, the server in tikapi/http_server.cpp; keeping
// this file free of Beast keeps it cheap to compile.
#include "tikapi/http.hpp"

#include "tikapi/detail/http.hpp"

#include "common/log.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace orderflow::tikapi {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view find_header(const std::vector<http_header>& headers, std::string_view name) {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return h.value;
    }
    return {};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

}  // namespace

namespace detail {

std::string host_header(const url& base) {
    std::string host = base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host;
    if (base.port != default_port(base.scheme)) host += ":" + std::to_string(base.port);
    return host;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Value types

std::string_view http_request::header(std::string_view name) const { return find_header(headers, name); }

std::string http_request::path() const {
    auto q = target.find('?');
    return q == std::string::npos ? target : target.substr(0, q);
}

std::map<std::string, std::string> http_request::query() const {
    std::map<std::string, std::string> out;
    auto q = target.find('?');
    if (q == std::string::npos) return out;
    std::string_view rest = std::string_view(target).substr(q + 1);
    auto decode = [](std::string_view s) {
        std::string plus_as_space(s);
        std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
        return percent_decode(plus_as_space);
    };
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        std::string key = decode(pair.substr(0, eq));
        std::string value = eq == std::string_view::npos ? std::string{} : decode(pair.substr(eq + 1));
        out.emplace(std::move(key), std::move(value));   // the first occurrence wins
    }
    return out;
}

std::string_view http_response::header(std::string_view name) const { return find_header(headers, name); }

http_response http_response::json(int status, std::string body) {
    http_response r;
    r.status = status;
    r.headers.push_back({"content-type", "application/json"});
    r.body = std::move(body);
    return r;
}

http_response http_response::text(int status, std::string body) {
    http_response r;
    r.status = status;
    r.headers.push_back({"content-type", "text/plain; charset=utf-8"});
    r.body = std::move(body);
    return r;
}

std::optional<url> url::parse(std::string_view text) {
    auto sep = text.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    url u;
    for (char c : text.substr(0, sep)) u.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (u.scheme != "http" && u.scheme != "https") return std::nullopt;

    std::string_view rest = text.substr(sep + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (path.find_first_of("?# ") != std::string_view::npos) return std::nullopt;
    if (authority.find_first_of("@ ") != std::string_view::npos) return std::nullopt;

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port_text = after.substr(1);
            if (port_text.empty()) return std::nullopt;
        }
    } else {
        auto colon = authority.find(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return std::nullopt;
        }
    }
    if (u.host.empty()) return std::nullopt;

    u.port = default_port(u.scheme);
    if (!port_text.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 || value > 65535)
            return std::nullopt;
        u.port = static_cast<std::uint16_t>(value);
    }

    u.base_path = std::string(path);
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    return u;
}

std::string url::to_string() const { return scheme + "://" + detail::host_header(*this) + base_path; }

std::string percent_encode(std::string_view s) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    return out;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);   // a stray '%' stays as it is
    }
    return out;
}

// ---------------------------------------------------------------------------
// The process's file descriptor limit

std::uint64_t raise_open_file_limit() {
    // prlimit(2), not setrlimit(2): systemd/orderflow.service denies the
    // @resources system calls, setrlimit among them, and allows prlimit64.
    rlimit current{};
    if (::prlimit(0, RLIMIT_NOFILE, nullptr, &current) != 0) {
        log::warn("open_file_limit", {{"error", std::string("cannot read RLIMIT_NOFILE: ") + std::strerror(errno)}});
        return 0;
    }
    const rlim_t before = current.rlim_cur;
    rlim_t target = current.rlim_max;
    if (target == RLIM_INFINITY) {
        // The kernel caps descriptors at fs.nr_open whatever the hard limit says.
        target = 1024 * 1024;
        if (std::FILE* f = std::fopen("/proc/sys/fs/nr_open", "re")) {
            unsigned long long nr_open = 0;
            if (std::fscanf(f, "%llu", &nr_open) == 1 && nr_open > 0) target = static_cast<rlim_t>(nr_open);
            std::fclose(f);
        }
    }
    std::string error;
    if (current.rlim_cur != RLIM_INFINITY && current.rlim_cur < target) {
        rlimit wanted{target, current.rlim_max};
        if (::prlimit(0, RLIMIT_NOFILE, &wanted, nullptr) == 0) current.rlim_cur = target;
        else error = std::strerror(errno);
    }
    auto as_number = [](rlim_t v) -> std::uint64_t { return v == RLIM_INFINITY ? UINT64_MAX : v; };
    const std::uint64_t soft = as_number(current.rlim_cur);
    nlohmann::json fields{{"soft", soft}, {"hard", as_number(current.rlim_max)}, {"was", as_number(before)}};
    if (!error.empty()) fields["error"] = "cannot raise the limit: " + error;
    if (soft < 4096) {
        fields["advice"] = "few file descriptors: a connection flood can exhaust them; set LimitNOFILE=65536 "
                           "(systemd/orderflow.service) or raise the hard limit (ulimit -Hn)";
        log::warn("open_file_limit", std::move(fields));
    } else {
        log::info("open_file_limit", std::move(fields));
    }
    return soft;
}

}  // namespace orderflow::tikapi
