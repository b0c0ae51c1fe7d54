#include "support/net.hpp"

#include "async/within.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <filesystem>
#include <random>
#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace herd::test {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

// Port ranges are handed out in slots of 32, below Linux's ephemeral range
// (32768 and up) so that no outgoing connection can take one. A slot is
// claimed with flock on a lock file held until the process exits, so test
// processes running side by side never share one; the ports are still
// checked, for anything else on the machine.
constexpr int slot_size = 32;
constexpr int first_port = 10240;
constexpr int slot_count = (32768 - first_port) / slot_size;

bool claim_slot(int slot)
{
    const auto dir = std::filesystem::temp_directory_path() / "herd-test-ports";
    std::filesystem::create_directories(dir);
    const auto file = dir / (std::to_string(slot) + ".lock");
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return false;
    }
    return true; // the descriptor, and so the lock, lives as long as the process
}

bool bindable(asio::io_context& io, std::uint16_t port)
{
    tcp::acceptor a(io);
    boost::system::error_code ec;
    a.open(tcp::v4(), ec);
    a.set_option(tcp::acceptor::reuse_address(true), ec);
    a.bind({asio::ip::make_address("127.0.0.1"), port}, ec);
    return !ec;
}

} // namespace

std::vector<std::uint16_t> free_ports(std::size_t count)
{
    if (count > slot_size) {
        throw std::invalid_argument("free_ports: at most 32 ports at a time");
    }
    std::random_device seed;
    const int start = static_cast<int>(seed() % slot_count);
    asio::io_context io;
    for (int i = 0; i < slot_count; ++i) {
        const int slot = (start + i) % slot_count;
        std::vector<std::uint16_t> ports;
        for (std::size_t p = 0; p < count; ++p) {
            ports.push_back(static_cast<std::uint16_t>(first_port + slot * slot_size + static_cast<int>(p)));
        }
        if (std::all_of(ports.begin(), ports.end(), [&](auto p) { return bindable(io, p); }) && claim_slot(slot)) {
            return ports;
        }
    }
    throw std::runtime_error("no free port range found on 127.0.0.1");
}

client::client(asio::any_io_executor executor) : socket_(std::move(executor)) {}
client::client(tcp::socket socket) : socket_(std::move(socket)) {}

asio::awaitable<void> client::connect(std::uint16_t port)
{
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    co_await socket_.async_connect(endpoint, asio::use_awaitable);
    // Without this, Nagle holds a second small write until the first is
    // acknowledged, and a test would wait on the peer's delayed ACK.
    socket_.set_option(tcp::no_delay(true));
}

asio::awaitable<void> client::send(std::string_view text)
{
    // The caller's bytes may not outlive its own co_await: copy them.
    const std::string bytes(text);
    co_await asio::async_write(socket_, asio::buffer(bytes), asio::use_awaitable);
}

void client::shutdown_send()
{
    socket_.shutdown(tcp::socket::shutdown_send);
}

asio::awaitable<std::optional<std::string>> client::read_line(std::chrono::milliseconds limit)
{
    auto read = asio::async_read_until(socket_, asio::dynamic_buffer(buffer_), '\n', use_tuple);
    auto result = co_await detail::within(std::move(read), limit);
    if (!result || std::get<0>(*result)) {
        co_return std::nullopt;
    }
    const auto n = std::get<1>(*result);
    std::string line = buffer_.substr(0, n - 1);
    buffer_.erase(0, n);
    co_return line;
}

asio::awaitable<std::string> client::read_bytes(std::size_t count, std::chrono::milliseconds limit)
{
    if (buffer_.size() < count) {
        auto read = asio::async_read(socket_, asio::dynamic_buffer(buffer_),
                                     asio::transfer_exactly(count - buffer_.size()), use_tuple);
        co_await detail::within(std::move(read), limit);
    }
    std::string out = buffer_.substr(0, std::min(count, buffer_.size()));
    buffer_.erase(0, out.size());
    co_return out;
}

asio::awaitable<std::string> client::read_until_close(std::chrono::milliseconds limit)
{
    auto read = asio::async_read(socket_, asio::dynamic_buffer(buffer_), use_tuple);
    co_await detail::within(std::move(read), limit);
    co_return std::exchange(buffer_, {});
}

asio::awaitable<std::string> ask(std::uint16_t port, std::string_view request)
{
    client c(co_await asio::this_coro::executor);
    co_await c.connect(port);
    co_await c.send(request);
    c.shutdown_send();
    co_return co_await c.read_until_close(std::chrono::seconds(10));
}

asio::awaitable<std::string> ask_read_once(std::uint16_t port, std::string_view request)
{
    client c(co_await asio::this_coro::executor);
    co_await c.connect(port);
    co_await c.send(request);
    c.shutdown_send();
    std::string reply(1 << 20, '\0');
    const auto n = co_await c.socket().async_read_some(asio::buffer(reply), asio::use_awaitable);
    reply.resize(n);
    co_return reply;
}

} // namespace herd::test
