// libsodium must be initialised once before use; sodium_init() is
// idempotent and thread-safe, so every entry point that uses libsodium calls
// ensure_sodium() first instead of relying on main() to remember it.
#pragma once

#include <sodium.h>

#include <stdexcept>

namespace orderflow::storage::detail {

inline void ensure_sodium() {
    static const bool ready = sodium_init() >= 0;
    if (!ready) throw std::runtime_error("libsodium failed to initialise (sodium_init); cannot hash or encrypt");
}

}  // namespace orderflow::storage::detail
