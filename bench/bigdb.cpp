// bigdb: the storage layer with a million orders stored.
//
// Generates a database the way a busy shop's would look after months of work
// (through storage::database, so the real migrations make the schema), then
// times, on a freshly opened connection as orderflowctl has, the store calls
// behind `orderflowctl status` and `orderflowctl review list`, a page of 50
// new inbox events plus the pipeline's pending_events read, the daily
// heartbeat's activity query and an hourly retention purge with nothing to
// purge. Each is reported as a ratio against the same measurement on a small
// database (1,000 orders) made in the same run, so the numbers say how much
// slower a million orders make them, whatever the machine's load.
//
// The daemon's own footprint (RSS) and the real binaries' wall time are
// measured by bench/bigdb.sh against the files this leaves in --dir.
//
// Generation only: no journal, synchronous=OFF and a large page cache on the
// generating connection, one transaction per 10,000 orders. Measurements open the file
// again with database::open, which sets the pragmas the daemon runs with.
#include "storage/database.hpp"
#include "storage/retention.hpp"
#include "storage/store.hpp"
#include "storage/vault.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;
using namespace orderflow::storage;

namespace {

using clock_type = std::chrono::steady_clock;

// splitmix64: seeded, so every run generates the same shop.
struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
};

constexpr std::int64_t day = 86400;

const char* const statuses[] = {"AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"};
const char* const family_names[] = {"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"};
const char* const given_names[] = {"花子", "太郎", "美咲", "翔太", "陽菜", "蓮", "結衣", "大翔", "さくら", "悠真"};
const char* const products[] = {
    "名入れ 真鍮キーホルダー 刻印 記念日 ギフト ラッピング無料",
    "オーダーメイド 表札 ステンレス 戸建て 二世帯 おしゃれ 北欧",
    "印鑑 実印 銀行印 黒水牛 12mm 15mm ケース付き 送料無料",
    "ペアリング シルバー925 刻印無料 サイズ調整 結婚記念日",
    "スマホケース 名入れ iPhone15 手帳型 レザー 本革 父の日",
    "名入れ ボールペン 高級 木軸 卒業記念 入学祝い 就職祝い",
    "名入れ マグカップ 北欧 陶器 誕生日 プレゼント 母の日",
};
const char* const tags[] = {"vip", "gift", "engraving", "repeat", "rush"};

std::string json_string(std::string_view s) { return "\"" + std::string(s) + "\""; }

// An order view with the shape of daemon/events.cpp's order_view, ~1-2 KB.
std::string order_snapshot(const std::string& id, const std::string& status, const std::string& buyer, const std::string& name,
                           std::int64_t created, std::int64_t updated, int items, rng& r) {
    const bool noted = r.below(2) == 0;
    std::string s = "{\"buyer_message\":" + json_string(r.below(4) == 0 ? "刻印は「Happy Anniversary 2024.05.12」でお願いします" : "") +
                    ",\"buyer_name\":" + json_string(name) + ",\"create_time\":" + std::to_string(created) +
                    ",\"currency\":\"JPY\",\"delivery_option_name\":\"Standard shipping\",\"id\":" + json_string(id) +
                    ",\"is_on_hold\":false,\"item_count\":" + std::to_string(items) + ",\"line_items\":[";
    std::string counts;
    int total = 0;
    for (int i = 0; i < items; ++i) {
        const int p = r.below(7);
        const int price = 1980 + 500 * r.below(10);
        total += price;
        const std::string sku = "SKU-" + std::to_string(100 + p) + "-" + std::to_string(r.below(5));
        if (i > 0) s += ",";
        s += "{\"id\":\"" + std::to_string(577000000000000000ULL + r.next() % 1000000000000ULL) + "\",\"package_id\":\"" +
             std::to_string(1152000000000000000ULL + r.next() % 1000000000000ULL) + "\",\"product_id\":\"" +
             std::to_string(1729000000000000000ULL + static_cast<std::uint64_t>(p)) + "\",\"product_name\":" + json_string(products[p]) +
             ",\"sale_price\":\"" + std::to_string(price) + "\",\"seller_sku\":\"" + sku + "\",\"sku_id\":\"" +
             std::to_string(1729100000000000000ULL + static_cast<std::uint64_t>(p * 10)) + "\",\"sku_name\":\"ゴールド / 刻印あり\"}";
        counts += (counts.empty() ? "" : ",") + json_string(sku) + ":1";
    }
    s += "],\"paid_time\":" + std::to_string(created + 60) + ",\"seller_note\":" +
         json_string(noted ? "2024/05 リピーター様。前回の刻印: 「K & M 2019.10.01」書体: 筆記体。ギフト包装希望、納品書不要" : "") + ",\"shipping_provider\":" +
         json_string(status == "AWAITING_SHIPMENT" ? "" : "Yamato Transport") + ",\"shipping_type\":\"SELLER\",\"sku_counts\":{" + counts +
         "},\"status\":" + json_string(status) + ",\"tags\":[],\"total_amount\":\"" + std::to_string(total) +
         "\",\"tracking_number\":" + json_string(status == "AWAITING_SHIPMENT" ? "" : std::to_string(400000000000ULL + r.next() % 100000000000ULL)) +
         ",\"update_time\":" + std::to_string(updated) + ",\"user_id\":" + json_string(buyer) + "}";
    return s;
}

