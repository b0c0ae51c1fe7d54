// The places source herd.toml asks for: the offline places, or Google's
// (legacy or new) behind the response cache. `auto` picks Google when the
// key's environment variable is set, and logs which it picked.
#pragma once

#include "herd/fwd.hpp"
#include "herd/places.hpp"
#include "herd/topology.hpp"

#include <memory>
#include <stdexcept>

namespace herd {

class places_config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws places_config_error (a Google provider with no key, an unreadable
// CA file) or places_data_error (a broken GeoJSON file).
std::shared_ptr<places_source> make_places_source(boost::asio::io_context& io, const places_config& config,
                                                  const std::shared_ptr<spdlog::logger>& log,
                                                  const env_lookup& env = process_env);

} // namespace herd
