// The contract (../shared/spec/PROTOCOL.md, docs/protocol.md), case by
// case, against real server processes of whichever implementation was
// chosen, over TCP only.
#include "conformance/implementation.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/https_server.hpp"
#include "support/net.hpp"
#include "support/test_pki.hpp"

#include <boost/json.hpp>

#include <array>
#include <csignal>
#include <regex>
#include <span>
#include <sstream>

using namespace herd;
using namespace herd::test;
using herd::conformance::current;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::array<std::string_view, 5> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};

std::string now_text()
{
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return std::to_string(ns / 1'000'000'000) + "." + std::to_string(1'000'000'000 + ns % 1'000'000'000).substr(1);
}

// One request on its own connection, from a test's own io_context.
std::string talk(std::uint16_t port, std::string request)
{
    return run_async([&](asio::io_context&) -> asio::awaitable<std::string> { co_return co_await ask(port, request); });
}

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

// The default herd on free ports, run by the chosen implementation.
struct herd_of_five {
    explicit herd_of_five(const std::string& extra_toml = "", std::vector<std::string> env = {})
        : processes(on_free_ports(default_topology()), current().command, current().herd_toml + extra_toml,
                    std::move(env))
    {
    }
    process_herd processes;
    std::uint16_t port(std::string_view name) const { return processes.port(name); }
};

// A CA for the test's Places server, and the [places] settings pointing a
// herd at it with the legacy API (which every implementation speaks).
struct places_fixture {
    test_ca ca;
    std::filesystem::path dir = scratch_dir("herd-conformance-");
    std::filesystem::path ca_file = ca.write_certificate(dir);
    ~places_fixture() { std::filesystem::remove_all(dir); }

    std::string toml(const https_server& upstream, std::string_view provider = "google",
                     std::string_view path = "/maps/api/place/nearbysearch/json", double timeout = 5) const
    {
        return "[places]\nprovider = \"" + std::string(provider) +
               "\"\nendpoint = \"https://localhost:" + std::to_string(upstream.port()) + std::string(path) +
               "\"\nca_file = \"" + ca_file.string() + "\"\ntimeout = " + std::to_string(timeout) + "\n";
    }
};

// Waits until each server of the herd answers WHATSAT kiwi with `at_line`.
void expect_everywhere(const herd_of_five& herd, const std::string& at_line)
{
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        for (const auto name : everyone) {
            INFO(name);
            const bool reached = co_await answers_with(herd.port(name), "kiwi", at_line, 2000ms);
            CHECK(reached);
        }
    });
}

constexpr std::string_view five_results = R"({"html_attributions":[],"results":[
    {"name":"A","place_id":"a","vicinity":"1 A St","types":["cafe"],"geometry":{"location":{"lat":34.06,"lng":-118.44}}},
    {"name":"B","place_id":"b","vicinity":"2 B St","types":["cafe"],"geometry":{"location":{"lat":34.06,"lng":-118.44}}},
    {"name":"C","place_id":"c","vicinity":"3 C St","types":["cafe"],"geometry":{"location":{"lat":34.06,"lng":-118.44}}},
    {"name":"D","place_id":"d","vicinity":"4 D St","types":["cafe"],"geometry":{"location":{"lat":34.06,"lng":-118.44}}},
    {"name":"E","place_id":"e","vicinity":"5 E St","types":["cafe"],"geometry":{"location":{"lat":34.06,"lng":-118.44}}}],
    "status":"OK"})";

} // namespace

TEST_CASE("IAMAT: AT, the server's name, a signed nine-decimal skew, the fields byte for byte", "[conformance]")
{
    herd_of_five herd;
    herd.processes.start("Goloman");
    const std::string time = now_text();
    const std::string reply = talk(herd.port("Goloman"), "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 " + time + "\n");
    std::smatch m;
    REQUIRE(std::regex_match(
        reply, m,
        std::regex(R"(AT Goloman ([+-])(\d+)\.(\d{9}) kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 )" + time + "\n")));
    CHECK(m[1] == "+");
    CHECK(std::stoll(m[2]) < 5); // the server's clock minus the client's: small here
}

