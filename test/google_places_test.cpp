// The Google sources against a real HTTPS server on loopback, with a CA and
// certificates made for the test: what goes out, what comes back, and every
// way it can fail.
#include "async/within.hpp"
#include "herd/google_places.hpp"
#include "herd/places_cache.hpp"
#include "herd/places_factory.hpp"
#include "herd/server.hpp"
#include "places/https_client.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/https_server.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view five_places_legacy = R"({"html_attributions":[],"results":[
    {"name":"A","place_id":"a"},{"name":"B","place_id":"b"},{"name":"C","place_id":"c"},
    {"name":"D","place_id":"d"},{"name":"E","place_id":"e"}],"status":"OK"})";

constexpr std::string_view two_places_new = R"({"places":[
    {"id":"ChIJ1","displayName":{"text":"Diddy Riese"},"shortFormattedAddress":"926 Broxton Ave",
     "location":{"latitude":34.0630572,"longitude":-118.4467},"types":["bakery"]},
    {"id":"ChIJ2","displayName":{"text":"In-N-Out Burger"},"shortFormattedAddress":"922 Gayley Ave",
     "location":{"latitude":34.0631,"longitude":-118.4482},"types":["restaurant"]}]})";

const places_query& westwood()
{
    static const places_query query{{34.068930, -118.445127}, "1500", 1.5, 3};
    return query;
}

// A CA, a server certificate from it, and the CA's file for the client.
struct tls_fixture {
    test_ca ca;
    std::filesystem::path dir = scratch_dir("herd-tls-");
    std::filesystem::path ca_file = ca.write_certificate(dir);
    std::ostringstream log_text;
    std::shared_ptr<spdlog::logger> log =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
    ~tls_fixture() { std::filesystem::remove_all(dir); }

    google_places_settings settings(google_api api, const https_server& server,
                                    std::chrono::milliseconds timeout = 3s) const
    {
        return settings_for_port(api, server.port(), timeout);
    }

    google_places_settings settings_for_port(google_api api, std::uint16_t port,
                                             std::chrono::milliseconds timeout) const
    {
        const std::string path =
            api == google_api::nearby_legacy ? "/maps/api/place/nearbysearch/json" : "/v1/places:searchNearby";
        google_places_settings s;
        s.api = api;
        s.url = *parse_https_url("https://localhost:" + std::to_string(port) + path);
        s.key = "test-key";
        s.key_origin = "$TEST_KEY";
        s.ca_file = ca_file;
        s.timeout = timeout;
        return s;
    }
};

std::map<std::string, std::string> query_params(std::string_view target)
{
    std::map<std::string, std::string> params;
    auto q = target.substr(target.find('?') + 1);
    while (!q.empty()) {
        auto amp = q.find('&');
        auto pair = q.substr(0, amp);
        auto eq = pair.find('=');
        params[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    }
    return params;
}

std::string status_of(const boost::json::object& answer)
{
    return std::string(answer.at("status").as_string());
}

std::string message_of(const boost::json::object& answer)
{
    const auto* m = answer.if_contains("error_message");
    return m == nullptr ? std::string() : std::string(m->as_string());
}

// A defective source: it throws instead of answering, a std::exception or
// something else.
class throwing_places : public places_source {
public:
    explicit throwing_places(bool std_exception) : std_exception_(std_exception) {}
    asio::awaitable<boost::json::object> nearby_search(places_query) override
    {
        co_await asio::post(asio::use_awaitable);
        if (std_exception_) {
            throw std::runtime_error("upstream exploded");
        }
        throw 42;
    }
    std::string describe() const override { return "throwing"; }

private:
    bool std_exception_;
};

// One server with no neighbours, its WHATSAT bounded by `timeout`, logging
// into `log`.
struct one_server {
    one_server(asio::io_context& io, std::shared_ptr<places_source> places, std::chrono::milliseconds timeout,
               std::shared_ptr<spdlog::logger> log)
        : herd(single()), goloman(io, herd, "Goloman", options(std::move(places), timeout, std::move(log)))
    {
        goloman.start();
    }
    static topology single()
    {
        const auto p = free_ports(2);
        return parse_topology("[servers.Goloman]\nport = " + std::to_string(p[0]) +
                                  "\npeer_port = " + std::to_string(p[1]) + "\nadmin_port = 0\nhttp_port = 0\n",
                              "one.toml", ".");
    }
    static server_options options(std::shared_ptr<places_source> places, std::chrono::milliseconds timeout,
                                  std::shared_ptr<spdlog::logger> log)
    {
        auto o = test_options("Goloman", std::move(places));
        o.places_timeout = timeout;
        o.log = std::move(log);
        return o;
    }
    // The JSON of a WHATSAT about a client at Westwood.
    asio::awaitable<boost::json::object> whatsat()
    {
        const auto reply = co_await ask(goloman.client_port(), "IAMAT kiwi +34.068930-118.445127 1621464827.959498503\n"
                                                               "WHATSAT kiwi 10 2\n");
        const auto brace = reply.find('{');
        REQUIRE(brace != std::string::npos);
        co_return boost::json::parse(reply.substr(brace)).as_object();
    }
    topology herd;
    server goloman;
};

} // namespace

