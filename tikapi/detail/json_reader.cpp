// See json_reader.hpp.
#include "tikapi/detail/json_reader.hpp"

#include "common/json_text.hpp"

#include <charconv>
#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace orderflow::tikapi::detail {

namespace {

using json = nlohmann::json;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class reader {
public:
    reader(std::string_view text, std::size_t max_depth)
        : p_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

    bool document(json& out) {
        if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;
        if (!value(out, 0)) return false;
        skip_blanks();
        // nlohmann's lexer takes a NUL byte where a token would start as the
        // end of the input, so whatever follows one after the value is not read.
        return p_ == end_ || *p_ == '\0';
    }

private:
    const char* p_;
    const char* end_;
    std::size_t max_depth_;

    void skip_blanks() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
    }

    bool word(std::string_view w) {
        if (static_cast<std::size_t>(end_ - p_) < w.size() || std::memcmp(p_, w.data(), w.size()) != 0) return false;
        p_ += w.size();
        return true;
    }

    bool value(json& out, std::size_t depth) {
        skip_blanks();
        if (p_ == end_) return false;
        switch (*p_) {
            case '{': return object(out, depth + 1);
            case '[': return array(out, depth + 1);
            case '"': {
                std::string s;
                if (!string(s)) return false;
                out = std::move(s);
                return true;
            }
            case 't':
                if (!word("true")) return false;
                out = true;
                return true;
            case 'f':
                if (!word("false")) return false;
                out = false;
                return true;
            case 'n':
                if (!word("null")) return false;
                out = nullptr;
                return true;
            default: return number(out);
        }
    }

    bool object(json& out, std::size_t depth) {
        if (depth > max_depth_) return false;
        ++p_;   // {
        out = json::object();
        auto& members = *out.get_ptr<json::object_t*>();
        skip_blanks();
        if (p_ < end_ && *p_ == '}') {
            ++p_;
            return true;
        }
        for (;;) {
            skip_blanks();
            if (p_ == end_ || *p_ != '"') return false;
            std::string name;
            if (!string(name)) return false;
            skip_blanks();
            if (p_ == end_ || *p_ != ':') return false;
            ++p_;
            // A repeated name keeps its last value, as in nlohmann's parser.
            auto& slot = members.try_emplace(std::move(name)).first->second;
            if (!value(slot, depth)) return false;
            skip_blanks();
            if (p_ == end_) return false;
            if (*p_ == ',') {
                ++p_;
                continue;
            }
            if (*p_ != '}') return false;
            ++p_;
            return true;
        }
    }

    bool array(json& out, std::size_t depth) {
        if (depth > max_depth_) return false;
        ++p_;   // [
        out = json::array();
        auto& items = *out.get_ptr<json::array_t*>();
        skip_blanks();
        if (p_ < end_ && *p_ == ']') {
            ++p_;
            return true;
        }
        for (;;) {
            items.emplace_back();
            if (!value(items.back(), depth)) return false;
            skip_blanks();
            if (p_ == end_) return false;
            if (*p_ == ',') {
                ++p_;
                continue;
            }
            if (*p_ != ']') return false;
            ++p_;
            return true;
        }
    }

