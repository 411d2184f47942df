// The comparison the webhook's JSON reader is held to (tests/tikapi/
// json_reader_test.cpp and tests/fuzz/json_fuzz.cpp): the same value with
// the same types, where nlohmann's == calls 0 and 0u equal and parse_webhook's
// callers ask is_number_unsigned(); floats bit for bit (0.0 is not -0.0;
// no NaN is ever parsed). Objects in the same order, as std::map keeps them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstring>

namespace orderflow::testing {

inline bool json_identical(const nlohmann::json& a, const nlohmann::json& b) {
    using json = nlohmann::json;
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case json::value_t::object: {
            if (a.size() != b.size()) return false;
            for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
                if (ia.key() != ib.key() || !json_identical(*ia, *ib)) return false;
            return true;
        }
        case json::value_t::array: {
            if (a.size() != b.size()) return false;
            for (std::size_t i = 0; i < a.size(); ++i)
                if (!json_identical(a[i], b[i])) return false;
            return true;
        }
        case json::value_t::number_float: {
            const double x = a.get<double>(), y = b.get<double>();
            return std::memcmp(&x, &y, sizeof x) == 0;
        }
        default: return a == b;
    }
}

}  // namespace orderflow::testing
