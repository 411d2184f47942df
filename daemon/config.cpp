// Config loading: a small table-driven validator over the jsonc document, so
// that every key has one line saying its type, and unknown keys, wrong types
// and bad values all come back as file:line:column diagnostics.
#include "daemon/config.hpp"

#include "common/duration.hpp"
#include "common/loopback.hpp"
#include "rules/fixture.hpp"
#include "rules/jsonc.hpp"
#include "storage/vault.hpp"
#include "tikapi/http.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <tuple>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace orderflow::daemon {

namespace {

using json = nlohmann::json;
using pointer = json::json_pointer;

// An IANA zone name ("Asia/Tokyo", "Etc/GMT+9") with a file in the system's
// zone database. The name's shape is checked first: it is joined to a path,
// so ".." or an absolute path must not lead elsewhere, and a name too long
// for the file system must be an error, not an exception.
bool known_time_zone(const std::string& name) {
    if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') return false;
    std::string_view rest = name;
    while (!rest.empty()) {
        const auto slash = rest.find('/');
        const std::string_view part = rest.substr(0, slash);
        if (part.empty() || part.front() == '.') return false;
        for (char c : part)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+') return false;
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    }
    std::error_code ec;
    return std::filesystem::is_regular_file("/usr/share/zoneinfo/" + name, ec);
}

// The longest duration any key takes: ten years.
constexpr std::chrono::seconds longest_duration = std::chrono::hours(24 * 3650);

// A whole number of seconds as the config writes it: "3650d", "5m", "90s".
std::string duration_text(std::chrono::seconds d) {
    const auto n = d.count();
    if (n != 0 && n % 86400 == 0) return std::to_string(n / 86400) + "d";
    if (n != 0 && n % 3600 == 0) return std::to_string(n / 3600) + "h";
    if (n != 0 && n % 60 == 0) return std::to_string(n / 60) + "m";
    return std::to_string(n) + "s";
}

class validator {
public:
    validator(const rules::jsonc_document& doc, config& cfg) : doc_(doc), cfg_(cfg) {}

    std::vector<rules::diagnostic> diagnostics;

    void error(const pointer& at, std::string message, bool of_key = false) {
        diagnostics.push_back(doc_.error_at(at, std::move(message), of_key));
    }

    // One section: known keys with a setter each; unknown keys are errors.
    using setter = std::function<void(const json&, const pointer&)>;
    void section(const json& obj, const pointer& at, const std::map<std::string, setter>& keys) {
        if (!obj.is_object()) {
            error(at, "expected an object, found " + type_name(obj));
            return;
        }
        for (auto& [k, v] : obj.items()) {
            auto it = keys.find(k);
            pointer p = at / k;
            if (it == keys.end()) {
                std::string known;
                for (auto& [name, _] : keys) known += (known.empty() ? "" : ", ") + name;
                error(p, "unknown key '" + path_of(p) + "'; expected one of: " + known, true);
                continue;
            }
            it->second(v, p);
        }
    }