TEST_CASE("legacy Nearby Search: a GET with location, radius in metres and key, the answer passes through",
          "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost", "IP:127.0.0.1"}));
        upstream.respond = [](const recorded_request&) {
            return canned_response{200, std::string(five_places_legacy)};
        };
        upstream.start();
        google_places places(io, tls.settings(google_api::nearby_legacy, upstream), tls.log);
        const auto answer = co_await places.nearby_search(westwood());
        CHECK(status_of(answer) == "OK");
        CHECK(answer.at("results").as_array().size() == 5); // the server cuts to the bound
        REQUIRE(upstream.requests().size() == 1);
        const auto& sent = upstream.requests()[0];
        CHECK(sent.method == "GET");
        CHECK_THAT(sent.target, Catch::StartsWith("/maps/api/place/nearbysearch/json?"));
        const auto params = query_params(sent.target);
        CHECK(params.at("location") == "34.06893,-118.445127");
        CHECK(params.at("radius") == "1500");
        CHECK(params.at("key") == "test-key");
        CHECK(sent.headers.at("host") == "localhost:" + std::to_string(upstream.port()));
        // Logged, but never with the key.
        CHECK_THAT(tls.log_text.str(), Catch::Contains("GET https://localhost:") && Catch::Contains("key=REDACTED") &&
                                           Catch::Contains("HTTP 200"));
        CHECK_THAT(tls.log_text.str(), !Catch::Contains("test-key"));
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("Places API (New): a POST with key header, field mask and circle and places become legacy results",
          "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) { return canned_response{200, std::string(two_places_new)}; };
        upstream.start();
        google_places places(io, tls.settings(google_api::nearby_new, upstream), tls.log);
        const auto answer = co_await places.nearby_search(westwood());
        CHECK(status_of(answer) == "OK");
        const auto& results = answer.at("results").as_array();
        REQUIRE(results.size() == 2);
        CHECK(results[0].at("name") == "Diddy Riese");
        CHECK(results[0].at("vicinity") == "926 Broxton Ave");
        CHECK(results[1].at("geometry").at("location").at("lng").as_double() == -118.4482);
        REQUIRE(upstream.requests().size() == 1);
        const auto& sent = upstream.requests()[0];
        CHECK(sent.method == "POST");
        CHECK(sent.target == "/v1/places:searchNearby");
        CHECK(sent.headers.at("x-goog-api-key") == "test-key");
        CHECK(sent.headers.at("x-goog-fieldmask") == std::string(new_field_mask()));
        CHECK(sent.headers.at("content-type") == "application/json");
        const auto body = boost::json::parse(sent.body);
        CHECK(body.at("locationRestriction").at("circle").at("radius").to_number<double>() == 1500);
        CHECK(body.at("locationRestriction").at("circle").at("center").at("latitude").as_double() == 34.068930);
        CHECK(body.at("maxResultCount").as_int64() == 3);
        CHECK_THAT(tls.log_text.str(), !Catch::Contains("test-key"));
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("Google's errors reach the client as legacy error statuses", "[google][tls]")
{
    struct error_case {
        google_api api;
        canned_response response;
        std::string status;
        std::string message;
    };
    const auto c = GENERATE(
        error_case{
            google_api::nearby_legacy,
            {200, R"({"error_message":"The provided API key is invalid.","results":[],"status":"REQUEST_DENIED"})"},
            "REQUEST_DENIED",
            "The provided API key is invalid."},
        error_case{google_api::nearby_new,
                   {403, R"({"error":{"code":403,"message":"API key not valid.","status":"PERMISSION_DENIED"}})"},
                   "REQUEST_DENIED",
                   "API key not valid."},
        error_case{google_api::nearby_new, {500, "<html>backend error</html>"}, "UNKNOWN_ERROR", "HTTP 500"},
        error_case{google_api::nearby_legacy, {500, "oops"}, "UNKNOWN_ERROR", "HTTP 500"},
        error_case{google_api::nearby_new, {200, "{\"places\": [tru"}, "UNKNOWN_ERROR", "not a JSON object"},
        error_case{google_api::nearby_legacy, {200, "<html>"}, "UNKNOWN_ERROR", "not a Places JSON object"},
        error_case{google_api::nearby_new, {200, "{}"}, "ZERO_RESULTS", ""});
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.respond = [&](const recorded_request&) { return c.response; };
        upstream.start();
        google_places places(io, tls.settings(c.api, upstream), tls.log);
        const auto answer = co_await places.nearby_search(westwood());
        CHECK(status_of(answer) == c.status);
        CHECK_THAT(message_of(answer), Catch::Contains(c.message));
        CHECK(answer.at("results").as_array().empty());
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("an answer slower than the time-out gives an error within the time-out", "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) { return canned_response{200, "{}", 10s}; };
        upstream.start();
        google_places places(io, tls.settings(google_api::nearby_new, upstream, 300ms), tls.log);
        const auto started = std::chrono::steady_clock::now();
        const auto answer = co_await places.nearby_search(westwood());
        const auto took = std::chrono::steady_clock::now() - started;
        CHECK(status_of(answer) == "UNKNOWN_ERROR");
        CHECK_THAT(message_of(answer), Catch::Contains("timed out"));
        CHECK(took >= 250ms);
        CHECK(took < 3s);
        CHECK_THAT(tls.log_text.str(), Catch::Contains("failed after") && Catch::Contains("timed out"));
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("a certificate for another host, or from an unknown CA, is refused and logged", "[google][tls]")
{
    const bool wrong_host = GENERATE(true, false);
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({wrong_host ? "DNS:wrong.example" : "DNS:localhost"}));
        upstream.start();
        auto settings = tls.settings(google_api::nearby_new, upstream);
        if (!wrong_host) {
            settings.ca_file.clear(); // the test CA is not in the system store
        }
        google_places places(io, settings, tls.log);
        const auto answer = co_await places.nearby_search(westwood());
        CHECK(status_of(answer) == "UNKNOWN_ERROR");
        CHECK_THAT(message_of(answer), Catch::Contains("TLS with localhost refused"));
        CHECK_THAT(message_of(answer),
                   Catch::Contains(wrong_host ? "hostname mismatch" : "unable to get local issuer certificate"));
        CHECK_THAT(tls.log_text.str(), Catch::Contains("TLS with localhost refused"));
        CHECK(upstream.requests().empty()); // nothing was sent, the key least of all
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("requests reuse a kept-alive connection, and a closed one is re-opened transparently", "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        bool close_next = false;
        upstream.respond = [&](const recorded_request&) {
            return canned_response{200, std::string(two_places_new), 0ms, close_next};
        };
        upstream.start();
        google_places places(io, tls.settings(google_api::nearby_new, upstream), tls.log);
        for (int i = 0; i < 3; ++i) {
            const auto answer = co_await places.nearby_search(westwood());
            CHECK(status_of(answer) == "OK");
        }
        CHECK(upstream.connections() == 1);
        CHECK(places.connections_opened() == 1);
        CHECK_THAT(tls.log_text.str(), Catch::Contains("kept-alive connection"));

        // The server answers and then drops the connection, as an idle
        // time-out on its side would; the next request still succeeds.
        close_next = true;
        const auto before_close = co_await places.nearby_search(westwood());
        CHECK(status_of(before_close) == "OK");
        close_next = false;
        const auto after_close = co_await places.nearby_search(westwood());
        CHECK(status_of(after_close) == "OK");
        CHECK(upstream.connections() == 2);
        CHECK(upstream.requests().size() == 5);
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("the factory builds what herd.toml asks for, and refuses Google with no key", "[google][config]")
{
    asio::io_context io;
    auto log = std::make_shared<spdlog::logger>("test");
    places_config config;
    auto no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    auto with_key = [](const std::string& name) -> std::optional<std::string> {
        return name == "GOOGLE_PLACES_API_KEY" ? std::optional<std::string>("k") : std::nullopt;
    };
    CHECK_THAT(make_places_source(io, config, log, no_env)->describe(), Catch::StartsWith("local ("));
    CHECK_THAT(
        make_places_source(io, config, log, with_key)->describe(),
        Catch::StartsWith("google-new (Places API New) at https://places.googleapis.com/v1/places:searchNearby") &&
            Catch::Contains("answers kept 60 s"));
    config.provider = "google";
    config.cache_ttl = 0s;
    CHECK(make_places_source(io, config, log, with_key)->describe() ==
          "google (Nearby Search, legacy) at https://maps.googleapis.com/maps/api/place/nearbysearch/json, key from "
          "$GOOGLE_PLACES_API_KEY");
    CHECK_THROWS_WITH(make_places_source(io, config, log, no_env),
                      Catch::Contains("places.provider is google but $GOOGLE_PLACES_API_KEY is not set"));
    config.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_WITH(make_places_source(io, config, log, with_key), Catch::Contains("/nonexistent/ca.pem"));
}

TEST_CASE("WHATSAT through the herd reaches Google's API and answers the client", "[google][tls][herd]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) {
            return canned_response{200, std::string(five_places_legacy)};
        };
        upstream.start();
        // Configured as a user would: herd.toml's [places] and a key in the
        // environment.
        places_config config;
        config.provider = "google";
        config.endpoint = "https://localhost:" + std::to_string(upstream.port()) + "/maps/api/place/nearbysearch/json";
        config.ca_file = tls.ca_file;
        auto env = [](const std::string& name) -> std::optional<std::string> {
            return name == "GOOGLE_PLACES_API_KEY" ? std::optional<std::string>("herd-key") : std::nullopt;
        };
        auto places = make_places_source(io, config, tls.log, env);
        local_herd herd(io, on_free_ports(default_topology()), places);
        herd.start_all();
        const auto at = co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827.959498503\n");
        const std::string at_line = at.substr(0, at.size() - 1);
        const auto settled =
            co_await herd.changed().until([&] { return herd.record_at("Welsh", "kiwi") == at_line; }, 2000ms);
        REQUIRE(settled);
        const auto reply = co_await ask_read_once(herd.port("Welsh"), "WHATSAT kiwi 10 2\n");
        REQUIRE_THAT(reply, Catch::StartsWith(at_line + "\n{") && Catch::EndsWith("}\n\n"));
        const auto json = boost::json::parse(reply.substr(at_line.size() + 1)).as_object();
        CHECK(json.at("status") == "OK");
        CHECK(json.at("results").as_array().size() == 2); // cut to the bound
        CHECK(reply.find("\n\n") == reply.size() - 2);
        REQUIRE(upstream.requests().size() == 1);
        const auto params = query_params(upstream.requests()[0].target);
        CHECK(params.at("radius") == "10000");
        CHECK(params.at("location") == "34.06893,-118.445127");
        CHECK(params.at("key") == "herd-key");
        // Asked again at another server: the same question, answered from
        // the cache they share here.
        const auto again = co_await ask(herd.port("Hands"), "WHATSAT kiwi 10 2\n");
        CHECK(again == reply);
        CHECK(upstream.requests().size() == 1);
        upstream.stop();
    });
}

TEST_CASE("Google down (nothing listening) gives an error answer at once", "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        const auto settings = tls.settings(google_api::nearby_new, upstream);
        upstream.stop(); // its port now refuses connections
        google_places places(io, settings, tls.log);
        const auto started = std::chrono::steady_clock::now();
        const auto answer = co_await places.nearby_search(westwood());
        CHECK(std::chrono::steady_clock::now() - started < 2s);
        CHECK(status_of(answer) == "UNKNOWN_ERROR");
        CHECK_THAT(message_of(answer), Catch::Contains("cannot connect to localhost:"));
        CHECK_THAT(tls.log_text.str(), Catch::Contains("failed after"));
        places.stop();
    });
}

