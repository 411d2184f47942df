// The JSONC parser: a recursive-descent reader over the raw bytes that tracks
// line and column (in UTF-8 characters) and records where each value and key
// starts, keyed by JSON pointer. It stops at the first syntax error, since
// after one the rest of the file cannot be read reliably.
#include "rules/jsonc.hpp"

#include "rules/detail/io.hpp"
#include "rules/detail/text.hpp"

#include <cerrno>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>

namespace orderflow::rules {

namespace detail {

namespace {

// RFC 6901 escaping of one reference token, as json_pointer::to_string does.
void append_token(std::string& path, std::string_view token) {
    path.push_back('/');
    for (char c : token) {
        if (c == '~') {
            path += "~0";
        } else if (c == '/') {
            path += "~1";
        } else {
            path.push_back(c);
        }
    }
}

// Length of the UTF-8 sequence starting at text[i], or 0 when invalid.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
    auto b = static_cast<unsigned char>(text[i]);
    std::size_t len;
    std::uint32_t cp;
    if (b < 0x80) return 1;
    if ((b & 0xE0) == 0xC0) {
        len = 2;
        cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
        len = 3;
        cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
        len = 4;
        cp = b & 0x07;
    } else {
        return 0;
    }
    if (i + len > text.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        auto c = static_cast<unsigned char>(text[i + k]);
        if ((c & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

class jsonc_parser {
public:
    jsonc_parser(std::string_view text, std::string file) : text_(text) { doc_.file_ = std::move(file); }

    std::variant<jsonc_document, diagnostic> run() {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 byte order mark
        if (!skip_space()) return *error_;
        if (at_end()) {
            fail("expected a JSON value, found end of input");
            return *error_;
        }
        if (!parse_value(doc_.root_, 0)) return *error_;
        if (!skip_space()) return *error_;
        if (!at_end()) {
            fail("expected end of input after the top-level value, found " + found());
            return *error_;
        }
        return std::move(doc_);
    }

private:
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return text_[pos_]; }

    void advance() {
        char c = text_[pos_++];
        if (c == '\n') {
            ++line_;
            column_ = 1;
        } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            // Each character has exactly one non-continuation byte.
            ++column_;
        }
    }

    // What stands at the current position, for "found ..." in messages.
    std::string found() const {
        if (at_end()) return "end of input";
        char c = peek();
        if (c == '\n' || c == '\r') return "end of line";
        if (c == '\t') return "a tab";
        auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7F) return "control character " + std::to_string(b);
        std::size_t len = utf8_sequence(text_, pos_);
        if (len == 0) return "an invalid UTF-8 byte";
        return "'" + std::string(text_.substr(pos_, len)) + "'";
    }

    bool fail(std::string message) { return fail_at(line_, column_, std::move(message)); }

    bool fail_at(int line, int column, std::string message) {
        if (!error_) error_ = diagnostic{doc_.file_, line, column, std::move(message), false};
        return false;
    }

    // Skips whitespace and comments; false on an unterminated comment.
    bool skip_space() {
        while (!at_end()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                advance();
            } else if (c == '/') {
                int line = line_, column = column_;
                advance();
                if (at_end() || (peek() != '/' && peek() != '*')) {
                    return fail_at(line, column, "expected '//' or '/*' to start a comment, found '/' followed by " + found());
                }
                if (peek() == '/') {
                    while (!at_end() && peek() != '\n') advance();
                } else {
                    advance();
                    bool closed = false;
                    while (!at_end()) {
                        if (peek() == '*' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
                            advance();
                            advance();
                            closed = true;
                            break;
                        }
                        advance();
                    }
                    if (!closed) return fail_at(line, column, "unterminated '/*' comment: expected '*/' before end of input");
                }
            } else {
                break;
            }
        }
        return true;
    }

    bool parse_value(nlohmann::json& out, int depth) {
        doc_.values_[path_] = {line_, column_};
        // `depth` counts the arrays and objects around this value, so this
        // one would be level depth + 1.
        if ((peek() == '{' || peek() == '[') && depth >= max_jsonc_depth) {
            return fail("nested deeper than " + std::to_string(max_jsonc_depth) +
                        " levels of [ and {, the limit for rule and config files; rules need far fewer, so flatten the nesting");
        }
        char c = peek();
        if (c == '{') return parse_object(out, depth);
        if (c == '[') return parse_array(out, depth);
        if (c == '"') {
            std::string s;
            if (!parse_string(s)) return false;
            out = std::move(s);
            return true;
        }
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(out);
        if (c == 't') return parse_word("true", true, out);
        if (c == 'f') return parse_word("false", false, out);
        if (c == 'n') return parse_word("null", nullptr, out);
        if (c == '\'') return fail("strings use double quotes, found '");
        return fail("expected a JSON value (object, array, string, number, true, false or null), found " + found());
    }

