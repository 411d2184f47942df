// See service.hpp for the shape. This file holds the loops; each section
// below is one stage of DESIGN.md's data flow.
#include "daemon/service.hpp"

#include "common/log.hpp"
#include "daemon/detail/run_command.hpp"
#include "daemon/detail/wakeup.hpp"
#include "daemon/events.hpp"
#include "daemon/notify.hpp"
#include "daemon/systemd.hpp"
#include "daemon/tokens.hpp"
#include "rules/engine.hpp"
#include "rules/ruleset.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"
#include "tikapi/client.hpp"
#include "tikapi/http.hpp"
#include "tikapi/signing.hpp"
#include "tikapi/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <stdexcept>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;

namespace {

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Capped exponential backoff: 5 s, 10 s, 20 s, ... up to `cap`.
std::int64_t backoff(int attempts, std::chrono::seconds cap) {
    std::int64_t delay = 5;
    for (int i = 0; i < attempts && delay < cap.count(); ++i) delay *= 2;
    return std::min<std::int64_t>(delay, cap.count());
}

tikapi::url parse_url_or_throw(const std::string& text, const char* key) {
    auto u = tikapi::url::parse(text);
    if (!u) throw std::runtime_error(std::string("config: '") + key + "' is not an http(s) URL: " + text);
    return *u;
}

storage::database open_database(const config& cfg) {
    try {
        return storage::database::open(cfg.storage.path);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(e.what()) + " (storage.path in " + cfg.file.string() + ")");
    }
}

std::shared_ptr<const rules::ruleset> load_rules_or_throw(const config& cfg) {
    auto loaded = rules::load_directory(cfg.rules.dir);
    for (const auto& d : loaded.diagnostics) log::write(d.warning ? log::level::warn : log::level::error, "rules_diagnostic", {{"message", d.to_string()}});
    if (!loaded.ok())
        throw std::runtime_error("rules in " + cfg.rules.dir.string() + " are not valid; run orderflowctl check --config " + cfg.file.string());
    return loaded.rules;
}

tikapi::client_options api_options(const config& cfg, orderflow::secret app_secret, std::function<std::int64_t()> clock) {
    tikapi::client_options o;
    o.api_base = parse_url_or_throw(cfg.tiktok.api_base, "tiktok.api_base");
    o.auth_base = parse_url_or_throw(cfg.tiktok.auth_base, "tiktok.auth_base");
    o.app_key = cfg.tiktok.app_key;
    o.app_secret = std::move(app_secret);
    o.shop_cipher = cfg.tiktok.shop_cipher;
    o.timeout = cfg.tiktok.timeout;
    o.tls.ca_file = cfg.tiktok.ca_file.string();
    o.clock = std::move(clock);
    return o;
}

enum class write_outcome { inserted, duplicate, unavailable };

// One group commit: every event that arrives while a batch is open is
// written in the same transaction (DESIGN.md "Runtime model").
struct write_batch {
    explicit write_batch(asio::any_io_executor ex) : done_signal(ex) { done_signal.expires_at(asio::steady_timer::time_point::max()); }
    std::vector<storage::new_event> events;
    std::vector<write_outcome> outcomes;
    asio::steady_timer done_signal;
    bool done = false;
};

}  // namespace

struct service::impl {
    impl(asio::io_context& io_, config cfg_, std::function<std::int64_t()> clock_)
        : io(io_),
          cfg(std::move(cfg_)),
          clock(clock_ ? std::move(clock_) : std::function<std::int64_t()>(system_now)),
          db(open_database(cfg)),
          store(db),
          vault(db, storage::read_vault_key(cfg.storage.vault_key_file)),
          app_secret(read_secret_file(cfg.tiktok.app_secret_file)),
          api(io.get_executor(), api_options(cfg, app_secret.clone(), clock)),
          tokens(vault, api, clock),
          rules(load_rules_or_throw(cfg)),
          pipeline_wake(io.get_executor()),
          executor_wake(io.get_executor()),
          notifier_wake(io.get_executor()),
          notify_http(io.get_executor()) {
        for (const auto& ch : cfg.channels)
            if (ch.type == "webhook") channel_secrets.emplace(ch.name, read_secret_file(ch.secret_file));
    }

    asio::io_context& io;
    config cfg;
    std::function<std::int64_t()> clock;
    storage::database db;
    storage::store store;
    storage::vault vault;
    orderflow::secret app_secret;
    tikapi::client api;
    token_keeper tokens;
    std::shared_ptr<const rules::ruleset> rules;
    std::unique_ptr<tikapi::http_server> ingress;
    detail::wakeup pipeline_wake;
    detail::wakeup executor_wake;
    detail::wakeup notifier_wake;
    tikapi::http_client notify_http;
    std::map<std::string, orderflow::secret> channel_secrets;   // webhook channels' HMAC keys
    std::shared_ptr<write_batch> open_batch;
    std::unique_ptr<asio::steady_timer> watchdog;
    bool stopping = false;

