// One record per client, the newest by client time; the twin of the
// prototype's `clients` dict. Pure and synchronous: the server's coroutines
// call it between awaits, all on one io_context, so it needs no locking.
#pragma once

#include "herd/protocol.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace herd {

struct location_record {
    std::string at_line; // exactly as the origin server answered, no '\n'
    std::int64_t time_ns = 0;
    geo_point where;
    std::uint16_t server_len = 0; // the origin's name is at_line[3, 3 + server_len)

    static location_record from(const at_record& parsed, std::string_view at_line);

    std::string_view server() const noexcept { return std::string_view(at_line).substr(3, server_len); }
};

// True when `a` should replace `b`. Newest client time wins; equal times
// are ordered by origin server name and then by the whole AT line, the same
// on every server, so the herd settles on one record per client.
bool newer_than(const location_record& a, const location_record& b) noexcept;

class location_store {
public:
    enum class outcome { stored, stale, duplicate };

    // Stores `record` if it is newer than what is held for `client`.
    // Only `stored` changes the store, and only a stored record travels on.
    outcome update(std::string_view client, location_record record);

    const location_record* find(std::string_view client) const noexcept;

    std::size_t size() const noexcept { return records_.size(); }

    // A digest of the whole store that does not depend on the order records
    // arrived in: two stores with the same records have the same digest.
    // Kept up to date on every change, so it costs nothing to ask.
    std::uint64_t digest() const noexcept { return digest_; }

    // Calls f(client, record) for every client, in no particular order.
    template <typename F> void for_each(F&& f) const
    {
        for (const auto& [client, record] : records_) {
            f(std::string_view(client), record);
        }
    }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, location_record, string_hash, std::equal_to<>> records_;
    std::uint64_t digest_ = 0;
};

} // namespace herd
