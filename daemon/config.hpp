// The daemon's configuration: one JSON file with comments (README.md,
// "Configuration"). Loading validates every key and type, resolves relative
// paths against the config file's folder, and names secret files (`*_file`
// keys; "credential:NAME" is $CREDENTIALS_DIRECTORY/NAME under systemd's
// LoadCredential=, and `secrets/NAME` next to the config file when that
// variable is not set, as from a shell: the file the shipped unit loads the
// credential from). Errors are rules::diagnostic values with
// file:line:column, all of them at once, so `orderflowctl check` and a
// reload report exactly what is wrong. Loading reads no secret: commands that
// need none work for users who may not read them.
#pragma once

#include "common/secret.hpp"
#include "daemon/ingress/forwarded_for.hpp"
#include "rules/diagnostic.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderflow::daemon {

// A secret file's path with the config key that named it, so that every
// message about the file names both (read_secret_file). It is a path, so code
// that only needs the file uses it as one.
struct secret_path : std::filesystem::path {
    secret_path() = default;
    secret_path(std::filesystem::path file, std::string key, std::string credential_name = {})
        : std::filesystem::path(std::move(file)), config_key(std::move(key)), credential(std::move(credential_name)) {}
    std::string config_key;   // e.g. "tiktok.app_secret_file"
    std::string credential;   // NAME of a "credential:NAME" value, else empty
};

struct listen_address {
    std::string host;
    std::uint16_t port = 0;
};

struct config {
    std::filesystem::path file;   // the file it was loaded from

    struct {
        std::string api_base = "https://open-api.tiktokglobalshop.com";
        std::string auth_base = "https://auth.tiktok-shops.com";
        // Where the seller authorizes the app (`orderflowctl auth url`):
        // authorize_base + "/open/authorize?service_id=...", the link Partner
        // Center gives. The host is TikTok's outside the US; US shops set the
        // host of their Partner Center link (docs/tiktok-shop-api.md §3).
        std::string authorize_base = "https://services.tiktokshop.com";
        std::string service_id;                       // the app's service id in Partner Center; empty: the legacy link
        std::string app_key;
        secret_path app_secret_file;
        std::string shop_cipher;
        std::string shop_id;                          // optional: webhooks for another shop are ignored
        std::chrono::milliseconds timeout{10000};
        std::filesystem::path ca_file;                // optional: extra CA bundle (tests, private sandboxes)
        int rate_limit_qps = 50;                      // per API and shop (docs/tiktok-shop-api.md §4); 0: no client-side limit
    } tiktok;

    struct {
        listen_address listen{"127.0.0.1", 8080};
        std::string path = "/webhooks/tiktok";
        std::size_t max_body = 256 * 1024;
        std::chrono::milliseconds read_timeout{5000};
        // Reverse proxies whose X-Forwarded-For names the client
        // (daemon/ingress/forwarded_for.hpp); empty: the header is never read.
        // The listener reads it on its own thread: it changes with a restart.
        std::vector<ip_address> trusted_proxies;
    } webhook;

    struct {
        std::filesystem::path path;
        secret_path vault_key_file;
    } storage;

    struct {
        std::filesystem::path dir;
        std::string default_locale = "ja";
    } rules;

    struct {
        std::filesystem::path socket;
        std::optional<listen_address> listen;
        secret_path token_file;
        // GET /metrics, /healthz and /readyz without the bearer token; only
        // allowed when admin.listen is a loopback address.
        bool open_metrics = false;
        // Who may run the operator commands over the admin socket (resume,
        // reload, auth, buyer, audit): Unix user names, and "@group" for the
        // members of a group. Empty: everyone who can reach the socket.
        // Everyone else is staff: review, metrics, order tag, notify test.
        std::vector<std::string> operators;
        // The host name an HTTPS reverse proxy serves the staff console as
        // ("console.shop.example"). A console request that came through the
        // proxy (X-Forwarded-Proto: https) is answered only with this Host;
        // empty: only an address or localhost, as without a proxy
        // (daemon/admin/console.cpp, host_ok).
        std::string console_host;
        // As webhook.trusted_proxies, for admin.listen (the console, the
        // tracking feed, /metrics); read per request, so it applies at a reload.
        std::vector<ip_address> trusted_proxies;
    } admin;

    std::string timezone = "Asia/Tokyo";

    struct {
        std::chrono::seconds interval{300};
        std::chrono::seconds overlap{600};
        std::string start = "now";
        std::optional<std::int64_t> start_at;         // unix seconds of an RFC 3339 `start`; nullopt for "now"
        bool enabled = true;
    } poll;

    struct {
        std::filesystem::path feed_dir;                // CSV drop folder; empty: none
        std::chrono::seconds scan_interval{10};
        // Warehouse carrier name -> TikTok shipping provider name or id
        // (Get Shipping Providers); names are also matched directly.
        std::vector<std::pair<std::string, std::string>> carriers;
    } tracking;

