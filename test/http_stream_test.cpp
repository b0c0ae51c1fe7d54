// The HTTP port's WebSockets (docs/http.md) on loopback: /v1/lines against
// the line port byte for byte, and /v1/stream's subscriptions, events from
// three links away, geofences, and a subscriber too slow to keep.
#include "herd/server.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/http_client.hpp"
#include "support/net.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// The next message, which must be a JSON object.
asio::awaitable<boost::json::object> next_json(websocket_client& ws)
{
    const auto message = co_await ws.read();
    INFO("closed with " << ws.close().code << " " << ws.close().reason);
    REQUIRE(message);
    INFO(*message);
    boost::system::error_code ec;
    auto parsed = boost::json::parse(*message, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(parsed.is_object());
    co_return parsed.as_object();
}

// Sends a message and reads the answer, which must be `expected`.
asio::awaitable<void> answered(websocket_client& ws, std::string_view message, std::string_view expected)
{
    co_await ws.send(message);
    const auto answer = co_await ws.read();
    INFO(message);
    CHECK(answer.value_or("(closed)") == expected);
}

// Goloman alone, started, with a WebSocket to open on its /v1/stream.
struct goloman_stream {
    explicit goloman_stream(asio::io_context& io)
        : goloman(io, herd, "Goloman", test_options("Goloman")), ws(io.get_executor())
    {
        goloman.start();
    }
    asio::awaitable<void> open() { co_await ws.connect(goloman.http_port(), "/v1/stream"); }

    topology herd = lone_goloman();
    server goloman;
    websocket_client ws;
};

// Goloman - Hands - Holiday - Welsh: Welsh is three links from Goloman.
topology chain()
{
    return on_free_ports(parse_topology("[servers.Goloman]\nport = 1\nneighbors = [\"Hands\"]\n"
                                        "[servers.Hands]\nport = 2\nneighbors = [\"Holiday\"]\n"
                                        "[servers.Holiday]\nport = 3\nneighbors = [\"Welsh\"]\n"
                                        "[servers.Welsh]\nport = 4\n",
                                        "chain.toml", "."));
}

} // namespace

TEST_CASE("/v1/lines answers each line with the line port's bytes, a blank line with nothing", "[http][websocket]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        // Two identical servers on one clock, one asked over its line port,
        // the other over /v1/lines, line by line in the same order.
        const auto a = lone_goloman();
        const auto b = lone_goloman();
        server over_line(io, a, "Goloman", fixed_clock_options("Goloman"));
        server over_ws(io, b, "Goloman", fixed_clock_options("Goloman"));
        over_line.start();
        over_ws.start();
        websocket_client ws(io.get_executor());
        co_await ws.connect(over_ws.http_port(), "/v1/lines");
        const std::vector<std::string> lines{
            "IAMAT kiwi +34.072839-118.442165 1621464827",
            "WHATSAT kiwi 1.5 4",
            "nonsense here",
            "",
            "   \t",
            "WHATSAT nobody 10 5",
            "IAMAT kiwi +34.063057-118.446680 1621464828.5\n", // a message may end with its '\n'
            "IAMAT kiwi +34.063057-118.446680 1621464828.5",   // the same again
            "IAMAT kiwi +34.072839-118.442165 1621464827",     // older
            "WHATSAT kiwi 0.05 1",
            "IAMAT plum +1+1 1\r",
            "bogus\r",
            "IAMAT " + std::string(256, 'k') + " +1+1 1",
            "WHATSAT kiwi 51 1",
            "IAMAT last +1+1 1",
        };
        int blank = 0;
        for (const auto& line : lines) {
            INFO(line);
            const std::string text = line.ends_with('\n') ? line : line + "\n";
            const std::string expected = co_await ask(over_line.client_port(), text);
            co_await ws.send(line);
            if (expected.empty()) {
                ++blank; // no message: the next one read is the next line's
                continue;
            }
            const auto message = co_await ws.read();
            REQUIRE(message);
            CHECK(*message == expected);
        }
        CHECK(blank == 2);
        CHECK(over_ws.store().size() == over_line.store().size());
        CHECK(over_ws.store().find("kiwi")->at_line == over_line.store().find("kiwi")->at_line);
        CHECK(over_ws.stats().invalid == over_line.stats().invalid);
        CHECK(over_ws.stats().websockets_open == 1);
    });
}