    // ---- ingress -------------------------------------------------------

    asio::awaitable<http_response> on_webhook(http_request& req) {
        if (req.path() != cfg.webhook.path) co_return http_response::text(404, "not found\n");
        if (req.method != "POST") co_return http_response::text(405, "use POST\n");
        if (!tikapi::verify_webhook_signature(cfg.tiktok.app_key, app_secret, req.body, req.header("Authorization"))) {
            log::warn("webhook_rejected", {{"reason", "signature does not match"}, {"remote", req.remote}, {"bytes", req.body.size()}});
            co_return http_response{401, {}, {}};
        }
        auto parsed = tikapi::parse_webhook(req.body);
        if (auto* problem = std::get_if<std::string>(&parsed)) {
            log::warn("webhook_malformed", {{"error", *problem}, {"remote", req.remote}, {"bytes", req.body.size()}});
            co_return http_response::text(400, "malformed webhook: " + *problem + "\n");
        }
        const auto& hook = std::get<tikapi::webhook_event>(parsed);
        if (!cfg.tiktok.shop_id.empty() && hook.shop_id != cfg.tiktok.shop_id) {
            log::warn("webhook_other_shop", {{"shop_id", hook.shop_id}, {"type", hook.type}});
            co_return http_response{200, {}, {}};
        }
        auto event = inbox_event_from_webhook(hook, req.body, clock());
        json fields{{"type", hook.type}, {"topic", std::string(tikapi::topic_name(hook.type))}, {"rule_event", event.event},
                    {"notification_id", hook.notification_id}, {"order_id", event.order_id}};
        // co_await only as a whole statement: GCC 12 miscompiles it inside
        // conditions and short-circuit operators.
        const write_outcome outcome = co_await enqueue(std::move(event));
        switch (outcome) {
            case write_outcome::inserted:
                log::info("webhook_received", std::move(fields));
                pipeline_wake.notify();
                co_return http_response{200, {}, {}};
            case write_outcome::duplicate:
                log::info("webhook_duplicate", std::move(fields));
                co_return http_response{200, {}, {}};
            case write_outcome::unavailable:
                break;
        }
        co_return http_response::text(503, "storage unavailable; retry later\n");
    }

    asio::awaitable<write_outcome> enqueue(storage::new_event e) {
        if (!open_batch) {
            open_batch = std::make_shared<write_batch>(io.get_executor());
            asio::post(io, [this] { commit_open_batch(); });
        }
        auto batch = open_batch;
        std::size_t index = batch->events.size();
        batch->events.push_back(std::move(e));
        if (!batch->done) co_await batch->done_signal.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return batch->outcomes.at(index);
    }

    void commit_open_batch() {
        auto batch = std::move(open_batch);
        open_batch.reset();
        batch->outcomes.assign(batch->events.size(), write_outcome::unavailable);
        try {
            db.transaction([&] {
                for (std::size_t i = 0; i < batch->events.size(); ++i)
                    batch->outcomes[i] = store.add_event(batch->events[i]) ? write_outcome::inserted : write_outcome::duplicate;
            });
        } catch (const std::exception& e) {
            batch->outcomes.assign(batch->events.size(), write_outcome::unavailable);
            log::error("inbox_commit_failed", {{"error", e.what()}, {"events", batch->events.size()},
                                               {"advice", "webhooks get 503 and TikTok retries them; check the disk and the database file"}});
        }
        batch->done = true;
        batch->done_signal.cancel();
    }

    // ---- pipeline ------------------------------------------------------

