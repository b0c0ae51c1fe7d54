// The fault proxy that the convergence tests put between servers: each of
// its modes against a plain loopback echo server.
#include "support/async.hpp"
#include "support/fault_proxy.hpp"
#include "support/net.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

using namespace herd::test;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Echoes every connection until it closes.
asio::awaitable<void> echo(tcp::acceptor& acceptor)
{
    for (;;) {
        boost::system::error_code ec;
        auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return;
        }
        asio::co_spawn(
            acceptor.get_executor(),
            [s = std::move(socket)]() mutable -> asio::awaitable<void> {
                std::array<char, 4096> buf{};
                for (;;) {
                    boost::system::error_code e;
                    const auto n =
                        co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, e));
                    if (e) {
                        co_return;
                    }
                    co_await asio::async_write(s, asio::buffer(buf.data(), n),
                                               asio::redirect_error(asio::use_awaitable, e));
                }
            },
            [](const std::exception_ptr& e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
    }
}

struct echo_behind_proxy {
    explicit echo_behind_proxy(asio::io_context& io)
        : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          proxy(io.get_executor(), acceptor.local_endpoint())
    {
        asio::co_spawn(io, echo(acceptor), [](const std::exception_ptr& e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    }
    ~echo_behind_proxy()
    {
        boost::system::error_code ignored;
        acceptor.close(ignored);
    }
    tcp::acceptor acceptor;
    fault_proxy proxy;
};

using namespace std::chrono_literals;

} // namespace

TEST_CASE("the fault proxy passes, black-holes and passes again", "[proxy]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        echo_behind_proxy setup(io);
        client c(io.get_executor());
        co_await c.connect(setup.proxy.port());
        co_await c.send("one\n");
        const auto first = co_await c.read_line(5s);
        CHECK(first == "one");

        setup.proxy.black_hole();
        co_await c.send("two\n");
        // Nothing may come back while the hole lasts: a bounded wait is the
        // only way to see an absence.
        const auto silent = co_await c.read_line(300ms);
        CHECK_FALSE(silent);
        const auto before = setup.proxy.forwarded();
        setup.proxy.pass();
        const auto after_hole = co_await c.read_line(5s);
        CHECK(after_hole == "two");
        CHECK(setup.proxy.forwarded() > before);
    });
}

TEST_CASE("the fault proxy cuts every connection, and new ones until it passes again", "[proxy]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        echo_behind_proxy setup(io);
        client c(io.get_executor());
        co_await c.connect(setup.proxy.port());
        co_await c.send("one\n");
        const auto before_cut = co_await c.read_line(5s);
        CHECK(before_cut == "one");

        setup.proxy.cut();
        const auto rest = co_await c.read_until_close(5s);
        CHECK(rest.empty());
        client refused(io.get_executor());
        co_await refused.connect(setup.proxy.port());
        const auto answered = co_await refused.read_until_close(5s);
        CHECK(answered.empty());

        setup.proxy.pass();
        client again(io.get_executor());
        co_await again.connect(setup.proxy.port());
        co_await again.send("three\n");
        const auto after_cut = co_await again.read_line(5s);
        CHECK(after_cut == "three");
        CHECK(setup.proxy.connections() == 3);
    });
}

TEST_CASE("the fault proxy's throttle and delay hold bytes back for at least their time", "[proxy]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        echo_behind_proxy setup(io);
        client c(io.get_executor());
        co_await c.connect(setup.proxy.port());

        // 60,000 bytes at 100,000 bytes a second, in pieces of a tenth of a
        // second's worth, the first 100 ms's worth at once: the last piece
        // leaves no earlier than 0.4 s. Only a lower bound is checked; a
        // loaded machine can only make it slower.
        setup.proxy.throttle(100'000);
        const std::string payload(60'000, 'x');
        auto started = std::chrono::steady_clock::now();
        co_await c.send(payload);
        const auto throttled = co_await c.read_bytes(payload.size(), 20s);
        CHECK(throttled == payload);
        CHECK(std::chrono::steady_clock::now() - started >= 300ms);

        setup.proxy.delay(200ms);
        started = std::chrono::steady_clock::now();
        co_await c.send("late\n");
        const auto delayed = co_await c.read_line(10s);
        CHECK(delayed == "late");
        CHECK(std::chrono::steady_clock::now() - started >= 400ms); // 200 ms each way
    });
}