    setter string(std::string& out, bool non_empty = true) {
        return [this, &out, non_empty](const json& v, const pointer& p) {
            if (!v.is_string()) return error(p, "'" + path_of(p) + "' must be a string, found " + type_name(v));
            if (non_empty && v.get_ref<const std::string&>().empty()) return error(p, "'" + path_of(p) + "' must not be empty");
            out = v.get<std::string>();
        };
    }
    setter path(std::filesystem::path& out) {
        return [this, &out](const json& v, const pointer& p) {
            std::string s;
            string(s)(v, p);
            if (s.empty()) return;
            out = resolve(s);
        };
    }
    setter secret(daemon::secret_path& out) {
        return [this, &out](const json& v, const pointer& p) {
            std::string s;
            string(s)(v, p);
            if (s.empty()) return;
            if (s.rfind("credential:", 0) != 0) {
                out = daemon::secret_path(resolve(s), path_of(p));
                return;
            }
            const std::string name = s.substr(std::strlen("credential:"));
            if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
                return error(p, "'" + path_of(p) + "': \"" + s + "\" is not a credential name; expected \"credential:NAME\", e.g. \"credential:app_secret\"");
            // Under systemd, the unit loads the credential (LoadCredential=); from a
            // shell, the file it loads it from, by convention secrets/NAME next to
            // this file (systemd/orderflow.service), so orderflowctl works there too.
            const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
            const std::filesystem::path file = dir && *dir ? std::filesystem::path(dir) / name : cfg_.file.parent_path() / "secrets" / name;
            out = daemon::secret_path(file.lexically_normal(), path_of(p), name);
        };
    }
    // min: the shortest value that makes sense (0 s would switch a safety off).
    // max: the longest; every duration has one, so that no value overflows
    // a timer (steady_clock counts nanoseconds: about 292 years).
    template <class Duration>
    setter duration(Duration& out, std::chrono::seconds min = std::chrono::seconds(0), std::chrono::seconds max = longest_duration) {
        return [this, &out, min, max](const json& v, const pointer& p) {
            if (!v.is_string()) return error(p, "'" + path_of(p) + "' must be a duration string such as \"90s\", \"10m\" or \"24h\", found " + type_name(v));
            auto d = parse_duration(v.get<std::string>());
            if (!d) return error(p, "'" + path_of(p) + "': \"" + v.get<std::string>() + "\" is not a duration; expected e.g. \"90s\", \"10m\", \"24h\"");
            if (*d < min)
                return error(p, "'" + path_of(p) + "' must be at least \"" + duration_text(min) + "\", found \"" + v.get<std::string>() + "\"");
            if (*d > max)
                return error(p, "'" + path_of(p) + "' must be at most \"" + duration_text(max) + "\", found \"" + v.get<std::string>() + "\"");
            out = std::chrono::duration_cast<Duration>(*d);
        };
    }
    // An http(s) URL that tikapi's client can use (daemon/api_options.cpp
    // parses it the same way at start). Plain http only to this machine:
    // the token calls carry the app secret, and every call a token.
    setter api_url(std::string& out) {
        return [this, &out](const json& v, const pointer& p) {
            std::string s;
            string(s)(v, p);
            if (s.empty()) return;
            const auto u = tikapi::url::parse(s);
            if (!u)
                return error(p, "'" + path_of(p) + "': \"" + s + "\" is not an http(s) URL; expected e.g. \"https://open-api.tiktokglobalshop.com\"");
            if (u->scheme == "http" && !is_loopback_host(u->host))
                return error(p, "'" + path_of(p) + "': \"" + s + "\" is plain http to another machine (" + u->host +
                                    "), which would carry the app secret and the shop's tokens in clear; use https:// "
                                    "(http:// is allowed only to a loopback address, for a local sandbox)");
            out = s;
        };
    }
    setter listen(listen_address& out) {
        return [this, &out](const json& v, const pointer& p) {
            std::string s;
            string(s)(v, p);
            if (s.empty()) return;
            auto colon = s.rfind(':');
            std::string host = colon == std::string::npos ? "" : s.substr(0, colon);
            if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
            char* end = nullptr;
            long port = colon == std::string::npos ? -1 : std::strtol(s.c_str() + colon + 1, &end, 10);
            if (host.empty() || port < 0 || port > 65535 || (end && *end != '\0') || colon + 1 == s.size())
                return error(p, "'" + path_of(p) + "': \"" + s + "\" is not host:port (e.g. \"127.0.0.1:8080\")");
            out = listen_address{host, static_cast<std::uint16_t>(port)};
        };
    }
    // A list of reverse proxies' own addresses (no names, ports or prefixes).
    setter trusted_proxies(std::vector<ip_address>& out) {
        return [this, &out](const json& v, const pointer& p) {
            const std::string key = path_of(p);
            if (!v.is_array())
                return error(p, "'" + key + "' must be an array of the reverse proxies' IP addresses, e.g. [\"127.0.0.1\", \"::1\"], found " +
                                    type_name(v));
            for (std::size_t i = 0; i < v.size(); ++i) {
                if (!v[i].is_string()) {
                    error(p / i, "'" + key + "' items must be IP addresses as strings, such as \"127.0.0.1\", found " + type_name(v[i]));
                    continue;
                }
                const std::string& s = v[i].get_ref<const std::string&>();
                const auto a = parse_ip_address(s);
                if (!a) {
                    const bool prefix = s.find('/') != std::string::npos;
                    error(p / i, "'" + key + "': \"" + s + "\" is not an IP address; list each proxy's own address, such as \"127.0.0.1\" or \"::1\" (" +
                                     (prefix ? "not a range" : "no host names, ports or brackets") + ")");
                } else if (a->is_unspecified()) {
                    error(p / i, "'" + key + "': \"" + s + "\" is no machine's address; list the address the proxy connects from, such as \"127.0.0.1\"");
                } else if (std::find(out.begin(), out.end(), *a) == out.end()) {
                    out.push_back(*a);
                }
            }
        };
    }
    // "HH:MM" (24-hour clock) as minutes after midnight.
    setter time_of_day(int& out) {
        return [this, &out](const json& v, const pointer& p) {
            const std::string s = v.is_string() ? v.get<std::string>() : "";
            bool ok = s.size() == 5 && s[2] == ':' && std::isdigit(static_cast<unsigned char>(s[0])) && std::isdigit(static_cast<unsigned char>(s[1])) &&
                      std::isdigit(static_cast<unsigned char>(s[3])) && std::isdigit(static_cast<unsigned char>(s[4]));
            int h = ok ? (s[0] - '0') * 10 + (s[1] - '0') : 0, m = ok ? (s[3] - '0') * 10 + (s[4] - '0') : 0;
            if (!ok || h > 23 || m > 59) return error(p, "'" + path_of(p) + "' must be a time of day \"HH:MM\" such as \"21:00\", found " + (v.is_string() ? "\"" + s + "\"" : type_name(v)));
            out = h * 60 + m;
        };
    }
    setter boolean(bool& out) {
        return [this, &out](const json& v, const pointer& p) {
            if (!v.is_boolean()) return error(p, "'" + path_of(p) + "' must be true or false, found " + type_name(v));
            out = v.get<bool>();
        };
    }
    setter integer(int& out, int min, int max) {
        return [this, &out, min, max](const json& v, const pointer& p) {
            if (!v.is_number_integer()) return error(p, "'" + path_of(p) + "' must be an integer, found " + type_name(v));
            auto n = v.get<std::int64_t>();
            if (n < min || n > max) return error(p, "'" + path_of(p) + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
            out = static_cast<int>(n);
        };
    }
    setter size(std::size_t& out, std::size_t min, std::size_t max) {
        return [this, &out, min, max](const json& v, const pointer& p) {
            if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
                return error(p, "'" + path_of(p) + "' must be a positive integer, found " + (v.is_number_integer() ? "a negative one" : type_name(v)));
            auto n = v.get<std::uint64_t>();
            if (n < min || n > max) return error(p, "'" + path_of(p) + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
            out = static_cast<std::size_t>(n);
        };
    }

    std::filesystem::path resolve(const std::string& s) const {
        std::filesystem::path p(s);
        if (p.is_relative()) p = cfg_.file.parent_path() / p;
        return p.lexically_normal();
    }

    static std::string path_of(const pointer& p) {
        std::string s = p.to_string();
        for (auto& c : s) if (c == '/') c = '.';
        return s.empty() ? s : s.substr(1);
    }
    static std::string type_name(const json& v) {
        if (v.is_number_integer()) return "an integer";
        if (v.is_number()) return "a number";
        if (v.is_string()) return "a string";
        if (v.is_boolean()) return "a boolean";
        if (v.is_array()) return "an array";
        if (v.is_object()) return "an object";
        return "null";
    }

private:
    const rules::jsonc_document& doc_;
    config& cfg_;
};

// A DNS name as a browser sends it in Host: letters, digits, '-' and '.'.
bool host_name(const std::string& s) {
    if (s.size() > 253 || s.front() == '.' || s.back() == '.' || s.find("..") != std::string::npos) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; });
}

// A Partner Center service id as it stands in the authorization link's
// query: letters, digits, '-' and '_' (a pasted link is refused, not parsed).
bool service_id_text(const std::string& s) {
    return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

bool valid_locale(const std::string& s) {
    if (s.size() < 2 || s.size() > 8) return false;
    for (char c : s) if (!((c >= 'a' && c <= 'z') || c == '-' || (c >= 'A' && c <= 'Z'))) return false;
    return true;
}

// Validates a parsed config file (load_config and parse_config).
config_result validate(std::variant<rules::jsonc_document, rules::diagnostic> parsed, const std::filesystem::path& file) {
    config_result out;
    if (auto* d = std::get_if<rules::diagnostic>(&parsed)) {
        out.diagnostics.push_back(*d);
        return out;
    }
    const auto& doc = std::get<rules::jsonc_document>(parsed);
    config cfg;
    cfg.file = std::filesystem::absolute(file);
    validator v(doc, cfg);
    const json& root = doc.root();
    pointer top;

    std::optional<listen_address> admin_listen;
    std::string log_level = cfg.log_level;
    v.section(root, top, {
        {"tiktok", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"api_base", v.api_url(cfg.tiktok.api_base)},
                {"auth_base", v.api_url(cfg.tiktok.auth_base)},
                {"authorize_base", v.api_url(cfg.tiktok.authorize_base)},
                {"service_id", [&](const json& x, const pointer& q) {
                    v.string(cfg.tiktok.service_id)(x, q);
                    if (!cfg.tiktok.service_id.empty() && !service_id_text(cfg.tiktok.service_id)) {
                        v.error(q, "'tiktok.service_id': \"" + cfg.tiktok.service_id +
                                       "\" is not a service id; give the id alone: the value after service_id= in the app's authorization "
                                       "link, shown under the app's name in Partner Center (App & Service)");
                        cfg.tiktok.service_id.clear();
                    }
                }},
                {"app_key", v.string(cfg.tiktok.app_key)},
                {"app_secret_file", v.secret(cfg.tiktok.app_secret_file)},
                {"shop_cipher", v.string(cfg.tiktok.shop_cipher)},
                {"shop_id", v.string(cfg.tiktok.shop_id)},
                // 0 s would time every call out; a call still unanswered after
                // minutes is hung, and holds its lane that long.
                {"timeout", v.duration(cfg.tiktok.timeout, std::chrono::seconds(1), std::chrono::minutes(5))},
                {"ca_file", v.path(cfg.tiktok.ca_file)},
                {"rate_limit_qps", v.integer(cfg.tiktok.rate_limit_qps, 0, 10000)},
            });
        }},
        {"webhook", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"listen", v.listen(cfg.webhook.listen)},
                {"path", v.string(cfg.webhook.path)},
                {"max_body", v.size(cfg.webhook.max_body, 1024, 16 * 1024 * 1024)},
                // 0 s would drop every webhook whose body comes a moment after its
                // header; a long one lets slow clients hold connections.
                {"read_timeout", v.duration(cfg.webhook.read_timeout, std::chrono::seconds(1), std::chrono::minutes(5))},
                {"trusted_proxies", v.trusted_proxies(cfg.webhook.trusted_proxies)},
            });
        }},
        {"storage", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"path", v.path(cfg.storage.path)},
                {"vault_key_file", v.secret(cfg.storage.vault_key_file)},
            });
        }},
        {"rules", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"dir", v.path(cfg.rules.dir)},
                {"default_locale", [&](const json& x, const pointer& q) {
                    v.string(cfg.rules.default_locale)(x, q);
                    if (!valid_locale(cfg.rules.default_locale)) v.error(q, "'rules.default_locale' must be a locale such as \"ja\" or \"en\"");
                }},
            });
        }},
        {"admin", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"socket", v.path(cfg.admin.socket)},
                {"listen", [&](const json& x, const pointer& q) {
                    listen_address a;
                    v.listen(a)(x, q);
                    admin_listen = a;
                }},
                {"token_file", v.secret(cfg.admin.token_file)},
                {"open_metrics", v.boolean(cfg.admin.open_metrics)},
                {"trusted_proxies", v.trusted_proxies(cfg.admin.trusted_proxies)},
                {"console_host", [&](const json& x, const pointer& q) {
                    v.string(cfg.admin.console_host)(x, q);
                    if (!cfg.admin.console_host.empty() && !host_name(cfg.admin.console_host))
                        v.error(q, "'admin.console_host' must be the host name the HTTPS proxy serves the console as, such as "
                                   "\"console.shop.example\": no scheme, port or path");
                }},
                {"operators", [&](const json& x, const pointer& q) {
                    if (!x.is_array()) return v.error(q, "'admin.operators' must be an array of Unix user names and \"@group\" names");
                    for (std::size_t i = 0; i < x.size(); ++i) {
                        if (!x[i].is_string() || x[i].get_ref<const std::string&>().empty() || x[i].get_ref<const std::string&>() == "@")
                            return v.error(q / i, "'admin.operators' items must be user names or \"@group\" names");
                        cfg.admin.operators.push_back(x[i].get<std::string>());
                    }
                }},
            });
        }},
        {"timezone", [&](const json& j, const pointer& p) {
            v.string(cfg.timezone)(j, p);
            if (!cfg.timezone.empty() && !known_time_zone(cfg.timezone))
                v.error(p, "'timezone': unknown time zone \"" + cfg.timezone + "\"; expected an IANA name such as \"Asia/Tokyo\"");
        }},
        {"poll", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                // The backstop for lost webhooks: a day at the most.
                {"interval", v.duration(cfg.poll.interval, std::chrono::seconds(1), std::chrono::hours(24))},
                {"overlap", v.duration(cfg.poll.overlap, std::chrono::seconds(0), std::chrono::hours(24 * 7))},
                {"enabled", v.boolean(cfg.poll.enabled)},
                {"start", [&](const json& x, const pointer& q) {
                    v.string(cfg.poll.start)(x, q);
                    if (cfg.poll.start == "now") return;
                    cfg.poll.start_at = rules::parse_rfc3339(cfg.poll.start);
                    if (!cfg.poll.start_at) v.error(q, "'poll.start' must be \"now\" or an RFC 3339 time such as \"2026-11-01T00:00:00+09:00\", found \"" + cfg.poll.start + "\"");
                }},
            });
        }},
        {"tracking", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"feed_dir", v.path(cfg.tracking.feed_dir)},
                {"scan_interval", v.duration(cfg.tracking.scan_interval, std::chrono::seconds(1), std::chrono::hours(24))},
                {"carriers", [&](const json& x, const pointer& q) {
                    if (!x.is_object()) return v.error(q, "'tracking.carriers' must be an object of carrier name -> TikTok shipping provider name or id, e.g. {\"ヤマト運輸\": \"Yamato Transport\"}");
                    for (const auto& [name, target] : x.items()) {
                        if (!target.is_string() || target.get_ref<const std::string&>().empty() || name.empty())
                            v.error(q / name, "'tracking.carriers." + name + "' must be a non-empty shipping provider name or id");
                        else
                            cfg.tracking.carriers.emplace_back(name, target.get<std::string>());
                    }
                }},
            });
        }},
        {"executor", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"event_retry_max", v.duration(cfg.executor.event_retry_max, std::chrono::seconds(0), std::chrono::hours(24))},
                {"send_retry_max", v.duration(cfg.executor.send_retry_max, std::chrono::seconds(0), std::chrono::hours(24))},
                {"max_send_attempts", v.integer(cfg.executor.max_send_attempts, 1, 100)},
                {"give_up_after", v.duration(cfg.executor.give_up_after, std::chrono::seconds(1), std::chrono::hours(24 * 30))},
            });
        }},
        {"guards", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"messages_per_order_per_day", v.integer(cfg.guards.messages_per_order_per_day, 1, 1000)},
                {"messages_per_buyer_per_day", v.integer(cfg.guards.messages_per_buyer_per_day, 1, 1000)},
                {"quiet_hours", [&](const json& x, const pointer& q) {
                    int from = -1, to = -1;
                    v.section(x, q, {{"from", v.time_of_day(from)}, {"to", v.time_of_day(to)}});
                    if (!x.is_object()) return;
                    // A present but invalid time is already reported where it stands.
                    if ((from < 0 && !x.contains("from")) || (to < 0 && !x.contains("to")))
                        return v.error(q, "'guards.quiet_hours' needs 'from' and 'to', e.g. {\"from\": \"21:00\", \"to\": \"09:00\"}");
                    if (from < 0 || to < 0) return;
                    if (from == to) return v.error(q, "'guards.quiet_hours': 'from' and 'to' are the same time");
                    cfg.guards.quiet_hours = std::pair{from, to};
                }},
            });
        }},
        {"breaker", [&](const json& j, const pointer& p) {
            v.section(j, p, {
                {"max_sends", v.integer(cfg.breaker.max_sends, 1, 1000000)},
                {"interval", v.duration(cfg.breaker.interval, std::chrono::seconds(10), std::chrono::hours(24 * 7))},
            });
        }},
        {"retention", [&](const json& j, const pointer& p) {
            v.section(j, p, {{"personal_data", v.duration(cfg.retention.personal_data, std::chrono::hours(24))},
                             // TikTok redelivers for about a day and a poll looks back minutes: a month is far past both.
                             {"keys", v.duration(cfg.retention.keys, std::chrono::hours(24 * 30))},
                             {"reviews", v.duration(cfg.retention.reviews, std::chrono::hours(24))},
                             {"audit", v.duration(cfg.retention.audit, std::chrono::hours(24))},
                             {"interval", v.duration(cfg.retention.interval, std::chrono::seconds(1), std::chrono::hours(24))}});
        }},
        {"customer_service", [&](const json& j, const pointer& p) {
            int quota = static_cast<int>(cfg.customer_service.daily_quota), reserve = static_cast<int>(cfg.customer_service.reply_reserve);
            v.section(j, p, {{"daily_quota", v.integer(quota, 1, 1000000)},
                             {"reply_reserve", v.integer(reserve, 0, 1000000)},
                             {"warn_percent", v.integer(cfg.customer_service.warn_percent, 1, 100)}});
            cfg.customer_service.daily_quota = quota;
            cfg.customer_service.reply_reserve = reserve;
            if (j.is_object() && reserve >= quota)
                v.error(p / "reply_reserve", "'customer_service.reply_reserve' (" + std::to_string(reserve) +
                                                 ") must be below 'customer_service.daily_quota' (" + std::to_string(quota) +
                                                 "), or nothing but replies would ever go out");
        }},
        {"privacy", [&](const json& j, const pointer& p) {
            v.section(j, p, {{"suppress_forgotten", v.boolean(cfg.privacy.suppress_forgotten)}});
        }},
        {"notify", [&](const json& j, const pointer& p) {
            v.section(j, p, {
              {"digest_interval", v.duration(cfg.digest_interval, std::chrono::seconds(0), std::chrono::hours(24))},
              {"heartbeat", [&](const json& x, const pointer& q) {
                  if (x.is_string() && x.get<std::string>() == "off") { cfg.heartbeat_at.reset(); return; }
                  int at = -1;
                  v.time_of_day(at)(x, q);
                  if (at >= 0) cfg.heartbeat_at = at;
                  else v.error(q, "'notify.heartbeat' may also be \"off\"");
              }},
              {"channels", [&](const json& chans, const pointer& cp) {
                if (!chans.is_object()) return v.error(cp, "'notify.channels' must be an object of channels by name");
                for (auto& [name, c] : chans.items()) {
                    config::channel ch;
                    ch.name = name;
                    pointer at = cp / name;
                    v.section(c, at, {
                        {"type", [&](const json& x, const pointer& q) {
                            v.string(ch.type)(x, q);
                            if (!ch.type.empty() && ch.type != "slack" && ch.type != "webhook" && ch.type != "command")
                                v.error(q, "'" + validator::path_of(q) + "' must be one of: slack, webhook, command");
                        }},
                        {"url", [&](const json& x, const pointer& q) {
                            v.string(ch.url)(x, q);
                            if (!ch.url.empty() && ch.url.rfind("http://", 0) != 0 && ch.url.rfind("https://", 0) != 0)
                                v.error(q, "'" + validator::path_of(q) + "' must be an http(s) URL");
                        }},
                        {"secret_file", v.secret(ch.secret_file)},
                        {"command", [&](const json& x, const pointer& q) {
                            if (!x.is_array() || x.empty()) return v.error(q, "'" + validator::path_of(q) + "' must be a non-empty array: the program and its arguments");
                            for (std::size_t i = 0; i < x.size(); ++i) {
                                if (!x[i].is_string()) return v.error(q / i, "'" + validator::path_of(q) + "' items must be strings");
                                ch.command.push_back(x[i].get<std::string>());
                            }
                            // The program: a path with a slash, relative ones
                            // against the config's folder like every path here;
                            // a bare name is looked up in PATH.
                            if (ch.command[0].find('/') != std::string::npos) ch.command[0] = v.resolve(ch.command[0]).string();
                        }},
                        {"min_severity", [&](const json& x, const pointer& q) {
                            v.string(ch.min_severity)(x, q);
                            if (ch.min_severity != "info" && ch.min_severity != "warning" && ch.min_severity != "critical")
                                v.error(q, "'" + validator::path_of(q) + "' must be one of: info, warning, critical");
                        }},
                        {"heartbeat", v.boolean(ch.heartbeat)},
                    });
                    if (!c.is_object()) continue;
                    if (ch.type.empty()) v.error(at, "channel '" + name + "' needs a 'type' (slack, webhook or command)");
                    else if (ch.type != "command" && ch.url.empty()) v.error(at, "channel '" + name + "' needs a 'url'");
                    else if (ch.type == "command" && ch.command.empty()) v.error(at, "channel '" + name + "' needs a 'command'");
                    else if (ch.type == "webhook" && ch.secret_file.empty()) v.error(at, "channel '" + name + "' needs a 'secret_file' for its HMAC signature");
                    cfg.channels.push_back(std::move(ch));
                }
              }},
            });
        }},
        {"log", [&](const json& j, const pointer& p) {
            v.section(j, p, {{"level", [&](const json& x, const pointer& q) {
                v.string(log_level)(x, q);
                if (log_level != "debug" && log_level != "info" && log_level != "warn" && log_level != "error")
                    v.error(q, "'log.level' must be one of: debug, info, warn, error");
            }}});
        }},
    });
    cfg.admin.listen = admin_listen;
    // The admin socket defaults to the database's folder, which only the
    // service's user and group can enter (StateDirectoryMode=0750).
    if (cfg.admin.socket.empty() && !cfg.storage.path.empty()) cfg.admin.socket = cfg.storage.path.parent_path() / "admin.sock";
    if (cfg.admin.socket.native().size() > 107) {
        const bool set = root.contains("admin") && root["admin"].is_object() && root["admin"].contains("socket");
        v.error(set ? pointer("/admin/socket") : pointer("/storage/path"),
                set ? "'admin.socket' is longer than a Unix socket path may be (107 bytes): " + cfg.admin.socket.string()
                    : "the default admin socket next to 'storage.path', " + cfg.admin.socket.string() +
                          ", would be longer than a Unix socket path may be (107 bytes); set 'admin.socket' to a shorter path");
    }
    cfg.log_level = log_level;

    // Required keys, reported at the object that lacks them.
    auto require = [&](bool /*set*/, const char* section, const char* key) {
        // Present but invalid is already reported where it stands.
        if (root.contains(section) && root[section].is_object() && root[section].contains(key)) return;
        pointer p = root.contains(section) ? pointer("/" + std::string(section)) : pointer();
        v.error(p, std::string("missing required key '") + section + "." + key + "'");
    };
    if (root.is_object()) {
        require(!cfg.tiktok.app_key.empty(), "tiktok", "app_key");
        require(!cfg.tiktok.app_secret_file.empty(), "tiktok", "app_secret_file");
        require(!cfg.tiktok.shop_cipher.empty(), "tiktok", "shop_cipher");
        require(!cfg.storage.path.empty(), "storage", "path");
        require(!cfg.storage.vault_key_file.empty(), "storage", "vault_key_file");
        require(!cfg.rules.dir.empty(), "rules", "dir");
        if (root.contains("admin") && admin_listen && cfg.admin.token_file.empty())
            v.error(pointer("/admin"), "'admin.listen' needs 'admin.token_file' (a bearer token for the TCP admin listener)");
        if (cfg.admin.open_metrics && (!admin_listen || !is_loopback_host(admin_listen->host)))
            v.error(pointer("/admin/open_metrics"),
                    "'admin.open_metrics' serves /metrics and the health checks without a token, which is only allowed when "
                    "'admin.listen' is a loopback address (127.0.0.1, ::1 or localhost); put a token-checking proxy in front otherwise");
    }
    if (!cfg.webhook.path.empty() && cfg.webhook.path.front() != '/')
        v.error(pointer("/webhook/path"), "'webhook.path' must start with '/'");

    out.diagnostics = std::move(v.diagnostics);
    std::stable_sort(out.diagnostics.begin(), out.diagnostics.end(), [](const auto& a, const auto& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    bool errors = false;
    for (auto& d : out.diagnostics) errors = errors || !d.warning;
    if (!errors) out.value = std::move(cfg);
    return out;
}

}  // namespace

