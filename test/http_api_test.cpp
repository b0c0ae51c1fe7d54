// The HTTP/JSON API of docs/http.md over real HTTP on loopback: every
// endpoint, every error status from hostile requests, keep-alive and
// pipelining, the limits the port shares with the line port, and HTTPS
// with a certificate the client verifies.
#include "herd/server.hpp"
#include "places/https_client.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/http_client.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"
#include "support/test_pki.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

const std::string kiwi_body =
    R"({"client":"kiwi.cs.ucla.edu","location":"+34.068930-118.445127","time":"1621464827.959498503"})";
const std::string kiwi_iamat = "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";

boost::json::object json_of(const http_reply& reply)
{
    INFO("status " << reply.status << " " << reply.error << ": " << reply.body);
    REQUIRE(reply.body.ends_with("\n"));
    boost::system::error_code ec;
    auto parsed = boost::json::parse(reply.body, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(parsed.is_object());
    return parsed.as_object();
}

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

std::string post(std::string_view target, std::string_view body)
{
    return fmt::format("POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       "Content-Length: {}\r\n\r\n{}",
                       target, body.size(), body);
}

std::string get(std::string_view target)
{
    return fmt::format("GET {} HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
}

} // namespace

TEST_CASE("POST /v1/iamat answers the AT line the line port gives for the same IAMAT, byte for byte", "[http]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        // Two identical servers on one clock: the one asked over HTTP, the
        // other over its line port.
        const auto a = lone_goloman();
        const auto b = lone_goloman();
        server over_http(io, a, "Goloman", fixed_clock_options("Goloman"));
        server over_line(io, b, "Goloman", fixed_clock_options("Goloman"));
        over_http.start();
        over_line.start();

        const auto reply = co_await http_request(over_http.http_port(), "POST", "/v1/iamat", kiwi_body);
        CHECK(reply.status == 200);
        CHECK(reply.header("content-type") == "application/json");
        const auto answer = json_of(reply);
        const std::string iamat = kiwi_iamat + "\n";
        const auto line_port = co_await ask(over_line.client_port(), iamat);
        REQUIRE(line_port == "AT Goloman +0.263873497 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n");
        CHECK(answer.at("at").as_string() == first_line(line_port));
        CHECK(answer.at("server") == "Goloman");
        CHECK(answer.at("skew") == "+0.263873497");
        CHECK(answer.size() == 3);

        // Stored as the line port stores it: the same server's WHATSAT and
        // GET /v1/clients/ID both give that line back.
        CHECK(over_http.store().size() == 1);
        CHECK(over_http.store().find("kiwi.cs.ucla.edu")->at_line == answer.at("at").as_string());
        const auto whatsat = co_await ask(over_http.client_port(), "WHATSAT kiwi.cs.ucla.edu 1 1\n");
        CHECK(first_line(whatsat) == answer.at("at").as_string());
        const auto looked_up = co_await http_request(over_http.http_port(), "GET", "/v1/clients/kiwi.cs.ucla.edu");
        const auto client = json_of(looked_up);
        CHECK(client.at("at") == answer.at("at"));
        CHECK(over_http.stats().iamat == 1);
    });
}

TEST_CASE("POST /v1/iamat floods like a line-port IAMAT, and /v1/clients/ID elsewhere names the origin", "[http]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        const auto reply = co_await http_request(herd.at("Goloman").http_port(), "POST", "/v1/iamat", kiwi_body);
        REQUIRE(reply.status == 200);
        const std::string at(json_of(reply).at("at").as_string());
        const bool everywhere = co_await herd.changed().until(
            [&] {
                for (const auto& s : herd.herd().servers) {
                    if (herd.record_at(s.name, "kiwi.cs.ucla.edu") != at) {
                        return false;
                    }
                }
                return true;
            },
            5000ms);
        REQUIRE(everywhere);
        // Welsh is two links from Goloman: the record came by flooding.
        const auto at_welsh =
            co_await http_request(herd.at("Welsh").http_port(), "GET", "/v1/clients/kiwi.cs.ucla.edu");
        const auto welsh = json_of(at_welsh);
        CHECK(welsh.at("at").as_string() == at);
        CHECK(welsh.at("server") == "Goloman");
        CHECK(welsh.at("lat").to_number<double>() == 34.06893);
        CHECK(welsh.at("lng").to_number<double>() == -118.445127);
        CHECK(welsh.at("time") == "1621464827.959498503");
    });
}

