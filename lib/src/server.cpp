// The client side of a server: the accept loop (start_server) and one
// handle_connection coroutine per client, with handle_iamat and
// handle_whatsat behind it: the asyncio prototype's functions of the same
// names (docs/architecture.md pairs them).
#include "herd/server.hpp"

#include "admin.hpp"
#include "detail/within.hpp"
#include "herd/detail/line_reader.hpp"
#include "herd/log.hpp"
#include "peer_link.hpp"
#include "peer_server.hpp"
#include "server_state.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <tuple>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

std::int64_t system_clock_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string describe(const tcp::socket& socket)
{
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("(gone)") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

std::function<void(std::exception_ptr)> log_failure(std::shared_ptr<spdlog::logger> log, std::string what)
{
    return [log = std::move(log), what = std::move(what)](std::exception_ptr failure) {
        if (!failure) {
            return;
        }
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            log->error("{} failed: {}", what, e.what());
        }
    };
}

asio::awaitable<void> start_server(std::shared_ptr<server::state> self, tcp::acceptor& acceptor,
                                   connection_handler handle, std::string what)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (self->stopped) {
            co_return;
        }
        if (ec) {
            // Out of descriptors, most likely: pause rather than spin.
            self->log->warn("{} accept failed: {}", what, ec.message());
            asio::steady_timer pause(self->executor, std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(self->executor, handle(self, std::move(socket)), log_failure(self->log, what + " connection"));
    }
}

server::state::state(asio::io_context& io, const topology& herd_, const server_config& me_, server_options options_)
    : executor(io.get_executor()), herd(herd_), me(me_), options(std::move(options_)), log(options.log),
      client_acceptor(io), peer_acceptor(io), admin_acceptor(io), flush_timer(io), sweep_timer(io), grace_timer(io)
{
}

void places_stats::record(std::string_view status, double seconds)
{
    auto it = by_status.find(status);
    if (it == by_status.end()) {
        it = by_status.emplace(std::string(status), 0).first;
    }
    ++it->second;
    const auto bucket = std::lower_bound(bucket_bounds.begin(), bucket_bounds.end(), seconds) - bucket_bounds.begin();
    ++buckets[static_cast<std::size_t>(bucket)];
    seconds_total += seconds;
    ++count;
}

location_store::outcome server::state::store_and_propagate(location_record record, std::string_view came_from)
{
    const location_record* stored = nullptr;
    const auto outcome = store.update(std::move(record), &stored);
    if (outcome != location_store::outcome::stored) {
        return outcome;
    }
    const location_record& kept = *stored;
    if (disk) {
        disk->append(kept.at_line);
        disk->compact_if_large(store);
    }
    if (options.on_stored) {
        options.on_stored(kept);
    }
    if (links.empty()) {
        return outcome;
    }
    // One copy of the line, shared by every neighbour's queue.
    auto line = std::make_shared<const std::string>(kept.at_line);
    for (auto& [name, link] : links) {
        if (name == came_from) {
            continue;
        }
        if (link->post(line)) {
            ++stats.peer_records_queued;
        } else {
            ++stats.peer_records_dropped;
            log->warn("peer link to {}: queue full, dropped {}", name, escape_for_log(*line));
        }
    }
    return outcome;
}

