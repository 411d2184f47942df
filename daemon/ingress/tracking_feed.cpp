// See tracking_feed.hpp.
#include "daemon/ingress/tracking_feed.hpp"

#include "common/json_limits.hpp"
#include "common/log.hpp"
#include "daemon/data_rights.hpp"
#include "daemon/ingress/inbox_writer.hpp"
#include "daemon/review_desk.hpp"
#include "daemon/rules_in_force.hpp"
#include "daemon/supervisor.hpp"
#include "daemon/telemetry.hpp"
#include "storage/idempotency.hpp"
#include "tikapi/http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace orderflow::daemon {

namespace asio = boost::asio;
using json = nlohmann::json;
using tikapi::http_request;
using tikapi::http_response;

tracking_feed::tracking_feed(context ctx, const rules_in_force& in_force, inbox_writer& writer, review_desk& desk, supervisor& sup,
                             asio::any_io_executor background, std::function<void()> on_new_events)
    : ctx_(std::move(ctx)),
      in_force_(in_force),
      writer_(writer),
      desk_(desk),
      sup_(sup),
      background_(std::move(background)),
      on_new_events_(std::move(on_new_events)),
      wake_(ctx_.ex) {}

tracking_feed::~tracking_feed() = default;

void tracking_feed::stop() {
    stopping_ = true;
    wake_.notify();
}

std::span<const unsigned char> tracking_feed::hash_key() {
    if (!keyed_checked_ && !hash_key_.empty()) {
        storage::require_keyed(ctx_.db, "the tracking feed");
        keyed_checked_ = true;
    }
    return key_bytes(hash_key_);
}

asio::awaitable<http_response> tracking_feed::handle(http_request& req) {
    if (req.path() != "/v1/tracking")
        co_return http_response::json(404, json{{"error", "no such endpoint; the tracking feed is POST /v1/tracking"}}.dump());
    if (req.method != "POST") co_return http_response::json(405, json{{"error", "use POST"}}.dump());
    auto parsed = parse_tracking_request(req.body);
    if (auto* why = std::get_if<std::string>(&parsed)) {
        log::warn("tracking_rejected", {{"remote", req.remote}, {"error", *why}});
        telemetry::count("orderflow_tracking_submissions_total", {{"result", "invalid"}}).add();
        co_return http_response::json(400, json{{"error", *why}}.dump());
    }
    const auto& submission = std::get<tracking_submission>(parsed);
    auto event = tracking_event(submission, "api", ctx_.clock(), hash_key());
    json fields{{"order_id", submission.order_id}, {"package_id", submission.package_id}, {"carrier", submission.carrier},
                {"via", "api"}};
    const write_outcome outcome = co_await writer_.enqueue(std::move(event));
    if (outcome == write_outcome::unavailable) {
        telemetry::count("orderflow_tracking_submissions_total", {{"result", "unavailable"}}).add();
        co_return http_response::json(503, json{{"error", "storage unavailable; retry later"}}.dump());
    }
    const bool fresh = outcome == write_outcome::inserted;
    telemetry::count("orderflow_tracking_submissions_total", {{"result", fresh ? "accepted" : "duplicate"}}).add();
    log::info(fresh ? "tracking_received" : "tracking_duplicate", std::move(fields));
    if (fresh) on_new_events_();
    co_return http_response::json(fresh ? 202 : 200, json{{"accepted", true}, {"duplicate", !fresh}}.dump());
}

// One pass over the drop folder: every *.csv file whose writer is done
// (unchanged for 2 s) is read and parsed off the event loop, its good
// rows committed as events in chunks, then the file is moved to
// processed/ with a .errors.txt beside it naming each bad line, and
// staff are told. Symbolic links and anything but a regular file are
// never opened; they, and files over the size limit, go to rejected/.
asio::awaitable<void> tracking_feed::scan() {
    namespace fs = std::filesystem;
    const fs::path dir = in_force_.cfg().tracking.feed_dir;
    std::error_code ec;
    if (dir.empty() || !folder_ready(dir)) co_return;
    if (ctx_.clock() - last_pruned_ >= 3600) {
        last_pruned_ = ctx_.clock();
        prune_set_aside(dir);
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() != ".csv") continue;
        if (entry.is_symlink(ec) || (!entry.is_regular_file(ec) && !entry.is_directory(ec))) {
            files.push_back(entry.path());   // refused when its turn comes
            continue;
        }
        if (!entry.is_regular_file(ec)) continue;
        auto age = fs::file_time_type::clock::now() - entry.last_write_time(ec);
        if (!ec && age >= std::chrono::seconds(2)) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        if (stopping_) break;
        sup_.beat("tracking_feed");
        co_await process(file);
    }
}

