// A listener that cannot start names the config key that chose its address,
// and for an address in use says what to do. Called inside a catch block.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace orderflow::daemon::detail {

[[noreturn]] inline void rethrow_listen_error(std::string_view key) {
    try {
        throw;
    } catch (const std::system_error& e) {
        std::string what = std::string(key) + ": " + e.what();
        if (e.code() == std::errc::address_in_use)
            what += "; another program, or another orderflowd, listens there: stop it or choose another port in " + std::string(key);
        throw std::runtime_error(what);
    }
}

}  // namespace orderflow::daemon::detail
