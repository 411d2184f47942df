// Formatting of diagnostics in the compiler-style form editors understand.
#include "rules/diagnostic.hpp"

namespace orderflow::rules {

std::string diagnostic::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ':';
        out += std::to_string(line);
        if (column > 0) {
            out += ':';
            out += std::to_string(column);
        }
    }
    out += warning ? ": warning: " : ": error: ";
    out += message;
    return out;
}

}  // namespace orderflow::rules
