// The orderflow-sandbox command line and program body, in the library so the
// tests exercise exactly what ships; main.cpp only calls run().
//
//   orderflow-sandbox --listen 127.0.0.1:0 --app-key KEY --app-secret-file FILE
//                     --shop-cipher CIPHER [--shop-id ID] [--webhook-url URL]
//                     [--retry-scale 0.001] [--access-ttl 604800] [--seed N] and the
//                     time, fault, load and TLS options listed by usage() and README.md
#pragma once

#include "tikapi/sandbox/shop.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace orderflow::sandbox {

struct command_line {
    shop_options shop;
    std::string host;
    std::uint16_t port = 0;
    load_options load;                 // --load-orders N starts load mode at start-up
    std::string tls_cert, tls_key;     // both set: serve HTTPS
};

// Parses the arguments and reads the app secret file (trailing whitespace
// dropped). Returns a message for the operator on any problem: an unknown or
// missing option, a bad number, an unreadable or empty secret file, a listen
// or webhook address that is not on this machine. Never throws.
std::variant<command_line, std::string> parse_command_line(int argc, const char* const* argv);

std::string usage();

// Whether the command line asks for the usage (--help or -h in an option's
// place): run() then prints usage() on standard output and returns 0.
bool asks_for_help(int argc, const char* const* argv);

// The program: parse, listen, log {"event":"sandbox_listening","port":N,...}
// on stderr, serve until SIGTERM or SIGINT, exit 0. Returns the exit status
// (1 on a start-up error, with a log line saying why).
int run(int argc, const char* const* argv);

}  // namespace orderflow::sandbox
