#include "peer/peer_link.hpp"

#include "async/resolve.hpp"
#include "async/within.hpp"
#include "herd/log.hpp"
#include "peer/drive_handshake.hpp"
#include "peer/peer_protocol.hpp"
#include "peer/receive_record.hpp"
#include "peer/tree_broadcast.hpp"
#include "peer/tree_messages.hpp"
#include "protocol/line_io.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {
// Resolving and connecting, each; the handshake's own steps get as long.
constexpr auto handshake_time_limit = peer::dialer_handshake::step_limit;
constexpr std::size_t max_batch_bytes = std::size_t{64} * 1024;
// The queued bytes past which acknowledgements count as signs of life.
constexpr std::size_t backlog_bytes = std::size_t{64} * 1024;
// The first retry after a failed dial, doubled each time up to
// server_options::reconnect_interval.
constexpr auto first_retry = std::chrono::milliseconds(100);
// How long notices wait to go in one IHAVE batch. Short beside the tree's
// graft_timeout, and longer than a record takes down the tree here, so a
// notice seldom comes before the record it names.
constexpr auto notice_batch = std::chrono::milliseconds(20);
} // namespace

peer_link::peer_link(std::shared_ptr<server::state> owner, const server_config& neighbour)
    : owner_(std::move(owner)), neighbour_(neighbour), outbox_(owner_->herd.limits.peer_queue_bytes),
      socket_(owner_->executor), wake_(owner_->executor, clock::time_point::max())
{
}

void peer_link::start()
{
    auto self = shared_from_this();
    asio::co_spawn(
        owner_->executor, [self]() { return self->run(); }, log_failure(owner_->log, "link to " + neighbour_.name));
}

void peer_link::stop()
{
    stopped_ = true;
    wake();
    close();
}

void peer_link::close()
{
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (stream_) {
        stream_->socket().close(ignored);
    }
}

void peer_link::offer(const std::shared_ptr<const std::string>& at_line)
{
    switch (outbox_.offer(at_line)) {
    case peer::outbox::offered::queued:
        ++owner_->stats.peer_records_queued;
        // Only a live link is woken: a link that is down dials again on its
        // own clock, not once per record.
        if (outbox_.up()) {
            wake();
        }
        return;
    case peer::outbox::offered::overflowed:
        // Once per episode, never once per record: the reconciliation that
        // follows says how many it covered.
        ++owner_->stats.peer_records_dropped;
        if (outbox_.up()) {
            ++owner_->stats.peer_queue_overflows;
            owner_->log->warn("peer link to {}: queue full ({} bytes); records not queued are repaired by "
                              "reconciliation once it drains",
                              neighbour_.name, outbox_.bytes());
            wake();
        }
        return;
    case peer::outbox::offered::dropped:
        ++owner_->stats.peer_records_dropped;
        return;
    }
}

void peer_link::announce()
{
    if (in_tree_ && notices_due_ == clock::time_point::max()) {
        notices_due_ = clock::now() + notice_batch;
        wake();
    }
}

void peer_link::prune()
{
    if (in_tree_) {
        prune_owed_ = true;
        wake();
    }
}

void peer_link::graft(std::optional<peer::notice> wanted)
{
    if (in_tree_) {
        grafts_owed_.push_back(std::move(wanted));
        wake();
    }
}

void peer_link::joined_tree(bool neighbour_tree)
{
    if (!neighbour_tree) {
        // Both ends must agree, or the notices would be garbage to it: the
        // link floods, and the rest of the herd is still a tree.
        owner_->log->warn("peer link to {}: {} broadcasts by flood; this link floods (broadcast = \"tree\" "
                          "needs it at both ends)",
                          neighbour_.name, neighbour_.name);
        return;
    }
    if (owner_->tree && !in_tree_) {
        in_tree_ = true;
        owner_->tree->link_up(neighbour_.name);
    }
}

