#include "admin/handle_admin.hpp"

#include "admin/json_pretty.hpp"
#include "admin/view_assets.hpp"
#include "async/within.hpp"
#include "herd/log.hpp"
#include "http/url.hpp"
#include "peer/peer_link.hpp"
#include "places/bundled_places.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/logger.h>

#include <array>
#include <charconv>
#include <optional>
#include <variant>
#include <vector>

namespace herd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using detail::use_tuple;

namespace {

// Every counter of server_stats, once: /status and /metrics are both
// printed from this table, so they cannot disagree. A new counter is one
// row. Rows of one Prometheus family sit together (checked below), and the
// family's help is on its first row.
struct counter_row {
    std::string_view name;   // in /status "counters"
    std::string_view metric; // the Prometheus family
    std::string_view labels; // besides server=
    std::string_view type;   // "counter" or "gauge"
    std::string_view help;
    std::uint64_t server_stats::*value;
};

constexpr std::array counter_rows{
    counter_row{"client_connections", "herd_client_connections_total", "", "counter", "Client connections accepted.",
                &server_stats::client_connections},
    counter_row{"clients_open", "herd_client_connections_open", "", "gauge", "Client connections open now.",
                &server_stats::clients_open},
    counter_row{"clients_refused", "herd_clients_refused_total", "", "counter",
                "Client connections closed at accept: limits.connections were open.", &server_stats::clients_refused},
    counter_row{"clients_dropped", "herd_clients_dropped_total", "", "counter",
                "Client connections the server closed: idle, a line too long, or not reading.",
                &server_stats::clients_dropped},
    counter_row{"iamat", "herd_requests_total", R"(command="IAMAT",outcome="ok")", "counter",
                "Client lines by command and outcome.", &server_stats::iamat},
    counter_row{"whatsat", "herd_requests_total", R"(command="WHATSAT",outcome="ok")", "counter", "",
                &server_stats::whatsat},
    counter_row{"invalid", "herd_invalid_lines_total", "", "counter", "Client lines answered with ?.",
                &server_stats::invalid},
    counter_row{"peer_links_accepted", "herd_peer_links_accepted_total", "", "counter",
                "Neighbours' connections that passed the handshake.", &server_stats::peer_links_accepted},
    counter_row{"peer_links_refused", "herd_peer_links_refused_total", "", "counter",
                "Peer connections refused in the handshake, either way.", &server_stats::peer_links_refused},
    counter_row{"peer_tls_refused", "herd_peer_tls_refused_total", "", "counter",
                "Peer connections whose TLS handshake failed, either way: no TLS, another CA, an expired "
                "certificate, another name.",
                &server_stats::peer_tls_refused},
    counter_row{"peer_links_up", "herd_peer_links_up", "", "gauge", "Links this server dialled that are up now.",
                &server_stats::peer_links_up},
    counter_row{"peer_records_received", "herd_peer_messages_total", R"(direction="in")", "counter",
                "Records from and to neighbours.", &server_stats::peer_records_received},
    counter_row{"peer_records_sent", "herd_peer_messages_total", R"(direction="out")", "counter", "",
                &server_stats::peer_records_sent},
    counter_row{"peer_records_dropped", "herd_peer_messages_total", R"(direction="dropped")", "counter", "",
                &server_stats::peer_records_dropped},
    counter_row{"peer_records_stored", "herd_peer_records_stored_total", "", "counter",
                "Records from neighbours that changed the store.", &server_stats::peer_records_stored},
    counter_row{"peer_records_queued", "herd_peer_records_queued_total", "", "counter",
                "Records handed to a neighbour's link.", &server_stats::peer_records_queued},
    counter_row{"peer_queue_overflows", "herd_peer_queue_overflows_total", "", "counter",
                "Times a live link's queue overflowed (each repaired by a reconciliation).",
                &server_stats::peer_queue_overflows},
    counter_row{"peer_timeouts", "herd_peer_timeouts_total", "", "counter",
                "Links closed because the neighbour answered nothing within herd.peer_timeout.",
                &server_stats::peer_timeouts},
    counter_row{"reconciliations", "herd_reconciliations_total", "", "counter",
                "Reconciliations finished on links this server dialled.", &server_stats::reconciliations},
    counter_row{"reconcile_records_sent", "herd_reconcile_records_sent_total", "", "counter",
                "Records sent to neighbours in reconciliation messages.", &server_stats::reconcile_records_sent},
    counter_row{"reconcile_records_received", "herd_reconcile_records_received_total", "", "counter",
                "Records received from neighbours in reconciliation messages.",
                &server_stats::reconcile_records_received},
    counter_row{"tree_notices_sent", "herd_tree_messages_total", R"(kind="ihave")", "counter",
                "broadcast = \"tree\": lines besides full records written to neighbours (an IHAVE line is a batch of "
                "notices).",
                &server_stats::tree_notices_sent},
    counter_row{"tree_prunes_sent", "herd_tree_messages_total", R"(kind="prune")", "counter", "",
                &server_stats::tree_prunes_sent},
    counter_row{"tree_grafts_sent", "herd_tree_messages_total", R"(kind="graft")", "counter", "",
                &server_stats::tree_grafts_sent},
    counter_row{"tree_notice_bytes_sent", "herd_tree_bytes_total", R"(kind="ihave")", "counter",
                "broadcast = \"tree\": bytes of those lines.", &server_stats::tree_notice_bytes_sent},
    counter_row{"tree_prune_bytes_sent", "herd_tree_bytes_total", R"(kind="prune")", "counter", "",
                &server_stats::tree_prune_bytes_sent},
    counter_row{"tree_graft_bytes_sent", "herd_tree_bytes_total", R"(kind="graft")", "counter", "",
                &server_stats::tree_graft_bytes_sent},
    counter_row{"admin_open", "herd_admin_connections_open", "", "gauge", "Admin connections open now.",
                &server_stats::admin_open},
    counter_row{"admin_refused", "herd_admin_connections_refused_total", "", "counter",
                "Admin connections closed at accept: limits.admin_connections were open.",
                &server_stats::admin_refused},
    counter_row{"peer_handshakes_open", "herd_peer_handshakes_open", "", "gauge",
                "Peer-port connections not yet past the handshake.", &server_stats::peer_handshakes_open},
    counter_row{"peer_handshakes_refused", "herd_peer_handshakes_refused_total", "", "counter",
                "Peer-port connections closed at accept: limits.peer_handshakes were under way.",
                &server_stats::peer_handshakes_refused},
    counter_row{"http_connections", "herd_http_connections_total", "", "counter", "HTTP port connections accepted.",
                &server_stats::http_connections},
    counter_row{"http_open", "herd_http_connections_open", "", "gauge",
                "HTTP port connections open now, WebSockets among them.", &server_stats::http_open},
    counter_row{"http_requests", "herd_http_requests_total", "", "counter",
                "HTTP requests answered (upgrades not included).", &server_stats::http_requests},
    counter_row{"http_errors", "herd_http_errors_total", "", "counter", "HTTP requests answered with 4xx or 5xx.",
                &server_stats::http_errors},
    counter_row{"http_dropped", "herd_http_dropped_total", "", "counter",
                "HTTP connections closed by a limit: too slow, a header or body too large, a failed TLS handshake.",
                &server_stats::http_dropped},
    counter_row{"websockets_open", "herd_websockets_open", "", "gauge",
                "/v1/lines and /v1/stream connections open now.", &server_stats::websockets_open},
    counter_row{"stream_events_queued", "herd_stream_events_total", R"(state="queued")", "counter",
                "/v1/stream events, queued for subscribers and written to them.", &server_stats::stream_events_queued},
    counter_row{"stream_events_sent", "herd_stream_events_total", R"(state="sent")", "counter", "",
                &server_stats::stream_events_sent},
    counter_row{"stream_overflows", "herd_stream_overflows_total", "", "counter",
                "/v1/stream subscribers closed with 1008: their queue passed limits.stream_queue_bytes.",
                &server_stats::stream_overflows},
    counter_row{"log_lines_dropped", "herd_log_lines_dropped_total", "", "counter",
                "Log lines dropped because the log's writer thread fell 8 MiB behind the disk.",
                &server_stats::log_lines_dropped},
};

constexpr bool families_together()
{
    for (std::size_t i = 0; i < counter_rows.size(); ++i) {
        for (std::size_t j = i + 2; j < counter_rows.size(); ++j) {
            if (counter_rows[i].metric == counter_rows[j].metric &&
                counter_rows[j - 1].metric != counter_rows[i].metric) {
                return false;
            }
        }
    }
    return true;
}
static_assert(families_together(), "Prometheus wants a family's series together");

// Clients per piece of /clients: about 170 KB, a fraction of a millisecond
// of the loop.
constexpr std::size_t clients_per_piece = 1000;
// To send the request, and then to take each piece of the answer.
constexpr std::chrono::seconds admin_deadline{10};

std::string utc(std::chrono::system_clock::time_point t)
{
    const auto us = std::chrono::time_point_cast<std::chrono::microseconds>(t);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", us);
}

// One client as /clients and /clients/ID print it; numbers in the fixed
// notation WHATSAT uses, never an exponent.
void append_client(std::string& out, const location_record& r)
{
    out += R"({"at":)";
    append_json_string(out, r.at_line);
    out += R"(,"server":)";
    append_json_string(out, r.server());
    fmt::format_to(std::back_inserter(out), R"(,"time_ns":{},"lat":)", r.time_ns);
    append_json_double(out, r.where.lat);
    out += R"(,"lng":)";
    append_json_double(out, r.where.lng);
    out += '}';
}

// Every admin answer: the whole body, then the connection closes.
http::response<http::string_body> answer(unsigned version, http::status status, std::string_view type, std::string body)
{
    http::response<http::string_body> response{status, version};
    response.keep_alive(false);
    response.set(http::field::content_type, type);
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

http::response<http::string_body> text_response(unsigned version, http::status status, std::string body)
{
    return answer(version, status, "text/plain", std::move(body));
}

http::response<http::string_body> json_response(unsigned version, std::string body)
{
    return answer(version, http::status::ok, "application/json", std::move(body));
}

http::response<http::string_body> file_response(unsigned version, std::string_view type, std::string_view body)
{
    auto response = answer(version, http::status::ok, type, std::string(body));
    // The files change only with the server: a reload after an upgrade
    // must not keep the old script beside the new page.
    response.set(http::field::cache_control, "no-cache");
    return response;
}

std::variant<clients_page, http::response<http::string_body>> route(const http::request<http::string_body>& request,
                                                                    const server::state& s)
{
    const std::string_view target = request.target();
    const auto version = request.version();
    if (request.method() != http::verb::get) {
        auto response = text_response(version, http::status::method_not_allowed, "GET only\n");
        response.set(http::field::allow, "GET");
        return response;
    }
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
    if (path == "/clients") {
        if (auto page = parse_clients_query(query)) {
            return *page;
        }
        return text_response(version, http::status::bad_request,
                             "/clients takes after=ID and limit=N (a whole number from 1)\n");
    }
    if (!query.empty()) {
        return text_response(version, http::status::bad_request, "only /clients takes a query\n");
    }
    if (path == "/status") {
        return json_response(version, status_json(s));
    }
    if (path == "/herd") {
        return json_response(version, herd_json(s));
    }
    if (path == "/") {
        return file_response(version, "text/html; charset=utf-8", view_index_html);
    }
    if (path == "/view.js") {
        return file_response(version, "text/javascript; charset=utf-8", view_script);
    }
    if (path == "/view.css") {
        return file_response(version, "text/css; charset=utf-8", view_style);
    }
    if (path == "/places.json") {
        return file_response(version, "application/geo+json", bundled_westwood_geojson);
    }
    if (path == "/metrics") {
        return answer(version, http::status::ok, "text/plain; version=0.0.4", metrics_text(s));
    }
    constexpr std::string_view one = "/clients/";
    if (path.starts_with(one)) {
        const auto client = percent_decode(path.substr(one.size()));
        const location_record* record = client ? s.core.store.find(*client) : nullptr;
        if (record == nullptr) {
            return text_response(version, http::status::not_found, "no such client\n");
        }
        std::string body;
        append_client(body, *record);
        body += '\n';
        return json_response(version, std::move(body));
    }
    return text_response(version, http::status::not_found,
                         "not found: try /, /status, /herd, /clients, /clients/ID or /metrics\n");
}

// Writes /clients piece by piece, the loop free between pieces; each piece
// is read from the store as it stands then, resuming after the last ID
// written, so clients stored meanwhile past that ID are included.
asio::awaitable<void> stream_clients(server::state& s, beast::tcp_stream& stream, clients_page page,
                                     std::string_view allow_origin)
{
    std::string piece = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nVary: Origin\r\n";
    if (!allow_origin.empty()) {
        piece += fmt::format("Access-Control-Allow-Origin: {}\r\n", allow_origin);
    }
    piece += "\r\n{";
    bool first = true;
    for (;;) {
        const auto want = std::min(page.limit, clients_per_piece);
        const auto written = append_clients(s.core.store, page, want, first, piece);
        page.limit -= written;
        const bool done = written < want || page.limit == 0;
        if (done) {
            piece += "}\n";
        }
        stream.expires_after(admin_deadline);
        auto write = asio::async_write(stream, asio::buffer(piece), use_tuple);
        auto [ec, n] = co_await std::move(write);
        if (ec || done || s.stopped) {
            co_return;
        }
        piece.clear();
        co_await asio::post(stream.get_executor(), asio::use_awaitable);
    }
}

} // namespace

std::optional<clients_page> parse_clients_query(std::string_view query)
{
    auto pairs = parse_query(query);
    if (!pairs) {
        return std::nullopt;
    }
    clients_page page;
    for (auto& [key, value] : *pairs) {
        if (key == "after") {
            page.after = std::move(value);
        } else if (key == "limit") {
            std::size_t limit = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
            if (ec != std::errc{} || end != value.data() + value.size() || limit == 0) {
                return std::nullopt;
            }
            page.limit = limit;
        } else {
            return std::nullopt;
        }
    }
    return page;
}

std::size_t append_clients(const location_store& store, clients_page& page, std::size_t count, bool& first,
                           std::string& out)
{
    std::size_t written = 0;
    std::string_view last;
    store.for_each_after(page.after, [&](std::string_view client, const location_record& r) {
        if (written == count) {
            return false;
        }
        if (!first) {
            out += ',';
        }
        first = false;
        append_json_string(out, client);
        out += ':';
        append_client(out, r);
        last = client;
        ++written;
        return true;
    });
    if (written > 0) {
        page.after = std::string(last);
    }
    return written;
}

std::string status_json(const server::state& s)
{
    boost::json::object links;
    for (const auto& [name, link] : s.links) {
        links[name] = {{"up", link->up()}, {"since", utc(link->since())}};
    }
    boost::json::object counters;
    for (const auto& row : counter_rows) {
        counters[row.name] = s.stats.*row.value;
    }
    counters["places_requests"] = s.stats.places.count;
    boost::json::object status{{"server", s.me.name},
                               {"started", utc(s.started)},
                               {"store_size", s.core.store.size()},
                               // The order-independent digest of the store (the peer
                               // handshake's summary): two servers whose size and digest
                               // agree hold the same records.
                               {"store_digest", fmt::format("{:016x}", s.core.store.digest())},
                               {"links", std::move(links)},
                               {"counters", std::move(counters)}};
    return boost::json::serialize(status) + "\n";
}

std::string herd_json(const server::state& s)
{
    boost::json::array servers;
    for (const auto& server : s.herd.servers) {
        boost::json::array neighbours;
        for (const auto& n : server.neighbors) {
            neighbours.emplace_back(n);
        }
        servers.push_back({{"name", server.name},
                           {"host", server.host},
                           {"port", server.port},
                           {"peer_port", server.peer_port},
                           {"admin_port", server.admin_port},
                           {"http_port", server.http_port},
                           {"http_tls", !server.http_cert.empty()},
                           {"neighbors", std::move(neighbours)}});
    }
    boost::json::object herd{{"server", s.me.name}, {"admin_host", s.herd.admin_host}, {"servers", std::move(servers)}};
    return boost::json::serialize(herd) + "\n";
}

bool herd_origin(const server::state& s, std::string_view origin)
{
    const auto& admin_host = s.herd.admin_host;
    // A browser writes the host of a loopback page however its address bar
    // had it; all of them are this machine.
    std::vector<std::string> hosts{admin_host.find(':') == std::string::npos ? admin_host : "[" + admin_host + "]"};
    if (is_loopback_host(admin_host)) {
        hosts.insert(hosts.end(), {"127.0.0.1", "localhost", "[::1]"});
    }
    for (const auto& server : s.herd.servers) {
        if (server.admin_port == 0) {
            continue;
        }
        for (const auto& host : hosts) {
            if (origin == fmt::format("http://{}:{}", host, server.admin_port)) {
                return true;
            }
        }
    }
    return false;
}

std::string metrics_text(const server::state& s)
{
    const auto& c = s.stats;
    const auto& name = s.me.name;
    std::string out;
    auto metric = [&](std::string_view metric_name, std::string_view type, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", metric_name, help, metric_name, type);
    };
    std::string_view family;
    for (const auto& row : counter_rows) {
        if (row.metric != family) {
            family = row.metric;
            metric(row.metric, row.type, row.help);
        }
        out += fmt::format("{}{{server=\"{}\"{}{}}} {}\n", row.metric, name, row.labels.empty() ? "" : ",", row.labels,
                           c.*row.value);
    }
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
    out += fmt::format("herd_store_clients{{server=\"{}\"}} {}\n", name, s.core.store.size());
    return out;
}

asio::awaitable<void> handle_admin(std::shared_ptr<server::state> self, asio::ip::tcp::socket socket)
{
    // Bounded before anything is read: the endpoint has no authentication.
    const auto bound = self->herd.limits.admin_connections;
    if (self->stats.admin_open >= bound) {
        ++self->stats.admin_refused;
        self->log->warn("admin {} refused: {} connections already", describe(socket), bound);
        beast::error_code ignored;
        socket.close(ignored);
        co_return;
    }
    const gauge_slot slot(self->stats.admin_open);

    beast::tcp_stream stream(std::move(socket));
    const registration<asio::ip::tcp::socket> registered(self->peer_sockets, stream.socket()); // closed at once on stop
    stream.expires_after(admin_deadline);
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    auto [read_ec, n] = co_await http::async_read(stream, buffer, request, use_tuple);
    if (read_ec) {
        co_return;
    }
    auto routed = route(request, *self);
    // Echoed only once it is known to be one of the herd's own: never the
    // caller's bytes as they came.
    const std::string_view origin = request[http::field::origin];
    const bool allowed = !origin.empty() && herd_origin(*self, origin);
    const std::string_view allow_origin = allowed ? origin : std::string_view();
    if (auto* page = std::get_if<clients_page>(&routed)) {
        // The method and target are the caller's bytes: escaped, as every such field is.
        self->log->info("admin {} {}: 200, streamed", escape_for_log(request.method_string()),
                        escape_for_log(request.target()));
        co_await stream_clients(*self, stream, std::move(*page), allow_origin);
    } else {
        auto& response = std::get<http::response<http::string_body>>(routed);
        // Every answer depends on Origin, so a cache keeps one per origin.
        response.set(http::field::vary, "Origin");
        if (allowed) {
            response.set(http::field::access_control_allow_origin, allow_origin);
        }
        self->log->info("admin {} {}: {}", escape_for_log(request.method_string()), escape_for_log(request.target()),
                        response.result_int());
        co_await http::async_write(stream, response, use_tuple);
    }
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

} // namespace herd
