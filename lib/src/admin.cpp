#include "admin.hpp"

#include "detail/within.hpp"
#include "peer_link.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using detail::use_tuple;

namespace {

std::string utc(std::chrono::system_clock::time_point t)
{
    const auto us = std::chrono::time_point_cast<std::chrono::microseconds>(t);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", us);
}

boost::json::object counters(const server_stats& c)
{
    return {{"client_connections", c.client_connections},
            {"clients_open", c.clients_open},
            {"clients_refused", c.clients_refused},
            {"clients_dropped", c.clients_dropped},
            {"iamat", c.iamat},
            {"whatsat", c.whatsat},
            {"invalid", c.invalid},
            {"peer_links_accepted", c.peer_links_accepted},
            {"peer_links_refused", c.peer_links_refused},
            {"peer_records_received", c.peer_records_received},
            {"peer_records_stored", c.peer_records_stored},
            {"peer_records_queued", c.peer_records_queued},
            {"peer_records_sent", c.peer_records_sent},
            {"peer_records_dropped", c.peer_records_dropped},
            {"places_requests", c.places.count}};
}

http::response<http::string_body> respond(const http::request<http::string_body>& request, const server::state& s)
{
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.keep_alive(false);
    const std::string_view target = request.target();
    if (request.method() != http::verb::get) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET");
        response.body() = "GET only\n";
    } else if (target == "/status") {
        response.set(http::field::content_type, "application/json");
        response.body() = status_json(s);
    } else if (target == "/clients") {
        response.set(http::field::content_type, "application/json");
        response.body() = clients_json(s);
    } else if (target == "/metrics") {
        response.set(http::field::content_type, "text/plain; version=0.0.4");
        response.body() = metrics_text(s);
    } else {
        response.result(http::status::not_found);
        response.body() = "not found: try /status, /clients or /metrics\n";
    }
    response.prepare_payload();
    return response;
}

} // namespace

std::string status_json(const server::state& s)
{
    boost::json::object links;
    for (const auto& [name, link] : s.links) {
        links[name] = {{"up", link->up()}, {"since", utc(link->since())}};
    }
    boost::json::object status{{"server", s.me.name},
                               {"started", utc(s.started)},
                               {"store_size", s.store.size()},
                               {"links", std::move(links)},
                               {"counters", counters(s.stats)}};
    return boost::json::serialize(status) + "\n";
}

std::string clients_json(const server::state& s)
{
    boost::json::object clients;
    s.store.for_each([&](std::string_view client, const location_record& r) {
        clients[client] = {{"at", r.at_line},
                           {"server", r.server()},
                           {"time_ns", r.time_ns},
                           {"lat", r.where.lat},
                           {"lng", r.where.lng}};
    });
    return boost::json::serialize(clients) + "\n";
}

std::string metrics_text(const server::state& s)
{
    const auto& c = s.stats;
    const auto& name = s.me.name;
    std::string out;
    auto metric = [&](std::string_view metric_name, std::string_view type, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", metric_name, help, metric_name, type);
    };
    metric("herd_requests_total", "counter", "Client lines by command and outcome.");
    out += fmt::format("herd_requests_total{{server=\"{}\",command=\"IAMAT\",outcome=\"ok\"}} {}\n", name, c.iamat);
    out += fmt::format("herd_requests_total{{server=\"{}\",command=\"WHATSAT\",outcome=\"ok\"}} {}\n", name, c.whatsat);
    out +=
        fmt::format("herd_requests_total{{server=\"{}\",command=\"other\",outcome=\"invalid\"}} {}\n", name, c.invalid);
    metric("herd_invalid_lines_total", "counter", "Client lines answered with ?.");
    out += fmt::format("herd_invalid_lines_total{{server=\"{}\"}} {}\n", name, c.invalid);
    metric("herd_client_connections_total", "counter", "Client connections accepted.");
    out += fmt::format("herd_client_connections_total{{server=\"{}\"}} {}\n", name, c.client_connections);
    metric("herd_client_connections_open", "gauge", "Client connections open now.");
    out += fmt::format("herd_client_connections_open{{server=\"{}\"}} {}\n", name, c.clients_open);
    metric("herd_peer_messages_total", "counter", "Records from and to neighbours.");
    out +=
        fmt::format("herd_peer_messages_total{{server=\"{}\",direction=\"in\"}} {}\n", name, c.peer_records_received);
    out += fmt::format("herd_peer_messages_total{{server=\"{}\",direction=\"out\"}} {}\n", name, c.peer_records_sent);
    out += fmt::format("herd_peer_messages_total{{server=\"{}\",direction=\"dropped\"}} {}\n", name,
                       c.peer_records_dropped);
    metric("herd_peer_link_up", "gauge", "1 if the link to the neighbour is up.");
    for (const auto& [neighbour, link] : s.links) {
        out +=
            fmt::format("herd_peer_link_up{{server=\"{}\",neighbor=\"{}\"}} {}\n", name, neighbour, link->up() ? 1 : 0);
    }
    metric("herd_places_requests_total", "counter", "Places requests by status.");
    for (const auto& [status, count] : c.places.by_status) {
        out += fmt::format("herd_places_requests_total{{server=\"{}\",status=\"{}\"}} {}\n", name, status, count);
    }
    metric("herd_places_request_seconds", "histogram", "How long places requests took.");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < places_stats::bucket_bounds.size(); ++i) {
        cumulative += c.places.buckets[i];
        out += fmt::format("herd_places_request_seconds_bucket{{server=\"{}\",le=\"{}\"}} {}\n", name,
                           places_stats::bucket_bounds[i], cumulative);
    }
    out += fmt::format("herd_places_request_seconds_bucket{{server=\"{}\",le=\"+Inf\"}} {}\n", name, c.places.count);
    out += fmt::format("herd_places_request_seconds_sum{{server=\"{}\"}} {}\n", name, c.places.seconds_total);
    out += fmt::format("herd_places_request_seconds_count{{server=\"{}\"}} {}\n", name, c.places.count);
    metric("herd_store_clients", "gauge", "Clients in the location store.");
    out += fmt::format("herd_store_clients{{server=\"{}\"}} {}\n", name, s.store.size());
    return out;
}

asio::awaitable<void> handle_admin(std::shared_ptr<server::state> self, asio::ip::tcp::socket socket)
{
    beast::tcp_stream stream(std::move(socket));
    const registration<asio::ip::tcp::socket> registered(self->peer_sockets, stream.socket()); // closed at once on stop
    stream.expires_after(std::chrono::seconds(10));
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    auto [read_ec, n] = co_await http::async_read(stream, buffer, request, use_tuple);
    if (read_ec) {
        co_return;
    }
    auto response = respond(request, *self);
    self->log->info("admin {} {}: {}", request.method_string(), request.target(), response.result_int());
    co_await http::async_write(stream, response, use_tuple);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

} // namespace herd