TEST_CASE("IAMAT: a client ahead of the server's clock gets a negative skew", "[conformance]")
{
    herd_of_five herd;
    herd.processes.start("Goloman");
    const auto future = std::to_string(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) + 100);
    const std::string reply = talk(herd.port("Goloman"), "IAMAT kiwi +34-118 " + future + ".5\n");
    CHECK(std::regex_match(reply, std::regex(R"(AT Goloman -(99|100)\.\d{9} kiwi \+34-118 )" + future + "\\.5\n")));
}

TEST_CASE("grammar: every malformed line is answered with ? and the line", "[conformance]")
{
    const std::vector<std::string> bad{
        "IAMAT kiwi +34.068930-118.445127 1e9",
        "IAMAT kiwi +34.068930-118.445127 nan",
        "IAMAT kiwi +34.068930-118.445127 inf",
        "IAMAT kiwi +34.068930-118.445127 0x10",
        "IAMAT kiwi +34.068930-118.445127 1_000",
        "IAMAT kiwi +34.068930-118.445127 +5",
        "IAMAT kiwi 34.068930-118.445127 1",
        "IAMAT kiwi +34.068930118.445127 1",
        "IAMAT kiwi +91-118 1",
        "IAMAT kiwi +90.000001-118 1",
        "IAMAT kiwi +34-180.5 1",
        "IAMAT kiwi +34-118+5 1",
        "IAMAT kiwi +3.4e1-118 1",
        "IAMAT kiwi +034-118 1",
        "IAMAT kiwi +34-118",
        "IAMAT kiwi +34-118 1 extra",
        "iamat kiwi +34-118 1",
        "IAMAT " + std::string(256, 'x') + " +34-118 1",
        "WHATSAT kiwi 10abc 5",
        "WHATSAT kiwi 0 5",
        "WHATSAT kiwi 50.001 5",
        "WHATSAT kiwi 10 0",
        "WHATSAT kiwi 10 21",
        "WHATSAT kiwi 10 5.0",
        "WHATSAT kiwi -1 5",
        "WHATSAT kiwi 10",
        "HELLO",
        "AT Goloman +0.000000000 kiwi +34-118 1",
    };
    herd_of_five herd;
    herd.processes.start("Goloman");
    std::string request;
    std::string expected;
    for (const auto& line : bad) {
        request += line + "\n";
        expected += "? " + line + "\n";
    }
    request += "foo bar\r\n"; // the CR before the newline is not echoed
    expected += "? foo bar\n";
    CHECK(talk(herd.port("Goloman"), request) == expected);
}

TEST_CASE("grammar: edge cases that are valid are accepted", "[conformance]")
{
    const std::vector<std::string> good{
        "IAMAT " + std::string(255, 'x') + " +34-118 1621464827",
        "IAMAT kiwi +90-180 1621464827",
        "IAMAT kiwi -90.000+180.0 1621464827",
        "IAMAT kiwi +00.0+000.0 0001621464827",
        "IAMAT kiwi +34.068930-118.445127 1621464827.12345678901234567890",
        "IAMAT\tkiwi\v+34-118\f1621464827\r",
        "  IAMAT kiwi +34-118 1621464827  ",
    };
    herd_of_five herd;
    herd.processes.start("Goloman");
    std::string request;
    for (const auto& line : good) {
        request += line + "\n";
    }
    const std::string reply = talk(herd.port("Goloman"), request);
    std::istringstream lines(reply);
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
        INFO(line);
        CHECK(std::regex_match(line, std::regex(R"(AT Goloman [+-]\d+\.\d{9} \S+ [+-][\d.]+[+-][\d.]+ [\d.]+)")));
    }
    CHECK(count == good.size());
    CHECK_THAT(reply, Catch::Contains(" 1621464827.12345678901234567890\n"));
    CHECK_THAT(reply, Catch::Contains(" +00.0+000.0 0001621464827\n"));
}

