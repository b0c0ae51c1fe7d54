// The wiring, and nothing else: a server binds its ports, opens its store
// log, and spawns the coroutines of each part (client/, peer/, admin/,
// durability/) on its one io_context; stopping ends them in order.
#include "herd/server.hpp"

#include "admin/handle_admin.hpp"
#include "async/within.hpp"
#include "client/handle_connection.hpp"
#include "client/sweep_clients.hpp"
#include "durability/log_driver.hpp"
#include "herd/log.hpp"
#include "http/handle_http.hpp"
#include "http/http_stream.hpp"
#include "peer/handle_peer.hpp"
#include "peer/peer_link.hpp"
#include "peer/peer_tls.hpp"
#include "peer/tree_broadcast.hpp"
#include "server_state.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/logger.h>

#include <chrono>
#include <stdexcept>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

std::int64_t system_clock_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

server::state::state(asio::io_context& io, const topology& herd_, const server_config& me_, server_options options_)
    : executor(io.get_executor()), herd(herd_), me(me_), options(std::move(options_)), log(options.log),
      client_acceptor(io), peer_acceptor(io), admin_acceptor(io), http_acceptor(io),
      streams(me.name, options.clock, stats), flush_timer(io), sweep_timer(io), grace_timer(io)
{
    core.observer = &streams;
    if (herd.broadcast == broadcast_mode::tree) {
        tree = std::make_unique<tree_broadcast>(*this);
        core.spread = tree.get();
    }
}

server::state::~state() = default;

namespace {

tcp::endpoint resolve_for_bind(asio::io_context& io, const std::string& host, std::uint16_t port)
{
    tcp::resolver resolver(io);
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive);
    return results.begin()->endpoint();
}

void listen_on(tcp::acceptor& acceptor, asio::io_context& io, const std::string& host, std::uint16_t port,
               const std::string& what)
{
    try {
        const auto endpoint = resolve_for_bind(io, host, port);
        acceptor.open(endpoint.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen();
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen for " + what + " on " + host + ":" + std::to_string(port) + ": " +
                                 e.code().message());
    }
}

// Without a shared secret nothing proves a peer is a member, so the peer
// port is kept on loopback: on the server's host, where its neighbours dial
// it, when that is a loopback address (load_topology refuses any other
// without a secret), else on 127.0.0.1.
std::string peer_host(const topology& herd, const server_config& me)
{
    return herd.peers_authenticated() || is_loopback_host(me.host) ? me.host : "127.0.0.1";
}

} // namespace

server::server(asio::io_context& io, const topology& herd, std::string_view name, server_options options)
{
    const server_config* me = herd.find(name);
    if (me == nullptr) {
        throw std::invalid_argument("no server named \"" + std::string(name) + "\" (known: " + herd.names() + ")");
    }
    if (!options.places || !options.log) {
        throw std::invalid_argument("server_options needs places and log");
    }
    if (!options.clock) {
        options.clock = system_clock_ns;
    }
    state_ = std::make_shared<state>(io, herd, *me, std::move(options));
    if (herd.tls()) {
        // Before any port: a server whose certificate would be refused
        // says so now, not on every link (tls_error).
        state_->tls = peer::make_tls_context(herd, *me);
    }
    // The node calls it; nothing else does.
    state_->core.on_stored = std::move(state_->options.on_stored);
    // The ports first: a second server of the same name fails here, before
    // it logs a line or opens (and replays, and may cut) the running one's store.
    listen_on(state_->client_acceptor, io, me->host, me->port, "clients");
    listen_on(state_->peer_acceptor, io, peer_host(herd, *me), me->peer_port, "peers");
    if (me->admin_port != 0) {
        listen_on(state_->admin_acceptor, io, herd.admin_host, me->admin_port, "admin");
    }
    if (me->http_port != 0) {
        if (!me->http_cert.empty()) {
            state_->http_tls = make_http_tls_context(*me);
        }
        listen_on(state_->http_acceptor, io, me->host, me->http_port, "HTTP");
    }
    if (!state_->options.data_dir.empty()) {
        auto& s = *state_;
        // Called on the log's thread: hand it to the loop. The state may be
        // gone by the time the loop runs it (the log is stopped before it).
        auto progress = [weak = std::weak_ptr<state>(state_), executor = s.executor] {
            asio::post(executor, [weak] {
                if (const auto self = weak.lock()) {
                    on_disk_progress(*self);
                }
            });
        };
        s.core.disk = std::make_unique<store_log>(s.options.data_dir / (s.me.name + ".store"), s.core.store,
                                                  herd.fsync_always ? fsync_policy::always : fsync_policy::batch,
                                                  std::move(progress), s.options.disk_calls);
        const auto& replay = s.core.disk->replayed();
        s.log->info("store: {} record{} from {}", replay.records, replay.records == 1 ? "" : "s",
                    s.core.disk->file().string());
        if (replay.cut_bytes > 0) {
            s.log->warn("store: cut {} bytes off {}: {}", replay.cut_bytes, s.core.disk->file().string(),
                        replay.cut_reason);
        }
    }
}

server::~server()
{
    stop();
}

