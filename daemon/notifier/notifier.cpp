// See notifier.hpp.
#include "daemon/notifier/notifier.hpp"

#include "common/log.hpp"
#include "daemon/durable_commits.hpp"
#include "daemon/detail/local_time.hpp"
#include "daemon/detail/run_command.hpp"
#include "daemon/notify.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/telemetry.hpp"
#include "tikapi/http.hpp"
#include "tikapi/signing.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// Rows a pass reads, and a digest carries at most (the rest go in the next).
constexpr int pass_rows = 500;

}  // namespace

notifier::notifier(context ctx, const rules_in_force& in_force, supervisor& sup, asio::any_io_executor commands,
                   std::function<bool()> sending_paused)
    : ctx_(std::move(ctx)),
      in_force_(in_force),
      sup_(sup),
      commands_(std::move(commands)),
      sending_paused_(std::move(sending_paused)),
      http_(std::make_unique<tikapi::http_client>(ctx_.ex)),
      wake_(ctx_.ex) {}

notifier::~notifier() = default;

void notifier::stop() {
    stopping_ = true;
    wake_.notify();
}

asio::awaitable<void> notifier::loop() {
    while (!stopping_) {
        sup_.beat("notifier", std::chrono::seconds(5));
        std::vector<storage::notification_row> due;
        std::string storage_error;
        try {
            record_unrecorded();
            queue_heartbeat();
            due = ctx_.store.due_notifications(ctx_.clock(), pass_rows);
            // What a notification tells of (a review item the pipeline
            // raised) may sit in a commit that only survives a crash of the
            // process: made to survive a power loss first, so staff are
            // never told of something that a power loss then takes back.
            if (!due.empty()) co_await ctx_.durable.durable();
        } catch (const std::exception& e) {
            storage_error = e.what();
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
        // Per channel: tests and heartbeats go at once; review alerts go
        // at most once per digest_interval, what gathered meanwhile as
        // one digest (a storm is one message, not hundreds). When an
        // outcome cannot be recorded the pass ends and the loop backs
        // off: going on would deliver the same rows again at once.
        std::map<std::string, std::vector<storage::notification_row>> reviews;
        for (const auto& n : due) {
            if (stopping_ || !storage_error.empty()) break;
            sup_.beat("notifier");
            if (n.review_id == 0) {
                const std::vector<storage::notification_row> one{n};
                storage_error = co_await deliver(one);
            } else {
                reviews[n.channel].push_back(n);
            }
        }
        for (const auto& [channel, rows] : reviews) {
            if (stopping_ || !storage_error.empty()) break;
            sup_.beat("notifier");
            bool postponed = false;
            // The channel's review alerts still waiting for a retry after a
            // failure go in the same message, rather than alone after their
            // backoff: after an outage the oldest (often the critical one)
            // would otherwise come after the digest of the newer ones.
            std::vector<storage::notification_row> with_retries;
            try {
                auto [last, fresh] = channel_last_review_.try_emplace(channel, 0);
                if (fresh) last->second = ctx_.store.last_review_notification(channel);
                const std::int64_t next = last->second + in_force_.cfg().digest_interval.count();
                if (last->second > 0 && next > ctx_.clock()) {
                    ctx_.store.postpone_notifications(channel, next);
                    postponed = true;
                } else {
                    with_retries = ctx_.store.pending_review_notifications(channel, pass_rows);
                }
            } catch (const std::exception& e) {
                storage_error = e.what();
                break;
            }
            if (postponed) continue;
            // The pending rows hold the due ones (unless another writer took them meanwhile).
            storage_error = co_await deliver(with_retries.empty() ? rows : with_retries);
        }
        if (!storage_error.empty()) co_await wake_.wait(trouble_.failed(storage_error));
        else trouble_.ok();
    }
}

// Once a day at notify.heartbeat (shop time), every channel that takes
// heartbeats gets one; the dedupe key is the date, so restarts never double it.
void notifier::queue_heartbeat() {
    if (!in_force_.cfg().heartbeat_at || in_force_.cfg().channels.empty()) return;
    const std::int64_t now = ctx_.clock();
    if (detail::local_minute_of_day(now) < *in_force_.cfg().heartbeat_at) return;
    const std::string dedupe = "heartbeat:" + detail::local_date(now);
    if (dedupe == heartbeat_done_) return;   // today's is queued (the database key makes sure across restarts)
    heartbeat_done_ = dedupe;
    std::optional<json> payload;
    for (const auto& ch : in_force_.cfg().channels) {
        if (!ch.heartbeat) continue;
        if (!payload) payload = heartbeat_notification(ctx_.store.activity_since(now - 86400), sending_paused_(), now);
        if (ctx_.store.add_notification(ch.name, dedupe, 0, *payload, now))
            log::info("heartbeat_queued", {{"channel", ch.name}, {"summary", (*payload)["summary"]}});
    }
}

// One message to one channel: a single notification as it is, several
// review alerts as one digest. All rows share the outcome.
asio::awaitable<std::string> notifier::deliver(const std::vector<storage::notification_row>& rows) {
    const std::string& channel = rows.front().channel;
    // A copy: a reload while this message is under way may replace the channel list.
    const auto& channels = in_force_.cfg().channels;
    auto found = std::find_if(channels.begin(), channels.end(), [&](const auto& c) { return c.name == channel; });
    const std::optional<config::channel> ch = found == channels.end() ? std::nullopt : std::optional<config::channel>(*found);
    std::string body;
    if (rows.size() == 1) {
        body = rows.front().payload;
    } else {
        std::vector<json> items;
        for (const auto& n : rows) items.push_back(json::parse(n.payload, nullptr, false));
        body = digest_notification(items, ctx_.clock()).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    std::string error;
    bool permanent = false;
    if (!ch) {
        // Retrying could never deliver it, and the row (a summary of a
        // review item) would stay forever: the purge deletes failed rows.
        error = "channel '" + channel + "' is no longer configured";
        permanent = true;
    } else if (ch->type == "command") {
        const std::vector<std::string> argv = ch->command;
        auto run = [argv, body]() -> asio::awaitable<detail::command_result> {
            co_return detail::run_command(argv, body, std::chrono::seconds(10));
        };
        // Not cancellable from here: the stop's terminal cancellation would
        // be handed to the command thread after the command may have ended
        // and its coroutine gone (a crash at stop, seen in
        // tests/integration/auth_test.cpp). The command has its own 10 s
        // limit, which bounds the wait at stop.
        auto r = co_await asio::co_spawn(commands_, run,
                                         asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
        if (!r.ok) error = r.error;
    } else {
        auto base = tikapi::url::parse(ch->url);
        if (!base) {
            error = "not a URL";
        } else {
            tikapi::http_request req;
            req.method = "POST";
            req.target = base->base_path.empty() ? "/" : base->base_path;
            base->base_path.clear();
            req.body = ch->type == "slack" ? json{{"text", notification_text(json::parse(body, nullptr, false))}}.dump() : body;
            req.headers.push_back({"Content-Type", "application/json"});
            if (ch->type == "webhook") {
                const orderflow::secret* key = in_force_.channel_secret(ch->name);
                if (key) req.headers.push_back({"X-Orderflow-Signature", "sha256=" + tikapi::hmac_sha256_hex(key->reveal(), req.body)});
            }
            const auto timeout = std::chrono::milliseconds(10000);
            auto r = co_await http_->send(*base, req, timeout);
            if (!r) error = r.error().describe();
            else if (r.value().status < 200 || r.value().status >= 300) error = "HTTP " + std::to_string(r.value().status);
        }
    }
    unrecorded outcome{rows, error, ctx_.clock(), permanent};
    try {
        record(outcome);
    } catch (const std::exception& e) {
        // Kept, so the next pass records it instead of delivering again.
        unrecorded_.push_back(std::move(outcome));
        co_return e.what();
    }
    co_return std::string();
}

void notifier::record(const unrecorded& outcome) {
    const auto& rows = outcome.rows;
    const std::string& error = outcome.error;
    const std::int64_t now = outcome.at;
    ctx_.db.transaction([&] {
        for (const auto& n : rows) {
            if (error.empty()) ctx_.store.notification_sent(n.id, now);
            else if (outcome.permanent) ctx_.store.notification_failed(n.id, error, now);
            else ctx_.store.notification_retry(n.id, error, now + std::min<std::int64_t>(600, 5LL << std::min(n.attempts, 7)), now);
        }
    });
    std::vector<std::int64_t> ids, review_ids;
    for (const auto& n : rows) {
        ids.push_back(n.id);
        if (n.review_id) review_ids.push_back(n.review_id);
    }
    const std::string& channel = rows.front().channel;
    telemetry::count("orderflow_notifications_total",
                     {{"channel", channel}, {"outcome", error.empty() ? "sent" : outcome.permanent ? "failed" : "retried"}})
        .add(rows.size());
    if (error.empty()) {
        if (!review_ids.empty()) channel_last_review_[channel] = now;
        log::info("notification_sent", {{"notification_ids", ids}, {"channel", channel}, {"review_ids", review_ids},
                                        {"digest", rows.size() > 1}});
    } else {
        json fields{{"notification_ids", ids}, {"channel", channel}, {"error", error}, {"attempts", rows.front().attempts + 1}};
        if (outcome.permanent) fields["advice"] = "not retried: add the channel back to notify.channels to get later alerts there";
        else fields["retry_in_s"] = std::min<std::int64_t>(600, 5LL << std::min(rows.front().attempts, 7));
        log::warn("notification_failed", std::move(fields));
    }
}

void notifier::record_unrecorded() {
    while (!unrecorded_.empty()) {
        record(unrecorded_.front());
        unrecorded_.erase(unrecorded_.begin());
    }
}

}  // namespace orderflow::daemon
