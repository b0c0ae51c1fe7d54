// A record from a neighbour, as a flooded line or in a reconciliation
// message: checked, stored (newest wins) and passed on by the node.
#pragma once

#include "server_state.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace herd {

// What the store made of it; nothing: not a record (logged).
std::optional<location_store::outcome> receive_record(server::state& self, std::string_view line,
                                                      const std::string& neighbour);

} // namespace herd