TEST_CASE("/v1/lines: a message over limits.line_bytes closes the WebSocket with 1009", "[http][websocket][limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman("", "line_bytes = 512\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        websocket_client ws(io.get_executor());
        co_await ws.connect(goloman.http_port(), "/v1/lines");
        co_await ws.send("IAMAT a +1+1 1");
        const auto at = co_await ws.read();
        CHECK_THAT(at.value_or(""), Catch::StartsWith("AT Goloman "));
        const std::string too_long = "IAMAT " + std::string(600, 'x') + " +1+1 1";
        co_await ws.send(too_long);
        const auto refused = co_await ws.read();
        CHECK_FALSE(refused);
        CHECK(ws.close().code == 1009);
        CHECK(goloman.store().size() == 1);
        CHECK(goloman.stats().clients_dropped == 1);
    });
}

TEST_CASE("/v1/stream at Welsh gets an IAMAT made at Goloman, three links away", "[http][stream]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, chain());
        herd.start_all();
        websocket_client welsh(io.get_executor());
        co_await welsh.connect(herd.at("Welsh").http_port(), "/v1/stream");
        co_await answered(welsh, R"({"subscribe":{"all":true},"id":"a"})", R"({"subscribed":"a"})");
        co_await answered(welsh, R"({"subscribe":{"clients":["kiwi"]},"id":"k"})", R"({"subscribed":"k"})");
        websocket_client goloman(io.get_executor());
        co_await goloman.connect(herd.at("Goloman").http_port(), "/v1/stream");
        co_await answered(goloman, R"({"subscribe":{"all":true},"id":"here"})", R"({"subscribed":"here"})");

        const auto before = system_clock_ns();
        const auto reply = co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827.5\n");
        const std::string at = reply.substr(0, reply.size() - 1);
        REQUIRE_THAT(at, Catch::StartsWith("AT Goloman "));

        // At Goloman itself: from the client, not from a neighbour.
        const auto own = co_await next_json(goloman);
        CHECK(own.at("id") == "here");
        CHECK(own.at("at").as_string() == at);
        CHECK(own.at("stored_by") == "Goloman");
        CHECK(own.at("via").is_null());

        // At Welsh: one event per matching subscription, in their order.
        for (const char* id : {"a", "k"}) {
            INFO(id);
            const auto event = co_await next_json(welsh);
            CHECK(event.at("id") == id);
            CHECK(event.at("event") == "update");
            CHECK(event.at("client") == "kiwi");
            CHECK(event.at("at").as_string() == at);
            CHECK(event.at("server") == "Goloman");
            CHECK(event.at("lat").to_number<double>() == 34.06893);
            CHECK(event.at("lng").to_number<double>() == -118.445127);
            CHECK(event.at("time") == "1621464827.5");
            CHECK(event.at("stored_by") == "Welsh");
            CHECK(event.at("via") == "Holiday");
            CHECK(event.at("stored_ns").as_int64() >= before);
            CHECK(event.at("stored_ns").as_int64() <= system_clock_ns());
            CHECK(event.size() == 11);
        }
        CHECK(herd.record_at("Welsh", "kiwi") == at);
        CHECK(herd.at("Welsh").stats().stream_events_queued == 2);
    });
}

