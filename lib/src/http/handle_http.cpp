#include "http/handle_http.hpp"

#include "async/within.hpp"
#include "client/line_session.hpp"
#include "herd/log.hpp"
#include "http/api.hpp"
#include "http/http_stream.hpp"
#include "http/websocket_sessions.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <sstream>
#include <type_traits>

namespace herd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

// The largest message a /v1/stream subscriber may send: a subscription to
// a thousand clients of 255 bytes fits.
constexpr std::size_t stream_message_bytes = 1 << 18;
// After an error that ends the connection, how long the rest of the
// request is read and dropped, so that closing with it unread does not
// reset the connection before the client has read the answer.
constexpr std::chrono::seconds linger{1};
constexpr std::chrono::seconds tls_shutdown_limit{2};
// Pipelined answers gathered before they are written.
constexpr std::size_t pending_limit = 1 << 16;

struct reply {
    http::status status = http::status::ok;
    std::string body;
    std::string_view allow;
    bool close = false; // end the connection after it
};

reply answered(std::string body)
{
    return {http::status::ok, std::move(body), {}, false};
}

reply refuse(const http_api::error& e, bool close = false)
{
    return {e.status, http_api::error_answer(e.reason), e.allow, close};
}

// Performs one routed request that is not an upgrade.
asio::awaitable<reply> perform(std::shared_ptr<server::state> self, std::optional<line_session>& lines,
                               const http_api::route& route, const std::string& client)
{
    if (const auto* e = std::get_if<http_api::error>(&route)) {
        co_return refuse(*e);
    }
    if (const auto* lookup = std::get_if<http_api::client_lookup>(&route)) {
        const location_record* record = self->core.store.find(lookup->client);
        if (record == nullptr) {
            co_return refuse({http::status::not_found, "no such client"});
        }
        co_return answered(http_api::client_answer(*record));
    }
    const auto& line = std::get<http_api::line>(route);
    if (line.what == http_api::line::kind::whatsat) {
        // A 404 of its own, not a line the session answers "? ..." (and
        // counts invalid): records are never removed, so it stays true.
        if (self->core.store.find(line.client) == nullptr) {
            co_return refuse({http::status::not_found, "no such client"});
        }
    }
    if (!lines) {
        lines.emplace(self, client);
    }
    auto replies = co_await lines->answer(line.text);
    if (!replies) {
        co_return refuse({http::status::service_unavailable, "the server is stopping"}, true);
    }
    auto answer = line.what == http_api::line::kind::iamat ? http_api::iamat_answer(*replies)
                                                           : http_api::whatsat_answer(*replies);
    if (auto* e = std::get_if<http_api::error>(&answer)) {
        co_return refuse(*e);
    }
    co_return answered(std::move(std::get<std::string>(answer)));
}

// True if the buffer holds the whole of the next request, so its answer
// can go in one write with those before it. A request only begun must not
// hold them: its client may be waiting for them before it sends the rest.
bool whole_request_buffered(const beast::flat_buffer& buffer, const limits_config& limits)
{
    if (buffer.size() == 0) {
        return false;
    }
    http::request_parser<http::string_body> probe;
    probe.header_limit(static_cast<std::uint32_t>(limits.http_header_bytes));
    probe.body_limit(limits.http_body_bytes);
    probe.eager(true);
    boost::system::error_code ec;
    probe.put(buffer.data(), ec);
    return !ec && probe.is_done();
}

struct read_result {
    boost::system::error_code ec;
    bool timed_out = false; // `limit` passed first: the read was cancelled
};

// Reads one request, all of it within `limit` (slowloris). Not the stream's
// own expiry: that closes the socket, and the client is owed a 408. The
// timer cancels the read instead; if the read finished first, whatever the
// timer did comes too late to matter.
template <typename Stream>
asio::awaitable<read_result> read_request(Stream& stream, beast::flat_buffer& buffer,
                                          http::request_parser<http::string_body>& parser,
                                          std::chrono::milliseconds limit)
{
    auto& tcp = beast::get_lowest_layer(stream);
    tcp.expires_never();
    struct race {
        bool passed = false;
        bool read = false; // the read has finished: the socket may be gone
    };
    auto shared = std::make_shared<race>();
    asio::steady_timer timer(tcp.get_executor(), limit);
    timer.async_wait([shared, &tcp](boost::system::error_code ec) {
        if (!ec && !shared->read) {
            shared->passed = true;
            tcp.socket().cancel(ec);
        }
    });
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    shared->read = true;
    timer.cancel();
    co_return read_result{ec, shared->passed && ec == asio::error::operation_aborted};
}

