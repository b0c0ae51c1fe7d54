#include "core/range_index.hpp"

#include "core/hash64.hpp"

namespace herd::detail {

std::uint64_t client_key(std::string_view client) noexcept
{
    // The same hash as record_hash's, over another string: the two are
    // never compared with each other.
    return hash64(client);
}

void range_index::add(std::uint64_t key, std::uint64_t record) noexcept
{
    for (unsigned d = 0; d <= index_depth; ++d) {
        levels_[d][range_slot(key, d)].add(record);
    }
}

void range_index::remove(std::uint64_t key, std::uint64_t record) noexcept
{
    for (unsigned d = 0; d <= index_depth; ++d) {
        levels_[d][range_slot(key, d)].remove(record);
    }
}

fingerprint range_index::of(const key_range& r) const noexcept
{
    if (r.depth > index_depth) {
        return {};
    }
    return levels_[r.depth][range_slot(r.prefix, r.depth)];
}

} // namespace herd::detail
