// The Beast and Asio headers, namespace aliases and helpers that the HTTP
// client (tikapi/http_client.cpp) and server (tikapi/http_server.cpp) share.
// Only those two files include it: Beast is slow to compile, so it stays out
// of every other translation unit (see tikapi/CMakeLists.txt).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace orderflow::tikapi {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

namespace detail {

// co_await an operation with this token to get its error as a value.
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// True for the errors of Beast's HTTP parser (a malformed message).
inline bool is_http_parse_error(const error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

}  // namespace detail

}  // namespace orderflow::tikapi
