// GET /v1/lines: the line protocol over a WebSocket, a message a line,
// answered by the same line session as an HTTP request (line_session.hpp),
// so the replies are byte for byte the line port's.
#include "client/line_session.hpp"
#include "http/http_stream.hpp"
#include "http/websocket_sessions.hpp"

#include "async/within.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using detail::use_tuple;
using detail::within;

template <typename Stream>
asio::awaitable<void> serve_lines(std::shared_ptr<server::state> self, websocket::stream<Stream>& ws,
                                  const std::string& client)
{
    line_session lines(self, client);
    beast::flat_buffer buffer;
    for (;;) {
        auto [read_ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (read_ec) {
            if (read_ec == websocket::error::message_too_big) {
                ++self->stats.clients_dropped;
                self->log->warn("client {} closed: a message of over {} bytes", client, self->herd.limits.line_bytes);
            }
            co_return;
        }
        std::string text = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        // A message is a line: a '\n' at its end ends the line, as on the line port.
        if (text.ends_with('\n')) {
            text.pop_back();
        }
        auto replies = co_await lines.answer(text);
        if (!replies) {
            co_return; // the session is over: the server stopping, or its store log failed
        }
        if (replies->empty()) {
            continue; // a blank line has no reply
        }
        ws.text(true);
        auto write = ws.async_write(asio::buffer(*replies), use_tuple);
        const auto written = co_await within(std::move(write), self->herd.limits.send_timeout);
        if (!written || std::get<0>(*written)) {
            if (!written) {
                ++self->stats.clients_dropped;
                self->log->warn("client {} dropped: it read none of its replies for {} ms", client,
                                self->herd.limits.send_timeout.count());
            }
            co_return;
        }
    }
}

template asio::awaitable<void> serve_lines(std::shared_ptr<server::state>, websocket::stream<plain_http_stream>&,
                                           const std::string&);
template asio::awaitable<void> serve_lines(std::shared_ptr<server::state>, websocket::stream<tls_http_stream>&,
                                           const std::string&);

} // namespace herd
