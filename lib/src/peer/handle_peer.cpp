// The peer port: neighbours dial in, prove they are members of the herd,
// send the records that changed their stores, and reconcile with this one. Nothing on this port is
// believed before the handshake, and the client port never reaches here.
#include "peer/handle_peer.hpp"

#include "async/within.hpp"
#include "herd/log.hpp"
#include "peer/peer_protocol.hpp"
#include "peer/receive_record.hpp"
#include "peer/reconciliation.hpp"
#include "protocol/line_io.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/logger.h>

#include <algorithm>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

// The whole handshake, from accept to WELCOME: a connection that has not
// proved membership by then is refused, however it trickles its bytes.
constexpr auto handshake_deadline = std::chrono::seconds(5);

// Holds one of limits.peer_handshakes while a connection's handshake runs.
class handshake_slot {
public:
    explicit handshake_slot(server_stats& stats) : stats_(stats) { ++stats_.peer_handshakes_open; }
    ~handshake_slot() { --stats_.peer_handshakes_open; }
    handshake_slot(const handshake_slot&) = delete;
    handshake_slot& operator=(const handshake_slot&) = delete;

private:
    server_stats& stats_;
};

// The dialer's name once it has proved membership; nothing if refused.
asio::awaitable<std::optional<std::string>> accept_handshake(server::state& self, tcp::socket& socket,
                                                             detail::line_reader& reader, const std::string& from)
{
    const auto deadline = std::chrono::steady_clock::now() + handshake_deadline;
    const auto left = [&] {
        return std::max(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero());
    };
    auto refuse = [&](const std::string& reason) {
        ++self.stats.peer_links_refused;
        self.log->warn("peer link from {} refused: {}", from, reason);
        return reason;
    };
    const std::string nonce = peer::make_nonce();
    std::string challenge = peer::format_challenge(self.me.name, nonce);
    if (!co_await detail::write_line(socket, std::move(challenge), left())) {
        refuse("could not send the challenge");
        co_return std::nullopt;
    }
    auto line = co_await detail::read_line(socket, reader, left(), peer::max_handshake_line);
    std::string reason;
    auto hello = line ? peer::parse_hello(*line) : std::nullopt;
    // The dialer's name is its own bytes: escaped wherever it is logged.
    if (!hello) {
        reason = refuse(line ? "malformed hello: " + escape_for_log(*line) : "no hello in time");
    } else if (std::find(self.me.neighbors.begin(), self.me.neighbors.end(), hello->dialer) ==
               self.me.neighbors.end()) {
        reason = refuse(escape_for_log(hello->dialer) + " is not a neighbour of " + self.me.name);
    } else {
        const std::string expected =
            peer::make_proof(self.herd.secret, peer::role::dialer, self.me.name, hello->dialer, nonce, hello->nonce);
        if (!peer::proofs_equal(expected, hello->proof)) {
            reason = refuse("proof of membership from " + std::string(hello->dialer) + " does not match");
        }
    }
    if (!reason.empty()) {
        std::string refused = peer::format_refused(reason);
        co_await detail::write_line(socket, std::move(refused), std::chrono::seconds(1));
        co_return std::nullopt;
    }
    const std::string proof =
        peer::make_proof(self.herd.secret, peer::role::acceptor, self.me.name, hello->dialer, nonce, hello->nonce);
    // Always with the store's summary: it tells the dialer this acceptor
    // answers heartbeats and reconciles (the references send none).
    const peer::store_summary summary{self.core.store.size(), self.core.store.digest()};
    std::string welcome = peer::format_welcome(proof, summary);
    if (!co_await detail::write_line(socket, std::move(welcome), left())) {
        co_return std::nullopt;
    }
    co_return std::string(hello->dialer);
}

// After WELCOME: records flooded by the dialer, its heartbeats (each
// answered), and its reconciliation messages (each answered with the next
// message). A dialer that has sent a heartbeat is expected to keep sending
// them: silence for herd.peer_timeout then closes the link. The Python and
// Node references send only records, and are never timed out.
asio::awaitable<void> serve_link(server::state& self, tcp::socket& socket, detail::line_reader& reader,
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
                receive_record(self, *line, neighbour);
            }
        }
        bool written = true;
        if (!out.empty()) {
            auto write = detail::write_bytes(socket, out, timeout);
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
        auto read = socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
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
    const registration<tcp::socket> registered(self->peer_sockets, socket);
    const std::string from = describe(socket);
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
        const handshake_slot slot(self->stats);
        neighbour = co_await accept_handshake(*self, socket, reader, from);
    }
    if (!neighbour) {
        co_return;
    }
    ++self->stats.peer_links_accepted;
    self->log->info("peer link from {} ({}) open", *neighbour, from);
    co_await serve_link(*self, socket, reader, *neighbour);
    boost::system::error_code ignored;
    socket.close(ignored);
}

} // namespace herd