    // From the opening quote; appends the string's text to `out`.
    bool string(std::string& out) {
        ++p_;   // "
        for (;;) {
            const char* run = p_;
            while (p_ < end_) {
                const auto c = static_cast<unsigned char>(*p_);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++p_;
            }
            out.append(run, p_);
            if (p_ == end_) return false;
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                ++p_;
                return true;
            }
            if (c < 0x20) return false;   // a control character must be escaped
            if (!(c == '\\' ? escape(out) : utf8(out))) return false;
        }
    }

    // Four hex digits; -1 when there are not.
    int hex4() {
        if (end_ - p_ < 4) return -1;
        int v = 0;
        for (int i = 0; i < 4; ++i) {
            const int d = hex_value(p_[i]);
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        p_ += 4;
        return v;
    }

    bool escape(std::string& out) {
        if (end_ - p_ < 2) return false;
        const char c = p_[1];
        p_ += 2;
        if (append_simple_escape(out, c)) return true;
        if (c != 'u') return false;
        const int first = hex4();
        if (first < 0) return false;
        std::uint32_t cp = static_cast<std::uint32_t>(first);
        if (first >= 0xD800 && first <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low one.
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            const int second = hex4();
            if (second < 0xDC00 || second > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + static_cast<std::uint32_t>(second - 0xDC00);
        } else if (first >= 0xDC00 && first <= 0xDFFF) {
            return false;
        }
        append_utf8(out, cp);
        return true;
    }

    // One well-formed UTF-8 sequence of two to four bytes (no overlong
    // forms, no surrogates, nothing above U+10FFFF).
    bool utf8(std::string& out) {
        const auto byte = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
        const unsigned char lead = byte(0);
        unsigned char low = 0x80, high = 0xBF;
        std::ptrdiff_t more = 0;
        if (lead >= 0xC2 && lead <= 0xDF) {
            more = 1;
        } else if (lead == 0xE0) {
            more = 2;
            low = 0xA0;
        } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
            more = 2;
        } else if (lead == 0xED) {
            more = 2;
            high = 0x9F;
        } else if (lead == 0xF0) {
            more = 3;
            low = 0x90;
        } else if (lead >= 0xF1 && lead <= 0xF3) {
            more = 3;
        } else if (lead == 0xF4) {
            more = 3;
            high = 0x8F;
        } else {
            return false;
        }
        if (end_ - p_ <= more) return false;
        if (byte(1) < low || byte(1) > high) return false;
        for (std::ptrdiff_t i = 2; i <= more; ++i)
            if (byte(i) < 0x80 || byte(i) > 0xBF) return false;
        out.append(p_, static_cast<std::size_t>(more + 1));
        p_ += more + 1;
        return true;
    }

    bool number(json& out) {
        const char* start = p_;
        bool integral = true;
        if (*p_ == '-') ++p_;
        if (p_ == end_) return false;
        if (*p_ == '0') {
            ++p_;
        } else if (*p_ >= '1' && *p_ <= '9') {
            while (p_ < end_ && is_digit(*p_)) ++p_;
        } else {
            return false;
        }
        if (p_ < end_ && *p_ == '.') {
            integral = false;
            ++p_;
            if (p_ == end_ || !is_digit(*p_)) return false;
            while (p_ < end_ && is_digit(*p_)) ++p_;
        }
        if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
            integral = false;
            ++p_;
            if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (p_ == end_ || !is_digit(*p_)) return false;
            while (p_ < end_ && is_digit(*p_)) ++p_;
        }
        if (integral) {
            if (*start == '-') {
                std::int64_t v = 0;
                if (std::from_chars(start, p_, v).ec == std::errc()) {
                    out = v;
                    return true;
                }
            } else {
                std::uint64_t v = 0;
                if (std::from_chars(start, p_, v).ec == std::errc()) {
                    out = v;
                    return true;
                }
            }
        }
        // A fraction, an exponent, or an integer too large for 64 bits: a
        // double, read as nlohmann reads it (strtod, with the decimal point
        // of the C library's locale), refused when it is not finite.
        std::string token(start, p_);
        const char* point = std::localeconv()->decimal_point;
        if (point != nullptr && *point != '.')
            for (auto& ch : token)
                if (ch == '.') ch = *point;
        const double d = std::strtod(token.c_str(), nullptr);
        if (!std::isfinite(d)) return false;
        out = d;
        return true;
    }
};

}  // namespace

bool read_json(std::string_view text, nlohmann::json& out, std::size_t max_depth) {
    return reader(text, max_depth).document(out);
}

}  // namespace orderflow::tikapi::detail