std::string webhook_payload(const std::string& notification, const std::string& order_id, const std::string& status, std::int64_t at) {
    return "{\"type\":1,\"tts_notification_id\":\"" + notification + "\",\"shop_id\":\"7494049642642441621\",\"timestamp\":" +
           std::to_string(at) + ",\"data\":{\"order_id\":\"" + order_id + "\",\"order_status\":\"" + status +
           "\",\"is_on_hold_order\":false,\"update_time\":" + std::to_string(at) + "}}";
}

struct generated {
    std::int64_t orders = 0, events = 0, actions = 0, reviews_open = 0;
};

// Fills `file` (created by database::open: the real schema) with `orders`
// orders ending at `now`. with_context: store each event's rule context as
// the pipeline does for `orderflowctl replay` (the order before and after:
// about 6 KB more per order, five times the file).
generated generate(const fs::path& file, std::int64_t orders, std::int64_t now, bool with_context) {
    auto db = database::open(file);
    // This connection only; measurements reopen the file, and database::open
    // sets WAL and synchronous=FULL again. No journal: half the writes.
    db.exec("PRAGMA journal_mode = OFF");
    db.exec("PRAGMA synchronous = OFF");
    db.exec("PRAGMA cache_size = -262144");  // 256 MB: random keys (dedupe, idem_key) in big indexes
    store s(db);
    rng r{42};
    generated g;
    auto ev = "INSERT INTO inbox (dedupe_key, source, topic, event, order_id, payload, received_at, state, note, finished_at, context) "
              "VALUES (?1, ?2, 1, 'order.status_changed', ?3, ?4, ?5, 'done', ?6, ?7, ?8)";
    auto ch = "INSERT INTO inbox_changes (change_key, inbox_id) VALUES (?1, ?2)";
    auto act = "INSERT INTO outbox (idem_key, rule_id, action_index, kind, order_id, event_id, payload, state, reason, attempts, "
               "created_at, updated_at, result, buyer_user_id) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    auto hist = "INSERT INTO outbox_history (action_id, at, state, reason, attempt) VALUES (?1, ?2, ?3, '', ?4)";
    const std::int64_t start = now - 85 * day;
    const std::int64_t span = 80 * day;
    const std::int64_t batch = 10000;
    for (std::int64_t first = 0; first < orders; first += batch) {
        db.transaction([&] {
            for (std::int64_t i = first; i < std::min(orders, first + batch); ++i) {
                const std::string id = std::to_string(576460000000000000LL + i * 7919);
                const std::string buyer = std::to_string(7494000000000000000ULL + static_cast<std::uint64_t>(r.below(static_cast<int>(orders / 3 + 1))));
                const std::string name = std::string(family_names[r.below(10)]) + " " + given_names[r.below(10)];
                const std::int64_t created = start + i * span / orders;
                const int items = 1 + r.below(4);
                const int steps = 2 + r.below(3);
                std::string previous;
                std::int64_t at = created;
                std::int64_t first_event = 0;
                std::string snapshot;
                for (int k = 0; k < steps; ++k) {
                    at = created + k * (day + r.below(static_cast<int>(day)));
                    // The order view after each step only when it is stored:
                    // the final one in orders, every one in contexts.
                    rng view_rng{r.s + static_cast<std::uint64_t>(i)};
                    if (with_context || k == steps - 1) snapshot = order_snapshot(id, statuses[k], buyer, name, created, at, items, view_rng);
                    const std::string notification = std::to_string(7300000000000000000ULL + r.next() % 100000000000000000ULL);
                    const bool poll = r.below(10) == 0;
                    const std::string context =
                        !with_context ? std::string()
                                      : "{\"event_data\":{\"order_id\":\"" + id + "\",\"order_status\":\"" + statuses[k] +
                                            "\",\"update_time\":" + std::to_string(at) + "},\"locale\":\"ja\",\"message\":null,\"now\":" +
                                            std::to_string(at + 1) + ",\"order\":" + snapshot + ",\"previous_order\":" +
                                            (previous.empty() ? "null" : previous) + ",\"utc_offset\":32400}";
                    auto st = db.prepare(ev);
                    st.bind(1, poll ? "poll:order:" + id + ":" + statuses[k] : "tts:" + notification)
                        .bind(2, poll ? "poll" : "webhook")
                        .bind(3, id)
                        .bind(4, webhook_payload(notification, id, statuses[k], at))
                        .bind(5, at)
                        .bind(6, k == 0 ? "matched: thanks" : k == 3 ? "matched: review_request" : "no rule matched")
                        .bind(7, at + 1)
                        .bind(8, context);
                    st.step();
                    const std::int64_t event_id = db.last_insert_rowid();
                    if (k == 0) first_event = event_id;
                    auto c = db.prepare(ch);
                    c.bind(1, "order:" + id + ":" + statuses[k]).bind(2, event_id);
                    c.step();
                    ++g.events;
                    previous = snapshot;
                }
                s.put_order({id, statuses[steps - 1], snapshot, at});

                // Actions: the thank-you message for every order, a review
                // request for delivered ones, a tag now and then. Mostly done.
                auto add_action = [&](const std::string& rule, const std::string& kind, std::int64_t event_id, std::int64_t when,
                                      const std::string& payload) {
                    const int roll = r.below(100);
                    const std::string state = roll < 2 ? "skipped" : roll < 3 ? "failed" : "done";
                    auto st = db.prepare(act);
                    st.bind(1, hash_key(rule + "|0|order:" + id))
                        .bind(2, rule)
                        .bind(3, kind)
                        .bind(4, id)
                        .bind(5, event_id)
                        .bind(6, payload)
                        .bind(7, state)
                        .bind(8, state == "skipped" ? "cap: 5 messages to this order today" : state == "failed" ? "api error 36009004" : "")
                        .bind(9, std::int64_t{state == "skipped" ? 0 : 1})
                        .bind(10, when)
                        .bind(11, when + 5)
                        .bind(12, state == "done" ? "{\"message_id\":\"" + std::to_string(r.next() % 10000000000000ULL) + "\"}" : "")
                        .bind(13, kind == "send_message" ? buyer : "");
                    st.step();
                    const std::int64_t action_id = db.last_insert_rowid();
                    // The insert trigger wrote the final state; the steps before it, as the executor leaves them.
                    for (const char* step : {"planned", "sending"}) {
                        if (state == "skipped" && std::string_view(step) == "sending") continue;
                        auto h = db.prepare(hist);
                        h.bind(1, action_id).bind(2, when).bind(3, step).bind(4, std::int64_t{std::string_view(step) == "sending"});
                        h.step();
                    }
                    if (state == "done") s.audit(when + 5, "orderflowd", kind, id, {{"action_id", action_id}, {"rule_id", rule}});
                    ++g.actions;
                };
                add_action("thanks", "send_message", first_event, created + 60,
                           "{\"buyer_user_id\":\"" + buyer + "\",\"text\":\"" + name +
                               "様、この度はご注文いただき誠にありがとうございます。刻印内容を確認のうえ、3営業日以内に発送いたします。"
                               "ご不明な点がございましたら、このメッセージにご返信ください。\"}");
                if (steps >= 4)
                    add_action("review_request", "send_message", first_event + 3, at + 60,
                               "{\"buyer_user_id\":\"" + buyer + "\",\"text\":\"" + name +
                                   "様、商品はお手元に届きましたでしょうか。よろしければレビューをお願いいたします。\"}");
                if (r.below(10) == 0) {
                    const char* tag = tags[r.below(5)];
                    add_action("tag_" + std::string(tag), "tag", first_event, created + 60, "{\"tag\":\"" + std::string(tag) + "\"}");
                    s.add_tag(id, tag, created + 60);
                }
                s.put_conversation(buyer, "conv-" + buyer, created + 60);

                // Review items: one order in 300 had one (most resolved since),
                // and the newest few hundred are still open.
                if (r.below(300) == 0 || i >= orders - 300) {
                    const auto review = s.raise_review(id, i >= orders - 300 ? "buyer_message" : "send_failed", "warning",
                                                       "刻印内容の確認が必要です（" + name + "様）", {{"message", "名前の綴りを変更できますか？"}},
                                                       at);
                    s.add_notification("staff", "review:" + std::to_string(review), review, {{"summary", "review " + std::to_string(review)}},
                                       at);
                    s.notification_sent(db.last_insert_rowid(), at + 10);
                    if (i < orders - 300) s.set_review_state(review, "resolved", "staff", "answered", at + day);
                    else ++g.reviews_open;
                }
                ++g.orders;
            }
        });
    }
    s.put_state("rules", R"({"in_force":{"count":12,"hash":"0123456789abcdef","since":0,"how":"start"}})", now);
    s.put_state("auth", R"({"state":"authorized","advice":"","since":0})", now);
    s.put_state("poll.orders", std::to_string(now), now);
    db.exec("PRAGMA journal_mode = WAL");
    return g;
}

