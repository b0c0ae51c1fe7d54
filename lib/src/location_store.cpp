#include "herd/location_store.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace herd {

static_assert(sizeof(location_record) <= 64, "a record fills one 64-byte slot of the store (docs/benchmarks.md)");

namespace {

// One field's place in its line, as location_record keeps it.
std::uint32_t field_at(std::string_view field, std::string_view found_in)
{
    const std::size_t at = field.empty() ? 0 : static_cast<std::size_t>(field.data() - found_in.data());
    if (at > location_record::max_field_offset || field.size() > location_record::max_field_length) {
        throw std::length_error("an AT line field too far in or too long for a location record");
    }
    return static_cast<std::uint32_t>(at | field.size() << 24);
}

// The record owning `at_line`, whose origin and client are `server` and
// `client`: views into `found_in`, the text the fields were found in (the
// same characters as at_line), so only their offsets are taken from it.
location_record with_fields(std::string at_line, std::string_view found_in, std::string_view server,
                            std::string_view client, std::int64_t time_ns, geo_point where)
{
    location_record r{std::move(at_line), time_ns, where};
    r.server_field = field_at(server, found_in);
    r.client_field = field_at(client, found_in);
    return r;
}

} // namespace

location_record location_record::make(std::string at_line, std::int64_t time_ns, geo_point where)
{
    // "AT <server> <skew> <client> <location> <time>", one space apart as
    // format_at writes it: four finds reach the client, where a split
    // would walk the whole line.
    const std::string_view found_in = at_line;
    std::array<std::size_t, 4> space{};
    std::size_t from = 0;
    for (auto& at : space) {
        at = std::min(found_in.find(' ', from), found_in.size());
        from = std::min(at + 1, found_in.size());
    }
    const auto between = [&](std::size_t a, std::size_t b) {
        const std::size_t first = std::min(a + 1, b);
        return found_in.substr(first, b - first);
    };
    return with_fields(std::move(at_line), found_in, between(space[0], space[1]), between(space[2], space[3]), time_ns,
                       where);
}

location_record location_record::from(const at_record& parsed, std::string_view at_line)
{
    // The parser found the fields already: no second split.
    return with_fields(std::string(at_line), at_line, parsed.server, parsed.client, parsed.time_ns, parsed.where);
}

bool newer_than(const location_record& a, const location_record& b) noexcept
{
    return std::tuple(a.time_ns, a.server(), std::string_view(a.at_line)) >
           std::tuple(b.time_ns, b.server(), std::string_view(b.at_line));
}

namespace {

// A 64-bit hash of the AT line, eight bytes a step (MurmurHash64A's
// mixing): it runs twice on every update, and a byte-at-a-time hash was
// the largest of Herd's own costs per IAMAT. XOR-ing the records' hashes
// makes a digest that is hard to collide by accident.
std::uint64_t record_hash(std::string_view at_line) noexcept
{
    constexpr std::uint64_t m = 0xc6a4a7935bd1e995ULL;
    constexpr int r = 47;
    const auto mix = [](std::uint64_t k) {
        k *= m;
        k ^= k >> r;
        return k * m;
    };
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ (at_line.size() * m);
    const char* p = at_line.data();
    std::size_t n = at_line.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t k = 0;
        std::memcpy(&k, p, 8); // little-endian, as every machine Herd builds on
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

} // namespace

location_store::outcome location_store::update(location_record record, const location_record** kept)
{
    auto it = records_.find(record.client());
    if (it == records_.end()) {
        digest_ ^= record_hash(record.at_line);
        // An insert at the table's maximum load rebuilds it, and iterators
        // into the old one die: a walk under way must start over.
        const bool rebuilds = records_.size() >= records_.max_load();
        const auto buckets = records_.bucket_count();
        it = records_.insert(std::move(record)).first;
        if (rebuilds || records_.bucket_count() != buckets) {
            ++layout_;
        }
        if (kept != nullptr) {
            *kept = &*it;
        }
        return outcome::stored;
    }
    if (it->at_line == record.at_line) {
        return outcome::duplicate;
    }
    if (!newer_than(record, *it)) {
        return outcome::stale;
    }
    digest_ ^= record_hash(it->at_line) ^ record_hash(record.at_line);
    // Set elements are const because the key lives in them; this one keeps
    // its key (the same client ID), so its hash and place stay right.
    const_cast<location_record&>(*it) = std::move(record);
    if (kept != nullptr) {
        *kept = &*it;
    }
    return outcome::stored;
}

const location_record* location_store::find(std::string_view client) const noexcept
{
    auto it = records_.find(client);
    return it == records_.end() ? nullptr : &*it;
}

} // namespace herd