template <typename Stream> asio::awaitable<void> close_stream(Stream& stream)
{
    auto& tcp = beast::get_lowest_layer(stream);
    boost::system::error_code ignored;
    if constexpr (std::is_same_v<Stream, tls_http_stream>) {
        // A client that never answers the close_notify cannot hold the
        // connection; one that just closes (stream_truncated) is normal.
        tcp.expires_after(tls_shutdown_limit);
        co_await stream.async_shutdown(use_tuple);
    }
    tcp.socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp.close();
}

// Reads and drops what the client still sends, for at most `linger`, after
// its connection's last answer.
template <typename Stream> asio::awaitable<void> drain(Stream& stream)
{
    auto& tcp = beast::get_lowest_layer(stream);
    boost::system::error_code ignored;
    tcp.socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp.expires_after(linger);
    std::array<char, 4096> sink{};
    for (std::size_t total = 0; total < (1 << 20);) {
        auto [ec, n] = co_await tcp.async_read_some(asio::buffer(sink), use_tuple);
        if (ec) {
            break;
        }
        total += n;
    }
    tcp.close();
}

template <typename Stream>
asio::awaitable<void> upgrade(std::shared_ptr<server::state> self, Stream stream,
                              http::request<http::string_body> request, http_api::websocket which,
                              const std::string& client)
{
    websocket::stream<Stream> ws(std::move(stream));
    // The socket has moved: stop() must find it where it is now.
    const registration<tcp::socket> registered(self->peer_sockets, beast::get_lowest_layer(ws).socket());
    beast::get_lowest_layer(ws).expires_never(); // the WebSocket keeps its own time-outs
    const auto& limits = self->herd.limits;
    set_websocket_options(ws, limits, which == http_api::websocket::lines ? limits.line_bytes : stream_message_bytes);
    auto [ec] = co_await ws.async_accept(request, use_tuple);
    if (ec) {
        co_return;
    }
    const gauge_slot slot(self->stats.websockets_open);
    if (which == http_api::websocket::lines) {
        co_await serve_lines(self, ws, client);
    } else {
        co_await serve_stream(self, ws, client);
    }
}

