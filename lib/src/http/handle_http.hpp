// One connection to the HTTP port (docs/http.md): requests of the JSON
// API, kept alive and answered in order, until one upgrades it to a
// WebSocket (websocket_sessions.hpp).
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace herd {

boost::asio::awaitable<void> handle_http(std::shared_ptr<server::state> self, boost::asio::ip::tcp::socket socket);

} // namespace herd
