// One real server on loopback, driven by test clients and by a fake
// neighbour that speaks the peer protocol, so what crosses the peer wire is
// checked exactly.
#include "durability/store_log.hpp"
#include "herd/local_places.hpp"
#include "herd/server.hpp"
#include "peer/peer_protocol.hpp"
#include "places/places_reply.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>

#include <unistd.h>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::int64_t fixed_now_ns = 1621464828'223372000;
constexpr auto line_limit = std::chrono::milliseconds(3000);

// Goloman is real; Hands and Holiday are played by the test; Welsh is in
// the herd but not Goloman's neighbour.
topology small_herd(std::optional<std::string> secret)
{
    const auto p = free_ports(8);
    std::size_t next = 0;
    auto server = [&](std::string_view name, std::string_view neighbors) {
        const auto port = p[next++];
        const auto peer_port = p[next++];
        return "[servers." + std::string(name) + "]\nport = " + std::to_string(port) +
               "\npeer_port = " + std::to_string(peer_port) + "\nadmin_port = 0\nhttp_port = 0\nneighbors = [" +
               std::string(neighbors) + "]\n";
    };
    std::string text = server("Goloman", R"("Hands", "Holiday")") + server("Hands", "") + server("Holiday", "") +
                       server("Welsh", R"("Hands")");
    if (secret) {
        text += "[herd]\nsecret = \"" + *secret + "\"\n";
    }
    return parse_topology(text, "test.toml", ".");
}

server_options options_with(std::shared_ptr<places_source> places = nullptr)
{
    auto options = test_options("Goloman", std::move(places));
    options.clock = [] { return fixed_now_ns; };
    return options;
}

class stalled_places : public places_source {
public:
    asio::awaitable<boost::json::object> nearby_search(places_query) override
    {
        asio::steady_timer never(co_await asio::this_coro::executor, std::chrono::hours(1));
        co_await never.async_wait(asio::use_awaitable);
        co_return boost::json::object{};
    }
    std::string describe() const override { return "stalled"; }
};

class failing_places : public places_source {
public:
    asio::awaitable<boost::json::object> nearby_search(places_query) override
    {
        throw std::runtime_error("upstream exploded");
        co_return boost::json::object{};
    }
    std::string describe() const override { return "failing"; }
};

// Plays a neighbour's peer port: accepts the server's link and completes
// the acceptor's side of the handshake as `name`.
asio::awaitable<client> accept_link(tcp::acceptor& acceptor, std::string_view name,
                                    const std::optional<std::string>& secret)
{
    client link(co_await acceptor.async_accept(asio::use_awaitable));
    const auto nonce = peer::make_nonce();
    const std::string challenge = peer::format_challenge(name, nonce) + "\n";
    co_await link.send(challenge);
    const auto hello_line = co_await link.read_line(line_limit);
    REQUIRE(hello_line);
    const auto hello = peer::parse_hello(*hello_line);
    REQUIRE(hello);
    CHECK(hello->dialer == "Goloman");
    CHECK(hello->proof == peer::make_proof(secret, peer::role::dialer, name, "Goloman", nonce, hello->nonce));
    const std::string welcome =
        peer::format_welcome(peer::make_proof(secret, peer::role::acceptor, name, "Goloman", nonce, hello->nonce)) +
        "\n";
    co_await link.send(welcome);
    co_return link;
}

// Plays a neighbour dialing the server's peer port as `name`; returns the
// link and the server's last handshake line (WELCOME or REFUSED).
asio::awaitable<std::pair<client, std::string>> dial_link(std::uint16_t peer_port, std::string_view name,
                                                          const std::optional<std::string>& secret)
{
    client link(co_await asio::this_coro::executor);
    co_await link.connect(peer_port);
    const auto challenge_line = co_await link.read_line(line_limit);
    REQUIRE(challenge_line);
    const auto challenge = peer::parse_challenge(*challenge_line);
    REQUIRE(challenge);
    CHECK(challenge->acceptor == "Goloman");
    const auto nonce = peer::make_nonce();
    const auto proof = peer::make_proof(secret, peer::role::dialer, "Goloman", name, challenge->nonce, nonce);
    const std::string hello = peer::format_hello(name, nonce, proof) + "\n";
    co_await link.send(hello);
    const auto answer = co_await link.read_line(line_limit);
    co_return std::pair{std::move(link), answer.value_or("")};
}

