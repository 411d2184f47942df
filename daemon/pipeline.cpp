// See pipeline.hpp.
#include "daemon/pipeline.hpp"

#include "common/json_limits.hpp"
#include "common/log.hpp"
#include "daemon/conversation_linker.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/detail/let_others_in.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/deadline_timers.hpp"
#include "daemon/durable_commits.hpp"
#include "daemon/events.hpp"
#include "daemon/packages.hpp"
#include "daemon/order_source.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/storage_watch.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/telemetry.hpp"
#include "daemon/tokens.hpp"
#include "rules/ruleset.hpp"
#include "storage/buyer_data.hpp"
#include "storage/conversation_links.hpp"
#include "storage/idempotency.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

// The pipeline's commits need not survive a power loss, only a crash of the
// process: its input (the inbox) is durable already, and what it plans is
// keyed, so a power loss that takes its commits back only means the same
// events are processed again and plan the same actions. Every effect outside
// is preceded by a durable commit (the executor's 'sending', the notifier's
// wait for durable_commits), whose fsync carries these along. So a page of events
// costs no fsync, and a burst of webhooks keeps the disk for their 200s.
constexpr auto crash_safe = storage::database::durability::process_crash;

namespace {

telemetry::counter& events_counted(const char* outcome) {
    return telemetry::count("orderflow_events_processed_total", {{"outcome", outcome}});
}

// Whether the event's order is fetched before its rules run. A package
// update is fetched only when some rule listens to package.updated: every
// shipment sends one, and a shop without package rules should not pay a
// Get Order Detail for each (nor see its snapshot moved by them). One that
// names no order (no package_list) is evaluated without one.
bool fetches_order(const storage::event_row& e, const rules::ruleset& rules) {
    if (e.event == "package.updated") return !e.order_id.empty() && rules.handles(e.event);
    return needs_order(e.event);
}

// When the change an event reports was made, as TikTok dates it (unix
// seconds): its update_time, or a message's create_time (the message is
// the change); 0 when TikTok does not date the change itself. A
// cancellation webhook's create_time is when the request was made, not
// when its status changed, so it is undated. So are the events orderflow
// makes itself (timers, tracking numbers): a forget ignores those pending,
// so any the pipeline meets came after it.
std::int64_t reported_change_time(const storage::event_row& e) {
    if (e.source != "webhook" && e.source != "poll") return 0;
    auto parsed = parse_untrusted_json(e.payload);
    const json* j = std::get_if<json>(&parsed);
    if (!j || !j->is_object() || !j->contains("data") || !(*j)["data"].is_object()) return 0;
    const json& data = (*j)["data"];
    auto it = data.find(e.topic == 14 ? "create_time" : "update_time");
    if (it == data.end()) return 0;
    std::int64_t t = 0;
    if (it->is_number_integer()) t = it->get<std::int64_t>();
    else if (it->is_string()) t = std::strtoll(it->get_ref<const std::string&>().c_str(), nullptr, 10);
    return std::max<std::int64_t>(t, 0);
}

// An order change TikTok reported without a date (status, address,
// package): the order's own update_time, once fetched, dates it.
bool dated_by_order(const storage::event_row& e) {
    return (e.source == "webhook" || e.source == "poll") && (e.topic == 1 || e.topic == 3 || e.topic == 4);
}

}  // namespace

