// The two WebSockets of the HTTP port (docs/http.md), each one coroutine
// per connection, for either stream (http_stream.hpp): /v1/lines speaks the
// line protocol a message at a time, /v1/stream pushes the records this
// server stores to its subscriptions.
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <memory>
#include <string>

namespace herd {

template <typename Stream>
boost::asio::awaitable<void> serve_lines(std::shared_ptr<server::state> self,
                                         boost::beast::websocket::stream<Stream>& ws, const std::string& client);

template <typename Stream>
boost::asio::awaitable<void> serve_stream(std::shared_ptr<server::state> self,
                                          boost::beast::websocket::stream<Stream>& ws, const std::string& client);

// The WebSocket options both share: time-outs from [limits], pings to keep
// a quiet subscriber's connection alive, and the largest message taken.
template <typename Stream>
void set_websocket_options(boost::beast::websocket::stream<Stream>& ws, const limits_config& limits,
                           std::size_t message_bytes);

} // namespace herd

namespace herd {

template <typename Stream>
void set_websocket_options(boost::beast::websocket::stream<Stream>& ws, const limits_config& limits,
                           std::size_t message_bytes)
{
    namespace websocket = boost::beast::websocket;
    websocket::stream_base::timeout timeout{};
    // The opening and closing handshakes are a request: bounded as one.
    timeout.handshake_timeout = limits.http_request_timeout;
    timeout.idle_timeout = limits.idle_timeout;
    // A subscriber that only listens is not idle while it answers pings.
    timeout.keep_alive_pings = true;
    ws.set_option(timeout);
    ws.read_message_max(message_bytes);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(boost::beast::http::field::server, "herd"); }));
}

} // namespace herd
