// The acceptor side of a peer link: handshake, then records in.
#pragma once

#include "server_state.hpp"

namespace herd {

boost::asio::awaitable<void> handle_peer(std::shared_ptr<server::state> self, boost::asio::ip::tcp::socket socket);

} // namespace herd
