// Rule evaluation throughput: events per second on one core with 100 realistic
// rules (docs/architecture.md, "Performance targets": >= 100,000 events/s).
//
// The 100 rules are generated as rule-file text, the way a shop with ten
// product lines writes them, and loaded through rules::load_text, the loader
// the daemon uses. The events are a pre-built, seeded pool of 1,000 contexts
// (order views with Japanese names and 1-4 line items, status edges and
// repeated webhooks, buyer messages) that is cycled on one thread. Most rules
// do not match a given event and a few do, so planning and template rendering
// are measured too.
//
// Speed is reported as a ratio against a baseline measured in the same
// process, in alternating rounds: the baseline is the per-event work that
// exists without any rules (copying a context into place, as the daemon's
// pipeline must build one per event), and the measured loop is that copy plus
// rules::evaluate. A benchmark, not a test: nothing here asserts on time.
// See bench/README.md.
#include "rules/engine.hpp"
#include "rules/ruleset.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <time.h>

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;   // keeps keys in the order a person writes them
using orderflow::rules::context;
using orderflow::rules::evaluate;
using orderflow::rules::ruleset;

constexpr std::int64_t bench_now = 1'717'000'000;   // 2024-05-29, a fixed "now" for every event
constexpr std::int64_t hour = 3600;
constexpr std::int64_t day = 24 * hour;
constexpr std::size_t pool_size = 1000;
constexpr double target_events_per_second = 100'000;

// ---------------------------------------------------------------------------
// The rules

// A product line: its SKU prefix, its name, and whether the buyer must send
// text (engraving, a name) before the order can be made.
struct product_line {
    const char* prefix;
    const char* name;
    bool customizable;
    int price;              // yen per unit
    const char* keyword;    // how buyers name it in messages
};

constexpr std::array<product_line, 10> lines = {{
    {"ENG", "真鍮キーホルダー（刻印）", true, 2480, "キーホルダー"},
    {"NAME", "木製ネームプレート", true, 3980, "ネームプレート"},
    {"HANKO", "チタン印鑑", true, 8800, "印鑑"},
    {"RING", "シルバーリング（刻印）", true, 12800, "リング"},
    {"CASE", "レザースマホケース", false, 4980, "ケース"},
    {"PEN", "名入れボールペン", true, 1980, "ボールペン"},
    {"MUG", "有田焼マグカップ", false, 3300, "マグ"},
    {"TOTE", "帆布トートバッグ", false, 2750, "トート"},
    {"BAND", "レザー時計ベルト", false, 5500, "ベルト"},
    {"GIFT", "ギフトラッピング", false, 330, "ラッピング"},
}};

ojson send(const char* template_name) { return ojson::array({{{"send_message", {{"template", template_name}}}}}); }

ojson field(const char* path, ojson ops) { return ojson{{path, std::move(ops)}}; }
ojson list(std::initializer_list<ojson> parts) {
    ojson out = ojson::array();
    for (const auto& p : parts) out.push_back(p);
    return out;
}
ojson all_of(std::initializer_list<ojson> parts) { return ojson{{"all", list(parts)}}; }
ojson any_of(std::initializer_list<ojson> parts) { return ojson{{"any", list(parts)}}; }
ojson negate(ojson c) { return ojson{{"not", std::move(c)}}; }
ojson sku_matches(const std::string& regex) {
    return field("order.line_items", {{"any", field("seller_sku", {{"matches", regex}})}});
}

ojson make_rule(const std::string& id, const char* description, ojson on, ojson condition, const char* once_per,
                const char* template_name) {
    ojson r;
    r["id"] = id;
    r["description"] = description;
    r["on"] = std::move(on);
    r["if"] = std::move(condition);
    r["once_per"] = once_per;
    r["then"] = send(template_name);
    return r;
}

