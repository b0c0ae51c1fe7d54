// The link to one neighbour: a coroutine that dials the neighbour's peer
// port, proves membership, reconciles the two stores, and sends it every
// record queued for it, with a heartbeat; then dials again, backing off,
// when the link drops. The twin of the prototype's queue and task per
// neighbour, with the repair the prototype lacks (docs/protocol.md).
#pragma once

#include "core/node.hpp"
#include "peer/broadcast_tree.hpp"
#include "peer/outbox.hpp"
#include "peer/peer_stream.hpp"
#include "peer/reconciliation.hpp"
#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace herd {

class peer_link final : public record_sink, public std::enable_shared_from_this<peer_link> {
public:
    peer_link(std::shared_ptr<server::state> owner, const server_config& neighbour);

    void start();
    void stop();

    // Queues an AT line for the neighbour without waiting. One that does
    // not fit (the neighbour is down or not keeping up) is left to the
    // reconciliation the link then owes it.
    void offer(const std::shared_ptr<const std::string>& at_line) override;

    const std::string& neighbour() const noexcept override { return neighbour_.name; }

    // broadcast = "tree" (peer/tree_broadcast.hpp): notices are owed to
    // the neighbour (they go in one batch, a little later); a PRUNE; a
    // GRAFT asking for `wanted` (none: only to be eager again). Each is
    // dropped if the link goes down first: the tree forgets the link then,
    // and starts it over eager.
    void announce();
    void prune();
    void graft(std::optional<peer::notice> wanted);
    bool up() const noexcept { return up_; }
    // When the link last went up or down.
    std::chrono::system_clock::time_point since() const noexcept { return since_; }

private:
    using clock = std::chrono::steady_clock;

    boost::asio::awaitable<void> run();
    boost::asio::awaitable<bool> connect();
    // The link is up: records, heartbeats and reconciliations, until the
    // neighbour goes quiet, a write stalls, or the connection ends.
    boost::asio::awaitable<void> serve();
    // What the acceptor sends back: PONGs and its reconciliation messages.
    boost::asio::awaitable<void> read_answers();
    boost::asio::awaitable<bool> send(const std::string& bytes);
    boost::asio::awaitable<bool> send_message(const peer::reconcile_message& message);
    // The tree's lines owed now (PRUNE, GRAFTs, and the notices once due),
    // counted in the stats; empty: none.
    std::string take_tree_lines(clock::time_point now);
    void joined_tree(bool neighbour_tree);
    void start_reconciliation();
    void finish_reconciliation();
    void wake() { wake_.cancel(); }
    // The neighbour's kernel acknowledged more since the last call, with a
    // backlog still queued: it is reading, however late its PONG.
    bool draining(clock::time_point now);
    void note_down(const std::string& why);
    void close();
    void tell(link_event e) const; // to server_options::on_link

    std::shared_ptr<server::state> owner_;
    server_config neighbour_;
    peer::outbox outbox_;
    boost::asio::ip::tcp::socket socket_;       // while dialling; then inside stream_
    std::unique_ptr<peer::peer_stream> stream_; // the link's connection, plain or TLS, once dialled
    // A condition variable (as Asio's chat server): the writer sleeps on it
    // until its next deadline, and offer() and the reader cancel it.
    boost::asio::steady_timer wake_;
    std::string last_failure_; // logged once per outage, not once per retry
    bool stopped_ = false;
    bool up_ = false;
    bool catch_up_ = false;      // set by connect() from the neighbour's WELCOME
    bool herd_acceptor_ = false; // its WELCOME had a store summary: it answers PING and reconciles
    bool reading_ = false;       // read_answers() is running
    clock::time_point heard_;    // the last line from the neighbour
    std::uint64_t written_ = 0;  // bytes this link's writes handed to the kernel
    std::uint64_t acked_ = 0;    // of those, acknowledged by the neighbour's, at the last draining()
    clock::time_point drained_;  // the last draining() that saw a backlog go down
    std::deque<peer::reconcile_message> answers_;
    std::unique_ptr<peer::store_view> view_;
    std::unique_ptr<peer::reconciliation> reconciling_; // none: no reconciliation under way
    std::uint64_t repairing_ = 0;                       // records not queued that the reconciliation under way repairs
    std::chrono::system_clock::time_point since_ = std::chrono::system_clock::now();
    bool in_tree_ = false;                                     // the neighbour answered BROADCAST tree
    bool prune_owed_ = false;                                  // a PRUNE to send
    std::vector<std::optional<peer::notice>> grafts_owed_;     // GRAFTs to send
    clock::time_point notices_due_ = clock::time_point::max(); // when the owed notices go
};

} // namespace herd
