#include "peer/receive_record.hpp"

#include "herd/log.hpp"

#include <spdlog/logger.h>

namespace herd {

std::optional<location_store::outcome> receive_record(server::state& self, std::string_view line,
                                                      const std::string& neighbour)
{
    auto record = parse_at_line(line);
    if (!record || self.herd.find(record->server) == nullptr) {
        self.log->warn("peer {} sent something that is not a record: {}", neighbour, escape_for_log(line));
        return std::nullopt;
    }
    ++self.stats.peer_records_received;
    const auto outcome = self.core.store_and_propagate(location_record::from(*record, line), neighbour);
    if (outcome == location_store::outcome::stored) {
        ++self.stats.peer_records_stored;
    }
    log_info_bytes(*self.log, self.log_scratch, {"peer ", neighbour, " > "}, line,
                   outcome == location_store::outcome::stored ? " (stored)" : " (not newer)");
    return outcome;
}

} // namespace herd
