// Hostile input against one real server: random bytes, a replayed peer
// handshake, replayed records, and thousands of connections at once. Each
// gets a bounded, clear outcome, and the server keeps serving.
#include "herd/server.hpp"
#include "peer/peer_protocol.hpp"
#include "peer/reconciliation.hpp"
#include "protocol/protocol.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <random>
#include <set>
#include <sstream>

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
            "\nadmin_port = 0\nhttp_port = 0\nneighbors = [\"Hands\"]\n[servers.Hands]\nport = " +
            std::to_string(p[2]) + "\npeer_port = " + std::to_string(p[3]) + "\nadmin_port = 0\nhttp_port = 0\n",
        "hostile.toml", ".");
}

const std::optional<std::string> hostile_secret = "hostile-test";

// Proves membership as Hands on Goloman's peer port: Goloman's answer, a
// WELCOME once welcomed (or what came instead of a challenge).
asio::awaitable<std::string> join_as_hands(client& link, std::uint16_t peer_port)
{
    co_await link.connect(peer_port);
    const std::string challenge_line = (co_await link.read_line(2000ms)).value_or("");
    const auto challenge = peer::parse_challenge(challenge_line);
    if (!challenge) {
        co_return "no challenge: " + challenge_line;
    }
    const std::string nonce = peer::make_nonce();
    const std::string proof =
        peer::make_proof(hostile_secret, peer::role::dialer, "Goloman", "Hands", challenge->nonce, nonce);
    const std::string hello = peer::format_hello("Hands", nonce, proof) + "\n";
    co_await link.send(hello);
    co_return (co_await link.read_line(2000ms)).value_or("");
}

// Answers Goloman's link on Hands's peer port as Hands would, with a
// WELCOME whose store summary is `summary`.
asio::awaitable<bool> welcome_as_hands(client& link, const std::string& summary)
{
    const std::string nonce = peer::make_nonce();
    const std::string challenge = peer::format_challenge("Hands", nonce) + "\n";
    co_await link.send(challenge);
    const std::string hello_line = (co_await link.read_line(2000ms)).value_or("");
    const auto hello = peer::parse_hello(hello_line);
    if (!hello || hello->dialer != "Goloman") {
        co_return false;
    }
    const std::string proof =
        peer::make_proof(hostile_secret, peer::role::acceptor, "Hands", "Goloman", nonce, hello->nonce);
    const std::string welcome = peer::format_welcome(proof) + " " + summary + "\n";
    co_await link.send(welcome);
    co_return true;
}

// A neighbour's peer port played by the test.
class fake_peer_port {
public:
    // A receive_buffer of 0 leaves the kernel's own, which grows as the
    // reader keeps up; a fixed one keeps a slow reader's backlog on the
    // sending side, as a slow network would.
    fake_peer_port(asio::io_context& io, std::uint16_t port, int receive_buffer = 0) : acceptor_(io)
    {
        const asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
        acceptor_.open(at.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        if (receive_buffer > 0) {
            // Set before listen(): accepted sockets inherit it, and the
            // window scale is agreed in the handshake.
            acceptor_.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
        }
        acceptor_.bind(at);
        acceptor_.listen();
    }
    asio::awaitable<asio::ip::tcp::socket> accept() { co_return co_await acceptor_.async_accept(asio::use_awaitable); }
    void close() { acceptor_.close(); }

private:
    asio::ip::tcp::acceptor acceptor_;
};

// Options whose log is written into `text`, for tests that read it.
server_options logging_to(std::ostringstream& text)
{
    auto options = test_options("Goloman");
    options.log = std::make_shared<spdlog::logger>("Goloman", std::make_shared<spdlog::sinks::ostream_sink_st>(text));
    options.reconnect_interval = 50ms;
    return options;
}

// Every line of `log` is one printable line: no control byte but its '\n'.
bool printable_lines(const std::string& log)
{
    return std::none_of(log.begin(), log.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return c != '\n' && (u < 0x20 || u == 0x7f);
    });
}

