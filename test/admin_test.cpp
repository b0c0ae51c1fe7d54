// The admin endpoint over real HTTP: /status, /clients and /metrics from a
// herd of five on loopback, and what the live view reads (/, /view.js,
// /view.css, /herd, /places.json, and CORS for the herd's own origins).
#include "async/within.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/http_client.hpp"
#include "support/net.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <optional>
#include <regex>
#include <set>
#include <vector>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A GET as a page at `origin` sends it. Arguments by value: the coroutine
// runs after its caller's temporaries are gone.
asio::awaitable<http_reply> get_with_origin(std::uint16_t port, std::string origin, std::string target)
{
    co_return co_await http_request(port, "GET", target, {}, origin);
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
        CHECK(status.at("store_digest").as_string().size() == 16);
        CHECK(status.at("store_digest").as_string() != "0000000000000000");
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
        const bool noticed =
            co_await herd.changed().until([&] { return herd.at("Goloman").stats().peer_links_up == 2; }, 5000ms);
        REQUIRE(noticed);
        const auto now = co_await get_json(admin, "/status");
        CHECK_FALSE(now.at("links").at("Holiday").at("up").as_bool());
        CHECK(now.at("links").at("Hands").at("up").as_bool());
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
        CHECK(clients.at("plum").at("lng").to_number<double>() == 2);
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

namespace {

// Every counter of server_stats, by its name in /status and its series in
// /metrics (without the server label). Both sides are checked against
// this one list, so a counter added to one side only fails the test.
const std::vector<std::pair<std::string, std::string>> every_counter{
    {"client_connections", "herd_client_connections_total"},
    {"clients_open", "herd_client_connections_open"},
    {"clients_refused", "herd_clients_refused_total"},
    {"clients_dropped", "herd_clients_dropped_total"},
    {"iamat", "herd_requests_total{command=\"IAMAT\",outcome=\"ok\"}"},
    {"whatsat", "herd_requests_total{command=\"WHATSAT\",outcome=\"ok\"}"},
    {"invalid", "herd_invalid_lines_total"},
    {"peer_links_accepted", "herd_peer_links_accepted_total"},
    {"peer_links_refused", "herd_peer_links_refused_total"},
    {"peer_links_up", "herd_peer_links_up"},
    {"peer_records_received", "herd_peer_messages_total{direction=\"in\"}"},
    {"peer_records_stored", "herd_peer_records_stored_total"},
    {"peer_records_queued", "herd_peer_records_queued_total"},
    {"peer_records_sent", "herd_peer_messages_total{direction=\"out\"}"},
    {"peer_records_dropped", "herd_peer_messages_total{direction=\"dropped\"}"},
    {"peer_queue_overflows", "herd_peer_queue_overflows_total"},
    {"peer_timeouts", "herd_peer_timeouts_total"},
    {"peer_tls_refused", "herd_peer_tls_refused_total"},
    {"reconciliations", "herd_reconciliations_total"},
    {"reconcile_records_sent", "herd_reconcile_records_sent_total"},
    {"reconcile_records_received", "herd_reconcile_records_received_total"},
    {"tree_notices_sent", "herd_tree_messages_total{kind=\"ihave\"}"},
    {"tree_prunes_sent", "herd_tree_messages_total{kind=\"prune\"}"},
    {"tree_grafts_sent", "herd_tree_messages_total{kind=\"graft\"}"},
    {"tree_notice_bytes_sent", "herd_tree_bytes_total{kind=\"ihave\"}"},
    {"tree_prune_bytes_sent", "herd_tree_bytes_total{kind=\"prune\"}"},
    {"tree_graft_bytes_sent", "herd_tree_bytes_total{kind=\"graft\"}"},
    {"admin_open", "herd_admin_connections_open"},
    {"admin_refused", "herd_admin_connections_refused_total"},
    {"peer_handshakes_open", "herd_peer_handshakes_open"},
    {"peer_handshakes_refused", "herd_peer_handshakes_refused_total"},
    {"places_requests", "herd_places_request_seconds_count"},
    {"http_connections", "herd_http_connections_total"},
    {"http_open", "herd_http_connections_open"},
    {"http_requests", "herd_http_requests_total"},
    {"http_errors", "herd_http_errors_total"},
    {"http_dropped", "herd_http_dropped_total"},
    {"websockets_open", "herd_websockets_open"},
    {"stream_events_queued", "herd_stream_events_total{state=\"queued\"}"},
    {"stream_events_sent", "herd_stream_events_total{state=\"sent\"}"},
    {"stream_overflows", "herd_stream_overflows_total"},
    {"log_lines_dropped", "herd_log_lines_dropped_total"},
};

// "name{server=\"S\",a=\"b\"} 7" -> ("name{a=\"b\"}", "7"); the server label
// is the same on every series.
std::map<std::string, std::string> metric_series(const std::string& text, std::string_view server)
{
    std::map<std::string, std::string> out;
    const std::string label = fmt::format("server=\"{}\"", server);
    std::size_t from = 0;
    while (from < text.size()) {
        const auto end = text.find('\n', from);
        std::string line = text.substr(from, end - from);
        from = end == std::string::npos ? text.size() : end + 1;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        std::string series = line.substr(0, space);
        if (const auto at = series.find(label); at != std::string::npos) {
            series.erase(at, label.size());
            if (series[at] == ',') {
                series.erase(at, 1);
            }
        }
        if (series.size() > 2 && series.substr(series.size() - 2) == "{}") {
            series.resize(series.size() - 2);
        }
        out[series] = line.substr(space + 1);
    }
    return out;
}

// Families that are not counters of server_stats.
bool counter_series(const std::string& series)
{
    for (const char* other : {"herd_peer_link_up", "herd_places_requests_total{", "herd_places_request_seconds_bucket",
                              "herd_places_request_seconds_sum", "herd_store_clients"}) {
        if (series.rfind(other, 0) == 0) {
            return false;
        }
    }
    return true;
}

} // namespace

TEST_CASE("admin /status and /metrics carry the same counters, with the same values", "[admin]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        // Goloman alone, with no neighbours: with links to servers that are
        // down, their dials would drop records between the two reads.
        const auto one = on_free_ports(parse_topology("[servers.Goloman]\nport = 1\n", "one.toml", "."));
        local_herd herd(io, one);
        herd.start("Goloman");
        const auto admin = herd.at("Goloman").admin_port();
        co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\nWHATSAT kiwi 1 3\n");
        const auto status = co_await get_json(admin, "/status");
        const auto metrics = co_await http_request(admin, "GET", "/metrics");
        REQUIRE(metrics.status == 200);

        std::set<std::string> in_status;
        for (const auto& member : status.at("counters").as_object()) {
            in_status.insert(std::string(member.key()));
        }
        std::set<std::string> in_metrics;
        const auto series = metric_series(metrics.body, "Goloman");
        for (const auto& [name, value] : series) {
            if (counter_series(name)) {
                in_metrics.insert(name);
            }
        }
        std::set<std::string> names, metric_names;
        for (const auto& [name, metric] : every_counter) {
            names.insert(name);
            metric_names.insert(metric);
        }
        CHECK(in_status == names);
        CHECK(in_metrics == metric_names);
        for (const auto& [name, metric] : every_counter) {
            INFO(name << " / " << metric);
            const auto* json = status.at("counters").as_object().if_contains(name);
            const auto it = series.find(metric);
            if (json != nullptr && it != series.end()) {
                CHECK(std::to_string(json->to_number<std::uint64_t>()) == it->second);
            }
        }
        CHECK(status.at("counters").at("iamat").as_int64() == 1);
        CHECK(status.at("counters").at("places_requests").as_int64() == 1);
    });
}

