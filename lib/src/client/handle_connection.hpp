// One client's connection: the twin of the prototype's handle_connection,
// with handle_iamat and handle_whatsat behind it.
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace herd {

boost::asio::awaitable<void> handle_connection(std::shared_ptr<server::state> self,
                                               boost::asio::ip::tcp::socket socket);

} // namespace herd