std::uint16_t port_of(const topology& herd, std::string_view name)
{
    return herd.find(name)->port;
}

tcp::acceptor listen_as(asio::io_context& io, const topology& herd, std::string_view name)
{
    return tcp::acceptor(io, {asio::ip::make_address("127.0.0.1"), herd.find(name)->peer_port});
}

} // namespace

TEST_CASE("a connection's commands are all answered, in order, the last without a newline", "[server]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        const std::string reply =
            co_await ask(port_of(herd, "Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827.959498503\r\n"
                                                   "\n"
                                                   " \t\v\f\r\n"
                                                   "WHATSAT nobody 10 5\n"
                                                   "bogus line\n"
                                                   "IAMAT kiwi +34.068930-118.445127 1621464827.5\n"
                                                   "IAMAT\tkiwi +34.068930-118.445127 1621464830");
        CHECK(reply == "AT Goloman +0.263873497 kiwi +34.068930-118.445127 1621464827.959498503\n"
                       "? WHATSAT nobody 10 5\n"
                       "? bogus line\n"
                       "AT Goloman +0.723372000 kiwi +34.068930-118.445127 1621464827.5\n"
                       "AT Goloman -1.776628000 kiwi +34.068930-118.445127 1621464830\n");
        // The stale IAMAT was answered but did not replace the newest.
        CHECK(goloman.store().find("kiwi")->at_line == "AT Goloman -1.776628000 kiwi +34.068930-118.445127 1621464830");
    });
}

TEST_CASE("a WHATSAT reply arrives whole in one read after a half-close", "[server][whatsat]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        const auto port = port_of(herd, "Goloman");
        co_await ask(port, "IAMAT kiwi +34.072839-118.442165 1621464827\n");
        const std::string reply = co_await ask_read_once(port, "WHATSAT kiwi 1.5 4\n");

        const std::string at_line = "AT Goloman +1.223372000 kiwi +34.072839-118.442165 1621464827";
        REQUIRE(reply.size() > at_line.size() + 3);
        CHECK(reply.substr(0, at_line.size() + 1) == at_line + "\n");
        CHECK(reply.substr(reply.size() - 2) == "\n\n");
        const std::string json = reply.substr(at_line.size() + 1, reply.size() - at_line.size() - 3);
        CHECK(json.find("\n\n") == std::string::npos);
        // Exactly what the places source says for the radius in metres,
        // cut to the bound, printed the Google way.
        auto expected = local_places::bundled()->search({{34.072839, -118.442165}, "1500", 1.5, 4});
        limit_results(expected, 4);
        CHECK(json == format_places(expected));
        const auto parsed = boost::json::parse(json).as_object();
        CHECK(parsed.at("status") == "OK");
        CHECK(parsed.at("results").as_array().size() == 4);
    });
}

