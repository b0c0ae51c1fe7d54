// Asking the places source for a WHATSAT: never fails, never takes longer
// than the configured time-out, and is counted by status and latency.
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <memory>

namespace herd {

boost::asio::awaitable<boost::json::object> ask_places(std::shared_ptr<server::state> self, places_query query);

} // namespace herd
