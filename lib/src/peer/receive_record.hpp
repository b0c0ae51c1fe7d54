// A record from a neighbour, as a flooded line or in a reconciliation
// message: checked, stored (newest wins) and passed on by the node.
#pragma once

#include "server_state.hpp"

#include <string>
#include <string_view>

namespace herd {

void receive_record(server::state& self, std::string_view line, const std::string& neighbour);

} // namespace herd