TEST_CASE("pipelined commands see each other's effects in order", "[server][whatsat]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        const std::string reply = co_await ask(port_of(herd, "Goloman"), "WHATSAT kiwi 1 1\n"
                                                                         "IAMAT kiwi +34.072839-118.442165 1621464827\n"
                                                                         "WHATSAT kiwi 1 1\n"
                                                                         "IAMAT kiwi +34.063057-118.446680 1621464828\n"
                                                                         "WHATSAT kiwi 0.05 1\n");
        CHECK(reply.rfind("? WHATSAT kiwi 1 1\nAT Goloman +1.223372000 kiwi +34.072839-118.442165 1621464827\n"
                          "AT Goloman +1.223372000 kiwi +34.072839-118.442165 1621464827\n{",
                          0) == 0);
        CHECK_THAT(reply, Catch::Contains("\"name\" : \"Royce Hall\""));
        CHECK_THAT(reply, Catch::Contains("AT Goloman +0.223372000 kiwi +34.063057-118.446680 1621464828\n"
                                          "AT Goloman +0.223372000 kiwi +34.063057-118.446680 1621464828\n{"));
        CHECK_THAT(reply, Catch::Contains("\"name\" : \"Diddy Riese\""));
        CHECK(reply.substr(reply.size() - 3) == "}\n\n");
    });
}

TEST_CASE("replies that overflow the socket's buffers arrive whole and in order", "[server]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        const auto herd = small_herd(std::nullopt);
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        // A client with a small receive buffer that reads slowly while it
        // writes its lines: the server's non-blocking send of a batch finds
        // the socket full part way, and the rest goes out when the client
        // drains it.
        std::string request;
        std::string expected;
        for (int i = 0; i < 100000; ++i) {
            const std::string id = "c" + std::to_string(i);
            request += "IAMAT " + id + " +34.068930-118.445127 1621464827\n";
            expected += "AT Goloman +1.223372000 " + id + " +34.068930-118.445127 1621464827\n";
        }
        tcp::socket socket(io);
        socket.open(tcp::v4());
        socket.set_option(asio::socket_base::receive_buffer_size(4096));
        client c(std::move(socket));
        co_await c.connect(port_of(herd, "Goloman"));
        auto send = c.send(request);
        auto read = [&]() -> asio::awaitable<std::string> {
            std::string got;
            std::array<char, 4096> chunk{};
            asio::steady_timer pause(io);
            while (got.size() < expected.size()) {
                const auto into = asio::buffer(chunk);
                auto [ec, n] = co_await c.socket().async_read_some(into, asio::as_tuple(asio::use_awaitable));
                if (ec) {
                    break;
                }
                got.append(chunk.data(), n);
                pause.expires_after(std::chrono::microseconds(200));
                co_await pause.async_wait(asio::use_awaitable);
            }
            co_return got;
        };
        auto reading = read();
        const std::string replies = co_await (std::move(send) && std::move(reading));
        CHECK(replies.size() == expected.size());
        CHECK(replies == expected);
    });
}

TEST_CASE("a places source that fails or stalls still gets the client a reply", "[server][whatsat]")
{
    const bool stalled = GENERATE(true, false);
    run_async([stalled](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        std::shared_ptr<places_source> places;
        if (stalled) {
            places = std::make_shared<stalled_places>();
        } else {
            places = std::make_shared<failing_places>();
        }
        auto options = options_with(places);
        options.places_timeout = std::chrono::milliseconds(200);
        server goloman(io, herd, "Goloman", options);
        goloman.start();
        const auto started = std::chrono::steady_clock::now();
        const std::string reply =
            co_await ask(port_of(herd, "Goloman"), "IAMAT kiwi +34-118 1621464827\nWHATSAT kiwi 10 5\n");
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
        const auto second = reply.find('\n', reply.find('\n') + 1);
        REQUIRE(second != std::string::npos);
        const auto json = boost::json::parse(reply.substr(second + 1)).as_object();
        CHECK(json.at("status") == "UNKNOWN_ERROR");
        CHECK(json.at("results").as_array().empty());
        CHECK_THAT(std::string(json.at("error_message").as_string()),
                   Catch::Contains(stalled ? "did not answer in time" : "upstream exploded"));
        CHECK(reply.substr(reply.size() - 3) == "}\n\n");
    });
}