// What rules see of an inbox event, before the order is added.
rules::context event_context(const storage::event_row& e, std::int64_t now, const std::string& default_locale) {
    auto parsed = parse_untrusted_json(e.payload);
    json* payload = std::get_if<json>(&parsed);
    json data = payload && payload->is_object() && payload->contains("data") ? (*payload)["data"] : json::object();
    rules::context ctx;
    ctx.event = e.event;
    ctx.event_id = e.dedupe_key;
    ctx.now = now;
    ctx.utc_offset = detail::local_utc_offset(ctx.now);
    ctx.default_locale = default_locale;
    ctx.event_data = json{{"type", e.topic}, {"source", e.source}};
    // One spelling whichever way the change came: a webhook's CANCEL is
    // the order's CANCELLED, as a poll reports it.
    if (data.contains("order_status"))
        ctx.event_data["order_status"] = data["order_status"].is_string()
                                             ? json(normalize_status(data["order_status"].get<std::string>()))
                                             : data["order_status"];
    if (data.contains("update_time")) ctx.event_data["update_time"] = data["update_time"];
    if (data.contains("fire_at")) ctx.event_data["fire_at"] = data["fire_at"];
    for (const char* key : {"package_id", "carrier", "tracking_number"})
        if (data.contains(key) && data[key].is_string() && !data[key].get_ref<const std::string&>().empty())
            ctx.event_data[key] = data[key];
    // After-sales: what a cancellation (type 11) or a return (type 12) says.
    for (const char* key : {"cancel_id", "cancel_status", "cancellations_role", "return_id", "return_type",
                            "return_status", "return_role"})
        if (data.contains(key) && data[key].is_string() && !data[key].get_ref<const std::string&>().empty())
            ctx.event_data[key] = key == std::string_view("cancel_status")
                                      ? json(tikapi::normalize_cancel_status(data[key].get<std::string>()))
                                      : data[key];
    if ((e.topic == 11 || e.topic == 12) && data.contains("create_time") && data["create_time"].is_number_integer())
        ctx.event_data["create_time"] = data["create_time"];
    if (e.event == "message.received") ctx.message = message_view(data);
    // Package events (daemon/packages.hpp): sc_type, role_type, package_orders.
    if (e.event == "package.updated") ctx.event_data.update(package_event_fields(data));
    return ctx;
}


pipeline::pipeline(context ctx, const rules_in_force& in_force, order_source& orders, conversation_linker& links,
                   token_keeper& tokens, review_desk& desk, storage_watch& watch, supervisor& sup, std::function<void()> on_planned)
    : ctx_(std::move(ctx)),
      in_force_(in_force),
      orders_(orders),
      links_(links),
      tokens_(tokens),
      desk_(desk),
      watch_(watch),
      sup_(sup),
      on_planned_(std::move(on_planned)),
      wake_(ctx_.ex) {}

void pipeline::stop() {
    stopping_ = true;
    wake_.notify();
}

asio::awaitable<void> pipeline::loop() {
    if (!hash_key_.empty()) storage::require_keyed(ctx_.db, "the pipeline");
    while (!stopping_) {
        sup_.beat("pipeline", std::chrono::seconds(5));
        if (watch_.known_lost()) {
            co_await wake_.wait(std::chrono::seconds(5));
            continue;
        }
        const bool ok = co_await pass();
        if (!ok) co_await wake_.wait(trouble_.failed(last_error_));
    }
}