TEST_CASE("admin /clients prints coordinates as plain decimals", "[admin]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        co_await ask(herd.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\nIAMAT tiny +0.00001-0.5 1\n");
        const auto reply = co_await http_request(herd.at("Goloman").admin_port(), "GET", "/clients");
        REQUIRE(reply.status == 200);
        CHECK_THAT(reply.body, Catch::Contains("\"lat\":34.06893,\"lng\":-118.445127"));
        CHECK_THAT(reply.body, Catch::Contains("\"lat\":0.00001,\"lng\":-0.5"));
        CHECK_THAT(reply.body, !Catch::Contains("E") && !Catch::Contains("e-"));
    });
}

TEST_CASE("admin /clients pages by client ID, and /clients/ID looks one up", "[admin]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto admin = herd.at("Goloman").admin_port();
        co_await ask(herd.port("Goloman"),
                     "IAMAT delta +1+1 1\nIAMAT alpha +1+1 1\nIAMAT echo +1+1 1\nIAMAT a/b +1+1 1\n"
                     "IAMAT charlie +1+1 1\nIAMAT bravo +1+1 1\n");
        const auto keys = [](const boost::json::object& o) {
            std::vector<std::string> out;
            for (const auto& member : o) {
                out.emplace_back(member.key());
            }
            return out;
        };
        using list = std::vector<std::string>;
        const std::vector<std::pair<std::string, list>> pages{
            {"/clients", {"a/b", "alpha", "bravo", "charlie", "delta", "echo"}},
            {"/clients?limit=2", {"a/b", "alpha"}},
            {"/clients?after=alpha&limit=2", {"bravo", "charlie"}},
            {"/clients?after=charlie&limit=5", {"delta", "echo"}},
            {"/clients?after=b", {"bravo", "charlie", "delta", "echo"}},
            {"/clients?after=echo", {}},
            {"/clients?limit=1&after=a%2Fb", {"alpha"}},
        };
        for (const auto& [target, expected] : pages) {
            INFO(target);
            const auto page = co_await get_json(admin, target);
            CHECK(keys(page) == expected);
        }

        const auto one = co_await get_json(admin, "/clients/charlie");
        CHECK(one.at("server") == "Goloman");
        CHECK_THAT(std::string(one.at("at").as_string()), Catch::EndsWith(" charlie +1+1 1"));
        const auto escaped = co_await get_json(admin, "/clients/a%2Fb");
        CHECK_THAT(std::string(escaped.at("at").as_string()), Catch::EndsWith(" a/b +1+1 1"));
        for (const auto& [target, status] : std::vector<std::pair<std::string, int>>{{"/clients/zulu", 404},
                                                                                     {"/clients?limit=0", 400},
                                                                                     {"/clients?limit=x", 400},
                                                                                     {"/clients?colour=red", 400},
                                                                                     {"/clients?after=%zz", 400}}) {
            INFO(target);
            const auto reply = co_await http_request(admin, "GET", target);
            CHECK(reply.status == status);
        }
    });
}

