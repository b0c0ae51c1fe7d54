// One server of the herd on one io_context: the twin of the prototype's
// `asyncio.start_server(handle_connection, ...)` plus its propagation
// coroutine and the peer port. The coroutines themselves live in the parts
// under lib/src/ (client/, peer/, admin/, durability/), wired together in
// lib/src/server.cpp.
#pragma once

#include "herd/fwd.hpp"
#include "herd/places.hpp"
#include "herd/topology.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace herd {

struct disk_io;         // lib/src/durability/store_log.hpp
class location_store;   // lib/src/core/location_store.hpp
struct location_record; // lib/src/core/location_store.hpp

// What a link to a neighbour did (server_options::on_link).
enum class link_event { up, down, idle };

struct server_options {
    std::shared_ptr<places_source> places; // required
    std::shared_ptr<spdlog::logger> log;   // required: make_server_log or make_null_log
    // Nanoseconds since the epoch; the skew in AT replies is taken from it.
    std::function<std::int64_t()> clock; // default: the system clock
    std::chrono::milliseconds places_timeout{5000};
    // How often a link to a neighbour that is down is tried again when
    // there is nothing to send. A record to send tries at once.
    std::chrono::milliseconds reconnect_interval{1000};
    // Where the store is kept on disk (<data_dir>/<name>.store); empty: in
    // memory only. With fsync "always" (topology) records are synced before
    // the AT replies that acknowledge them are written.
    std::filesystem::path data_dir;
    // After stop(), how long clients may take to finish the replies in flight.
    std::chrono::milliseconds shutdown_grace{5000};
    // Called after every change to the store, from the io_context's thread.
    std::function<void(const location_record&)> on_stored;
    // Called from the io_context's thread when a link this server dialled
    // goes up or down, and when it has written all that was queued for its
    // neighbour (idle), for whoever watches the herd from the inside;
    // never after stop().
    std::function<void(std::string_view neighbour, link_event)> on_link;
    // Called once, from the io_context's thread, if a write or fdatasync of
    // the store fails ("<file>: fdatasync: <errno text>"): nothing is
    // acknowledged after it, and the server stops (docs/reliability.md).
    std::function<void(const std::string&)> on_disk_failure;
    // Stand-ins for the store file's write and fdatasync (tests); none: the
    // system's.
    std::shared_ptr<const disk_io> disk_calls;
};

// Places requests by status, and how long they took.
struct places_stats {
    // Upper bounds of the latency buckets, in seconds (Prometheus style).
    static constexpr std::array<double, 10> bucket_bounds{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    std::map<std::string, std::uint64_t, std::less<>> by_status;   // "OK", "ZERO_RESULTS", "UNKNOWN_ERROR", ...
    std::array<std::uint64_t, bucket_bounds.size() + 1> buckets{}; // the last: slower than every bound
    double seconds_total = 0;
    std::uint64_t count = 0;

    void record(std::string_view status, double seconds);
};

// Counters for tests and the admin endpoint.
struct server_stats {
    std::uint64_t client_connections = 0;
    std::uint64_t clients_open = 0;    // a gauge: client connections open now
    std::uint64_t clients_refused = 0; // over limits.connections
    std::uint64_t clients_dropped = 0; // idle, a line too long, or not reading
    std::uint64_t iamat = 0;
    std::uint64_t whatsat = 0;
    std::uint64_t invalid = 0;
    std::uint64_t peer_links_accepted = 0;
    std::uint64_t peer_links_refused = 0;
    // Peer connections whose TLS handshake failed, either way: a neighbour
    // without TLS, a certificate from another CA, expired, or for another name.
    std::uint64_t peer_tls_refused = 0;
    std::uint64_t peer_links_up = 0;              // a gauge: links this server dialled that are up now
    std::uint64_t peer_records_received = 0;      // valid AT lines from neighbours
    std::uint64_t peer_records_stored = 0;        // ... that changed the store
    std::uint64_t peer_records_queued = 0;        // handed to a neighbour's link
    std::uint64_t peer_records_sent = 0;          // ... and written to it
    std::uint64_t peer_records_dropped = 0;       // not queued (a neighbour down or too slow): left to reconciliation
    std::uint64_t peer_queue_overflows = 0;       // episodes of peer_records_dropped on a live link, each logged once
    std::uint64_t peer_timeouts = 0;              // links closed because the neighbour answered nothing in time
    std::uint64_t reconciliations = 0;            // finished, on links this server dialled
    std::uint64_t reconcile_records_sent = 0;     // records sent in reconciliation messages, both sides of a link
    std::uint64_t reconcile_records_received = 0; // ... and received
    // broadcast = "tree": the lines besides full records, written to neighbours.
    std::uint64_t tree_notices_sent = 0;      // IHAVE lines, each a batch of notices
    std::uint64_t tree_notice_bytes_sent = 0; // ... and their bytes
    std::uint64_t tree_prunes_sent = 0;
    std::uint64_t tree_prune_bytes_sent = 0;
    std::uint64_t tree_grafts_sent = 0;
    std::uint64_t tree_graft_bytes_sent = 0;
    std::uint64_t admin_open = 0;    // a gauge: admin connections open now
    std::uint64_t admin_refused = 0; // over limits.admin_connections

    // Peer-port connections not yet past the handshake (a gauge), and those
    // closed at accept because limits.peer_handshakes were already under way.
    std::uint64_t peer_handshakes_open = 0;
    std::uint64_t peer_handshakes_refused = 0;

    // The HTTP port (docs/http.md).
    std::uint64_t http_connections = 0;     // accepted (refused ones count in clients_refused)
    std::uint64_t http_open = 0;            // a gauge: HTTP connections open now, WebSockets among them
    std::uint64_t http_requests = 0;        // answered, upgrades not included
    std::uint64_t http_errors = 0;          // ... with a 4xx or 5xx status
    std::uint64_t http_dropped = 0;         // closed by a limit: too slow, a header or body too large, no TLS
    std::uint64_t websockets_open = 0;      // a gauge: /v1/lines and /v1/stream connections open now
    std::uint64_t stream_events_queued = 0; // /v1/stream events queued for subscribers
    std::uint64_t stream_events_sent = 0;   // ... and written to them
    std::uint64_t stream_overflows = 0;     // subscribers closed with 1008: their queue passed stream_queue_bytes
    std::uint64_t log_lines_dropped = 0;    // log lines the log's writer thread dropped: the disk fell behind
    places_stats places;
};

std::int64_t system_clock_ns();

class server {
public:
    // Binds the client and peer ports at once, so a port in use is reported
    // before anything runs (std::system_error). `name` must be in `herd`.
    server(boost::asio::io_context& io, const topology& herd, std::string_view name, server_options options);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Spawns the accept loops and one link per neighbour on the io_context.
    void start();

    // Stops accepting and closes the links; each client's replies in flight
    // are finished and written (within shutdown_grace) before its
    // connection closes. The coroutines end as the io_context runs them,
    // and run() returns once they have.
    void stop();

    const std::string& name() const noexcept;
    std::uint16_t client_port() const noexcept;
    std::uint16_t peer_port() const noexcept;
    std::uint16_t admin_port() const noexcept; // 0: no admin endpoint
    std::uint16_t http_port() const noexcept;  // 0: no HTTP port
    const location_store& store() const noexcept;
    const server_stats& stats() const noexcept;

    struct state;

private:
    std::shared_ptr<state> state_;
};

} // namespace herd