TEST_CASE("peer-shaped lines on the client port get '?' and change nothing", "[server][security]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::string("s3cret"));
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        const std::string forged = "AT Hands +0.100000000 kiwi +34-118 1999999999\n"
                                   "HERD herd/1 HELLO Hands 00 -\n"
                                   "HERD herd/1 CHALLENGE Goloman 00\n"
                                   "WHATSAT kiwi 10 5\n";
        const std::string reply = co_await ask(port_of(herd, "Goloman"), forged);
        CHECK(reply == "? AT Hands +0.100000000 kiwi +34-118 1999999999\n"
                       "? HERD herd/1 HELLO Hands 00 -\n"
                       "? HERD herd/1 CHALLENGE Goloman 00\n"
                       "? WHATSAT kiwi 10 5\n");
        CHECK(goloman.store().size() == 0);
        CHECK(goloman.stats().peer_records_received == 0);
    });
}

TEST_CASE("only a neighbour with the herd's secret may send records", "[server][peer][security]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const std::string secret = "s3cret";
        const auto herd = small_herd(secret);
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        const auto peer_port = herd.find("Goloman")->peer_port;
        const std::string record = "AT Hands +0.100000000 kiwi +34-118 1621464827\n";

        const std::optional<std::string> guess = "guess";
        const std::optional<std::string> none;
        const std::optional<std::string> right = secret;
        auto [wrong_secret, answer1] = co_await dial_link(peer_port, "Hands", guess);
        CHECK_THAT(answer1, Catch::StartsWith("HERD herd/1 REFUSED") && Catch::Contains("does not match"));
        auto [no_secret, answer2] = co_await dial_link(peer_port, "Hands", none);
        CHECK_THAT(answer2, Catch::StartsWith("HERD herd/1 REFUSED"));
        auto [stranger, answer3] = co_await dial_link(peer_port, "Welsh", right);
        CHECK_THAT(answer3, Catch::Contains("Welsh is not a neighbour of Goloman"));
        auto [impostor, answer4] = co_await dial_link(peer_port, "Mallory", right);
        CHECK_THAT(answer4, Catch::StartsWith("HERD herd/1 REFUSED"));
        for (auto* refused : {&wrong_secret, &no_secret, &stranger, &impostor}) {
            // Whatever a refused dialer sends after is never read.
            co_await refused->send(record);
            const auto after_refusal = co_await refused->read_until_close(line_limit);
            CHECK(after_refusal.empty());
        }
        CHECK(goloman.stats().peer_links_refused == 4);

        client garbage(co_await asio::this_coro::executor);
        co_await garbage.connect(peer_port);
        co_await garbage.send(record); // a record instead of a hello
        const auto garbage_answer = co_await garbage.read_until_close(line_limit);
        CHECK_THAT(garbage_answer, Catch::Contains("REFUSED malformed hello"));
        CHECK(goloman.store().size() == 0);

        auto [member, welcome] = co_await dial_link(peer_port, "Hands", right);
        REQUIRE(peer::parse_welcome(welcome));
        co_await member.send(record);
        // The record is in once the server has answered a client after it:
        // one io_context, so the link's read is handled first.
        for (int i = 0; i < 100 && goloman.store().size() == 0; ++i) {
            co_await ask(port_of(herd, "Goloman"), "\n");
        }
        REQUIRE(goloman.store().find("kiwi") != nullptr);
        CHECK(goloman.store().find("kiwi")->at_line == "AT Hands +0.100000000 kiwi +34-118 1621464827");
    });
}