TEST_CASE("admin connections past the bound are closed unanswered, and counted", "[admin][limits]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto admin = herd.at("Goloman").admin_port();
        constexpr std::size_t bound = 8; // limits.admin_connections' default
        REQUIRE(herd.herd().limits.admin_connections == bound);
        std::vector<std::unique_ptr<client>> idle;
        for (std::size_t i = 0; i < bound; ++i) {
            idle.push_back(std::make_unique<client>(io.get_executor()));
            co_await idle.back()->connect(admin);
            co_await idle.back()->send("GET /status HTTP/1.1\r\n"); // a request begun and never finished
        }
        // The server takes connections in the order they came, so it holds
        // all of these before it reaches the next one.
        client refused(io.get_executor());
        co_await refused.connect(admin);
        // Closed by the server at once, not left waiting for a request.
        std::array<char, 64> bytes{};
        auto read = refused.socket().async_read_some(asio::buffer(bytes), herd::detail::use_tuple);
        const auto closed = co_await herd::detail::within(std::move(read), 5000ms);
        REQUIRE(closed.has_value());
        CHECK(std::get<0>(*closed) == asio::error::eof);

        // One caller goes away mid-request: the server reads its end, gives
        // up the request and hangs up, and the slot is free by the time
        // the caller sees that (one io_context: the server's coroutine has
        // ended before the caller's read completes).
        idle.front()->shutdown_send();
        auto gone = idle.front()->socket().async_read_some(asio::buffer(bytes), herd::detail::use_tuple);
        const auto hung_up = co_await herd::detail::within(std::move(gone), 5000ms);
        REQUIRE(hung_up.has_value());
        CHECK(std::get<0>(*hung_up) == asio::error::eof);
        idle.erase(idle.begin());
        const auto status = (co_await http_request(admin, "GET", "/status")).status;
        REQUIRE(status == 200);
        const auto counters = co_await get_json(admin, "/status");
        CHECK(counters.at("counters").at("admin_refused").as_int64() >= 1);
        CHECK(counters.at("counters").at("admin_open").as_int64() == bound);
    });
}

