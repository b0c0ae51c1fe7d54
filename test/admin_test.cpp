// The admin endpoint over real HTTP: /status, /clients and /metrics from a
// herd of five on loopback.
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct http_reply {
    int status = 0;
    std::string body;
};

asio::awaitable<http_reply> http_request(std::uint16_t port, std::string_view method, std::string_view target)
{
    const std::string request = std::string(method) + " " + std::string(target) +
                                " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    const std::string raw = co_await ask(port, request);
    http_reply reply;
    if (raw.size() > 12) {
        reply.status = std::stoi(raw.substr(9, 3));
    }
    if (const auto body = raw.find("\r\n\r\n"); body != std::string::npos) {
        reply.body = raw.substr(body + 4);
    }
    co_return reply;
}

asio::awaitable<boost::json::object> get_json(std::uint16_t port, std::string_view target)
{
    const auto reply = co_await http_request(port, "GET", target);
    REQUIRE(reply.status == 200);
    co_return boost::json::parse(reply.body).as_object();
}

} // namespace

TEST_CASE("admin /status: links up and down with since-when, counters, store size", "[admin]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        const auto admin = herd.at("Goloman").admin_port();
        REQUIRE(admin == herd.herd().find("Goloman")->admin_port);
        const auto at = co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const std::string at_line = at.substr(0, at.size() - 1);
        const bool settled =
            co_await herd.changed().until([&] { return herd.record_at("Welsh", "kiwi") == at_line; }, 2000ms);
        REQUIRE(settled);

        const auto status = co_await get_json(admin, "/status");
        CHECK(status.at("server") == "Goloman");
        CHECK(status.at("store_size").as_int64() == 1);
        CHECK(status.at("counters").at("iamat").as_int64() == 1);
        CHECK(status.at("counters").at("peer_records_queued").as_int64() == 3);
        const auto& links = status.at("links").as_object();
        CHECK(links.size() == 3);
        for (const char* n : {"Hands", "Holiday", "Wilkes"}) {
            INFO(n);
            CHECK(links.at(n).at("up").as_bool());
            CHECK_THAT(std::string(links.at(n).at("since").as_string()), Catch::EndsWith("Z"));
        }

        // Holiday goes away: Goloman's link to it shows down.
        herd.stop("Holiday");
        asio::steady_timer pause(io);
        bool down = false;
        for (int i = 0; i < 100 && !down; ++i) {
            const auto now = co_await get_json(admin, "/status");
            down = !now.at("links").at("Holiday").at("up").as_bool();
            pause.expires_after(10ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
        CHECK(down);
    });
}

TEST_CASE("admin /clients is the store as JSON", "[admin]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto at = co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827.5\n");
        co_await ask(herd.port("Goloman"), "IAMAT plum +1+2 1\n");
        const auto clients = co_await get_json(herd.at("Goloman").admin_port(), "/clients");
        REQUIRE(clients.size() == 2);
        CHECK(clients.at("kiwi").at("at").as_string() == at.substr(0, at.size() - 1));
        CHECK(clients.at("kiwi").at("server") == "Goloman");
        CHECK(clients.at("kiwi").at("time_ns").as_int64() == 1621464827500000000);
        CHECK(clients.at("plum").at("lng").as_double() == 2);
    });
}

TEST_CASE("admin /metrics in Prometheus text format, and refusals", "[admin]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto admin = herd.at("Goloman").admin_port();
        co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\nWHATSAT kiwi 1 3\nnonsense\n");
        const auto metrics = co_await http_request(admin, "GET", "/metrics");
        CHECK(metrics.status == 200);
        for (const char* line : {
                 "herd_requests_total{server=\"Goloman\",command=\"IAMAT\",outcome=\"ok\"} 1\n",
                 "herd_requests_total{server=\"Goloman\",command=\"WHATSAT\",outcome=\"ok\"} 1\n",
                 "herd_invalid_lines_total{server=\"Goloman\"} 1\n",
                 "herd_store_clients{server=\"Goloman\"} 1\n",
                 "herd_peer_link_up{server=\"Goloman\",neighbor=\"Hands\"} 0\n",
                 "herd_places_requests_total{server=\"Goloman\",status=\"OK\"} 1\n",
                 "herd_places_request_seconds_count{server=\"Goloman\"} 1\n",
                 "herd_places_request_seconds_bucket{server=\"Goloman\",le=\"+Inf\"} 1\n",
                 "# TYPE herd_places_request_seconds histogram\n",
             }) {
            CHECK_THAT(metrics.body, Catch::Contains(line));
        }
        const auto missing = co_await http_request(admin, "GET", "/nope");
        CHECK(missing.status == 404);
        const auto posted = co_await http_request(admin, "POST", "/status");
        CHECK(posted.status == 405);
    });
}
