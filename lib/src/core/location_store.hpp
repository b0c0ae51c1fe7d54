// One record per client, the newest by client time; the twin of the
// prototype's `clients` dict. Pure and synchronous: the server's coroutines
// call it between awaits, all on one io_context, so it needs no locking.
#pragma once

#include "core/range_index.hpp"
#include "core/sorted_ids.hpp"
#include "protocol/protocol.hpp"

#include <boost/unordered/unordered_flat_set.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace herd {

struct location_record {
    std::string at_line; // exactly as the origin server answered, no '\n'
    std::int64_t time_ns = 0;
    geo_point where;
    // Where the origin's name and the client ID sit in at_line: the client
    // ID is kept once, inside the line, not again as a key. Each field is
    // its offset in the low 24 bits and its length in the high 8, which
    // keeps the record, and the store's slot, at 64 bytes. Every line Herd
    // stores fits: a peer line is at most 1 MiB (limits.peer_line_bytes),
    // a client ID at most 255 bytes and a server name at most 64; make()
    // and from() throw std::length_error for a line that does not.
    std::uint32_t server_field = 0;
    std::uint32_t client_field = 0;

    static constexpr std::size_t max_field_offset = (std::size_t{1} << 24) - 1;
    static constexpr std::size_t max_field_length = 255;

    // A record for an AT line as format_at writes it (one space between
    // fields), whose time and place are already parsed.
    static location_record make(std::string at_line, std::int64_t time_ns, geo_point where);
    // A record for `at_line`, the line `parsed` was parsed from.
    static location_record from(const at_record& parsed, std::string_view at_line);

    std::string_view server() const noexcept { return field(server_field); }
    std::string_view client() const noexcept { return field(client_field); }

private:
    std::string_view field(std::uint32_t f) const noexcept
    {
        return std::string_view(at_line).substr(f & max_field_offset, f >> 24);
    }
};

// True when `a` should replace `b`. Newest client time wins; equal times
// are ordered by origin server name and then by the whole AT line, the same
// on every server, so the herd settles on one record per client.
bool newer_than(const location_record& a, const location_record& b) noexcept;

class location_store {
public:
    enum class outcome { stored, stale, duplicate };

    // Stores `record` if it is newer than what is held for its client.
    // Only `stored` changes the store, and only a stored record travels on;
    // `kept`, if given, is then set to the stored copy.
    outcome update(location_record record, const location_record** kept = nullptr);

    // Valid until the next update().
    const location_record* find(std::string_view client) const noexcept;

    std::size_t size() const noexcept { return records_.size(); }

    // A digest of the whole store that does not depend on the order records
    // arrived in: two stores with the same records have the same digest.
    // Kept up to date on every change, so it costs nothing to ask.
    std::uint64_t digest() const noexcept { return digest_; }

    // The digest and count of every range of client keys down to a depth,
    // for reconciliation; the whole range is digest() and size().
    const detail::range_index& ranges() const noexcept { return ranges_; }

    // Calls f(client, record) for every client, in no particular order.
    template <typename F> void for_each(F&& f) const
    {
        for (const auto& record : records_) {
            f(record.client(), record);
        }
    }

    // Calls f(client, record) for the clients whose IDs come after `after`
    // in byte order (all of them if it is empty), in that order, while f
    // returns true. Resuming after the last client seen cannot skip or
    // repeat a client, however the store changed in between.
    template <typename F> void for_each_after(std::string_view after, F&& f) const
    {
        ids_.each_after(after, [&](std::string_view client) { return f(client, *find(client)); });
    }

private:
    // Records are found by the client ID inside them.
    struct by_client {
        using is_transparent = void;
        static std::string_view key(std::string_view client) noexcept { return client; }
        static std::string_view key(const location_record& r) noexcept { return r.client(); }
        template <typename T> std::size_t operator()(const T& x) const noexcept
        {
            return std::hash<std::string_view>{}(key(x));
        }
        template <typename A, typename B> bool operator()(const A& a, const B& b) const noexcept
        {
            return key(a) == key(b);
        }
    };
    // Open addressing (Boost 1.81's flat set): one probe of a metadata
    // group and one of the slot per lookup, 64 bytes a slot, where
    // std::unordered_map chases a node and a bucket list per lookup.
    using record_set = boost::unordered_flat_set<location_record, by_client, by_client>;

    record_set records_;
    std::uint64_t digest_ = 0;
    detail::sorted_ids ids_; // the same clients in ID order, for for_each_after
    detail::range_index ranges_;
};

} // namespace herd
