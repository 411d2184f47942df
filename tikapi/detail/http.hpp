// What tikapi/http.cpp (value types, URLs) shares with the HTTP client
// (tikapi/http_client.cpp). Free of Beast, like http.cpp itself.
#pragma once

#include "tikapi/http.hpp"

#include <string>

namespace orderflow::tikapi::detail {

// The Host header for `base`: IPv6 literals in brackets, the port only when
// it is not the scheme's default (defined in tikapi/http.cpp).
std::string host_header(const url& base);

}  // namespace orderflow::tikapi::detail
