// The client side of a server: handle_connection, the asyncio prototype's
// function of the same name (docs/architecture.md pairs them), as a thin
// driver of the session's state machine (session_fsm.hpp, where
// handle_iamat and handle_whatsat are): it performs each action the
// machine asks for and feeds the result back.
#include "client/handle_connection.hpp"

#include "async/within.hpp"
#include "client/line_session.hpp"
#include "client/session_fsm.hpp"
#include "herd/log.hpp"

#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <chrono>
#include <optional>
#include <tuple>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

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

// Sends what the socket's send buffer takes of `bytes` now, without
// waiting: how many bytes, or nothing if the connection failed. Replies
// nearly always fit, and then this one non-blocking send finishes them in
// this turn of the loop: no coroutine frame, no asynchronous operation, no
// completion queued and resumed later.
std::optional<std::size_t> send_now(client_session& session, std::string_view bytes)
{
    boost::system::error_code ec;
    const std::size_t sent = session.socket.write_some(asio::buffer(bytes), ec);
    if (ec && ec != asio::error::would_block) {
        return std::nullopt;
    }
    return sent;
}

// Writes what send_now left of `bytes`, in async_write, watched by the
// sweeper; false if the connection failed, or the sweeper closed it.
asio::awaitable<bool> send_rest(client_session& session, std::string_view bytes, std::size_t sent)
{
    session.write_started = std::chrono::steady_clock::now();
    const auto rest = asio::buffer(bytes) + sent;
    boost::system::error_code ec;
    std::tie(ec, std::ignore) = co_await asio::async_write(session.socket, rest, use_tuple);
    session.write_started = client_session::time_point::max();
    co_return !ec;
}

// Performs the session's actions until it closes, and says why.
asio::awaitable<closed_by> serve_client(std::shared_ptr<server::state> self, client_session& session,
                                        const std::string& client)
{
    session_fsm& fsm = session.fsm;
    auto next = fsm.start();
    for (;;) {
        switch (next.what) {
        case session_fsm::action::kind::read: {
            auto space = fsm.read_buffer();
            auto [ec, n] = co_await session.socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
            auto result = session_fsm::read_result::data;
            if (ec == asio::error::eof) {
                result = session_fsm::read_result::eof;
            } else if (ec) {
                result = session_fsm::read_result::error;
                if (!fsm.aborted()) {
                    self->log->info("client {} gone: {}", client, ec.message());
                }
            }
            // The skew is taken from when the bytes arrived, once per read.
            const std::int64_t now_ns = self->options.clock();
            next = fsm.on_read(n, result, now_ns, std::chrono::steady_clock::now());
            break;
        }
        case session_fsm::action::kind::yield:
        case session_fsm::action::kind::ask_places:
        case session_fsm::action::kind::wait_commit: {
            auto waited = perform_wait(*self, fsm, std::move(next));
            next = co_await std::move(waited);
            break;
        }
        case session_fsm::action::kind::write: {
            const auto sent = send_now(session, next.bytes);
            bool ok = sent.has_value();
            if (ok && *sent < next.bytes.size()) {
                auto rest = send_rest(session, next.bytes, *sent);
                ok = co_await std::move(rest);
            }
            next = fsm.on_written(ok);
            break;
        }
        case session_fsm::action::kind::close:
            co_return next.reason;
        }
    }
}

} // namespace

asio::awaitable<void> handle_connection(std::shared_ptr<server::state> self, tcp::socket socket)
{
    // send_now tries a send before anything waits; without this, a send
    // that would block would block the whole loop.
    boost::system::error_code failed;
    socket.non_blocking(true, failed);
    if (failed) {
        co_return;
    }
    const std::string client = describe(socket);
    const auto& limits = self->herd.limits;
    server_host host(*self, client);
    session_fsm fsm(host, self->stats, self->me.name, session_limits::from(limits));
    client_session session(socket, fsm);
    const registration<client_session> registered(self->clients, session);
    if (self->connections_full()) {
        ++self->stats.clients_refused;
        self->log->warn("client {} refused: {} connections already", client, limits.connections);
        co_return;
    }
    const client_slot slot(*self);
    ++self->stats.client_connections;
    self->log->info("client {} connected", client);
    const closed_by ended = co_await serve_client(self, session, client);
    switch (ended) {
    case closed_by::idle: // counted by sweep_clients, which closed it
        self->log->warn("client {} closed: no complete line for {} ms", client, limits.idle_timeout.count());
        break;
    case closed_by::long_line:
        ++self->stats.clients_dropped;
        self->log->warn("client {} closed: a line of over {} bytes", client, limits.line_bytes);
        break;
    case closed_by::slow_reader: // counted by sweep_clients too
        self->log->warn("client {} dropped: it read none of its replies for {} ms", client,
                        limits.send_timeout.count());
        break;
    case closed_by::stopped:
        self->log->info("client {} closed: still open when the shutdown grace ran out", client);
        break;
    case closed_by::client:
        self->log->info("client {} done", client);
        break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

} // namespace herd