TEST_CASE("GET /v1/whatsat gives the stored AT line and the bundled places a WHATSAT gives", "[http][whatsat]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman();
        server goloman(io, herd, "Goloman", fixed_clock_options("Goloman"));
        goloman.start();
        const auto at = co_await ask(goloman.client_port(), "IAMAT kiwi +34.072839-118.442165 1621464827\n");
        const auto line_port = co_await ask(goloman.client_port(), "WHATSAT kiwi 1.5 4\n");
        const auto reply =
            co_await http_request(goloman.http_port(), "GET", "/v1/whatsat?client=kiwi&radius=1.5&max=4");
        CHECK(reply.status == 200);
        CHECK(reply.header("content-type") == "application/json");
        const auto answer = json_of(reply);
        CHECK(answer.at("at").as_string() == first_line(at));
        CHECK(answer.size() == 2);
        // The same places as the line port's, compact instead of pretty.
        const auto places = boost::json::parse(line_port.substr(line_port.find('\n') + 1));
        CHECK(answer.at("places") == places);
        CHECK(answer.at("places").at("status") == "OK");
        CHECK(answer.at("places").at("results").as_array().size() == 4);
        // Its numbers as the line port printed them, not turned into exponents.
        CHECK_THAT(reply.body, Catch::Contains(R"("lat":34.)") && !Catch::Contains("E1"));
        CHECK(std::count(reply.body.begin(), reply.body.end(), '\n') == 1);
        CHECK(goloman.stats().whatsat == 2);
    });
}

TEST_CASE("GET /v1/clients/ID: the record's origin, position and time, the ID percent-decoded", "[http]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman();
        server goloman(io, herd, "Goloman", fixed_clock_options("Goloman"));
        goloman.start();
        const auto at = co_await ask(goloman.client_port(), "IAMAT a/b+c +0.00001-0.5 1621464827.5\n");
        const auto reply = co_await http_request(goloman.http_port(), "GET", "/v1/clients/a%2Fb+c");
        CHECK(reply.status == 200);
        CHECK(reply.body == R"({"at":")" + first_line(at) +
                                R"(","server":"Goloman","lat":0.00001,"lng":-0.5,"time":"1621464827.5"})" + "\n");
    });
}

TEST_CASE("every refusal has its status and a JSON reason, keeps the connection and changes nothing", "[http]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman();
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        http_connection c(io.get_executor());
        co_await c.connect(goloman.http_port());
        struct refusal {
            std::string method, target, body;
            int status;
            std::string allow = {};
        };
        const std::vector<refusal> refusals{
            {"POST", "/v1/iamat", "{not json", 400},
            {"POST", "/v1/iamat", R"(["kiwi","+1+2","1"])", 400},
            {"POST", "/v1/iamat", R"({"client":"kiwi","location":"+1+2"})", 400},
            {"POST", "/v1/iamat", R"({"client":"kiwi","location":"+1+2","time":1})", 400},
            {"POST", "/v1/iamat", R"({"client":"ki wi","location":"+1+2","time":"1"})", 400},
            {"POST", "/v1/iamat", R"({"client":"kiwi","location":"+1+2\nIAMAT x +1+1","time":"1"})", 400},
            {"POST", "/v1/iamat", R"({"client":"kiwi","location":"north","time":"1"})", 400},
            {"POST", "/v1/iamat", R"({"client":"kiwi","location":"+1+2","time":"soon"})", 400},
            {"POST", "/v1/iamat", R"({"client":"kiwi","location":"+1+2","time":"1","by":"x"})", 400},
            {"POST", "/v1/iamat", R"({"client":")" + std::string(256, 'k') + R"(","location":"+1+2","time":"1"})", 400},
            {"GET", "/v1/whatsat?client=kiwi&radius=51&max=2", "", 400},
            {"GET", "/v1/whatsat?client=kiwi&radius=1", "", 400},
            {"GET", "/v1/whatsat?client=kiwi&radius=1&max=2", "", 404},
            {"GET", "/v1/clients/kiwi", "", 404},
            {"GET", "/v1/clients/k%zz", "", 400},
            {"GET", "/v1/lines", "", 400},
            {"GET", "/nope", "", 404},
            {"POST", "/v2/iamat", kiwi_body, 404},
            {"GET", "/v1/iamat", "", 405, "POST"},
            {"PUT", "/v1/iamat", kiwi_body, 405, "POST"},
            {"POST", "/v1/whatsat?client=kiwi&radius=1&max=2", "", 405, "GET"},
            {"DELETE", "/v1/clients/kiwi", "", 405, "GET"},
            {"POST", "/v1/stream", "", 405, "GET"},
        };
        for (const auto& r : refusals) {
            INFO(r.method << " " << r.target << " " << r.body);
            const auto reply = co_await c.request(r.method, r.target, r.body);
            CHECK(reply.status == r.status);
            CHECK(reply.header("content-type") == "application/json");
            CHECK(reply.header("allow") == r.allow);
            CHECK(reply.keep_alive);
            const auto answer = json_of(reply);
            CHECK(answer.size() == 1);
            CHECK_FALSE(answer.at("error").as_string().empty());
        }
        CHECK(goloman.store().size() == 0);
        CHECK(goloman.stats().iamat == 0);
        CHECK(goloman.stats().http_connections == 1);
        CHECK(goloman.stats().http_errors == refusals.size());
        // The same connection still works.
        const auto ok = co_await c.request("POST", "/v1/iamat", kiwi_body);
        CHECK(ok.status == 200);
        CHECK(goloman.store().size() == 1);
    });
}