ojson templates() {
    ojson t;
    t["thanks_for_order"] = {
        {"ja", "{{order.buyer_name}}様\nこの度はご注文（注文番号：{{order.id}}）いただき、誠にありがとうございます。商品の発送準備が整い次第、改めてご連絡いたします。"},
        {"en", "Hi {{order.buyer_name}}, thank you for your order {{order.id}}! We will let you know when it ships."}};
    t["ask_customization"] = {
        {"ja", "{{order.buyer_name}}様\nご注文（{{order.id}}）ありがとうございます。刻印・名入れをご希望の文字を、このメッセージへのご返信でお知らせください。"},
        {"en", "Thanks for order {{order.id}}, {{order.buyer_name}}! Please reply with the text you would like engraved."}};
    t["shipped"] = {
        {"ja", "{{order.buyer_name}}様\nご注文（{{order.id}}）の商品を発送いたしました。配送業者：{{order.shipping_provider}}　追跡番号：{{order.tracking_number}}"},
        {"en", "Your order {{order.id}} is on its way with {{order.shipping_provider}}, tracking number {{order.tracking_number}}."}};
    t["thanks_delivered"] = {
        {"ja", "{{order.buyer_name}}様\nご注文の商品（{{order.id}}）がお手元に届きました。ご利用いただき、ありがとうございました。"},
        {"en", "Hi {{order.buyer_name}}, your order {{order.id}} has been delivered. Thank you for shopping with us!"}};
    t["review_request"] = {
        {"ja", "{{order.buyer_name}}様\n商品はいかがでしたか。よろしければレビューで感想をお聞かせください。"},
        {"en", "Hi {{order.buyer_name}}, how do you like it? A review would help us a lot."}};
    t["care_guide"] = {
        {"ja", "{{order.buyer_name}}様\nお手入れ方法のご案内です。柔らかい布で乾拭きし、直射日光・高温多湿を避けて保管してください。（注文番号：{{order.id}}）"},
        {"en", "Care guide for order {{order.id}}: wipe with a soft dry cloth and keep away from direct sunlight."}};
    t["preorder_notice"] = {
        {"ja", "{{order.buyer_name}}様\nご注文（{{order.id}}）には受注生産の商品が含まれるため、発送まで7〜10日ほどお時間をいただきます。"},
        {"en", "Order {{order.id}} contains a made-to-order item: it ships in 7-10 days."}};
    t["big_order_thanks"] = {
        {"ja", "{{order.buyer_name}}様\n{{order.total_amount}}{{order.currency}}のご注文、誠にありがとうございます。丁寧に梱包してお届けいたします。"},
        {"en", "Thank you for your order of {{order.total_amount}} {{order.currency}}, {{order.buyer_name}}!"}};
    t["sla_apology"] = {
        {"ja", "{{order.buyer_name}}様\nご注文（{{order.id}}）の発送が遅れており、大変申し訳ございません。準備ができ次第すぐに発送いたします。"},
        {"en", "We are sorry that order {{order.id}} is late; it will ship as soon as it is ready."}};
    t["cancel_confirmed"] = {
        {"ja", "{{order.buyer_name}}様\nご注文（{{order.id}}）のキャンセルを承りました。またのご利用をお待ちしております。"},
        {"en", "Order {{order.id}} has been cancelled. We hope to see you again."}};
    t["return_guide"] = {
        {"ja", "{{order.buyer_name}}様\n返品のご依頼を承りました。商品到着後、3営業日以内に返金手続きをいたします。"},
        {"en", "We received your return request for order {{order.id}}."}};
    t["reply_where_is_order"] = {
        {"ja", "お問い合わせありがとうございます。配送状況をお調べし、本日中にご連絡いたします。"},
        {"en", "Thanks for your message. We are checking where your order is and will get back to you today."}};
    t["reply_received"] = {
        {"ja", "メッセージありがとうございます。内容を確認のうえ、担当者より24時間以内にご返信いたします。"},
        {"en", "Thank you for your message. We will reply within 24 hours."}};
    t["reply_engraving_received"] = {
        {"ja", "刻印内容のご連絡ありがとうございます。内容を確認のうえ、制作に入らせていただきます。"},
        {"en", "Thanks, we received your engraving text and will start making your item."}};
    t["reply_staff_follow_up"] = "担当者が確認しております。恐れ入りますが、今しばらくお待ちください。";
    return t;
}

