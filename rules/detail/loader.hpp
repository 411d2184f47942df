// The rule file loader's class, shared by the three files that implement it:
// rules/ruleset.cpp (reading files, diagnostics, templates, the result),
// rules/detail/rule_compiler.cpp (rules, actions, guards) and
// rules/detail/condition_compiler.cpp ("if" conditions and their operators).
// One loader lives for one load; nothing outside those files uses it.
#pragma once

#include "rules/detail/compiled.hpp"
#include "rules/diagnostic.hpp"
#include "rules/jsonc.hpp"
#include "rules/ruleset.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace orderflow::rules::detail {

using json = nlohmann::json;
using pointer = json::json_pointer;

// Message helpers used across the loader's files (defined in rules/ruleset.cpp).
std::string join(const std::vector<std::string_view>& words);
// A short description of a JSON value for "found ..." in messages.
std::string describe(const json& v);
std::string with_hint(std::string message, const std::string& hint);
// "ja", "en", "zh-Hant", "pt-BR".
bool is_locale(std::string_view s);

// Where something was written, for "first defined at" and later warnings.
struct site {
    std::size_t doc = 0;
    pointer ptr;
    bool of_key = false;
};

struct template_ref {
    std::size_t doc = 0;
    pointer name_ptr;             // .../send_message/template
    std::string name;
    std::string action_locale;    // explicit, may be empty
    pointer action_locale_ptr;
    std::string rule_locale;
    pointer rule_locale_ptr;
    std::size_t rule_index = SIZE_MAX;  // SIZE_MAX when the rule had errors
    std::size_t action_index = 0;
};

class loader {
public:
    void add_file(const std::string& name, std::string_view bytes);
    void add_failure(diagnostic d);
    // A diagnostic about an entry that was not read (a warning for a name
    // that looks like a rule file): listed, not hashed.
    void add_note(diagnostic d);
    // A load of a rules directory: finish() refuses a load without a single
    // rule unless a file says so with "rules": [] (docs/rules.md, "Files").
    void require_rules(std::string dir);
    load_result finish();

private:
    // rules/ruleset.cpp: files, diagnostics, limits, templates.
    void note_file(const std::string& name);
    void hash_bytes(std::string_view bytes);
    std::size_t error_count() const;
    void error(std::size_t doc, const pointer& p, std::string message, bool of_key = false);
    void warning(std::size_t doc, const pointer& p, std::string message, bool of_key = false);
    source_position position_of(std::size_t doc, const pointer& p, bool of_key = false) const;
    std::string where(const site& s) const;
    void add_document(std::size_t doc);
    bool within_limit(std::size_t& seen, std::size_t limit, std::size_t doc, const pointer& p, const char* what, bool of_key);
    void load_templates(std::size_t doc, const pointer& ptr, const json& node);
    void add_variant(std::size_t doc, const pointer& p, std::string locale, const std::string& text, message_template& t);
    void resolve_templates();

    // rules/detail/rule_compiler.cpp: rules and their actions.
    void compile_rule(std::size_t doc, const pointer& ptr, const json& node);
    void compile_on(std::size_t doc, const pointer& ptr, const json& node, rule& r);
    void scope_warnings(std::size_t doc, const pointer& ptr, const json& node, const rule& r);
    void after_sales_warnings(std::size_t doc, const rule& r, const condition& c);
    bool known_params(std::size_t doc, const pointer& p, const std::string& action, const json& params,
                      const std::vector<std::string_view>& allowed);
    void compile_action(std::size_t doc, const pointer& ptr, const json& node, rule& r, std::vector<template_ref>& refs);
    void compile_flag_review(std::size_t doc, const pointer& p, const json& params, rule& r);
    void compile_update_tracking(std::size_t doc, const pointer& p, const json& params, rule& r);
    void compile_tag(std::size_t doc, const pointer& p, const std::string& name, const json& params, rule& r);
    void compile_schedule(std::size_t doc, const pointer& p, const json& params, rule& r);
    void compile_capture(std::size_t doc, const pointer& p, const json& params, rule& r);
    void anchor_warnings(std::size_t doc, const pointer& ptr, const rule& r);
    bool compile_schedule_anchor(std::size_t doc, const pointer& p, const json& params, action& a);
    bool compile_schedule_offset(std::size_t doc, const pointer& p, const json& params, action& a);
    void check_timers();
    void compile_guards(std::size_t doc, const pointer& p, const json& g, rule& r);
    void compile_stop(std::size_t doc, const pointer& p, const json& params, rule& r);

    // rules/detail/condition_compiler.cpp: conditions.
    void contradiction_warnings(std::size_t doc, const condition& c);
    bool compile_condition(std::size_t doc, const pointer& ptr, const json& node, std::string_view element_list,
                           condition& out);
    bool compile_test(std::size_t doc, const pointer& ptr, const json& ops, field_ref ref, std::string_view element_list,
                      condition& out);
    bool check_value(std::size_t doc, const pointer& p, const json& value, const field_ref& ref, std::string_view element_list,
                     op_kind kind);
    bool check_text_test(std::size_t doc, const pointer& p, const operation& op, const field_ref& ref,
                         std::string_view element_list);

    // rules/detail/package_warnings.cpp: package fields on other events.
    void package_field_warnings(std::size_t doc, const rule& r, const condition& c);

    std::vector<jsonc_document> docs_;
    std::vector<diagnostic> diags_;
    std::unique_ptr<ruleset_data> data_ = std::make_unique<ruleset_data>();
    std::map<std::string, site> rule_sites_;
    std::map<std::string, site> template_sites_;
    std::vector<std::pair<std::string, site>> schedule_sites_;
    std::unordered_map<std::string, std::size_t> template_index_;
    std::vector<template_ref> refs_;
    std::map<std::string, int> file_order_;
    std::unordered_map<std::string, std::uint32_t> field_ids_;
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;
    std::size_t rules_seen_ = 0;       // against max_rules
    std::size_t templates_seen_ = 0;   // against max_templates
    std::size_t files_read_ = 0;
    bool declared_empty_ = false;      // a file has "rules": []
    std::optional<std::string> rules_required_in_;   // require_rules(dir)
    std::string rule_id_;              // the rule being compiled, as written, for messages; empty when it has none
};

}  // namespace orderflow::rules::detail