    struct {
        std::chrono::seconds event_retry_max{600};    // cap of the backoff for events that could not be enriched
        std::chrono::seconds send_retry_max{600};     // cap of the backoff for retryable send failures
        int max_send_attempts = 8;                     // then the action is failed
        std::chrono::seconds give_up_after{24 * 3600}; // retryable failures stop this long after planning; then review
    } executor;

    // Checked by the executor just before each send (docs/architecture.md,
    // "Effects").
    struct {
        int messages_per_order_per_day = 5;            // automated messages to one order in 24 h; more are skipped for review
        int messages_per_buyer_per_day = 10;           // the same for one buyer across orders
        std::optional<std::pair<int, int>> quiet_hours;   // minutes after local midnight [from, to); sends wait for `to`
    } guards;

    // Circuit breaker: more planned messages than max_sends within `interval`
    // (a rule gone wrong) pauses all sending until `orderflowctl resume`.
    struct {
        int max_sends = 200;
        std::chrono::seconds interval{600};
    } breaker;

    // Personal data (payloads, snapshots, rendered texts, evidence) of finished
    // rows is purged this long after their last change; keys are kept.
    // Whole rows go later, each table after its own period (docs/privacy.md):
    // finished events and settled actions with their keys after `keys`
    // (long past any redelivery or poll that could bring the change back),
    // resolved review items after `reviews`, audit entries after `audit`.
    // The purge runs every `interval`.
    struct {
        std::chrono::seconds personal_data{90 * 86400};
        std::chrono::seconds keys{180 * 86400};
        std::chrono::seconds reviews{365 * 86400};
        std::chrono::seconds audit{730 * 86400};
        std::chrono::seconds interval{3600};
        // How long the forget ledger keeps a forget's record (one without
        // suppression): until a copy restored from a backup that old has
        // had its personal data, keys and audit entries purged anyway
        // (docs/privacy.md, "Erasure").
        std::chrono::seconds forget_records() const { return std::max({personal_data, keys, audit}); }
    } retention;

    // A buyer's data erased at their request (orderflowctl buyer forget):
    // with suppress_forgotten, a keyed hash of their ids is kept and later
    // events about them are set aside unread; without it (the default), a
    // later order from them is handled like anyone's (docs/privacy.md).
    struct {
        bool suppress_forgotten = false;
    } privacy;

    // TikTok's customer-service quota (docs/tiktok-shop-api.md §4; counted
    // per UTC day, daemon/cs_quota.hpp): when no more than reply_reserve calls
    // are left, only replies to buyers go out; proactive messages and
    // conversation polling wait for 00:00 UTC. warn_percent: a warning review
    // item once the day's count reaches that share.
    struct {
        std::int64_t daily_quota = 10000;
        std::int64_t reply_reserve = 1000;
        int warn_percent = 80;
    } customer_service;

    std::string log_level = "info";

    // Staff notification channels, by name. A review item goes to every channel
    // whose min_severity it reaches.
    struct channel {
        std::string name;
        std::string type;                         // "slack" (Slack/Mattermost/Rocket.Chat incoming webhook), "webhook" (JSON, HMAC-signed), "command"
        std::string url;                          // slack, webhook
        secret_path secret_file;                  // webhook: HMAC-SHA256 key, sent as X-Orderflow-Signature
        std::vector<std::string> command;         // command: argv; the notification is JSON on stdin
        std::string min_severity = "warning";     // info | warning | critical
        bool heartbeat = true;                    // gets the daily heartbeat
    };
    std::vector<channel> channels;
    std::chrono::seconds digest_interval{300};    // review alerts to one channel: at most one message per interval, the rest as a digest
    std::optional<int> heartbeat_at = 9 * 60;     // minutes after local midnight; nullopt: "off"
};

struct config_result {
    std::optional<config> value;
    std::vector<rules::diagnostic> diagnostics;   // errors (and warnings) with file:line:column
    bool ok() const { return value.has_value(); }
};

// Reads and validates the file. Never throws: an unreadable file is a diagnostic too.
config_result load_config(const std::filesystem::path& file);

// Validates `text` as the contents of `file` (whose folder relative paths
// resolve against): what load_config does once the file is read. Never throws.
config_result parse_config(std::string_view text, const std::filesystem::path& file);

// Reads a secret file under the rule for every secret file
// (storage::read_secret_bytes), trailing whitespace dropped. Throws
// std::runtime_error naming the config key and the file (never the content)
// and saying what to do when the file does not exist, cannot be read, is not
// a regular file, is readable or writable by group or others, is empty or is
// larger than 64 KiB. orderflowd and `orderflowctl check` both read secrets
// with it (and the vault key with storage::read_vault_key), so check refuses
// exactly what the daemon refuses, with the same message.
orderflow::secret read_secret_file(const secret_path& file);
orderflow::secret read_secret_file(const std::filesystem::path& file, std::string_view config_key);

}  // namespace orderflow::daemon