// 100 rules in the proportions of a real shop: most listen to status changes
// or buyer messages; most test one product line or one keyword, so for any
// one event nearly all of them are false.
ojson rules_file() {
    ojson rules = ojson::array();
    const char* status_changed = "order.status_changed";
    const char* message_received = "message.received";

    // Status edges (7).
    rules.push_back(make_rule("thanks-awaiting-shipment", "Thank the buyer on the edge into AWAITING_SHIPMENT",
                              status_changed, field("order.status", {{"changed_to", "AWAITING_SHIPMENT"}}), "order",
                              "thanks_for_order"));
    rules.push_back(make_rule("shipped-with-tracking", "Send the tracking number once the parcel moves", status_changed,
                              all_of({field("order.status", {{"changed_to", "IN_TRANSIT"}}),
                                      field("order.tracking_number", {{"empty", false}})}),
                              "order_status", "shipped"));
    rules.push_back(make_rule("thanks-delivered", "A thank-you once the carrier reports delivery", status_changed,
                              field("order.status", {{"changed_to", "DELIVERED"}}), "order_status", "thanks_delivered"));
    rules.push_back(make_rule("review-request", "Ask for a review when the order completes", status_changed,
                              all_of({field("order.status", {{"changed_to", "COMPLETED"}}),
                                      negate(field("order.tags", {{"contains", "no-review"}}))}),
                              "order", "review_request"));
    rules.push_back(make_rule("cancel-confirmed", "Confirm a cancellation the buyer asked for", status_changed,
                              all_of({field("order.status", {{"changed_to", "CANCELLED"}}),
                                      field("order.status", {{"changed_from", "AWAITING_SHIPMENT"}})}),
                              "order", "cancel_confirmed"));
    rules.push_back(make_rule("released-from-hold", "The remorse window ended: thank the buyer", status_changed,
                              all_of({field("order.status", {{"changed_from", "ON_HOLD"}}),
                                      field("order.status", {{"ne", "CANCELLED"}})}),
                              "order", "thanks_for_order"));
    rules.push_back(make_rule("big-order-thanks", "A personal thank-you for large orders", status_changed,
                              all_of({field("order.status", {{"changed_to", "AWAITING_SHIPMENT"}}),
                                      field("order.total_amount", {{"gt", 30000}})}),
                              "order", "big_order_thanks"));
    rules.push_back(make_rule("on-hold-welcome", "Order placed: a short welcome during the remorse window",
                              status_changed,
                              all_of({field("order.status", {{"changed_to", "ON_HOLD"}}),
                                      field("order.is_on_hold", {{"eq", true}})}),
                              "order", "thanks_for_order"));
    rules.push_back(make_rule("unpaid-reminder", "Convenience-store payments still open after 12 hours", status_changed,
                              all_of({field("order.status", {{"eq", "UNPAID"}}),
                                      field("order.create_time", {{"older_than", "12h"}})}),
                              "order", "thanks_for_order"));
    rules.push_back(make_rule("awaiting-collection-seller", "Seller-shipped orders ready for pickup", status_changed,
                              all_of({field("order.status", {{"changed_to", "AWAITING_COLLECTION"}}),
                                      field("order.shipping_type", {{"eq", "SELLER"}})}),
                              "order_status", "preorder_notice"));
    rules.push_back(make_rule("partially-shipped", "Part of the order left first", status_changed,
                              field("order.status", {{"changed_to", "PARTIALLY_SHIPPING"}}), "order_status", "shipped"));
    rules.push_back(make_rule("repeat-buyer-thanks", "Returning buyers get a warmer thank-you", status_changed,
                              all_of({field("order.status", {{"changed_to", "AWAITING_SHIPMENT"}}),
                                      field("order.tags", {{"any", {{"in", {"repeat", "vip"}}}}})}),
                              "order", "big_order_thanks"));
    rules.push_back(make_rule("address-changed-ack", "Acknowledge an address change before shipping",
                              "order.address_changed",
                              field("order.status", {{"in", {"AWAITING_SHIPMENT", "AWAITING_COLLECTION"}}}), "order",
                              "thanks_for_order"));

    // Per product line (10 lines x 5 = 50, fewer for lines without customization).
    for (const auto& line : lines) {
        std::string p = line.prefix;
        std::string lower;
        for (char c : p) lower.push_back(static_cast<char>(c - 'A' + 'a'));
        rules.push_back(make_rule("care-guide-" + lower, "Care instructions when this line is delivered", status_changed,
                                  all_of({field("order.status", {{"changed_to", "DELIVERED"}}), sku_matches("^" + p + "-")}),
                                  "order", "care_guide"));
        rules.push_back(make_rule("preorder-" + lower, "Made-to-order items of this line take longer", status_changed,
                                  all_of({field("order.status", {{"changed_to", "AWAITING_SHIPMENT"}}),
                                          sku_matches("^" + p + "-[A-Z]+-\\d+-PRE$")}),
                                  "order", "preorder_notice"));
        rules.push_back(make_rule("sla-" + lower, "Apologize when this line is stuck in AWAITING_SHIPMENT past the SLA",
                                  status_changed,
                                  all_of({field("order.status", {{"eq", "AWAITING_SHIPMENT"}}),
                                          field("order.create_time", {{"older_than", line.customizable ? "96h" : "48h"}}),
                                          sku_matches("^" + p + "-"),
                                          negate(field("order.tags", {{"contains", "sla-notified"}}))}),
                                  "order", "sla_apology"));
        rules.push_back(make_rule("big-" + lower, "Several units of this line in one order", status_changed,
                                  all_of({field("order.status", {{"in", {"AWAITING_SHIPMENT", "AWAITING_COLLECTION"}}}),
                                          field("order.line_items",
                                                {{"all", field("seller_sku", {{"matches", "^" + p + "-"}})}}),
                                          field("order.item_count", {{"gte", 3}})}),
                                  "order", "big_order_thanks"));
        rules.push_back(make_rule("msg-about-" + lower, "A question about this line", "message.received",
                                  all_of({field("message.text", {{"contains", line.keyword}}),
                                          any_of({field("message.text", {{"contains", "?"}}),
                                                  field("message.text", {{"matches", "(ですか|ますか)"}})})}),
                                  "message", "reply_received"));
        if (line.customizable) {
            rules.push_back(make_rule(
                "ask-custom-" + lower, "Ask for the engraving text when the buyer left none", status_changed,
                all_of({field("order.status", {{"eq", "AWAITING_SHIPMENT"}}), sku_matches("^" + p + "-"),
                        any_of({field("order.buyer_message", {{"empty", true}}),
                                negate(any_of({field("order.buyer_message", {{"contains", "刻印"}}),
                                               field("order.buyer_message", {{"contains", "名入れ"}}),
                                               field("order.buyer_message", {{"matches", "「.+」"}})}))})}),
                "order", "ask_customization"));
        }
    }

    // Other order events (6).
    rules.push_back(make_rule("return-requested", "Explain the return process", "order.return_changed",
                              field("order.status", {{"in", {"DELIVERED", "COMPLETED"}}}), "order", "return_guide"));
    rules.push_back(make_rule("cancel-by-buyer", "Confirm a buyer's cancellation request", "order.cancellation_changed",
                              all_of({field("order.status", {{"ne", "CANCELLED"}}),
                                      field("order.create_time", {{"within", "24h"}})}),
                              "order", "cancel_confirmed"));
    rules.push_back(make_rule("package-shipped", "Tracking number from a package update", "package.updated",
                              all_of({field("order.tracking_number", {{"exists", true}}),
                                      field("order.tracking_number", {{"empty", false}}),
                                      field("order.shipping_type", {{"eq", "SELLER"}})}),
                              "package", "shipped"));
    rules.push_back(make_rule("gift-note-hold", "Gift orders with a note: ask before shipping", status_changed,
                              all_of({field("order.status", {{"changed_to", "AWAITING_SHIPMENT"}}),
                                      field("order.sku_counts.GIFT-WR-01", {{"gte", 1}}),
                                      field("order.buyer_message", {{"contains", "のし"}})}),
                              "order", "ask_customization"));
    rules.push_back(make_rule("paid-high-value-en", "English-speaking buyers of expensive items", status_changed,
                              all_of({field("order.status", {{"changed_to", "AWAITING_SHIPMENT"}}),
                                      field("order.total_amount", {{"gte", 20000}}),
                                      field("order.buyer_message", {{"matches", "(?i)\\b(please|thanks?)\\b"}})}),
                              "order", "big_order_thanks"));
    rules.push_back(make_rule("cheap-order-care", "Small orders of plain items get the care guide on completion",
                              status_changed,
                              all_of({field("order.status", {{"changed_to", "COMPLETED"}}),
                                      field("order.total_amount", {{"lt", 3000}}),
                                      field("order.line_items", {{"all", field("sale_price", {{"lte", 3000}})}})}),
                              "order", "care_guide"));

    // Buyer messages (message.received): keyword families in Japanese and English.
    struct keyword_rule {
        const char* id;
        const char* description;
        std::vector<const char*> words;   // contains, any of them
        const char* template_name;
    };
    const std::vector<keyword_rule> keywords = {
        {"msg-where-is-order", "Where is my order", {"届いていません", "まだ届", "届かない", "where is my order"}, "reply_where_is_order"},
        {"msg-when-ship", "When will it ship", {"発送はいつ", "いつ発送", "いつ届", "when will"}, "reply_where_is_order"},
        {"msg-tracking", "Asks for the tracking number", {"追跡番号", "問い合わせ番号", "tracking"}, "reply_where_is_order"},
        {"msg-engraving-text", "Sends the engraving text", {"刻印は", "名入れは", "刻印内容"}, "reply_engraving_received"},
        {"msg-cancel", "Wants to cancel (staff handles it)", {"キャンセル", "取り消し", "cancel"}, "reply_staff_follow_up"},
        {"msg-refund", "Refund (staff handles it)", {"返金", "refund"}, "reply_staff_follow_up"},
        {"msg-return", "Return or exchange", {"返品", "交換", "return"}, "reply_staff_follow_up"},
        {"msg-damaged", "Damaged on arrival", {"破損", "壊れて", "傷が", "割れて", "damaged", "broken"}, "reply_staff_follow_up"},
        {"msg-wrong-item", "Wrong item", {"違う商品", "間違", "wrong item"}, "reply_staff_follow_up"},
        {"msg-address", "Address change", {"住所変更", "住所を変更", "届け先"}, "reply_staff_follow_up"},
        {"msg-invoice", "Receipt or invoice", {"領収書", "請求書", "インボイス", "receipt", "invoice"}, "reply_received"},
        {"msg-gift", "Gift wrapping", {"ギフト", "ラッピング", "のし", "gift"}, "reply_received"},
        {"msg-size", "Size question", {"サイズ", "号数", "size"}, "reply_received"},
        {"msg-stock", "Stock question", {"在庫", "再入荷", "in stock", "restock"}, "reply_received"},
        {"msg-bulk", "Bulk or corporate order", {"法人", "まとめ買い", "大量", "bulk"}, "reply_staff_follow_up"},
        {"msg-coupon", "Coupon or discount", {"クーポン", "割引", "セール", "coupon", "discount"}, "reply_received"},
        {"msg-payment", "Payment problem", {"支払い", "決済", "コンビニ払い", "payment"}, "reply_staff_follow_up"},
        {"msg-delivery-date", "Delivery date or time slot", {"日時指定", "時間指定", "配達日"}, "reply_received"},
        {"msg-material", "Material or allergy", {"素材", "金属アレルギー", "材質", "material"}, "reply_received"},
        {"msg-font", "Engraving font", {"書体", "フォント", "font"}, "reply_engraving_received"},
    };
    for (const auto& k : keywords) {
        ojson words = ojson::array();
        for (const char* w : k.words) words.push_back(field("message.text", {{"contains", w}}));
        rules.push_back(make_rule(k.id, k.description, message_received,
                                  all_of({field("message.sender_role", {{"eq", "BUYER"}}),
                                          field("message.type", {{"eq", "TEXT"}}), ojson{{"any", std::move(words)}}}),
                                  "message", k.template_name));
    }
    rules.push_back(make_rule("msg-angry", "Angry messages go to staff; never auto-reply cheerfully", message_received,
                              field("message.text", {{"matches", "(最悪|ひどい|許せない|詐欺|(?i)terrible|scam)"}}),
                              "message", "reply_staff_follow_up"));
    rules.push_back(make_rule("msg-order-number", "The buyer quotes an order number", message_received,
                              all_of({field("message.text", {{"matches", "\\d{15,19}"}}),
                                      negate(field("message.text", {{"contains", "キャンセル"}}))}),
                              "message", "reply_received"));
    rules.push_back(make_rule("msg-thanks-only", "A plain thank-you needs no answer: record it in shadow mode",
                              message_received,
                              all_of({field("message.text", {{"contains", "ありがとう"}}),
                                      negate(field("message.text", {{"matches", "[?？]"}})),
                                      field("message.create_time", {{"within", "7d"}})}),
                              "message", "reply_received"));
    rules.back()["mode"] = "shadow";
    rules.push_back(make_rule("msg-image", "Photos (damage reports, engraving sketches) go to staff", message_received,
                              all_of({field("message.type", {{"in", {"IMAGE", "VIDEO"}}}),
                                      field("message.sender_role", {{"eq", "BUYER"}})}),
                              "message", "reply_staff_follow_up"));
    rules.push_back(make_rule("msg-english", "English messages get the English acknowledgement", message_received,
                              all_of({field("message.text", {{"matches", "^[\\x20-\\x7e]+$"}}),
                                      negate(any_of({field("message.text", {{"contains", "thank"}}),
                                                     field("message.text", {{"empty", true}})}))}),
                              "message", "reply_received"));
    rules.back()["locale"] = "en";
    rules.push_back(make_rule("msg-long", "Long messages: acknowledge, staff reads them", message_received,
                              all_of({field("message.text", {{"matches", "^.{120,}$"}}),
                                      field("message.sender_role", {{"not_in", {"SHOP", "SYSTEM"}}})}),
                              "message", "reply_received"));

    ojson file;
    file["templates"] = templates();
    file["rules"] = std::move(rules);
    return file;
}

