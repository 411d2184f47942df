// See console.hpp.
#include "daemon/admin/console.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "daemon/admin/console_pages.hpp"
#include "daemon/cs_quota.hpp"
#include "daemon/executor/breaker.hpp"
#include "daemon/ingress/forwarded_for.hpp"
#include "daemon/review_cli.hpp"
#include "daemon/security_watch.hpp"
#include "storage/accounts.hpp"
#include "storage/buyer_data.hpp"
#include "tikapi/http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;
namespace html = console_html;

namespace {

constexpr std::string_view session_cookie = "orderflow_session";
constexpr std::string_view lang_cookie = "orderflow_lang";
// Logins waiting for their password check; more are refused at once, so a
// flood cannot queue work (and 64 MiB each) behind the background thread.
constexpr std::size_t max_pending_logins = 4;

std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    while (!body.empty()) {
        const auto amp = body.find('&');
        std::string pair(body.substr(0, amp));
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
        std::replace(pair.begin(), pair.end(), '+', ' ');
        const auto eq = pair.find('=');
        if (eq == std::string::npos) out[tikapi::percent_decode(pair)] = "";
        else out[tikapi::percent_decode(pair.substr(0, eq))] = tikapi::percent_decode(pair.substr(eq + 1));
    }
    return out;
}

std::string cookie(const http_request& req, std::string_view name) {
    std::string_view all = req.header("Cookie");
    while (!all.empty()) {
        const auto semi = all.find(';');
        std::string_view one = all.substr(0, semi);
        all = semi == std::string_view::npos ? std::string_view() : all.substr(semi + 1);
        while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
        if (one.size() > name.size() && one.substr(0, name.size()) == name && one[name.size()] == '=')
            return std::string(one.substr(name.size() + 1));
    }
    return {};
}

html::lang language_of(const http_request& req) {
    const std::string chosen = cookie(req, lang_cookie);
    if (chosen == "ja") return html::lang::ja;
    if (chosen == "en") return html::lang::en;
    return req.header("Accept-Language").substr(0, 2) == "ja" ? html::lang::ja : html::lang::en;
}

