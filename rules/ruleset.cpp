// The rule file loader: JSONC documents in, a compiled ruleset_data (or a
// list of diagnostics) out. Validation keeps going after an error so that
// one load reports every problem; a rule or template with an error is left
// out, and any error at all means no ruleset is produced. References between
// files (rules naming templates) are resolved after every file is read.
//
// This file holds the loader's frame: reading files within their limits,
// collecting and sorting diagnostics, the top-level keys, templates, and the
// finished ruleset. Rules and their actions are compiled in
// rules/detail/rule_compiler.cpp, conditions in
// rules/detail/condition_compiler.cpp; the class is in rules/detail/loader.hpp.
#include "rules/ruleset.hpp"

#include "rules/detail/io.hpp"
#include "rules/detail/loader.hpp"
#include "rules/detail/text.hpp"
#include "rules/fields.hpp"
#include "rules/jsonc.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace orderflow::rules {

namespace detail {

namespace {

const std::vector<std::string_view> top_keys = {"templates", "rules"};

bool is_template_name(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

}  // namespace

std::string join(const std::vector<std::string_view>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i > 0) out += ", ";
        out += words[i];
    }
    return out;
}

std::string describe(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::string: {
            const auto& s = v.get_ref<const std::string&>();
            return s.size() <= 40 ? "the string \"" + s + "\"" : "a string";
        }
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        case json::value_t::number_float:
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "the number " + v.dump();
        default: return "a value";
    }
}

std::string with_hint(std::string message, const std::string& hint) {
    if (!hint.empty()) message += "; " + hint;
    return message;
}

bool is_locale(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
    if (i < 2 || i > 3) return false;
    while (i < s.size()) {
        if (s[i] != '-') return false;
        std::size_t start = ++i;
        while (i < s.size() && std::isalnum(static_cast<unsigned char>(s[i]))) ++i;
        if (i - start < 2 || i - start > 8) return false;
    }
    return true;
}

void loader::add_file(const std::string& name, std::string_view bytes) {
    ++files_read_;
    note_file(name);
    hash_bytes(name);
    hash_bytes(bytes);
    auto parsed = parse_jsonc(bytes, name);
    if (auto* d = std::get_if<diagnostic>(&parsed)) {
        diags_.push_back(std::move(*d));
        return;
    }
    docs_.push_back(std::move(std::get<jsonc_document>(parsed)));
    add_document(docs_.size() - 1);
}

void loader::add_failure(diagnostic d) {
    note_file(d.file);
    hash_bytes(d.file);
    diags_.push_back(std::move(d));
}

void loader::add_note(diagnostic d) {
    note_file(d.file);
    diags_.push_back(std::move(d));
}

void loader::require_rules(std::string dir) { rules_required_in_ = std::move(dir); }