    bool parse_word(std::string_view word, nlohmann::json value, nlohmann::json& out) {
        std::size_t end = pos_;
        while (end < text_.size() && std::isalnum(static_cast<unsigned char>(text_[end]))) ++end;
        if (text_.substr(pos_, end - pos_) != word) {
            return fail("expected a JSON value (object, array, string, number, true, false or null), found '" +
                        std::string(text_.substr(pos_, end - pos_)) + "'");
        }
        while (pos_ < end) advance();
        out = std::move(value);
        return true;
    }

    bool parse_object(nlohmann::json& out, int depth) {
        out = nlohmann::json::object();
        advance();  // '{'
        if (!skip_space()) return false;
        if (!at_end() && peek() == '}') {
            advance();
            return true;
        }
        while (true) {
            if (at_end() || peek() != '"') {
                if (!at_end() && peek() == '}') return fail("expected a string key after ',', found '}' (trailing commas are not allowed)");
                return fail("expected a string key in double quotes, found " + found());
            }
            int key_line = line_, key_column = column_;
            std::string key;
            if (!parse_string(key)) return false;
            std::size_t saved = path_.size();
            append_token(path_, key);
            if (out.contains(key)) {
                auto first = doc_.keys_[path_];
                path_.resize(saved);
                return fail_at(key_line, key_column,
                               "duplicate key \"" + key + "\" (first at line " + std::to_string(first.first) + ", column " +
                                   std::to_string(first.second) + ")");
            }
            doc_.keys_[path_] = {key_line, key_column};
            if (!skip_space()) return false;
            if (at_end() || peek() != ':') return fail("expected ':' after object key \"" + key + "\", found " + found());
            advance();
            if (!skip_space()) return false;
            if (at_end()) return fail("expected a value for key \"" + key + "\", found end of input");
            nlohmann::json& slot = out[key];
            if (!parse_value(slot, depth + 1)) return false;
            path_.resize(saved);
            if (!skip_space()) return false;
            if (!at_end() && peek() == ',') {
                advance();
                if (!skip_space()) return false;
                continue;
            }
            if (!at_end() && peek() == '}') {
                advance();
                return true;
            }
            return fail("expected ',' or '}' after object member, found " + found());
        }
    }

    bool parse_array(nlohmann::json& out, int depth) {
        out = nlohmann::json::array();
        advance();  // '['
        if (!skip_space()) return false;
        if (!at_end() && peek() == ']') {
            advance();
            return true;
        }
        std::size_t index = 0;
        while (true) {
            if (at_end()) return fail("expected a value or ']', found end of input");
            if (peek() == ']') return fail("expected a value after ',', found ']' (trailing commas are not allowed)");
            std::size_t saved = path_.size();
            path_ += '/';
            path_ += std::to_string(index);
            out.push_back(nullptr);
            if (!parse_value(out.back(), depth + 1)) return false;
            path_.resize(saved);
            ++index;
            if (!skip_space()) return false;
            if (!at_end() && peek() == ',') {
                advance();
                if (!skip_space()) return false;
                continue;
            }
            if (!at_end() && peek() == ']') {
                advance();
                return true;
            }
            return fail("expected ',' or ']' after array element, found " + found());
        }
    }

    bool parse_string(std::string& out) {
        int start_line = line_, start_column = column_;
        advance();  // opening quote
        while (true) {
            if (at_end()) return fail_at(start_line, start_column, "unterminated string: expected a closing '\"' before end of input");
            auto b = static_cast<unsigned char>(peek());
            if (b == '"') {
                advance();
                return true;
            }
            if (b == '\n') return fail_at(start_line, start_column, "unterminated string: expected a closing '\"' before end of line");
            if (b < 0x20) return fail("control character " + std::to_string(b) + " in string; write it as an escape such as \\n or \\t");
            if (b == '\\') {
                if (!parse_escape(out)) return false;
                continue;
            }
            std::size_t len = utf8_sequence(text_, pos_);
            if (len == 0) return fail("invalid UTF-8 in string");
            out.append(text_.substr(pos_, len));
            for (std::size_t k = 0; k < len; ++k) advance();
        }
    }

    std::optional<std::uint32_t> read_hex4() {
        if (pos_ + 4 > text_.size()) return std::nullopt;
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            int d = hex_digit(text_[pos_ + k]);
            if (d < 0) return std::nullopt;
            v = v * 16 + static_cast<std::uint32_t>(d);
        }
        for (int k = 0; k < 4; ++k) advance();
        return v;
    }