// ---------------------------------------------------------------------------
// The events

const std::array<const char*, 20> family_names = {"山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺",
                                                   "中村", "小林", "加藤", "吉田", "山本", "松本", "井上",
                                                   "木村", "林", "斎藤", "清水", "山口", "森"};
const std::array<const char*, 16> given_names = {"太郎", "花子", "一郎", "美咲", "健太", "さくら", "翔", "結衣",
                                                  "大輔", "愛", "陽菜", "蓮", "ゆうこ", "まさと", "ひかり", "Emma"};
const std::array<const char*, 8> buyer_notes = {
    "刻印は「Ｈａｎａ ＆ Ｋｅｎ」でお願いします。", "名入れは「たなか」でお願いします",
    "ギフト用にのしをお願いします（御祝）", "できるだけ早く発送をお願いします。",
    "Please engrave \"Forever\" on the ring, thanks!", "置き配でお願いします",
    "「2024.06.01」と刻印してください", "ﾌﾟﾚｾﾞﾝﾄ用です。ﾗｯﾋﾟﾝｸﾞお願いします"};
const std::array<const char*, 30> buyer_messages = {
    "注文した商品がまだ届いていません。確認していただけますか？",
    "発送はいつ頃になりますか？",
    "刻印は「Ｓａｋｕｒａ」でお願いします。",
    "追跡番号を教えてください",
    "すみません、注文をキャンセルしたいです。576461413038785752",
    "商品が届きましたが、箱が破損していました。写真を送ります。",
    "ありがとうございました！とても気に入りました。",
    "サイズ交換は可能でしょうか？",
    "領収書の発行をお願いできますか",
    "Where is my order? It has been a week.",
    "Hi, can I get a refund? The item arrived broken.",
    "ギフトラッピングは対応していますか？",
    "在庫はありますか？再入荷の予定を知りたいです。",
    "住所変更をお願いしたいです",
    "名入れのフォントは選べますか？",
    "金属アレルギーがあるのですが、素材は何ですか？",
    "届きました。ありがとうございます",
    "最悪です。説明と全然違う商品が届きました。",
    "こんにちは",
    "了解しました。よろしくお願いします。",
    "法人でまとめ買いを検討しています。見積もりをお願いします。",
    "クーポンが使えませんでした",
    "日時指定はできますか？",
    "Thank you so much!",
    "コンビニ払いの期限が切れてしまいました",
    "ＯＫです",
    "刻印内容を変更したいのですが、まだ間に合いますか？",
    "I would like to know when will you ship my order please",
    "キーホルダーの色違いはありますか？",
    "注文番号576461413038793671の件です。印鑑の書体は選べますか",
};
constexpr std::array<const char*, 9> statuses = {"UNPAID",    "ON_HOLD",   "AWAITING_SHIPMENT", "AWAITING_COLLECTION",
                                                 "IN_TRANSIT", "DELIVERED", "COMPLETED",         "CANCELLED",
                                                 "PARTIALLY_SHIPPING"};
