// See supervisor.hpp. The state is shared (impl behind a shared_ptr) with the
// coroutines it spawns, so a loop still winding down after the supervisor is
// destroyed touches nothing freed.
#include "daemon/supervisor.hpp"

#include "common/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>

namespace orderflow::daemon {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

struct supervisor::impl {
    asio::any_io_executor ex;
    options opts;
    clock_fn now;
    bool stopping = false;

    struct watched {
        steady::time_point deadline;   // unhealthy after this without a beat
        int crashes = 0;
        // Crashes since the loop last completed a pass, and when it did (or
        // was first started): failing when both are too many and too long ago.
        int crashes_in_a_row = 0;
        steady::time_point completed;
        bool beaten = false;           // this start of the loop has beaten
        bool backing_off = false;      // crashed, waiting to start again
    };
    std::map<std::string, watched, std::less<>> loops;
    std::set<asio::steady_timer*> sleeping;   // backoff and watchdog waits, cancelled by stop()
    // One per running loop: stop() emits terminal cancellation into whatever
    // the loop awaits (a TikTok call that never answers included).
    std::vector<std::shared_ptr<asio::cancellation_signal>> signals;

    impl(asio::any_io_executor e, options o, clock_fn n) : ex(std::move(e)), opts(o), now(std::move(n)) {}

    asio::awaitable<void> sleep(steady::duration d) {
        asio::steady_timer timer(ex);
        timer.expires_after(d);
        sleeping.insert(&timer);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        sleeping.erase(&timer);
    }
};

supervisor::supervisor(asio::any_io_executor ex, options opts, clock_fn now)
    : impl_(std::make_shared<impl>(std::move(ex), opts, now ? std::move(now) : clock_fn([] { return steady::now(); }))) {}

supervisor::~supervisor() { stop(); }

void supervisor::run(std::string name, std::function<asio::awaitable<void>()> loop) {
    auto s = impl_;
    auto& w = s->loops[name];
    w = {};
    w.deadline = s->now() + s->opts.wedged_after;
    w.completed = s->now();
    auto signal = std::make_shared<asio::cancellation_signal>();
    s->signals.push_back(signal);
    auto body = [s, name, loop = std::move(loop)]() -> asio::awaitable<void> {
        auto backoff = std::chrono::duration_cast<steady::duration>(s->opts.first_backoff);
        while (!s->stopping) {
            const auto started = s->now();
            s->loops[name].beaten = false;
            std::string error;
            try {
                co_await loop();
            } catch (const std::exception& e) {
                error = e.what();
            } catch (...) {
                error = "unknown exception";
            }
            if (s->stopping) break;
            if (error.empty()) error = "the loop returned while the daemon was running";
            // A loop that ran a good while before failing starts over from
            // the shortest backoff; one that fails at once backs off further.
            if (s->now() - started > std::chrono::seconds(60)) backoff = s->opts.first_backoff;
            auto& w = s->loops[name];
            ++w.crashes;
            ++w.crashes_in_a_row;
            log::error("loop_crashed", {{"loop", name}, {"error", error}, {"crashes", w.crashes}, {"in_a_row", w.crashes_in_a_row},
                                        {"restart_in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count()},
                                        {"advice", "the loop restarts by itself; if this repeats, the error says what to fix"}});
            // No beat here, and the beats of this start complete no pass: a
            // loop that beats at the top of every pass and then throws makes
            // no progress, and after wedged_after unhealthy() says so (the
            // backoff, at most 60 s, would otherwise keep its beats fresh).
            w.backing_off = true;
            co_await s->sleep(backoff);
            s->loops[name].backing_off = false;
            backoff = std::min<steady::duration>(backoff * 2, s->opts.max_backoff);
            if (!s->stopping) log::info("loop_restarted", {{"loop", name}});
        }
        s->loops.erase(name);
    };
    // The signal lives as long as the supervisor (it is never erased): asio
    // touches the slot after the completion handler has run, so it must not
    // be freed there. Emitting on a finished loop's signal does nothing.
    asio::co_spawn(s->ex, std::move(body), asio::bind_cancellation_slot(signal->slot(), asio::detached));
}

void supervisor::beat(std::string_view name, steady::duration quiet) {
    auto it = impl_->loops.find(name);
    if (it == impl_->loops.end()) return;
    auto& w = it->second;
    const auto t = impl_->now();
    w.deadline = t + quiet + impl_->opts.wedged_after;
    // A beat before a wait, after an earlier beat of this start: the loop
    // went round at least once (its first beat may be the top of a pass
    // that throws). Beats without a wait come from inside a pass.
    if (quiet > steady::duration::zero() && w.beaten) {
        w.completed = t;
        w.crashes_in_a_row = 0;
    }
    w.beaten = true;
}

std::vector<std::string> supervisor::unhealthy() const {
    std::vector<std::string> out;
    const auto& o = impl_->opts;
    const auto t = impl_->now();
    for (const auto& [name, w] : impl_->loops) {
        // Judged only while it waits to start again: a loop that crashes at
        // every pass spends nearly all its time there (its backoff grows to
        // a minute), while one that recovered is running, and may go a whole
        // poll interval (up to a day) before its next beat completes a pass.
        const bool failing =
            w.backing_off && w.crashes_in_a_row >= o.failing_after_crashes && t - w.completed > o.wedged_after;
        if (t > w.deadline || failing) out.push_back(name);
    }
    return out;
}

int supervisor::crashes(std::string_view name) const {
    auto it = impl_->loops.find(name);
    return it == impl_->loops.end() ? 0 : it->second.crashes;
}

asio::awaitable<void> supervisor::watchdog(std::chrono::milliseconds every, std::function<void()> ping) {
    auto s = impl_;
    std::vector<std::string> withheld_for;
    while (!s->stopping) {
        auto bad = unhealthy();
        if (bad.empty()) {
            if (!withheld_for.empty()) log::info("watchdog_resumed", {});
            withheld_for.clear();
            ping();
        } else if (bad != withheld_for) {
            withheld_for = bad;
            log::error("watchdog_withheld", {{"loops", bad},
                                             {"advice", "these loops are dead, stuck, or crash at every pass (loop_crashed); systemd restarts the daemon "
                                                        "when its watchdog runs out"}});
        }
        co_await s->sleep(every);
    }
}

void supervisor::stop() {
    if (impl_->stopping) return;
    impl_->stopping = true;
    for (auto* t : impl_->sleeping) t->cancel();
    for (auto& signal : impl_->signals) signal->emit(asio::cancellation_type::terminal);
}

bool supervisor::stopping() const { return impl_->stopping; }

}  // namespace orderflow::daemon