asio::awaitable<bool> pipeline::pass() {
    std::vector<storage::event_row> events;
    bool due = false;   // some event was due, even if every one repeated a change
    try {
        // Starts that ended in a storage failure, not a crash: taken back,
        // so an outage of the database cannot quarantine good events.
        if (!interrupted_.empty()) {
            ctx_.db.transaction([&] {
                for (std::int64_t id : interrupted_) ctx_.store.undo_start(id);
            }, crash_safe);
            interrupted_.clear();
        }
        events = co_await due_events();
        // Counted and committed before processing (one commit for the
        // page); an event that was in a page when the process died is
        // processed alone afterwards, its own start counted, so only
        // the event that kills the process reaches the limit. The page's
        // changes are claimed in the same commit, before any order is
        // fetched for them.
        std::vector<repeated_change> repeats;
        due = !events.empty();
        if (due)
            ctx_.db.transaction([&] {
                repeats = claim_changes(events);
                for (const auto& e : events)
                    if (e.starts == 0) ctx_.store.mark_started(e.id);
            }, crash_safe);
        for (const auto& r : repeats) {
            events_counted("ignored").add();
            log::info("event_ignored", {{"inbox_id", r.id}, {"rule_event", r.event}, {"same_change_as", r.holder}});
        }
    } catch (const std::exception& e) {
        last_error_ = e.what();
        co_return false;
    }
    if (events.empty()) {
        trouble_.ok();
        if (!due) co_await wake_.wait(std::chrono::seconds(5));   // else the next page at once
        co_return true;
    }
    // One Get Order Detail for the orders of the whole page (it takes
    // 50 ids), instead of one call per event: a backlog drains at
    // TikTok's rate limit fifty times faster.
    std::vector<std::string> ids;
    const auto page_rules = in_force_.rules();
    for (const auto& e : events)
        if (fetches_order(e, *page_rules) && !e.order_id.empty() && std::find(ids.begin(), ids.end(), e.order_id) == ids.end())
            ids.push_back(e.order_id);
    co_await orders_.prefetch(ids);
    // The page's first batch makes way for a burst of webhooks too.
    co_await detail::let_others_in(ctx_);
    // Whatever ends the page, nothing of it is left open: a batch still
    // open here (an exception nobody expected) is rolled back, and its
    // events are processed again.
    struct batch_guard {
        pipeline& p;
        ~batch_guard() {
            if (!p.ctx_.db.batching()) return;
            p.ctx_.db.abandon_batch();
            p.interrupted_.insert(p.interrupted_.end(), p.batch_.events.begin(), p.batch_.events.end());
            p.batch_ = {};
        }
    } guard{*this};
    bool storage_ok = true;
    for (auto& e : events) {
        if (stopping_ || !storage_ok) break;
        sup_.beat("pipeline");
        std::string error;
        try {
            // An event that was in a page when the process died has its own
            // start committed before it is processed, outside any batch.
            if (e.starts > 0) commit_batch();
            if (e.starts >= max_event_starts) {
                quarantine(e);
                continue;
            }
            if (e.starts > 0) ctx_.db.transaction([&] { ctx_.store.mark_started(e.id); }, crash_safe);
            else if (!ctx_.db.batching()) begin_batch();
        } catch (const std::exception& ex) {
            batch_failed_ = false;
            last_error_ = ex.what();
            storage_ok = false;
            break;
        }
        try {
            co_await process(e);
        } catch (const std::exception& ex) {
            error = ex.what();
        }
        if (batch_failed_) {
            // A batch's commit failed inside process() (before a call to
            // TikTok): storage, not this event. It goes again later.
            batch_failed_ = false;
            last_error_ = error;
            storage_ok = false;
            interrupted_.push_back(e.id);
            break;
        }
        if (!error.empty()) {
            log::error("event_failed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"error", error}});
            try {
                ctx_.db.transaction([&] { ctx_.store.retry_event(e.id, error, retry_at(e)); }, crash_safe);
                after_commit([] { events_counted("retried").add(); });
            } catch (const std::exception& again) {
                // Not even the retry could be recorded: the database refuses
                // writes. Back off in memory rather than re-read it at once.
                last_error_ = again.what();
                storage_ok = false;
                interrupted_.push_back(e.id);
                continue;
            }
        }
        if (ctx_.db.batching()) batch_.events.push_back(e.id);
        // A few milliseconds of events share a commit; then the batch
        // gives the event loop its thread back (the executor's sends), and
        // SQLite's write lock at once when the inbox writer waits for it
        // (its webhooks' 200s wait for their commit).
        if (ctx_.db.batching() && (ctx_.db.others_want_the_lock() || std::chrono::steady_clock::now() - batch_.began >= batch_span_)) {
            storage_ok = commit_batch_in_pass();
            if (!storage_ok) break;
            co_await detail::let_others_in(ctx_);
            // A drain's batches grow the WAL faster than a pass can copy
            // it: past two thresholds the next batch waits for the
            // checkpointer to catch up and start the WAL over, instead of a
            // commit of this connection's checkpointing on the loop's thread.
            co_await ctx_.durable.let_wal_catch_up();
        }
    }
    if (!commit_batch_in_pass()) storage_ok = false;
    orders_.forget_prefetched();
    if (storage_ok) trouble_.ok();
    co_return storage_ok;
}

void pipeline::begin_batch() {
    ctx_.db.begin_batch();
    batch_.began = std::chrono::steady_clock::now();
}

void pipeline::commit_batch() {
    if (!ctx_.db.batching()) return;
    batch_state b = std::move(batch_);
    batch_ = {};
    try {
        ctx_.db.end_batch();
    } catch (const std::exception& e) {
        batch_failed_ = true;
        interrupted_.insert(interrupted_.end(), b.events.begin(), b.events.end());
        log::error("pipeline_batch_lost", {{"events", b.events.size()}, {"error", e.what()},
                                           {"advice", "nothing of these events was kept: they stay pending and are processed "
                                                      "again once the database takes writes"}});
        throw;
    }
    for (auto& say : b.said) say();
}

// commit_batch() where pass() handles its failure: false, and why in last_error_.
bool pipeline::commit_batch_in_pass() {
    try {
        commit_batch();
        return true;
    } catch (const std::exception& ex) {
        batch_failed_ = false;
        last_error_ = ex.what();
        return false;
    }
}

void pipeline::after_commit(std::function<void()> say) {
    if (ctx_.db.batching()) batch_.said.push_back(std::move(say));
    else say();
}

// The next page of due events that can be processed now. Without a usable
// token no order can be fetched: the events that need one wait untouched
// (state pending, nothing written, no start counted) and the pages go on
// after them, so a burst of webhooks before the shop is authorized costs no
// commit and no log line per event. Once a token is there (`auth exchange`
// on the running daemon is picked up by access()), every waiting event is
// due again at once, in inbox order.
asio::awaitable<std::vector<storage::event_row>> pipeline::due_events() {
    // access(): tokens stored by `auth exchange` while running are picked up here.
    const orderflow::secret* token = co_await tokens_.access();
    if (token) {
        if (held_through_ != 0)
            log::info("events_released", {{"count", held_count_}, {"reason", "the shop is authorized; the events that waited are processed now"}});
        held_through_ = held_count_ = held_logged_at_ = held_looked_at_ = 0;
        co_return ctx_.store.pending_events(ctx_.clock(), 50);
    }
    const std::int64_t now = ctx_.clock();
    std::vector<storage::event_row> ready;
    if (now == held_looked_at_) co_return ready;
    held_looked_at_ = now;
    // The first look takes the oldest pending events through inbox_due.
    // Later ones walk the ids after the cursor in windows, until an event
    // can go on or the inbox ends: each new row is read once, however many
    // wait (a query through inbox_due per page read them all every time),
    // and one look reads at most held_windows_per_look windows, so a long
    // run of finished rows after an old pending event costs a few looks,
    // not a stall of the event loop.
    constexpr int page_size = 50;
    constexpr std::int64_t held_window = 1000;
    constexpr int held_windows_per_look = 50;
    if (held_through_ == 0) {
        auto page = ctx_.store.pending_events(now, page_size);
        if (page.empty()) co_return ready;
        ready = hold_while_unauthorized(std::move(page));
        if (!ready.empty()) co_return ready;
    }
    const std::int64_t last = ctx_.store.last_event_id();
    for (int windows = 0; held_through_ < last && windows < held_windows_per_look; ++windows) {
        const std::int64_t through = std::min(last, held_through_ + held_window);
        // In a burst every row of a window waits: what each is, not the
        // whole row, is enough to tell (reading each whole, payload and
        // all, was most of the look's time). A window where one can go on
        // is read whole: at most held_window rows, so every pending one
        // comes back.
        const auto kinds = ctx_.store.pending_kinds_between(now, held_through_, through);
        if (std::any_of(kinds.begin(), kinds.end(), [](const auto& k) { return goes_on_unauthorized(k.event, k.has_order); })) {
            ready = hold_while_unauthorized(ctx_.store.pending_events_between(now, static_cast<int>(held_window), held_through_, through));
        } else if (!kinds.empty()) {
            held_through_ = kinds.back().id;
            note_held(static_cast<std::int64_t>(kinds.size()));
        }
        held_through_ = through;
        if (!ready.empty()) co_return ready;
    }
    co_return ready;
}

// Whether an event can be processed while the shop is not authorized:
// nothing it needs comes from TikTok. A buyer message cannot: its order is
// found through TikTok (conversation_linker).
bool pipeline::goes_on_unauthorized(std::string_view event, bool has_order) {
    return event != "message.received" && (!needs_order(event) || !has_order);
}

std::vector<storage::event_row> pipeline::hold_while_unauthorized(std::vector<storage::event_row> events) {
    if (events.empty()) return events;
    held_through_ = events.back().id;
    // The events that can go on first, those that wait after them, each in id order.
    const auto waiting = std::stable_partition(events.begin(), events.end(),
                                               [](const auto& e) { return goes_on_unauthorized(e.event, !e.order_id.empty()); });
    if (waiting == events.end()) return events;
    note_held(events.end() - waiting);
    events.erase(waiting, events.end());
    return events;
}

// One events_held line at the first and then at most one a minute, with
// the count held so far and the last inbox id looked at.
void pipeline::note_held(std::int64_t count) {
    const bool first = held_count_ == 0;
    held_count_ += count;
    const std::int64_t now = ctx_.clock();
    if (first || now - held_logged_at_ >= 60) {
        log::warn("events_held", {{"count", held_count_}, {"reason", tokens_.why_no_token()}, {"last_inbox_id", held_through_},
                                  {"advice", "they stay in the inbox and are processed as soon as the shop is authorized"}});
        held_logged_at_ = now;
    }
}

void pipeline::quarantine(const storage::event_row& e) {
    const std::string why = "processing started " + std::to_string(e.starts) +
                            " times and never finished (the daemon stopped or crashed each time); set aside so it cannot do so again";
    ctx_.db.transaction([&] {
        ctx_.store.finish_event(e.id, "failed", why, ctx_.clock());
        desk_.raise(e.order_id, "event_quarantined", "critical",
                     e.event + " (inbox " + std::to_string(e.id) + ") was set aside: " + why +
                         ". Look at it with orderflowctl activity; the webhook's payload is kept",
                     {{"inbox_id", e.id}, {"event", e.event}, {"source", e.source}, {"starts", e.starts}});
    }, crash_safe);
    events_counted("quarantined").add();
    log::error("event_quarantined", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"starts", e.starts},
                                     {"advice", "see the review item; the event is not processed again"}});
}