TEST_CASE("admin /clients of a large store streams: IAMATs are answered and stored while it is read", "[admin]")
{
    run_async(
        [](asio::io_context& io) -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            local_herd herd(io, on_free_ports(default_topology()));
            herd.start("Goloman");
            const auto port = herd.port("Goloman");
            constexpr int total = 200000, batch = 5000;
            for (int from = 0; from < total; from += batch) {
                std::string lines;
                for (int i = from; i < from + batch; ++i) {
                    lines += fmt::format("IAMAT c{:06} +34.068930-118.445127 1621464827.{:09}\n", i, i);
                }
                co_await ask(port, lines);
            }
            REQUIRE(herd.at("Goloman").store().size() == total);

            client reader(io.get_executor());
            co_await reader.connect(herd.at("Goloman").admin_port());
            co_await reader.send("GET /clients HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            // The answer has begun: what it holds of the store is being
            // written now.
            std::string raw = co_await reader.read_bytes(4096, 10000ms);
            REQUIRE(raw.size() == 4096);

            std::vector<std::string> events;
            std::size_t read_when_answered = 0;
            auto read_rest = [&]() -> asio::awaitable<void> {
                std::array<char, 65536> buf{};
                for (;;) {
                    auto [ec, n] = co_await reader.socket().async_read_some(asio::buffer(buf), herd::detail::use_tuple);
                    raw.append(buf.data(), n);
                    if (ec) {
                        break;
                    }
                }
                events.emplace_back("clients read");
            };
            std::string at;
            auto iamat = [&]() -> asio::awaitable<void> {
                client c(io.get_executor());
                co_await c.connect(port);
                co_await c.send("IAMAT zzzz +1+2 1621464828\n");
                at = (co_await c.read_line(10000ms)).value_or("");
                read_when_answered = raw.size();
                events.emplace_back("AT");
            };
            co_await (read_rest() && iamat());

            CHECK(events == std::vector<std::string>{"AT", "clients read"});
            INFO("bytes of /clients read when the AT came: " << read_when_answered << " of " << raw.size());
            CHECK(read_when_answered < raw.size() / 2);
            const auto body = raw.find("\r\n\r\n");
            REQUIRE(body != std::string::npos);
            const auto clients = boost::json::parse(raw.substr(body + 4)).as_object();
            // The stream reached zzzz (last in ID order) after the IAMAT
            // stored it: the store was read as it stood, piece by piece.
            CHECK(clients.size() == total + 1);
            REQUIRE(clients.contains("zzzz"));
            CHECK(clients.at("zzzz").at("at").as_string() == at);
        },
        120s);
}

TEST_CASE("admin / is the live view: its page, script and style, nothing from off the machine", "[admin][view]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto admin = herd.at("Goloman").admin_port();
        const auto page = co_await http_request(admin, "GET", "/");
        CHECK(page.status == 200);
        CHECK(page.header("content-type") == "text/html; charset=utf-8");
        CHECK_THAT(page.body, Catch::StartsWith("<!doctype html>"));
        CHECK_THAT(page.body, Catch::Contains(R"(<script src="/view.js")"));
        CHECK_THAT(page.body, Catch::Contains(R"(<link rel="stylesheet" href="/view.css">)"));
        const auto script = co_await http_request(admin, "GET", "/view.js");
        CHECK(script.status == 200);
        CHECK(script.header("content-type") == "text/javascript; charset=utf-8");
        CHECK_THAT(script.body, Catch::Contains("/v1/stream"));
        CHECK_THAT(script.body, Catch::Contains("/status"));
        const auto style = co_await http_request(admin, "GET", "/view.css");
        CHECK(style.status == 200);
        CHECK(style.header("content-type") == "text/css; charset=utf-8");
        // No CDN, no font, no image from anywhere: the only absolute URLs
        // are those the script builds from /herd (a template's ${...}), and
        // none is protocol-relative.
        const std::regex absolute(R"((https?|wss?)://)", std::regex::icase);
        for (const auto* file : {&page, &script, &style}) {
            for (std::sregex_iterator i(file->body.begin(), file->body.end(), absolute), end; i != end; ++i) {
                INFO(file->body.substr((*i).position(), 40));
                CHECK(file->body.compare((*i).position() + (*i).length(), 2, "${") == 0);
            }
            CHECK_THAT(file->body, !Catch::Contains("\"//") && !Catch::Contains("'//") && !Catch::Contains("url("));
        }
        CHECK_THAT(script.body, Catch::Contains("://${"));
        // Served as they are in the repository.
        for (const auto& [target, reply] : {std::pair{"/", &page}, {"/view.js", &script}, {"/view.css", &style}}) {
            INFO(target);
            CHECK_FALSE(reply->body.empty());
            CHECK(reply->header("cache-control") == "no-cache");
        }
    });
}