load_result loader::finish() {
    resolve_templates();
    check_timers();
    // A rules directory emptied by mistake (files moved away, renamed to
    // .jsonc) would otherwise load as a valid set that acts on nothing, and
    // a reload would swap it in. Running without rules is a choice a file
    // states; the error comes only when nothing else is wrong, so it is
    // never noise after a real error.
    if (rules_required_in_ && data_->rules.empty() && !declared_empty_ && error_count() == 0) {
        diagnostic d;
        d.file = *rules_required_in_;
        d.message = (files_read_ == 0 ? std::string("no rule files (*.json) in the rules directory")
                                      : "the rule files here (" + std::to_string(files_read_) + ") hold no rules") +
                    ", so orderflow would act on no event; put the rule files back, or, to run without rules on "
                    "purpose, add a file holding {\"rules\": []}";
        note_file(d.file);
        diags_.push_back(std::move(d));
    }
    load_result result;
    std::stable_sort(diags_.begin(), diags_.end(), [&](const diagnostic& a, const diagnostic& b) {
        auto fa = file_order_[a.file], fb = file_order_[b.file];
        if (fa != fb) return fa < fb;
        if (a.line != b.line) return a.line < b.line;
        return a.column < b.column;
    });
    result.diagnostics = std::move(diags_);
    bool failed = std::any_of(result.diagnostics.begin(), result.diagnostics.end(),
                              [](const diagnostic& d) { return !d.warning; });
    if (failed) return result;
    for (std::size_t i = 0; i < data_->rules.size(); ++i) {
        const auto& r = data_->rules[i];
        if (!r.enabled) continue;
        for (const auto& e : r.on) data_->by_event[e].push_back(i);
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
    data_->hash = hex;
    data_->field_count = field_ids_.size();
    result.rules = std::make_shared<const ruleset>(std::move(data_));
    return result;
}

void loader::note_file(const std::string& name) { file_order_.emplace(name, static_cast<int>(file_order_.size())); }

void loader::hash_bytes(std::string_view bytes) {
    for (unsigned char c : bytes) {
        hash_ ^= c;
        hash_ *= 0x100000001b3ULL;
    }
    hash_ ^= 0;  // a separator byte between name and content
    hash_ *= 0x100000001b3ULL;
}

std::size_t loader::error_count() const {
    return static_cast<std::size_t>(std::count_if(diags_.begin(), diags_.end(), [](const diagnostic& d) { return !d.warning; }));
}

void loader::error(std::size_t doc, const pointer& p, std::string message, bool of_key) {
    diags_.push_back(docs_[doc].error_at(p, std::move(message), of_key));
}

void loader::warning(std::size_t doc, const pointer& p, std::string message, bool of_key) {
    diags_.push_back(docs_[doc].warning_at(p, std::move(message), of_key));
}

// Where `p` was written, kept in the compiled form for rules::explain.
source_position loader::position_of(std::size_t doc, const pointer& p, bool of_key) const {
    auto [line, column] = docs_[doc].position(p, of_key);
    return {line, column};
}

std::string loader::where(const site& s) const {
    auto [line, column] = docs_[s.doc].position(s.ptr, s.of_key);
    return docs_[s.doc].file() + ":" + std::to_string(line) + ":" + std::to_string(column);
}

void loader::add_document(std::size_t doc) {
    const json& root = docs_[doc].root();
    pointer top;
    if (!root.is_object()) {
        error(doc, top, "expected a rule file object with \"templates\" and/or \"rules\", found " + describe(root));
        return;
    }
    for (const auto& [key, value] : root.items()) {
        if (std::find(top_keys.begin(), top_keys.end(), key) == top_keys.end()) {
            error(doc, top / key,
                  with_hint("unknown top-level key \"" + key + "\"; allowed keys: templates, rules",
                            did_you_mean(key, top_keys)),
                  true);
        }
    }
    if (auto it = root.find("templates"); it != root.end()) load_templates(doc, top / "templates", *it);
    if (auto it = root.find("rules"); it != root.end()) {
        if (it->is_array() && it->empty()) declared_empty_ = true;   // running without rules on purpose
        if (!it->is_array()) {
            error(doc, top / "rules", "expected \"rules\" to be an array of rule objects, found " + describe(*it));
        } else {
            for (std::size_t i = 0; i < it->size(); ++i) {
                if (!within_limit(rules_seen_, max_rules, doc, top / "rules" / i, "rules", false)) break;
                compile_rule(doc, top / "rules" / i, (*it)[i]);
            }
        }
    }
}

// Counts one more rule or template against `limit` (ruleset.hpp). The
// first one past it is an error at its place (templates come in name
// order, as nlohmann keeps them); it and all after it, in this file and
// later ones, are not checked, so a huge file costs no more than the limit.
bool loader::within_limit(std::size_t& seen, std::size_t limit, std::size_t doc, const pointer& p, const char* what, bool of_key) {
    if (seen > limit) return false;
    if (++seen <= limit) return true;
    error(doc, p,
          std::string("more than ") + std::to_string(limit) + " " + what + " in the rule files together (the limit); the " +
              what + " from here on were not checked. Remove " + what + " that are not needed or combine similar ones",
          of_key);
    return false;
}

// ---- templates --------------------------------------------------------------

void loader::load_templates(std::size_t doc, const pointer& ptr, const json& node) {
    if (!node.is_object()) {
        error(doc, ptr, "expected \"templates\" to be an object of name -> texts, found " + describe(node));
        return;
    }
    for (const auto& [name, value] : node.items()) {
        pointer p = ptr / name;
        if (!within_limit(templates_seen_, max_templates, doc, p, "templates", true)) break;
        if (!is_template_name(name)) {
            error(doc, p, "template name \"" + name + "\" may use only letters, digits, '_', '-' and '.'", true);
            continue;
        }
        if (auto it = template_sites_.find(name); it != template_sites_.end()) {
            error(doc, p, "duplicate template \"" + name + "\"; first defined at " + where(it->second), true);
            continue;
        }
        template_sites_[name] = site{doc, p, true};
        std::size_t errors = error_count();
        detail::message_template t;
        t.name = name;
        if (value.is_string()) {
            add_variant(doc, p, "", value.get_ref<const std::string&>(), t);
        } else if (value.is_object() && !value.empty()) {
            // nlohmann sorts keys; the file order decides the fallback locale, so restore it.
            std::vector<std::pair<std::pair<int, int>, std::string>> locales;
            for (const auto& [locale, text] : value.items()) locales.push_back({docs_[doc].position(p / locale, true), locale});
            std::sort(locales.begin(), locales.end());
            for (const auto& [position, locale] : locales) {
                const json& text = value.at(locale);
                if (!is_locale(locale)) {
                    error(doc, p / locale, "expected a locale such as \"ja\" or \"en\" as the key, found \"" + locale + "\"", true);
                } else if (!text.is_string()) {
                    error(doc, p / locale, "expected the template text as a string, found " + describe(text));
                } else {
                    add_variant(doc, p / locale, locale, text.get_ref<const std::string&>(), t);
                }
            }
        } else {
            error(doc, p, "expected a template text (string) or an object of locale -> text such as {\"ja\": \"...\", \"en\": \"...\"}, found " + describe(value));
        }
        if (error_count() == errors) {
            template_index_[name] = data_->templates.size();
            data_->templates.push_back(std::move(t));
        }
    }
}

void loader::add_variant(std::size_t doc, const pointer& p, std::string locale, const std::string& text, detail::message_template& t) {
    if (detail::is_blank(text)) {
        error(doc, p, "empty template text");
        return;
    }
    auto compiled = template_text::compile(text);
    if (auto* message = std::get_if<std::string>(&compiled)) {
        error(doc, p, std::move(*message));
        return;
    }
    t.variants.push_back({std::move(locale), std::move(std::get<template_text>(compiled))});
}

void loader::resolve_templates() {
    std::vector<bool> used(data_->templates.size(), false);
    auto has_locale = [](const detail::message_template& t, const std::string& locale) {
        return std::any_of(t.variants.begin(), t.variants.end(),
                           [&](const auto& v) { return v.locale.empty() || v.locale == locale; });
    };
    auto locales_of = [](const detail::message_template& t) {
        std::string out;
        for (const auto& v : t.variants) out += (out.empty() ? "" : ", ") + v.locale;
        return out;
    };
    for (const auto& ref : refs_) {
        if (!template_sites_.count(ref.name)) {
            std::vector<std::string_view> names;
            for (const auto& [n, s] : template_sites_) names.push_back(n);
            std::string hint = did_you_mean(ref.name, names);
            if (hint.empty()) hint = names.empty() ? "no templates are defined" : "defined templates: " + join(names);
            error(ref.doc, ref.name_ptr, with_hint("unknown template \"" + ref.name + "\"", hint));
            continue;
        }
        auto it = template_index_.find(ref.name);
        if (it == template_index_.end()) continue;  // the template itself had an error, already reported
        const auto& t = data_->templates[it->second];
        used[it->second] = true;
        if (!ref.action_locale.empty() && !has_locale(t, ref.action_locale)) {
            error(ref.doc, ref.action_locale_ptr,
                  "template \"" + ref.name + "\" has no \"" + ref.action_locale + "\" text; it has: " + locales_of(t));
        } else if (ref.action_locale.empty() && !ref.rule_locale.empty() && !has_locale(t, ref.rule_locale)) {
            warning(ref.doc, ref.rule_locale_ptr,
                    "template \"" + ref.name + "\" has no \"" + ref.rule_locale +
                        "\" text, so the fallback order applies (docs/rules.md, \"Locales\"); it has: " + locales_of(t));
        }
        if (ref.rule_index != SIZE_MAX) data_->rules[ref.rule_index].then[ref.action_index].template_index = it->second;
    }
    for (std::size_t i = 0; i < used.size(); ++i) {
        if (used[i]) continue;
        const auto& s = template_sites_[data_->templates[i].name];
        warning(s.doc, s.ptr, "template \"" + data_->templates[i].name + "\" is not used by any rule", true);
    }
}

}  // namespace detail

