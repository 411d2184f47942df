// A check warning for the fields only a package event sets (event.sc_type,
// event.role_type, event.package_orders, event.package_status): tested in a
// rule that does not listen to package.updated, they are always missing, so
// the test is almost certainly a mistake (docs/rules.md, "Fields"). Part of
// the loader (loader.hpp).
#include "rules/detail/loader.hpp"

#include <algorithm>
#include <array>

namespace orderflow::rules::detail {

namespace {

constexpr std::array<std::string_view, 4> package_event_fields = {"event.sc_type", "event.role_type", "event.package_orders",
                                                                   "event.package_status"};

std::string listed(const std::vector<std::string>& events) {
    std::string out;
    for (const auto& e : events) out += (out.empty() ? "" : ", ") + e;
    return out;
}

}  // namespace

void loader::package_field_warnings(std::size_t doc, const rule& r, const condition& c) {
    // `on` is compiled before the condition; a rule whose `on` failed has its error already.
    if (r.on.empty() || std::find(r.on.begin(), r.on.end(), "package.updated") != r.on.end()) return;
    for (const auto& child : c.children) package_field_warnings(doc, r, child);
    if (c.k != condition::kind::test) return;
    const auto& path = c.field.path;
    if (std::find(package_event_fields.begin(), package_event_fields.end(), path) == package_event_fields.end()) return;
    diagnostic d;
    d.file = docs_[doc].file();
    d.line = c.at.line;
    d.column = c.at.column;
    d.warning = true;
    d.message = path + " is set only for package.updated, which this rule does not listen to (on: " + listed(r.on) +
                "), so the test always sees it missing; add \"package.updated\" to \"on\"";
    diags_.push_back(std::move(d));
}

}  // namespace orderflow::rules::detail
