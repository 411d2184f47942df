// See console_pages.hpp.
#include "daemon/admin/console_pages.hpp"

#include "daemon/detail/local_time.hpp"
#include "daemon/events.hpp"
#include "tikapi/http.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <tuple>

namespace orderflow::daemon::console_html {

using json = nlohmann::json;

namespace {

std::string tikapi_percent(std::string_view s) { return tikapi::percent_encode(s); }

struct entry {
    std::string_view key, en, ja;
};

// Every word the console shows, in both languages.
constexpr std::array labels{
    entry{"reviews", "Review queue", "確認待ち"},
    entry{"orders", "Orders", "注文検索"},
    entry{"status", "Status", "稼働状況"},
    entry{"logout", "Log out", "ログアウト"},
    entry{"login", "Log in", "ログイン"},
    entry{"account", "Account", "アカウント"},
    entry{"password", "Password", "パスワード"},
    entry{"login_failed", "Wrong account name or password.", "アカウント名またはパスワードが違います。"},
    entry{"no_accounts", "No console account exists yet. An operator adds one on the server: orderflowctl account add NAME --role staff",
          "コンソールのアカウントがまだありません。サーバーで運用担当者が追加します: orderflowctl account add NAME --role staff"},
    entry{"state", "State", "状態"},
    entry{"severity", "Severity", "重要度"},
    entry{"reason", "Reason", "理由"},
    entry{"order", "Order", "注文"},
    entry{"any", "any", "すべて"},
    entry{"open", "open", "未対応"},
    entry{"acknowledged", "acknowledged", "対応中"},
    entry{"resolved", "resolved", "解決済み"},
    entry{"all", "all", "すべて"},
    entry{"filter", "Filter", "絞り込み"},
    entry{"updated", "Updated", "更新"},
    entry{"summary", "Summary", "概要"},
    entry{"nothing_to_review", "Nothing needs review.", "確認が必要な項目はありません。"},
    entry{"no_match", "No item matches these filters.", "条件に合う項目はありません。"},
    entry{"item", "Review item", "確認項目"},
    entry{"seen", "Seen", "発生"},
    entry{"times", "time(s)", "回"},
    entry{"first", "first", "初回"},
    entry{"last", "last", "最終"},
    entry{"by", "by", "担当"},
    entry{"note", "Note", "メモ"},
    entry{"evidence", "Evidence", "根拠"},
    entry{"ack", "Acknowledge", "対応中にする"},
    entry{"resolve", "Resolve", "解決する"},
    entry{"resolve_note", "What was done (required)", "対応内容(必須)"},
    entry{"ack_note", "Note (optional)", "メモ(任意)"},
    entry{"events", "Events", "イベント"},
    entry{"actions", "Actions", "自動処理"},
    entry{"history", "History", "履歴"},
    entry{"received", "Received", "受信"},
    entry{"event", "Event", "イベント"},
    entry{"source", "Source", "経路"},
    entry{"kind", "Kind", "種類"},
    entry{"rule", "Rule", "ルール"},
    entry{"text", "Text", "内容"},
    entry{"lookup", "Find an order", "注文を探す"},
    entry{"lookup_hint", "Order id, buyer user id or conversation id", "注文ID・購入者ユーザーID・会話ID"},
    entry{"search", "Search", "検索"},
    entry{"not_found", "Nothing is known about", "該当するデータがありません:"},
    entry{"buyer", "Buyer", "購入者"},
    entry{"buyer_orders", "The buyer's orders", "購入者の注文"},
    entry{"conversation", "Conversation", "会話"},
    entry{"conversation_title", "The conversation as orderflow saw it", "orderflowが記録した会話"},
    entry{"no_messages", "orderflow has seen no message in this conversation.", "この会話のメッセージは記録されていません。"},
    entry{"from_buyer", "buyer", "購入者"},
    entry{"from_shop", "shop (automated)", "ショップ(自動)"},
    entry{"tracking", "Tracking", "追跡番号"},
    entry{"tags", "Tags", "タグ"},
    entry{"answers", "Buyer's answers (captured)", "お客様の回答(チャット)"},
    entry{"items", "Items", "商品"},
    entry{"checkout_note", "Buyer's note at checkout", "購入時のメッセージ"},
    entry{"cached", "Cached", "取得"},
    entry{"review_items", "Review items", "確認項目"},
    entry{"none", "none", "なし"},
    entry{"checks", "Readiness", "準備状況"},
    entry{"queues", "Queues", "キュー"},
    entry{"inbox", "Events (inbox)", "イベント(受信箱)"},
    entry{"outbox", "Actions (outbox)", "自動処理(送信箱)"},
    entry{"breaker", "Sending", "送信"},
    entry{"breaker_open", "PAUSED by the circuit breaker: an operator resumes after checking the review item",
          "サーキットブレーカーにより一時停止中: 確認項目を確認のうえ運用担当者が再開します"},
    entry{"breaker_closed", "running", "稼働中"},
    entry{"rules", "Rules in force", "適用中のルール"},
    entry{"last_reload", "Last reload", "最終リロード"},
    entry{"reload_errors", "Why the last reload failed", "最後の再読み込みが失敗した理由"},
    entry{"and", "and", "ほか"},
    entry{"more_errors", "more (orderflowctl check on the server shows all)", "件 (すべてはサーバーで orderflowctl check を実行すると表示されます)"},
    entry{"ok", "ok", "正常"},
    entry{"failed", "failed", "失敗"},
    entry{"reviews_open", "Open review items", "未解決の確認項目"},
    entry{"cs_quota", "Customer-service calls today (UTC)", "本日のカスタマーサービス呼び出し (UTC)"},
    entry{"cs_of", "of", "/"},
    entry{"cs_reserve", "kept for replies to buyers", "購入者への返信用に確保"},
    entry{"cs_used_up", "USED UP: nothing goes to customer service until 00:00 UTC",
          "上限到達: 00:00 UTC までカスタマーサービスへの呼び出しは行いません"},
    entry{"cs_reserve_reached", "RESERVE REACHED: only replies go out; proactive messages wait until 00:00 UTC",
          "確保分に到達: 返信のみ送信し、自動メッセージは 00:00 UTC まで待機します"},
    entry{"operator_actions", "Operator actions", "運用担当者の操作"},
    entry{"resume", "Resume sending", "送信を再開"},
    entry{"drop_held", "Drop the held messages instead of sending them", "保留中のメッセージを送らずに破棄する"},
    entry{"reload", "Reload rules and config", "ルールと設定を再読み込み"},
    entry{"operators_only", "Only operators may resume sending or reload.", "送信の再開と再読み込みは運用担当者のみが行えます。"},
    entry{"forbidden", "Not allowed", "許可されていません"},
    entry{"language", "日本語", "English"},
};

std::string view_link(std::string_view href, std::string_view text, std::string_view cls = {}) {
    return "<a href=\"" + escape(href) + "\"" + (cls.empty() ? "" : " class=\"" + std::string(cls) + "\"") + ">" + escape(text) + "</a>";
}

std::string_view l(const viewer& v, std::string_view key) { return label(v.language, key); }

std::string csrf_field(const viewer& v) { return "<input type=\"hidden\" name=\"csrf\" value=\"" + escape(v.csrf) + "\">"; }

std::string order_href(std::string_view id) { return "/console/orders/" + tikapi_percent(id); }

std::string pretty(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(2); }

// The text an action sends, else what it does, without the buyer's id.
std::string action_text(const json& what) {
    if (!what.is_object()) return what.is_null() ? "" : pretty(what);
    if (auto it = what.find("text"); it != what.end() && it->is_string()) return it->get<std::string>();
    json shown = what;
    shown.erase("buyer_user_id");
    return shown.dump();
}

std::string facts(const std::vector<std::pair<std::string, std::string>>& rows, std::string_view id = {}) {
    std::string out = "<dl class=\"facts\"" + (id.empty() ? std::string() : " id=\"" + std::string(id) + "\"") + ">";
    for (const auto& [k, val] : rows) out += "<dt>" + k + "</dt><dd>" + val + "</dd>";
    return out + "</dl>";
}

// The order's events and actions (with their texts and history), and its
// review items, from an export document.
std::string order_sections(const viewer& v, const std::string& order_id, const json& doc, std::int64_t skip_review = 0) {
    std::string out;
    if (!doc.is_object()) return out;
    std::string reviews;
    for (const auto& r : doc.value("reviews", json::array()))
        if (r.value("order_id", "") == order_id && r.value("id", std::int64_t{0}) != skip_review)
            reviews += "<li>" + view_link("/console/reviews/" + std::to_string(r.value("id", 0)), "#" + std::to_string(r.value("id", 0))) +
                       " <span class=\"sev-" + escape(r.value("severity", "")) + "\">" + escape(r.value("severity", "")) + "</span> " +
                       escape(r.value("state", "")) + " · " + escape(r.value("reason", "")) + " · " + escape(r.value("summary", "")) + "</li>";
    if (!reviews.empty()) out += "<section id=\"order-reviews\"><h2>" + std::string(l(v, "review_items")) + "</h2><ul>" + reviews + "</ul></section>";

    out += "<section id=\"events\"><h2>" + std::string(l(v, "events")) + "</h2><table><thead><tr><th>#</th><th>" +
           std::string(l(v, "received")) + "</th><th>" + std::string(l(v, "event")) + "</th><th>" + std::string(l(v, "source")) +
           "</th><th>" + std::string(l(v, "state")) + "</th><th>" + std::string(l(v, "note")) + "</th></tr></thead><tbody>";
    int events = 0;
    for (const auto& e : doc.value("events", json::array())) {
        if (e.value("order_id", "") != order_id) continue;
        ++events;
        out += "<tr class=\"event\"><td>" + std::to_string(e.value("id", 0)) + "</td><td>" + when(e.value("received_at", std::int64_t{0})) +
               "</td><td>" + escape(e.value("event", "")) + "</td><td>" + escape(e.value("source", "")) + "</td><td>" +
               escape(e.value("state", "")) + "</td><td>" + escape(e.value("note", "")) + "</td></tr>";
    }
    out += "</tbody></table>" + (events ? std::string() : "<p class=\"empty\">" + std::string(l(v, "none")) + "</p>") + "</section>";

    out += "<section id=\"actions\"><h2>" + std::string(l(v, "actions")) + "</h2>";
    int actions = 0;
    for (const auto& a : doc.value("actions", json::array())) {
        if (a.value("order_id", "") != order_id) continue;
        ++actions;
        out += "<div class=\"action\" data-id=\"" + std::to_string(a.value("id", 0)) + "\"><p><strong>#" + std::to_string(a.value("id", 0)) +
               " " + escape(a.value("kind", "")) + "</strong> · " + std::string(l(v, "rule")) + " " + escape(a.value("rule_id", "")) +
               " · <span class=\"state\">" + escape(a.value("state", "")) + "</span>" +
               (a.value("reason", "").empty() ? "" : " · " + escape(a.value("reason", ""))) + "</p>";
        const std::string text = action_text(a.value("what", json()));
        if (!text.empty()) out += "<blockquote class=\"text\">" + escape(text) + "</blockquote>";
        out += "<ol class=\"history\">";
        for (const auto& h : a.value("history", json::array()))
            out += "<li>" + when(h.value("at", std::int64_t{0})) + " " + escape(h.value("state", "")) +
                   (h.value("reason", "").empty() ? "" : ": " + escape(h.value("reason", ""))) + "</li>";
        out += "</ol></div>";
    }
    if (!actions) out += "<p class=\"empty\">" + std::string(l(v, "none")) + "</p>";
    out += "</section>";
    return out;
}

}  // namespace


std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string_view label(lang lg, std::string_view key) {
    for (const auto& e : labels)
        if (e.key == key) return lg == lang::ja ? e.ja : e.en;
    return key;
}

std::string when(std::int64_t t) { return t == 0 ? "-" : detail::local_minute_text(t); }

std::string page(const viewer& v, std::string_view title, std::string_view body, std::string_view notice) {
    const char* lang_attr = v.language == lang::ja ? "ja" : "en";
    const char* other = v.language == lang::ja ? "en" : "ja";
    std::string out = std::string("<!doctype html><html lang=\"") + lang_attr +
                      "\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                      "<title>" + escape(title) + " · orderflow</title><link rel=\"stylesheet\" href=\"/console/static/console.css\">"
                      "<script src=\"/console/static/console.js\" defer></script></head><body><header><strong class=\"brand\">orderflow</strong><nav>";
    out += view_link("/console/reviews", l(v, "reviews")).insert(2, " id=\"nav-reviews\"");
    out += view_link("/console/orders", l(v, "orders")).insert(2, " id=\"nav-orders\"");
    out += view_link("/console/status", l(v, "status")).insert(2, " id=\"nav-status\"");
    out += "</nav><span class=\"who\" id=\"who\" data-role=\"" + escape(v.role) + "\">" + escape(v.account) + " (" + escape(v.role) + ")</span>";
    out += view_link("/console/lang?to=" + std::string(other) + "&back=" + tikapi_percent(v.path), l(v, "language")).insert(2, " id=\"lang\"");
    out += "<form id=\"logout\" method=\"post\" action=\"/console/logout\">" + csrf_field(v) + "<button type=\"submit\">" +
           std::string(l(v, "logout")) + "</button></form></header><main>";
    if (!notice.empty()) out += "<p class=\"notice\" id=\"notice\">" + escape(notice) + "</p>";
    out += body;
    return out + "</main></body></html>";
}

std::string login_page(lang lg, std::string_view error, std::string_view next, bool no_accounts) {
    viewer v;
    v.language = lg;
    std::string out = std::string("<!doctype html><html lang=\"") + (lg == lang::ja ? "ja" : "en") +
                      "\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" +
                      std::string(l(v, "login")) + " · orderflow</title><link rel=\"stylesheet\" href=\"/console/static/console.css\"></head>"
                      "<body class=\"login\"><main><h1>orderflow</h1>";
    if (no_accounts) out += "<p class=\"error\">" + escape(l(v, "no_accounts")) + "</p>";
    if (!error.empty()) out += "<p class=\"error\" id=\"login-error\">" + escape(error) + "</p>";
    out += "<form id=\"login\" method=\"post\" action=\"/console/login\"><input type=\"hidden\" name=\"next\" value=\"" + escape(next) +
           "\"><label>" + std::string(l(v, "account")) + " <input name=\"name\" autocomplete=\"username\" required autofocus></label><label>" +
           std::string(l(v, "password")) + " <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>"
           "<button type=\"submit\" id=\"login-submit\">" + std::string(l(v, "login")) + "</button></form>";
    out += "<p>" + view_link(std::string("/console/lang?to=") + (lg == lang::ja ? "en" : "ja") + "&back=/console/login", l(v, "language")) + "</p>";
    return out + "</main></body></html>";
}

std::string message_page(const viewer& v, std::string_view title, std::string_view text) {
    return page(v, title, "<h1>" + escape(title) + "</h1><p class=\"error\" id=\"message\">" + escape(text) + "</p>");
}

std::string review_list(const viewer& v, const std::vector<storage::review_item>& items, const review_filter& f, std::string_view notice) {
    auto option = [&](std::string_view value, std::string_view current, std::string_view text) {
        return "<option value=\"" + escape(value) + "\"" + (value == current ? " selected" : "") + ">" + escape(text) + "</option>";
    };
    std::string body = "<h1>" + std::string(l(v, "reviews")) + "</h1><form id=\"filters\" method=\"get\" action=\"/console/reviews\"><label>" +
                       std::string(l(v, "state")) + " <select name=\"state\">";
    for (const char* s : {"open", "acknowledged", "resolved", "all"}) body += option(s, f.state, l(v, s));
    body += "</select></label><label>" + std::string(l(v, "severity")) + " <select name=\"severity\">" + option("", f.severity, l(v, "any"));
    for (const char* s : {"critical", "warning", "info"}) body += option(s, f.severity, s);
    body += "</select></label><label>" + std::string(l(v, "reason")) + " <input name=\"reason\" value=\"" + escape(f.reason) +
            "\" size=\"18\"></label><label>" + std::string(l(v, "order")) + " <input name=\"order\" value=\"" + escape(f.order) +
            "\" size=\"22\"></label><button type=\"submit\">" + std::string(l(v, "filter")) + "</button></form>";
    if (items.empty()) {
        const bool filtered = !f.severity.empty() || !f.reason.empty() || !f.order.empty() || f.state != "open";
        body += "<p class=\"empty\" id=\"empty\">" + std::string(l(v, filtered ? "no_match" : "nothing_to_review")) + "</p>";
        return page(v, l(v, "reviews"), body, notice);
    }
    body += "<table id=\"reviews\"><thead><tr><th>#</th><th>" + std::string(l(v, "state")) + "</th><th>" + std::string(l(v, "severity")) +
            "</th><th>" + std::string(l(v, "updated")) + "</th><th>" + std::string(l(v, "order")) + "</th><th>" + std::string(l(v, "reason")) +
            "</th><th>" + std::string(l(v, "summary")) + "</th></tr></thead><tbody>";
    for (const auto& r : items) {
        const std::string id = std::to_string(r.id);
        body += "<tr class=\"review sev-" + escape(r.severity) + "\" data-id=\"" + id + "\" data-order=\"" + escape(r.order_id) + "\"><td>" +
                view_link("/console/reviews/" + id, "#" + id, "review-link") + "</td><td>" + escape(l(v, r.state)) + "</td><td>" +
                escape(r.severity) + "</td><td>" + when(r.updated_at) + "</td><td>" +
                (r.order_id.empty() ? "-" : view_link(order_href(r.order_id), r.order_id)) + "</td><td>" + escape(r.reason) +
                (r.occurrences > 1 ? " ×" + std::to_string(r.occurrences) : "") + "</td><td>" + escape(r.summary) + "</td></tr>";
    }
    return page(v, l(v, "reviews"), body + "</tbody></table>", notice);
}

std::string review_page(const viewer& v, const storage::review_item& r, const json& doc, std::string_view notice) {
    const std::string id = std::to_string(r.id);
    std::string body = "<h1>" + std::string(l(v, "item")) + " #" + id + "</h1><p class=\"summary\" id=\"summary\">" + escape(r.summary) + "</p>";
    std::string state = escape(l(v, r.state));
    if (!r.resolved_by.empty()) state += " · " + std::string(l(v, "by")) + " " + escape(r.resolved_by);
    body += facts({{std::string(l(v, "order")), r.order_id.empty() ? "-" : view_link(order_href(r.order_id), r.order_id)},
                   {std::string(l(v, "reason")), escape(r.reason)},
                   {std::string(l(v, "severity")), "<span class=\"sev-" + escape(r.severity) + "\">" + escape(r.severity) + "</span>"},
                   {std::string(l(v, "state")), "<span id=\"item-state\">" + state + "</span>"},
                   {std::string(l(v, "seen")), std::to_string(r.occurrences) + " " + std::string(l(v, "times")) + " · " +
                                                   std::string(l(v, "first")) + " " + when(r.created_at) + " · " +
                                                   std::string(l(v, "last")) + " " + when(r.updated_at)},
                   {std::string(l(v, "note")), r.note.empty() ? "-" : escape(r.note)}},
                  "item-facts");
    json evidence = json::parse(r.evidence, nullptr, false);
    body += "<section><h2>" + std::string(l(v, "evidence")) + "</h2><pre id=\"evidence\">" +
            escape(evidence.is_discarded() ? r.evidence : evidence.dump(2)) + "</pre></section>";
    if (r.state != "resolved") {
        body += "<section class=\"act\">";
        if (r.state == "open")
            body += "<form id=\"ack\" method=\"post\" action=\"/console/reviews/" + id + "/ack\">" + csrf_field(v) + "<label>" +
                    std::string(l(v, "ack_note")) + " <input name=\"note\" size=\"40\"></label><button type=\"submit\">" +
                    std::string(l(v, "ack")) + "</button></form>";
        body += "<form id=\"resolve\" method=\"post\" action=\"/console/reviews/" + id + "/resolve\">" + csrf_field(v) + "<label>" +
                std::string(l(v, "resolve_note")) + " <textarea name=\"note\" rows=\"2\" cols=\"50\" required></textarea></label>"
                "<button type=\"submit\" id=\"resolve-submit\">" + std::string(l(v, "resolve")) + "</button></form></section>";
    }
    if (!r.order_id.empty()) {
        body += "<p>" + view_link(order_href(r.order_id), std::string(l(v, "order")) + " " + r.order_id) + " · " +
                view_link("/console/conversation?order=" + tikapi_percent(r.order_id), l(v, "conversation"), "conversation-link") + "</p>";
        body += order_sections(v, r.order_id, doc, r.id);
    }
    return page(v, std::string(l(v, "item")) + " #" + id, body, notice);
}

static std::string lookup_form(const viewer& v, std::string_view query) {
    return "<form id=\"lookup\" method=\"get\" action=\"/console/orders\"><label>" + std::string(l(v, "lookup_hint")) +
           " <input name=\"q\" value=\"" + escape(query) + "\" size=\"32\" required></label><button type=\"submit\">" +
           std::string(l(v, "search")) + "</button></form>";
}

std::string lookup_page(const viewer& v, std::string_view query, const json& doc) {
    std::string body = "<h1>" + std::string(l(v, "lookup")) + "</h1>" + lookup_form(v, query);
    if (!query.empty() && !doc.is_object()) body += "<p class=\"empty\" id=\"not-found\">" + std::string(l(v, "not_found")) + " " + escape(query) + "</p>";
    if (doc.is_object()) {
        const json& buyer = doc.value("buyer", json::object());
        body += "<h2>" + std::string(l(v, "buyer_orders")) + "</h2><p>" + std::string(l(v, "buyer")) + " " +
                escape(buyer.value("buyer_user_id", "")) + " · " +
                view_link("/console/conversation?buyer=" + tikapi_percent(buyer.value("buyer_user_id", "")), l(v, "conversation"),
                          "conversation-link") + "</p><ul id=\"found\">";
        for (const auto& id : buyer.value("order_ids", json::array())) {
            std::string status;
            for (const auto& o : doc.value("orders", json::array()))
                if (o.value("order_id", "") == id.get<std::string>()) status = o.value("status", "");
            body += "<li>" + view_link(order_href(id.get<std::string>()), id.get<std::string>()) + (status.empty() ? "" : " · " + escape(status)) + "</li>";
        }
        body += "</ul>";
    }
    return page(v, l(v, "orders"), body);
}

std::string order_page(const viewer& v, const std::string& order_id, const json& doc) {
    json order = json::object();
    std::int64_t cached = 0;
    for (const auto& o : doc.value("orders", json::array()))
        if (o.value("order_id", "") == order_id) {
            order = o.value("order", json::object());
            cached = o.value("cached_at", std::int64_t{0});
        }
    if (!order.is_object()) order = json::object();
    std::string tags;
    for (const auto& t : doc.value("tags", json::array()))
        if (t.value("order_id", "") == order_id) tags += (tags.empty() ? "" : ", ") + escape(t.value("tag", ""));
    std::string answers;
    for (const auto& a : doc.value("answers", json::array()))
        if (a.value("order_id", "") == order_id)
            answers += "<li><b>" + escape(a.value("attribute", "")) + "</b>: <span class=\"answer\">" + escape(a.value("value", "")) +
                       "</span> · " + when(a.value("captured_at", std::int64_t{0})) + "</li>";
    std::string items;
    for (const auto& li : order.value("line_items", json::array()))
        if (li.is_object())
            items += "<li>" + escape(li.value("product_name", "")) + " · " + escape(li.value("sku_name", "")) + " · " +
                     escape(li.value("seller_sku", "")) + "</li>";
    const std::string buyer = doc.value("buyer", json::object()).value("buyer_user_id", "");
    std::string body = "<h1>" + std::string(l(v, "order")) + " <span id=\"order-id\">" + escape(order_id) + "</span></h1>" + lookup_form(v, "");
    body += facts({{std::string(l(v, "state")), escape(order.value("status", "-"))},
                   {std::string(l(v, "buyer")), escape(order.value("buyer_name", "")) + " · " +
                                                    (buyer.empty() ? "-" : view_link("/console/orders?q=" + tikapi_percent(buyer), buyer))},
                   {std::string(l(v, "tracking")), escape(order.value("tracking_number", "-")) + " " + escape(order.value("shipping_provider", ""))},
                   {std::string(l(v, "tags")), tags.empty() ? "-" : tags},
                   {std::string(l(v, "answers")), answers.empty() ? "-" : "<ul id=\"answers\">" + answers + "</ul>"},
                   {std::string(l(v, "checkout_note")), escape(order.value("buyer_message", "-"))},
                   {std::string(l(v, "items")), items.empty() ? "-" : "<ul>" + items + "</ul>"},
                   {std::string(l(v, "cached")), when(cached)}},
                  "order-facts");
    body += "<p>" + view_link("/console/conversation?order=" + tikapi_percent(order_id), l(v, "conversation"), "conversation-link") + "</p>";
    return page(v, std::string(l(v, "order")) + " " + order_id, body + order_sections(v, order_id, doc));
}

std::string conversation_page(const viewer& v, const json& doc) {
    // (time, from the shop?, text, state)
    std::vector<std::tuple<std::int64_t, bool, std::string, std::string>> said;
    for (const auto& e : doc.value("events", json::array())) {
        if (e.value("event", "") != "message.received") continue;
        json m = message_view(e.value("payload", json::object()).value("data", json::object()));
        if (!m.is_object()) continue;
        const std::int64_t t = m.value("create_time", std::int64_t{0}) ? m.value("create_time", std::int64_t{0}) : e.value("received_at", std::int64_t{0});
        const bool from_shop = m.value("sender_role", "") != "BUYER";
        said.emplace_back(t, from_shop, m.value("text", "").empty() ? "[" + m.value("type", "") + "]" : m.value("text", ""), "");
    }
    for (const auto& a : doc.value("actions", json::array())) {
        const std::string kind = a.value("kind", "");
        if (kind != "send_message" && kind != "reply") continue;
        said.emplace_back(a.value("planned_at", std::int64_t{0}), true, action_text(a.value("what", json())), a.value("state", ""));
    }
    std::stable_sort(said.begin(), said.end(), [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
    const json& buyer = doc.value("buyer", json::object());
    std::string body = "<h1>" + std::string(l(v, "conversation_title")) + "</h1><p>" + std::string(l(v, "buyer")) + " " +
                       escape(buyer.value("buyer_user_id", "")) + "</p>";
    if (said.empty()) return page(v, l(v, "conversation"), body + "<p class=\"empty\">" + std::string(l(v, "no_messages")) + "</p>");
    body += "<ol id=\"conversation\">";
    for (const auto& [t, from_shop, text, state] : said)
        body += std::string("<li class=\"") + (from_shop ? "shop" : "buyer") + "\"><span class=\"meta\">" + when(t) + " · " +
                std::string(l(v, from_shop ? "from_shop" : "from_buyer")) + (state.empty() ? "" : " · " + escape(state)) +
                "</span><p>" + escape(text) + "</p></li>";
    return page(v, l(v, "conversation"), body + "</ol>");
}

namespace {

// "120 of 10000 · 1000 kept for replies to buyers", and a warning once
// proactive messages or everything waits for the next UTC day.
std::string quota_text(const viewer& v, const nlohmann::json& q) {
    if (!q.is_object()) return "-";
    const bool used_up = q.value("replies", "go") == "wait", reserve = q.value("proactive", "go") == "waits";
    std::string out = "<span id=\"cs-quota\" class=\"" + std::string(used_up ? "fail" : reserve ? "warn" : "ok") + "\">" +
                      q.value("used", json(0)).dump() + " " + std::string(l(v, "cs_of")) + " " + q.value("limit", json(0)).dump() + "</span> · " +
                      q.value("reserve", json(0)).dump() + " " + std::string(l(v, "cs_reserve"));
    if (used_up || reserve) out += " · <strong>" + std::string(l(v, used_up ? "cs_used_up" : "cs_reserve_reached")) + "</strong>";
    return out;
}

}  // namespace

std::string status_page(const viewer& v, const status_facts& s, std::string_view notice) {
    std::string body = "<h1>" + std::string(l(v, "status")) + "</h1><section><h2>" + std::string(l(v, "checks")) + "</h2><ul id=\"checks\">";
    for (const auto& c : s.checks)
        body += "<li class=\"" + std::string(c.ok ? "ok" : "fail") + "\" data-check=\"" + escape(c.name) + "\"><strong>" +
                std::string(c.ok ? "ok" : "FAIL") + "</strong> " + escape(c.name) + ": " + escape(c.detail) + "</li>";
    body += "</ul></section>";
    std::string reload = "-";
    if (s.last_reload.is_object())
        reload = when(s.last_reload.value("at", std::int64_t{0})) + " · " +
                 std::string(l(v, s.last_reload.value("ok", true) ? "ok" : "failed"));
    body += facts({{std::string(l(v, "breaker")), "<span id=\"breaker\" class=\"" + std::string(s.breaker_open ? "fail" : "ok") + "\">" +
                                                      std::string(l(v, s.breaker_open ? "breaker_open" : "breaker_closed")) + "</span>"},
                   {std::string(l(v, "rules")), std::to_string(s.rules) + " · " + escape(s.rules_hash)},
                   {std::string(l(v, "last_reload")), reload},
                   {std::string(l(v, "reviews_open")), view_link("/console/reviews", std::to_string(s.reviews_open))},
                   {std::string(l(v, "cs_quota")), quota_text(v, s.cs_quota)}},
                  "status-facts");
    // A failed last reload: its errors, as `orderflowctl reload` printed them.
    if (s.last_reload.is_object() && !s.last_reload.value("ok", true)) {
        const json errors = s.last_reload.value("errors", json::array());
        std::size_t listed = 0;
        std::string items;
        for (const auto& e : errors)
            if (e.is_string()) {
                items += "<li>" + escape(e.get<std::string>()) + "</li>";
                ++listed;
            }
        std::size_t total = listed;
        if (auto count = s.last_reload.find("error_count"); count != s.last_reload.end() && count->is_number_unsigned())
            total = std::max(total, count->get<std::size_t>());
        if (listed > 0) {
            body += "<section id=\"reload-errors\"><h2>" + std::string(l(v, "reload_errors")) + "</h2><ul class=\"errors\">" + items + "</ul>";
            if (total > listed)
                body += "<p id=\"reload-errors-more\">" + std::string(l(v, "and")) + " " + std::to_string(total - listed) + " " +
                        std::string(l(v, "more_errors")) + "</p>";
            body += "</section>";
        }
    }
    body += "<section><h2>" + std::string(l(v, "queues")) + "</h2><table id=\"queues\">";
    for (const char* table : {"inbox", "outbox"}) {
        body += "<tr><th>" + std::string(l(v, table)) + "</th><td>";
        if (s.counts.contains(table))
            for (const auto& [state, n] : s.counts[table].items()) body += escape(state) + " " + n.dump() + " · ";
        body += "</td></tr>";
    }
    body += "</table></section>";
    if (v.is_operator()) {
        body += "<section id=\"operator\"><h2>" + std::string(l(v, "operator_actions")) + "</h2>";
        body += "<form id=\"resume\" method=\"post\" action=\"/console/resume\" data-confirm=\"" + escape(l(v, "resume")) + "?\">" + csrf_field(v) +
                "<label><input type=\"checkbox\" name=\"drop_held\" value=\"1\"> " + std::string(l(v, "drop_held")) +
                "</label><button type=\"submit\">" + std::string(l(v, "resume")) + "</button></form>";
        body += "<form id=\"reload\" method=\"post\" action=\"/console/reload\" data-confirm=\"" + escape(l(v, "reload")) + "?\">" + csrf_field(v) +
                "<button type=\"submit\">" + std::string(l(v, "reload")) + "</button></form></section>";
    } else {
        body += "<p class=\"empty\">" + std::string(l(v, "operators_only")) + "</p>";
    }
    return page(v, l(v, "status"), body, notice);
}

const std::string_view stylesheet = R"css(
:root { --fg: #1d2329; --muted: #5b6670; --line: #d5dbe0; --bg: #f6f7f9; --accent: #0b5cad; --bad: #b3261e; --warn: #8a5a00; --good: #1e7b34; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, "Hiragino Sans", "Noto Sans CJK JP", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.2em; align-items: center; padding: .6em 1.2em; background: #fff; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header nav { display: flex; gap: 1em; flex: 1; }
header form { margin: 0; }
.brand { color: var(--accent); }
.who { color: var(--muted); }
main { max-width: 70em; margin: 0 auto; padding: 1em 1.2em 3em; }
a { color: var(--accent); }
h1 { font-size: 1.4em; margin: .4em 0 .6em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
#reviews td:nth-child(-n+4), th { white-space: nowrap; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
form { margin: .6em 0; display: flex; gap: .8em; flex-wrap: wrap; align-items: end; }
label { display: flex; flex-direction: column; font-size: .9em; color: var(--muted); }
input, select, textarea, button { font: inherit; padding: .3em .5em; }
button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: .4em 1em; cursor: pointer; }
header button { background: none; color: var(--accent); padding: 0; }
pre { background: #fff; border: 1px solid var(--line); padding: .8em; overflow: auto; max-height: 30em; }
blockquote.text { margin: .3em 0 .3em 1em; padding: .4em .8em; background: #fff; border-left: 3px solid var(--accent); white-space: pre-wrap; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; background: #fff; padding: .8em; border: 1px solid var(--line); }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.facts ul { margin: 0; padding-left: 1.2em; }
.notice { background: #e6f2e9; border: 1px solid #b7d9c0; padding: .5em .8em; }
.error { color: var(--bad); }
ul.errors { font-family: ui-monospace, monospace; font-size: .9em; overflow-wrap: anywhere; }
.empty { color: var(--muted); }
.sev-critical { color: var(--bad); font-weight: 600; }
.sev-warning { color: var(--warn); }
.ok { color: var(--good); }
.fail { color: var(--bad); }
.warn { color: var(--warn); }
.action { background: #fff; border: 1px solid var(--line); padding: .4em .8em; margin: .5em 0; }
.history { color: var(--muted); font-size: .9em; margin: .2em 0; }
#conversation { list-style: none; padding: 0; }
#conversation li { max-width: 36em; margin: .5em 0; padding: .4em .8em; border-radius: 8px; background: #fff; border: 1px solid var(--line); }
#conversation li.shop { margin-left: auto; background: #eaf2fb; }
#conversation .meta { color: var(--muted); font-size: .85em; }
#conversation p { margin: .2em 0; white-space: pre-wrap; }
body.login main { max-width: 24em; margin-top: 4em; }
body.login form { flex-direction: column; align-items: stretch; }
)css";

// Confirms what asks for it, and refreshes the queue every minute while
// nobody is typing in it.
const std::string_view script = R"js(
document.querySelectorAll('form[data-confirm]').forEach(function (f) {
  f.addEventListener('submit', function (e) { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
});
if (document.getElementById('reviews')) {
  setInterval(function () {
    var a = document.activeElement;
    if (!a || (a.tagName !== 'INPUT' && a.tagName !== 'SELECT' && a.tagName !== 'TEXTAREA')) window.location.reload();
  }, 60000);
}
)js";

}  // namespace orderflow::daemon::console_html
