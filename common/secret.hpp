// A holder for secret values (app secret, tokens, vault key).
//
// Secrets are move-only, wiped from memory when destroyed, and have no
// stream or JSON conversion, so they cannot end up in a log line by accident
// (docs/architecture.md, "Error policy"). Call reveal() only at
// the point of use (signing, a header, encryption).
#pragma once

#include <string>
#include <string.h>
#include <utility>

namespace orderflow {

class secret {
public:
    secret() = default;
    explicit secret(std::string value) : value_(std::move(value)) {}
    secret(const secret&) = delete;
    secret& operator=(const secret&) = delete;
    secret(secret&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
    secret& operator=(secret&& other) noexcept {
        if (this != &other) {
            wipe();
            value_ = std::move(other.value_);
            other.wipe();
        }
        return *this;
    }
    ~secret() { wipe(); }

    const std::string& reveal() const { return value_; }
    bool empty() const { return value_.empty(); }
    // An explicit copy, for the rare place that must hold the value twice.
    secret clone() const { return secret(value_); }

private:
    void wipe() noexcept {
        if (!value_.empty()) explicit_bzero(value_.data(), value_.size());
        value_.clear();
    }
    std::string value_;
};

}  // namespace orderflow
