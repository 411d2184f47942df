// The pipeline: inbox events in, planned actions out. For each pending
// event: enrich it (the order from Get Order Detail, its tags and captured
// answers, the cached previous snapshot; for a buyer message the order it
// is linked to, daemon/conversation_linker.hpp), evaluate the rules in force, and commit in ONE
// transaction "event done + its actions planned" (INSERT OR IGNORE on the
// idempotency key), so a redelivery, a restart or a reload plans nothing
// twice (docs/architecture.md, "Pipeline").
//
// Every start of processing is counted durably first; an event that was
// being processed three times when the process died is set aside as failed
// with a critical review item, so no input can crash-loop the daemon. A
// storage failure backs off in memory (the database may not even take the
// record of the failure).
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "daemon/detail/trouble.hpp"
#include "daemon/detail/wakeup.hpp"
#include "rules/engine.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace orderflow::daemon {

class conversation_linker;
class order_source;
class review_desk;
class rules_in_force;
class storage_watch;
class supervisor;
class token_keeper;

// What rules see of an inbox event before the order is added: the event's
// own fields, the time, the buyer message. A payload that is not readable
// JSON, or nested too deep, gives an event without data.
rules::context event_context(const storage::event_row& e, std::int64_t now, const std::string& default_locale);

class pipeline {
public:
    // While a batch is open it holds SQLite's write lock and the event
    // loop's thread, so its span bounds what a webhook's commit and the
    // executor's sends wait for (bench/ingest-history.md, "Seventh round").
    static constexpr std::chrono::milliseconds default_batch_span{5};
    // Processing started this many times without an orderly outcome: quarantined.
    static constexpr int max_event_starts = 3;

    // on_planned: called when actions were planned (wakes the executor).
    pipeline(context ctx, const rules_in_force& in_force, order_source& orders, conversation_linker& links, token_keeper& tokens,
             review_desk& desk, storage_watch& watch, supervisor& sup, std::function<void()> on_planned);

    boost::asio::awaitable<void> loop();   // supervised as "pipeline"
    void wake() { wake_.notify(); }
    // The key buyer forget hashed ids with (daemon/data_rights.hpp): events
    // about a forgotten buyer that report a change made before the forget,
    // and with privacy.suppress_forgotten every later one too, are set
    // aside unread (storage::set_aside_event). Without a key, nothing is.
    void set_forget_key(orderflow::secret key) { forget_key_ = std::move(key); }
    // The key idempotency keys are hashed with (storage/idempotency.hpp);
    // without one (unit tests), plain hashes.
    void set_hash_key(orderflow::secret key) { hash_key_ = std::move(key); }
    void stop();

    // One pass: the due events, at most 50 (public for tests). Returns
    // false when storage failed (the loop then backs off).
    boost::asio::awaitable<bool> pass();
    // How long a page's events may share one commit (storage::database's
    // batch); 5 ms unless a test or a benchmark says otherwise.
    void set_batch_span(std::chrono::microseconds span) { batch_span_ = span; }
    // One event (public for tests); throws on storage failure.
    boost::asio::awaitable<void> process(const storage::event_row& e);

private:
    // An event set aside because an earlier one reported its change.
    struct repeated_change {
        std::int64_t id;
        std::string event;
        std::int64_t holder;
    };
    std::vector<repeated_change> claim_changes(std::vector<storage::event_row>& events);
    bool set_aside_if_forgotten(const storage::event_row& e, const rules::context& ctx, const std::string& buyer_user_id,
                                std::int64_t order_update_time = 0);
    boost::asio::awaitable<std::vector<storage::event_row>> due_events();
    std::vector<storage::event_row> hold_while_unauthorized(std::vector<storage::event_row> events);
    static bool goes_on_unauthorized(std::string_view event, bool has_order);
    void note_held(std::int64_t count);
    std::int64_t retry_at(const storage::event_row& e) const;
    void quarantine(const storage::event_row& e);
    void retry_later(const storage::event_row& e, const std::string& why);
    void fail_event(const storage::event_row& e, const std::string& why);
    // The page's batch (storage::database::begin_batch): the events of a
    // page share one commit, a few milliseconds of them at a time.
    void begin_batch();
    // Commits the batch, then says what it holds (after_commit). Throws the
    // storage error when nothing of it was kept; its events are then
    // pending again, their starts taken back (interrupted_).
    void commit_batch();
    bool commit_batch_in_pass();
    // What is said of an outcome (log line, counter, waking the executor):
    // once it is committed, not before.
    void after_commit(std::function<void()> say);

    context ctx_;
    const rules_in_force& in_force_;
    order_source& orders_;
    conversation_linker& links_;
    token_keeper& tokens_;
    review_desk& desk_;
    storage_watch& watch_;
    supervisor& sup_;
    std::function<void()> on_planned_;
    orderflow::secret forget_key_;
    orderflow::secret hash_key_;
    detail::wakeup wake_;
    detail::trouble trouble_{"pipeline_storage_failed"};
    std::string last_error_;
    std::vector<std::int64_t> interrupted_;   // events whose start ended in a storage failure
    // While the shop is not authorized: the events up to this inbox id that
    // wait for a token were read once and left as they are; the next look
    // walks the ids after it (due_events). 0 once a token is there:
    // everything due is read again.
    std::int64_t held_through_ = 0;
    std::int64_t held_count_ = 0, held_logged_at_ = 0;   // for one events_held line a minute
    // While not authorized: at most one look a second at what arrived, not
    // one per inbox commit (each look rereads the pages another connection's
    // commit took out of this connection's cache).
    std::int64_t held_looked_at_ = 0;
    bool stopping_ = false;
    // What the open batch (ctx_.db.batching()) holds.
    struct batch_state {
        std::chrono::steady_clock::time_point began;
        std::vector<std::int64_t> events;          // whose outcome it holds
        std::vector<std::function<void()>> said;   // after_commit
    };
    batch_state batch_;
    std::chrono::microseconds batch_span_{default_batch_span};
    bool batch_failed_ = false;   // commit_batch() threw (pass() tells storage from the event's own failure)
};

}  // namespace orderflow::daemon
