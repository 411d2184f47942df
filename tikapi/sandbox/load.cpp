// Load mode (POST /control/load, --load-orders / --load-rate): a stream of
// paid orders at a steady rate, as a Japanese shop would see it: buyers with
// Japanese names and addresses, a share with custom (engraved) SKUs "ENG-...",
// a share with buyer notes, and a share of buyers who write to the shop a
// little after ordering ("届いていません", "where is my order?"). Orders are
// created by advance(), so the stream follows the shop's clock; its own
// generator keeps it reproducible for one seed without touching ids elsewhere.
#include "tikapi/sandbox/shop.hpp"

#include <array>

namespace orderflow::sandbox {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 12> family_names = {"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺",
                                                           "山本", "中村", "小林", "加藤", "吉田", "山田"};
constexpr std::array<std::string_view, 12> given_names = {"花子", "太郎", "陽菜", "蓮",   "結衣", "大翔",
                                                          "美咲", "健太", "さくら", "翔", "葵",   "湊"};

struct place {
    std::string_view prefecture, city, line1, postal_code;
};
constexpr std::array<place, 8> places = {{
    {"東京都", "渋谷区", "神南1-2-3", "150-0041"},
    {"東京都", "世田谷区", "三軒茶屋2-11-22", "154-0024"},
    {"大阪府", "大阪市北区", "梅田3-1-1", "530-0001"},
    {"神奈川県", "横浜市西区", "みなとみらい2-2-1", "220-0012"},
    {"愛知県", "名古屋市中村区", "名駅1-1-4", "450-0002"},
    {"福岡県", "福岡市博多区", "博多駅中央街1-1", "812-0012"},
    {"北海道", "札幌市中央区", "北5条西2-5", "060-0005"},
    {"京都府", "京都市下京区", "東塩小路町721-1", "600-8216"},
}};
constexpr std::array<std::string_view, 6> buildings = {"コーポ桜", "メゾン青葉", "サンハイツ", "グランドール",
                                                       "パークサイド", "ハイム緑"};

struct product {
    std::string_view seller_sku, name, sku_name, price;
};
constexpr std::array<product, 5> products = {{
    {"TSHIRT-WHT-M", "オーガニックコットンTシャツ", "白 / M", "1980"},
    {"MUG-BLU-01", "波佐見焼マグカップ", "藍", "1480"},
    {"TOTE-NAT-01", "帆布トートバッグ", "生成り", "2480"},
    {"SOCKS-3P", "靴下 3足セット", "Default", "990"},
    {"TENUGUI-05", "手ぬぐい 桜柄", "Default", "880"},
}};
constexpr std::array<product, 3> custom_products = {{
    {"ENG-RING-01", "刻印リング", "シルバー / 11号", "4980"},
    {"ENG-PEN-02", "名入れボールペン", "黒", "2980"},
    {"ENG-WATCH-03", "刻印腕時計", "ブラウン", "12800"},
}};
constexpr std::array<std::string_view, 4> custom_notes = {"刻印は「HANAKO」でお願いします", "名入れ: Taro Sato",
                                                          "刻印「2024.05.01 S&H」", "裏に「ありがとう」と入れてください"};
constexpr std::array<std::string_view, 4> notes = {"ギフト包装をお願いします", "午前中の配達を希望します",
                                                   "不在時は宅配ボックスへお願いします", "領収書を同梱してください"};
constexpr std::array<std::string_view, 6> buyer_texts = {"届いていません", "where is my order?",
                                                         "いつ発送されますか？", "注文した商品はいつ届きますか？",
                                                         "住所を変更したいのですが", "Has my order shipped yet?"};

template <class T, std::size_t N>
const T& pick(const std::array<T, N>& from, std::mt19937_64& rng) {
    return from[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng)];
}

bool chance(double share, std::mt19937_64& rng) {
    if (share <= 0) return false;
    return std::uniform_real_distribution<double>(0, 1)(rng) < share;
}

}  // namespace

void shop::start_load(const load_options& load) {
    load_ = load_state{};
    load_.options = load;
    load_.running = load.orders > 0 && load.rate > 0;
    load_.start_ms = now_ms();
    load_.rng.seed(load.seed != 0 ? load.seed : (options_.seed != 0 ? options_.seed * 7919 + 1 : std::random_device{}()));
    if (on_timers_changed_) on_timers_changed_();
    advance_load();
}

void shop::advance_load() {
    if (!load_.running && load_.messages.empty()) return;
    const auto t = now_ms();
    for (;;) {
        if (!load_.running || load_.created >= load_.options.orders) break;
        const auto due = load_.start_ms + static_cast<std::int64_t>(static_cast<double>(load_.created) * 1000.0 /
                                                                    load_.options.rate);
        if (due > t) break;
        create_load_order(due);
    }
    if (load_.created >= load_.options.orders) load_.running = false;

    // Buyers' messages that are due, oldest first.
    std::stable_sort(load_.messages.begin(), load_.messages.end(),
                     [](const pending_message& a, const pending_message& b) { return a.due_ms < b.due_ms; });
    std::size_t sent = 0;
    while (sent < load_.messages.size() && load_.messages[sent].due_ms <= t) {
        const auto& m = load_.messages[sent];
        bool created = false;
        conversation& c = open_conversation(m.user_id, created);
        add_message(c, "BUYER", json{{"content", m.text}}.dump());
        ++load_.messages_sent;
        ++sent;
    }
    load_.messages.erase(load_.messages.begin(), load_.messages.begin() + static_cast<std::ptrdiff_t>(sent));
}

// `due_ms` is when the order was due: a buyer's message is timed from it, so
// a late advance() catches up on messages too.
void shop::create_load_order(std::int64_t due_ms) {
    auto& rng = load_.rng;
    const auto& opt = load_.options;
    order o;
    o.buyer_name = std::string(pick(family_names, rng)) + " " + std::string(pick(given_names, rng));
    o.status = "ON_HOLD";   // paid; the remorse window follows (hold_seconds)
    const place& p = pick(places, rng);
    o.recipient.prefecture = p.prefecture;
    o.recipient.city = p.city;
    o.recipient.line1 = p.line1;
    o.recipient.postal_code = p.postal_code;
    o.recipient.detail = std::string(pick(buildings, rng)) + " " +
                         std::to_string(std::uniform_int_distribution<int>(1, 9)(rng)) + "0" +
                         std::to_string(std::uniform_int_distribution<int>(1, 9)(rng));
    const bool custom = chance(opt.custom_share, rng);
    const int items = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int i = 0; i < items; ++i) {
        const product& pr = (custom && i == 0) ? pick(custom_products, rng) : pick(products, rng);
        line_item li;
        li.seller_sku = pr.seller_sku;
        li.product_name = pr.name;
        li.sku_name = pr.sku_name;
        li.sale_price = pr.price;
        o.line_items.push_back(std::move(li));
    }
    if (chance(opt.note_share, rng)) o.buyer_message = custom ? pick(custom_notes, rng) : pick(notes, rng);
    const bool writes = chance(opt.message_share, rng);
    const std::string text(pick(buyer_texts, rng));
    const auto delay_ms = std::uniform_int_distribution<std::int64_t>(1000, 5000)(rng);
    const order& stored = add_order(std::move(o));
    ++load_.created;
    if (writes) {
        load_.messages.push_back({due_ms + delay_ms, stored.user_id, text});
        ++load_.messages_planned;
    }
}

}  // namespace orderflow::sandbox