    asio::awaitable<void> pipeline_loop() {
        while (!stopping) {
            std::vector<storage::event_row> events;
            try {
                events = store.pending_events(clock(), 50);
            } catch (const std::exception& e) {
                log::error("pipeline_storage_failed", {{"error", e.what()}});
            }
            if (events.empty()) {
                co_await pipeline_wake.wait(std::chrono::seconds(5));
                continue;
            }
            for (auto& e : events) {
                if (stopping) break;
                try {
                    co_await process(e);
                } catch (const std::exception& ex) {
                    log::error("event_failed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"error", ex.what()}});
                    try {
                        store.retry_event(e.id, ex.what(), clock() + backoff(e.attempts, cfg.executor.event_retry_max));
                    } catch (const std::exception& again) {
                        log::error("pipeline_storage_failed", {{"error", again.what()}});
                    }
                }
            }
        }
    }

    void retry_later(const storage::event_row& e, const std::string& why) {
        auto at = clock() + backoff(e.attempts, cfg.executor.event_retry_max);
        store.retry_event(e.id, why, at);
        log::warn("event_deferred", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"reason", why}, {"retry_at", at}});
    }

    // The event cannot be processed: recorded as failed, and a person is told.
    void fail_event(const storage::event_row& e, const std::string& why) {
        db.transaction([&] {
            store.finish_event(e.id, "failed", why, clock());
            raise_review(e.order_id, "event_failed", "warning", e.event + " could not be processed: " + why,
                         {{"inbox_id", e.id}, {"event", e.event}, {"source", e.source}, {"error", why}});
        });
        log::error("event_failed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id}, {"error", why}});
    }

    asio::awaitable<void> process(const storage::event_row& e) {
        auto rule_set = rules;   // in-flight work finishes on the set it started with
        if (e.event == "unknown") {
            store.finish_event(e.id, "ignored", "topic " + std::to_string(e.topic) + " is not used by orderflow", clock());
            log::info("event_ignored", {{"inbox_id", e.id}, {"topic", e.topic}});
            co_return;
        }
        json payload = json::parse(e.payload, nullptr, false);
        json data = payload.is_object() && payload.contains("data") ? payload["data"] : json::object();

        rules::context ctx;
        ctx.event = e.event;
        ctx.event_id = e.dedupe_key;
        ctx.now = clock();
        ctx.default_locale = cfg.rules.default_locale;
        ctx.event_data = json{{"type", e.topic}, {"source", e.source}};
        if (data.contains("order_status")) ctx.event_data["order_status"] = data["order_status"];
        if (data.contains("update_time")) ctx.event_data["update_time"] = data["update_time"];

        if (e.event == "message.received") {
            ctx.message = message_view(data);
            auto role = ctx.message.is_object() ? ctx.message.value("sender_role", "") : "";
            if (role != "BUYER") {
                // The shop's own messages (ours included) come back as webhooks too.
                store.finish_event(e.id, "ignored", "message from " + (role.empty() ? std::string("unknown sender") : role), clock());
                co_return;
            }
        }

        std::string buyer_user_id;
        if (needs_order(e.event)) {
            if (e.order_id.empty()) {
                fail_event(e, "webhook has no order_id");
                co_return;
            }
            const orderflow::secret* token = co_await tokens.access();
            if (!token) { retry_later(e, tokens.advice()); co_return; }
            // Named arguments only: GCC 12 mishandles class-type temporaries inside co_await.
            const std::vector<std::string> ids{e.order_id};
            auto r = co_await api.get_order_detail(ids, *token);
            if (!r && r.error().token_expired()) {
                const bool refreshed = co_await tokens.refresh_after_rejection();
                if (refreshed) token = co_await tokens.access();
                if (refreshed && token) r = co_await api.get_order_detail(ids, *token);
            }
            if (!r) {
                const auto& err = r.error();
                if (err.retryable() || err.token_expired()) { retry_later(e, "order detail: " + err.describe()); co_return; }
                fail_event(e, "order detail: " + err.describe());
                co_return;
            }
            auto it = std::find_if(r.value().begin(), r.value().end(), [&](const tikapi::order& o) { return o.id == e.order_id; });
            if (it == r.value().end()) {
                fail_event(e, "order not returned by Get Order Detail");
                co_return;
            }
            ctx.order = order_view(*it);
            buyer_user_id = it->user_id;
            if (auto cached = store.get_order(e.order_id)) {
                json prev = json::parse(cached->snapshot, nullptr, false);
                if (!prev.is_discarded()) ctx.previous_order = std::move(prev);
            }
        }

        auto result = rules::evaluate(*rule_set, ctx);
        int planned = 0, repeated = 0, skipped = 0;
        db.transaction([&] {
            if (ctx.order.is_object())
                store.put_order({e.order_id, ctx.order.value("status", ""), ctx.order.dump(), ctx.now});
            for (const auto& a : result.actions) {
                storage::new_action na;
                na.idem_key = storage::hash_key(a.key_material);
                na.rule_id = a.rule_id;
                na.action_index = a.index;
                na.kind = a.kind;
                na.order_id = e.order_id;
                na.event_id = e.id;
                json p = a.params;
                p["buyer_user_id"] = buyer_user_id;
                if (ctx.message.is_object()) p["conversation_id"] = ctx.message.value("conversation_id", "");
                na.payload = p.dump();
                na.state = a.shadow ? "shadow" : (a.error.empty() ? "planned" : "skipped");
                na.reason = a.error;
                na.created_at = ctx.now;
                if (store.add_action(na)) {
                    if (na.state == "skipped") {
                        ++skipped;
                        // Never a message with a hole in it: a person decides instead.
                        raise_review(e.order_id, "action_not_prepared", "warning", "rule " + a.rule_id + ": " + a.error,
                                     {{"rule_id", a.rule_id}, {"event", e.event}, {"inbox_id", e.id}, {"error", a.error}});
                    } else {
                        ++planned;
                    }
                } else {
                    ++repeated;
                }
            }
            std::string note = result.matched_rules.empty() ? "no rule matched" : "matched:";
            for (const auto& id : result.matched_rules) note += " " + id;
            store.finish_event(e.id, "done", note, ctx.now);
        });
        log::info("event_processed", {{"inbox_id", e.id}, {"rule_event", e.event}, {"order_id", e.order_id},
                                      {"matched", result.matched_rules}, {"planned", planned},
                                      {"already_planned", repeated}, {"skipped", skipped}});
        for (const auto& a : result.actions)
            if (!a.error.empty()) log::warn("action_skipped", {{"rule_id", a.rule_id}, {"order_id", e.order_id}, {"reason", a.error}});
        if (planned > 0) executor_wake.notify();
    }

    // ---- executor ------------------------------------------------------

    // ---- reconciliation of sends whose outcome is unknown ----------------
    //
    // A send that was in flight when the process died, or whose answer never
    // came, is never resent blindly (DESIGN.md "Effects"). Instead the buyer
    // conversation is read: the exact text from the shop, after the action
    // was planned, means it was delivered (done); a complete look that does
    // not find it means it was not (planned again, once, under the same key);
    // anything else stays unknown for a person to check.

    asio::awaitable<void> reconcile_unknown_sends() {
        std::vector<storage::action_row> rows;
        try {
            rows = store.actions_in_state("unknown", 100);
        } catch (const std::exception& e) {
            log::error("executor_storage_failed", {{"error", e.what()}});
        }
        for (const auto& a : rows) {
            if (stopping) break;
            json previous = json::parse(a.result.empty() ? "{}" : a.result, nullptr, false);
            if (a.kind != "send_message" || (previous.is_object() && previous.contains("reconciled"))) continue;
            co_await reconcile(a);
        }
    }

    asio::awaitable<void> reconcile(const storage::action_row& a) {
        json p = json::parse(a.payload, nullptr, false);
        if (!p.is_object()) co_return;
        const std::string text = p.value("text", "");
        std::optional<std::string> conversation;
        if (!p.value("conversation_id", "").empty()) conversation = p.value("conversation_id", "");
        else conversation = store.conversation_for(p.value("buyer_user_id", ""));
        if (!conversation) {
            // The conversation is opened (and cached) before a message is sent.
            replan(a, "reconciled: no conversation was opened, so nothing was sent");
            co_return;
        }
        const orderflow::secret* token = co_await tokens.access();
        if (!token) co_return;   // stays unknown; looked at again on the next start

        // TikTok's clock and ours may differ: look a little before the planning
        // time. Erring this way can only mistake an older identical text for
        // this one (not sent: at most once), never send twice.
        constexpr std::int64_t clock_skew = 300;
        const std::int64_t since = a.created_at - clock_skew;
        const std::string path = "/customer_service/202309/conversations/" + *conversation + "/messages";
        bool found = false, complete = false;
        std::string message_id, page_token;
        for (int page = 0; page < 10 && !found && !complete; ++page) {
            std::map<std::string, std::string> query{{"page_size", "10"}};
            if (!page_token.empty()) query["page_token"] = page_token;
            auto r = co_await api.call("GET", path, query, nullptr, *token);
            if (!r) {
                log::warn("reconcile_failed", {{"action_id", a.id}, {"error", r.error().describe()}});
                co_return;   // stays unknown; looked at again on the next start
            }
            const json& data = r.value();
            const json messages = data.is_object() && data.contains("messages") && data["messages"].is_array() ? data["messages"] : json::array();
            std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
            for (const auto& m : messages) {
                if (!m.is_object()) continue;
                std::int64_t created = m.contains("create_time") && m["create_time"].is_number_integer() ? m["create_time"].get<std::int64_t>() : 0;
                oldest = std::min(oldest, created);
                std::string role = m.contains("sender") && m["sender"].is_object() ? m["sender"].value("role", "") : "";
                auto inner = json::parse(m.value("content", ""), nullptr, false);
                std::string sent = inner.is_object() && inner.contains("content") && inner["content"].is_string() ? inner["content"].get<std::string>() : "";
                if ((role == "SHOP" || role == "CUSTOMER_SERVICE") && sent == text && created >= since) {
                    found = true;
                    message_id = m.value("id", "");
                    break;
                }
            }
            page_token = data.is_object() ? data.value("next_page_token", "") : "";
            // Newest first: once a page reaches back before the action was planned,
            // or there is no further page, the look is complete.
            complete = messages.empty() || oldest < since || page_token.empty();
        }
        if (found) {
            json result{{"message_id", message_id}, {"conversation_id", *conversation}, {"reconciled", "found"}};
            db.transaction([&] {
                store.set_action_state(a.id, "done", "reconciled: the message is in the conversation", result.dump(), clock());
                store.audit(clock(), "orderflowd", "send_message.reconciled", a.order_id,
                            {{"action_id", a.id}, {"rule_id", a.rule_id}, {"message_id", message_id}, {"outcome", "delivered"}});
            });
            log::info("action_reconciled", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"outcome", "delivered"}});
        } else if (complete && a.attempts < 2) {
            replan(a, "reconciled: not in the conversation; sending once more under the same key");
        } else {
            db.transaction([&] {
                store.set_action_state(a.id, "unknown", "reconciliation could not tell whether it was delivered; check the conversation",
                                       json{{"reconciled", "inconclusive"}}.dump(), clock());
                raise_review(a.order_id, "send_unknown", "critical",
                             "rule " + a.rule_id + ": a message may or may not have reached the buyer; check conversation " + *conversation,
                             {{"action_id", a.id}, {"rule_id", a.rule_id}, {"conversation_id", *conversation}, {"text", text}});
            });
            log::warn("action_reconcile_inconclusive", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                                        {"advice", "look at the buyer conversation; it is not re-sent automatically"}});
        }
    }

    void replan(const storage::action_row& a, const std::string& why) {
        db.transaction([&] {
            store.set_action_state(a.id, "planned", why, json{{"reconciled", "absent"}}.dump(), clock());
            store.audit(clock(), "orderflowd", "send_message.reconciled", a.order_id,
                        {{"action_id", a.id}, {"rule_id", a.rule_id}, {"outcome", "not delivered"}});
        });
        log::info("action_reconciled", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"outcome", "not delivered"}});
    }

    asio::awaitable<void> executor_loop() {
        std::int64_t last_reconcile = 0;
        while (!stopping) {
            // At start (crash leftovers) and then every half minute (timeouts).
            if (clock() - last_reconcile >= 30) {
                last_reconcile = clock();
                co_await reconcile_unknown_sends();
            }
            std::vector<storage::action_row> due;
            try {
                due = store.due_actions(clock(), 20);
            } catch (const std::exception& e) {
                log::error("executor_storage_failed", {{"error", e.what()}});
            }
            if (due.empty()) {
                co_await executor_wake.wait(std::chrono::seconds(5));
                continue;
            }
            bool storage_trouble = false;
            for (auto& a : due) {
                if (stopping || storage_trouble) break;
                try {
                    co_await execute(a);
                } catch (const std::exception& ex) {
                    // A storage failure after the send leaves the row 'sending':
                    // it becomes 'unknown' at the next start, never re-sent blindly.
                    log::error("action_error", {{"action_id", a.id}, {"error", ex.what()}});
                    storage_trouble = true;
                }
            }
            if (storage_trouble) co_await executor_wake.wait(std::chrono::seconds(5));
        }
    }

    // Opens (or adds to) a review item; call inside the transaction that records
    // the outcome, so the item exists exactly when the outcome does.
    void raise_review(const std::string& order_id, const char* reason, const char* severity, const std::string& summary,
                      const json& evidence) {
        auto id = store.raise_review(order_id, reason, severity, summary, evidence, clock());
        log::warn("review_raised", {{"review_id", id}, {"order_id", order_id}, {"reason", reason}, {"severity", severity},
                                    {"summary", summary}, {"advice", "orderflowctl review show " + std::to_string(id)}});
        // Staff hear about an item once, when it opens; repeats only raise its count.
        auto item = store.get_review(id);
        if (!item || item->occurrences != 1) return;
        json payload = review_notification(*item);
        for (const auto& ch : cfg.channels)
            if (severity_rank(item->severity) >= severity_rank(ch.min_severity))
                store.add_notification(ch.name, "review:" + std::to_string(id), id, payload, clock());
        notifier_wake.notify();
    }

    // ---- staff notifications -------------------------------------------
    //
    // A durable outbox of their own: queued in the transaction that opens the
    // review item, delivered by this loop, retried with backoff until the
    // channel takes it (a receiver that is down gets it once it is back).

    asio::awaitable<void> notifier_loop() {
        while (!stopping) {
            std::vector<storage::notification_row> due;
            try {
                due = store.due_notifications(clock(), 20);
            } catch (const std::exception& e) {
                log::error("notifier_storage_failed", {{"error", e.what()}});
            }
            if (due.empty()) {
                co_await notifier_wake.wait(std::chrono::seconds(5));
                continue;
            }
            for (const auto& n : due) {
                if (stopping) break;
                co_await deliver(n);
            }
        }
    }

    asio::awaitable<void> deliver(const storage::notification_row& n) {
        auto ch = std::find_if(cfg.channels.begin(), cfg.channels.end(), [&](const auto& c) { return c.name == n.channel; });
        json payload = json::parse(n.payload, nullptr, false);
        std::string error;
        if (ch == cfg.channels.end()) {
            error = "channel '" + n.channel + "' is no longer configured";
        } else if (ch->type == "command") {
            auto r = detail::run_command(ch->command, n.payload, std::chrono::seconds(10));
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
                req.body = ch->type == "slack" ? json{{"text", notification_text(payload)}}.dump() : n.payload;
                req.headers.push_back({"Content-Type", "application/json"});
                if (ch->type == "webhook")
                    req.headers.push_back({"X-Orderflow-Signature", "sha256=" + tikapi::hmac_sha256_hex(channel_secrets.at(ch->name).reveal(), req.body)});
                const auto timeout = std::chrono::milliseconds(10000);
                auto r = co_await notify_http.send(*base, req, timeout);
                if (!r) error = r.error().describe();
                else if (r.value().status < 200 || r.value().status >= 300) error = "HTTP " + std::to_string(r.value().status);
            }
        }
        try {
            if (error.empty()) {
                store.notification_sent(n.id, clock());
                log::info("notification_sent", {{"notification_id", n.id}, {"channel", n.channel}, {"review_id", n.review_id}});
            } else {
                std::int64_t delay = std::min<std::int64_t>(600, 5LL << std::min(n.attempts, 7));
                store.notification_retry(n.id, error, clock() + delay, clock());
                log::warn("notification_failed", {{"notification_id", n.id}, {"channel", n.channel}, {"error", error},
                                                  {"attempts", n.attempts + 1}, {"retry_in_s", delay}});
            }
        } catch (const std::exception& e) {
            log::error("notifier_storage_failed", {{"error", e.what()}});
        }
    }

    void defer(const storage::action_row& a, const std::string& why) {
        auto at = clock() + backoff(a.attempts, cfg.executor.send_retry_max);
        store.set_action_state(a.id, "deferred", why, "", clock(), at);
        log::warn("action_deferred", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"reason", why}, {"retry_at", at}});
    }

    void fail(const storage::action_row& a, const std::string& why) {
        db.transaction([&] {
            store.set_action_state(a.id, "failed", why, "", clock());
            store.audit(clock(), "orderflowd", a.kind + ".failed", a.order_id, {{"action_id", a.id}, {"rule_id", a.rule_id}, {"error", why}});
            raise_review(a.order_id, "send_failed", "warning", "rule " + a.rule_id + ": " + a.kind + " failed: " + why,
                         {{"action_id", a.id}, {"rule_id", a.rule_id}, {"error", why}, {"attempts", a.attempts}});
        });
        log::error("action_failed", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"error", why}});
    }

    asio::awaitable<void> execute(const storage::action_row& a) {
        if (a.kind != "send_message") {
            fail(a, "action kind '" + a.kind + "' is not supported by this version");
            co_return;
        }
        json p = json::parse(a.payload, nullptr, false);
        std::string buyer = p.is_object() ? p.value("buyer_user_id", "") : "";
        std::string text = p.is_object() ? p.value("text", "") : "";
        // An event from a conversation (message.received) names it; order events name the buyer.
        std::string known_conversation = p.is_object() ? p.value("conversation_id", "") : "";
        if ((buyer.empty() && known_conversation.empty()) || text.empty()) {
            fail(a, "planned message has no buyer or no text");
            co_return;
        }
        const orderflow::secret* token = co_await tokens.access();
        if (!token) { defer(a, tokens.advice()); co_return; }

        // The conversation: cached per buyer, else opened (Create Conversation
        // reopens an existing one and returns its id).
        std::optional<std::string> conversation;
        if (!known_conversation.empty()) conversation = known_conversation;
        else conversation = store.conversation_for(buyer);
        if (!conversation) {
            auto r = co_await api.create_conversation(buyer, *token);
            if (!r && r.error().token_expired()) {
                const bool refreshed = co_await tokens.refresh_after_rejection();
                if (refreshed) token = co_await tokens.access();
                if (!refreshed || !token) { defer(a, tokens.advice()); co_return; }
                r = co_await api.create_conversation(buyer, *token);
            }
            if (!r) {
                // Nothing was sent to the buyer yet, so retrying is safe.
                if (r.error().retryable() && a.attempts + 1 < cfg.executor.max_send_attempts) { defer(a, "create conversation: " + r.error().describe()); co_return; }
                { fail(a, "create conversation: " + r.error().describe()); co_return; }
            }
            conversation = r.value();
            db.transaction([&] {
                store.put_conversation(buyer, *conversation, clock());
                store.audit(clock(), "orderflowd", "create_conversation", a.order_id,
                            {{"action_id", a.id}, {"conversation_id", *conversation}});
            });
        }

        // From here the outcome may become unknown: commit 'sending' first, so a
        // crash mid-send is found at start-up instead of sending twice.
        store.begin_attempt(a.id, clock());
        auto r = co_await api.send_text_message(*conversation, text, *token);
        if (!r && r.error().token_expired()) {
            // 105002 means TikTok refused the request: nothing was sent, so one retry is safe.
            const bool refreshed = co_await tokens.refresh_after_rejection();
            if (refreshed) token = co_await tokens.access();
            if (refreshed && token) r = co_await api.send_text_message(*conversation, text, *token);
        }
        if (r) {
            json result{{"message_id", r.value()}, {"conversation_id", *conversation}};
            db.transaction([&] {
                store.set_action_state(a.id, "done", "", result.dump(), clock());
                store.audit(clock(), "orderflowd", "send_message", a.order_id,
                            {{"action_id", a.id}, {"rule_id", a.rule_id}, {"conversation_id", *conversation},
                             {"message_id", r.value()}, {"template", p.value("template", "")}, {"locale", p.value("locale", "")}});
            });
            log::info("action_done", {{"action_id", a.id}, {"kind", a.kind}, {"rule_id", a.rule_id}, {"order_id", a.order_id},
                                      {"message_id", r.value()}});
            co_return;
        }
        const auto& err = r.error();
        bool maybe_delivered = err.request_sent && (err.kind == tikapi::error_kind::timeout ||
                                                    err.kind == tikapi::error_kind::connect ||
                                                    err.kind == tikapi::error_kind::protocol);
        if (maybe_delivered) {
            store.set_action_state(a.id, "unknown", "outcome unknown: " + err.describe(), "", clock());
            log::warn("action_outcome_unknown", {{"action_id", a.id}, {"rule_id", a.rule_id}, {"order_id", a.order_id}, {"error", err.describe()},
                                                 {"advice", "not re-sent automatically; check the buyer conversation"}});
            co_return;
        }
        if (err.retryable() && a.attempts + 1 < cfg.executor.max_send_attempts) { defer(a, err.describe()); co_return; }
        fail(a, err.describe());
    }

    // ---- lifecycle -----------------------------------------------------

    asio::awaitable<void> watchdog_loop(std::chrono::milliseconds every) {
        while (!stopping) {
            systemd::notify("WATCHDOG=1");
            watchdog->expires_after(every);
            co_await watchdog->async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    void spawn(asio::awaitable<void> loop, const char* name) {
        asio::co_spawn(io, std::move(loop), [name](std::exception_ptr ep) {
            if (!ep) return;
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                log::error("loop_crashed", {{"loop", name}, {"error", e.what()}});
            }
        });
    }
};

