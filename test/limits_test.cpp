// What a client can make one server hold: every limit of [limits], each
// with the outcome it promises and the server serving others afterwards.
#include "async/within.hpp"
#include "herd/server.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

topology one_server_with(const std::string& limits)
{
    const auto p = free_ports(2);
    return parse_topology("[servers.Goloman]\nport = " + std::to_string(p[0]) + "\npeer_port = " +
                              std::to_string(p[1]) + "\nadmin_port = 0\nhttp_port = 0\n[limits]\n" + limits,
                          "limits.toml", ".");
}

} // namespace

TEST_CASE("a line over limits.line_bytes closes the connection after the lines before it", "[limits]")
{
    const bool with_newline = GENERATE(true, false);
    run_async([with_newline](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = one_server_with("line_bytes = 512\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        client c(io.get_executor());
        co_await c.connect(goloman.client_port());
        const std::string request =
            "IAMAT a +1+1 1\n" + std::string(600, 'x') + (with_newline ? "\nIAMAT b +1+1 1\n" : "");
        co_await c.send(request);
        const auto reply = co_await c.read_until_close(3000ms);
        CHECK_THAT(reply, Catch::StartsWith("AT Goloman ") && Catch::EndsWith(" a +1+1 1\n"));
        CHECK(std::count(reply.begin(), reply.end(), '\n') == 1);
        CHECK(goloman.stats().clients_dropped == 1);
        const auto after = co_await ask(goloman.client_port(), "IAMAT c +1+1 1\n");
        CHECK_THAT(after, Catch::EndsWith(" c +1+1 1\n"));
    });
}

TEST_CASE("client IDs over limits.client_id_bytes make the line invalid", "[limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = one_server_with("client_id_bytes = 8\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        const auto reply = co_await ask(goloman.client_port(), "IAMAT 12345678 +1+1 1\nIAMAT 123456789 +1+1 1\n");
        CHECK_THAT(reply, Catch::StartsWith("AT Goloman ") && Catch::EndsWith("\n? IAMAT 123456789 +1+1 1\n"));
        CHECK(goloman.store().size() == 1);
    });
}

TEST_CASE("a client that sends no complete line for limits.idle_timeout is closed, slowloris too", "[limits]")
{
    const bool dribbling = GENERATE(false, true);
    run_async([dribbling](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = one_server_with("idle_timeout = 0.3\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        client idle(io.get_executor());
        co_await idle.connect(goloman.client_port());
        co_await idle.send("IAMAT a +1+1 1\n");
        const auto started = std::chrono::steady_clock::now();
        // A byte every 100 ms, never a newline, for up to 5 s: the server
        // must close the connection long before the dribble would end.
        constexpr int dribble = 50;
        int written = 0;
        if (dribbling) {
            asio::steady_timer pause(io);
            for (; written < dribble; ++written) {
                auto [ec, n] = co_await asio::async_write(idle.socket(), asio::buffer("W", 1), detail::use_tuple);
                if (ec) {
                    break; // the server has closed it: what this test waits for
                }
                pause.expires_after(100ms);
                co_await pause.async_wait(asio::use_awaitable);
            }
            CHECK(written < dribble);
        }
        const auto reply = co_await idle.read_until_close(5000ms);
        const auto took = std::chrono::steady_clock::now() - started;
        CHECK_THAT(reply, Catch::EndsWith(" a +1+1 1\n")); // answered before it went idle
        CHECK(took >= 250ms);
        CHECK(goloman.stats().clients_dropped == 1);
        const auto after = co_await ask(goloman.client_port(), "IAMAT b +1+1 1\n");
        CHECK_THAT(after, Catch::EndsWith(" b +1+1 1\n"));
    });
}

TEST_CASE("a client that never reads is dropped after limits.send_timeout and memory stays bounded", "[limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = one_server_with("reply_bytes = 4096\nsend_timeout = 0.5\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        co_await ask(goloman.client_port(), "IAMAT kiwi +34.072839-118.442165 1621464827\n");
        client hog(io.get_executor());
        co_await hog.connect(goloman.client_port());
        // Some 60 MB of replies asked for at a time, none read, until the
        // server hangs up: it stops reading this client once its replies
        // back up, and drops it after send_timeout; a write then fails.
        constexpr int asked = 8000;
        std::string flood;
        for (int i = 0; i < asked; ++i) {
            flood += "WHATSAT kiwi 50 20\n";
        }
        // A small send buffer, so that the writes back up within a few rounds.
        hog.socket().set_option(asio::socket_base::send_buffer_size(64 * 1024));
        bool reset = false;
        for (int round = 0; round < 200 && !reset; ++round) {
            auto send = asio::async_write(hog.socket(), asio::buffer(flood), detail::use_tuple);
            const auto sent = co_await detail::within(std::move(send), 10000ms);
            REQUIRE(sent.has_value()); // a write that never ends: the server kept a client it should have dropped
            reset = static_cast<bool>(std::get<0>(*sent));
        }
        CHECK(reset);
        CHECK(goloman.stats().clients_dropped == 1);
        // What it answered is what the kernel's buffers took, with at most
        // limits.reply_bytes more held by the server: not the 60 MB asked.
        const auto answered = goloman.stats().whatsat;
        std::printf("limits: the client that never reads had %llu of %d WHATSATs answered before it was dropped\n",
                    static_cast<unsigned long long>(answered), asked);
        CHECK(answered < asked / 4);
        const auto after = co_await ask(goloman.client_port(), "IAMAT other +1+1 1\n");
        CHECK_THAT(after, Catch::EndsWith(" other +1+1 1\n"));
    });
}