std::string peer_link::take_tree_lines(clock::time_point now)
{
    std::string out;
    auto& stats = owner_->stats;
    if (prune_owed_) {
        prune_owed_ = false;
        out += peer::prune_line;
        out += '\n';
        ++stats.tree_prunes_sent;
        stats.tree_prune_bytes_sent += peer::prune_line.size() + 1;
    }
    for (const auto& wanted : grafts_owed_) {
        const auto before = out.size();
        out += peer::format_graft(wanted);
        out += '\n';
        ++stats.tree_grafts_sent;
        stats.tree_graft_bytes_sent += out.size() - before;
    }
    grafts_owed_.clear();
    if (now >= notices_due_) {
        notices_due_ = clock::time_point::max();
        const auto before = out.size();
        stats.tree_notices_sent += peer::append_ihave_lines(out, owner_->tree->take_notices(neighbour_.name),
                                                            owner_->herd.limits.peer_line_bytes);
        stats.tree_notice_bytes_sent += out.size() - before;
    }
    return out;
}

void peer_link::tell(link_event e) const
{
    // Nothing after stop(): whoever watches may be gone by the time this
    // coroutine sees its socket closed.
    if (!stopped_ && owner_->options.on_link) {
        owner_->options.on_link(neighbour_.name, e);
    }
}

void peer_link::note_down(const std::string& why)
{
    if (why != last_failure_) {
        owner_->log->warn("peer link to {} ({}:{}) down: {}", neighbour_.name, neighbour_.host, neighbour_.peer_port,
                          why);
        last_failure_ = why;
    }
}

asio::awaitable<void> peer_link::run()
{
    auto retry = first_retry;
    while (!stopped_) {
        if (co_await connect()) {
            last_failure_.clear();
            retry = first_retry;
            up_ = true;
            ++owner_->stats.peer_links_up;
            since_ = std::chrono::system_clock::now();
            owner_->log->info("peer link to {} open", neighbour_.name);
            tell(link_event::up);
            co_await serve();
            up_ = false;
            --owner_->stats.peer_links_up;
            since_ = std::chrono::system_clock::now();
            tell(link_event::down);
            if (!stopped_ && last_failure_.empty()) {
                owner_->log->info("peer link to {} closed", neighbour_.name);
                last_failure_ = "closed";
            }
        } else {
            close();
        }
        if (stopped_) {
            break;
        }
        // Down: dial again on the link's own clock, backing off while the
        // neighbour stays away; records meanwhile are left to the
        // reconciliation when it is back.
        wake_.expires_after(retry);
        co_await wake_.async_wait(use_tuple);
        retry =
            std::min<std::chrono::milliseconds>(retry * 2, std::max(owner_->options.reconnect_interval, first_retry));
    }
}

asio::awaitable<bool> peer_link::connect()
{
    const std::string& me = owner_->me.name;
    // Abandoned at the limit, not cancelled: the 1.81 resolver ignores that.
    auto resolve = detail::system_resolve(neighbour_.host, std::to_string(neighbour_.peer_port));
    auto bounded = detail::abandon_after(std::move(resolve), handshake_time_limit);
    auto resolved = co_await std::move(bounded);
    if (!resolved || std::get<0>(*resolved)) {
        note_down("cannot resolve " + neighbour_.host);
        co_return false;
    }
    auto dial = asio::async_connect(socket_, std::get<1>(*resolved), use_tuple);
    auto dialed = co_await detail::within(std::move(dial), handshake_time_limit);
    if (!dialed || std::get<0>(*dialed)) {
        note_down(dialed ? std::get<0>(*dialed).message() : "connect timed out");
        co_return false;
    }
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    stream_ = std::make_unique<peer::peer_stream>(std::move(socket_), owner_->tls.get());
    socket_ = tcp::socket(owner_->executor);
    if (stopped_) {
        co_return false;
    }
    // Over TLS the neighbour proves its name from the topology with a
    // certificate from the herd's CA before a line of the handshake.
    const auto shaken = co_await stream_->client_handshake(neighbour_.name, handshake_time_limit);
    if (!shaken.ok) {
        // A neighbour too slow to answer is down, not refused; a link
        // closed by stop() is neither.
        if (!stopped_) {
            owner_->stats.peer_tls_refused += shaken.timed_out ? 0 : 1;
            note_down("TLS: " + shaken.reason);
        }
        co_return false;
    }

    peer::dialer_handshake handshake(me, neighbour_.name, owner_->herd.secret, owner_->herd.catch_up,
                                     owner_->core.store, peer::make_nonce());
    detail::line_reader reader;
    auto drive = peer::drive_handshake(*stream_, reader, handshake, stopped_);
    const auto end = co_await std::move(drive);
    if (end.what != peer::handshake_action::kind::done) {
        if (end.failure.refused) {
            ++owner_->stats.peer_links_refused;
        }
        if (!end.failure.cancelled) {
            note_down(end.failure.reason);
        }
        co_return false;
    }
    catch_up_ = end.result.catch_up;
    herd_acceptor_ = end.result.herd_acceptor;
    co_return true;
}

