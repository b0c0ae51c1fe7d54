// One client's connection: the twin of the prototype's handle_connection,
// a thin driver of session_fsm (where handle_iamat and handle_whatsat are).
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace herd {

boost::asio::awaitable<void> handle_connection(std::shared_ptr<server::state> self,
                                               boost::asio::ip::tcp::socket socket);

} // namespace herd
