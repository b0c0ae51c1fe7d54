// herd-server --check-config: a topology checked and described as the
// servers would read it, without opening a port.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

namespace herd::app {

// Prints the herd `file` describes to `out`: its servers, links and ports,
// peer TLS and membership, places, store and logs. With `name`, also checks
// that server's own files as it would at start (its certificate and key,
// the places data). The exit status: 0, or 2 with the reason on `err`.
int check_config(const std::filesystem::path& file, const std::optional<std::string>& name, std::ostream& out,
                 std::ostream& err);

} // namespace herd::app