template <typename Stream>
asio::awaitable<void> serve_http(std::shared_ptr<server::state> self, Stream stream, const std::string& client)
{
    const auto& limits = self->herd.limits;
    auto& tcp = beast::get_lowest_layer(stream);
    const registration<tcp::socket> registered(self->peer_sockets, tcp.socket());
    beast::flat_buffer buffer;
    std::optional<line_session> lines; // made at the first IAMAT or WHATSAT
    // Answers not yet written: while pipelined requests are already read,
    // their answers gather here and go in one write, as the line port's do.
    std::string pending;
    for (;;) {
        if (buffer.size() == 0) {
            // A kept-alive connection may wait idle_timeout for its next
            // request; once it begins, the whole of it must come within
            // http_request_timeout (slowloris).
            tcp.expires_after(limits.idle_timeout);
            auto space = buffer.prepare(4096);
            auto [ec, n] = co_await stream.async_read_some(space, use_tuple);
            if (ec) {
                if (ec == beast::error::timeout) {
                    self->log->info("client {} closed: no request for {} ms", client, limits.idle_timeout.count());
                }
                co_return;
            }
            buffer.commit(n);
        }
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits.http_header_bytes));
        parser.body_limit(limits.http_body_bytes);
        auto [read_ec, timed_out] = co_await read_request(stream, buffer, parser, limits.http_request_timeout);
        reply answer;
        std::optional<http::request<http::string_body>> request;
        if (timed_out) {
            answer = refuse({http::status::request_timeout,
                             "no whole request within " + std::to_string(limits.http_request_timeout.count()) + " ms"},
                            true);
        } else if (read_ec == http::error::header_limit) {
            answer = refuse({http::status::request_header_fields_too_large,
                             "the header is over " + std::to_string(limits.http_header_bytes) + " bytes"},
                            true);
        } else if (read_ec == http::error::body_limit) {
            answer = refuse({http::status::payload_too_large,
                             "the body is over " + std::to_string(limits.http_body_bytes) + " bytes"},
                            true);
        } else if (read_ec == http::error::end_of_stream || read_ec == asio::error::eof ||
                   read_ec == asio::error::connection_reset || read_ec == asio::error::operation_aborted ||
                   read_ec == asio::error::bad_descriptor) {
            co_return;
        } else if (read_ec) {
            answer = refuse({http::status::bad_request, "not an HTTP/1.1 request: " + read_ec.message()}, true);
        } else {
            request.emplace(parser.release());
            const auto route = http_api::route_request(request->method(), request->target(), request->body(),
                                                       websocket::is_upgrade(*request), limits.client_id_bytes);
            if (const auto* which = std::get_if<http_api::websocket>(&route)) {
                self->log->info("client {} {} {}: upgrade", client, escape_for_log(request->method_string()),
                                escape_for_log(request->target()));
                co_await upgrade(self, std::move(stream), std::move(*request), *which, client);
                co_return;
            }
            answer = co_await perform(self, lines, route, client);
        }
        ++self->stats.http_requests;
        if (static_cast<unsigned>(answer.status) >= 400) {
            ++self->stats.http_errors;
        }
        const bool keep_alive = request && request->keep_alive() && !answer.close && !self->stopped;
        http::response<http::string_body> response{answer.status, request ? request->version() : 11};
        response.set(http::field::server, "herd");
        response.set(http::field::content_type, "application/json");
        if (!answer.allow.empty()) {
            response.set(http::field::allow, answer.allow);
        }
        response.keep_alive(keep_alive);
        response.body() = std::move(answer.body);
        response.prepare_payload();
        if (request) {
            self->log->info("client {} {} {}: {}", client, escape_for_log(request->method_string()),
                            escape_for_log(request->target()), response.result_int());
        } else {
            ++self->stats.http_dropped;
            self->log->warn("client {} closed: {}", client, response.result_int());
        }
        std::ostringstream text;
        text << response;
        pending += std::move(text).str();
        if (keep_alive && pending.size() < pending_limit && whole_request_buffered(buffer, limits)) {
            continue; // the next request is here already: answer it first
        }
        tcp.expires_after(limits.send_timeout);
        auto [write_ec, written] = co_await asio::async_write(stream, asio::buffer(pending), use_tuple);
        if (write_ec) {
            co_return;
        }
        pending.clear();
        if (!keep_alive) {
            if (request) {
                co_await close_stream(stream);
            } else {
                co_await drain(stream);
            }
            co_return;
        }
    }
}

} // namespace

asio::awaitable<void> handle_http(std::shared_ptr<server::state> self, tcp::socket socket)
{
    const std::string client = "http " + describe(socket);
    const auto& limits = self->herd.limits;
    if (self->connections_full()) {
        ++self->stats.clients_refused;
        self->log->warn("client {} refused: {} connections already", client, limits.connections);
        co_return;
    }
    const gauge_slot slot(self->stats.http_open);
    ++self->stats.http_connections;
    self->log->info("client {} connected", client);
    if (!self->http_tls) {
        plain_http_stream stream(std::move(socket));
        co_await serve_http(self, std::move(stream), client);
        co_return;
    }
    tls_http_stream stream(std::move(socket), *self->http_tls);
    beast::get_lowest_layer(stream).expires_after(limits.http_request_timeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) {
        ++self->stats.http_dropped;
        self->log->warn("client {} closed: TLS handshake: {}", client, ec.message());
        co_return;
    }
    co_await serve_http(self, std::move(stream), client);
}

} // namespace herd
