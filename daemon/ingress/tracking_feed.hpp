// The warehouse's tracking feed: POST /v1/tracking on the TCP admin listener
// (admin/http_admin.hpp checks the bearer token and hands it here), and CSV
// files dropped into tracking.feed_dir (created when missing). Each submission becomes one
// tracking.received inbox event; the same submission twice is one event.
//
// Drop-folder files are read and parsed on a background thread and their
// rows committed in chunks of 500, the event loop serving webhooks between
// them. Symbolic links and anything but a regular file are never opened
// (O_NOFOLLOW), and files over 10 MiB are refused: both go to rejected/
// with a review item. A processed file moves to processed/, with a
// .errors.txt naming each bad line (docs/operations.md, "The tracking feed").
#pragma once

#include "common/secret.hpp"
#include "daemon/context.hpp"
#include "daemon/detail/wakeup.hpp"
#include "daemon/tracking.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace orderflow::tikapi {
struct http_request;
struct http_response;
}

namespace orderflow::daemon {

class inbox_writer;
class review_desk;
class rules_in_force;
class supervisor;

class tracking_feed {
public:
    // The largest CSV file the drop folder takes: a day's shipments are a few
    // thousand rows, well under a megabyte.
    static constexpr std::uintmax_t max_file_bytes = 10 * 1024 * 1024;
    // Rows committed per transaction.
    static constexpr std::size_t rows_per_commit = 500;

    // background: where files are read and parsed. on_new_events: wakes the pipeline.
    tracking_feed(context ctx, const rules_in_force& in_force, inbox_writer& writer, review_desk& desk, supervisor& sup,
                  boost::asio::any_io_executor background, std::function<void()> on_new_events);
    ~tracking_feed();

    boost::asio::awaitable<void> loop();   // supervised as "tracking_feed"
    void stop();
    // The key tracking events are named with (storage/idempotency.hpp).
    void set_hash_key(orderflow::secret key) { hash_key_ = std::move(key); }

    // One authorized request for /v1/tracking from the admin listener.
    boost::asio::awaitable<tikapi::http_response> handle(tikapi::http_request& req);
    // One pass over the drop folder (public for tests). At most once an hour
    // it also deletes what processed/ and rejected/ hold from before the
    // retention period of personal data (order ids, tracking numbers).
    boost::asio::awaitable<void> scan();

    // Why the drop folder cannot be used ("" while it can): it is missing
    // and cannot be created, or is not a folder. scan() creates a missing
    // folder, and logs tracking_feed_unavailable once when it cannot and
    // tracking_feed_available once it can again; /readyz shows this.
    const std::string& unavailable() const { return unavailable_; }

    // What the background thread makes of one file.
    struct file_read {
        std::string refused;      // why the file is not taken at all ("" when it is)
        bool unreadable = false;  // a read error: left in place, tried again
        csv_result parsed;
    };
    // Opens (never following a link), checks and parses one file. No storage: runs on any thread.
    static file_read read_file(const std::filesystem::path& file);

private:
    // The key for tracking_event; the first call checks that the start
    // converted the stored keys (storage::require_keyed).
    std::span<const unsigned char> hash_key();
    bool folder_ready(const std::filesystem::path& dir);
    boost::asio::awaitable<void> process(const std::filesystem::path& file);
    std::filesystem::path move_aside(const std::filesystem::path& file, const char* sub, const std::vector<std::string>& report);
    void prune_set_aside(const std::filesystem::path& dir);

    context ctx_;
    const rules_in_force& in_force_;
    inbox_writer& writer_;
    review_desk& desk_;
    supervisor& sup_;
    boost::asio::any_io_executor background_;
    std::function<void()> on_new_events_;
    orderflow::secret hash_key_;
    bool keyed_checked_ = false;     // storage::require_keyed passed once (hash_key())
    detail::wakeup wake_;
    bool stopping_ = false;
    std::int64_t last_pruned_ = 0;   // ctx_.clock() of the last prune_set_aside
    std::string unavailable_;        // see unavailable()
};

}  // namespace orderflow::daemon