// Lets the server's coroutines run (one io_context) until `holds`, or
// gives up after `rounds` round trips to its client port.
asio::awaitable<bool> until_served(server& s, const std::function<bool()>& holds, int rounds = 500)
{
    for (int i = 0; i < rounds && !holds(); ++i) {
        co_await ask(s.client_port(), "\n");
    }
    co_return holds();
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

TEST_CASE("a complete peer line over limits.peer_line_bytes closes the link, as an unfinished one does",
          "[hostile][peer][limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = two_servers("[limits]\npeer_line_bytes = 512\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        client link(io.get_executor());
        const std::string welcome = co_await join_as_hands(link, herd.find("Goloman")->peer_port);
        REQUIRE_THAT(welcome, Catch::StartsWith("HERD herd/1 WELCOME"));
        // A record of exactly 512 bytes is within the limit; the skew pads it.
        const std::string head = "AT Hands +";
        const std::string tail = ".000000000 kiwi +1+1 1";
        const std::string at_limit = head + std::string(512 - head.size() - tail.size(), '0') + tail;
        REQUIRE(at_limit.size() == 512);
        const std::string lines = at_limit + "\n" + std::string(600, 'x') + "\nAT Hands +0.000000000 lime +1+1 1\n";
        co_await link.send(lines);
        const auto after = co_await link.read_until_close(5000ms);
        CHECK(after.empty());
        CHECK(goloman.store().find("kiwi") != nullptr);
        CHECK(goloman.store().find("lime") == nullptr); // the link closed at the long line
        CHECK(goloman.stats().peer_records_received == 1);
    });
}

TEST_CASE("bytes from a neighbour or a client reach the log escaped", "[hostile][peer][log]")
{
    std::ostringstream text;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = two_servers("");
        // Hands's peer port answers as something else, then refuses.
        fake_peer_port hands(io, herd.find("Hands")->peer_port);
        server goloman(io, herd, "Goloman", logging_to(text));
        goloman.start();
        {
            client link(co_await hands.accept());
            const std::string challenge = peer::format_challenge("Ha\x1b[2Jnds", peer::make_nonce()) + "\n";
            co_await link.send(challenge);
            co_await link.read_until_close(2000ms); // Goloman hangs up
        }
        {
            client link(co_await hands.accept());
            const std::string challenge = peer::format_challenge("Hands", peer::make_nonce()) + "\n";
            co_await link.send(challenge);
            co_await link.read_line(2000ms); // the HELLO
            const std::string refusal = peer::format_refused("no\x1b]0;owned\x07\r way") + "\n";
            co_await link.send(refusal);
            co_await link.read_until_close(2000ms);
        }
        // A dialer whose name carries control bytes.
        client stranger(io.get_executor());
        co_await stranger.connect(herd.find("Goloman")->peer_port);
        co_await stranger.read_line(2000ms);
        const std::string hello = "HERD herd/1 HELLO Ev\x01il " + peer::make_nonce() + " -\n";
        co_await stranger.send(hello);
        co_await stranger.read_until_close(2000ms);
        CHECK(goloman.stats().peer_links_refused >= 2);
        const auto reply = co_await ask(goloman.client_port(), "IAMAT k\x1b[31mi +1+1 1\n");
        CHECK_THAT(reply, Catch::Contains("k\x1b[31mi"));
        goloman.stop();
    });
    const std::string log = text.str();
    CHECK(printable_lines(log));
    CHECK_THAT(log, Catch::Contains("Ha\\x1b[2Jnds"));
    CHECK_THAT(log, Catch::Contains("no\\x1b]0;owned\\x07\\r way"));
    CHECK_THAT(log, Catch::Contains("Ev\\x01il"));
    CHECK_THAT(log, Catch::Contains("k\\x1b[31mi"));
}