TEST_CASE("a body over limits.http_body_bytes is a 413, then the connection closes", "[http][limits]")
{
    const bool declared_only = GENERATE(false, true);
    run_async([declared_only](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman("", "http_body_bytes = 1024\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        http_connection c(io.get_executor());
        co_await c.connect(goloman.http_port());
        // A valid IAMAT padded past the bound with white space JSON allows.
        const std::string body = R"({"client":"kiwi","location":"+1+2","time":"1")" + std::string(64 * 1024, ' ') + "}";
        if (declared_only) {
            // The length alone is over: no need to send the body.
            const auto head =
                fmt::format("POST /v1/iamat HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{{", body.size());
            co_await c.send(head);
        } else {
            const auto both = post("/v1/iamat", body) + get("/v1/clients/kiwi");
            co_await c.send(both);
        }
        const auto reply = co_await c.read_reply();
        CHECK(reply.status == 413);
        CHECK_FALSE(reply.keep_alive);
        CHECK(json_of(reply).at("error") == "the body is over 1024 bytes");
        // Nothing after it is answered: the pipelined GET is dropped.
        const auto rest = co_await c.read_until_closed(5000ms);
        REQUIRE(rest);
        CHECK(rest->empty());
        CHECK(goloman.store().size() == 0);
        CHECK(goloman.stats().http_dropped == 1);
        // Within the bound the same IAMAT is taken.
        const std::string within = R"({"client":"kiwi","location":"+1+2","time":"1")" + std::string(900, ' ') + "}";
        const auto trimmed = co_await http_request(goloman.http_port(), "POST", "/v1/iamat", within);
        CHECK(trimmed.status == 200);
    });
}

TEST_CASE("a header over limits.http_header_bytes is a 431, then the connection closes", "[http][limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman("", "http_header_bytes = 2048\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        http_connection c(io.get_executor());
        co_await c.connect(goloman.http_port());
        std::string bomb = "POST /v1/iamat HTTP/1.1\r\nHost: localhost\r\n";
        for (int i = 0; i < 200; ++i) {
            bomb += fmt::format("X-Filler-{}: {}\r\n", i, std::string(100, 'x'));
        }
        bomb += fmt::format("Content-Length: {}\r\n\r\n{}", kiwi_body.size(), kiwi_body);
        co_await c.send(bomb);
        const auto reply = co_await c.read_reply();
        CHECK(reply.status == 431);
        CHECK_FALSE(reply.keep_alive);
        CHECK(json_of(reply).at("error") == "the header is over 2048 bytes");
        const auto rest = co_await c.read_until_closed(5000ms);
        REQUIRE(rest);
        CHECK(rest->empty());
        CHECK(goloman.store().size() == 0);
        // One long line is as much a header as many short ones.
        const std::string long_id = "/v1/clients/" + std::string(4000, 'k');
        const auto long_target = co_await http_request(goloman.http_port(), "GET", long_id);
        CHECK(long_target.status == 431);
        CHECK(goloman.stats().http_dropped == 2);
    });
}

