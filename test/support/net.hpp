// Loopback helpers for tests: a plain TCP client and free port ranges.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::test {

// `count` consecutive ports (at most 32) on 127.0.0.1, free when checked
// and reserved against every other test process for this one's lifetime.
std::vector<std::uint16_t> free_ports(std::size_t count);

// Connects, sends `request`, half-closes, and reads until the server closes.
boost::asio::awaitable<std::string> ask(std::uint16_t port, std::string_view request);

// Connects, sends, half-closes, and does exactly one read: what a client
// that reads once gets.
boost::asio::awaitable<std::string> ask_read_once(std::uint16_t port, std::string_view request);

class client {
public:
    explicit client(boost::asio::any_io_executor executor);
    explicit client(boost::asio::ip::tcp::socket socket);
    boost::asio::awaitable<void> connect(std::uint16_t port);
    boost::asio::awaitable<void> send(std::string_view text);
    // The next line without '\n'; nothing at end of input or after `limit`.
    boost::asio::awaitable<std::optional<std::string>> read_line(std::chrono::milliseconds limit);
    // Reads until `count` bytes have arrived or the limit passes.
    boost::asio::awaitable<std::string> read_bytes(std::size_t count, std::chrono::milliseconds limit);
    boost::asio::awaitable<std::string> read_until_close(std::chrono::milliseconds limit);
    void shutdown_send();
    boost::asio::ip::tcp::socket& socket() { return socket_; }

private:
    boost::asio::ip::tcp::socket socket_;
    std::string buffer_;
};

} // namespace herd::test
