// A loop's repeated failure, paced: how long to wait before trying again,
// and a log line at most once per interval with how many failures it stands
// for. When the database refuses writes (a full disk), a loop cannot even
// record that an attempt failed, so it must back off in memory instead of
// re-reading the same work at once: that spun a core and wrote thousands of
// log lines a second.
#pragma once

#include "common/log.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

namespace orderflow::daemon::detail {

class trouble {
public:
    using steady = std::chrono::steady_clock;

    // event: the log line's name (e.g. "pipeline_storage_failed").
    explicit trouble(std::string event, std::chrono::seconds log_every = std::chrono::seconds(60),
                     std::function<steady::time_point()> now = {})
        : event_(std::move(event)), log_every_(log_every), now_(now ? std::move(now) : [] { return steady::now(); }) {}

    // One failure. Logs it when it is the first since a success or
    // log_every has passed since the last line (with "repeats": the failures
    // not logged meanwhile). Returns how long to wait: 1 s, 2 s, 4 s, ... 30 s.
    steady::duration failed(const std::string& error, nlohmann::json fields = nlohmann::json::object()) {
        const auto t = now_();
        ++in_a_row_;
        if (in_a_row_ == 1 || t - last_logged_ >= log_every_) {
            fields["error"] = error;
            fields["failures_in_a_row"] = in_a_row_;
            fields["repeats_not_logged"] = unlogged_;
            fields["retry_in_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(delay()).count();
            log::error(event_, std::move(fields));
            last_logged_ = t;
            unlogged_ = 0;
        } else {
            ++unlogged_;
        }
        return delay();
    }

    // A success: the backoff starts over; after a run of failures, one line says so.
    void ok() {
        if (in_a_row_ > 0) log::info(event_ + "_recovered", {{"failures", in_a_row_}});
        in_a_row_ = 0;
        unlogged_ = 0;
    }

    int failures_in_a_row() const { return in_a_row_; }

private:
    steady::duration delay() const {
        const int doublings = std::min(in_a_row_ - 1, 5);
        return std::min<steady::duration>(std::chrono::seconds(1) * (1 << std::max(doublings, 0)), std::chrono::seconds(30));
    }

    std::string event_;
    std::chrono::seconds log_every_;
    std::function<steady::time_point()> now_;
    int in_a_row_ = 0;
    int unlogged_ = 0;
    steady::time_point last_logged_{};
};

}  // namespace orderflow::daemon::detail
