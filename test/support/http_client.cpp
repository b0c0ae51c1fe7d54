#include "support/http_client.hpp"

#include "async/within.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace herd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using detail::use_tuple;
using namespace std::chrono_literals;

namespace {

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// No step of connecting waits longer: a test's server is on loopback.
constexpr auto connect_limit = 5s;

void throw_if(const boost::system::error_code& ec, const char* what)
{
    if (ec) {
        throw boost::system::system_error(ec, what);
    }
}

// SNI, and the certificate must name `host`.
void verify_as(tls_stream& stream, const std::string& host)
{
    if (SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) != 1) {
        throw std::runtime_error("cannot set TLS SNI for " + host);
    }
    stream.set_verify_callback(ssl::host_name_verification(host));
}

template <typename Stream>
asio::awaitable<void> open(Stream& stream, std::uint16_t port, std::optional<int> receive_buffer)
{
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.socket().open(tcp::v4());
    if (receive_buffer) {
        // Before connecting, so that the window offered is small from the start.
        lowest.socket().set_option(asio::socket_base::receive_buffer_size(*receive_buffer));
    }
    lowest.expires_after(connect_limit);
    const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
    auto [ec] = co_await lowest.async_connect(server, use_tuple);
    throw_if(ec, "connect");
    // Without this, Nagle holds a second small write until the first is
    // acknowledged, and a test would wait on the peer's delayed ACK.
    lowest.socket().set_option(tcp::no_delay(true));
    if constexpr (std::is_same_v<Stream, tls_stream>) {
        auto [handshake] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
        throw_if(handshake, "TLS handshake");
    }
    lowest.expires_never();
}

template <typename Stream> asio::awaitable<void> write_on(Stream& stream, const std::string& bytes)
{
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(connect_limit);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), use_tuple);
    lowest.expires_never();
    throw_if(ec, "write");
}

template <typename Stream>
asio::awaitable<http_reply> read_reply_on(Stream& stream, beast::flat_buffer& buffer, std::chrono::milliseconds limit)
{
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 30); // an admin /clients of a large store
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(limit);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    lowest.expires_never();
    http_reply reply;
    if (ec) {
        reply.error = ec.message();
        co_return reply;
    }
    auto response = parser.release();
    reply.status = static_cast<int>(response.result_int());
    reply.keep_alive = response.keep_alive();
    for (const auto& field : response) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        reply.headers[name] = std::string(field.value());
    }
    reply.body = std::move(response.body());
    co_return reply;
}

template <typename Stream>
asio::awaitable<std::optional<std::string>> read_until_closed_on(Stream& stream, beast::flat_buffer& buffer,
                                                                 std::chrono::milliseconds limit)
{
    std::string out = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(limit);
    std::array<char, 4096> chunk{};
    for (;;) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), use_tuple);
        out.append(chunk.data(), n);
        if (ec) {
            lowest.expires_never();
            // End of stream, a reset or a TLS stream cut short: closed, all the same.
            co_return ec == beast::error::timeout ? std::nullopt : std::optional(std::move(out));
        }
    }
}

} // namespace

std::string http_reply::header(const std::string& lower_case_name) const
{
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? std::string() : it->second;
}

struct http_connection::streams {
    std::optional<plain_stream> plain;
    std::optional<tls_stream> tls;
    std::string host = "localhost";
    beast::flat_buffer buffer;
};

http_connection::http_connection(asio::any_io_executor executor, std::optional<tls_client> tls)
    : streams_(std::make_unique<streams>())
{
    if (tls) {
        streams_->host = tls->host;
        streams_->tls.emplace(executor, *tls->context);
        verify_as(*streams_->tls, tls->host);
    } else {
        streams_->plain.emplace(executor);
    }
}

http_connection::~http_connection() = default;

asio::awaitable<void> http_connection::connect(std::uint16_t port)
{
    if (streams_->tls) {
        co_await open(*streams_->tls, port, std::nullopt);
    } else {
        co_await open(*streams_->plain, port, std::nullopt);
    }
}

asio::awaitable<http_reply> http_connection::request(std::string_view method, std::string_view target,
                                                     std::string_view body, bool close, std::string_view origin)
{
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    request.set(http::field::host, streams_->host);
    if (close) {
        request.set(http::field::connection, "close");
    }
    if (!origin.empty()) {
        request.set(http::field::origin, origin);
    }
    request.body() = std::string(body);
    request.prepare_payload();
    std::ostringstream out;
    out << request;
    const std::string text = out.str();
    co_await send(text);
    co_return co_await read_reply();
}

