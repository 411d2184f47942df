// See executor.hpp.
#include "daemon/executor/executor.hpp"

#include "common/log.hpp"
#include "daemon/deadline_timers.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/executor/message_sender.hpp"
#include "daemon/executor/outcomes.hpp"
#include "daemon/executor/reconciler.hpp"
#include "daemon/executor/tracking_sender.hpp"
#include "daemon/ingress/poller.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/storage_watch.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/telemetry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <exception>
#include <deque>
#include <list>
#include <map>
#include <unordered_set>
#include <vector>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

executor::executor(context ctx, parts p, review_desk& desk, tikapi::client& api, storage_watch& watch, supervisor& sup)
    : ctx_(std::move(ctx)), parts_(p), desk_(desk), api_(api), watch_(watch), sup_(sup), wake_(ctx_.ex) {}

void executor::stop() {
    stopping_ = true;
    parts_.reconcile.stop();
    wake_.notify();
}

asio::awaitable<void> executor::loop() {
    std::int64_t last_reconcile = 0;
    while (!stopping_) {
        sup_.beat("executor", std::chrono::seconds(5));
        if (watch_.known_lost()) {
            co_await wake_.wait(std::chrono::seconds(5));
            continue;
        }
        std::string storage_error;
        // At start (crash leftovers), every 10 s (timeouts), and at once
        // after a storage failure cut an action short.
        if (interrupted_ || ctx_.clock() - last_reconcile >= 10) {
            last_reconcile = ctx_.clock();
            try {
                if (interrupted_) settle_interrupted();
                co_await parts_.reconcile.pass();
            } catch (const std::exception& e) {
                storage_error = e.what();
            }
        }
        if (!storage_error.empty()) {
            co_await wake_.wait(trouble_.failed(storage_error));
            continue;
        }
        const pass_state st = co_await run_lanes(last_reconcile + 10);
        bool storage_trouble = st.storage_trouble;
        if (storage_trouble) storage_error = st.storage_error;
        if (!st.ran_any && !storage_trouble) {
            trouble_.ok();
            co_await wake_.wait(std::chrono::seconds(5));
            continue;
        }
        try {
            record_cs_calls(ctx_, api_);
        } catch (const std::exception& e) {
            storage_error = e.what();
            storage_trouble = true;
        }
        if (storage_trouble) co_await wake_.wait(trouble_.failed(storage_error));
        else if (st.paused) co_await wake_.wait(std::chrono::seconds(5));
        if (!storage_trouble) trouble_.ok();
    }
}

// The key that keeps actions in one lane: the buyer (per-buyer caps are
// checked at send time, so one buyer's sends must not overlap), else the
// order, else the conversation (replies in the order they were planned),
// else the action alone.
std::string executor::lane_key(const storage::action_row& a) {
    if (!a.buyer_user_id.empty()) return "buyer:" + a.buyer_user_id;
    if (!a.order_id.empty()) return "order:" + a.order_id;
    const json p = json::parse(a.payload, nullptr, false);
    const std::string conversation =
        p.is_object() && p.contains("conversation_id") && p["conversation_id"].is_string() ? p["conversation_id"].get<std::string>() : "";
    return conversation.empty() ? "action:" + std::to_string(a.id) : "conversation:" + conversation;
}

// A pass: up to max_lanes workers, each taking a lane (a key with actions
// waiting) and running its actions in id order, one at a time. Whenever
// fewer than queue_low actions wait, the pass reads more due ones, so a
// backlog keeps every lane busy instead of a pass of 50 ending with its
// slowest lane while TikTok's rate limit goes unused. An action read while
// its key's lane is running joins that lane's end: one buyer's sends never
// overlap and keep their order. The pass stops reading at `read_until` (the
// next reconciliation), when the breaker holds messages, or on a storage
// failure, and returns when every worker has finished, so nothing is in
// flight once it is over. What the workers share lives on the heap, and a
// cancellation of the loop (the supervisor stopping it) is passed on to
// them: a send that TikTok never answers ends at once, and the pass still
// waits for every worker before it returns.
struct executor::lanes_run {
    explicit lanes_run(asio::any_io_executor ex) : changed(ex, asio::steady_timer::time_point::max()) {}
    std::map<std::string, std::deque<storage::action_row>> lanes;   // waiting or running
    std::deque<std::string> ready;                                  // keys no worker has taken yet
    std::unordered_set<std::int64_t> known;                         // ids waiting or running
    std::unordered_set<std::int64_t> again;                         // ids that ran and may still be due: not twice a pass
    std::size_t waiting = 0;                                        // actions not yet started
    bool nothing_new = false;                                       // the last read found nothing new
    asio::steady_timer::time_point next_read{};                     // 100 ms after the last read
    bool cancelled = false;                                         // the loop was cancelled
    int running = 0;                                                // workers
    pass_state st;
    std::exception_ptr unexpected;
    asio::steady_timer changed;                                     // cancelled when an action or a worker ends
    std::list<asio::cancellation_signal> signals;                   // one per worker
};