service::service(asio::io_context& io, config cfg, std::function<std::int64_t()> clock)
    : impl_(std::make_unique<impl>(io, std::move(cfg), std::move(clock))) {}

service::~service() = default;

void service::start() {
    auto& s = *impl_;
    int interrupted = s.store.mark_interrupted_sends(s.clock());
    if (interrupted > 0)
        log::warn("sends_interrupted", {{"count", interrupted},
                                        {"advice", "these sends were in flight when the daemon stopped; they are marked unknown and not re-sent"}});
    tikapi::server_options opts;
    opts.body_limit = s.cfg.webhook.max_body;
    opts.read_timeout = s.cfg.webhook.read_timeout;
    s.ingress = std::make_unique<tikapi::http_server>(
        s.io.get_executor(), s.cfg.webhook.listen.host, s.cfg.webhook.listen.port,
        [&s](http_request& req) { return s.on_webhook(req); }, opts);
    s.ingress->start();
    log::info("webhook_listening", {{"host", s.cfg.webhook.listen.host}, {"port", s.ingress->port()}, {"path", s.cfg.webhook.path}});
    s.spawn(s.pipeline_loop(), "pipeline");
    s.spawn(s.executor_loop(), "executor");
    s.spawn(s.notifier_loop(), "notifier");
    if (auto every = systemd::watchdog_interval()) {
        s.watchdog = std::make_unique<asio::steady_timer>(s.io);
        s.spawn(s.watchdog_loop(*every), "watchdog");
    }
    log::info("daemon_ready", {{"rules", s.rules->size()}, {"rules_hash", s.rules->hash()}, {"auth", s.tokens.state()},
                               {"database", s.cfg.storage.path.string()}});
    if (s.tokens.state() != "authorized") log::warn("not_authorized", {{"advice", s.tokens.advice()}});
    systemd::notify("READY=1\nSTATUS=running");
}

