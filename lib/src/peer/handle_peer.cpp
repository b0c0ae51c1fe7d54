// The peer port: neighbours dial in, prove they are members of the herd,
// and send the records that changed their stores. Nothing on this port is
// believed before the handshake, and the client port never reaches here.
#include "peer/handle_peer.hpp"

#include "async/within.hpp"
#include "herd/log.hpp"
#include "peer/peer_protocol.hpp"
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
    std::optional<peer::store_summary> summary;
    if (self.herd.catch_up) {
        summary = peer::store_summary{self.core.store.size(), self.core.store.digest()};
    }
    std::string welcome = peer::format_welcome(proof, summary);
    if (!co_await detail::write_line(socket, std::move(welcome), left())) {
        co_return std::nullopt;
    }
    co_return std::string(hello->dialer);
}

void receive_record(server::state& self, std::string_view line, const std::string& neighbour)
{
    auto record = parse_at_line(line);
    if (!record || self.herd.find(record->server) == nullptr) {
        self.log->warn("peer {} sent something that is not a record: {}", neighbour, escape_for_log(line));
        return;
    }
    ++self.stats.peer_records_received;
    const auto outcome = self.core.store_and_propagate(location_record::from(*record, line), neighbour);
    if (outcome == location_store::outcome::stored) {
        ++self.stats.peer_records_stored;
    }
    log_info_bytes(*self.log, self.log_scratch, {"peer ", neighbour, " > "}, line,
                   outcome == location_store::outcome::stored ? " (stored)" : " (not newer)");
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
    for (;;) {
        // A line over the limit closes the link whether its '\n' has come
        // (checked line by line) or not (the unfinished rest of the buffer).
        bool too_long = false;
        while (auto line = reader.next_line()) {
            if (line->size() > limits.peer_line_bytes) {
                too_long = true;
                break;
            }
            receive_record(*self, *line, *neighbour);
        }
        if (too_long || reader.pending() > limits.peer_line_bytes) {
            self->log->warn("peer link from {} closed: a line of over {} bytes", *neighbour, limits.peer_line_bytes);
            break;
        }
        auto space = reader.prepare();
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
        reader.commit(n);
        if (ec) {
            self->log->info("peer link from {} closed: {}", *neighbour, ec.message());
            break;
        }
    }
    boost::system::error_code ignored;
    socket.close(ignored);
}

} // namespace herd
