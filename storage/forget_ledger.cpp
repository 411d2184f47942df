// See forget_ledger.hpp.
#include "storage/forget_ledger.hpp"

#include "storage/detail/pseudonyms.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace orderflow::storage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

storage_error ledger_error(const fs::path& file, std::string_view doing, int err) {
    return storage_error(0, "the forget ledger " + file.string() + ": " + std::string(doing) + ": " + std::strerror(err) +
                                "; it lives beside storage.path and must be writable by the user orderflowd runs as");
}

std::string line_of(const forget_record& r) {
    return json{{"seq", r.seq}, {"at", r.at}, {"suppress", r.suppress}, {"subjects", r.subjects}}.dump() + "\n";
}

void write_all(int fd, const std::string& text, const fs::path& file) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ledger_error(file, "writing", errno);
        done += static_cast<std::size_t>(n);
    }
}

void sync_folder(const fs::path& file) {
    const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// Appends and rewrites hold an exclusive lock on the ledger's folder, so
// an append and a prune at once (orderflowctl and the daemon's retention
// pass, say) cannot lose a record to the rewrite. The folder, not the file:
// a rewrite renames a new file over the one another writer may hold open.
// A forget appends inside its transaction, so the wait is bounded: past
// 5 s the holder is taken to be stuck and the append throws ledger_locked,
// on which the forget erases nothing and says to run it again.
class folder_lock {
public:
    explicit folder_lock(const fs::path& file) {
        const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
        fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_ < 0) throw ledger_error(file, "opening its folder", errno);
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            if (err == EINTR) continue;
            if (err == EWOULDBLOCK && std::chrono::steady_clock::now() < give_up) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            ::close(fd_);
            if (err == EWOULDBLOCK)
                throw ledger_locked(0, "the forget ledger " + file.string() +
                                           ": locking its folder: another process has held the lock for 5 s; another "
                                           "orderflowctl buyer forget may be stuck: let it finish or stop it, then run this again");
            throw ledger_error(file, "locking its folder", err);
        }
    }
    ~folder_lock() { ::close(fd_); }   // closing releases the lock
    folder_lock(const folder_lock&) = delete;
    folder_lock& operator=(const folder_lock&) = delete;

private:
    int fd_ = -1;
};

// The whole ledger written anew: a temporary file, synced, renamed over it.
// Its first line keeps the highest number given so far, so that numbers go
// on rising when the records that bore them are gone.
void rewrite(const fs::path& file, const std::vector<forget_record>& records, std::int64_t last_seq) {
    const fs::path tmp = file.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw ledger_error(tmp, "creating", errno);
    try {
        std::string text = json{{"last_seq", last_seq}}.dump() + "\n";
        for (const auto& r : records) text += line_of(r);
        write_all(fd, text, tmp);
        if (::fsync(fd) != 0) throw ledger_error(tmp, "syncing", errno);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw ledger_error(file, "replacing", err);
    }
    sync_folder(file);
}

