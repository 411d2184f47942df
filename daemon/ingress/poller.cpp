// See poller.hpp.
#include "daemon/ingress/poller.hpp"

#include "common/log.hpp"
#include "daemon/cs_quota.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/events.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/storage_watch.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/tokens.hpp"
#include "storage/buyer_data.hpp"
#include "tikapi/client.hpp"

#include <algorithm>
#include <ctime>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;

void record_cs_calls(const context& ctx, const tikapi::client& api) {
    const std::time_t t = static_cast<std::time_t>(ctx.clock());
    std::tm utc{};
    gmtime_r(&t, &utc);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &utc);
    ctx.store.put_state("cs_calls", json{{"day", day}, {"count", api.cs_calls_today()}}.dump(), ctx.clock());
}

poller::poller(context ctx, const rules_in_force& in_force, tikapi::client& api, token_keeper& tokens, inbox_writer& writer,
               storage_watch& watch, supervisor& sup, std::function<void()> on_new_events)
    : ctx_(std::move(ctx)),
      in_force_(in_force),
      api_(api),
      tokens_(tokens),
      writer_(writer),
      watch_(watch),
      sup_(sup),
      on_new_events_(std::move(on_new_events)),
      wake_(ctx_.ex) {}

void poller::stop() {
    stopping_ = true;
    wake_.notify();
}

// Where a pass starts reading: the cursor minus the overlap, or on the
// very first pass exactly the start point (nothing before it).
std::int64_t poller::poll_from(const char* name) {
    // Whether this database was polled before this process: decided once,
    // before the first cursor of a first start is written.
    if (!polled_before_) polled_before_ = ctx_.store.get_state("poll.orders").has_value();
    if (auto v = ctx_.store.get_state(name)) return std::stoll(*v) - in_force_.cfg().poll.overlap.count();
    // A cursor added by an upgrade (cancellations, returns) on a daemon that
    // has polled before starts now: poll.start was for the first start, and
    // reading back to it would act on every old request still pending.
    const bool upgraded = *polled_before_ && std::string_view(name) != "poll.orders" && std::string_view(name) != "poll.messages";
    const std::int64_t start = upgraded ? ctx_.clock() : in_force_.cfg().poll.start_at.value_or(ctx_.clock());
    ctx_.store.put_state(name, std::to_string(start + in_force_.cfg().poll.overlap.count()), ctx_.clock());
    log::info("poll_cursor_started", {{"cursor", name}, {"from", start}});
    return start;
}

// Commits polled events in one transaction; returns how many were new changes.
int poller::add_polled(const std::vector<storage::new_event>& events) {
    const int added = writer_.add_now(events);
    if (added > 0) on_new_events_();
    return added;
}

bool poller::forgotten(std::string_view buyer_user_id, std::string_view order_id, std::string_view conversation_id,
                       std::int64_t changed) {
    if (forget_key_.empty()) return false;
    return storage::forgotten_change(
        storage::forget_mark_of(ctx_.db, key_bytes(forget_key_), buyer_user_id, order_id, conversation_id), changed,
        in_force_.cfg().privacy.suppress_forgotten);
}

asio::awaitable<bool> poller::poll_orders(const orderflow::secret& token) {
    const std::int64_t started = ctx_.clock();
    tikapi::order_search q;
    q.update_time_ge = poll_from("poll.orders");
    q.sort_field = "update_time";
    q.sort_order = "ASC";
    q.page_size = 50;
    int pages = 0, seen = 0, added = 0, set_aside = 0;
    for (;;) {
        auto page = co_await api_.search_orders(q, token);
        if (!page) {
            log::warn("poll_failed", {{"what", "orders"}, {"error", page.error().describe()}, {"pages_read", pages},
                                      {"advice", "the cursor stays; the next poll reads the same window again"}});
            co_return page.error().token_expired();
        }
        ++pages;
        sup_.beat("poller");
        std::vector<storage::new_event> events;
        for (const auto& o : page.value().orders) {
            ++seen;
            if (o.status.empty()) continue;
            if (forgotten(o.user_id, o.id, "", o.update_time)) {
                ++set_aside;
                continue;
            }
            events.push_back(inbox_event_from_polled_order(o, ctx_.clock()));
        }
        added += add_polled(events);
        if (page.value().next_page_token.empty()) break;
        if (stopping_) co_return false;   // not read to the end: the cursor stays
        q.page_token = page.value().next_page_token;
    }
    // Never behind the start point: the next pass reads from here minus the overlap.
    ctx_.store.put_state("poll.orders", std::to_string(std::max(started, *q.update_time_ge + in_force_.cfg().poll.overlap.count())), ctx_.clock());
    log::info("poll_done", {{"what", "orders"}, {"from", *q.update_time_ge}, {"pages", pages}, {"orders", seen}, {"new_changes", added},
                            {"set_aside", set_aside}});
    co_return false;
}

