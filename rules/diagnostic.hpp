// A message about a rule, template or config file, pointing at the exact place
// (file:line:column) that needs fixing. Loading collects every diagnostic it
// finds rather than stopping at the first, so an operator can fix a whole file
// in one pass (docs/rules.md, "Load errors": each error names the file, line
// and column and says what was expected).
#pragma once

#include <string>

namespace orderflow::rules {

struct diagnostic {
    std::string file;
    int line = 0;       // 1-based; 0 when unknown (for example an unreadable file)
    int column = 0;     // 1-based, counted in UTF-8 characters; 0 when unknown
    std::string message;  // what was found and what was expected
    bool warning = false;

    // "file:line:column: error: message"; "warning:" for warnings; the
    // line and column are left out when unknown ("file: error: message").
    std::string to_string() const;
};

}  // namespace orderflow::rules
