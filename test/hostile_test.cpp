// Hostile input against one real server: random bytes, a replayed peer
// handshake, replayed records, and thousands of connections at once. Each
// gets a bounded, clear outcome, and the server keeps serving.
#include "herd/peer_protocol.hpp"
#include "herd/server.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <random>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

topology two_servers(const std::string& extra)
{
    const auto p = free_ports(4);
    return parse_topology(
        "[herd]\nsecret = \"hostile-test\"\n" + extra + "[servers.Goloman]\nport = " + std::to_string(p[0]) +
            "\npeer_port = " + std::to_string(p[1]) +
            "\nadmin_port = 0\nneighbors = [\"Hands\"]\n[servers.Hands]\nport = " + std::to_string(p[2]) +
            "\npeer_port = " + std::to_string(p[3]) + "\nadmin_port = 0\n",
        "hostile.toml", ".");
}

} // namespace

TEST_CASE("random bytes get ? lines (or nothing) and change nothing", "[hostile]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = two_servers("");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        std::mt19937 random(12345);
        std::string noise(256 * 1024, '\0');
        for (auto& c : noise) {
            c = static_cast<char>(random() % 256);
        }
        const auto reply = co_await ask(goloman.client_port(), noise);
        CHECK(goloman.store().size() == 0);
        std::size_t lines = 0;
        for (std::size_t at = 0; at < reply.size(); at = reply.find('\n', at) + 1, ++lines) {
            REQUIRE(reply.compare(at, 2, "? ") == 0);
        }
        CHECK(lines > 0);
        CHECK(goloman.stats().invalid == lines);
        const auto after = co_await ask(goloman.client_port(), "IAMAT kiwi +1+1 1\n");
        CHECK_THAT(after, Catch::EndsWith(" kiwi +1+1 1\n"));
    });
}

TEST_CASE("a recorded handshake replayed on a new connection is refused", "[hostile][peer]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = two_servers("");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        const std::optional<std::string> secret = "hostile-test";
        // A genuine Hands handshake, as an eavesdropper would record it.
        client first(io.get_executor());
        co_await first.connect(herd.find("Goloman")->peer_port);
        const std::string challenge_line = (co_await first.read_line(2000ms)).value_or("");
        const auto challenge = peer::parse_challenge(challenge_line); // views into challenge_line
        REQUIRE(challenge);
        const std::string nonce = peer::make_nonce();
        const std::string hello = peer::format_hello("Hands", nonce,
                                                     peer::make_proof(secret, peer::role::dialer, "Goloman", "Hands",
                                                                      challenge->nonce, nonce)) +
                                  "\n";
        co_await first.send(hello);
        const std::string welcome = (co_await first.read_line(2000ms)).value_or("");
        CHECK(peer::parse_welcome(welcome));
        // The same HELLO on another connection: the challenge is new.
        client replay(io.get_executor());
        co_await replay.connect(herd.find("Goloman")->peer_port);
        co_await replay.read_line(2000ms);
        co_await replay.send(hello + "AT Hands +0.000000000 kiwi +1+1 1800000000\n");
        const auto answer = co_await replay.read_line(2000ms);
        CHECK_THAT(answer.value_or(""), Catch::StartsWith("HERD herd/1 REFUSED") && Catch::Contains("does not match"));
        CHECK(goloman.store().size() == 0);
        // A member replaying old records changes nothing: they are not newer.
        co_await first.send("AT Hands +0.000000000 kiwi +1+1 1800000000\n");
        co_await first.send("AT Hands +0.000000000 kiwi +1+1 1700000000\n");
        co_await first.send("AT Hands +0.000000000 kiwi +1+1 1800000000\n");
        for (int i = 0; i < 100 && goloman.stats().peer_records_received < 3; ++i) {
            co_await ask(goloman.client_port(), "\n"); // one io_context: this lets the link's reads run
        }
        CHECK(goloman.stats().peer_records_received == 3);
        CHECK(goloman.stats().peer_records_stored == 1);
        CHECK(goloman.store().find("kiwi")->time_ns == 1800000000LL * 1000000000LL);
    });
}

TEST_CASE("thousands of connections at once are served, or refused past the limit", "[hostile]")
{
    run_async(
        [](asio::io_context& io) -> asio::awaitable<void> {
            const auto herd = two_servers("[limits]\nconnections = 2000\n");
            server goloman(io, herd, "Goloman", test_options("Goloman"));
            goloman.start();
            std::vector<std::unique_ptr<client>> clients;
            for (int i = 0; i < 2500; ++i) {
                clients.push_back(std::make_unique<client>(io.get_executor()));
                co_await clients.back()->connect(goloman.client_port());
            }
            // Every connection asks; the first 2000 are answered, the rest closed.
            std::size_t answered = 0;
            std::size_t closed = 0;
            for (std::size_t i = 0; i < clients.size(); ++i) {
                auto& c = *clients[i];
                const std::string request = "IAMAT c" + std::to_string(i) + " +1+1 1\n";
                auto write = asio::async_write(c.socket(), asio::buffer(request), asio::as_tuple(asio::use_awaitable));
                auto [ec, n] = co_await std::move(write);
                if (ec) {
                    ++closed;
                    continue;
                }
                const auto line = co_await c.read_line(5000ms);
                line ? ++answered : ++closed;
            }
            CHECK(answered == 2000);
            CHECK(closed == 500);
            CHECK(goloman.stats().clients_refused == 500);
            clients.clear();
            const auto after = co_await ask(goloman.client_port(), "IAMAT kiwi +1+1 1\n");
            CHECK_THAT(after, Catch::EndsWith(" kiwi +1+1 1\n"));
        },
        60s);
}