asio::awaitable<bool> poller::poll_messages(const orderflow::secret& token) {
    // Near the end of the customer-service quota, reading conversations
    // waits for 00:00 UTC: what is left answers buyers (daemon/cs_quota.hpp).
    if (auto wait = cs_refusal(cs_purpose::poll, api_, in_force_.cfg(), ctx_.clock())) {
        if (!cs_paused_) log::warn("poll_paused", {{"what", "messages"}, {"reason", wait->why}, {"until", wait->until}});
        cs_paused_ = true;
        co_return false;
    }
    if (cs_paused_) log::info("poll_resumed", {{"what", "messages"}});
    cs_paused_ = false;
    const std::int64_t started = ctx_.clock();
    const std::int64_t from = poll_from("poll.messages");
    std::string page_token;
    int pages = 0, conversations = 0, added = 0, set_aside = 0;
    bool complete = false;
    for (int page_no = 0; page_no < 20 && !stopping_; ++page_no) {
        auto page = co_await api_.get_conversations(20, page_token, token);
        if (!page) {
            log::warn("poll_failed", {{"what", "conversations"}, {"error", page.error().describe()},
                                      {"advice", "the cursor stays; the next poll reads the same window again"}});
            co_return page.error().token_expired();
        }
        ++pages;
        sup_.beat("poller");
        bool older_seen = false;
        for (const auto& c : page.value().conversations) {
            if (!c.latest_message || c.latest_message->create_time < from) {
                older_seen = true;
                continue;
            }
            // Only conversations with something new from the buyer: the
            // latest message is the buyer's, or some are unread, and the
            // latest is not the one this process already looked at.
            const bool buyer_news = c.latest_message->sender_role == "BUYER" || c.unread_count > 0;
            const std::string latest_id = c.latest_message->id;
            if (!buyer_news || polled_latest_[c.id] == latest_id) continue;
            // A forgotten buyer's conversation with nothing since the
            // forget: not linked to them again, not read.
            const std::string buyer = c.buyer_user_id();
            if (forgotten(buyer, "", c.id, c.latest_message->create_time)) {
                ++set_aside;
                polled_latest_[c.id] = latest_id;
                continue;
            }
            ++conversations;
            if (!buyer.empty()) ctx_.store.put_conversation(buyer, c.id, ctx_.clock());
            const std::string conversation_id = c.id;
            std::string message_token;
            for (int message_page = 0; message_page < 10 && !stopping_; ++message_page) {
                auto messages = co_await api_.get_conversation_messages(conversation_id, 10, message_token, token);
                if (!messages) {
                    log::warn("poll_failed", {{"what", "messages"}, {"conversation_id", conversation_id},
                                              {"error", messages.error().describe()}});
                    co_return messages.error().token_expired();
                }
                std::vector<storage::new_event> events;
                bool reached_old = false;
                for (const auto& m : messages.value().messages) {
                    if (m.create_time < from) {
                        reached_old = true;
                        continue;
                    }
                    if (m.sender_role != "BUYER") continue;
                    if (forgotten(buyer, "", conversation_id, m.create_time)) {
                        ++set_aside;
                        continue;
                    }
                    events.push_back(inbox_event_from_polled_message(m, conversation_id, ctx_.clock()));
                }
                added += add_polled(events);
                if (reached_old || messages.value().next_page_token.empty()) break;
                message_token = messages.value().next_page_token;
            }
            polled_latest_[conversation_id] = latest_id;   // read completely
        }
        // Conversations come most recently active first: past the window, stop.
        if (older_seen || page.value().next_page_token.empty()) {
            complete = true;
            break;
        }
        page_token = page.value().next_page_token;
    }
    if (!complete) {
        // Stopped, or more active conversations than one pass reads: the cursor stays.
        log::warn("poll_incomplete", {{"what", "messages"}, {"pages", pages}, {"conversations", conversations}});
        co_return false;
    }
    ctx_.store.put_state("poll.messages", std::to_string(std::max(started, from + in_force_.cfg().poll.overlap.count())), ctx_.clock());
    record_cs_calls(ctx_, api_);
    log::info("poll_done", {{"what", "messages"}, {"from", from}, {"pages", pages}, {"conversations", conversations},
                            {"new_changes", added}, {"set_aside", set_aside}});
    co_return false;
}

asio::awaitable<void> poller::loop() {
    while (!stopping_) {
        sup_.beat("poller", in_force_.cfg().poll.interval);
        if (watch_.known_lost()) {
            co_await wake_.wait(in_force_.cfg().poll.interval);
            continue;
        }
        try {
            const orderflow::secret* token = co_await tokens_.access();
            if (token) {
                bool expired = co_await poll_orders(*token);
                if (expired) co_await tokens_.refresh_after_rejection();
                token = co_await tokens_.access();
                // After-sales (after_sales_poll.cpp), each with its own cursor.
                if (token && !stopping_) {
                    expired = co_await poll_cancellations(*token);
                    if (expired) co_await tokens_.refresh_after_rejection();
                    token = co_await tokens_.access();
                }
                if (token && !stopping_) {
                    expired = co_await poll_returns(*token);
                    if (expired) co_await tokens_.refresh_after_rejection();
                    token = co_await tokens_.access();
                }
                if (token && !stopping_) {
                    expired = co_await poll_messages(*token);
                    if (expired) co_await tokens_.refresh_after_rejection();
                }
            }
        } catch (const std::exception& e) {
            log::error("poll_failed", {{"error", e.what()}});
        }
        co_await wake_.wait(in_force_.cfg().poll.interval);
    }
}

}  // namespace orderflow::daemon