const std::array<const char*, 3> carriers = {"ヤマト運輸", "佐川急便", "日本郵便"};

class event_factory {
public:
    explicit event_factory(std::uint32_t seed) : rng_(seed) {}

    context next(std::size_t n) {
        int roll = pick(100);
        if (roll < 62) return status_changed(n);
        if (roll < 90) return message_received(n);
        if (roll < 95) return other_order_event(n, "package.updated", 4);
        if (roll < 98) return other_order_event(n, "order.cancellation_changed", 11);
        return other_order_event(n, "order.return_changed", 12);
    }

private:
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
    template <class T, std::size_t N>
    const T& one_of(const std::array<T, N>& a) { return a[static_cast<std::size_t>(pick(static_cast<int>(N)))]; }

    // An order view with the fields and shape of daemon/events.cpp's order_view.
    json order(std::size_t n, const char* status) {
        json items = json::array();
        std::map<std::string, int> counts;
        int units = 1 + pick(4);
        double total = 0;
        int status_index = static_cast<int>(std::find_if(statuses.begin(), statuses.end(), [&](const char* s) {
                                                return std::strcmp(s, status) == 0;
                                            }) - statuses.begin());
        bool shipped = status_index >= 4 && status_index <= 6;
        for (int u = 0; u < units; ++u) {
            // Half the orders are one line's items; the rest mix lines.
            const auto& line = lines[static_cast<std::size_t>(u == 0 || pick(2) == 0 ? (n * 7) % lines.size() : static_cast<std::size_t>(pick(10)))];
            std::string sku = std::string(line.prefix) + "-" + (pick(2) ? "STD" : "LTD") + "-" +
                              std::to_string(1 + pick(12)) + (pick(20) == 0 ? "-PRE" : "");
            if (std::strcmp(line.prefix, "GIFT") == 0) sku = "GIFT-WR-01";
            items.push_back({{"id", std::to_string(577000000000000000ULL + n * 10 + static_cast<std::size_t>(u))},
                             {"sku_id", std::to_string(1729000000000000000ULL + static_cast<std::size_t>(pick(1000000)))},
                             {"product_id", std::to_string(1728000000000000000ULL + static_cast<std::size_t>(pick(1000)))},
                             {"product_name", line.name},
                             {"sku_name", pick(2) ? "ゴールド / 刻印あり" : "シルバー"},
                             {"seller_sku", sku},
                             {"sale_price", line.price},
                             {"package_id", shipped ? "1153" + std::to_string(100000 + n) : ""}});
            total += line.price;
            ++counts[sku];
        }
        json sku_counts = json::object();
        for (auto& [sku, c] : counts) sku_counts[sku] = c;
        json tags = json::array();
        if (pick(10) == 0) tags.push_back("sla-notified");
        if (pick(20) == 0) tags.push_back("no-review");
        std::int64_t created = bench_now - pick(static_cast<int>(10 * day));
        std::string buyer = std::string(one_of(family_names)) + " " + one_of(given_names);
        return json{{"id", std::to_string(576461413038785752ULL + n * 7919)},
                    {"status", status},
                    {"user_id", std::to_string(7494000000000000000ULL + static_cast<std::size_t>(pick(1000000)))},
                    {"buyer_name", buyer},
                    {"buyer_message", pick(2) ? "" : one_of(buyer_notes)},
                    {"seller_note", ""},
                    {"create_time", created},
                    {"update_time", created + pick(static_cast<int>(day))},
                    {"paid_time", created + 60},
                    {"is_on_hold", status_index == 1},
                    {"shipping_type", pick(5) ? "TIKTOK" : "SELLER"},
                    {"delivery_option_name", "通常配送"},
                    {"tracking_number", shipped ? "4" + std::to_string(10000000000ULL + n * 31) : ""},
                    {"shipping_provider", shipped ? one_of(carriers) : ""},
                    {"currency", "JPY"},
                    {"total_amount", std::to_string(static_cast<long>(total))},   // TikTok sends amounts as strings
                    {"item_count", units},
                    {"line_items", std::move(items)},
                    {"sku_counts", std::move(sku_counts)},
                    {"tags", std::move(tags)}};
    }