TEST_CASE("admin /herd is the topology: every server's name, ports and neighbours", "[admin][view]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Holiday");
        const auto topology = co_await get_json(herd.at("Holiday").admin_port(), "/herd");
        CHECK(topology.at("server") == "Holiday");
        CHECK(topology.at("admin_host") == "127.0.0.1");
        const auto& servers = topology.at("servers").as_array();
        REQUIRE(servers.size() == herd.herd().servers.size());
        for (const auto& config : herd.herd().servers) {
            INFO(config.name);
            const auto* found = std::find_if(servers.begin(), servers.end(), [&](const boost::json::value& v) {
                return v.at("name").as_string() == config.name;
            });
            REQUIRE(found != servers.end());
            const auto& server = found->as_object();
            CHECK(server.at("host").as_string() == config.host);
            CHECK(server.at("port").as_int64() == config.port);
            CHECK(server.at("peer_port").as_int64() == config.peer_port);
            CHECK(server.at("admin_port").as_int64() == config.admin_port);
            CHECK(server.at("http_port").as_int64() == config.http_port);
            CHECK(server.at("http_tls") == false);
            std::vector<std::string> neighbours;
            for (const auto& n : server.at("neighbors").as_array()) {
                neighbours.emplace_back(n.as_string());
            }
            CHECK(neighbours == config.neighbors);
        }
    });
}

TEST_CASE("admin /places.json is the bundled Westwood places as GeoJSON points", "[admin][view]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto reply = co_await http_request(herd.at("Goloman").admin_port(), "GET", "/places.json");
        CHECK(reply.status == 200);
        CHECK(reply.header("content-type") == "application/geo+json");
        const auto places = boost::json::parse(reply.body).as_object();
        CHECK(places.at("type") == "FeatureCollection");
        const auto& features = places.at("features").as_array();
        CHECK(features.size() > 50);
        std::set<std::string> names;
        for (const auto& f : features) {
            CHECK(f.at("geometry").at("type") == "Point");
            const auto& at = f.at("geometry").at("coordinates").as_array();
            CHECK(at.at(1).to_number<double>() == Approx(34.07).margin(0.1));
            CHECK(at.at(0).to_number<double>() == Approx(-118.44).margin(0.1));
            names.emplace(f.at("properties").at("name").as_string());
        }
        CHECK(names.count("Royce Hall") == 1);
    });
}

TEST_CASE("admin answers let the herd's own admin origins read them, no other origin", "[admin][view]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start("Goloman");
        const auto admin = herd.at("Goloman").admin_port();
        const auto& hands = *herd.herd().find("Hands");
        const auto& welsh = *herd.herd().find("Welsh");
        // Another server's page, and this server's own, in each loopback spelling.
        for (const auto& origin :
             {fmt::format("http://127.0.0.1:{}", hands.admin_port),
              fmt::format("http://localhost:{}", welsh.admin_port), fmt::format("http://[::1]:{}", admin)}) {
            INFO(origin);
            const auto reply = co_await get_with_origin(admin, origin, "/status");
            CHECK(reply.status == 200);
            CHECK(reply.header("access-control-allow-origin") == origin);
            CHECK(reply.header("vary") == "Origin");
        }
        const auto clients =
            co_await get_with_origin(admin, fmt::format("http://127.0.0.1:{}", hands.admin_port), "/clients");
        CHECK(clients.status == 200);
        CHECK(clients.header("access-control-allow-origin") == fmt::format("http://127.0.0.1:{}", hands.admin_port));
        CHECK(clients.header("vary") == "Origin");
        // A foreign page, a herd port that is not an admin port, another
        // scheme, a prefix: no grant, and still Vary.
        for (const auto& origin :
             {std::string("http://example.com"), fmt::format("http://evil.example:{}", hands.admin_port),
              fmt::format("http://127.0.0.1:{}", hands.port), fmt::format("http://127.0.0.1:{}", hands.http_port),
              fmt::format("https://127.0.0.1:{}", hands.admin_port),
              fmt::format("http://127.0.0.1:{}.evil.example", hands.admin_port), std::string("null")}) {
            for (const char* target : {"/status", "/clients", "/herd"}) {
                INFO(origin << " " << target);
                const auto reply = co_await get_with_origin(admin, origin, target);
                CHECK(reply.status == 200);
                CHECK(reply.header("access-control-allow-origin").empty());
                CHECK(reply.header("vary") == "Origin");
            }
        }
        const auto none = co_await http_request(admin, "GET", "/status");
        CHECK(none.header("access-control-allow-origin").empty());
        CHECK(none.header("vary") == "Origin");
    });
}