asio::awaitable<void> peer_link::serve()
{
    const auto timeout = owner_->herd.peer_timeout;
    const auto heartbeat = timeout / 3;
    const auto anti_entropy = owner_->herd.anti_entropy;
    // A reference acceptor (no summary in its WELCOME) knows only AT lines:
    // no heartbeat, no reconciliation, records as the prototype sent them.
    const bool repairs = herd_acceptor_ && owner_->herd.catch_up;
    outbox_.came_up();
    answers_.clear();
    reconciling_.reset();
    heard_ = clock::now();
    acked_ = 0;
    drained_ = {};
    written_ = 0;
    bool write_failed = false; // before the loop
    in_tree_ = false;
    prune_owed_ = false;
    grafts_owed_.clear();
    notices_due_ = clock::time_point::max();
    auto next_ping = heard_ + heartbeat;
    auto next_anti_entropy = anti_entropy.count() > 0 ? heard_ + anti_entropy : clock::time_point::max();
    if (herd_acceptor_) {
        reading_ = true;
        auto self = shared_from_this();
        asio::co_spawn(owner_->executor, read_answers(), [self](std::exception_ptr failure) {
            self->reading_ = false;
            self->wake();
            log_failure(self->owner_->log, "link to " + self->neighbour_.name + " reader")(failure);
        });
    }
    if (owner_->tree && herd_acceptor_) {
        // The link joins the tree once the neighbour answers in kind; till
        // then it floods.
        const std::string ask = peer::format_broadcast(true) + "\n";
        const bool asked = co_await send(ask);
        if (!asked) {
            write_failed = true;
        }
    } else if (owner_->tree) {
        owner_->log->info("peer link to {}: a server without the tree (no store summary in its WELCOME); this "
                          "link floods",
                          neighbour_.name);
    }
    // A fresh link reconciles whatever the summary said: what went missing
    // while it was down may lie on either side. Reconciliation goes both
    // ways, so of the two links between a pair one is enough to repair an
    // outage: the one dialled by the server whose name sorts first, which
    // also runs the anti-entropy. A link whose own queue overflowed
    // repairs that itself.
    const bool leads = owner_->me.name < neighbour_.name;
    bool must_reconcile = repairs && (outbox_.overflowed() || (leads && (catch_up_ || outbox_.dirty())));
    std::string batch;
    while (!write_failed && !stopped_ && (reading_ || !herd_acceptor_)) {
        if (reconciling_ && !answers_.empty()) {
            const auto in = std::move(answers_.front());
            answers_.pop_front();
            auto out = reconciling_->answer(in);
            if (!out) {
                finish_reconciliation();
                continue;
            }
            const bool sent = co_await send_message(*out);
            if (!sent) {
                break;
            }
            if (out->last()) {
                finish_reconciliation();
            }
            continue;
        }
        // The heartbeat goes first, busy or not: a PONG is the only thing
        // an acceptor sends unasked, so a link that only sent records for
        // longer than peer_timeout would otherwise look dead once it drained.
        const auto now = clock::now();
        if (herd_acceptor_ && now - heard_ >= timeout && draining(now)) {
            // A PONG waits behind everything sent before its PING: on a slow
            // link a backlog that the neighbour's kernel keeps taking in is
            // as good a sign of life.
            heard_ = now;
        }
        if (herd_acceptor_ && now - heard_ >= timeout) {
            ++owner_->stats.peer_timeouts;
            note_down(fmt::format("no answer for {} ms", timeout.count()));
            break;
        }
        if (herd_acceptor_ && now >= next_ping) {
            next_ping = now + heartbeat;
            const std::string ping = std::string(peer::ping_line) + "\n";
            const bool sent = co_await send(ping);
            if (!sent) {
                break;
            }
            continue;
        }
        if (in_tree_) {
            const auto lines = take_tree_lines(now);
            if (!lines.empty()) {
                const bool sent = co_await send(lines);
                if (!sent) {
                    break;
                }
                continue;
            }
        }
        if (!outbox_.empty()) {
            batch.clear();
            const auto count = outbox_.take(batch, max_batch_bytes);
            const bool sent = co_await send(batch);
            if (!sent) {
                owner_->stats.peer_records_dropped += count;
                break;
            }
            owner_->stats.peer_records_sent += count;
            if (outbox_.empty()) {
                tell(link_event::idle);
            }
            // A write the socket took at once does not wait for the loop:
            // yield anyway, so a long backlog does not starve the clients.
            co_await asio::post(owner_->executor, asio::use_awaitable);
            continue;
        }
        if (repairs && !reconciling_ &&
            (must_reconcile || outbox_.overflowed() || (leads && now >= next_anti_entropy))) {
            // The queue has drained: the reconciliation covers every record
            // not queued so far, and what comes later is queued as usual.
            must_reconcile = false;
            next_anti_entropy = anti_entropy.count() > 0 ? now + anti_entropy : clock::time_point::max();
            start_reconciliation();
            const auto first = reconciling_->start();
            const bool sent = co_await send_message(first);
            if (!sent) {
                break;
            }
            continue;
        }
        auto until = herd_acceptor_ ? std::min(next_ping, heard_ + timeout) : clock::time_point::max();
        if (repairs) {
            until = std::min(until, leads ? next_anti_entropy : clock::time_point::max());
        }
        if (in_tree_) {
            until = std::min(until, notices_due_);
        }
        wake_.expires_at(until);
        co_await wake_.async_wait(use_tuple);
    }
    // What is still queued waits for the next link up; what the dead socket
    // swallowed is owed to the next reconciliation.
    outbox_.went_down();
    if (reconciling_) {
        reconciling_.reset();
    }
    close();
    while (reading_) {
        wake_.expires_at(clock::time_point::max());
        co_await wake_.async_wait(use_tuple);
    }
    // Only now: the reader may have joined the tree from what it had read
    // before the close.
    if (in_tree_) {
        in_tree_ = false;
        owner_->tree->link_down(neighbour_.name);
    }
}

