// Test support for checking log lines (common/log.hpp writes JSON lines to
// stderr): capture stderr while an object lives, and pick the lines of one
// event. Shared by the tests of every library that logs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace orderflow::testing {

// Captures what is written to stderr (the log) while it lives: for a test
// that checks a log line names what happened.
class log_capture {
public:
    log_capture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
        std::fflush(stderr);
        ::dup2(::fileno(file_), STDERR_FILENO);
    }
    ~log_capture() {
        std::fflush(stderr);
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        std::fclose(file_);
    }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;

    // Stops capturing and returns everything captured.
    std::string finish() {
        std::fflush(stderr);
        ::dup2(saved_, STDERR_FILENO);
        std::string text;
        std::rewind(file_);
        char chunk[4096];
        for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file_)) > 0;) text.append(chunk, n);
        return text;
    }

private:
    std::FILE* file_;
    int saved_;
};

// The JSON log lines of `text` whose event is `event`.
inline std::vector<nlohmann::json> log_lines(const std::string& text, const std::string& event) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.value("event", "") == event) out.push_back(j);
    }
    return out;
}

}  // namespace orderflow::testing