// When an event that could not be processed now is due again.
std::int64_t pipeline::retry_at(const storage::event_row& e) const {
    return ctx_.clock() + backoff(e.attempts, in_force_.cfg().executor.event_retry_max);
}

void pipeline::retry_later(const storage::event_row& e, const std::string& why) {
    const auto at = retry_at(e);
    ctx_.db.transaction([&] { ctx_.store.retry_event(e.id, why, at); }, crash_safe);
    after_commit([id = e.id, event = e.event, order_id = e.order_id, why, at] {
        events_counted("retried").add();
        log::warn("event_deferred", {{"inbox_id", id}, {"rule_event", event}, {"order_id", order_id}, {"reason", why}, {"retry_at", at}});
    });
}

// The event cannot be processed: recorded as failed, and a person is told.
void pipeline::fail_event(const storage::event_row& e, const std::string& why) {
    ctx_.db.transaction([&] {
        ctx_.store.finish_event(e.id, "failed", why, ctx_.clock());
        desk_.raise(e.order_id, "event_failed", "warning", e.event + " could not be processed: " + why,
                     {{"inbox_id", e.id}, {"event", e.event}, {"source", e.source}, {"error", why}});
    }, crash_safe);
    after_commit([id = e.id, event = e.event, order_id = e.order_id, why] {
        events_counted("failed").add();
        log::error("event_failed", {{"inbox_id", id}, {"rule_event", event}, {"order_id", order_id}, {"error", why}});
    });
}