// The ids a database holds in the clear, each as the subject it would be
// recorded under ("buyer:ID" and so on, not yet hashed).
std::vector<std::pair<std::string, std::string>> ids_held(database& db) {
    static constexpr std::pair<std::string_view, std::string_view> queries[] = {
        {"buyer", "SELECT DISTINCT json_extract(snapshot, '$.user_id') FROM orders WHERE json_valid(snapshot)"},
        {"buyer", "SELECT DISTINCT buyer_user_id FROM outbox WHERE buyer_user_id != ''"},
        {"buyer", "SELECT DISTINCT buyer_user_id FROM conversations"},
        {"order", "SELECT order_id FROM orders"},
        {"order", "SELECT DISTINCT order_id FROM inbox WHERE order_id != ''"},
        {"order", "SELECT DISTINCT order_id FROM outbox WHERE order_id != ''"},
        {"order", "SELECT DISTINCT order_id FROM review WHERE order_id != ''"},
        {"order", "SELECT DISTINCT order_id FROM order_tags"},
        {"order", "SELECT DISTINCT order_id FROM order_attributes"},
        {"order", "SELECT DISTINCT order_id FROM conversation_cards"},
        {"order", "SELECT DISTINCT order_id FROM audit_log WHERE order_id != '' AND order_id NOT LIKE 'hash:%'"},
        {"conversation", "SELECT conversation_id FROM conversations"},
        {"conversation", "SELECT DISTINCT conversation_id FROM conversation_cards"},
        {"conversation", "SELECT DISTINCT substr(case_key, 14) FROM review WHERE case_key LIKE 'conversation:%'"},
        // A conversation only a payload names (the linker had not yet
        // learned its buyer): a message event waiting, a reply planned.
        {"conversation", "SELECT DISTINCT json_extract(payload, '$.conversation_id') FROM outbox "
                         "WHERE instr(payload, 'conversation_id') AND json_valid(payload)"},
        {"conversation", "SELECT DISTINCT json_extract(payload, '$.data.conversation_id') FROM inbox "
                         "WHERE payload != '{}' AND instr(payload, 'conversation_id') AND json_valid(payload)"},
    };
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& [kind, sql] : queries) {
        auto st = db.prepare(sql);
        while (st.step()) {
            if (st.is_null(0)) continue;
            std::string id = st.text(0);
            if (!id.empty()) seen.emplace(std::string(kind), std::move(id));
        }
    }
    return {seen.begin(), seen.end()};
}

}  // namespace

fs::path forget_ledger_path(const fs::path& database_file) { return database_file.string() + ".forgets"; }

std::vector<std::string> forget_subjects(std::span<const unsigned char> key, const buyer_subject& who) {
    std::vector<std::string> out;
    if (!who.buyer_user_id.empty()) out.push_back(forget_hash(key, "buyer:" + who.buyer_user_id));
    for (const auto& o : who.order_ids) out.push_back(forget_hash(key, "order:" + o));
    for (const auto& c : who.conversation_ids) out.push_back(forget_hash(key, "conversation:" + c));
    return out;
}

ledger_contents read_forget_ledger(const fs::path& file) {
    ledger_contents out;
    std::error_code ec;
    const auto status = fs::symlink_status(file, ec);
    if (status.type() == fs::file_type::not_found) return out;
    if (!ec && status.type() != fs::file_type::regular)
        throw storage_error(0, "the forget ledger " + file.string() + " is not a file (a folder or a link is in its place)");
    std::ifstream in(file);
    if (!in) throw ledger_error(file, "opening", errno ? errno : EACCES);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const json j = json::parse(line, nullptr, false);
        if (j.is_object() && j.size() == 1 && j.contains("last_seq") && j["last_seq"].is_number_integer()) {
            out.numbered_up_to = std::max(out.numbered_up_to, j["last_seq"].get<std::int64_t>());
            continue;
        }
        if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_integer() || !j.contains("subjects") ||
            !j["subjects"].is_array()) {
            ++out.unreadable_lines;
            continue;
        }
        forget_record r;
        r.seq = j["seq"].get<std::int64_t>();
        r.at = j.value("at", std::int64_t{0});
        r.suppress = j.value("suppress", false);
        for (const auto& s : j["subjects"])
            if (s.is_string()) r.subjects.push_back(s.get<std::string>());
        out.records.push_back(std::move(r));
    }
    if (in.bad()) throw ledger_error(file, "reading", errno ? errno : EIO);
    std::stable_sort(out.records.begin(), out.records.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    return out;
}

namespace {

// prune_forget_ledger on what was read of `file`; `now` becomes what is left.
int prune(const fs::path& file, ledger_contents& now, std::int64_t drop_before) {
    const auto before = now.records.size();
    const std::int64_t last = now.last_seq();
    std::erase_if(now.records, [&](const forget_record& r) { return !r.suppress && r.at < drop_before; });
    const int dropped = static_cast<int>(before - now.records.size());
    if (dropped == 0 && now.unreadable_lines == 0) return 0;
    rewrite(file, now.records, last);
    now.numbered_up_to = last;
    now.unreadable_lines = 0;
    return dropped;
}

}  // namespace

int prune_forget_ledger(const fs::path& file, std::int64_t drop_before) {
    const folder_lock lock(file);
    ledger_contents now = read_forget_ledger(file);
    return prune(file, now, drop_before);
}

