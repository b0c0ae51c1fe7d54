// A 64-bit hash of a string, eight bytes a step (MurmurHash64A's mixing),
// the same on every machine Herd builds on (all little-endian). The store's
// digest XORs it over the AT lines (record_hash); reconciliation places
// records in ranges by it over the client IDs.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace herd {

inline std::uint64_t hash64(std::string_view text) noexcept
{
    constexpr std::uint64_t m = 0xc6a4a7935bd1e995ULL;
    constexpr int r = 47;
    const auto mix = [](std::uint64_t k) {
        k *= m;
        k ^= k >> r;
        return k * m;
    };
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ (text.size() * m);
    const char* p = text.data();
    std::size_t n = text.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t k = 0;
        std::memcpy(&k, p, 8);
        h = (h ^ mix(k)) * m;
    }
    if (n > 0) {
        std::uint64_t k = 0;
        std::memcpy(&k, p, n);
        h = (h ^ k) * m;
    }
    h ^= h >> r;
    h *= m;
    return h ^ (h >> r);
}

// What the store's digest XORs over its records: it runs twice on every
// update, so it must be cheap, and XOR-ing the records' hashes makes a
// digest that is hard to collide by accident.
inline std::uint64_t record_hash(std::string_view at_line) noexcept
{
    return hash64(at_line);
}

} // namespace herd