TEST_CASE("a TLS handshake that never finishes is a time-out, for the client and in the log", "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        // Accepts the connection and says nothing: no ServerHello ever comes.
        asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
        asio::ip::tcp::socket held(io);
        google_places places(io, tls.settings_for_port(google_api::nearby_new, silent.local_endpoint().port(), 300ms),
                             tls.log);
        auto accept = silent.async_accept(held, herd::detail::use_tuple);
        auto search = places.nearby_search(westwood());
        auto both = std::move(search) && std::move(accept);
        const auto [answer, accepted] = co_await std::move(both);
        CHECK_FALSE(std::get<0>(accepted));
        CHECK(status_of(answer) == "UNKNOWN_ERROR");
        CHECK_THAT(message_of(answer), Catch::Contains("timed out") && !Catch::Contains("refused"));
        CHECK_THAT(tls.log_text.str(), Catch::Contains("timed out") && !Catch::Contains("refused"));
        places.stop();
    });
}

TEST_CASE("no more than the pool's connections to the provider at once, and the others wait their turn",
          "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) {
            return canned_response{200, std::string(two_places_new), 100ms};
        };
        upstream.start();
        auto settings = tls.settings(google_api::nearby_new, upstream, 10s);
        const std::size_t pool = settings.max_connections;
        CHECK(pool == 8); // what docs/places.md says
        constexpr int asked = 12;
        google_places places(io, settings, tls.log);
        int ok = 0;
        int done = 0;
        asio::steady_timer all_done(io, asio::steady_timer::time_point::max());
        for (int i = 0; i < asked; ++i) {
            auto one = [&]() -> asio::awaitable<void> {
                const auto answer = co_await places.nearby_search(westwood());
                ok += status_of(answer) == "OK" ? 1 : 0;
                if (++done == asked) {
                    all_done.cancel();
                }
            };
            asio::co_spawn(io, one(), [](const std::exception_ptr& e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
        }
        co_await all_done.async_wait(herd::detail::use_tuple);
        CHECK(ok == asked);
        CHECK(upstream.requests().size() == asked);
        CHECK(upstream.connections() <= pool);
        CHECK(places.connections_opened() <= pool);
        places.stop();
        upstream.stop();
    });
}

