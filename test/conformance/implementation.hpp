// Which implementation the conformance suite is holding to the contract.
#pragma once

#include "support/process_herd.hpp"

#include <string>
#include <string_view>

namespace herd::conformance {

struct implementation {
    std::string name;             // cpp, python, node, java-threads, java-netty, or "custom"
    test::server_command command; // how to start one server
};

const implementation& current();

// The two Java references' launchers (each builds its jar if it is stale).
inline test::server_command java_threads_command()
{
    return {HERD_SOURCE_DIR "/reference/java/threads/run --name {name} --config {config}"};
}
inline test::server_command java_netty_command()
{
    return {HERD_SOURCE_DIR "/reference/java/netty/run --name {name} --config {config}"};
}

// Throws std::invalid_argument for an unknown name.
void select(std::string_view name, const std::string& command_template);

} // namespace herd::conformance
