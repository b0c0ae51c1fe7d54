// A small HTTP and WebSocket client for tests of servers' HTTP ports (the
// HTTP/JSON API, the admin endpoint), on Beast and the test's io_context,
// plain or TLS with the server's certificate verified: requests on one
// kept-alive connection, bytes written as they are (a pipeline, a hostile
// request), and WebSocket messages with the close frame the server sent.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace herd::test {

struct http_reply {
    int status = 0; // 0: no answer (the connection closed, or the limit passed)
    std::string body;
    std::map<std::string, std::string> headers; // names in lower case
    bool keep_alive = false;
    std::string error; // why there is no answer

    // The header's value, "" if it is absent.
    std::string header(const std::string& lower_case_name) const;
};

// TLS to the server: `context` verifies its certificate (for one trusting
// only a test CA: make_tls_client_context(ca.write_certificate(dir)) from
// places/https_client.hpp), and the certificate must name `host`, which is
// also sent as SNI.
struct tls_client {
    std::shared_ptr<boost::asio::ssl::context> context;
    std::string host = "localhost";
};

// One connection to 127.0.0.1, kept alive across requests.
class http_connection {
public:
    explicit http_connection(boost::asio::any_io_executor executor, std::optional<tls_client> tls = std::nullopt);
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    // Connects and, with TLS, completes the handshake; throws
    // boost::system::system_error if either fails (a certificate refused).
    boost::asio::awaitable<void> connect(std::uint16_t port);

    // Sends one HTTP/1.1 request (Host, and Content-Length if there is a
    // body, added; "Connection: close" if `close`) and reads its answer.
    // Arguments are views the caller keeps alive: g++ 12 mishandles class
    // temporaries inside co_await expressions.
    // `origin`, if set, is sent as the Origin header, as a page's fetch sends it.
    boost::asio::awaitable<http_reply> request(std::string_view method, std::string_view target,
                                               std::string_view body = {}, bool close = false,
                                               std::string_view origin = {});

    // Writes `bytes` as they are, in one write.
    boost::asio::awaitable<void> send(std::string_view bytes);

    // The next answer, status 0 if the connection closes or `limit` passes first.
    boost::asio::awaitable<http_reply> read_reply(std::chrono::milliseconds limit = std::chrono::seconds(5));

    // What arrives until the server closes the connection; nothing if it
    // has not closed it when `limit` passes.
    boost::asio::awaitable<std::optional<std::string>> read_until_closed(std::chrono::milliseconds limit);

    struct streams;

private:
    std::unique_ptr<streams> streams_;
};

// A new connection, one request with "Connection: close", and its answer.
boost::asio::awaitable<http_reply> http_request(std::uint16_t port, std::string_view method, std::string_view target,
                                                std::string_view body = {}, std::string_view origin = {});

// The close frame a WebSocket's server sent: code 0 if none came.
struct websocket_close {
    unsigned code = 0;
    std::string reason;
};

class websocket_client {
public:
    explicit websocket_client(boost::asio::any_io_executor executor, std::optional<tls_client> tls = std::nullopt);
    ~websocket_client();
    websocket_client(const websocket_client&) = delete;
    websocket_client& operator=(const websocket_client&) = delete;

    // Connects to 127.0.0.1 and upgrades at `target`; throws if either
    // fails. `receive_buffer` (bytes) is set as SO_RCVBUF before connecting,
    // so that a client that stops reading soon fills its window.
    boost::asio::awaitable<void> connect(std::uint16_t port, std::string_view target,
                                         std::optional<int> receive_buffer = std::nullopt);

    // SO_RCVBUF on the connected socket: a client that connected with a
    // small one reads at full speed again (with a window of a few KiB the
    // kernel opens it a delayed ACK, some 200 ms, at a time).
    void set_receive_buffer(int bytes);

    // One text message.
    boost::asio::awaitable<void> send(std::string_view text);

    // The next message; nothing if the WebSocket closed (close() says how)
    // or `limit` passed first.
    boost::asio::awaitable<std::optional<std::string>> read(std::chrono::milliseconds limit = std::chrono::seconds(5));

    const websocket_close& close() const noexcept { return close_; }

    struct streams;

private:
    std::unique_ptr<streams> streams_;
    websocket_close close_;
};

} // namespace herd::test