asio::awaitable<void> http_connection::send(std::string_view text)
{
    const std::string bytes(text);
    if (streams_->tls) {
        co_await write_on(*streams_->tls, bytes);
    } else {
        co_await write_on(*streams_->plain, bytes);
    }
}

asio::awaitable<http_reply> http_connection::read_reply(std::chrono::milliseconds limit)
{
    if (streams_->tls) {
        co_return co_await read_reply_on(*streams_->tls, streams_->buffer, limit);
    }
    co_return co_await read_reply_on(*streams_->plain, streams_->buffer, limit);
}

asio::awaitable<std::optional<std::string>> http_connection::read_until_closed(std::chrono::milliseconds limit)
{
    if (streams_->tls) {
        co_return co_await read_until_closed_on(*streams_->tls, streams_->buffer, limit);
    }
    co_return co_await read_until_closed_on(*streams_->plain, streams_->buffer, limit);
}

asio::awaitable<http_reply> http_request(std::uint16_t port, std::string_view method, std::string_view target,
                                         std::string_view body, std::string_view origin)
{
    http_connection c(co_await asio::this_coro::executor);
    co_await c.connect(port);
    co_return co_await c.request(method, target, body, true, origin);
}

namespace {

template <typename Stream>
asio::awaitable<void> upgrade_on(websocket::stream<Stream>& ws, const std::string& host, const std::string& target)
{
    auto& lowest = beast::get_lowest_layer(ws);
    lowest.expires_after(connect_limit);
    auto [ec] = co_await ws.async_handshake(host, target, use_tuple);
    lowest.expires_never();
    throw_if(ec, "WebSocket upgrade");
}

template <typename Stream> asio::awaitable<void> send_on(websocket::stream<Stream>& ws, const std::string& text)
{
    auto& lowest = beast::get_lowest_layer(ws);
    lowest.expires_after(connect_limit);
    ws.text(true);
    auto [ec, n] = co_await ws.async_write(asio::buffer(text), use_tuple);
    lowest.expires_never();
    throw_if(ec, "WebSocket write");
}

template <typename Stream>
asio::awaitable<std::optional<std::string>> read_on(websocket::stream<Stream>& ws, beast::flat_buffer& buffer,
                                                    std::chrono::milliseconds limit, websocket_close& close)
{
    auto& lowest = beast::get_lowest_layer(ws);
    lowest.expires_after(limit);
    auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
    lowest.expires_never();
    if (ec) {
        if (ec == websocket::error::closed) {
            close.code = ws.reason().code;
            close.reason = std::string(ws.reason().reason.c_str());
        }
        co_return std::nullopt;
    }
    std::string text = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    co_return text;
}

} // namespace

struct websocket_client::streams {
    std::optional<websocket::stream<plain_stream>> plain;
    std::optional<websocket::stream<tls_stream>> tls;
    std::string host = "localhost";
    beast::flat_buffer buffer;
};

websocket_client::websocket_client(asio::any_io_executor executor, std::optional<tls_client> tls)
    : streams_(std::make_unique<streams>())
{
    if (tls) {
        streams_->host = tls->host;
        streams_->tls.emplace(executor, *tls->context);
        verify_as(streams_->tls->next_layer(), tls->host);
    } else {
        streams_->plain.emplace(executor);
    }
}

websocket_client::~websocket_client() = default;

asio::awaitable<void> websocket_client::connect(std::uint16_t port, std::string_view path,
                                                std::optional<int> receive_buffer)
{
    const std::string host = streams_->host + ":" + std::to_string(port);
    const std::string target(path);
    if (streams_->tls) {
        co_await open(streams_->tls->next_layer(), port, receive_buffer);
        co_await upgrade_on(*streams_->tls, host, target);
    } else {
        co_await open(streams_->plain->next_layer(), port, receive_buffer);
        co_await upgrade_on(*streams_->plain, host, target);
    }
}

void websocket_client::set_receive_buffer(int bytes)
{
    auto& socket = streams_->tls ? beast::get_lowest_layer(*streams_->tls).socket()
                                 : beast::get_lowest_layer(*streams_->plain).socket();
    socket.set_option(asio::socket_base::receive_buffer_size(bytes));
}

asio::awaitable<void> websocket_client::send(std::string_view message)
{
    const std::string text(message);
    if (streams_->tls) {
        co_await send_on(*streams_->tls, text);
    } else {
        co_await send_on(*streams_->plain, text);
    }
}

asio::awaitable<std::optional<std::string>> websocket_client::read(std::chrono::milliseconds limit)
{
    if (streams_->tls) {
        co_return co_await read_on(*streams_->tls, streams_->buffer, limit, close_);
    }
    co_return co_await read_on(*streams_->plain, streams_->buffer, limit, close_);
}

} // namespace herd::test
