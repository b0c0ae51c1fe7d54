// The admin endpoint: a small HTTP server (Beast) on each server's admin
// port, loopback by default. GET /status, /clients, /metrics.
#pragma once

#include "server_state.hpp"

#include <string>

namespace herd {

boost::asio::awaitable<void> handle_admin(std::shared_ptr<server::state> self, boost::asio::ip::tcp::socket socket);

// The bodies, built from the server's state.
std::string status_json(const server::state& s);
std::string clients_json(const server::state& s);
std::string metrics_text(const server::state& s);

} // namespace herd
