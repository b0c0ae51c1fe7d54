// Latency histogram in the HDR style: exact below 128 ns, then 128 linear
// sub-buckets per power of two, so every recorded value is kept to within
// 1/128 (0.8%) of itself from nanoseconds to hours in 7424 counters, and
// percentiles at the tail (p99.9) are as precise as the median.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace herd::load {

class latency_histogram {
public:
    latency_histogram();

    void record(std::uint64_t ns) noexcept;
    void merge(const latency_histogram& other) noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    std::uint64_t max() const noexcept { return max_; }
    double mean() const noexcept { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

    // The smallest value that `percent` per cent of the recorded values are
    // at or below, as the top of its bucket (HDR's "highest equivalent
    // value"), never above the largest value recorded. 0 when empty.
    std::uint64_t percentile(double percent) const noexcept;

    static constexpr int sub_bucket_bits = 7;

    // Exposed for the tests: which counter a value lands in, and the
    // largest value that lands in the same one.
    static std::size_t bucket_of(std::uint64_t ns) noexcept;
    static std::uint64_t highest_in_bucket(std::size_t bucket) noexcept;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    double sum_ = 0; // ns; a double keeps the mean exact enough past 2^64
};

} // namespace herd::load
