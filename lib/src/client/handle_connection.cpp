// The client side of a server: handle_connection, and handle_iamat and
// handle_whatsat behind it, the asyncio prototype's functions of the same
// names (docs/architecture.md pairs them).
#include "client/handle_connection.hpp"

#include "async/within.hpp"
#include "herd/log.hpp"
#include "places/ask_places.hpp"
#include "places/places_reply.hpp"
#include "protocol/line_reader.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <chrono>
#include <tuple>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

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
    self.core.store_and_propagate(std::move(record), {});
}

asio::awaitable<void> handle_whatsat(std::shared_ptr<server::state> self, const whatsat_command& cmd,
                                     std::string_view line, std::string& replies)
{
    ++self->stats.whatsat;
    const location_record* record = self->core.store.find(cmd.client);
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
    if (self.core.disk && self.core.disk->acknowledgeable() < session.acknowledges) {
        // Yield once, so every connection whose bytes came in this turn of
        // the loop appends its records first: then one write (and one
        // fdatasync) covers them all, as Redis's beforeSleep does. Whatever
        // is appended while that sync runs waits for the next one.
        co_await asio::post(asio::use_awaitable);
        self.core.disk->flush();
        while (self.core.disk->acknowledgeable() < session.acknowledges && !self.core.disk->failed()) {
            co_await self.disk_progress.async_wait(use_tuple);
        }
        if (self.core.disk->acknowledgeable() < session.acknowledges) {
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
                session.acknowledges = self->core.disk ? self->core.disk->appended() : 0;
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

} // namespace

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

} // namespace herd
