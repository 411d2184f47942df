// The staff console's pages: plain server-rendered HTML in Japanese or
// English, one stylesheet and one small script served by the daemon itself
// (nothing is loaded from anywhere else; the Content-Security-Policy says
// so). Pure functions of what they are given: console.cpp reads the
// database and decides who may see what; here every value from outside is
// escaped on its way into the page.
//
// Element ids and names are part of the contract with the browser test
// (tests/console/console_browser.py) and with anyone scripting the console.
#pragma once

#include "daemon/admin/http_admin.hpp"
#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon::console_html {

enum class lang { en, ja };

// Who looks at the page: shown in the header, and what the forms carry.
struct viewer {
    std::string account;
    std::string role;      // staff | operator
    std::string csrf;
    lang language = lang::en;
    std::string path;      // the page's own path and query (for the language switch)
    bool is_operator() const { return role == "operator"; }
};

// The review list's filters, as the form sends them.
struct review_filter {
    std::string state = "open";   // open (open and acknowledged) | acknowledged | resolved | all
    std::string severity;         // "" any | info | warning | critical
    std::string reason;           // "" any, else exact
    std::string order;            // "" any, else the order id exactly
};

// What the status page shows.
struct status_facts {
    std::vector<readiness_check> checks;
    nlohmann::json counts;         // store::counts()
    std::size_t rules = 0;
    std::string rules_hash;
    nlohmann::json last_reload;    // {"at","ok","by",...} or null
    bool breaker_open = false;
    int reviews_open = 0;
    nlohmann::json cs_quota;       // cs_quota_view() (daemon/cs_quota.hpp)
};

std::string escape(std::string_view text);
std::string_view label(lang l, std::string_view key);
// "2026-12-04 16:20" in the daemon's time zone; "-" for 0.
std::string when(std::int64_t t);

// A whole page: header with navigation, the viewer and logout, then body.
// notice: one line shown above the body (what the last action did).
std::string page(const viewer& v, std::string_view title, std::string_view body, std::string_view notice = {});
std::string login_page(lang l, std::string_view error, std::string_view next, bool no_accounts);
std::string message_page(const viewer& v, std::string_view title, std::string_view text);

std::string review_list(const viewer& v, const std::vector<storage::review_item>& items, const review_filter& f,
                        std::string_view notice);
// doc: export_buyer's document for the item's buyer (null when the item has
// no order); only what concerns this order is shown.
std::string review_page(const viewer& v, const storage::review_item& item, const nlohmann::json& doc, std::string_view notice);
// The lookup form, and what a search found: one buyer's orders, or nothing.
std::string lookup_page(const viewer& v, std::string_view query, const nlohmann::json& doc);
std::string order_page(const viewer& v, const std::string& order_id, const nlohmann::json& doc);
// The buyer's messages and the shop's automated ones, oldest first.
std::string conversation_page(const viewer& v, const nlohmann::json& doc);
std::string status_page(const viewer& v, const status_facts& s, std::string_view notice);

extern const std::string_view stylesheet;
extern const std::string_view script;

}  // namespace orderflow::daemon::console_html
