// Counters and histograms since the process started, for GET /metrics and
// `orderflowctl metrics` (Prometheus text format; the gauges read from the
// database are in admin/metrics.cpp).
//
// One registry per process, like the log: components look up the series
// they touch once (counter(), histogram()) and keep the reference, so
// counting on a hot path is one relaxed atomic add and takes no lock.
// Series are safe to touch from any thread (the webhook listener has its
// own). Every family is declared in telemetry.cpp with its help text, so a
// name cannot be misspelt at a call site: an undeclared family throws.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orderflow::daemon::telemetry {

using labels = std::vector<std::pair<std::string, std::string>>;

class counter {
public:
    void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

// Observations in seconds, counted into fixed buckets (upper bounds).
class histogram {
public:
    explicit histogram(const std::vector<double>& bounds);
    void observe(double seconds);
    std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

    const std::vector<double>& bounds() const { return bounds_; }
    std::uint64_t in_bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }   // not cumulative; last: above every bound
    double sum() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_ns_{0};
};

// The series of a declared family with these labels, made on first use
// (with value 0). The reference stays valid for the life of the process.
counter& count(std::string_view family, const labels& l = {});
histogram& timing(std::string_view family, const labels& l = {});

// Every series of every family, in the text exposition format, families in
// name order. Families without a series yet are left out.
std::string render();

}  // namespace orderflow::daemon::telemetry