TEST_CASE("a request not all in within limits.http_request_timeout is a 408, then the connection closes",
          "[http][limits]")
{
    const bool in_body = GENERATE(false, true);
    run_async([in_body](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        const auto herd = lone_goloman("", "http_request_timeout = 0.3\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        http_connection c(io.get_executor());
        co_await c.connect(goloman.http_port());
        // A header (or a body) a byte every 100 ms for up to 5 s: each byte
        // comes well within any idle time-out, the whole never.
        const std::string head = in_body ? "POST /v1/iamat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
                                         : "POST /v1/iamat HTTP/1.1\r\nHost: x\r\n";
        co_await c.send(head);
        const auto started = std::chrono::steady_clock::now();
        bool answered = false;
        auto dribble = [&]() -> asio::awaitable<void> {
            asio::steady_timer pause(io);
            for (int i = 0; i < 50 && !answered; ++i) {
                pause.expires_after(100ms);
                co_await pause.async_wait(asio::use_awaitable);
                try {
                    co_await c.send(in_body ? std::string_view(" ") : std::string_view("X"));
                } catch (const boost::system::system_error&) {
                    break; // closed by the server
                }
            }
        };
        http_reply reply;
        std::optional<std::string> rest;
        auto read = [&]() -> asio::awaitable<void> {
            reply = co_await c.read_reply(10000ms);
            answered = true;
            if (reply.status != 0) {
                rest = co_await c.read_until_closed(5000ms);
            }
        };
        co_await (dribble() && read());
        const auto took = std::chrono::steady_clock::now() - started;
        INFO("answered after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                               << " ms: " << reply.status << " " << reply.error);
        CHECK(reply.status == 408);
        CHECK_FALSE(reply.keep_alive);
        CHECK(took < 3s);
        CHECK(rest == std::string());
        CHECK(goloman.stats().http_dropped == 1);
        CHECK(goloman.store().size() == 0);
        // A whole request is still served.
        const auto after = co_await http_request(goloman.http_port(), "POST", "/v1/iamat", kiwi_body);
        CHECK(after.status == 200);
    });
}

TEST_CASE("limits.connections bounds line-port and HTTP connections together, on both ports", "[http][limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman("", "connections = 2\n");
        server goloman(io, herd, "Goloman", test_options("Goloman"));
        goloman.start();
        // One connection of each kind, each seen served.
        client line(io.get_executor());
        co_await line.connect(goloman.client_port());
        co_await line.send("IAMAT a +1+1 1\n");
        const auto served = co_await line.read_line(2000ms);
        REQUIRE(served);
        http_connection web(io.get_executor());
        co_await web.connect(goloman.http_port());
        const auto web_served = co_await web.request("GET", "/v1/clients/a");
        REQUIRE(web_served.status == 200);

        // The bound is reached: a third connection is closed unanswered,
        // on either port.
        client third_line(io.get_executor());
        co_await third_line.connect(goloman.client_port());
        co_await third_line.send("IAMAT b +1+1 1\n");
        const auto line_refused = co_await third_line.read_until_close(2000ms);
        CHECK(line_refused.empty());
        http_connection third_web(io.get_executor());
        co_await third_web.connect(goloman.http_port());
        const auto third_request = get("/v1/clients/a");
        co_await third_web.send(third_request);
        const auto web_refused = co_await third_web.read_until_closed(2000ms);
        CHECK(web_refused == std::string());
        CHECK(goloman.stats().clients_refused == 2);
        CHECK(goloman.store().find("b") == nullptr);

        // The HTTP connection goes: its slot serves the line port again.
        co_await web.send("GET /v1/clients/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const auto last = co_await web.read_reply();
        CHECK(last.status == 200);
        const auto web_closed = co_await web.read_until_closed(2000ms);
        REQUIRE(web_closed);
        const auto after = co_await ask(goloman.client_port(), "IAMAT c +1+1 1\n");
        CHECK_THAT(after, Catch::EndsWith(" c +1+1 1\n"));
    });
}

TEST_CASE("a kept-alive connection answers pipelined requests in order, and closes when asked", "[http]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto herd = lone_goloman();
        server goloman(io, herd, "Goloman", fixed_clock_options("Goloman"));
        goloman.start();
        http_connection c(io.get_executor());
        co_await c.connect(goloman.http_port());
        // Four requests in one write, each depending on the one before.
        const auto pipeline = get("/v1/clients/kiwi.cs.ucla.edu") + post("/v1/iamat", kiwi_body) +
                              get("/v1/whatsat?client=kiwi.cs.ucla.edu&radius=1&max=1") +
                              get("/v1/clients/kiwi.cs.ucla.edu");
        co_await c.send(pipeline);
        std::vector<http_reply> replies;
        for (int i = 0; i < 4; ++i) {
            auto reply = co_await c.read_reply();
            replies.push_back(std::move(reply));
        }
        CHECK(replies[0].status == 404);
        REQUIRE(replies[1].status == 200);
        CHECK(replies[2].status == 200);
        CHECK(replies[3].status == 200);
        const auto at = json_of(replies[1]).at("at");
        CHECK(json_of(replies[2]).at("at") == at);
        CHECK(json_of(replies[3]).at("at") == at);
        for (const auto& r : replies) {
            CHECK(r.keep_alive);
        }
        // Kept alive between writes too.
        const auto again = co_await c.request("GET", "/v1/clients/kiwi.cs.ucla.edu");
        CHECK(again.status == 200);
        CHECK(goloman.stats().http_connections == 1);
        CHECK(goloman.stats().http_requests == 5);

        const auto closing = co_await c.request("GET", "/v1/clients/kiwi.cs.ucla.edu", "", true);
        CHECK(closing.status == 200);
        CHECK_FALSE(closing.keep_alive);
        const auto closed = co_await c.read_until_closed(2000ms);
        CHECK(closed == std::string());

        // HTTP/1.0 closes unless it asks to keep alive.
        http_connection old(io.get_executor());
        co_await old.connect(goloman.http_port());
        co_await old.send("GET /v1/clients/kiwi.cs.ucla.edu HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        const auto kept = co_await old.read_reply();
        CHECK(kept.status == 200);
        CHECK(kept.keep_alive);
        co_await old.send("GET /v1/clients/kiwi.cs.ucla.edu HTTP/1.0\r\n\r\n");
        const auto last = co_await old.read_reply();
        CHECK(last.status == 200);
        CHECK_FALSE(last.keep_alive);
        const auto old_closed = co_await old.read_until_closed(2000ms);
        CHECK(old_closed == std::string());
    });
}

