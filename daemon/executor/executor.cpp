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
#include <list>
#include <map>

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
        std::vector<storage::action_row> due;
        if (storage_error.empty()) {
            try {
                due = ctx_.store.due_actions(ctx_.clock(), 50);
            } catch (const std::exception& e) {
                storage_error = e.what();
            }
        }
        if (!storage_error.empty()) {
            co_await wake_.wait(trouble_.failed(storage_error));
            continue;
        }
        if (due.empty()) {
            trouble_.ok();
            co_await wake_.wait(std::chrono::seconds(5));
            continue;
        }
        const pass_state st = co_await run_lanes(into_lanes(std::move(due)));
        bool storage_trouble = st.storage_trouble;
        if (storage_trouble) storage_error = st.storage_error;
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
std::vector<std::vector<storage::action_row>> executor::into_lanes(std::vector<storage::action_row> due) {
    std::vector<std::vector<storage::action_row>> lanes;
    std::map<std::string, std::size_t> lane_of;
    for (auto& a : due) {
        std::string key;
        if (!a.buyer_user_id.empty()) key = "buyer:" + a.buyer_user_id;
        else if (!a.order_id.empty()) key = "order:" + a.order_id;
        else {
            json p = json::parse(a.payload, nullptr, false);
            const std::string conversation = p.is_object() ? p.value("conversation_id", "") : "";
            key = conversation.empty() ? "action:" + std::to_string(a.id) : "conversation:" + conversation;
        }
        auto [it, fresh] = lane_of.try_emplace(key, lanes.size());
        if (fresh) lanes.emplace_back();
        lanes[it->second].push_back(std::move(a));
    }
    return lanes;
}

// Up to max_lanes workers take lanes in turn; each lane runs its actions in
// id order. Returns when every worker has finished, so nothing is in flight
// once the pass is over. What the workers share lives on the heap, and a
// cancellation of the loop (the supervisor stopping it) is passed on to
// them: a send that TikTok never answers ends at once, and the pass still
// waits for every worker before it returns.
struct executor::lanes_run {
    explicit lanes_run(asio::any_io_executor ex) : all_done(ex, asio::steady_timer::time_point::max()) {}
    std::vector<std::vector<storage::action_row>> lanes;
    std::size_t next = 0;
    int running = 0;
    pass_state st;
    std::exception_ptr unexpected;
    asio::steady_timer all_done;
    std::list<asio::cancellation_signal> signals;   // one per worker
};

asio::awaitable<executor::pass_state> executor::run_lanes(std::vector<std::vector<storage::action_row>> lanes) {
    auto run = std::make_shared<lanes_run>(ctx_.ex);
    run->lanes = std::move(lanes);
    const std::size_t workers = std::min(run->lanes.size(), max_lanes);
    for (std::size_t i = 0; i < workers; ++i) {
        ++run->running;
        auto& signal = run->signals.emplace_back();
        asio::co_spawn(ctx_.ex, lane_worker(run), asio::bind_cancellation_slot(signal.slot(), [run](std::exception_ptr e) {
            if (e && !run->unexpected) run->unexpected = e;
            if (--run->running == 0) run->all_done.cancel();
        }));
    }
    while (run->running > 0) {
        co_await run->all_done.async_wait(asio::as_tuple(asio::use_awaitable));
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none && run->running > 0) {
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
    while (r->next < r->lanes.size() && !stopping_ && !r->st.storage_trouble) {
        auto& lane = r->lanes[r->next++];
        for (auto& a : lane) {
            if (stopping_ || r->st.storage_trouble) break;
            co_await run_one(a, r->st);
        }
    }
}

asio::awaitable<void> executor::run_one(const storage::action_row& a, pass_state& st) {
    sup_.beat("executor");
    try {
        if (is_message(a.kind) && !parts_.brk.allows_sending()) {
            st.paused = true;   // messages wait; reviews and tags go on
            co_return;
        }
        co_await execute(a);
        count_outcome(a);
    } catch (const std::exception& ex) {
        if (stopping_) {
            // Cut short by the shutdown, not by storage: the row stays
            // 'sending' and the next start reconciles it.
            log::info("action_interrupted", {{"action_id", a.id}, {"kind", a.kind}, {"reason", ex.what()},
                                             {"advice", "reconciled at the next start, never sent twice"}});
            st.storage_trouble = true;
            co_return;
        }
        // A storage failure after the send leaves the row 'sending';
        // once the database takes writes again it becomes 'unknown'
        // and is reconciled, never re-sent blindly.
        log::error("action_error", {{"action_id", a.id}, {"error", ex.what()}});
        if (!st.storage_trouble) st.storage_error = ex.what();
        st.storage_trouble = true;
        interrupted_ = true;
    }
}

// For /metrics: how the action ended this time (done, deferred, failed,
// skipped, unknown) and, when it is over, how long after its event arrived
// (a timer's event arrives when it fires). A read that fails costs the
// metric, not the pass.
void executor::count_outcome(const storage::action_row& a) {
    try {
        const auto now = ctx_.store.get_action(a.id);
        if (!now || now->state == "sending") return;
        telemetry::count("orderflow_actions_total", {{"kind", a.kind}, {"outcome", now->state}}).add();
        if (now->state != "done" && now->state != "failed" && now->state != "skipped") return;
        if (const auto ev = ctx_.store.get_event(a.event_id))
            telemetry::timing("orderflow_event_to_action_seconds")
                .observe(static_cast<double>(ctx_.clock() - std::max(ev->received_at, ev->not_before)));
    } catch (const std::exception& e) {
        log::debug("action_not_counted", {{"action_id", a.id}, {"error", e.what()}});
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