    context base(std::size_t n, const char* event, int topic) {
        context ctx;
        ctx.event = event;
        ctx.event_id = "tts:" + std::to_string(7368000000000000000ULL + n);
        ctx.now = bench_now;
        ctx.default_locale = "ja";
        ctx.event_data = json{{"type", topic}, {"source", pick(10) ? "webhook" : "poll"}};
        return ctx;
    }

    context status_changed(std::size_t n) {
        context ctx = base(n, "order.status_changed", 1);
        // The lifecycle, weighted towards the statuses shops see most.
        static constexpr std::array<int, 16> weighted = {1, 2, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7};
        int now_index = weighted[static_cast<std::size_t>(pick(16))];
        const char* now_status = statuses[static_cast<std::size_t>(now_index)];
        ctx.order = order(n, now_status);
        ctx.event_data["order_status"] = now_status;
        ctx.event_data["update_time"] = ctx.order["update_time"];
        int kind = pick(100);
        if (kind < 75) {   // an edge: the cached view has the status before
            ctx.previous_order = ctx.order;
            int before = now_index == 7 ? 1 + pick(3) : std::max(0, now_index - 1);
            ctx.previous_order["status"] = statuses[static_cast<std::size_t>(before)];
        } else if (kind < 90) {   // a repeated webhook: same status as cached
            ctx.previous_order = ctx.order;
        }   // else: first sighting of the order, no cached view
        return ctx;
    }