    bool parse_escape(std::string& out) {
        int line = line_, column = column_;
        advance();  // backslash
        if (at_end()) return fail_at(line, column, "unterminated escape sequence at end of input");
        char c = peek();
        advance();
        if (append_simple_escape(out, c)) return true;
        if (c != 'u') {
            return fail_at(line, column, "unknown escape sequence '\\" + std::string(1, c) +
                                             "'; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
        }
        auto cp = read_hex4();
        if (!cp) return fail_at(line, column, "expected four hex digits after \\u");
        if (*cp >= 0xDC00 && *cp <= 0xDFFF) return fail_at(line, column, "unpaired UTF-16 low surrogate in \\u escape");
        if (*cp >= 0xD800 && *cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") return fail_at(line, column, "expected a \\u low surrogate after a high surrogate");
            advance();
            advance();
            auto low = read_hex4();
            if (!low || *low < 0xDC00 || *low > 0xDFFF) {
                return fail_at(line, column, "expected a \\u low surrogate after a high surrogate");
            }
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
        }
        detail::append_utf8(out, *cp);
        return true;
    }

    bool parse_number(nlohmann::json& out) {
        std::size_t start = pos_;
        std::size_t i = pos_;
        auto digit = [&](std::size_t k) { return k < text_.size() && text_[k] >= '0' && text_[k] <= '9'; };
        bool is_float = false;
        if (text_[i] == '-') ++i;
        if (!digit(i)) return fail("expected a digit in number, found " + (i < text_.size() ? "'" + std::string(1, text_[i]) + "'" : std::string("end of input")));
        if (text_[i] == '0' && digit(i + 1)) return fail("numbers must not have leading zeros");
        while (digit(i)) ++i;
        if (i < text_.size() && text_[i] == '.') {
            is_float = true;
            ++i;
            if (!digit(i)) return fail("expected a digit after '.' in number");
            while (digit(i)) ++i;
        }
        if (i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
            is_float = true;
            ++i;
            if (i < text_.size() && (text_[i] == '+' || text_[i] == '-')) ++i;
            if (!digit(i)) return fail("expected a digit in the exponent of number");
            while (digit(i)) ++i;
        }
        const char* first = text_.data() + start;
        const char* last = text_.data() + i;
        bool done = false;
        if (!is_float) {
            std::int64_t v = 0;
            auto r = std::from_chars(first, last, v);
            if (r.ec == std::errc() && r.ptr == last) {
                out = v;
                done = true;
            } else if (text_[start] != '-') {
                std::uint64_t u = 0;
                auto ru = std::from_chars(first, last, u);
                if (ru.ec == std::errc() && ru.ptr == last) {
                    out = u;
                    done = true;
                }
            }
        }
        if (!done) {
            double d = 0;
            auto r = std::from_chars(first, last, d);
            if (r.ec != std::errc() || r.ptr != last) return fail("number out of range");
            out = d;
        }
        while (pos_ < i) advance();
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    int line_ = 1;
    int column_ = 1;
    std::string path_;
    std::optional<diagnostic> error_;
    jsonc_document doc_;
};

std::variant<std::string, diagnostic> read_file_bytes(const std::filesystem::path& path, std::uintmax_t max_bytes,
                                                      std::string_view too_large) {
    auto failed = [&](int err) {
        return diagnostic{path.string(), 0, 0, std::string("cannot read file: ") + std::strerror(err), false};
    };
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return failed(errno);
    std::string bytes;
    char buffer[65536];
    bool over = false;
    while (true) {
        std::size_t n = std::fread(buffer, 1, sizeof buffer, f);
        bytes.append(buffer, n);
        // A file that grew since its size was checked, or one with no size
        // (a pipe, a device), stops here rather than filling memory.
        if (bytes.size() > max_bytes) {
            over = true;
            break;
        }
        if (n < sizeof buffer) break;
    }
    int err = !over && std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err != 0) return failed(err);
    if (over) {
        return diagnostic{path.string(), 0, 0,
                          "file is larger than " + std::to_string(max_bytes) + " bytes; " + std::string(too_large), false};
    }
    return bytes;
}

}  // namespace detail

std::pair<int, int> jsonc_document::position(const nlohmann::json::json_pointer& ptr, bool of_key) const {
    nlohmann::json::json_pointer p = ptr;
    if (of_key) {
        if (auto it = keys_.find(p.to_string()); it != keys_.end()) return it->second;
    }
    while (true) {
        if (auto it = values_.find(p.to_string()); it != values_.end()) return it->second;
        if (p.empty()) return {0, 0};
        p = p.parent_pointer();
    }
}

diagnostic jsonc_document::error_at(const nlohmann::json::json_pointer& ptr, std::string message, bool of_key) const {
    auto [line, column] = position(ptr, of_key);
    return diagnostic{file_, line, column, std::move(message), false};
}

diagnostic jsonc_document::warning_at(const nlohmann::json::json_pointer& ptr, std::string message, bool of_key) const {
    auto d = error_at(ptr, std::move(message), of_key);
    d.warning = true;
    return d;
}

std::variant<jsonc_document, diagnostic> parse_jsonc(std::string_view text, std::string file_name) {
    return detail::jsonc_parser(text, std::move(file_name)).run();
}

std::variant<jsonc_document, diagnostic> read_jsonc_file(const std::filesystem::path& path) {
    auto bytes = detail::read_file_bytes(path);
    if (auto* d = std::get_if<diagnostic>(&bytes)) return std::move(*d);
    return parse_jsonc(std::get<std::string>(bytes), path.string());
}

}  // namespace orderflow::rules