namespace {

// Appends the AT reply for `cmd` to `replies`.
void handle_iamat(server::state& self, const iamat_command& cmd, std::int64_t now_ns, std::string& replies)
{
    ++self.stats.iamat;
    // The record owns the one copy of the line; the reply is copied from it.
    auto record = location_record::make(format_at(self.me.name, now_ns - cmd.time_ns, cmd), cmd.time_ns, cmd.where);
    replies += record.at_line;
    replies += '\n';
    // A stale IAMAT still gets its AT reply; it just neither replaces the
    // stored record nor travels.
    self.store_and_propagate(std::move(record), {});
}

asio::awaitable<boost::json::object> search_places(std::shared_ptr<server::state> self, places_query query)
{
    try {
        co_return co_await self->options.places->nearby_search(std::move(query));
    } catch (const std::exception& e) {
        self->log->warn("the places source failed: {}", e.what());
        co_return places_error("UNKNOWN_ERROR", std::string("the places source failed: ") + e.what());
    } catch (...) {
        self->log->warn("the places source failed: it threw something that is not a std::exception");
        co_return places_error("UNKNOWN_ERROR", "the places source failed");
    }
}

// Never fails and never takes longer than the configured time-out: the
// client gets a reply in the usual shape whatever the source does.
asio::awaitable<boost::json::object> ask_places(std::shared_ptr<server::state> self, places_query query)
{
    const auto started = std::chrono::steady_clock::now();
    const std::string what = fmt::format("places {:.6f},{:.6f} radius {} m bound {}", query.where.lat, query.where.lng,
                                         query.radius_metres, query.bound);
    auto search = search_places(self, std::move(query));
    auto answer = co_await detail::within(std::move(search), self->options.places_timeout);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (!answer) {
        self->log->warn("{}: no answer within {} ms", what, self->options.places_timeout.count());
        self->stats.places.record("UNKNOWN_ERROR", ms / 1000);
        co_return places_error("UNKNOWN_ERROR", "the places source did not answer in time");
    }
    const auto* status = answer->if_contains("status");
    const auto* results = answer->if_contains("results");
    const bool has_status = status != nullptr && status->is_string();
    self->log->info("{}: {} with {} results in {:.3f} ms", what,
                    has_status ? std::string_view(status->get_string()) : "no status",
                    results != nullptr && results->is_array() ? results->get_array().size() : 0, ms);
    self->stats.places.record(has_status ? std::string_view(status->get_string()) : "UNKNOWN_ERROR", ms / 1000);
    co_return std::move(*answer);
}

asio::awaitable<void> handle_whatsat(std::shared_ptr<server::state> self, const whatsat_command& cmd,
                                     std::string_view line, std::string& replies)
{
    ++self->stats.whatsat;
    const location_record* record = self->store.find(cmd.client);
    if (record == nullptr) {
        ++self->stats.invalid;
        append_invalid(replies, line);
        co_return;
    }
    // Copied before the await: the record may be replaced meanwhile.
    std::string at_line = record->at_line;
    places_query query{record->where, cmd.within.metres, cmd.within.km, cmd.bound};
    auto answer = co_await ask_places(self, std::move(query));
    limit_results(answer, cmd.bound);
    replies += at_line;
    replies += '\n';
    replies += format_places(answer);
    replies += "\n\n";
}

// Holds one of limits.connections while a client's coroutine runs.
class client_slot {
public:
    explicit client_slot(server::state& s) : state_(s) { ++state_.stats.clients_open; }
    ~client_slot()
    {
        if (--state_.stats.clients_open == 0 && state_.stopped) {
            state_.grace_timer.cancel(); // the last one has finished: no need to wait
        }
    }
    client_slot(const client_slot&) = delete;
    client_slot& operator=(const client_slot&) = delete;

private:
    server::state& state_;
};

// Writes and empties `replies`; false if the connection failed, the
// sweeper dropped a client that read nothing for the send time-out, or the
// disk failed before the records the replies acknowledge were on it. What
// the replies acknowledge reaches the kernel first, and with fsync =
// "always" the disk: this coroutine waits for the store log's thread, the
// loop does not, and serves every other connection meanwhile.
asio::awaitable<bool> send_replies(server::state& self, client_session& session, std::string& replies)
{
    if (self.disk && self.disk->acknowledgeable() < session.acknowledges) {
        // Yield once, so every connection whose bytes came in this turn of
        // the loop appends its records first: then one write (and one
        // fdatasync) covers them all, as Redis's beforeSleep does. Whatever
        // is appended while that sync runs waits for the next one.
        co_await asio::post(asio::use_awaitable);
        self.disk->flush();
        while (self.disk->acknowledgeable() < session.acknowledges && !self.disk->failed()) {
            co_await self.disk_progress.async_wait(use_tuple);
        }
        if (self.disk->acknowledgeable() < session.acknowledges) {
            co_return false; // fail-stop: never acknowledged, the server is stopping
        }
    }
    // Replies nearly always fit in the socket's send buffer, and then one
    // non-blocking send finishes them in this turn of the loop: no
    // asynchronous operation, no completion queued and resumed later. Only
    // what does not fit waits in async_write, watched by the sweeper.
    boost::system::error_code ec;
    const std::size_t sent = session.socket.write_some(asio::buffer(replies), ec);
    if (ec && ec != asio::error::would_block) {
        co_return false;
    }
    if (sent < replies.size()) {
        session.write_started = std::chrono::steady_clock::now();
        const auto rest = asio::buffer(replies) + sent;
        std::tie(ec, std::ignore) = co_await asio::async_write(session.socket, rest, use_tuple);
        session.write_started = client_session::time_point::max();
    }
    replies.clear();
    co_return !ec;
}

asio::awaitable<closed_by> serve_client(std::shared_ptr<server::state> self, client_session& session,
                                        const std::string& client)
{
    const auto& limits = self->herd.limits;
    detail::line_reader reader;
    std::string replies;
    for (bool more = true, replied = false; more;) {
        if (replied) {
            // The client has only just got its replies: a read now would
            // find nothing, and cost a recv that fails and a wait in epoll.
            // After one turn of the loop its next line is often there.
            co_await asio::post(asio::use_awaitable);
        }
        auto space = reader.prepare();
        auto [ec, n] = co_await session.socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
        reader.commit(n);
        if (ec == asio::error::eof) {
            reader.finish(); // a last line with no '\n' is still a command
            more = false;
        } else if (ec) {
            if (session.closed != closed_by::client) {
                co_return session.closed;
            }
            self->log->info("client {} gone: {}", client, ec.message());
            co_return closed_by::client;
        }
        // The skew is taken from when the bytes arrived, once per read.
        const std::int64_t now_ns = self->options.clock();
        const auto arrived = std::chrono::steady_clock::now();
        // Every complete line in the buffer is answered, in order, and the
        // replies go out together in one write.
        while (auto line = reader.next_line()) {
            if (line->size() > limits.line_bytes) {
                // The lines before it are still answered.
                co_await send_replies(*self, session, replies);
                co_return closed_by::long_line;
            }
            session.last_line = arrived;
            log_info_bytes(*self->log, self->log_scratch, {"client ", client, " < "}, *line);
            const std::size_t before = replies.size();
            const command cmd = parse_command(*line, limits.client_id_bytes);
            if (const auto* iamat = std::get_if<iamat_command>(&cmd)) {
                handle_iamat(*self, *iamat, now_ns, replies);
                session.acknowledges = self->disk ? self->disk->appended() : 0;
            } else if (const auto* whatsat = std::get_if<whatsat_command>(&cmd)) {
                co_await handle_whatsat(self, *whatsat, *line, replies);
            } else if (std::holds_alternative<invalid_line>(cmd)) {
                ++self->stats.invalid;
                append_invalid(replies, *line);
            }
            if (replies.size() > before) {
                log_info_bytes(*self->log, self->log_scratch, {"client ", client, " > "},
                               std::string_view(replies).substr(before));
            }
            // A pipelining client that does not read cannot make replies
            // pile up here: past the bound they go out before more is read.
            if (replies.size() >= limits.reply_bytes && !co_await send_replies(*self, session, replies)) {
                co_return session.closed;
            }
        }
        replied = !replies.empty();
        if (replied && !co_await send_replies(*self, session, replies)) {
            co_return session.closed;
        }
        if (reader.pending() > limits.line_bytes) {
            co_return closed_by::long_line;
        }
    }
    co_return closed_by::client;
}

// Closes the clients that sent no complete line for the idle time-out and
// those that have read nothing of a write for the send time-out. One timer
// for the whole server, as Redis's clientsCron, rather than a timer per
// connection re-armed on every read and write: the limits are coarse, and
// the hot path stays free of timers.
asio::awaitable<void> sweep_clients(std::shared_ptr<server::state> self)
{
    const auto& limits = self->herd.limits;
    const auto period = std::clamp(std::min(limits.idle_timeout, limits.send_timeout) / 4,
                                   std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    while (!self->stopped) {
        self->sweep_timer.expires_after(period);
        co_await self->sweep_timer.async_wait(use_tuple);
        const auto now = std::chrono::steady_clock::now();
        boost::system::error_code ignored;
        for (auto* session : self->clients) {
            if (session->closed != closed_by::client) {
                continue;
            }
            if (session->write_started != client_session::time_point::max() &&
                now - session->write_started >= limits.send_timeout) {
                session->closed = closed_by::slow_reader;
            } else if (now - session->last_line >= limits.idle_timeout) {
                session->closed = closed_by::idle;
            } else {
                continue;
            }
            // Its coroutine sees the read or write fail, and why.
            session->socket.close(ignored);
        }
    }
}

asio::awaitable<void> handle_connection(std::shared_ptr<server::state> self, tcp::socket socket)
{
    // send_replies tries a send before it waits; without this, a send
    // that would block would block the whole loop.
    boost::system::error_code failed;
    socket.non_blocking(true, failed);
    if (failed) {
        co_return;
    }
    client_session session(socket);
    const registration<client_session> registered(self->clients, session);
    const std::string client = describe(socket);
    const auto& limits = self->herd.limits;
    if (self->stats.clients_open >= limits.connections) {
        ++self->stats.clients_refused;
        self->log->warn("client {} refused: {} connections already", client, limits.connections);
        co_return;
    }
    const client_slot slot(*self);
    ++self->stats.client_connections;
    self->log->info("client {} connected", client);
    const closed_by ended = co_await serve_client(self, session, client);
    if (ended == closed_by::idle) {
        ++self->stats.clients_dropped;
        self->log->warn("client {} closed: no complete line for {} ms", client, limits.idle_timeout.count());
    } else if (ended == closed_by::long_line) {
        ++self->stats.clients_dropped;
        self->log->warn("client {} closed: a line of over {} bytes", client, limits.line_bytes);
    } else if (ended == closed_by::slow_reader) {
        ++self->stats.clients_dropped;
        self->log->warn("client {} dropped: it read none of its replies for {} ms", client,
                        limits.send_timeout.count());
    } else {
        self->log->info("client {} done", client);
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

// Logs reach the file, and with fsync = "batch" records reach the disk,
// every 100 ms rather than on every line; with "always" this only writes
// what no reply has flushed (records from peers), and asks for their sync.
// The fdatasync runs on the store log's own thread: waiting here for the
// disk would stall every client. A disk error is not thrown here: the log
// reports it (on_disk_progress), so this loop runs until the server stops.
asio::awaitable<void> flush_periodically(std::shared_ptr<server::state> self)
{
    while (!self->stopped) {
        self->flush_timer.expires_after(std::chrono::milliseconds(100));
        co_await self->flush_timer.async_wait(use_tuple);
        self->log->flush();
        if (self->disk) {
            self->disk->sync_soon();
        }
    }
}

// On the loop, after the store log's thread has written, synced or failed:
// wakes the replies waiting for it; on the first failure, stops the server
// (fail-stop, as Redis does when a write to its append-only file fails).
void on_disk_progress(server::state& self)
{
    if (!self.disk) {
        return; // a failure while the log was opened: the constructor throws it
    }
    self.disk_progress.cancel();
    if (!self.disk->failed() || self.disk_failure_reported) {
        return;
    }
    self.disk_failure_reported = true;
    const std::string failure = self.disk->failure();
    self.log->error("store: {}: the disk failed; stopping, nothing more is acknowledged", failure);
    if (self.options.on_disk_failure) {
        self.options.on_disk_failure(failure);
    }
    self.stop();
}

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
    return herd.secret || is_loopback_host(me.host) ? me.host : "127.0.0.1";
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
    // The ports first: a second server of the same name fails here, before
    // it logs a line or opens (and replays, and may cut) the running one's store.
    listen_on(state_->client_acceptor, io, me->host, me->port, "clients");
    listen_on(state_->peer_acceptor, io, peer_host(herd, *me), me->peer_port, "peers");
    if (me->admin_port != 0) {
        listen_on(state_->admin_acceptor, io, herd.admin_host, me->admin_port, "admin");
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
        s.disk = std::make_unique<store_log>(s.options.data_dir / (s.me.name + ".store"), s.store,
                                             herd.fsync_always ? fsync_policy::always : fsync_policy::batch,
                                             std::move(progress), s.options.disk_calls);
        const auto& replay = s.disk->replayed();
        s.log->info("store: {} record{} from {}", replay.records, replay.records == 1 ? "" : "s",
                    s.disk->file().string());
        if (replay.cut_bytes > 0) {
            s.log->warn("store: cut {} bytes off {}: {}", replay.cut_bytes, s.disk->file().string(), replay.cut_reason);
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
    if (s.herd.secret) {
        s.log->info("peers prove membership with the shared secret from {}", s.herd.secret_origin);
    } else {
        s.log->warn("no shared secret configured: peers are not authenticated, peer port on loopback only");
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
    asio::co_spawn(s.executor, flush_periodically(state_), log_failure(s.log, "flusher"));
    asio::co_spawn(s.executor, sweep_clients(state_), log_failure(s.log, "client sweeper"));
    for (const auto& name : s.me.neighbors) {
        auto link = std::make_shared<peer_link>(state_, *s.herd.find(name));
        s.links.emplace(name, link);
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
        session->socket.close(ignored);
    }
    self->options.places->stop();
    if (self->disk) {
        self->disk->sync(); // blocking is fine now: nothing else is served
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
    for (auto* socket : s.peer_sockets) {
        socket->close(ignored);
    }
    // Clients see the end of their input: what they sent is answered, the
    // replies are written, and then their connections close.
    for (auto* session : s.clients) {
        session->socket.shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
    }
    // The links hold the state alive; letting go of them here ends the cycle.
    for (auto& [name, link] : s.links) {
        link->stop();
    }
    s.links.clear();
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
const location_store& server::store() const noexcept
{
    return state_->store;
}
const server_stats& server::stats() const noexcept
{
    return state_->stats;
}

} // namespace herd