ruleset::ruleset(std::unique_ptr<const detail::ruleset_data> data) : data_(std::move(data)) {}
ruleset::~ruleset() = default;

std::size_t ruleset::size() const { return data_->rules.size(); }
const std::string& ruleset::hash() const { return data_->hash; }

std::vector<std::string> ruleset::rule_ids() const {
    std::vector<std::string> out;
    out.reserve(data_->rules.size());
    for (const auto& r : data_->rules) out.push_back(r.id);
    return out;
}

std::vector<std::string> ruleset::template_names() const {
    std::vector<std::string> out;
    for (const auto& t : data_->templates) out.push_back(t.name);
    std::sort(out.begin(), out.end());
    return out;
}

bool ruleset::handles(std::string_view event) const { return data_->by_event.count(std::string(event)) > 0; }

bool load_result::ok() const {
    return rules != nullptr &&
           std::none_of(diagnostics.begin(), diagnostics.end(), [](const diagnostic& d) { return !d.warning; });
}

namespace {

// The messages spell the limits out for people too.
static_assert(max_rule_file_bytes == 1024 * 1024 && max_rule_directory_bytes == 4 * 1024 * 1024);
const std::string file_limit = "the limit for one rule file is " + std::to_string(max_rule_file_bytes) +
                               " bytes (1 MiB); split it into several files";
const std::string directory_limit = "the limit for all rule files together is " +
                                    std::to_string(max_rule_directory_bytes) +
                                    " bytes (4 MiB); remove files that are not needed";

// Reads `files` into `l`, within the size limits.
void read_files(detail::loader& l, const std::vector<std::filesystem::path>& files) {
    std::uintmax_t total = 0;
    for (const auto& f : files) {
        // Sizes are checked before reading, so an oversized file costs a
        // stat, not its bytes. A file without a size (not a regular file)
        // is bounded by the read itself.
        std::error_code ec;
        const std::uintmax_t size = std::filesystem::file_size(f, ec);
        if (!ec && size > max_rule_file_bytes) {
            l.add_failure(diagnostic{f.string(), 0, 0, "file is " + std::to_string(size) + " bytes; " + file_limit, false});
            continue;
        }
        const std::uintmax_t room = max_rule_directory_bytes - total;
        if (!ec && size > room) {
            l.add_failure(diagnostic{f.string(), 0, 0,
                                     "file is " + std::to_string(size) + " bytes and the rule files before it " +
                                         std::to_string(total) + " bytes; " + directory_limit +
                                         " (this file and the ones after it were not read)",
                                     false});
            break;
        }
        auto bytes = room >= max_rule_file_bytes ? detail::read_file_bytes(f, max_rule_file_bytes, file_limit)
                                                 : detail::read_file_bytes(f, room, directory_limit);
        if (auto* d = std::get_if<diagnostic>(&bytes)) {
            l.add_failure(std::move(*d));
        } else {
            total += std::get<std::string>(bytes).size();
            l.add_file(f.string(), std::get<std::string>(bytes));
        }
    }
}

// A warning for a directory entry that looks like a rule file but is not
// loaded, so that a rule file renamed or linked wrongly is not silently
// missing from the set. Empty when the entry is simply not a rule file.
std::string not_loaded_because(const std::filesystem::directory_entry& entry) {
    namespace fs = std::filesystem;
    const fs::path& path = entry.path();
    std::string ext = path.extension().string();
    std::string lower = ext;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext != ".json") {
        if (lower == ".json" || lower == ".jsonc")
            return "not loaded: only names ending in \".json\" (lower case) are rule files; rename it to " +
                   path.stem().string() + ".json to load it, or move it out of the rules directory";
        return {};
    }
    std::error_code ec, link_ec;
    if (entry.is_regular_file(ec)) return {};
    if (entry.is_symlink(link_ec) && fs::status(path, link_ec).type() == fs::file_type::not_found)
        return "not loaded: a symbolic link to " + fs::read_symlink(path, link_ec).string() + ", which does not exist";
    if (ec) return "not loaded: cannot tell what it is: " + ec.message();
    if (entry.is_directory(ec)) return {};   // subdirectories are ignored, whatever their name
    return "not loaded: not a regular file";
}

}  // namespace

