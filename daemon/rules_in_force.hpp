// The rules and settings in force, and the one reload function that
// replaces them (SIGHUP and `orderflowctl reload` both come here).
//
// A reload reads the config file and the rules directory it names into a
// new candidate on a background thread (a large file never stalls the event
// loop), validates all of it, and swaps on the loop only when everything is
// valid; otherwise the old set stays, the log says why with file:line, staff
// get a `reload_failed` review item and status shows the failure
// (docs/architecture.md, "Reload"). Settings that cannot change without a
// restart (listen addresses, storage, TikTok credentials, ...) are named
// in the log and the reply when they differ; everything else applies at once.
//
// Components keep a reference to cfg(): the object stays, its reloadable
// fields are replaced in place, on the loop's thread, between passes.
// In-flight work holds the shared_ptr it took from rules() and finishes on
// the set it started with.
#pragma once

#include "common/secret.hpp"
#include "daemon/config.hpp"
#include "daemon/context.hpp"
#include "rules/ruleset.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orderflow::daemon {

class review_desk;

// Reads the secret of every webhook channel (its HMAC key), by channel name.
// Throws std::runtime_error naming the file, like read_secret_file.
std::map<std::string, orderflow::secret> read_channel_secrets(const config& cfg);

// Loads the rules directory the config names; throws std::runtime_error
// saying to run `orderflowctl check` when it is not valid (start-up).
std::shared_ptr<const rules::ruleset> load_rules_or_throw(const config& cfg);

class rules_in_force {
public:
    rules_in_force(context ctx, config cfg, std::shared_ptr<const rules::ruleset> rules,
                   std::map<std::string, orderflow::secret> channel_secrets);

    const config& cfg() const { return cfg_; }
    std::shared_ptr<const rules::ruleset> rules() const { return rules_; }
    // A webhook channel's HMAC key; nullptr when the channel has none.
    const orderflow::secret* channel_secret(const std::string& channel) const;
    // The app secret the daemon runs with: the webhook check and the API
    // client keep theirs from the start, so a reload reads the file again
    // and, when its contents differ, names tiktok.app_secret_file among the
    // settings that need a restart (and fails when the file cannot be read).
    void running_with_app_secret(const orderflow::secret& app_secret) { app_secret_ = app_secret.clone(); }

    // A failed reload lists its errors in the reply to `orderflowctl reload`,
    // in the log, in the review item and for status: all of them, up to
    // this many (`orderflowctl check` prints every one). A rules folder
    // gone wrong wholesale (a thousand rules with the same mistake) then
    // costs the log a bounded number of lines at every reload, not one per
    // error.
    static constexpr std::size_t errors_listed = 50;

    struct reload_outcome {
        bool ok = false;
        std::vector<std::string> errors;           // file:line:column: error: ..., the first errors_listed
        std::vector<std::string> needs_restart;    // config keys that changed but apply only after a restart
        std::size_t error_count = 0;               // all the errors, listed or not (0: as many as listed)
        std::size_t warning_count = 0;             // all the warnings; the first errors_listed are logged
        // The errors not in `errors`.
        std::size_t not_listed() const { return error_count > errors.size() ? error_count - errors.size() : 0; }
        std::size_t total() const { return errors.size() + not_listed(); }
    };
    // The whole reload: RELOADING=1, read on `background`, validate, swap or
    // keep (review item on failure), record for status, READY=1. One at a
    // time; a second waits for the first.
    boost::asio::awaitable<reload_outcome> reload(boost::asio::any_io_executor background, review_desk& desk);

    // What status shows of the rules in force and the last reload
    // (daemon_state "rules": last_reload.errors, the first errors_listed,
    // and last_reload.error_count, all of them); `how`: "start" or "reload".
    void record(const char* how, bool ok, const std::vector<std::string>& errors, std::size_t error_count = 0);

    // The candidate a reload reads (public for tests).
    struct candidate {
        config_result cfg;
        std::optional<rules::load_result> rules;
        std::map<std::string, orderflow::secret> channel_secrets;
        std::string secret_error;   // a channel secret could not be read
        std::optional<orderflow::secret> app_secret;   // tiktok.app_secret_file's contents
        std::string app_secret_error;                  // why it could not be read
    };
    static candidate read_candidate(const std::filesystem::path& file);
    // Swaps when the candidate is valid (on the loop's thread).
    reload_outcome adopt(candidate& next);

private:
    context ctx_;
    config cfg_;
    std::shared_ptr<const rules::ruleset> rules_;
    std::map<std::string, orderflow::secret> channel_secrets_;
    std::optional<orderflow::secret> app_secret_;
    bool reloading_ = false;
};

// Applies config.timezone to the process (quiet hours, the heartbeat).
void apply_timezone(const std::string& tz);

}  // namespace orderflow::daemon
