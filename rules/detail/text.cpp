// Folding and value helpers (see detail/text.hpp). The folding is a small,
// fixed subset of NFKC plus case folding, aimed at what Japanese buyers type:
// full-width Latin letters and digits and half-width katakana.
#include "rules/detail/text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace orderflow::rules::detail {

namespace {

// Decodes one code point at text[i]; advances i. Invalid bytes come back as
// 0xFFFFFFFF with i advanced by one.
std::uint32_t decode(std::string_view text, std::size_t& i) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
        ++i;
        return b;
    }
    std::size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > text.size()) {
        ++i;
        return 0xFFFFFFFF;
    }
    std::uint32_t cp = b & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
        auto c = static_cast<unsigned char>(text[i + k]);
        if ((c & 0xC0) != 0x80) {
            ++i;
            return 0xFFFFFFFF;
        }
        cp = (cp << 6) | (c & 0x3F);
    }
    i += len;
    return cp;
}

// Half-width katakana U+FF61..U+FF9F to their full-width forms.
constexpr std::uint16_t halfwidth_kana[] = {
    0x3002, 0x300C, 0x300D, 0x3001, 0x30FB, 0x30F2, 0x30A1, 0x30A3, 0x30A5, 0x30A7, 0x30A9, 0x30E3, 0x30E5,
    0x30E7, 0x30C3, 0x30FC, 0x30A2, 0x30A4, 0x30A6, 0x30A8, 0x30AA, 0x30AB, 0x30AD, 0x30AF, 0x30B1, 0x30B3,
    0x30B5, 0x30B7, 0x30B9, 0x30BB, 0x30BD, 0x30BF, 0x30C1, 0x30C4, 0x30C6, 0x30C8, 0x30CA, 0x30CB, 0x30CC,
    0x30CD, 0x30CE, 0x30CF, 0x30D2, 0x30D5, 0x30D8, 0x30DB, 0x30DE, 0x30DF, 0x30E0, 0x30E1, 0x30E2, 0x30E4,
    0x30E6, 0x30E8, 0x30E9, 0x30EA, 0x30EB, 0x30EC, 0x30ED, 0x30EF, 0x30F3, 0x309B, 0x309C,
};

bool takes_dakuten(std::uint32_t cp) {
    // カ..ト (every other code point) and ハ..ホ (every third).
    if (cp >= 0x30AB && cp <= 0x30C8) return cp != 0x30C3 && ((cp <= 0x30C1 && (cp - 0x30AB) % 2 == 0) || cp == 0x30C4 || cp == 0x30C6 || cp == 0x30C8);
    if (cp >= 0x30CF && cp <= 0x30DB) return (cp - 0x30CF) % 3 == 0;
    return cp == 0x30A6;  // ウ -> ヴ
}

bool takes_handakuten(std::uint32_t cp) { return cp >= 0x30CF && cp <= 0x30DB && (cp - 0x30CF) % 3 == 0; }

// Whether `out` ends with the full-width katakana `cp` (3 UTF-8 bytes).
bool ends_with_kana(const std::string& out, std::uint32_t& cp) {
    if (out.size() < 3) return false;
    std::size_t i = out.size() - 3;
    std::uint32_t c = decode(out, i);
    if (c < 0x30A1 || c > 0x30FA) return false;
    cp = c;
    return true;
}

}  // namespace

void fold(std::string_view text, std::string& out) {
    std::size_t i = 0;
    while (i < text.size()) {
        auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x80) {  // the common case, without decoding
            out.push_back(static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte + 32 : byte));
            ++i;
            continue;
        }
        std::size_t start = i;
        std::uint32_t cp = decode(text, i);
        if (cp == 0xFFFFFFFF) {
            out.push_back(text[start]);
            continue;
        }
        if (cp >= 'A' && cp <= 'Z') {
            out.push_back(static_cast<char>(cp + 32));
        } else if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp >= 0xFF01 && cp <= 0xFF5E) {
            std::uint32_t ascii = cp - 0xFF01 + 0x21;
            if (ascii >= 'A' && ascii <= 'Z') ascii += 32;
            out.push_back(static_cast<char>(ascii));
        } else if (cp == 0x3000) {
            out.push_back(' ');
        } else if (cp >= 0xFF61 && cp <= 0xFF9F) {
            std::uint32_t full = halfwidth_kana[cp - 0xFF61];
            std::uint32_t prev = 0;
            if (full == 0x309B && ends_with_kana(out, prev) && takes_dakuten(prev)) {
                out.resize(out.size() - 3);
                append_utf8(out, prev == 0x30A6 ? 0x30F4 : prev + 1);
            } else if (full == 0x309C && ends_with_kana(out, prev) && takes_handakuten(prev)) {
                out.resize(out.size() - 3);
                append_utf8(out, prev + 2);
            } else {
                append_utf8(out, full);
            }
        } else {
            out.append(text.substr(start, i - start));
        }
    }
}

std::string fold(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    fold(text, out);
    return out;
}

bool is_blank(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        std::uint32_t cp = decode(text, i);
        if (cp != ' ' && cp != '\t' && cp != '\n' && cp != '\r' && cp != '\f' && cp != '\v' && cp != 0x3000) return false;
    }
    return true;
}

bool append_scalar(const nlohmann::json& value, std::string& out) {
    switch (value.type()) {
        case nlohmann::json::value_t::string: out += value.get_ref<const std::string&>(); return true;
        case nlohmann::json::value_t::boolean: out += value.get<bool>() ? "true" : "false"; return true;
        case nlohmann::json::value_t::number_integer: out += std::to_string(value.get<std::int64_t>()); return true;
        case nlohmann::json::value_t::number_unsigned: out += std::to_string(value.get<std::uint64_t>()); return true;
        case nlohmann::json::value_t::number_float: {
            double d = value.get<double>();
            if (!std::isfinite(d)) return false;
            if (d == std::trunc(d) && std::fabs(d) < 1e15) {
                out += std::to_string(static_cast<std::int64_t>(d));
                return true;
            }
            char buffer[64];
            auto r = std::to_chars(buffer, buffer + sizeof buffer, d);
            out.append(buffer, r.ptr);
            return true;
        }
        default: return false;
    }
}

std::optional<double> as_number(const nlohmann::json& value) {
    if (value.is_number()) return value.get<double>();
    if (!value.is_string()) return std::nullopt;
    const auto& s = value.get_ref<const std::string&>();
    if (s.empty()) return std::nullopt;
    double d = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
    return d;
}

bool loose_equal(const nlohmann::json& value, const nlohmann::json& operand) {
    if (value.is_number() && operand.is_number()) return value == operand;
    if (value.type() == operand.type()) return value == operand;
    if ((value.is_string() && operand.is_number()) || (value.is_number() && operand.is_string())) {
        auto a = as_number(value);
        auto b = as_number(operand);
        return a && b && *a == *b;
    }
    return false;
}

}  // namespace orderflow::rules::detail