TEST_CASE("records flood on to other neighbours, never back, and stale ones stop", "[server][peer][flooding]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const std::optional<std::string> secret = "s3cret";
        const auto herd = small_herd(secret);
        auto hands_port = listen_as(io, herd, "Hands");
        auto holiday_port = listen_as(io, herd, "Holiday");
        server goloman(io, herd, "Goloman", options_with());
        goloman.start();
        auto to_hands = co_await accept_link(hands_port, "Hands", secret);
        auto to_holiday = co_await accept_link(holiday_port, "Holiday", secret);

        // A record from Hands goes on to Holiday, not back to Hands.
        auto [from_hands, welcome] = co_await dial_link(herd.find("Goloman")->peer_port, "Hands", secret);
        REQUIRE(peer::parse_welcome(welcome));
        co_await from_hands.send("AT Hands +0.500000000 kiwi +34-118 1621464820\n");
        const auto at_holiday = co_await to_holiday.read_line(line_limit);
        CHECK(at_holiday == "AT Hands +0.500000000 kiwi +34-118 1621464820");

        // The same record again changes nothing, so it goes nowhere: the
        // next thing Holiday sees is the newer record sent after it on the
        // same stream.
        co_await from_hands.send("AT Hands +0.500000000 kiwi +34-118 1621464820\n"
                                 "AT Hands +0.500000000 kiwi +34-118 1621464821\n");
        const auto next_at_holiday = co_await to_holiday.read_line(line_limit);
        CHECK(next_at_holiday == "AT Hands +0.500000000 kiwi +34-118 1621464821");
        // A client's stale IAMAT is answered but does not travel either.
        const auto port = port_of(herd, "Goloman");
        const auto stale_reply = co_await ask(port, "IAMAT kiwi +1+1 1621464810\n");
        CHECK(stale_reply == "AT Goloman +18.223372000 kiwi +1+1 1621464810\n");
        // A fresh IAMAT travels to both neighbours: it is the next thing
        // each of them sees, so nothing else was sent before it.
        const auto fresh_reply = co_await ask(port, "IAMAT kiwi +2+2 1621464828\n");
        CHECK(fresh_reply == "AT Goloman +0.223372000 kiwi +2+2 1621464828\n");
        const auto at_hands = co_await to_hands.read_line(line_limit);
        CHECK(at_hands == "AT Goloman +0.223372000 kiwi +2+2 1621464828");
        const auto at_holiday_next = co_await to_holiday.read_line(line_limit);
        CHECK(at_holiday_next == "AT Goloman +0.223372000 kiwi +2+2 1621464828");
        CHECK(goloman.stats().peer_records_received == 3);
        CHECK(goloman.stats().peer_records_stored == 2);
    });
}

TEST_CASE("a neighbour that comes back is linked again on the link's own clock, and gets the records queued meanwhile",
          "[server][peer]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        auto options = options_with();
        // The cap of the back-off: the first retries come far sooner.
        options.reconnect_interval = std::chrono::seconds(30);
        server goloman(io, herd, "Goloman", options);
        goloman.start();
        auto holiday_port = listen_as(io, herd, "Holiday");
        const std::optional<std::string> no_secret;
        auto to_holiday = co_await accept_link(holiday_port, "Holiday", no_secret);
        {
            // Hands is down at start; the record waits in the link's queue
            // until the next retry finds Hands up.
            auto hands_port = listen_as(io, herd, "Hands");
            const auto started = std::chrono::steady_clock::now();
            co_await ask(port_of(herd, "Goloman"), "IAMAT kiwi +1+1 1621464820\n");
            auto to_hands = co_await accept_link(hands_port, "Hands", no_secret);
            const auto at_hands = co_await to_hands.read_line(line_limit);
            CHECK(at_hands == "AT Goloman +8.223372000 kiwi +1+1 1621464820");
            CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
        }
        const auto at_holiday = co_await to_holiday.read_line(line_limit);
        CHECK(at_holiday == "AT Goloman +8.223372000 kiwi +1+1 1621464820");
    });
}

TEST_CASE("a link that is down is tried again within the reconnect interval", "[server][peer]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        auto options = options_with();
        options.reconnect_interval = std::chrono::milliseconds(300);
        server goloman(io, herd, "Goloman", options);
        goloman.start();
        // Nothing to send, and the neighbours come up after Goloman tried.
        asio::steady_timer later(io, std::chrono::milliseconds(100));
        co_await later.async_wait(asio::use_awaitable);
        auto hands_port = listen_as(io, herd, "Hands");
        const auto started = std::chrono::steady_clock::now();
        const std::optional<std::string> no_secret;
        auto to_hands = co_await accept_link(hands_port, "Hands", no_secret);
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
    });
}

