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

location_store::outcome location_store::update(std::string_view client, location_record record)
{
    auto it = records_.find(client);
    if (it == records_.end()) {
        records_.emplace(std::string(client), std::move(record));
        return outcome::stored;
    }
    if (it->second.at_line == record.at_line) {
        return outcome::duplicate;
    }
    if (!newer_than(record, it->second)) {
        return outcome::stale;
    }
    it->second = std::move(record);
    return outcome::stored;
}

const location_record* location_store::find(std::string_view client) const noexcept
{
    auto it = records_.find(client);
    return it == records_.end() ? nullptr : &it->second;
}

} // namespace herd
