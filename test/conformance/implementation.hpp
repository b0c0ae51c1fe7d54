// Which implementation the conformance suite is holding to the contract.
#pragma once

#include "support/process_herd.hpp"

#include <string>
#include <string_view>

namespace herd::conformance {

struct implementation {
    std::string name;             // cpp, python, node, or "custom"
    test::server_command command; // how to start one server
};

const implementation& current();

// Throws std::invalid_argument for an unknown name.
void select(std::string_view name, const std::string& command_template);

} // namespace herd::conformance