// The drop folder, created when missing. A change between usable and not
// is logged once, not at every scan.
bool tracking_feed::folder_ready(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::string problem;
    bool taken = false;   // something that is not a folder in its place
    if (!fs::is_directory(dir, ec)) {
        if (fs::exists(fs::symlink_status(dir, ec)) && !fs::is_directory(dir, ec)) {
            problem = dir.string() + " is not a folder";
            taken = true;
        } else if (fs::create_directories(dir, ec); ec) {
            problem = dir.string() + " does not exist and cannot be created: " + ec.message();
        } else {
            log::info("tracking_feed_dir_created", {{"dir", dir.string()}});
        }
    }
    if (problem == unavailable_) return problem.empty();
    if (!problem.empty())
        log::error("tracking_feed_unavailable",
                   {{"dir", dir.string()}, {"error", problem},
                    {"advice", std::string("CSV files are not read until it is a folder: ") +
                                   (taken ? "move what is there out of the way and create the folder (mkdir " : "create it (mkdir -p ") +
                                   dir.string() + ", writable by the service's user; it is tried again at every scan) or correct "
                                   "tracking.feed_dir and restart"}});
    else
        log::info("tracking_feed_available", {{"dir", dir.string()}});
    unavailable_ = std::move(problem);
    return unavailable_.empty();
}

// Runs on a background thread: no storage, no loop state.
tracking_feed::file_read tracking_feed::read_file(const std::filesystem::path& file) {
    file_read out;
    // O_NOFOLLOW: a link planted in the folder (to /etc/shadow, say) is
    // never opened; O_NONBLOCK: a FIFO cannot hang the reader.
    int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP) out.refused = "it is a symbolic link; put the file itself in the folder";
        else out.unreadable = true;
        return out;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        out.refused = "it is not a regular file";
        return out;
    }
    if (static_cast<std::uintmax_t>(st.st_size) > max_file_bytes) {
        ::close(fd);
        out.refused = "it is " + std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_file_bytes) +
                      " bytes; split it into smaller files";
        return out;
    }
    std::string text;
    text.reserve(static_cast<std::size_t>(st.st_size));
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.unreadable = true;
            break;
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > max_file_bytes) {   // grew while being read
            out.refused = "it grew over the limit of " + std::to_string(max_file_bytes) + " bytes while being read";
            break;
        }
    }
    ::close(fd);
    if (out.refused.empty() && !out.unreadable) out.parsed = parse_tracking_csv(text);
    return out;
}

// Moves a file into dir/sub/, beside a .errors.txt naming its problems. Returns the new path.
std::filesystem::path tracking_feed::move_aside(const std::filesystem::path& file, const char* sub, const std::vector<std::string>& report) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path done_dir = file.parent_path() / sub;
    fs::create_directories(done_dir, ec);
    fs::path target = done_dir / file.filename();
    if (fs::exists(fs::symlink_status(target, ec))) target = done_dir / (file.stem().string() + "." + std::to_string(ctx_.clock()) + file.extension().string());
    fs::rename(file, target, ec);
    if (ec) log::error("tracking_file_not_moved", {{"file", file.string()}, {"error", ec.message()}});
    // Its age for the retention of what is set aside (prune_set_aside)
    // counts from now: a file copied in with an old time kept (cp -p,
    // rsync -t) must not go at the next prune.
    else fs::last_write_time(target, fs::file_time_type::clock::now(), ec);
    if (!report.empty()) {
        // It quotes the file's rows: created readable by the service's user only.
        std::string text;
        for (const auto& line : report) text += line + "\n";
        const std::string errors = target.string() + ".errors.txt";
        const int fd = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        bool written = fd >= 0;
        for (std::size_t at = 0; written && at < text.size();) {
            const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
            if (n < 0 && errno == EINTR) continue;
            written = n > 0;
            if (written) at += static_cast<std::size_t>(n);
        }
        if (fd >= 0) ::close(fd);
        if (!written) log::error("tracking_report_not_written", {{"file", errors}, {"error", std::strerror(errno)}});
    }
    return target;
}