// One change, one processed event: a change that a webhook and a poll (or
// two webhooks with different notification ids) both report is claimed by
// the first of them the pipeline takes up, which is the first stored (pages
// come in inbox order), and every later one is ignored. The claim is made
// here rather than when the event is stored, so a webhook's commit before
// its 200 writes only the inbox row (storage/store.hpp, claim_change); and
// for the whole page before its orders are fetched, so a repeated change
// costs no Get Order Detail. The ignored events leave `events`.
std::vector<pipeline::repeated_change> pipeline::claim_changes(std::vector<storage::event_row>& events) {
    std::vector<repeated_change> repeats;
    std::erase_if(events, [&](const storage::event_row& e) {
        if (e.change_key.empty()) return false;
        const std::int64_t holder = ctx_.store.claim_change(e.id, e.change_key);
        if (holder == e.id) return false;
        ctx_.store.finish_event(e.id, "ignored", "same change as inbox event " + std::to_string(holder), ctx_.clock());
        repeats.push_back({e.id, e.event, holder});
        return true;
    });
    return repeats;
}

// An event about a buyer whose data was erased at their request is emptied
// and set aside, and nothing about it is cached or planned (docs/privacy.md,
// "Erasure"), when it reports a change made before the forget
// (reported_change_time; for an undated order change, the order's
// update_time once fetched): TikTok retries webhooks, and a database
// restored from an older backup receives changes it never saw. With
// privacy.suppress_forgotten, every event about the buyer. True when it was.
bool pipeline::set_aside_if_forgotten(const storage::event_row& e, const rules::context& ctx, const std::string& buyer_user_id,
                                      std::int64_t order_update_time) {
    if (forget_key_.empty()) return false;
    const auto key = key_bytes(forget_key_);
    const std::string conversation = ctx.message.is_object() ? ctx.message.value("conversation_id", "") : "";
    const auto mark = storage::forget_mark_of(ctx_.db, key, buyer_user_id, e.order_id, conversation);
    if (!mark) return false;
    const bool suppression = in_force_.cfg().privacy.suppress_forgotten;
    std::int64_t changed = reported_change_time(e);
    if (changed == 0 && dated_by_order(e)) changed = order_update_time;
    if (!storage::forgotten_change(mark, changed, suppression)) return false;   // a later change: anyone's
    const bool suppressed = mark->suppress && suppression;
    ctx_.db.transaction([&] { storage::set_aside_event(ctx_.db, key, e.id, ctx_.clock()); }, crash_safe);
    after_commit([id = e.id, event = e.event, suppressed] {
        events_counted("set_aside").add();
        log::info("event_set_aside",
                  {{"inbox_id", id},
                   {"rule_event", event},
                   {"reason", suppressed ? "about a buyer whose data was erased at their request (privacy.suppress_forgotten)"
                                         : "reports a change made before the buyer's data was erased at their request"}});
    });
    return true;
}

