#include "herd/location_store.hpp"

#include <tuple>

namespace herd {

location_record location_record::from(const at_record& parsed, std::string_view at_line)
{
    return {std::string(at_line), parsed.time_ns, parsed.where, static_cast<std::uint16_t>(parsed.server.size())};
}

bool newer_than(const location_record& a, const location_record& b) noexcept
{
    return std::tuple(a.time_ns, a.server(), std::string_view(a.at_line)) >
           std::tuple(b.time_ns, b.server(), std::string_view(b.at_line));
}

namespace {

// FNV-1a over the AT line, then a 64-bit finaliser, so that XOR-ing the
// records' hashes makes a digest that is hard to collide by accident.
std::uint64_t record_hash(std::string_view at_line) noexcept
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : at_line) {
        h = (h ^ c) * 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

} // namespace

location_store::outcome location_store::update(std::string_view client, location_record record)
{
    auto it = records_.find(client);
    if (it == records_.end()) {
        digest_ ^= record_hash(record.at_line);
        records_.emplace(std::string(client), std::move(record));
        return outcome::stored;
    }
    if (it->second.at_line == record.at_line) {
        return outcome::duplicate;
    }
    if (!newer_than(record, it->second)) {
        return outcome::stale;
    }
    digest_ ^= record_hash(it->second.at_line) ^ record_hash(record.at_line);
    it->second = std::move(record);
    return outcome::stored;
}

const location_record* location_store::find(std::string_view client) const noexcept
{
    auto it = records_.find(client);
    return it == records_.end() ? nullptr : &it->second;
}

} // namespace herd