TEST_CASE("WHATSAT's time-out during a kept-alive request sends nothing again, and stop() after it is safe",
          "[google][tls][herd]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        std::chrono::milliseconds delay{0};
        upstream.respond = [&](const recorded_request&) {
            return canned_response{200, std::string(two_places_new), delay};
        };
        upstream.start();
        // No cache (cache_ttl = 0): every WHATSAT is a request upstream. The
        // server's bound (2 s) ends the request before its own deadline (5 s).
        auto places = std::make_shared<google_places>(io, tls.settings(google_api::nearby_new, upstream, 5s), tls.log);
        one_server herd(io, places, 2s, tls.log);
        const auto first = co_await herd.whatsat();
        CHECK(first.at("status") == "OK");
        // The kept-alive connection carries the next request, which the
        // server's time-out cancels after it is written.
        delay = 10s;
        const auto slow = co_await herd.whatsat();
        CHECK(slow.at("status") == "UNKNOWN_ERROR");
        CHECK_THAT(std::string(slow.at("error_message").as_string()),
                   Catch::Contains("timed out") || Catch::Contains("did not answer in time"));
        delay = 0ms;
        const auto third = co_await herd.whatsat();
        CHECK(third.at("status") == "OK");
        // Three WHATSATs, three requests: the cancelled one was not sent again.
        CHECK(upstream.requests().size() == 3);
        CHECK_THAT(tls.log_text.str(), Catch::Contains("at the WHATSAT time-out: cancelled waiting for the answer"));
        // stop() closes what is busy: nothing freed may be left there.
        herd.goloman.stop();
        places->stop();
        upstream.stop();
    });
}

