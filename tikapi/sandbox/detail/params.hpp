// Request-parameter helpers shared by the Open API handlers (open_api.cpp,
// fulfillment.cpp): query values, the JSON body, and cursor pagination with
// page_size / page_token (docs/tiktok-shop-api.md §1 "Common query
// parameters").
#pragma once

#include "tikapi/sandbox/detail/util.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace orderflow::sandbox::detail {

inline std::optional<std::string> query_value(const std::map<std::string, std::string>& q, const std::string& key) {
    auto it = q.find(key);
    if (it == q.end()) return std::nullopt;
    return it->second;
}

// The body of a POST as a JSON object; an empty body counts as {}.
inline std::optional<nlohmann::json> body_object(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

// page_size within [1, max]; page_token an offset we handed out before.
struct page {
    std::size_t size = 0;
    std::size_t offset = 0;
};

inline std::optional<page> read_page(const std::map<std::string, std::string>& q, std::size_t max, std::string& error) {
    auto size = parse_int(query_value(q, "page_size").value_or(""));
    if (!size || *size < 1 || *size > static_cast<std::int64_t>(max)) {
        error = "page_size is required and must be between 1 and " + std::to_string(max);
        return std::nullopt;
    }
    page p;
    p.size = static_cast<std::size_t>(*size);
    auto token = query_value(q, "page_token").value_or("");
    if (!token.empty()) {
        auto offset = parse_int(token);
        if (!offset || *offset < 0) {
            error = "page_token is invalid";
            return std::nullopt;
        }
        p.offset = static_cast<std::size_t>(*offset);
    }
    return p;
}

inline std::string next_token(const page& p, std::size_t total) {
    return p.offset + p.size < total ? std::to_string(p.offset + p.size) : "";
}

// An integer field of a JSON body; nullopt when absent or not an integer.
inline std::optional<std::int64_t> int_field(const nlohmann::json& body, const char* name) {
    auto it = body.find(name);
    if (it == body.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
}

inline std::optional<std::string> string_field(const nlohmann::json& body, const char* name) {
    auto it = body.find(name);
    if (it == body.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

}  // namespace orderflow::sandbox::detail
