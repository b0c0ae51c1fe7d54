// The admin endpoint: a small HTTP server (Beast) on each server's admin
// port, loopback by default. GET /status, /metrics, /clients (streamed,
// paged by client ID), /clients/ID, and the live view: / (its page,
// /view.js, /view.css), /herd and /places.json.
#pragma once

#include "server_state.hpp"

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace herd {

boost::asio::awaitable<void> handle_admin(std::shared_ptr<server::state> self, boost::asio::ip::tcp::socket socket);

// The bodies, built from the server's state.
std::string status_json(const server::state& s);
std::string metrics_text(const server::state& s);
// The topology: every server's name, host, ports and neighbours, for the
// live view loaded from any one server to reach all of them.
std::string herd_json(const server::state& s);

// Whether `origin` (a request's Origin header) is one of the herd's own
// admin endpoints, http://admin_host:admin_port of some server (any
// loopback spelling when admin_host is loopback). Only those are let read
// the answers across origins: /clients is every client's last position.
bool herd_origin(const server::state& s, std::string_view origin);

// Where a read of /clients stands: the clients after `after` in byte
// order of their IDs, at most `limit` more of them.
struct clients_page {
    std::string after;
    std::size_t limit = std::numeric_limits<std::size_t>::max();
};

// "after=ID&limit=N" (percent-encoded, either or both, in any order);
// nothing for anything else.
std::optional<clients_page> parse_clients_query(std::string_view query);

// Appends up to `count` clients of `page` as JSON members ("ID":{...}),
// a comma before each but the very first (`first` is cleared once one is
// written), and moves the page past them. Returns how many were written:
// fewer than `count` only at the end of the store.
std::size_t append_clients(const location_store& store, clients_page& page, std::size_t count, bool& first,
                           std::string& out);

} // namespace herd
