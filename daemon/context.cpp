// Small helpers every component uses (context.hpp).
#include "daemon/context.hpp"

#include <algorithm>

namespace orderflow::daemon {

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string spoken(std::chrono::seconds d) {
    const auto n = d.count();
    if (n >= 3600 && n % 3600 == 0) return std::to_string(n / 3600) + " h";
    if (n >= 60 && n % 60 == 0) return std::to_string(n / 60) + " min";
    return std::to_string(n) + " s";
}

std::int64_t backoff(int attempts, std::chrono::seconds cap) {
    std::int64_t delay = 5;
    for (int i = 0; i < attempts && delay < cap.count(); ++i) delay *= 2;
    return std::min<std::int64_t>(delay, cap.count());
}

bool is_message(std::string_view kind) { return kind == "send_message" || kind == "reply"; }

}  // namespace orderflow::daemon
