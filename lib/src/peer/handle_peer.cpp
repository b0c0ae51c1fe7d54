// The peer port: neighbours dial in, prove they are members of the herd,
// send the records that changed their stores (or notices of them, under
// the tree), and reconcile with this one. Nothing on this port is believed
// before the handshake, and the client port never reaches here.
#include "peer/handle_peer.hpp"

#include "async/within.hpp"
#include "herd/log.hpp"
#include "peer/drive_handshake.hpp"
#include "peer/peer_protocol.hpp"
#include "peer/receive_record.hpp"
#include "peer/reconciliation.hpp"
#include "peer/tree_broadcast.hpp"
#include "peer/tree_messages.hpp"
#include "protocol/line_io.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

// The dialer's name once it has proved membership; nothing if refused.
// The handshake's rules are acceptor_handshake's (peer/handshake.hpp);
// this performs its actions and logs how it ended.
asio::awaitable<std::optional<std::string>> accept_handshake(server::state& self, peer::peer_stream& stream,
                                                             detail::line_reader& reader, const std::string& from)
{
    // Over TLS the dialer may claim only a name its certificate proves.
    peer::acceptor_handshake::certificate_check certified;
    if (stream.tls()) {
        const auto tls_limit = peer::acceptor_handshake::deadline;
        const auto shaken = co_await stream.server_handshake(tls_limit);
        if (!shaken.ok) {
            // Closed by stop(): not a refusal.
            if (!self.stopped) {
                ++self.stats.peer_tls_refused;
                self.log->warn("peer link from {} refused: TLS: {}", from, shaken.reason);
            }
            co_return std::nullopt;
        }
        certified = [&stream](std::string_view name) { return stream.certifies(name); };
    }
    peer::acceptor_handshake handshake(self.me.name, self.me.neighbors, self.herd.secret, self.core.store,
                                       peer::make_nonce(), std::move(certified));
    auto drive = peer::drive_handshake(stream, reader, handshake, self.stopped);
    const auto end = co_await std::move(drive);
    if (end.what == peer::handshake_action::kind::done) {
        co_return end.result.neighbour;
    }
    if (end.failure.refused) {
        ++self.stats.peer_links_refused;
        self.log->warn("peer link from {} refused: {}", from, end.failure.reason);
    } else if (!end.failure.cancelled) {
        self.log->info("peer link from {} closed in the handshake: {}", from, end.failure.reason);
    }
    if (!end.line.empty()) {
        std::string refused(end.line);
        co_await detail::write_line(stream, std::move(refused), peer::refusal_limit);
    }
    co_return std::nullopt;
}