std::int64_t append_forget_record(const fs::path& file, std::int64_t at, bool suppress, const std::vector<std::string>& subjects,
                                  std::int64_t at_least, std::int64_t drop_before) {
    const folder_lock lock(file);
    ledger_contents now = read_forget_ledger(file);
    if (drop_before > 0) prune(file, now, drop_before);
    const forget_record r{std::max(now.last_seq(), at_least) + 1, at, suppress, subjects};
    std::error_code ec;
    const bool existed = fs::exists(file, ec);
    const int fd = ::open(file.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw ledger_error(file, "opening", errno);
    try {
        // A line a crash cut short of its newline would run into this one.
        std::string text = line_of(r);
        if (const off_t size = ::lseek(fd, 0, SEEK_END); size > 0) {
            char last = '\n';
            if (::pread(fd, &last, 1, size - 1) == 1 && last != '\n') text.insert(text.begin(), '\n');
        }
        write_all(fd, text, file);
        if (::fdatasync(fd) != 0) throw ledger_error(file, "syncing", errno);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    if (!existed) sync_folder(file);
    return r.seq;
}

reapplied_forgets reapply_forgets(database& db, std::span<const unsigned char> key, std::span<const forget_record> records,
                                  std::int64_t now, std::string_view by, const std::function<void(std::int64_t)>& applied) {
    reapplied_forgets out;
    if (records.empty()) return out;
    // Every id held, hashed once, by subject.
    std::unordered_map<std::string, buyer_lookup> held;
    for (auto& [kind, id] : ids_held(db)) {
        buyer_lookup lookup;
        (kind == "buyer" ? lookup.buyer_user_id : kind == "order" ? lookup.order_id : lookup.conversation_id) = id;
        held.emplace(forget_hash(key, kind + ":" + id), std::move(lookup));
    }
    for (const auto& record : records) {
        // One buyer per record: what each of its ids leads to, together, and
        // the pseudonyms the purge leaves of them in audit entries. The
        // buyer's own id comes first in a record and leads to the rest, so
        // an id already reached is not followed again.
        buyer_subject who;
        bool found = false;
        for (const auto& subject : record.subjects) {
            who.hashed_ids.insert(std::string(detail::pseudonym_prefix) + subject);
            auto it = held.find(subject);
            if (it == held.end()) continue;
            found = true;
            const buyer_lookup& by_id = it->second;
            if ((!by_id.order_id.empty() && who.order_ids.contains(by_id.order_id)) ||
                (!by_id.conversation_id.empty() && who.conversation_ids.contains(by_id.conversation_id)) ||
                (!by_id.buyer_user_id.empty() && who.buyer_user_id == by_id.buyer_user_id))
                continue;
            buyer_subject part = find_buyer(db, by_id, key);
            if (who.buyer_user_id.empty()) who.buyer_user_id = part.buyer_user_id;
            who.order_ids.merge(part.order_ids);
            who.conversation_ids.merge(part.conversation_ids);
            who.action_ids.merge(part.action_ids);
            who.event_ids.merge(part.event_ids);
            who.review_ids.merge(part.review_ids);
            who.hashed_ids.merge(part.hashed_ids);
        }
        try {
            if (found || !audit_rows_about(db, who).empty()) {
                const forget_counts n = forget_buyer(db, who, key, record.suppress, now, by, {in_flight::give_up, record.at, {}, "orderflowd"});
                out.erased += n;
                out.suppressed += n.suppressed;
                if (found) ++out.found;
            }
        } catch (const forget_refused& e) {
            out.refused = e.what();
            return out;
        }
        // Every record's subjects, the buyer held here or not: a change
        // from before the forget that the poll reads again since this
        // copy's cursors is set aside (storage/buyer_data.hpp,
        // forget_mark_of), and with `suppress` every later one too.
        db.transaction([&] {
            for (const auto& s : record.subjects) out.suppressed += note_forgotten(db, s, record.at, record.suppress);
        });
        ++out.records;
        out.through = record.seq;
        if (applied) applied(record.seq);
    }
    return out;
}

}  // namespace orderflow::storage
