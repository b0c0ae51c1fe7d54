// The floor: a server on the same Asio loop as Herd that answers every
// line with "OK" and does nothing else. Whatever it cannot beat is the cost
// of loopback TCP and system calls on this machine, not of any server's
// own work. Like Herd and Redis, it answers all the complete lines one read
// brought with one write.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> answer_lines(tcp::socket socket)
{
    std::vector<char> buffer(16 * 1024);
    std::string replies;
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_tuple);
        if (ec) {
            co_return;
        }
        const auto lines = std::count(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n), '\n');
        for (std::ptrdiff_t i = 0; i < lines; ++i) {
            replies += "OK\n";
        }
        if (!replies.empty()) {
            auto [wec, written] = co_await asio::async_write(socket, asio::buffer(replies), use_tuple);
            replies.clear();
            if (wec) {
                co_return;
            }
        }
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) {
            co_return;
        }
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), answer_lines(std::move(socket)), [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::cerr << "usage: herd-line-server PORT\n";
        return 2;
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    asio::io_context io(1);
    tcp::acceptor acceptor(
        io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))));
    asio::co_spawn(io, accept_loop(acceptor), [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);
        }
    });
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { io.stop(); });
    std::cout << "herd-line-server: lines on 127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
    io.run();
}