TEST_CASE("a geofence gives enter, inside and exit as a client moves in and out of it", "[http][stream]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        goloman_stream s(io);
        co_await s.open();
        auto& goloman = s.goloman;
        auto& ws = s.ws;
        co_await answered(ws, R"({"subscribe":{"near":{"lat":34.07,"lng":-118.44,"radius_km":2}},"id":"g"})",
                          R"({"subscribed":"g"})");
        // Royce Hall and Diddy Riese are within 2 km of the centre, Santa
        // Monica about 7 km from it.
        const std::string royce = "+34.072839-118.442165", diddy = "+34.063057-118.446680",
                          santa_monica = "+34.0195-118.4912";
        const std::vector<std::pair<std::string, std::string>> moves{
            {santa_monica, "1"}, // outside, unknown before: nothing
            {royce, "2"},        // enter
            {diddy, "3"},        // inside
            {royce, "1.5"},      // older than what is stored: nothing
            {santa_monica, "4"}, // exit
            {santa_monica, "5"}, // outside, outside before: nothing
            {diddy, "6"},        // enter again
        };
        for (const auto& [where, when] : moves) {
            const std::string iamat = "IAMAT kiwi " + where + " " + when + "\n";
            const auto reply = co_await ask(goloman.client_port(), iamat);
            REQUIRE_THAT(reply, Catch::StartsWith("AT "));
        }
        co_await ask(goloman.client_port(), "IAMAT plum +1+1 9\n"); // another client, far away: nothing
        // Every event is queued by the time its IAMAT is answered: the
        // unsubscribe's answer comes after all of them.
        co_await ws.send(R"({"unsubscribe":"g"})");
        const std::vector<std::pair<std::string, std::string>> expected{
            {"enter", "2"}, {"inside", "3"}, {"exit", "4"}, {"enter", "6"}};
        for (const auto& [event, time] : expected) {
            INFO(event << " at " << time);
            const auto e = co_await next_json(ws);
            CHECK(e.at("id") == "g");
            CHECK(e.at("event").as_string() == event);
            CHECK(e.at("client") == "kiwi");
            CHECK(e.at("time").as_string() == time);
        }
        const auto last = co_await ws.read();
        CHECK(last == R"({"unsubscribed":"g"})");
    });
}

TEST_CASE("subscriptions by ID: several on one connection, unsubscribe, a duplicate ID refused", "[http][stream]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        goloman_stream s(io);
        co_await s.open();
        auto& goloman = s.goloman;
        auto& ws = s.ws;
        co_await answered(ws, R"({"subscribe":{"clients":["kiwi"]},"id":"k"})", R"({"subscribed":"k"})");
        co_await answered(ws, R"({"subscribe":{"all":true},"id":"k"})",
                          R"({"error":"a subscription named k is open"})");
        co_await answered(ws, R"({"subscribe":{"all":true},"id":"a"})", R"({"subscribed":"a"})");
        co_await answered(ws, "nonsense", R"({"error":"each message must be a JSON object"})");
        co_await answered(ws, R"({"unsubscribe":"zz"})", R"({"error":"no subscription named zz"})");

        using ids = std::vector<std::string>;
        // The subscriptions an IAMAT's events are for, in order.
        const auto events_of = [&](std::string_view iamat) -> asio::awaitable<ids> {
            co_await ask(goloman.client_port(), iamat);
            // A marker after the events: its answer ends them.
            co_await ws.send(R"({"unsubscribe":"marker"})");
            ids out;
            for (;;) {
                const auto e = co_await next_json(ws);
                if (e.contains("error")) {
                    break;
                }
                CHECK(e.at("event") == "update");
                out.emplace_back(e.at("id").as_string());
            }
            co_return out;
        };
        const auto kiwi_1 = co_await events_of("IAMAT kiwi +1+1 1\n");
        CHECK(kiwi_1 == ids{"k", "a"});
        const auto plum_1 = co_await events_of("IAMAT plum +1+1 1\n");
        CHECK(plum_1 == ids{"a"});
        co_await answered(ws, R"({"unsubscribe":"k"})", R"({"unsubscribed":"k"})");
        const auto kiwi_2 = co_await events_of("IAMAT kiwi +1+1 2\n");
        CHECK(kiwi_2 == ids{"a"});
        co_await answered(ws, R"({"unsubscribe":"k"})", R"({"error":"no subscription named k"})");
        // The ID is free again.
        co_await answered(ws, R"({"subscribe":{"clients":["kiwi"]},"id":"k"})", R"({"subscribed":"k"})");
        const auto kiwi_3 = co_await events_of("IAMAT kiwi +1+1 3\n");
        CHECK(kiwi_3 == ids{"a", "k"});
        CHECK(goloman.stats().stream_events_queued == 6);
    });
}

