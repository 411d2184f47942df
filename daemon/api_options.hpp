// The TikTok client's options from the config, for the daemon and for
// orderflowctl alike: the hosts, the app's key and secret, the timeout, the
// CA file, and a shared per-API rate limiter sized to TikTok's limit.
#pragma once

#include "common/secret.hpp"
#include "daemon/config.hpp"
#include "tikapi/client.hpp"

#include <cstdint>
#include <functional>

namespace orderflow::daemon {

// Throws std::runtime_error naming the key when a URL is not http(s).
// clock: unix seconds for signing; empty: the system clock.
tikapi::client_options api_options(const config& cfg, orderflow::secret app_secret, std::function<std::int64_t()> clock = {});

}  // namespace orderflow::daemon
