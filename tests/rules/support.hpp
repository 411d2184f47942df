// Helpers shared by the rules tests: loading a ruleset from text with its
// diagnostics printed on failure, and a temporary directory for file tests.
#pragma once

#include "rules/ruleset.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace orderflow::rules::test {

inline std::string all_diagnostics(const load_result& r) {
    std::string out;
    for (const auto& d : r.diagnostics) out += d.to_string() + "\n";
    return out;
}

// Loads `text` and requires it to be valid (warnings allowed).
inline std::shared_ptr<const ruleset> must_load(const std::string& text) {
    auto r = load_text(text, "test.json");
    INFO(all_diagnostics(r));
    REQUIRE(r.ok());
    return r.rules;
}

// Only the error-level diagnostics, formatted.
inline std::vector<std::string> errors_of(const load_result& r) {
    std::vector<std::string> out;
    for (const auto& d : r.diagnostics) {
        if (!d.warning) out.push_back(d.to_string());
    }
    return out;
}

// Only the warnings, formatted.
inline std::vector<std::string> warnings_of(const load_result& r) {
    std::vector<std::string> out;
    for (const auto& d : r.diagnostics) {
        if (d.warning) out.push_back(d.to_string());
    }
    return out;
}

// A fresh directory under the system temp dir, removed when done.
class temp_dir {
public:
    temp_dir() {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() / ("orderflow-rules-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

    std::filesystem::path write(const std::string& name, const std::string& text) const {
        auto p = path_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

private:
    std::filesystem::path path_;
};

}  // namespace orderflow::rules::test