// Median wall time in milliseconds of `rounds` runs of `f`.
double median_ms(int rounds, const std::function<void()>& f) {
    std::vector<double> ms;
    for (int i = 0; i < rounds; ++i) {
        auto t0 = clock_type::now();
        f();
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

struct measured {
    double status_ms = 0, review_list_ms = 0, review_list_all_ms = 0, insert_page_ms = 0, pending_read_ms = 0, claim_page_ms = 0,
           heartbeat_ms = 0, purge_ms = 0, old_counts_ms = 0;
    std::uintmax_t bytes = 0;
};

measured measure(const fs::path& file, std::int64_t now, int rounds) {
    measured m;
    std::error_code ec;
    m.bytes = fs::file_size(file) + (fs::exists(file.string() + "-wal") ? fs::file_size(file.string() + "-wal", ec) : 0);
    auto db = database::open(file);
    store s(db);
    std::size_t sink = 0;
    // cmd_status in daemon/ctl/status_commands.cpp, store calls in its order.
    m.status_ms = median_ms(rounds, [&] {
        auto c = s.counts();
        sink += vault::stored(db, "tiktok_tokens");
        for (const char* k : {"auth", "cs_calls", "poll.orders", "poll.messages"}) sink += s.get_state(k).has_value();
        sink += s.reviews(false, 1000).size() + c.size();
        for (const char* k : {"rules", "breaker"}) sink += s.get_state(k).has_value();
    });
    // review list: daemon/review_cli.cpp with the default --limit (20), and --all.
    m.review_list_ms = median_ms(rounds, [&] { sink += s.reviews(false, 20).size(); });
    m.review_list_all_ms = median_ms(rounds, [&] { sink += s.reviews(true, 20).size(); });
    // A page of 50 webhooks as the inbox writer stores them (one transaction),
    // then the pipeline's read and its claims of their changes (one
    // transaction, as the pipeline makes them before the page's orders are
    // fetched). Finished afterwards, untimed, so the pending set stays as
    // small as it is in a daemon that keeps up.
    static int page = 0;
    std::vector<double> insert_ms, read_ms, claim_ms;
    for (int round = 0; round < rounds; ++round, ++page) {
        auto t0 = clock_type::now();
        db.transaction([&] {
            for (int i = 0; i < 50; ++i) {
                new_event e;
                e.dedupe_key = "bench:" + std::to_string(now) + ":" + std::to_string(page) + ":" + std::to_string(i);
                e.source = "webhook";
                e.topic = 1;
                e.event = "order.status_changed";
                e.order_id = std::to_string(579000000000000000LL + now % 1000000 * 10000 + page * 50 + i);
                e.payload = webhook_payload(e.dedupe_key, e.order_id, "AWAITING_SHIPMENT", now);
                e.received_at = now;
                e.change_key = "order:" + e.order_id + ":AWAITING_SHIPMENT";
                sink += s.add_event(e);
            }
        });
        auto t1 = clock_type::now();
        auto pending = s.pending_events(now, 50);
        auto t2 = clock_type::now();
        db.transaction([&] {
            for (const auto& e : pending)
                if (!e.change_key.empty()) sink += s.claim_change(e.id, e.change_key) == e.id;
        }, database::durability::process_crash);
        auto t3 = clock_type::now();
        insert_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        read_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
        claim_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
        db.transaction([&] {
            for (const auto& e : pending) s.finish_event(e.id, "done", "no rule matched", now);
        });
    }
    std::sort(insert_ms.begin(), insert_ms.end());
    std::sort(read_ms.begin(), read_ms.end());
    std::sort(claim_ms.begin(), claim_ms.end());
    m.insert_page_ms = insert_ms[insert_ms.size() / 2];
    m.pending_read_ms = read_ms[read_ms.size() / 2];
    m.claim_page_ms = claim_ms[claim_ms.size() / 2];
    // The notifier's daily heartbeat and the hourly purge in its steady state
    // (everything older than 90 days purged already, so nothing to do).
    m.heartbeat_ms = median_ms(rounds, [&] { sink += static_cast<std::size_t>(s.activity_since(now - day).events_processed); });
    m.purge_ms = median_ms(3, [&] { sink += static_cast<std::size_t>(purge_personal_data(db, now - 90 * day).total()); });
    // What counts() ran before migration 10, for comparison: a full scan.
    m.old_counts_ms = median_ms(1, [&] {
        auto st = db.prepare(
            "SELECT CASE WHEN state = 'pending' AND source = 'timer' THEN 'timers' ELSE state END, count(*) FROM inbox GROUP BY 1");
        while (st.step()) sink += static_cast<std::size_t>(st.int64(1));
        auto ob = db.prepare("SELECT state, count(*) FROM outbox GROUP BY state");
        while (ob.step()) sink += static_cast<std::size_t>(ob.int64(1));
    });
    if (sink == 0) std::cerr << "(nothing read)\n";
    return m;
}

int usage() {
    std::cerr << "usage: bigdb [--dir DIR] [--orders N] [--baseline-orders N] [--rounds N] [--reuse] [--context]\n"
                 "  generates DIR/small.db and DIR/big.db (default /tmp/orderflow-bigdb, 1,000 and 1,000,000 orders),\n"
                 "  times the status, review list, inbox and housekeeping queries on both and prints the ratios.\n"
                 "  --context: also store each event's rule context for replay, as the pipeline does (5x the file).\n"
                 "  --reuse: measure the files already in DIR. The files are left for bench/bigdb.sh; remove DIR when done.\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    fs::path dir = "/tmp/orderflow-bigdb";
    std::int64_t orders = 1000000, baseline = 1000;
    int rounds = 21;
    bool reuse = false, with_context = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--dir") dir = value();
        else if (a == "--orders") orders = std::atoll(value().c_str());
        else if (a == "--baseline-orders") baseline = std::atoll(value().c_str());
        else if (a == "--rounds") rounds = std::atoi(value().c_str());
        else if (a == "--reuse") reuse = true;
        else if (a == "--context") with_context = true;
        else return usage();
    }
    if (orders <= 0 || baseline <= 0 || rounds <= 0) return usage();
    fs::create_directories(dir);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const fs::path small_db = dir / "small.db", big_db = dir / "big.db";
    for (const auto& [file, n] : {std::pair{small_db, baseline}, std::pair{big_db, orders}}) {
        if (reuse && fs::exists(file)) continue;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file.string() + suffix);
        auto t0 = clock_type::now();
        auto g = generate(file, n, now, with_context);
        std::printf("generated %s: %lld orders, %lld inbox events, %lld actions, %lld open review items in %.0f s\n",
                    file.c_str(), static_cast<long long>(g.orders), static_cast<long long>(g.events), static_cast<long long>(g.actions),
                    static_cast<long long>(g.reviews_open), std::chrono::duration<double>(clock_type::now() - t0).count());
        std::fflush(stdout);
    }
    const auto small = measure(small_db, now, rounds);
    const auto big = measure(big_db, now, rounds);
    auto row = [](const char* what, double a, double b) {
        std::printf("%-58s %10.3f ms %10.3f ms %8.1fx\n", what, a, b, a > 0 ? b / a : 0.0);
    };
    std::printf("\n%-58s %13s %13s %9s\n", "median of the rounds (wall clock)", "small", "big", "big/small");
    row("orderflowctl status: its store calls", small.status_ms, big.status_ms);
    row("review list (open, --limit 20)", small.review_list_ms, big.review_list_ms);
    row("review list --all (--limit 20)", small.review_list_all_ms, big.review_list_all_ms);
    row("50 new inbox events, one transaction (synchronous=FULL)", small.insert_page_ms, big.insert_page_ms);
    row("pipeline pending_events(now, 50)", small.pending_read_ms, big.pending_read_ms);
    row("pipeline claim_change x 50, one transaction (crash-safe)", small.claim_page_ms, big.claim_page_ms);
    row("notifier heartbeat activity_since(1 day)", small.heartbeat_ms, big.heartbeat_ms);
    row("hourly retention purge, nothing to purge", small.purge_ms, big.purge_ms);
    row("(before migration 10) counts() by counting rows", small.old_counts_ms, big.old_counts_ms);
    std::printf("%-58s %10.1f MB %10.1f MB %8.1fx\n", "file size (database + WAL)", small.bytes / 1e6, big.bytes / 1e6,
                static_cast<double>(big.bytes) / static_cast<double>(small.bytes));
    return 0;
}
