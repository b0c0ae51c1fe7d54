// One sweeper for all of a server's clients, as Redis's clientsCron.
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>

namespace herd {

boost::asio::awaitable<void> sweep_clients(std::shared_ptr<server::state> self);

} // namespace herd