asio::awaitable<void> pipeline::process(const storage::event_row& e) {
    auto rule_set = in_force_.rules();   // in-flight work finishes on the set it started with
    if (e.event == "unknown") {
        ctx_.db.transaction([&] {
            ctx_.store.finish_event(e.id, "ignored", "topic " + std::to_string(e.topic) + " is not used by orderflow", ctx_.clock());
        }, crash_safe);
        after_commit([id = e.id, topic = e.topic] {
            events_counted("ignored").add();
            log::info("event_ignored", {{"inbox_id", id}, {"topic", topic}});
        });
        co_return;
    }
    // Checked here too: a payload stored before ingress limited the depth
    // would overflow the stack in the recursive copies below.
    if (json_nests_deeper_than(e.payload, max_json_depth)) {
        fail_event(e, "its payload is JSON nested deeper than " + std::to_string(max_json_depth) + " levels");
        co_return;
    }
    rules::context ctx = event_context(e, ctx_.clock(), in_force_.cfg().rules.default_locale);
    if (e.event == "shop.deauthorized") {
        // A late retry of an old notification must not undo a newer authorization.
        json payload = json::parse(e.payload, nullptr, false);
        const std::int64_t sent_at = payload.is_object() && payload.contains("timestamp") && payload["timestamp"].is_number_integer()
                                         ? payload["timestamp"].get<std::int64_t>() : 0;
        const auto& current = tokens_.tokens();
        if (current && current->obtained_at > 0 && sent_at > 0 && sent_at < current->obtained_at)
            log::warn("deauthorization_ignored", {{"inbox_id", e.id}, {"sent_at", sent_at}, {"tokens_obtained_at", current->obtained_at},
                                                  {"reason", "the shop was authorized again after this notification was sent"}});
        else
            tokens_.deauthorized();
    }
    if (e.event == "shop.authorization_expiring") {
        json payload = json::parse(e.payload, nullptr, false);
        std::string when = payload.is_object() && payload.contains("data") && payload["data"].is_object()
                               ? payload["data"].value("expiration_time", std::string()) : std::string();
        desk_.raise("", "authorization_expiring", "warning",
                     "TikTok says the shop's authorization expires" + (when.empty() ? std::string() : " at " + when) +
                         "; re-authorize before then: orderflowctl auth url, then orderflowctl auth exchange CODE",
                     {{"expiration_time", when}});
    }
    if (set_aside_if_forgotten(e, ctx, "")) co_return;
    if (e.event == "message.received") {
        auto role = ctx.message.is_object() ? ctx.message.value("sender_role", "") : "";
        if (role != "BUYER") {
            // The shop's own messages (ours included) come back as webhooks too.
            ctx_.db.transaction([&] {
                ctx_.store.finish_event(e.id, "ignored", "message from " + (role.empty() ? std::string("unknown sender") : role),
                                        ctx_.clock());
            }, crash_safe);
            after_commit([] { events_counted("ignored").add(); });
            co_return;
        }
    }

    // The order the event is about: its own, or for a buyer message the one
    // the conversation is linked to (daemon/conversation_linker.hpp).
    std::string order_id = e.order_id;
    std::string buyer_user_id;
    const bool buyer_message = e.event == "message.received";
    conversation_link link;
    if (buyer_message) {
        commit_batch();   // nothing waits with a batch open: it holds the write lock
        link = co_await links_.link(ctx.message);
        if (!link.error.empty()) {
            if (link.retryable) retry_later(e, link.error);
            else fail_event(e, link.error);
            co_return;
        }
        order_id = link.order_id;
        buyer_user_id = link.buyer_user_id;
        ctx.conversation = link.view();
        if (set_aside_if_forgotten(e, ctx, buyer_user_id)) co_return;
    }
    // A package update names its order (package_list); one that names none
    // is evaluated without it (fetches_order).
    const bool fetch = buyer_message || fetches_order(e, *rule_set);
    if (fetch && !buyer_message && order_id.empty()) {
        fail_event(e, "webhook has no order_id");
        co_return;
    }
    // A buyer message whose order cannot be shown is still handled, without an order.
    auto unlink = [&](const std::string& why) {
        log::warn("message_order_unavailable", {{"inbox_id", e.id}, {"order_id", order_id}, {"error", why}});
        ctx.conversation["order_link"] = "order_unavailable";
        order_id.clear();
    };
    if (fetch && !order_id.empty()) {
        if (!orders_.has_prefetched(order_id)) commit_batch();   // a call to TikTok waits
        auto fetched = co_await orders_.fetch(order_id);
        if (!fetched.order && buyer_message && !fetched.retryable) {
            unlink(fetched.error);   // an order card naming an order TikTok will not show
        } else if (!fetched.order) {
            if (fetched.retryable) retry_later(e, fetched.error);
            else fail_event(e, fetched.error);
            co_return;
        } else if (buyer_message && !link.buyer_user_id.empty() && !fetched.order->user_id.empty() &&
                   fetched.order->user_id != link.buyer_user_id) {
            unlink("the order belongs to another buyer");   // an order card for someone else's order
        } else {
            ctx.order = order_view(*fetched.order);
            add_package_status(ctx.event_data, e.event, *fetched.order);
            ctx.order["tags"] = ctx_.store.tags(order_id);
            ctx.order["attributes"] = storage::order_attributes(ctx_.db, order_id);
            buyer_user_id = fetched.order->user_id;
            if (buyer_message && !ctx.conversation.contains("buyer_user_id") && !buyer_user_id.empty())
                ctx.conversation["buyer_user_id"] = buyer_user_id;
            // A new order of a buyer forgotten with suppression, or an old
            // one unchanged since the forget: not cached, not acted on.
            if (set_aside_if_forgotten(e, ctx, buyer_user_id, fetched.order->update_time)) co_return;
            // The previous view is for order events' edges (changed_to). A
            // message neither reads nor moves it: a status change fetched
            // here first must still be an edge for its own webhook.
            if (!buyer_message)
                if (auto cached = ctx_.store.get_order(order_id)) {
                    json prev = json::parse(cached->snapshot, nullptr, false);
                    if (!prev.is_discarded()) ctx.previous_order = std::move(prev);
                }
        }
        // A timer counted from a deadline TikTok has since moved follows the deadline.
        if (follow_moved_deadline(ctx_, e, ctx.order)) co_return;
    }

    auto result = rules::evaluate(*rule_set, ctx);
    int planned = 0, repeated = 0, skipped = 0;
    ctx_.db.transaction([&] {
        if (ctx.order.is_object() && !buyer_message)
            ctx_.store.put_order({order_id, ctx.order.value("status", ""), ctx.order.dump(), ctx.now});
        for (const auto& a : result.actions) {
            storage::new_action na;
            na.idem_key = storage::idempotency_hash(key_bytes(hash_key_), a.key_material);
            na.rule_id = a.rule_id;
            na.action_index = a.index;
            na.kind = a.kind;
            na.order_id = order_id;
            na.event_id = e.id;
            json p = a.params;
            p["buyer_user_id"] = buyer_user_id;
            if (!a.series_material.empty()) p["series"] = storage::idempotency_hash(key_bytes(hash_key_), a.series_material);
            if (ctx.message.is_object()) p["conversation_id"] = ctx.message.value("conversation_id", "");
            if (a.kind == "flag_review" && ctx.message.is_object())
                p["message"] = {{"id", ctx.message.value("id", "")}, {"text", ctx.message.value("text", "")}};
            na.payload = p.dump();
            na.buyer_user_id = buyer_user_id;
            na.state = a.shadow ? "shadow" : (a.error.empty() ? "planned" : "skipped");
            na.reason = a.error;
            na.created_at = ctx.now;
            if (ctx_.store.add_action(na)) {
                // A captured answer is orderflow's own state: kept with the
                // plan, so the buyer's next message already sees it (the
                // executor only records the action's outcome).
                if (a.kind == "capture" && na.state == "planned")
                    storage::set_order_attribute(ctx_.db, {order_id, a.params.value("attribute", ""), a.params.value("value", ""),
                                                           a.params.value("message_id", ""), a.rule_id, ctx.now});
                if (na.state == "skipped") {
                    ++skipped;
                    // Never a message with a hole in it: a person decides instead.
                    desk_.raise(order_id, "action_not_prepared", "warning", "rule " + a.rule_id + ": " + a.error,
                                 {{"rule_id", a.rule_id}, {"event", e.event}, {"inbox_id", e.id}, {"error", a.error}});
                } else {
                    ++planned;
                }
            } else {
                ++repeated;
            }
        }
        // What the rules saw, for orderflowctl replay (purged with the payload).
        ctx_.store.set_event_context(e.id, context_json(ctx).dump(-1, ' ', false, json::error_handler_t::replace));
        std::string note = result.matched_rules.empty() ? "no rule matched" : "matched:";
        for (const auto& id : result.matched_rules) note += " " + id;
        // A shadow rule's stop is not applied; live, it would hold back the
        // rules after it, which the activity view says.
        for (const auto& id : result.shadow_stops) note += "; shadow " + id + " would stop the rules after it once live";
        if (buyer_message) {
            links_.remember(link);
            if (!order_id.empty()) ctx_.store.link_event_order(e.id, order_id);
        }
        ctx_.store.finish_event(e.id, "done", note, ctx.now);
    }, crash_safe);
    std::vector<std::pair<std::string, std::string>> skipped_why;
    for (const auto& a : result.actions)
        if (!a.error.empty()) skipped_why.emplace_back(a.rule_id, a.error);
    after_commit([this, id = e.id, event = e.event, order_id, matched = std::move(result.matched_rules), planned, repeated, skipped,
                  skipped_why = std::move(skipped_why)] {
        events_counted("done").add();
        log::info("event_processed", {{"inbox_id", id}, {"rule_event", event}, {"order_id", order_id}, {"matched", matched},
                                      {"planned", planned}, {"already_planned", repeated}, {"skipped", skipped}});
        for (const auto& [rule_id, why] : skipped_why)
            log::warn("action_skipped", {{"rule_id", rule_id}, {"order_id", order_id}, {"reason", why}});
        if (planned > 0) on_planned_();
    });
}

}  // namespace orderflow::daemon