TEST_CASE("a full queue is logged once an episode, not once a record", "[hostile][peer][log]")
{
    std::ostringstream text;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = two_servers("[limits]\npeer_queue_bytes = 65536\n");
        // Hands welcomes the link and then reads nothing: the link's socket
        // buffers fill, then its queue.
        fake_peer_port hands(io, herd.find("Hands")->peer_port);
        server goloman(io, herd, "Goloman", logging_to(text));
        goloman.start();
        client silent(co_await hands.accept());
        const bool welcomed = co_await welcome_as_hands(silent, "0 0000000000000000");
        REQUIRE(welcomed);
        const bool up = co_await until_served(
            goloman, [&] { return goloman.stats().peer_records_sent == 0; }, 10);
        REQUIRE(up);
        // 10 MB of records, in requests small enough that a reply fits in
        // the socket buffers before it is read.
        const std::string pad(200, 'p');
        for (int part = 0; part < 40; ++part) {
            std::string burst;
            for (int i = part * 1000; i < (part + 1) * 1000; ++i) {
                burst += "IAMAT c" + std::to_string(i) + pad + " +1+1 1\n";
            }
            co_await ask(goloman.client_port(), burst);
        }
        CHECK(goloman.store().size() == 40000);
        CHECK(goloman.stats().peer_records_dropped > 10000);
        CHECK(goloman.stats().peer_queue_overflows == 1);
        goloman.stop();
    });
    const std::string log = text.str();
    CHECK(printable_lines(log));
    std::size_t full = 0;
    for (auto at = log.find("queue full"); at != std::string::npos; at = log.find("queue full", at + 1)) {
        ++full;
    }
    CHECK(full == 1);
}

// Plays Hands's side of a reconciliation with an empty store: answers
// Goloman's messages and PINGs, storing what comes in `kept`, until the
// reconciliation ends or `pause` says to stop reading for now.
struct empty_hands {
    location_store kept;
    peer::store_view view{kept, [this](std::string_view line) {
                              if (auto parsed = parse_at_line(line)) {
                                  kept.update(location_record::from(*parsed, line));
                              }
                          }};
    peer::reconciliation answering{view};
    peer::message_reader reader;
    std::size_t messages = 0;

    // Reads lines until a message is answered or the link ends; false at the end.
    asio::awaitable<bool> answer_one(client& link)
    {
        for (;;) {
            auto line = co_await link.read_line(10000ms);
            if (!line) {
                co_return false;
            }
            if (*line == peer::ping_line) {
                const std::string pong = std::string(peer::pong_line) + "\n";
                co_await link.send(pong);
                continue;
            }
            if (!reader.started() && line->starts_with("AT ")) {
                view.store(*line); // flooded as usual, between messages
                continue;
            }
            auto fed = reader.feed(*line);
            if (!fed.ok) {
                co_return false;
            }
            if (fed.message) {
                ++messages;
                auto out = answering.answer(*fed.message);
                if (out) {
                    std::string bytes;
                    for (const auto& l : peer::format_message(*out)) {
                        bytes += l + "\n";
                    }
                    co_await link.send(bytes);
                }
                co_return true;
            }
        }
    }
};

TEST_CASE("a reconciliation with an empty neighbour goes in bounded pieces and clients are answered meanwhile",
          "[hostile][peer][catch-up]")
{
    run_async(
        [](asio::io_context& io) -> asio::awaitable<void> {
            const auto herd = two_servers("");
            auto options = test_options("Goloman");
            options.reconnect_interval = 50ms;
            server goloman(io, herd, "Goloman", std::move(options));
            goloman.start();
            // 100,000 records of about 240 bytes, from Hands so that none is
            // queued back to it: far more than one message may carry.
            constexpr std::size_t records = 100'000;
            const std::string pad(200, 'p');
            {
                client feeder(io.get_executor());
                const std::string welcome = co_await join_as_hands(feeder, herd.find("Goloman")->peer_port);
                REQUIRE_THAT(welcome, Catch::StartsWith("HERD herd/1 WELCOME"));
                std::string all;
                for (std::size_t i = 0; i < records; ++i) {
                    all += "AT Hands +0.000000000 c" + std::to_string(i) + pad + " +1+1 1\n";
                }
                co_await feeder.send(all);
                const bool fed = co_await until_served(
                    goloman, [&] { return goloman.store().size() == records; }, 100000);
                REQUIRE(fed);
            }
            // Hands comes up now, empty: the link, dialling every 50 ms, finds it.
            fake_peer_port hands(io, herd.find("Hands")->peer_port);
            client link(co_await hands.accept());
            const bool welcomed = co_await welcome_as_hands(link, "0 0000000000000000");
            REQUIRE(welcomed);
            empty_hands side;
            // The whole store's fingerprint, the parts of it, then the
            // first part of the records.
            bool more = true;
            while (more && side.kept.size() == 0) {
                more = co_await side.answer_one(link);
            }
            REQUIRE(more);
            // Part way through, with Hands reading nothing for now, an IAMAT
            // is answered.
            CHECK(side.kept.size() > 0);
            CHECK(side.kept.size() < records);
            client probe(io.get_executor());
            co_await probe.connect(goloman.client_port());
            co_await probe.send("IAMAT during +1+1 1\n");
            const auto answer = co_await probe.read_line(10000ms);
            CHECK_THAT(answer.value_or(""), Catch::Contains(" during +1+1 1"));
            std::size_t most = side.kept.size();
            while (more && side.kept.size() < records + 1) {
                const std::size_t before = side.kept.size();
                more = co_await side.answer_one(link);
                most = std::max(most, side.kept.size() - before);
            }
            CHECK(side.kept.size() >= records);
            CHECK(most <= 65536 + 64); // reconcile_options::max_records, and a leaf past it
            CHECK(side.messages > records / 65536);
            goloman.stop();
        },
        120s);
}

