// What the server's coroutines share. Private to the library: the public
// face is herd/server.hpp.
#pragma once

#include "client/session_fsm.hpp"
#include "core/node.hpp"
#include "durability/store_log.hpp"
#include "herd/server.hpp"
#include "http/stream_hub.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <unordered_set>

namespace herd {

class peer_link;
class tree_broadcast;

// A client connection as the sweeper and stop() see it: its socket, its
// session (when it last sent a whole line, and the close that ends it), and
// since when a write to it has been waiting.
struct client_session {
    using time_point = std::chrono::steady_clock::time_point;

    client_session(boost::asio::ip::tcp::socket& s, session_fsm& f) : socket(s), fsm(f) {}

    boost::asio::ip::tcp::socket& socket;
    session_fsm& fsm;
    time_point write_started = time_point::max(); // max: no write waiting
};

struct server::state : std::enable_shared_from_this<server::state> {
    state(boost::asio::io_context& io, const topology& herd, const server_config& me, server_options options);
    ~state();
    state(const state&) = delete;
    state& operator=(const state&) = delete;

    boost::asio::any_io_executor executor;
    topology herd;
    server_config me;
    server_options options;
    // herd.tls(): every peer link, dialled or accepted, is TLS with this
    // server's certificate; none: plain TCP.
    std::unique_ptr<boost::asio::ssl::context> tls;
    // http_cert_file: the HTTP port is HTTPS with this; none: plain HTTP.
    std::unique_ptr<boost::asio::ssl::context> http_tls;
    std::shared_ptr<spdlog::logger> log;
    std::string log_scratch; // log_info_bytes builds each line here: one thread, so one is enough
    // The store, its log on disk, and store_and_propagate: the links are
    // registered with it as its neighbours.
    node core;
    // A condition variable for the store log: never expires, cancelled each
    // time the log's thread reports progress; replies that wait for their
    // records to be written or synced wait on it (as Asio's chat server).
    boost::asio::steady_timer disk_progress{executor, boost::asio::steady_timer::time_point::max()};
    bool disk_failure_reported = false;
    server_stats stats;
    boost::asio::ip::tcp::acceptor client_acceptor;
    boost::asio::ip::tcp::acceptor peer_acceptor;
    boost::asio::ip::tcp::acceptor admin_acceptor;
    boost::asio::ip::tcp::acceptor http_acceptor;
    // The /v1/stream subscribers, told of every change to the store.
    stream_hub streams;
    std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
    boost::asio::steady_timer flush_timer;
    std::map<std::string, std::shared_ptr<peer_link>, std::less<>> links;
    // broadcast = "tree"; none: flood.
    std::unique_ptr<tree_broadcast> tree;
    // Open connections, so stop() can end them (clients gracefully, peers
    // at once) and the sweeper can close idle clients and slow readers.
    std::unordered_set<client_session*> clients;
    std::unordered_set<boost::asio::ip::tcp::socket*> peer_sockets;
    boost::asio::steady_timer sweep_timer;
    // While stopping: how long clients get to finish the replies in flight.
    boost::asio::steady_timer grace_timer;
    bool stopped = false;

    // What server::stop() does; also how a disk failure stops the server.
    void stop();

    // limits.connections bounds the line port's and the HTTP port's
    // connections together: either port refuses once they are all taken.
    bool connections_full() const noexcept { return stats.clients_open + stats.http_open >= herd.limits.connections; }
};

// Keeps a connection in one of the state's sets while its coroutine runs.
template <typename T> class registration {
public:
    registration(std::unordered_set<T*>& set, T& item) : set_(set), item_(&item) { set_.insert(item_); }
    ~registration() { set_.erase(item_); }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;

private:
    std::unordered_set<T*>& set_;
    T* item_;
};

// Counts one open connection in a gauge of server_stats while it lives.
class gauge_slot {
public:
    explicit gauge_slot(std::uint64_t& gauge) : gauge_(gauge) { ++gauge_; }
    ~gauge_slot() { --gauge_; }
    gauge_slot(const gauge_slot&) = delete;
    gauge_slot& operator=(const gauge_slot&) = delete;

private:
    std::uint64_t& gauge_;
};

using connection_handler = boost::asio::awaitable<void> (*)(std::shared_ptr<server::state>,
                                                            boost::asio::ip::tcp::socket);

// The twin of asyncio.start_server: accepts on `acceptor` and runs
// `handle` for each connection, until the server stops.
boost::asio::awaitable<void> start_server(std::shared_ptr<server::state> self, boost::asio::ip::tcp::acceptor& acceptor,
                                          connection_handler handle, std::string what);

// "127.0.0.1:41234" for log lines.
std::string describe(const boost::asio::ip::tcp::socket& socket);

// A completion handler for co_spawn that logs what a coroutine threw:
// detached would swallow it.
std::function<void(std::exception_ptr)> log_failure(std::shared_ptr<spdlog::logger> log, std::string what);

} // namespace herd