TEST_CASE("framing: many commands per connection, answered in order, the last one without a newline", "[conformance]")
{
    herd_of_five herd;
    herd.processes.start("Goloman");
    const std::string reply =
        talk(herd.port("Goloman"), "IAMAT a +1+1 1\n\n \t \nbogus\nWHATSAT nobody 1 1\nIAMAT b +2+2 2");
    std::istringstream lines(reply);
    std::vector<std::string> got;
    for (std::string line; std::getline(lines, line);) {
        got.push_back(line);
    }
    REQUIRE(got.size() == 4); // blank lines get no reply
    CHECK_THAT(got[0], Catch::StartsWith("AT Goloman ") && Catch::EndsWith(" a +1+1 1"));
    CHECK(got[1] == "? bogus");
    CHECK(got[2] == "? WHATSAT nobody 1 1");
    CHECK_THAT(got[3], Catch::StartsWith("AT Goloman ") && Catch::EndsWith(" b +2+2 2"));
}

TEST_CASE("framing: after a half-close every command is answered and then the server closes", "[conformance]")
{
    herd_of_five herd;
    herd.processes.start("Goloman");
    const auto started = std::chrono::steady_clock::now();
    // ask() half-closes and reads until the server closes the connection.
    const std::string reply = talk(herd.port("Goloman"), "IAMAT a +1+1 1\nIAMAT b +1+1 1\n");
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(std::count(reply.begin(), reply.end(), '\n') == 2);
}

TEST_CASE("WHATSAT: the stored AT line, Google-style JSON cut to the bound, a blank line, in one read",
          "[conformance][places]")
{
    places_fixture places;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, places.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) { return canned_response{200, std::string(five_results)}; };
        upstream.start();
        herd_of_five herd(places.toml(upstream), {"GOOGLE_PLACES_API_KEY=conformance-key"});
        herd.processes.start("Goloman");
        const auto at = co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const std::string at_line = first_line(at);
        const auto reply = co_await ask_read_once(herd.port("Goloman"), "WHATSAT kiwi 10 3\n");
        REQUIRE_THAT(reply, Catch::StartsWith(at_line + "\n{\n   \"") && Catch::EndsWith("\n}\n\n"));
        CHECK(reply.find("\n\n") == reply.size() - 2);
        CHECK_THAT(reply, Catch::Contains("\"status\" : \"OK\"") && Catch::Contains("\n      {\n         \""));
        const auto json = boost::json::parse(reply.substr(at_line.size() + 1)).as_object();
        CHECK(json.at("results").as_array().size() == 3);
        CHECK(json.at("results").as_array().at(2).at("name") == "C");
        REQUIRE(upstream.requests().size() == 1);
        const auto& target = upstream.requests()[0].target;
        CHECK_THAT(target, Catch::Contains("radius=10000") && Catch::Contains("key=conformance-key") &&
                               Catch::Contains("location=34.06893"));
        upstream.stop();
    });
}

TEST_CASE("WHATSAT: a failing or slow Places server still gets the client an error answer in time",
          "[conformance][places]")
{
    const bool slow = GENERATE(true, false);
    places_fixture places;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, places.ca.issue({"DNS:localhost"}));
        upstream.respond = [&](const recorded_request&) {
            return slow ? canned_response{200, "{}", 5s} : canned_response{500, "broken"};
        };
        upstream.start();
        herd_of_five herd(places.toml(upstream, "google", "/maps/api/place/nearbysearch/json", 0.5),
                          {"GOOGLE_PLACES_API_KEY=conformance-key"});
        herd.processes.start("Goloman");
        co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const auto started = std::chrono::steady_clock::now();
        const auto reply = co_await ask(herd.port("Goloman"), "WHATSAT kiwi 10 3\n");
        CHECK(std::chrono::steady_clock::now() - started < 3s);
        REQUIRE_THAT(reply, Catch::EndsWith("}\n\n"));
        const auto json = boost::json::parse(reply.substr(reply.find('\n') + 1)).as_object();
        CHECK(json.at("status") == "UNKNOWN_ERROR");
        CHECK(json.at("results").as_array().empty());
        CHECK(json.contains("error_message"));
        upstream.stop();
    });
}