bool service::reload() {
    auto& s = *impl_;
    systemd::notify("RELOADING=1");
    auto loaded_cfg = load_config(s.cfg.file);
    bool ok = false;
    if (!loaded_cfg.ok()) {
        for (const auto& d : loaded_cfg.diagnostics) log::error("reload_failed", {{"message", d.to_string()}});
    } else {
        auto loaded = rules::load_directory(loaded_cfg.value->rules.dir);
        for (const auto& d : loaded.diagnostics)
            log::write(d.warning ? log::level::warn : log::level::error, d.warning ? "rules_warning" : "rules_reload_failed", {{"message", d.to_string()}});
        if (loaded.ok()) {
            s.rules = loaded.rules;
            s.cfg.rules = loaded_cfg.value->rules;
            ok = true;
            log::info("rules_reloaded", {{"rules", s.rules->size()}, {"rules_hash", s.rules->hash()}});
            if (loaded_cfg.value->webhook.listen.port != s.cfg.webhook.listen.port || loaded_cfg.value->storage.path != s.cfg.storage.path ||
                loaded_cfg.value->tiktok.api_base != s.cfg.tiktok.api_base)
                log::warn("config_change_needs_restart", {{"advice", "listen addresses, storage and tiktok settings take effect after a restart"}});
        }
    }
    if (!ok) log::error("rules_kept", {{"rules", s.rules->size()}, {"rules_hash", s.rules->hash()}, {"advice", "fix the errors above and reload again; the previous rules stay in force"}});
    systemd::notify("READY=1");
    return ok;
}

