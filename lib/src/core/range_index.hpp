// The store's fingerprints by range of client key, for reconciliation
// (lib/src/peer/reconciliation.hpp): kept up to date on every change to the
// store, so that comparing a range with a neighbour's costs one look-up
// rather than a walk of the store.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace herd::detail {

// A stable 64-bit hash of a client ID (the same on every machine and
// build: std::hash is neither), whose top bits place a record in ranges.
std::uint64_t client_key(std::string_view client) noexcept;

// Which of the 16^depth ranges of that depth holds `key`, in key order.
inline std::size_t range_slot(std::uint64_t key, unsigned depth) noexcept
{
    return depth == 0 ? 0 : static_cast<std::size_t>(key >> (64 - 4 * depth));
}

struct key_range {
    static constexpr unsigned max_depth = 16; // nibbles of a 64-bit key
    std::uint64_t prefix = 0;                 // the key's top 4 * depth bits; the rest zero
    unsigned depth = 0;

    bool contains(std::uint64_t key) const noexcept
    {
        return depth == 0 || (key >> (64 - 4 * depth)) == (prefix >> (64 - 4 * depth));
    }
    key_range child(unsigned nibble) const noexcept
    {
        return {prefix | (std::uint64_t{nibble} << (60 - 4 * depth)), depth + 1};
    }
    bool operator==(const key_range&) const = default;
};

struct fingerprint {
    std::uint64_t hash = 0; // XOR of record_hash over the range's records
    std::uint64_t count = 0;
    void add(std::uint64_t record) noexcept
    {
        hash ^= record;
        ++count;
    }
    void remove(std::uint64_t record) noexcept
    {
        hash ^= record;
        --count;
    }
    bool operator==(const fingerprint&) const = default;
};

// Fingerprints of every range down to index_depth nibbles. 65,536 leaves
// at depth 4, about 1.1 MB a store: at 1,000,000 records a leaf holds
// about 15.
class range_index {
public:
    static constexpr unsigned index_depth = 4;

    void add(std::uint64_t key, std::uint64_t record) noexcept;
    void remove(std::uint64_t key, std::uint64_t record) noexcept;
    // Exact for ranges down to index_depth; deeper ranges are not indexed.
    fingerprint of(const key_range& r) const noexcept;

private:
    // levels_[d] holds the 16^d ranges of depth d, in key order.
    std::array<std::vector<fingerprint>, index_depth + 1> levels_ = [] {
        std::array<std::vector<fingerprint>, index_depth + 1> l;
        for (unsigned d = 0; d <= index_depth; ++d) {
            l[d].resize(std::size_t{1} << (4 * d));
        }
        return l;
    }();
};

} // namespace herd::detail