// After WELCOME: records sent by the dialer, its heartbeats (each
// answered), its reconciliation messages (each answered with the next
// message), and under broadcast = "tree" its question BROADCAST (answered)
// and its notices, prunes and grafts. A dialer that has sent a heartbeat
// is expected to keep sending them: silence for herd.peer_timeout then
// closes the link. The Python and Node references send only records, and
// are never timed out.
asio::awaitable<void> serve_link(server::state& self, peer::peer_stream& stream, detail::line_reader& reader,
                                 const std::string& neighbour)
{
    const auto& limits = self.herd.limits;
    const auto timeout = self.herd.peer_timeout;
    peer::message_reader messages;
    peer::store_view view(self.core.store, [&self, &neighbour](std::string_view line) {
        ++self.stats.reconcile_records_received;
        receive_record(self, line, neighbour);
    });
    peer::reconciliation reconciling(view);
    bool heartbeats = false;
    std::string out;
    for (;;) {
        // A line over the limit closes the link whether its '\n' has come
        // (checked line by line) or not (the unfinished rest of the buffer).
        bool too_long = false;
        out.clear();
        while (auto line = reader.next_line()) {
            if (line->size() > limits.peer_line_bytes) {
                too_long = true;
                break;
            }
            if (*line == peer::ping_line) {
                heartbeats = true;
                out += peer::pong_line;
                out += '\n';
            } else if (!messages.started() && peer::is_tree_line(*line)) {
                const auto tree_line = peer::parse_tree_line(*line);
                if (!tree_line) {
                    self.log->warn("peer link from {} closed: not a broadcast tree line: {}", neighbour,
                                   escape_for_log(*line));
                    co_return;
                }
                if (tree_line->kind == peer::tree_line_kind::broadcast) {
                    // The dialer's question: how this server broadcasts.
                    if (!self.tree) {
                        self.log->warn("peer {} broadcasts by tree, this server by flood: its link here floods "
                                       "(broadcast = \"tree\" needs it at both ends)",
                                       neighbour);
                    }
                    out += peer::format_broadcast(self.tree != nullptr);
                    out += '\n';
                } else if (self.tree) {
                    self.tree->receive(neighbour, *tree_line);
                }
            } else if (messages.started() || peer::is_message_line(*line)) {
                auto fed = messages.feed(*line);
                if (!fed.ok) {
                    self.log->warn("peer link from {} closed: not a reconciliation message: {}", neighbour,
                                   escape_for_log(*line));
                    co_return;
                }
                if (fed.message) {
                    if (auto answer = reconciling.answer(*fed.message)) {
                        self.stats.reconcile_records_sent += answer->records.size();
                        for (const auto& l : peer::format_message(*answer)) {
                            out += l;
                            out += '\n';
                        }
                    }
                }
            } else {
                const auto outcome = receive_record(self, *line, neighbour);
                // A record the store already had came a second way: under
                // the tree, that link is redundant.
                if (self.tree && outcome == location_store::outcome::duplicate) {
                    self.tree->duplicate_from(neighbour);
                }
            }
        }
        bool written = true;
        if (!out.empty()) {
            auto write = detail::write_bytes(stream, out, timeout);
            written = co_await std::move(write);
        }
        if (!written) {
            self.log->warn("peer link from {} closed: it read nothing of an answer for {} ms", neighbour,
                           timeout.count());
            co_return;
        }
        if (too_long || reader.pending() > limits.peer_line_bytes) {
            self.log->warn("peer link from {} closed: a line of over {} bytes", neighbour, limits.peer_line_bytes);
            co_return;
        }
        auto space = reader.prepare();
        auto read = stream.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
        if (!heartbeats) {
            auto [ec, n] = co_await std::move(read);
            reader.commit(n);
            if (ec) {
                self.log->info("peer link from {} closed: {}", neighbour, ec.message());
                co_return;
            }
            continue;
        }
        auto result = co_await detail::within(std::move(read), timeout);
        if (!result) {
            reader.commit(0);
            ++self.stats.peer_timeouts;
            self.log->warn("peer link from {} closed: nothing for {} ms", neighbour, timeout.count());
            co_return;
        }
        auto [ec, n] = *result;
        reader.commit(n);
        if (ec) {
            self.log->info("peer link from {} closed: {}", neighbour, ec.message());
            co_return;
        }
    }
}

} // namespace

asio::awaitable<void> handle_peer(std::shared_ptr<server::state> self, tcp::socket socket)
{
    const std::string from = describe(socket);
    peer::peer_stream stream(std::move(socket), self->tls.get());
    const registration<tcp::socket> registered(self->peer_sockets, stream.socket());
    const auto& limits = self->herd.limits;
    // Anyone can connect here: only so many may be proving membership at
    // once, so connections that never finish cannot pile up.
    if (self->stats.peer_handshakes_open >= limits.peer_handshakes) {
        ++self->stats.peer_handshakes_refused;
        self->log->warn("peer connection from {} refused: {} handshakes under way already", from,
                        limits.peer_handshakes);
        co_return;
    }
    detail::line_reader reader;
    std::optional<std::string> neighbour;
    {
        const gauge_slot slot(self->stats.peer_handshakes_open); // one of limits.peer_handshakes
        neighbour = co_await accept_handshake(*self, stream, reader, from);
    }
    if (!neighbour) {
        co_return;
    }
    ++self->stats.peer_links_accepted;
    self->log->info("peer link from {} ({}) open", *neighbour, from);
    co_await serve_link(*self, stream, reader, *neighbour);
    // No TLS close_notify: a link ends on an error, a time-out or stop(),
    // and a line cut short by the close is never a whole line.
    boost::system::error_code ignored;
    stream.socket().close(ignored);
}

} // namespace herd