// A page: nothing cached, nothing loaded or framed from elsewhere.
http_response html_response(int status, std::string body) {
    return http_response{status,
                         {{"content-type", "text/html; charset=utf-8"},
                          {"cache-control", "no-store"},
                          {"content-security-policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
                                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
                          {"x-content-type-options", "nosniff"},
                          {"x-frame-options", "DENY"},
                          {"referrer-policy", "same-origin"}},
                         std::move(body)};
}

http_response redirect(const std::string& to, std::vector<tikapi::http_header> extra = {}) {
    http_response r{303, {{"location", to}, {"cache-control", "no-store"}}, ""};
    for (auto& h : extra) r.headers.push_back(std::move(h));
    return r;
}

// Only a console path is a place to go back to (no "//host", no scheme).
std::string safe_next(std::string_view next) {
    const bool printable = std::all_of(next.begin(), next.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!printable || next.size() > 1024 || next.rfind("/console/", 0) != 0 || next.find("//") != std::string_view::npos ||
        next.find('\\') != std::string_view::npos)
        return "/console/reviews";
    return std::string(next);
}

std::string session_cookie_header(const http_request& req, std::string_view value, bool clear) {
    std::string c = std::string(session_cookie) + "=" + std::string(value) + "; Path=/console; HttpOnly; SameSite=Strict";
    if (clear) c += "; Max-Age=0";
    if (req.header("X-Forwarded-Proto") == "https") c += "; Secure";
    return c;
}

// The name the browser used to reach the console: an address (the listener
// itself, or an SSH tunnel's), localhost, or, behind an HTTPS proxy
// (X-Forwarded-Proto: https), admin.console_host, the name the proxy serves.
// Any other name is a page that had its own name pointed at the listener
// (DNS rebinding), and is refused. X-Forwarded-Proto alone proves nothing:
// script on such a page can set it.
bool host_ok(const http_request& req, std::string_view console_host) {
    std::string_view host = req.header("Host");
    if (host.empty()) return false;
    if (host.front() == '[') return host.find(']') != std::string_view::npos;   // an IPv6 address
    host = host.substr(0, host.find(':'));
    if (host == "localhost" || std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
        return true;
    const auto same_letters = [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); };
    return !console_host.empty() && req.header("X-Forwarded-Proto") == "https" && host.size() == console_host.size() &&
           std::equal(host.begin(), host.end(), console_host.begin(), same_letters);
}

// A browser's POST names where its page came from; it must be this console.
bool origin_ok(const http_request& req) {
    const std::string_view origin = req.header("Origin");
    if (origin.empty()) return true;   // not a browser (curl), or an old one: the CSRF token still decides
    const std::string_view host = req.header("Host");
    const auto scheme_end = origin.find("://");
    return !host.empty() && scheme_end != std::string_view::npos && origin.substr(scheme_end + 3) == host;
}

std::optional<std::int64_t> number(std::string_view text) {
    if (text.empty() || text.size() > 18 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::stoll(std::string(text));
}

std::string value_of(const std::map<std::string, std::string>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
}

// What the last action did, from a fixed set (never text from the request).
std::string notice_for(const html::viewer& v, std::string_view done) {
    static const std::map<std::string_view, std::pair<std::string_view, std::string_view>> said{
        {"acknowledged", {"Acknowledged.", "対応中にしました。"}},
        {"resolved", {"Resolved; it left the queue.", "解決済みにしました。一覧から外れました。"}},
        {"resumed", {"Sending resumed.", "送信を再開しました。"}},
        {"not_paused", {"Sending was not paused; nothing to resume.", "送信は停止していません。"}},
        {"reloaded", {"Reloaded: the new rules are in force.", "再読み込みしました。新しいルールが適用されています。"}},
        {"reload_failed", {"The reload failed; the previous rules stay in force. Why is listed below.",
                           "再読み込みに失敗しました。以前のルールが引き続き適用されます。原因を下に表示しています。"}},
    };
    auto it = said.find(done);
    if (it == said.end()) return {};
    return std::string(v.language == html::lang::ja ? it->second.second : it->second.first);
}

}  // namespace

struct console::request {
    http_request& http;
    std::string path;
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> form;
    html::viewer who;
    std::string token;
};

console::console(context ctx, const rules_in_force& in_force, parts p, console_sessions::options sessions)
    : ctx_(std::move(ctx)), in_force_(in_force), parts_(std::move(p)), sessions_(sessions) {
    asio::post(passwords_, [] { name_this_thread("of-passwords"); });
}

console::~console() { passwords_.join(); }

bool console::serves(std::string_view path) { return path == "/console" || path.rfind("/console/", 0) == 0; }

asio::awaitable<http_response> console::handle(http_request& req) {
    const std::string path = req.path();
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (!get && req.method != "POST") {
        auto r = html_response(405, "use GET or POST");
        r.headers.push_back({"allow", "GET, HEAD, POST"});
        co_return r;
    }
    if (!host_ok(req, in_force_.cfg().admin.console_host)) {
        log::warn("console_request_refused", {{"remote", req.remote}, {"path", path}, {"reason", "a Host that is not this console's"}});
        co_return html_response(421, "This console answers to its address (or localhost), and behind an HTTPS proxy to the name in "
                                     "admin.console_host.");
    }
    if (path == "/console" || path == "/console/") co_return redirect("/console/reviews");
    if (path == "/console/static/console.css" && get)
        co_return http_response{200, {{"content-type", "text/css; charset=utf-8"}, {"cache-control", "max-age=300"}}, std::string(html::stylesheet)};
    if (path == "/console/static/console.js" && get)
        co_return http_response{200, {{"content-type", "text/javascript; charset=utf-8"}, {"cache-control", "max-age=300"}}, std::string(html::script)};
    if (path == "/console/lang" && get) {
        auto q = req.query();
        const std::string to = value_of(q, "to") == "ja" ? "ja" : "en";
        const std::string back = value_of(q, "back") == "/console/login" ? "/console/login" : safe_next(value_of(q, "back"));
        co_return redirect(back, {{"set-cookie", std::string(lang_cookie) + "=" + to + "; Path=/console; Max-Age=31536000; SameSite=Strict"}});
    }
    if (path == "/console/login") {
        if (!get) co_return co_await login(req);
        bool none = false;
        try {
            none = storage::list_accounts(ctx_.db).empty();
        } catch (const std::exception&) {
        }
        co_return html_response(200, html::login_page(language_of(req), "", safe_next(value_of(req.query(), "next")), none));
    }

    // Everything else needs a session whose account still exists.
    request r{req, path, req.query(), get ? std::map<std::string, std::string>{} : parse_form(req.body), {}, cookie(req, session_cookie)};
    const std::int64_t now = ctx_.clock();
    auto session = sessions_.find(r.token, now);
    std::optional<storage::account> acct;
    if (session) acct = storage::get_account(ctx_.db, session->account);
    if (acct && acct->password_hash != session->credential) acct.reset();   // a new password ends the old sessions
    if (!acct) {
        if (session) sessions_.close(r.token);
        if (get || path == "/console/logout") co_return redirect("/console/login?next=" + tikapi::percent_encode(get ? req.target : "/console/reviews"));
        log::warn("console_request_refused", {{"remote", req.remote}, {"path", path}, {"reason", "no session"}});
        co_return html_response(403, html::login_page(language_of(req), "Your session ended; log in again. / セッションが終了しました。もう一度ログインしてください。",
                                                      "/console/reviews", false));
    }
    r.who = {acct->name, acct->role, session->csrf, language_of(req), req.target};
    if (get) {
        try {
            co_return page_for(r);
        } catch (const storage::storage_error& e) {
            log::error("console_page_failed", {{"path", path}, {"error", e.what()}});
            co_return html_response(503, html::message_page(r.who, "503", std::string("The database could not be read: ") + e.what()));
        } catch (const std::exception& e) {
            log::error("console_page_failed", {{"path", path}, {"error", e.what()}});
            co_return html_response(500, html::message_page(r.who, "500", std::string("This page could not be shown: ") + e.what()));
        }
    }
    // State changes: from this console's own pages only.
    const std::string given = r.form.count("csrf") ? r.form["csrf"] : std::string(req.header("X-CSRF-Token"));
    if (!origin_ok(req) || !console_sessions::csrf_matches(session->csrf, given)) {
        const char* why = !origin_ok(req) ? "the request came from another site (Origin)" : "the CSRF token is missing or wrong";
        log::warn("console_request_refused", {{"remote", req.remote}, {"path", path}, {"account", acct->name}, {"reason", why}});
        co_return html_response(403, html::message_page(r.who, html::label(r.who.language, "forbidden"),
                                                       std::string("Refused: ") + why + ". Reload the page and try again."));
    }
    try {
        co_return co_await act(r);
    } catch (const std::exception& e) {
        log::error("console_action_failed", {{"path", path}, {"account", acct->name}, {"error", e.what()}});
        co_return html_response(503, html::message_page(r.who, "503", std::string("Nothing was changed: ") + e.what()));
    }
}

asio::awaitable<http_response> console::login(http_request& req) {
    const html::lang lang = language_of(req);
    auto form = parse_form(req.body);
    const std::string next = safe_next(value_of(form, "next"));
    if (!origin_ok(req)) {
        log::warn("console_request_refused", {{"remote", req.remote}, {"path", "/console/login"}, {"reason", "the request came from another site (Origin)"}});
        co_return html_response(403, html::login_page(lang, "Refused: the login form came from another site.", next, false));
    }
    // One login waiting per address, a few in all: a flood neither queues
    // work (and 64 MiB each) nor keeps others out for long.
    const std::string address(address_of(req.remote));
    std::size_t waiting = 0;
    for (const auto& [from, n] : pending_logins_) waiting += static_cast<std::size_t>(n);
    if (waiting >= max_pending_logins || pending_logins_.count(address)) {
        parts_.security.refused("console_login", req.remote, "too many logins at once");
        co_return html_response(429, html::login_page(lang, "Too many logins at once; wait a moment and try again.", next, false));
    }
    const std::string name = value_of(form, "name");
    std::optional<storage::account> acct;
    if (storage::account_name_problem(name).empty()) acct = storage::get_account(ctx_.db, name);
    // What the password thread needs, owned by the check itself: it outlives
    // this coroutine if the daemon stops meanwhile. Wiped when done.
    struct secrets {
        std::string hash, password;
        ~secrets() {
            sodium_memzero(password.data(), password.size());
        }
    };
    auto held = std::make_shared<secrets>(secrets{acct ? acct->password_hash : std::string(), value_of(form, "password")});
    for (auto& [k, v] : form) sodium_memzero(v.data(), v.size());
    auto check = [held]() -> asio::awaitable<bool> {
        // An unknown name costs the same as a wrong password.
        if (held->hash.empty()) {
            (void)storage::hash_password(held->password);
            co_return false;
        }
        co_return storage::check_password(held->hash, held->password);
    };
    ++pending_logins_[address];
    bool ok = false;
    try {
        ok = co_await asio::co_spawn(passwords_.get_executor(), check, asio::use_awaitable);
    } catch (const std::exception& e) {
        log::error("console_login_failed", {{"remote", req.remote}, {"error", e.what()}});
    }
    held.reset();
    co_await asio::post(ctx_.ex, asio::use_awaitable);
    if (--pending_logins_[address] <= 0) pending_logins_.erase(address);
    if (!ok) {
        // Not the name typed: it may be a password typed in the wrong box.
        log::warn("console_login_refused", {{"remote", req.remote}, {"reason", "wrong account name or password"}});
        parts_.security.refused("console_login", req.remote, "POST /console/login");
        co_return html_response(401, html::login_page(lang, html::label(lang, "login_failed"), next, false));
    }
    const std::int64_t now = ctx_.clock();
    const std::string token = sessions_.open(acct->name, acct->password_hash, now);
    ctx_.db.transaction([&] { ctx_.store.audit(now, "console", "console.login", "", {{"by", acct->name}, {"role", acct->role}, {"remote", req.remote}}); });
    log::info("console_login", {{"account", acct->name}, {"role", acct->role}, {"remote", req.remote}});
    co_return redirect(next, {{"set-cookie", session_cookie_header(req, token, false)}});
}

http_response console::page_for(request& r) {
    const html::viewer& v = r.who;
    const std::string notice = notice_for(v, value_of(r.query, "done"));
    const std::int64_t now = ctx_.clock();
    auto audit_view = [&](const std::string& order_id, json detail) {
        detail["by"] = v.account;
        ctx_.db.transaction([&] { ctx_.store.audit(now, "console", "console.view", order_id, detail); });
    };
    if (r.path == "/console/reviews") {
        html::review_filter f;
        f.state = value_of(r.query, "state");
        if (f.state != "acknowledged" && f.state != "resolved" && f.state != "all") f.state = "open";
        f.severity = value_of(r.query, "severity");
        f.reason = value_of(r.query, "reason");
        f.order = value_of(r.query, "order");
        const auto shown = ctx_.store.find_reviews(f.state, f.severity, f.reason, f.order, 200);
        return html_response(200, html::review_list(v, shown, f, notice));
    }
    if (r.path.rfind("/console/reviews/", 0) == 0) {
        auto id = number(std::string_view(r.path).substr(17));
        auto item = id ? ctx_.store.get_review(*id) : std::nullopt;
        if (!item) return html_response(404, html::message_page(v, "404", "No such review item."));
        json doc;
        if (!item->order_id.empty()) {
            doc = storage::export_buyer(ctx_.db, storage::find_buyer(ctx_.db, {"", item->order_id, ""}));
            audit_view(item->order_id, {{"what", "review"}, {"review_id", item->id}});
        }
        return html_response(200, html::review_page(v, *item, doc, notice));
    }
    if (r.path == "/console/orders") {
        const std::string q = value_of(r.query, "q");
        if (q.empty()) return html_response(200, html::lookup_page(v, "", nullptr));
        // An order id first, then a buyer's user id, then a conversation id.
        if (ctx_.store.get_order(q)) return redirect("/console/orders/" + tikapi::percent_encode(q));
        for (int by = 0; by < 3; ++by) {
            storage::buyer_lookup look;
            (by == 0 ? look.order_id : by == 1 ? look.buyer_user_id : look.conversation_id) = q;
            auto who = storage::find_buyer(ctx_.db, look);
            if (who.event_ids.empty() && who.action_ids.empty() && who.review_ids.empty()) continue;
            if (by == 0) return redirect("/console/orders/" + tikapi::percent_encode(q));
            audit_view("", {{"what", "lookup"}, {by == 1 ? "buyer_user_id" : "conversation_id", q}});
            return html_response(200, html::lookup_page(v, q, storage::export_buyer(ctx_.db, who)));
        }
        return html_response(404, html::lookup_page(v, q, nullptr));
    }
    if (r.path.rfind("/console/orders/", 0) == 0) {
        const std::string id = tikapi::percent_decode(r.path.substr(16));
        auto who = storage::find_buyer(ctx_.db, {"", id, ""});
        if (!ctx_.store.get_order(id) && who.event_ids.empty() && who.action_ids.empty())
            return html_response(404, html::lookup_page(v, id, nullptr));
        audit_view(id, {{"what", "order"}});
        return html_response(200, html::order_page(v, id, storage::export_buyer(ctx_.db, who)));
    }
    if (r.path == "/console/conversation") {
        storage::buyer_lookup look{value_of(r.query, "buyer"), value_of(r.query, "order"), ""};
        if (look.buyer_user_id.empty() && look.order_id.empty()) return redirect("/console/orders");
        auto who = storage::find_buyer(ctx_.db, look);
        audit_view(look.order_id, {{"what", "conversation"}, {"buyer_user_id", who.buyer_user_id}});
        return html_response(200, html::conversation_page(v, storage::export_buyer(ctx_.db, who)));
    }
    if (r.path == "/console/status") {
        html::status_facts s;
        s.checks = parts_.readiness ? parts_.readiness() : std::vector<readiness_check>{};
        s.counts = ctx_.store.counts();
        const auto rules = in_force_.rules();
        s.rules = rules->size();
        s.rules_hash = rules->hash();
        json state = json::parse(ctx_.store.get_state("rules").value_or("{}"), nullptr, false);
        if (state.is_object() && state.contains("last_reload")) s.last_reload = state["last_reload"];
        s.breaker_open = parts_.brk.open();
        s.reviews_open = ctx_.store.open_review_count();
        s.cs_quota = cs_quota_view(ctx_.store, in_force_.cfg(), ctx_.clock());
        return html_response(200, html::status_page(v, s, notice));
    }
    return html_response(404, html::message_page(v, "404", "No such page."));
}

asio::awaitable<http_response> console::act(request& r) {
    const html::viewer& v = r.who;
    const std::string remote = r.http.remote;
    const std::int64_t now = ctx_.clock();
    if (r.path == "/console/logout") {
        sessions_.close(r.token);
        ctx_.db.transaction([&] { ctx_.store.audit(now, "console", "console.logout", "", {{"by", v.account}, {"remote", remote}}); });
        co_return redirect("/console/login", {{"set-cookie", session_cookie_header(r.http, "", true)}});
    }
    if (r.path.rfind("/console/reviews/", 0) == 0) {
        const std::string rest = r.path.substr(17);
        const auto slash = rest.find('/');
        const std::string verb = slash == std::string::npos ? "" : rest.substr(slash + 1);
        auto id = number(rest.substr(0, slash));
        auto item = id && (verb == "ack" || verb == "resolve") ? ctx_.store.get_review(*id) : std::nullopt;
        if (!item) co_return html_response(404, html::message_page(v, "404", "No such review item or action."));
        const std::string why = settle_review(ctx_.db, ctx_.store, *item, verb, "console", v.account, "console " + remote, value_of(r.form, "note"), now);
        if (!why.empty()) co_return html_response(item->state == "resolved" ? 409 : 400, html::message_page(v, html::label(v.language, "item"), why));
        log::info("console_action", {{"account", v.account}, {"action", "review." + verb}, {"review_id", item->id}});
        co_return redirect(verb == "ack" ? "/console/reviews/" + std::to_string(item->id) + "?done=acknowledged" : "/console/reviews?done=resolved");
    }
    if (r.path == "/console/resume" || r.path == "/console/reload") {
        if (!v.is_operator()) {
            log::warn("console_request_refused", {{"remote", remote}, {"path", r.path}, {"account", v.account}, {"reason", "staff may not resume or reload"}});
            co_return html_response(403, html::message_page(v, html::label(v.language, "forbidden"), html::label(v.language, "operators_only")));
        }
        if (r.path == "/console/resume") {
            const std::string done = parts_.brk.resume(v.account, "console " + remote, value_of(r.form, "drop_held") == "1");
            log::info("console_action", {{"account", v.account}, {"action", "breaker.resume"}, {"was_paused", !done.empty()}});
            co_return redirect(done.empty() ? "/console/status?done=not_paused" : "/console/status?done=resumed");
        }
        const rules_in_force::reload_outcome outcome = co_await parts_.reload();
        const auto rules = in_force_.rules();
        ctx_.db.transaction([&] {
            ctx_.store.audit(ctx_.clock(), "console", "config.reload", "",
                             {{"by", v.account}, {"ok", outcome.ok}, {"rules", rules->size()}, {"rules_hash", rules->hash()}});
        });
        log::info("console_action", {{"account", v.account}, {"action", "config.reload"}, {"ok", outcome.ok}});
        co_return redirect(outcome.ok ? "/console/status?done=reloaded" : "/console/status?done=reload_failed");
    }
    co_return html_response(404, html::message_page(v, "404", "No such action."));
}

}  // namespace orderflow::daemon