TEST_CASE("flooding: an IAMAT at Goloman reaches every server of the default herd, the same AT line",
          "[conformance][herd]")
{
    herd_of_five herd;
    herd.processes.start_all();
    const std::string at = first_line(talk(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n"));
    expect_everywhere(herd, at);
}

TEST_CASE("flooding: a stale IAMAT is answered but replaces nothing, anywhere", "[conformance][herd]")
{
    herd_of_five herd;
    herd.processes.start_all();
    const std::string newer = first_line(talk(herd.port("Hands"), "IAMAT kiwi +34-118 1700000001\n"));
    const std::string stale = first_line(talk(herd.port("Welsh"), "IAMAT kiwi +35-119 1700000000\n"));
    CHECK_THAT(stale, Catch::StartsWith("AT Welsh ") && Catch::EndsWith(" kiwi +35-119 1700000000"));
    expect_everywhere(herd, newer);
}

TEST_CASE("flooding: a server killed and restarted gets the next update within a second", "[conformance][herd]")
{
    herd_of_five herd;
    herd.processes.start_all();
    herd.processes.process("Holiday").signal(SIGKILL);
    CHECK(herd.processes.process("Holiday").wait(5s) == 128 + SIGKILL);
    herd.processes.forget("Holiday");
    const std::string while_down = first_line(talk(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n"));
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        const bool kept_serving = co_await answers_with(herd.port("Wilkes"), "kiwi", while_down, 2000ms);
        CHECK(kept_serving);
    });
    herd.processes.start("Holiday");
    const auto sent = std::chrono::steady_clock::now();
    const std::string next = first_line(talk(herd.port("Goloman"), "IAMAT kiwi +35-119 1700000001\n"));
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        const bool restarted = co_await answers_with(herd.port("Holiday"), "kiwi", next, 1000ms);
        CHECK(restarted);
        const bool beyond = co_await answers_with(herd.port("Welsh"), "kiwi", next, 1000ms);
        CHECK(beyond);
    });
    CHECK(std::chrono::steady_clock::now() - sent < 1500ms);
}

TEST_CASE("security: peer lines on the client port get ? and change nothing", "[conformance][security]")
{
    herd_of_five herd;
    herd.processes.start_all();
    for (const auto name : everyone) {
        const std::string forged = "AT " + std::string(name) + " +0.000000000 kiwi +1+1 1800000000\n";
        CHECK(talk(herd.port(name), forged) == "? " + forged);
    }
    CHECK(talk(herd.port("Welsh"), "WHATSAT kiwi 1 1\n") == "? WHATSAT kiwi 1 1\n");
}

TEST_CASE("security: the peer port refuses a stranger and a wrong proof", "[conformance][security]")
{
    herd_of_five herd("secret = \"conformance-secret\"\n");
    herd.processes.start("Goloman");
    const auto peer_port = herd.processes.herd().find("Goloman")->peer_port;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        for (const std::string hello : {"HERD herd/1 HELLO Mallory 00 -", "HERD herd/1 HELLO Hands 00 deadbeef",
                                        "AT Hands +0.000000000 kiwi +1+1 1800000000"}) {
            INFO(hello);
            client c(io.get_executor());
            co_await c.connect(peer_port);
            const auto challenge = co_await c.read_line(2000ms);
            CHECK_THAT(challenge.value_or(""), Catch::StartsWith("HERD herd/1 CHALLENGE Goloman "));
            co_await c.send(hello + "\nAT Hands +0.000000000 kiwi +1+1 1800000000\n");
            const auto answer = co_await c.read_line(2000ms);
            CHECK_THAT(answer.value_or(""), Catch::StartsWith("HERD herd/1 REFUSED"));
        }
    });
    CHECK(talk(herd.port("Goloman"), "WHATSAT kiwi 1 1\n") == "? WHATSAT kiwi 1 1\n");
}

TEST_CASE("places: the Places API (New) through a local HTTPS server", "[conformance][places][herd-only]")
{
    places_fixture places;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, places.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) {
            return canned_response{200, R"({"places":[{"id":"p1","displayName":{"text":"Diddy Riese"}}]})"};
        };
        upstream.start();
        herd_of_five herd(places.toml(upstream, "google-new", "/v1/places:searchNearby"),
                          {"GOOGLE_PLACES_API_KEY=conformance-key"});
        herd.processes.start("Goloman");
        co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const auto reply = co_await ask(herd.port("Goloman"), "WHATSAT kiwi 10 3\n");
        CHECK_THAT(reply, Catch::Contains("\"name\" : \"Diddy Riese\""));
        REQUIRE(upstream.requests().size() == 1);
        CHECK(upstream.requests()[0].method == "POST");
        upstream.stop();
    });
}

