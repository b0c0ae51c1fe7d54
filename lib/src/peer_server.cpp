// The peer port: neighbours dial in, prove they are members of the herd,
// and send the records that changed their stores. Nothing on this port is
// believed before the handshake, and the client port never reaches here.
#include "peer_server.hpp"

#include "detail/line_io.hpp"
#include "detail/within.hpp"
#include "herd/log.hpp"
#include "herd/peer_protocol.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/logger.h>

#include <algorithm>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

constexpr auto hello_time_limit = std::chrono::seconds(5);

// The dialer's name once it has proved membership; nothing if refused.
asio::awaitable<std::optional<std::string>> accept_handshake(server::state& self, tcp::socket& socket,
                                                             detail::line_reader& reader, const std::string& from)
{
    auto refuse = [&](const std::string& reason) {
        ++self.stats.peer_links_refused;
        self.log->warn("peer link from {} refused: {}", from, reason);
        return reason;
    };
    const std::string nonce = peer::make_nonce();
    std::string challenge = peer::format_challenge(self.me.name, nonce);
    if (!co_await detail::write_line(socket, std::move(challenge), hello_time_limit)) {
        refuse("could not send the challenge");
        co_return std::nullopt;
    }
    auto line = co_await detail::read_line(socket, reader, hello_time_limit, peer::max_handshake_line);
    std::string reason;
    auto hello = line ? peer::parse_hello(*line) : std::nullopt;
    if (!hello) {
        reason = refuse(line ? "malformed hello: " + escape_for_log(*line) : "no hello in time");
    } else if (std::find(self.me.neighbors.begin(), self.me.neighbors.end(), hello->dialer) ==
               self.me.neighbors.end()) {
        reason = refuse(std::string(hello->dialer) + " is not a neighbour of " + self.me.name);
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
        summary = peer::store_summary{self.store.size(), self.store.digest()};
    }
    std::string welcome = peer::format_welcome(proof, summary);
    if (!co_await detail::write_line(socket, std::move(welcome), hello_time_limit)) {
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
    const auto outcome = self.store_and_propagate(location_record::from(*record, line), neighbour);
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
    detail::line_reader reader;
    auto neighbour = co_await accept_handshake(*self, socket, reader, from);
    if (!neighbour) {
        co_return;
    }
    ++self->stats.peer_links_accepted;
    self->log->info("peer link from {} ({}) open", *neighbour, from);
    for (;;) {
        while (auto line = reader.next_line()) {
            receive_record(*self, *line, *neighbour);
        }
        if (reader.pending() > self->herd.limits.peer_line_bytes) {
            self->log->warn("peer link from {} closed: a line of over {} bytes", *neighbour,
                            self->herd.limits.peer_line_bytes);
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