// The files read (processed/) or refused (rejected/) hold order ids and
// tracking numbers, which the database keeps only for the retention period
// (docs/privacy.md): a file goes once it is that old, counted from when it
// was set aside (move_aside sets its time), with its .errors.txt report.
void tracking_feed::prune_set_aside(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    const auto keep = in_force_.cfg().retention.personal_data;
    const auto cutoff = fs::file_time_type::clock::now() - keep;
    int removed = 0;
    for (const char* sub : {"processed", "rejected"}) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir / sub, ec)) {
            std::error_code e2;
            if (!entry.is_regular_file(e2) || entry.is_symlink(e2)) continue;
            const auto written = entry.last_write_time(e2);
            if (e2 || written >= cutoff) continue;
            if (fs::remove(entry.path(), e2)) ++removed;
            else if (e2) log::warn("tracking_file_not_removed", {{"file", entry.path().string()}, {"error", e2.message()}});
        }
    }
    if (removed > 0)
        log::info("tracking_files_purged", {{"files", removed}, {"older_than_days", keep.count() / 86400},
                                            {"why", "read or refused tracking files are kept for retention.personal_data"}});
}

asio::awaitable<void> tracking_feed::process(const std::filesystem::path& file) {
    const std::filesystem::path path = file;
    auto read = [path]() -> asio::awaitable<file_read> { co_return read_file(path); };
    file_read got = co_await asio::co_spawn(background_, read, asio::use_awaitable);
    const std::string name = file.filename().string();
    if (got.unreadable) {
        log::error("tracking_file_unreadable", {{"file", file.string()}, {"advice", "check the file's permissions"}});
        co_return;
    }
    if (!got.refused.empty()) {
        ctx_.db.transaction([&] {
            desk_.raise("", "tracking_file_refused", "warning", name + " was not read: " + got.refused, {{"file", name}, {"why", got.refused}});
        });
        const auto target = move_aside(file, "rejected", {name + ": " + got.refused});
        log::warn("tracking_file_refused", {{"file", name}, {"why", got.refused}, {"moved_to", target.string()}});
        co_return;
    }
    const auto& parsed = got.parsed;
    // Committed in chunks, the loop serving webhooks between them. A
    // crash part-way reads the file again; the rows already in are
    // duplicates of their events and add nothing.
    int added = 0;
    for (std::size_t at = 0; at < parsed.rows.size(); at += rows_per_commit) {
        const std::size_t end = std::min(parsed.rows.size(), at + rows_per_commit);
        try {
            ctx_.db.transaction([&] {
                for (std::size_t i = at; i < end; ++i)
                    if (ctx_.store.add_event(tracking_event(parsed.rows[i].submission, "csv", ctx_.clock(), hash_key()))) ++added;
            });
        } catch (const std::exception& e) {
            log::error("tracking_file_failed", {{"file", file.string()}, {"error", e.what()}, {"rows_committed", at},
                                                {"advice", "the file stays in place and is read again on the next scan"}});
            if (added > 0) on_new_events_();
            co_return;
        }
        sup_.beat("tracking_feed");
        co_await asio::post(ctx_.ex, asio::use_awaitable);
    }
    std::vector<std::string> report;
    for (const auto& p : parsed.problems) report.push_back(name + ":" + std::to_string(p.line) + ": " + p.why);
    if (!parsed.problems.empty()) {
        try {
            ctx_.db.transaction([&] {
                std::string summary = name + ": " + std::to_string(parsed.problems.size()) + " bad row(s), first line " +
                                      std::to_string(parsed.problems.front().line) + ": " + parsed.problems.front().why;
                json lines = json::array();
                for (const auto& p : parsed.problems) lines.push_back({{"line", p.line}, {"error", p.why}});
                desk_.raise("", "tracking_feed_bad_rows", "warning", summary, {{"file", name}, {"problems", lines}});
            });
        } catch (const std::exception& e) {
            log::error("tracking_file_failed", {{"file", file.string()}, {"error", e.what()},
                                                {"advice", "the file stays in place and is read again on the next scan"}});
            co_return;
        }
    }
    // Committed: the file moves aside.
    const auto target = move_aside(file, "processed", report);
    for (const auto& p : parsed.problems)
        log::warn("tracking_bad_row", {{"file", name}, {"line", p.line}, {"error", p.why}});
    log::info("tracking_file_processed", {{"file", name}, {"rows", parsed.rows.size()}, {"new_events", added},
                                          {"bad_rows", parsed.problems.size()}, {"moved_to", target.string()}});
    if (added > 0) on_new_events_();
}

asio::awaitable<void> tracking_feed::loop() {
    while (!stopping_) {
        sup_.beat("tracking_feed", in_force_.cfg().tracking.scan_interval);
        try {
            co_await scan();
        } catch (const std::exception& e) {
            log::error("tracking_scan_failed", {{"error", e.what()}});
        }
        co_await wake_.wait(in_force_.cfg().tracking.scan_interval);
    }
}

}  // namespace orderflow::daemon