TEST_CASE("a subscriber that stops reading is closed with 1008 while another gets every event",
          "[http][stream][limits]")
{
    run_async(
        [](asio::io_context& io) -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            const auto herd = lone_goloman("", "stream_queue_bytes = 4096\n");
            server goloman(io, herd, "Goloman", test_options("Goloman"));
            goloman.start();
            // The slow one's window is small, and after subscribing it reads
            // nothing: its server-side socket buffer fills, then its queue.
            websocket_client slow(io.get_executor());
            co_await slow.connect(goloman.http_port(), "/v1/stream", 4096);
            co_await slow.send(R"({"subscribe":{"all":true},"id":"slow"})");
            websocket_client fast(io.get_executor());
            co_await fast.connect(goloman.http_port(), "/v1/stream");
            co_await answered(fast, R"({"subscribe":{"all":true},"id":"fast"})", R"({"subscribed":"fast"})");

            // Long IDs make long events. One IAMAT at a time, each answered
            // before the next, as a client would; past the overflow, a few more.
            const std::string padding(200, 'p');
            const auto id = [&](int i) { return fmt::format("{}{:06}", padding, i); };
            client line(io.get_executor());
            co_await line.connect(goloman.client_port());
            int made = 0;
            int after_overflow = 0;
            auto produce = [&]() -> asio::awaitable<void> {
                while (after_overflow < 20 && made < 100000) {
                    const auto iamat = fmt::format("IAMAT {} +34.068930-118.445127 {}\n", id(made), made + 1);
                    co_await line.send(iamat);
                    const auto at = co_await line.read_line(5000ms);
                    REQUIRE(at);
                    ++made;
                    if (goloman.stats().stream_overflows > 0) {
                        ++after_overflow;
                    }
                }
                co_await line.send("IAMAT end +1+1 1\n");
                const auto end = co_await line.read_line(5000ms);
                REQUIRE(end);
            };
            int received = 0;
            bool in_order = true;
            bool saw_end = false;
            auto consume = [&]() -> asio::awaitable<void> {
                for (;;) {
                    const auto message = co_await fast.read(10000ms);
                    if (!message) {
                        break;
                    }
                    const auto event = boost::json::parse(*message).as_object();
                    if (event.at("client") == "end") {
                        saw_end = true;
                        break;
                    }
                    in_order = in_order && event.at("id") == "fast" && event.at("client").as_string() == id(received);
                    ++received;
                }
            };
            co_await (produce() && consume());
            INFO(made << " IAMATs, the slow subscriber overflowed after " << (made - after_overflow));
            CHECK(goloman.stats().stream_overflows == 1);
            CHECK(saw_end);
            CHECK(in_order);
            CHECK(received == made);
            const auto status = co_await http_request(goloman.admin_port(), "GET", "/status");
            REQUIRE(status.status == 200);
            CHECK(boost::json::parse(status.body).at("counters").at("stream_overflows").as_int64() == 1);

            // Now the slow one reads, with room to read fast: what was
            // written to it before the overflow, in order and without a
            // hole, then the close.
            slow.set_receive_buffer(1 << 20);
            const auto subscribed = co_await slow.read();
            CHECK(subscribed == R"({"subscribed":"slow"})");
            int got = 0;
            bool contiguous = true;
            for (;;) {
                const auto message = co_await slow.read();
                if (!message) {
                    break;
                }
                contiguous = contiguous && boost::json::parse(*message).at("client").as_string() == id(got);
                ++got;
            }
            INFO("the slow subscriber read " << got << " events");
            CHECK(contiguous);
            CHECK(got < made - after_overflow);
            CHECK(slow.close().code == 1008);
            CHECK(slow.close().reason == "stream queue over 4096 bytes: reading too slowly");
        },
        60s);
}