asio::awaitable<void> peer_link::read_answers()
{
    const auto& limits = owner_->herd.limits;
    detail::line_reader reader;
    peer::message_reader messages;
    for (;;) {
        while (auto line = reader.next_line()) {
            if (line->size() > limits.peer_line_bytes) {
                note_down("a line of over " + std::to_string(limits.peer_line_bytes) + " bytes");
                co_return;
            }
            heard_ = clock::now();
            if (*line == peer::pong_line) {
                continue;
            }
            if (peer::is_tree_line(*line)) {
                const auto answer = peer::parse_tree_line(*line);
                if (!answer || answer->kind != peer::tree_line_kind::broadcast) {
                    note_down("not an answer to BROADCAST: " + escape_for_log(*line));
                    co_return;
                }
                joined_tree(answer->tree);
                continue;
            }
            auto fed = messages.feed(*line);
            if (!fed.ok) {
                note_down("not a reconciliation message: " + escape_for_log(*line));
                co_return;
            }
            if (fed.message) {
                answers_.push_back(std::move(*fed.message));
                wake();
            }
        }
        if (reader.pending() > limits.peer_line_bytes) {
            note_down("a line of over " + std::to_string(limits.peer_line_bytes) + " bytes");
            co_return;
        }
        auto space = reader.prepare();
        auto [ec, n] = co_await stream_->async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
        reader.commit(n);
        if (ec) {
            co_return;
        }
        heard_ = clock::now();
        wake();
    }
}

