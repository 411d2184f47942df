// A log line that says the same thing again and again (a slow disk, a full
// disk, a stalled event loop) goes out at most once a minute, with how many
// were held back since the last one. Times are the context's clock (unix
// seconds; tests move it). A clock set back lets the next line through
// rather than holding lines back for longer.
#pragma once

#include <cstdint>
#include <optional>

namespace orderflow::daemon::detail {

class once_a_minute {
public:
    // True: write the line now, with held_back(), then call told(now).
    // False: counted, to be said with the next line.
    bool due(std::int64_t now) {
        if (told_at_ && now >= *told_at_ && now - *told_at_ < 60) {
            ++held_back_;
            return false;
        }
        return true;
    }
    long held_back() const { return held_back_; }
    void told(std::int64_t now) {
        told_at_ = now;
        held_back_ = 0;
    }

private:
    std::optional<std::int64_t> told_at_;
    long held_back_ = 0;
};

}  // namespace orderflow::daemon::detail