namespace {

// Answers like the bundled places, after `delay`; `asked` fires when asked.
class slow_places : public places_source {
public:
    slow_places(asio::io_context& io, std::chrono::milliseconds delay) : asked(io), delay_(delay) {}

    asio::awaitable<boost::json::object> nearby_search(places_query query) override
    {
        asked.cancel();
        asio::steady_timer wait(co_await asio::this_coro::executor, delay_);
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return local_->search(query);
    }
    std::string describe() const override { return "slow"; }

    asio::steady_timer asked; // its wait ends when a search starts

private:
    std::chrono::milliseconds delay_;
    std::shared_ptr<local_places> local_ = local_places::bundled();
};

} // namespace

TEST_CASE("stopping finishes the replies in flight, then closes, and accepts no one new", "[server][shutdown]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = small_herd(std::nullopt);
        auto places = std::make_shared<slow_places>(io, 300ms);
        places->asked.expires_at(asio::steady_timer::time_point::max());
        server goloman(io, herd, "Goloman", options_with(places));
        goloman.start();
        client c(io.get_executor());
        co_await c.connect(port_of(herd, "Goloman"));
        co_await c.send("IAMAT kiwi +34.072839-118.442165 1621464827\nWHATSAT kiwi 1 2\n");
        co_await places->asked.async_wait(asio::as_tuple(asio::use_awaitable));
        goloman.stop(); // while the WHATSAT waits for its places
        const auto reply = co_await c.read_until_close(3000ms);
        CHECK_THAT(reply, Catch::StartsWith("AT Goloman ") && Catch::Contains("\"name\" : \"Royce Hall\"") &&
                              Catch::EndsWith("}\n\n"));
        client late(io.get_executor());
        auto connect = late.socket().async_connect({asio::ip::make_address("127.0.0.1"), port_of(herd, "Goloman")},
                                                   asio::as_tuple(asio::use_awaitable));
        auto [ec] = co_await std::move(connect);
        CHECK(ec == asio::error::connection_refused);
    });
}

namespace {

// The store file's fdatasync held until the test opens the gate; each call
// wakes `signal` on the test's loop, so the test awaits it as an event.
struct held_sync {
    std::mutex mutex;
    std::condition_variable opened;
    bool open = false;
    std::atomic<int> entered{0};

    std::shared_ptr<disk_io> io(asio::io_context& io, store_signal& signal)
    {
        auto calls = std::make_shared<disk_io>();
        calls->fdatasync = [this, &io, &signal](int fd) {
            ++entered;
            asio::post(io, [&signal] { signal.notify(); });
            std::unique_lock lock(mutex);
            opened.wait(lock, [&] { return open; });
            return ::fdatasync(fd);
        };
        return calls;
    }
    void let_through()
    {
        const std::lock_guard lock(mutex);
        open = true;
        opened.notify_all();
    }
};

} // namespace