    context message_received(std::size_t n) {
        context ctx = base(n, "message.received", 14);
        // As in the daemon: message events carry no order view.
        int type = pick(20);
        ctx.message = json{{"id", "7371" + std::to_string(100000000000000ULL + n)},
                           {"text", type == 0 ? "" : one_of(buyer_messages)},
                           {"type", type == 0 ? "IMAGE" : "TEXT"},
                           {"sender_role", "BUYER"},
                           {"conversation_id", "7370" + std::to_string(200000000000000ULL + n % 300)},
                           {"create_time", bench_now - pick(static_cast<int>(hour))}};
        return ctx;
    }

    context other_order_event(std::size_t n, const char* event, int topic) {
        context ctx = base(n, event, topic);
        ctx.order = order(n, statuses[static_cast<std::size_t>(2 + pick(5))]);
        ctx.previous_order = ctx.order;
        if (std::strcmp(event, "package.updated") == 0) ctx.event_data["package_id"] = "1153" + std::to_string(100000 + n);
        return ctx;
    }

    std::mt19937 rng_;
};

// ---------------------------------------------------------------------------
// Measuring

// Makes the optimizer assume `value` is read, so work producing it stays.
template <class T>
void keep(const T& value) {
    asm volatile("" : : "g"(&value) : "memory");
}

// CPU time of this thread: on a shared machine the wall clock also counts the
// time other processes had the core; this does not.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct timing {
    std::uint64_t events = 0;
    double seconds = 0;       // steady_clock
    double cpu_seconds = 0;   // this thread's CPU time
    double per_second() const { return static_cast<double>(events) / seconds; }
    double ns_per_event() const { return seconds * 1e9 / static_cast<double>(events); }
};

// Runs `one` over the pool, whole passes, until at least `min_seconds` passed.
template <class F>
timing run_for(const std::vector<context>& pool, double min_seconds, F&& one) {
    using clock = std::chrono::steady_clock;
    timing t;
    double cpu_start = thread_cpu_seconds();
    auto start = clock::now();
    do {
        for (const context& ctx : pool) one(ctx);
        t.events += pool.size();
        t.seconds = std::chrono::duration<double>(clock::now() - start).count();
    } while (t.seconds < min_seconds);
    t.cpu_seconds = thread_cpu_seconds() - cpu_start;
    return t;
}