config_result load_config(const std::filesystem::path& file) { return validate(rules::read_jsonc_file(file), file); }

config_result parse_config(std::string_view text, const std::filesystem::path& file) {
    return validate(rules::parse_jsonc(text, file.string()), file);
}

orderflow::secret read_secret_file(const std::filesystem::path& file, std::string_view config_key) {
    return read_secret_file(secret_path(file, std::string(config_key)));
}

orderflow::secret read_secret_file(const secret_path& file) {
    constexpr std::size_t max_bytes = 64 * 1024;   // a secret is a line; a bigger file is the wrong file
    const std::string& key = file.config_key;
    std::string advice;
    if (file.credential.empty())
        advice = "put the secret in it (mode 0600), or point " + key + " at the file that holds it";
    else if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir)
        advice = "load it in the unit with LoadCredential=" + file.credential + ":FILE (systemd/orderflow.service)";
    else
        advice = "put the secret in it (mode 0600); \"credential:" + file.credential +
                 "\" is that file when $CREDENTIALS_DIRECTORY is not set, and the unit loads it with LoadCredential=" +
                 file.credential + ":" + file.string();
    orderflow::secret raw = storage::read_secret_bytes(file, key, advice, max_bytes);
    const std::string& value = raw.reveal();
    if (value.size() == max_bytes)
        throw std::runtime_error(key + ": secret file " + file.string() + " is larger than 64 KiB, which no secret is; point " + key +
                                 " at the file that holds the secret");
    std::size_t length = value.size();
    while (length > 0 && (value[length - 1] == '\n' || value[length - 1] == '\r' || value[length - 1] == ' ' || value[length - 1] == '\t'))
        --length;
    std::string trimmed(value, 0, length);
    orderflow::secret out(std::move(trimmed));
    // A short value lives inside the string object (SSO) and a move copies
    // it: overwrite what the moved-from one may hold. `raw` wipes itself.
    trimmed.assign(trimmed.capacity(), '\0');
    return out;
}

}  // namespace orderflow::daemon
