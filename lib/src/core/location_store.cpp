#include "core/location_store.hpp"

#include "core/hash64.hpp"

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

location_store::outcome location_store::update(location_record record, const location_record** kept)
{
    auto it = records_.find(record.client());
    if (it == records_.end()) {
        const std::uint64_t hash = record_hash(record.at_line);
        digest_ ^= hash;
        ranges_.add(detail::client_key(record.client()), hash);
        it = records_.insert(std::move(record)).first;
        ids_.insert(it->client());
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
    const std::uint64_t old_hash = record_hash(it->at_line);
    const std::uint64_t new_hash = record_hash(record.at_line);
    digest_ ^= old_hash ^ new_hash;
    const std::uint64_t key = detail::client_key(record.client());
    ranges_.remove(key, old_hash);
    ranges_.add(key, new_hash);
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
