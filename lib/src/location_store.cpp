#include "herd/location_store.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace herd {

namespace {

// The n-th field (from 0) of a line of fields separated by whitespace, as
// split_fields sees them: where it starts and how long it is.
std::pair<std::size_t, std::size_t> field_span(std::string_view line, int n) noexcept
{
    std::size_t at = 0;
    for (int i = 0;; ++i) {
        at = line.find_first_not_of(" \t", at);
        if (at == std::string_view::npos) {
            return {line.size(), 0};
        }
        const std::size_t end = std::min(line.find_first_of(" \t", at), line.size());
        if (i == n) {
            return {at, end - at};
        }
        at = end;
    }
}

} // namespace

location_record location_record::make(std::string at_line, std::int64_t time_ns, geo_point where)
{
    // "AT <server> <skew> <client> <location> <time>"
    const auto [server_at, server_len] = field_span(at_line, 1);
    const auto [client_at, client_len] = field_span(at_line, 3);
    location_record r{std::move(at_line), time_ns, where};
    r.server_at = static_cast<std::uint16_t>(server_at);
    r.server_len = static_cast<std::uint16_t>(server_len);
    r.client_at = static_cast<std::uint16_t>(client_at);
    r.client_len = static_cast<std::uint16_t>(client_len);
    return r;
}

location_record location_record::from(const at_record& parsed, std::string_view at_line)
{
    return make(std::string(at_line), parsed.time_ns, parsed.where);
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

location_store::outcome location_store::update(location_record record, const location_record** kept)
{
    auto it = records_.find(record.client());
    if (it == records_.end()) {
        digest_ ^= record_hash(record.at_line);
        it = records_.insert(std::move(record)).first;
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