bool peer_link::draining(clock::time_point now)
{
    // Bytes the neighbour's kernel has acknowledged, and what is still
    // queued on this side: acknowledgements that go on while a backlog of
    // at least a piece waits mean the neighbour reads. A stopped one stops
    // acknowledging once its receive buffer is full, and an idle link's
    // PINGs are too short a backlog to count, so neither is kept alive.
    // SIOCOUTQ: what this side's kernel still holds, unsent or unacknowledged.
    int queued = 0;
    // Over TLS the kernel holds records' bytes, a little more than the
    // lines they carry: the count errs towards less acknowledged.
    if (::ioctl(stream_->socket().native_handle(), SIOCOUTQ, &queued) != 0 || queued < 0) {
        return false;
    }
    const std::uint64_t acked = written_ - std::min<std::uint64_t>(written_, static_cast<std::uint64_t>(queued));
    const bool progressed = acked > acked_;
    acked_ = acked;
    if (!progressed) {
        return false;
    }
    if (static_cast<std::size_t>(queued) >= backlog_bytes) {
        drained_ = now;
        return true;
    }
    // The tail of a backlog: with less than a piece queued the PONG still
    // waits behind it and the neighbour's own receive buffer. If the last
    // sign of life was this check seeing the backlog go down, and nothing
    // was heard since, the neighbour read on through it: one more
    // peer_timeout, once.
    return drained_ == heard_;
}

asio::awaitable<bool> peer_link::send(const std::string& bytes)
{
    // A neighbour that takes nothing for peer_timeout is hung or gone: the
    // link closes rather than wait on it (its records are reconciled).
    const auto limit = owner_->herd.peer_timeout;
    auto write = detail::write_bytes(*stream_, bytes, limit);
    const bool written = co_await std::move(write);
    if (written) {
        written_ += bytes.size();
        co_return true;
    }
    note_down(fmt::format("a write took over {} ms", owner_->herd.peer_timeout.count()));
    co_return false;
}

asio::awaitable<bool> peer_link::send_message(const peer::reconcile_message& message)
{
    std::string bytes;
    for (const auto& line : peer::format_message(message)) {
        bytes += line;
        bytes += '\n';
    }
    owner_->stats.reconcile_records_sent += message.records.size();
    const bool sent = co_await send(bytes);
    co_return sent;
}

void peer_link::start_reconciliation()
{
    repairing_ = outbox_.start_repair();
    if (!view_) {
        auto* owner = owner_.get();
        const std::string from = neighbour_.name;
        view_ = std::make_unique<peer::store_view>(owner->core.store, [owner, from](std::string_view line) {
            ++owner->stats.reconcile_records_received;
            receive_record(*owner, line, from);
        });
    }
    reconciling_ = std::make_unique<peer::reconciliation>(*view_);
}

void peer_link::finish_reconciliation()
{
    reconciling_.reset();
    ++owner_->stats.reconciliations;
    if (repairing_ > 0) {
        owner_->log->info("peer link to {}: reconciled, repairing {} records not queued", neighbour_.name, repairing_);
        repairing_ = 0;
    }
}

} // namespace herd
