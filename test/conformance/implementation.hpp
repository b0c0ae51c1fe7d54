// Which implementation the conformance suite is holding to the contract.
#pragma once

#include "support/process_herd.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace herd::conformance {

struct implementation {
    std::string name;             // cpp, cpp-tree, python, node, java-threads, java-netty, or "custom"
    test::server_command command; // how to start one server
    std::string herd_toml = {};   // [herd] keys every herd of the suite gets (cpp-tree: broadcast = "tree")
};

const implementation& current();

// The five implementations in this repository: cpp, python, node,
// java-threads, java-netty (the Java launchers build their jars if stale).
std::vector<implementation> in_repository();

// One of in_repository(), or cpp-tree: Herd with broadcast = "tree".
// Throws std::invalid_argument for an unknown name.
void select(std::string_view name, const std::string& command_template);

} // namespace herd::conformance