TEST_CASE("with fsync always the loop serves other clients while a commit is in flight", "[server][durability]")
{
    const auto dir = scratch_dir("herd-commit-");
    held_sync gate;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        auto herd = small_herd(std::nullopt);
        herd.fsync_always = true;
        store_signal signal(io.get_executor());
        auto options = options_with();
        options.data_dir = dir;
        options.disk_calls = gate.io(io, signal);
        int stored = 0;
        options.on_stored = [&](const location_record&) {
            ++stored;
            signal.notify();
        };
        server goloman(io, herd, "Goloman", options);
        goloman.start();
        const auto port = port_of(herd, "Goloman");
        client a(io.get_executor());
        co_await a.connect(port);
        co_await a.send("IAMAT kiwi +34.068930-118.445127 1621464827.5\n");
        const bool syncing = co_await signal.until([&] { return gate.entered >= 1; }, std::chrono::seconds(20));
        REQUIRE(syncing);
        // A's sync is in flight: another client's IAMAT is read, stored and
        // written meanwhile, and an unrelated line is answered.
        client b(io.get_executor());
        co_await b.connect(port);
        co_await b.send("IAMAT plum +1+1 1621464827.5\n");
        const bool both_stored = co_await signal.until([&] { return stored >= 2; }, std::chrono::seconds(20));
        REQUIRE(both_stored);
        client c(io.get_executor());
        co_await c.connect(port);
        co_await c.send("HELLO\n");
        const auto answered = co_await c.read_line(line_limit);
        CHECK(answered == "? HELLO");
        // Neither AT reply has gone out: their records are not on the disk.
        CHECK(a.socket().available() == 0);
        CHECK(b.socket().available() == 0);
        gate.let_through();
        const auto a_reply = co_await a.read_line(line_limit);
        const auto b_reply = co_await b.read_line(line_limit);
        CHECK(a_reply == "AT Goloman +0.723372000 kiwi +34.068930-118.445127 1621464827.5");
        CHECK(b_reply == "AT Goloman +0.723372000 plum +1+1 1621464827.5");
        goloman.stop();
    });
    std::filesystem::remove_all(dir);
}

TEST_CASE("a failed fdatasync stops the server and the record is never acknowledged", "[server][durability]")
{
    const auto dir = scratch_dir("herd-commit-");
    std::string failure;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        auto herd = small_herd(std::nullopt);
        herd.fsync_always = true;
        auto options = options_with();
        options.data_dir = dir;
        auto calls = std::make_shared<disk_io>();
        calls->fdatasync = [](int) {
            errno = EIO;
            return -1;
        };
        options.disk_calls = calls;
        options.on_disk_failure = [&](const std::string& what) { failure = what; };
        server goloman(io, herd, "Goloman", options);
        goloman.start();
        const auto reply = co_await ask(port_of(herd, "Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827.5\n");
        CHECK(reply.empty());
        // The server stops itself: run_async finds nothing left running.
    });
    CHECK_THAT(failure, Catch::Contains("Goloman.store: fdatasync: Input/output error"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("stopping while a commit is in flight still sends its reply once synced, and leaves nothing running",
          "[server][durability]")
{
    const auto dir = scratch_dir("herd-commit-");
    held_sync gate;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        auto herd = small_herd(std::nullopt);
        herd.fsync_always = true;
        store_signal signal(io.get_executor());
        auto options = options_with();
        options.data_dir = dir;
        options.disk_calls = gate.io(io, signal);
        server goloman(io, herd, "Goloman", options);
        goloman.start();
        client a(io.get_executor());
        co_await a.connect(port_of(herd, "Goloman"));
        co_await a.send("IAMAT kiwi +34.068930-118.445127 1621464827.5\n");
        client gone(io.get_executor());
        co_await gone.connect(port_of(herd, "Goloman"));
        co_await gone.send("IAMAT plum +1+1 1621464827.5\n");
        const bool syncing = co_await signal.until([&] { return gate.entered >= 1; }, std::chrono::seconds(20));
        REQUIRE(syncing);
        // One waiting client goes away, and the server is told to stop,
        // while the sync is held.
        boost::system::error_code ignored;
        gone.socket().close(ignored);
        goloman.stop();
        gate.let_through();
        const auto reply = co_await a.read_until_close(line_limit);
        CHECK(reply == "AT Goloman +0.723372000 kiwi +34.068930-118.445127 1621464827.5\n");
    });
    location_store reread;
    const store_log again(dir / "Goloman.store", reread, fsync_policy::always);
    CHECK(reread.size() == 2);
    std::filesystem::remove_all(dir);
}