TEST_CASE("a link with a backlog that takes seven times peer_timeout to read stays up, its PINGs answered late",
          "[hostile][peer][heartbeat]")
{
    run_async(
        [](asio::io_context& io) -> asio::awaitable<void> {
            const auto herd = two_servers("peer_timeout = 1\n");
            // Hands's receive buffer is 64 KiB, so the backlog waits in
            // Goloman's kernel as it would behind a slow network. (Over
            // loopback the kernel's own buffer would grow to megabytes and
            // hold the backlog and the PINGs out of Goloman's sight: see
            // "Heartbeats" in docs/protocol.md.)
            fake_peer_port hands(io, herd.find("Hands")->peer_port, 64 * 1024);
            server goloman(io, herd, "Goloman", test_options("Goloman"));
            goloman.start();
            client link(co_await hands.accept());
            const bool welcomed = co_await welcome_as_hands(link, "0 0000000000000000");
            REQUIRE(welcomed);
            // About 2.4 MB of records, read by Hands at about 320 KB/s from
            // the start: the link's queue stays busy for seven seconds,
            // seven times peer_timeout. (A peer_timeout of a second, not
            // less: Hands shares this process, and a sanitizer build on a
            // busy machine can stop the whole process for a few hundred
            // ms, which is a stopped neighbour to Goloman.)
            constexpr int records = 10000;
            const std::string pad(200, 'p');
            auto feed = [&]() -> asio::awaitable<void> {
                for (int part = 0; part < records / 1000; ++part) {
                    std::string burst;
                    for (int i = part * 1000; i < (part + 1) * 1000; ++i) {
                        burst += "IAMAT c" + std::to_string(i) + pad + " +1+1 1\n";
                    }
                    co_await ask(goloman.client_port(), burst);
                }
            };
            int received = 0;
            int pings = 0;
            bool closed = false;
            auto read = [&]() -> asio::awaitable<void> {
                asio::steady_timer slow(io);
                // The PINGs come behind the backlog: read on until they do.
                while (received < records || pings < 3) {
                    const auto line = co_await link.read_line(5000ms);
                    if (!line) {
                        closed = true;
                        co_return;
                    }
                    if (*line == peer::ping_line) {
                        ++pings;
                        const std::string pong = std::string(peer::pong_line) + "\n";
                        co_await link.send(pong);
                    } else if (line->starts_with("AT ")) {
                        ++received;
                        if (received % 40 == 0) { // about 10 KB
                            slow.expires_after(30ms);
                            co_await slow.async_wait(asio::use_awaitable);
                        }
                    }
                }
            };
            using namespace asio::experimental::awaitable_operators;
            co_await (feed() && read());
            CHECK_FALSE(closed);
            CHECK(received == records);
            CHECK(pings >= 3);
            CHECK(goloman.stats().peer_timeouts == 0);
            CHECK(goloman.stats().peer_links_up == 1);
            goloman.stop();
        },
        60s);
}