TEST_CASE("with http_cert_file the HTTP port speaks HTTPS only, its certificate verified by the client", "[http][tls]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const scratch_directory scratch("herd-https-");
        const auto& dir = scratch.path();
        const test_ca ca;
        ca.issue({"DNS:localhost", "IP:127.0.0.1"}).write(dir, "http");
        const auto herd = lone_goloman(fmt::format("http_cert_file = \"{}\"\nhttp_key_file = \"{}\"\n",
                                                   (dir / "http.crt").string(), (dir / "http.key").string()));
        REQUIRE(herd.find("Goloman")->http_cert == dir / "http.crt");
        server goloman(io, herd, "Goloman", fixed_clock_options("Goloman"));
        goloman.start();
        const tls_client trusting{detail::make_tls_client_context(ca.write_certificate(dir))};

        http_connection c(io.get_executor(), trusting);
        co_await c.connect(goloman.http_port());
        const auto posted = co_await c.request("POST", "/v1/iamat", kiwi_body);
        CHECK(posted.status == 200);
        CHECK(json_of(posted).at("at") ==
              "AT Goloman +0.263873497 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503");
        const auto looked_up = co_await c.request("GET", "/v1/clients/kiwi.cs.ucla.edu");
        CHECK(looked_up.status == 200);
        const auto closing = co_await c.request("GET", "/v1/nope", "", true);
        CHECK(closing.status == 404);
        const auto closed = co_await c.read_until_closed(3000ms);
        CHECK(closed);

        // /v1/lines over the same TLS.
        websocket_client lines(io.get_executor(), trusting);
        co_await lines.connect(goloman.http_port(), "/v1/lines");
        co_await lines.send("WHATSAT kiwi.cs.ucla.edu 1 1");
        const auto whatsat = co_await lines.read();
        REQUIRE(whatsat);
        CHECK_THAT(*whatsat, Catch::StartsWith("AT Goloman +0.263873497 kiwi.cs.ucla.edu ") && Catch::EndsWith("\n\n"));

        // A client that trusts another CA, or wants another name, refuses it.
        const scratch_directory other_dir("herd-https-other-");
        const test_ca other;
        const std::vector<std::pair<std::string, tls_client>> refusing{
            {"another CA", tls_client{detail::make_tls_client_context(other.write_certificate(other_dir.path()))}},
            {"another name", tls_client{trusting.context, "herd.example"}},
        };
        for (const auto& [why, tls] : refusing) {
            INFO(why);
            http_connection wary(io.get_executor(), tls);
            bool refused = false;
            try {
                co_await wary.connect(goloman.http_port());
            } catch (const boost::system::system_error&) {
                refused = true;
            }
            CHECK(refused);
        }
        // Plain HTTP gets no HTTP answer from the HTTPS port.
        http_connection plain(io.get_executor());
        co_await plain.connect(goloman.http_port());
        const auto plain_request = get("/v1/clients/kiwi.cs.ucla.edu");
        co_await plain.send(plain_request);
        const auto plain_reply = co_await plain.read_until_closed(5000ms);
        REQUIRE(plain_reply);
        CHECK(plain_reply->find("HTTP/1.1") == std::string::npos);
        CHECK(goloman.stats().http_dropped >= 3);
        CHECK(goloman.store().size() == 1);
    });
}