TEST_CASE("places: the same question within the time to live reaches Google once", "[conformance][places][herd-only]")
{
    places_fixture places;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, places.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) { return canned_response{200, std::string(five_results)}; };
        upstream.start();
        herd_of_five herd(places.toml(upstream), {"GOOGLE_PLACES_API_KEY=conformance-key"});
        herd.processes.start("Goloman");
        co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const auto first = co_await ask(herd.port("Goloman"), "WHATSAT kiwi 10 3\n");
        const auto second = co_await ask(herd.port("Goloman"), "WHATSAT kiwi 10 3\n");
        CHECK(second == first);
        CHECK(upstream.requests().size() == 1);
        upstream.stop();
    });
}

TEST_CASE("places: the offline places answer with no key and no setting", "[conformance][places]")
{
    herd_of_five herd("", {"GOOGLE_PLACES_API_KEY="});
    herd.processes.start("Goloman");
    talk(herd.port("Goloman"), "IAMAT kiwi +34.072839-118.442165 1621464827\n");
    const std::string reply = talk(herd.port("Goloman"), "WHATSAT kiwi 0.1 1\n");
    CHECK_THAT(reply, Catch::Contains("\"name\" : \"Royce Hall\"") && Catch::EndsWith("}\n\n"));
}

TEST_CASE("logs: every line a UTC timestamp to the microsecond, a lower-case level, the event", "[conformance][log]")
{
    herd_of_five herd;
    herd.processes.start("Goloman");
    talk(herd.port("Goloman"), "IAMAT kiwi +34-118 1621464827\n");
    herd.processes.process("Goloman").signal(SIGTERM); // every implementation has written its log by exit
    REQUIRE(herd.processes.process("Goloman").wait(10s) == 0);
    const std::string log = herd.processes.log_of("Goloman");
    INFO(log);
    const std::regex layout(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (info  |warning |error ) *\S.*)");
    std::istringstream lines(log);
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
        INFO(line);
        CHECK(std::regex_match(line, layout));
    }
    CHECK(count > 0);
    CHECK(std::regex_search(log, std::regex(R"(Z info  client \S+ < IAMAT kiwi \+34-118 1621464827\n)")));
    // The herd has no secret: the warning says so, at the warning level.
    CHECK(std::regex_search(log, std::regex("Z warning .*not authenticated")));
}

TEST_CASE("interoperation: a herd mixing C++, Python, Node, Java threads and Java Netty servers floods between them",
          "[conformance][herd][mixed]")
{
    // Each implementation runs one server: the chosen one Goloman, the other
    // four Hands, Holiday (the only way to Welsh), Welsh and Wilkes, in the
    // order of in_repository() (beside a --command server, the first four).
    herd_of_five herd;
    std::vector<herd::conformance::implementation> others;
    for (auto& impl : herd::conformance::in_repository()) {
        if (impl.name != current().name) {
            others.push_back(std::move(impl));
        }
    }
    herd.processes.start("Goloman");
    const std::array<std::string, 4> rest{"Hands", "Holiday", "Welsh", "Wilkes"};
    for (std::size_t i = 0; i < rest.size(); ++i) {
        INFO(rest[i] << " runs " << others[i].name);
        herd.processes.start(rest[i], others[i].command);
    }
    for (const auto origin : everyone) { // every implementation originates, relays and stores
        INFO("from " << origin);
        const std::string at = first_line(talk(herd.port(origin), "IAMAT kiwi +34-118 " + now_text() + "\n"));
        expect_everywhere(herd, at);
    }
}

TEST_CASE("catch-up: a server killed and restarted learns what it missed with no new update",
          "[conformance][herd][herd-only]")
{
    herd_of_five herd;
    herd.processes.start_all();
    herd.processes.process("Holiday").signal(SIGKILL);
    CHECK(herd.processes.process("Holiday").wait(5s) == 128 + SIGKILL);
    herd.processes.forget("Holiday");
    const std::string missed = first_line(talk(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n"));
    herd.processes.start("Holiday");
    expect_everywhere(herd, missed); // Welsh too, behind Holiday
}
