// What the JSON readers share: a code point written as UTF-8 and the
// character of a one-letter backslash escape. The rule files' JSONC parser
// (rules/jsonc.cpp) and the webhook's reader (tikapi/detail/json_reader.cpp)
// both decode strings with them.
#pragma once

#include <cstdint>
#include <string>

namespace orderflow {

// Appends `cp` (at most U+10FFFF, not a surrogate) to `out` as UTF-8.
inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// For the letter after a backslash: appends what `\"`, `\\`, `\/`, `\b`,
// `\f`, `\n`, `\r` or `\t` stands for and returns true; false for any
// other letter (`u` included: its four hex digits are the caller's).
inline bool append_simple_escape(std::string& out, char letter) {
    switch (letter) {
        case '"': out.push_back('"'); return true;
        case '\\': out.push_back('\\'); return true;
        case '/': out.push_back('/'); return true;
        case 'b': out.push_back('\b'); return true;
        case 'f': out.push_back('\f'); return true;
        case 'n': out.push_back('\n'); return true;
        case 'r': out.push_back('\r'); return true;
        case 't': out.push_back('\t'); return true;
        default: return false;
    }
}

}  // namespace orderflow