std::string grouped(double value) {
    auto n = static_cast<std::uint64_t>(value + 0.5);
    std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

void usage() {
    std::fputs("usage: rules_bench [--seconds S] [--rounds N] [--dump-rules] [--matches]\n"
               "  --seconds S   measured time per round for the rules (default 1; the baseline gets S/2)\n"
               "  --rounds N    alternating baseline/rules rounds (default 5); the median round is reported\n"
               "  --dump-rules  print the generated rule file and exit (check it: orderflowctl check)\n"
               "  --matches     print how often each rule matches over the pool and exit\n",
               stderr);
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 1.0;
    int rounds = 5;
    bool dump = false;
    bool show_matches = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else if (a == "--rounds" && i + 1 < argc) {
            rounds = std::atoi(argv[++i]);
        } else if (a == "--dump-rules") {
            dump = true;
        } else if (a == "--matches") {
            show_matches = true;
        } else {
            usage();
            return 2;
        }
    }
    if (seconds <= 0 || rounds <= 0) {
        usage();
        return 2;
    }

    const std::string text = "// Generated by bench/rules_bench.cpp: 100 rules of a shop with ten product lines.\n" +
                             rules_file().dump(2) + "\n";
    if (dump) {
        std::fputs(text.c_str(), stdout);
        return 0;
    }
    auto loaded = orderflow::rules::load_text(text, "bench-rules.json");
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    if (!loaded.ok() || !loaded.diagnostics.empty()) {
        std::fprintf(stderr, "rules_bench: the generated rules must load without diagnostics\n");
        return 1;
    }
    const ruleset& rules = *loaded.rules;
    if (rules.size() != 100) {
        std::fprintf(stderr, "rules_bench: generated %zu rules, expected 100\n", rules.size());
        return 1;
    }

    event_factory factory(20240529);
    std::vector<context> pool;
    pool.reserve(pool_size);
    for (std::size_t n = 0; n < pool_size; ++n) pool.push_back(factory.next(n));

    // What the pool exercises, from one untimed pass (also the warm-up).
    std::map<std::string, std::size_t> listening;   // event -> rules that listen to it
    {
        json file = json::parse(rules_file().dump());
        for (const auto& r : file["rules"]) {
            if (r["on"].is_string()) ++listening[r["on"].get<std::string>()];
            else for (const auto& e : r["on"]) ++listening[e.get<std::string>()];
        }
    }
    std::size_t candidates = 0, matched = 0, actions = 0, rendered = 0, failed = 0, events_matching = 0;
    std::map<std::string, std::size_t> per_event_kind, per_rule;
    for (const context& ctx : pool) {
        auto r = evaluate(rules, ctx);
        for (const auto& id : r.matched_rules) ++per_rule[id];
        ++per_event_kind[ctx.event];
        candidates += listening[ctx.event];
        matched += r.matched_rules.size();
        events_matching += r.matched_rules.empty() ? 0 : 1;
        actions += r.actions.size();
        for (const auto& a : r.actions) (a.error.empty() ? rendered : failed) += 1;
    }
    if (show_matches) {
        for (const auto& id : rules.rule_ids()) std::printf("%5zu  %s\n", per_rule[id], id.c_str());
        return 0;
    }
    // Warm-up: a few more passes through both loops (caches, allocator, branch predictors).
    std::uint64_t sink = 0;
    for (int pass = 0; pass < 20; ++pass) {
        for (const context& ctx : pool) {
            context copy = ctx;
            keep(copy);
            auto r = evaluate(rules, ctx);
            sink += r.matched_rules.size();
        }
    }

    std::printf("rules_bench: %zu rules loaded through rules::load_text; pool of %zu events (", rules.size(),
                pool.size());
    bool first = true;
    for (const auto& [event, count] : per_event_kind) {
        std::printf("%s%s %zu", first ? "" : ", ", event.c_str(), count);
        first = false;
    }
    const double n = static_cast<double>(pool.size());
    std::printf(")\nper event: %.1f rules listen to its event, %.2f match, %.2f actions planned "
                "(%.2f rendered, %.2f failed with a missing value); %.0f%% of events match no rule\n",
                static_cast<double>(candidates) / n, static_cast<double>(matched) / n,
                static_cast<double>(actions) / n, static_cast<double>(rendered) / n, static_cast<double>(failed) / n,
                100.0 * (n - static_cast<double>(events_matching)) / n);

    // Alternating rounds, so that load from other processes on a shared
    // machine hits both loops alike; the median round is reported.
    auto baseline_one = [&](const context& ctx) {
        context copy = ctx;   // the context put in place: the daemon builds one per event
        keep(copy);
        sink += copy.event.size();
    };
    auto rules_one = [&](const context& ctx) {
        auto r = evaluate(rules, ctx);
        keep(r);
        sink += r.matched_rules.size() + r.actions.size();
    };
    std::vector<double> rules_rates, baseline_rates, ratios, rules_cpu_rates, cpu_shares;
    std::uint64_t rules_events = 0;
    for (int round = 0; round < rounds; ++round) {
        timing base = run_for(pool, seconds / 2, baseline_one);
        timing eval = run_for(pool, seconds, rules_one);
        rules_events += eval.events;
        baseline_rates.push_back(base.per_second());
        rules_rates.push_back(eval.per_second());
        ratios.push_back(eval.ns_per_event() / base.ns_per_event());
        rules_cpu_rates.push_back(static_cast<double>(eval.events) / eval.cpu_seconds);
        cpu_shares.push_back(eval.cpu_seconds / eval.seconds);
        std::printf("  round %d: rules %s events/s (%.0f ns/event), baseline %s events/s (%.0f ns/event)\n", round + 1,
                    grouped(eval.per_second()).c_str(), eval.ns_per_event(), grouped(base.per_second()).c_str(),
                    base.ns_per_event());
    }

    const double rate = median(rules_rates);
    const double base_rate = median(baseline_rates);
    std::printf("rules: %zu, events: %s, 1 core: %s events/s (%.2f us/event); "
                "baseline (context copy only): %s events/s (%.2f us/event); evaluation costs %.2fx the baseline\n",
                rules.size(), grouped(static_cast<double>(rules_events)).c_str(), grouped(rate).c_str(), 1e6 / rate,
                grouped(base_rate).c_str(), 1e6 / base_rate, median(ratios));
    std::printf("per second of this thread's CPU time: %s events/s; the thread had the core %.0f%% of the wall time%s\n",
                grouped(median(rules_cpu_rates)).c_str(), 100 * median(cpu_shares),
                median(cpu_shares) < 0.9 ? " (the machine is busy: wall-clock rates are low)" : "");
    std::printf("target (docs/architecture.md): >= %s events/s on one core with 100 rules: %s (%.2fx the target)\n",
                grouped(target_events_per_second).c_str(), rate >= target_events_per_second ? "met" : "NOT met",
                rate / target_events_per_second);
    std::printf("(checksum %llu)\n", static_cast<unsigned long long>(sink));
    return 0;
}