// Reads the due actions (the lowest ids, as many more than the pass already
// holds as it may read) and queues the new ones. False on a storage failure.
bool executor::take_due(lanes_run& r) {
    std::vector<storage::action_row> due;
    try {
        due = ctx_.store.due_actions(ctx_.clock(), static_cast<int>(r.known.size() + r.again.size() + read_at_most));
    } catch (const std::exception& e) {
        r.st.storage_trouble = true;
        r.st.storage_error = e.what();
        return false;
    }
    r.nothing_new = true;
    for (auto& a : due) {
        if (r.again.contains(a.id) || !r.known.insert(a.id).second) continue;
        auto [lane, fresh] = r.lanes.try_emplace(lane_key(a));
        if (fresh) r.ready.push_back(lane->first);
        lane->second.push_back(std::move(a));
        ++r.waiting;
        r.nothing_new = false;
    }
    return true;
}

asio::awaitable<executor::pass_state> executor::run_lanes(std::int64_t read_until) {
    using namespace std::chrono_literals;
    using clock = asio::steady_timer::clock_type;
    auto run = std::make_shared<lanes_run>(ctx_.ex);
    auto next_record = clock::now() + 1s;
    for (;;) {
        auto may_read = [&] {
            return !stopping_ && !run->cancelled && !run->st.storage_trouble && !run->st.paused &&
                   (ctx_.clock() < read_until || !run->st.ran_any) && run->waiting < queue_low;
        };
        // Actions planned meanwhile are read within 100 ms. Once a read found
        // nothing new, the next waits that long (or until no worker is
        // left): an action's end alone is no reason to look again.
        const auto now = clock::now();
        // Whatever throws here ends the reading, never the wait for the
        // workers already started: the pass returns with nothing in flight.
        try {
            if (may_read() && (run->running == 0 || !run->nothing_new || now >= run->next_read) && take_due(*run))
                run->next_read = clock::now() + 100ms;
            while (!stopping_ && !run->cancelled && !run->st.storage_trouble && !run->ready.empty() &&
                   run->running < static_cast<int>(max_lanes)) {
                auto& signal = run->signals.emplace_back();
                asio::co_spawn(ctx_.ex, lane_worker(run), asio::bind_cancellation_slot(signal.slot(), [run](std::exception_ptr e) {
                    if (e && !run->unexpected) run->unexpected = e;
                    --run->running;
                    run->changed.cancel();
                }));
                ++run->running;
                run->st.ran_any = true;
            }
        } catch (...) {
            if (!run->unexpected) run->unexpected = std::current_exception();
            run->cancelled = true;
        }
        if (run->running == 0) break;
        if (now >= next_record) {   // the day's customer-service calls, as the loop records them after a pass
            next_record = now + 1s;
            try {
                record_cs_calls(ctx_, api_);
            } catch (const std::exception& e) {
                run->st.storage_trouble = true;
                run->st.storage_error = e.what();
            }
        }
        // Woken by an action's or a worker's end, or when a read is due again.
        run->changed.expires_at(may_read() ? run->next_read : clock::time_point::max());
        co_await run->changed.async_wait(asio::as_tuple(asio::use_awaitable));
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
            run->cancelled = true;   // nothing more is read or started
            for (auto& signal : run->signals) signal.emit(asio::cancellation_type::terminal);
            co_await asio::this_coro::reset_cancellation_state();
        }
    }
    if (run->unexpected) std::rethrow_exception(run->unexpected);
    co_return run->st;
}

// A member, not a lambda: its frame then holds everything it uses (the
// shared run, `this`), nothing that lives in run_lanes' frame.
asio::awaitable<void> executor::lane_worker(std::shared_ptr<lanes_run> r) {
    while (!r->ready.empty() && !stopping_ && !r->cancelled && !r->st.storage_trouble) {
        const std::string key = std::move(r->ready.front());
        r->ready.pop_front();
        auto& lane = r->lanes[key];   // a map's element stays put while others come and go
        while (!lane.empty() && !stopping_ && !r->cancelled && !r->st.storage_trouble) {
            const storage::action_row a = std::move(lane.front());
            lane.pop_front();
            --r->waiting;
            const bool may_be_due = co_await run_one(a, r->st);
            r->known.erase(a.id);
            if (may_be_due) r->again.insert(a.id);
            r->changed.cancel();
        }
        r->lanes.erase(key);
    }
}