void server::start()
{
    auto& s = *state_;
    std::string neighbours;
    for (const auto& n : s.me.neighbors) {
        neighbours += neighbours.empty() ? n : ", " + n;
    }
    s.log->info("{} starting: clients on {}:{}, peers on {}:{}, neighbours {}, places {}", s.me.name, s.me.host,
                client_port(), peer_host(s.herd, s.me), peer_port(), neighbours.empty() ? "none" : neighbours,
                s.options.places->describe());
    if (s.herd.tls()) {
        s.log->info("peer links are TLS 1.3, certificates from {} (this server's: {})", s.herd.tls_ca.string(),
                    s.me.tls_cert.string());
    }
    if (s.herd.secret) {
        s.log->info("peers prove membership with the shared secret from {}", s.herd.secret_origin);
    } else if (!s.herd.tls()) {
        s.log->warn("no shared secret configured: peers are not authenticated, peer port on loopback only");
    }
    if (s.tree) {
        s.log->info("records spread by an epidemic broadcast tree (broadcast = \"tree\")");
        s.tree->start();
    }
    asio::co_spawn(s.executor, start_server(state_, s.client_acceptor, handle_connection, "client"),
                   log_failure(s.log, "client accept loop"));
    asio::co_spawn(s.executor, start_server(state_, s.peer_acceptor, handle_peer, "peer"),
                   log_failure(s.log, "peer accept loop"));
    if (s.admin_acceptor.is_open()) {
        s.log->info("admin endpoint on http://{}:{}/status", s.herd.admin_host, admin_port());
        asio::co_spawn(s.executor, start_server(state_, s.admin_acceptor, handle_admin, "admin"),
                       log_failure(s.log, "admin accept loop"));
    }
    if (s.http_acceptor.is_open()) {
        s.log->info("HTTP API on {}://{}:{}/v1/", s.http_tls ? "https" : "http", s.me.host, http_port());
        asio::co_spawn(s.executor, start_server(state_, s.http_acceptor, handle_http, "HTTP"),
                       log_failure(s.log, "HTTP accept loop"));
    }
    asio::co_spawn(s.executor, flush_periodically(state_), log_failure(s.log, "flusher"));
    asio::co_spawn(s.executor, sweep_clients(state_), log_failure(s.log, "client sweeper"));
    for (const auto& name : s.me.neighbors) {
        auto link = std::make_shared<peer_link>(state_, *s.herd.find(name));
        s.links.emplace(name, link);
        s.core.add_neighbour(*link);
        link->start();
    }
}

namespace {

// The last step of stopping, once every client has finished its replies or
// the grace period is over.
asio::awaitable<void> finish_stopping(std::shared_ptr<server::state> self)
{
    if (self->stats.clients_open > 0) {
        self->grace_timer.expires_after(self->options.shutdown_grace);
        co_await self->grace_timer.async_wait(use_tuple);
    }
    boost::system::error_code ignored;
    for (auto* session : self->clients) {
        session->fsm.cancel(); // whatever completes now is dropped
        session->socket.close(ignored);
    }
    self->options.places->stop();
    if (self->core.disk) {
        self->core.disk->sync(); // blocking is fine now: nothing else is served
        self->disk_progress.cancel();
    }
    self->log->info("{} stopped", self->me.name);
    self->log->flush();
}

} // namespace

void server::stop()
{
    state_->stop();
}

void server::state::stop()
{
    auto& s = *this;
    if (s.stopped) {
        return;
    }
    s.stopped = true;
    s.log->info("{} stopping", s.me.name);
    boost::system::error_code ignored;
    s.client_acceptor.close(ignored);
    s.peer_acceptor.close(ignored);
    s.admin_acceptor.close(ignored);
    s.http_acceptor.close(ignored);
    for (auto* socket : s.peer_sockets) {
        socket->close(ignored);
    }
    // Clients see the end of their input: what they sent is answered, the
    // replies are written, and then their connections close.
    for (auto* session : s.clients) {
        session->socket.shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
    }
    // The links hold the state alive; letting go of them here ends the cycle.
    s.core.remove_neighbours();
    for (auto& [name, link] : s.links) {
        link->stop();
    }
    s.links.clear();
    if (s.tree) {
        s.core.spread = nullptr;
        s.tree->stop();
    }
    s.flush_timer.cancel();
    s.sweep_timer.cancel();
    asio::co_spawn(s.executor, finish_stopping(shared_from_this()), log_failure(s.log, "stopping"));
}

const std::string& server::name() const noexcept
{
    return state_->me.name;
}
std::uint16_t server::client_port() const noexcept
{
    boost::system::error_code ec;
    const auto endpoint = state_->client_acceptor.local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}
std::uint16_t server::peer_port() const noexcept
{
    boost::system::error_code ec;
    const auto endpoint = state_->peer_acceptor.local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}

std::uint16_t server::admin_port() const noexcept
{
    boost::system::error_code ec;
    const auto endpoint = state_->admin_acceptor.local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}
std::uint16_t server::http_port() const noexcept
{
    boost::system::error_code ec;
    const auto endpoint = state_->http_acceptor.local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}
const location_store& server::store() const noexcept
{
    return state_->core.store;
}
const server_stats& server::stats() const noexcept
{
    return state_->stats;
}

} // namespace herd