TEST_CASE("provider auto with no key still refuses an unreadable ca_file at start", "[google][config]")
{
    asio::io_context io;
    auto log = std::make_shared<spdlog::logger>("test");
    places_config config;
    config.ca_file = "/nonexistent/ca.pem";
    auto no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    CHECK_THROWS_WITH(make_places_source(io, config, log, no_env), Catch::Contains("/nonexistent/ca.pem"));
}

TEST_CASE("WHATSAT gets its time-out reply while the resolver hangs, and the late lookup is dropped",
          "[google][tls][herd]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.start();
        // Like the 1.81 resolver: deaf to cancellation, answering only when
        // `dns` is cancelled, at the latest after ten seconds.
        asio::steady_timer dns(io, asio::steady_timer::time_point::max());
        asio::steady_timer dns_slowness(io, 10s);
        int lookups = 0;
        bool dns_answered = false;
        auto settings = tls.settings(google_api::nearby_new, upstream, 300ms);
        settings.resolve = [&](std::string, std::string) -> asio::awaitable<resolved_host> {
            ++lookups;
            auto deaf =
                dns.async_wait(asio::bind_cancellation_slot(asio::cancellation_slot(), herd::detail::use_tuple));
            co_await std::move(deaf);
            dns_answered = true;
            co_return resolved_host{asio::error::host_not_found, {}};
        };
        auto slow_dns = [&]() -> asio::awaitable<void> {
            co_await dns_slowness.async_wait(herd::detail::use_tuple);
            dns.cancel();
        };
        asio::co_spawn(io, slow_dns(), [](const std::exception_ptr& e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
        auto places = std::make_shared<google_places>(io, settings, tls.log);
        one_server herd(io, places, 300ms, tls.log);
        const auto answer = co_await herd.whatsat();
        // The reply came while the lookup still hung.
        CHECK_FALSE(dns_answered);
        CHECK(lookups == 1);
        CHECK(answer.at("status") == "UNKNOWN_ERROR");
        CHECK_THAT(std::string(answer.at("error_message").as_string()), Catch::Contains("did not answer in time"));
        CHECK_THAT(tls.log_text.str(), Catch::Contains("no answer within 300 ms"));
        // DNS answers at last: the answer is dropped, nothing is sent.
        dns_slowness.cancel();
        while (!dns_answered) {
            co_await asio::post(asio::use_awaitable);
        }
        co_await asio::post(asio::use_awaitable);
        CHECK(upstream.requests().empty());
        herd.goloman.stop();
        places->stop();
        upstream.stop();
    });
}