void service::stop() {
    auto& s = *impl_;
    if (s.stopping) return;
    s.stopping = true;
    systemd::notify("STOPPING=1");
    log::info("daemon_stopping", {});
    if (s.ingress) s.ingress->stop();
    s.pipeline_wake.notify();
    s.executor_wake.notify();
    s.notifier_wake.notify();
    if (s.watchdog) s.watchdog->cancel();
}

std::uint16_t service::webhook_port() const { return impl_->ingress ? impl_->ingress->port() : 0; }

int run_orderflowd(int argc, char** argv) {
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) config_path = argv[++i];
        else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
        else if (a == "--help" || a == "-h") {
            std::cout << "usage: orderflowd --config FILE\n";
            return 0;
        } else {
            std::cerr << "orderflowd: unknown argument '" << a << "'\nusage: orderflowd --config FILE\n";
            return 2;
        }
    }
    if (config_path.empty()) {
        std::cerr << "usage: orderflowd --config FILE\n";
        return 2;
    }
    auto loaded = load_config(config_path);
    for (const auto& d : loaded.diagnostics) log::write(d.warning ? log::level::warn : log::level::error, "config_invalid", {{"message", d.to_string()}});
    if (!loaded.ok()) return 1;
    const auto& lvl = loaded.value->log_level;
    log::threshold() = lvl == "debug" ? log::level::debug : lvl == "warn" ? log::level::warn : lvl == "error" ? log::level::error : log::level::info;

    try {
        asio::io_context io(1);
        service svc(io, std::move(*loaded.value));
        svc.start();
        asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (;;) {
                auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec) co_return;
                if (sig == SIGHUP) {
                    log::info("reload_requested", {{"signal", "SIGHUP"}});
                    svc.reload();
                    continue;
                }
                log::info("shutdown_requested", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
                svc.stop();
                co_return;
            }
        }, asio::detached);
        io.run();
        log::info("daemon_stopped", {});
        return 0;
    } catch (const std::exception& e) {
        log::error("startup_failed", {{"error", e.what()}});
        return 1;
    }
}

}  // namespace orderflow::daemon