load_result load_files(const std::vector<std::filesystem::path>& files) {
    detail::loader l;
    read_files(l, files);
    return l.finish();
}

load_result load_text(std::string_view text, std::string file_name) {
    detail::loader l;
    if (text.size() > max_rule_file_bytes) {
        l.add_failure(diagnostic{file_name, 0, 0, "file is " + std::to_string(text.size()) + " bytes; " + file_limit, false});
    } else {
        l.add_file(file_name, text);
    }
    return l.finish();
}

load_result load_directory(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    auto failure = [&](std::string message) {
        load_result r;
        r.diagnostics.push_back(diagnostic{dir.string(), 0, 0, std::move(message), false});
        return r;
    };
    std::error_code ec;
    auto status = fs::status(dir, ec);
    if (ec || !fs::exists(status)) {
        return failure("cannot read rules directory: " + (ec ? ec.message() : std::string("No such file or directory")));
    }
    if (!fs::is_directory(status)) return failure("rules directory is not a directory");
    std::vector<fs::path> files;
    std::vector<diagnostic> skipped;
    fs::directory_iterator end;
    for (fs::directory_iterator it(dir, ec); !ec && it != end; it.increment(ec)) {
        const auto& path = it->path();
        std::string name = path.filename().string();
        if (name.empty() || name.front() == '.') continue;
        if (std::string why = not_loaded_because(*it); !why.empty()) {
            skipped.push_back(diagnostic{path.string(), 0, 0, std::move(why), true});
            continue;
        }
        std::error_code type_ec;
        if (path.extension() != ".json" || !it->is_regular_file(type_ec)) continue;
        files.push_back(path);
    }
    if (ec) return failure("cannot read rules directory: " + ec.message());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    std::sort(skipped.begin(), skipped.end(), [](const diagnostic& a, const diagnostic& b) { return a.file < b.file; });
    detail::loader l;
    l.require_rules(dir.string());
    read_files(l, files);
    for (auto& d : skipped) l.add_note(std::move(d));
    return l.finish();
}

}  // namespace orderflow::rules