// True when the action may still be due (held by the breaker, deferred to
// now, or its outcome unreadable): the pass does not take it again.
asio::awaitable<bool> executor::run_one(const storage::action_row& queued, pass_state& st) {
    sup_.beat("executor");
    try {
        // The row as it is now: while it waited for its lane, a buyer's
        // erasure or a resume that drops held messages may have skipped it,
        // and the database refuses to send what is skipped (a refusal that
        // would end the pass as a storage failure).
        const auto fresh = ctx_.store.get_action(queued.id);
        if (!fresh || (fresh->state != "planned" && fresh->state != "deferred")) {
            log::info("action_withdrawn", {{"action_id", queued.id}, {"kind", queued.kind}, {"state", fresh ? fresh->state : "gone"}});
            co_return false;
        }
        const storage::action_row& a = *fresh;
        if (is_message(a.kind) && !parts_.brk.allows_sending()) {
            st.paused = true;   // messages wait; reviews and tags go on
            co_return true;
        }
        co_await execute(a);
        const std::string state = count_outcome(a);
        co_return state != "done" && state != "failed" && state != "skipped" && state != "sending" && state != "unknown";
    } catch (const std::exception& ex) {
        if (stopping_) {
            // Cut short by the shutdown, not by storage: the row stays
            // 'sending' and the next start reconciles it.
            log::info("action_interrupted", {{"action_id", queued.id}, {"kind", queued.kind}, {"reason", ex.what()},
                                             {"advice", "reconciled at the next start, never sent twice"}});
            st.storage_trouble = true;
            co_return true;
        }
        if (skipped_meanwhile(queued, ex)) co_return false;
        // A storage failure after the send leaves the row 'sending';
        // once the database takes writes again it becomes 'unknown'
        // and is reconciled, never re-sent blindly.
        log::error("action_error", {{"action_id", queued.id}, {"error", ex.what()}});
        if (!st.storage_trouble) st.storage_error = ex.what();
        st.storage_trouble = true;
        interrupted_ = true;
    }
    co_return true;
}