TEST_CASE("connections past limits.connections are closed at once and a freed slot is used again", "[limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = one_server_with("connections = 2\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        auto first = std::make_unique<client>(io.get_executor());
        client second(io.get_executor());
        co_await first->connect(goloman.client_port());
        co_await second.connect(goloman.client_port());
        co_await first->send("IAMAT a +1+1 1\n");
        co_await second.send("IAMAT b +1+1 1\n");
        const auto a = co_await first->read_line(2000ms);
        const auto b = co_await second.read_line(2000ms);
        CHECK(a.has_value());
        CHECK(b.has_value());
        client third(io.get_executor());
        co_await third.connect(goloman.client_port());
        co_await third.send("IAMAT c +1+1 1\n");
        const auto refused = co_await third.read_until_close(2000ms);
        CHECK(refused.empty());
        CHECK(goloman.stats().clients_refused == 1);
        // The first says it is done: the server hangs up and frees its slot
        // before the client can see it hang up (one io_context).
        first->shutdown_send();
        const auto rest = co_await first->read_until_close(2000ms);
        CHECK(rest.empty());
        CHECK(goloman.stats().clients_open == 1);
        const auto after = co_await ask(goloman.client_port(), "IAMAT d +1+1 1\n");
        CHECK_THAT(after, Catch::EndsWith(" d +1+1 1\n"));
    });
}

TEST_CASE("limits.peer_handshakes is read and checked like the other limits", "[limits][config]")
{
    CHECK(one_server_with("").limits.peer_handshakes == 64);
    CHECK(one_server_with("peer_handshakes = 3\n").limits.peer_handshakes == 3);
    CHECK_THROWS_WITH(one_server_with("peer_handshakes = 0\n"),
                      Catch::Contains("limits.peer_handshakes must be a whole number from 1 to 10000"));
    CHECK_THROWS_WITH(one_server_with("peer_handshakes = \"many\"\n"),
                      Catch::Contains("limits.peer_handshakes must be a whole number"));
}

TEST_CASE("peer-port connections past limits.peer_handshakes are refused, and one silent past its deadline is closed",
          "[limits][peer]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = one_server_with("peer_handshakes = 2\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        client first(io.get_executor());
        client second(io.get_executor());
        co_await first.connect(goloman.peer_port());
        co_await second.connect(goloman.peer_port());
        const auto challenged_first = co_await first.read_line(2000ms);
        const auto challenged_second = co_await second.read_line(2000ms);
        CHECK_THAT(challenged_first.value_or(""), Catch::StartsWith("HERD herd/1 CHALLENGE"));
        CHECK_THAT(challenged_second.value_or(""), Catch::StartsWith("HERD herd/1 CHALLENGE"));
        // Two handshakes under way: a third connection is closed at once.
        client third(io.get_executor());
        co_await third.connect(goloman.peer_port());
        const auto to_third = co_await third.read_until_close(2000ms);
        CHECK(to_third.empty());
        CHECK(goloman.stats().peer_handshakes_refused == 1);
        // A handshake that fails frees its place.
        co_await first.send("HELLO\n");
        const auto refused = co_await first.read_until_close(2000ms);
        CHECK_THAT(refused, Catch::StartsWith("HERD herd/1 REFUSED"));
        // Its place is given back before the connection closes.
        CHECK(goloman.stats().peer_handshakes_open == 1);
        client fourth(io.get_executor());
        co_await fourth.connect(goloman.peer_port());
        const auto challenged_fourth = co_await fourth.read_line(2000ms);
        CHECK_THAT(challenged_fourth.value_or(""), Catch::StartsWith("HERD herd/1 CHALLENGE"));
        // One that says nothing is refused when the handshake's deadline passes.
        const auto late = co_await second.read_until_close(10000ms);
        CHECK_THAT(late, Catch::Contains("REFUSED no hello in time"));
        CHECK(goloman.stats().peer_handshakes_refused == 1);
        goloman.stop();
    });
}
