#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace herd::load {

namespace {

constexpr std::uint64_t sub_buckets = std::uint64_t{1} << latency_histogram::sub_bucket_bits;
constexpr std::size_t bucket_count = sub_buckets + (64 - latency_histogram::sub_bucket_bits) * sub_buckets;

} // namespace

latency_histogram::latency_histogram() : counts_(bucket_count, 0) {}

std::size_t latency_histogram::bucket_of(std::uint64_t ns) noexcept
{
    if (ns < sub_buckets) {
        return static_cast<std::size_t>(ns);
    }
    const int exponent = std::bit_width(ns) - 1; // >= sub_bucket_bits
    const int shift = exponent - sub_bucket_bits;
    const std::uint64_t sub = (ns >> shift) - sub_buckets;
    return static_cast<std::size_t>(sub_buckets + static_cast<std::uint64_t>(shift) * sub_buckets + sub);
}

std::uint64_t latency_histogram::highest_in_bucket(std::size_t bucket) noexcept
{
    if (bucket < sub_buckets) {
        return bucket;
    }
    const std::uint64_t shift = (bucket - sub_buckets) / sub_buckets;
    const std::uint64_t sub = (bucket - sub_buckets) % sub_buckets;
    const std::uint64_t lowest = (sub_buckets + sub) << shift;
    return lowest + ((std::uint64_t{1} << shift) - 1);
}

void latency_histogram::record(std::uint64_t ns) noexcept
{
    ++counts_[bucket_of(ns)];
    ++count_;
    sum_ += static_cast<double>(ns);
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
}

void latency_histogram::merge(const latency_histogram& other) noexcept
{
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t latency_histogram::percentile(double percent) const noexcept
{
    if (count_ == 0) {
        return 0;
    }
    const double wanted = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(count_);
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(wanted)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            return std::min(highest_in_bucket(i), max_);
        }
    }
    return max_;
}

} // namespace herd::load