// An action skipped by someone else while it ran, during a call before its
// send began (a buyer's erasure or a resume dropping held messages while
// Create Conversation was under way): the database then refuses the
// sender's next step, because nothing leaves 'skipped'. That refusal is the
// skip taking effect, not a storage failure; the action is passed over as
// one skipped while it waited. Anything else, or a row that cannot be read,
// stays a storage failure.
bool executor::skipped_meanwhile(const storage::action_row& a, const std::exception& refused) {
    const auto* storage = dynamic_cast<const storage::storage_error*>(&refused);
    if (storage == nullptr || !storage->refused_transition()) return false;
    try {
        const auto now = ctx_.store.get_action(a.id);
        if (!now || now->state != "skipped") return false;
        log::info("action_withdrawn", {{"action_id", a.id}, {"kind", a.kind}, {"state", now->state}, {"while", "running"}});
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

// For /metrics: how the action ended this time (done, deferred, failed,
// skipped, unknown) and, when it is over, how long after its event arrived
// (a timer's event arrives when it fires). A read that fails costs the
// metric, not the pass. Returns the state ("" when unreadable).
std::string executor::count_outcome(const storage::action_row& a) {
    try {
        const auto now = ctx_.store.get_action(a.id);
        if (!now || now->state == "sending") return now ? now->state : "";
        telemetry::count("orderflow_actions_total", {{"kind", a.kind}, {"outcome", now->state}}).add();
        if (now->state != "done" && now->state != "failed" && now->state != "skipped") return now->state;
        if (const auto ev = ctx_.store.get_event(a.event_id))
            telemetry::timing("orderflow_event_to_action_seconds")
                .observe(static_cast<double>(ctx_.clock() - std::max(ev->received_at, ev->not_before)));
        return now->state;
    } catch (const std::exception& e) {
        log::debug("action_not_counted", {{"action_id", a.id}, {"error", e.what()}});
        return "";
    }
}

// Nothing is in flight at the top of a pass (this loop is the outbox's one
// consumer), so a row still 'sending' is one a storage failure cut short
// after it began: its outcome is unknown, as after a crash.
void executor::settle_interrupted() {
    const int n = ctx_.store.mark_interrupted_sends(ctx_.clock());
    interrupted_ = false;
    if (n > 0)
        log::warn("sends_interrupted", {{"count", n},
                                        {"advice", "a storage failure cut these actions short after they began; they are marked unknown "
                                                   "and reconciled with TikTok, not re-sent blindly"}});
}

// flag_review, tag, untag, schedule, capture: orderflow's own state, in one
// transaction with the action's outcome, so each happens exactly once. A
// schedule is an inbox event that waits (not_before) for its time: durable,
// fired once (its dedupe key is the action's key), and processed like any
// event, so its rules are evaluated on the order as it is then.
void executor::apply(const storage::action_row& a) {
    json p = json::parse(a.payload, nullptr, false);
    if (!p.is_object()) p = json::object();
    const std::int64_t now = ctx_.clock();
    json result = json::object();
    ctx_.db.transaction([&] {
        ctx_.store.begin_attempt(a.id, now);
        if (a.kind == "flag_review") {
            const std::string reason = p.value("reason", "flagged"), note = p.value("note", "");
            json evidence{{"rule_id", a.rule_id}, {"action_id", a.id}, {"inbox_id", a.event_id}};
            if (auto ev = ctx_.store.get_event(a.event_id)) evidence["event"] = ev->event;
            if (p.contains("message")) evidence["buyer_message"] = p["message"];
            if (!note.empty()) evidence["note"] = note;
            // Without an order (a buyer's message), each conversation is its own case.
            const std::string conversation = p.value("conversation_id", "");
            const std::string case_key = a.order_id.empty() && !conversation.empty() ? "conversation:" + conversation : "";
            if (!conversation.empty()) evidence["conversation_id"] = conversation;
            result["review_id"] = desk_.raise(a.order_id, reason, p.value("severity", "warning"),
                                              "rule " + a.rule_id + ": " + (note.empty() ? reason : note), evidence, case_key);
        } else if (a.kind == "schedule") {
            storage::new_event timer;
            // Counted from a deadline: named by its series and the deadline's
            // value, the name daemon/deadline_timers.cpp gives a moved one.
            timer.dedupe_key = p.contains("series") && p.contains("anchor")
                                   ? timer_key(p.value("series", ""), p.value("anchor", std::int64_t{0}))
                                   : "timer:" + a.idem_key;
            timer.source = "timer";
            timer.event = p.value("event", "");
            timer.order_id = a.order_id;
            timer.not_before = p.value("fire_at", now);
            timer.received_at = now;
            json data{{"order_id", a.order_id}, {"timer", timer.event}, {"scheduled_by", a.rule_id},
                      {"action_id", a.id}, {"fire_at", timer.not_before}};
            // Counted from a deadline: what it was, so a moved one is noticed (daemon/deadline_timers.hpp).
            for (const char* k : {"at", "anchor", "offset_s", "series"})
                if (p.contains(k)) data[k] = p[k];
            timer.payload = json{{"data", std::move(data)}}.dump();
            ctx_.store.add_event(timer);
            result["fire_at"] = timer.not_before;
        } else if (a.kind == "capture") {
            // The answer was kept on the order with the plan (pipeline.cpp):
            // written again here it could bring back one a forget erased.
            result["attribute"] = p.value("attribute", "");
        } else if (a.kind == "tag") {
            ctx_.store.add_tag(a.order_id, p.value("tag", ""), now);
        } else {
            ctx_.store.remove_tag(a.order_id, p.value("tag", ""));
        }
        ctx_.store.set_action_state(a.id, "done", "", result.dump(), now);
        // Never the buyer's text: the audit log holds ids and outcomes only.
        const std::string what = a.kind == "capture" ? p.value("attribute", "") : p.value("tag", p.value("reason", ""));
        ctx_.store.audit(now, "orderflowd", a.kind, a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"params", what}});
    }, storage::database::durability::process_crash);
    log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id}});
}

asio::awaitable<void> executor::execute(const storage::action_row& a) {
    if (a.kind == "flag_review" || a.kind == "tag" || a.kind == "untag" || a.kind == "schedule" || a.kind == "capture") {
        if (a.order_id.empty() && a.kind != "flag_review") {
            parts_.out.skip(a, a.kind + " needs an order, and this event has none (a buyer message not linked to one order, "
                               "see conversation.order_link)");
            co_return;
        }
        apply(a);
        co_return;
    }
    if (a.kind == "update_tracking") {
        co_await parts_.tracking.send(a);
        co_return;
    }
    if (!is_message(a.kind)) {
        parts_.out.fail(a, "action kind '" + a.kind + "' is not supported by this version");
        co_return;
    }
    co_await parts_.messages.send(a);
}

}  // namespace orderflow::daemon