TEST_CASE("a source that throws behind the cache: the client gets the error shape and the log says why",
          "[google][cache][herd]")
{
    const bool std_exception = GENERATE(true, false);
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        auto places = std::make_shared<cached_places>(std::make_shared<throwing_places>(std_exception), 60s);
        one_server herd(io, places, 5s, tls.log);
        const auto answer = co_await herd.whatsat();
        CHECK(answer.at("status") == "UNKNOWN_ERROR");
        const std::string why =
            std_exception ? "the places source failed: upstream exploded" : "the places source failed";
        CHECK_THAT(std::string(answer.at("error_message").as_string()), Catch::Contains(why));
        CHECK_THAT(tls.log_text.str(),
                   Catch::Contains(std_exception ? why : "the places source failed: it threw something"));
        herd.goloman.stop();
    });
}

TEST_CASE("a stopped server's client and peer ports read as 0, never a throw", "[google][herd]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        one_server herd(io, nullptr, 5s, tls.log);
        CHECK(herd.goloman.client_port() == herd.herd.servers[0].port);
        herd.goloman.stop();
        CHECK(herd.goloman.client_port() == 0);
        CHECK(herd.goloman.peer_port() == 0);
        co_return;
    });
}

TEST_CASE("a request that waits past its deadline for one of the pool's connections times out", "[google][tls]")
{
    tls_fixture tls;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        https_server upstream(io, tls.ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) { return canned_response{200, "{}", 1s}; };
        upstream.start();
        const auto url = *parse_https_url("https://localhost:" + std::to_string(upstream.port()) + "/");
        herd::detail::https_client client(io.get_executor(), url, herd::detail::make_tls_client_context(tls.ca_file),
                                          {1, {}});
        // The first holds the pool's one connection for a second; the
        // second may wait only 300 ms.
        auto first = client.request({"GET", "/", {}, {}}, 10s);
        auto second = client.request({"GET", "/", {}, {}}, 300ms);
        auto both = std::move(first) && std::move(second);
        const auto [a, b] = co_await std::move(both);
        CHECK(a.status == 200);
        CHECK(b.status == 0);
        CHECK(b.error == "timed out waiting for one of the 1 connections to localhost");
        CHECK(upstream.connections() == 1);
        CHECK(upstream.requests().size() == 1);
        client.stop();
        upstream.stop();
    });
}
