#include "peer/peer_link.hpp"

#include "async/resolve.hpp"
#include "async/within.hpp"
#include "herd/log.hpp"
#include "peer/peer_protocol.hpp"
#include "protocol/line_io.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

namespace {
constexpr auto handshake_time_limit = std::chrono::seconds(2);
constexpr std::size_t queue_capacity = 4096;
constexpr std::size_t max_batch_bytes = std::size_t{64} * 1024;
} // namespace

peer_link::peer_link(std::shared_ptr<server::state> owner, const server_config& neighbour)
    : owner_(std::move(owner)), neighbour_(neighbour), queue_(owner_->executor, queue_capacity),
      socket_(owner_->executor), retry_(owner_->executor)
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
    queue_.close();
    retry_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
}

void peer_link::offer(const std::shared_ptr<const std::string>& at_line)
{
    if (queue_.try_send(boost::system::error_code{}, at_line)) {
        ++owner_->stats.peer_records_queued;
    } else {
        ++owner_->stats.peer_records_dropped;
        owner_->log->warn("peer link to {}: queue full, dropped {}", neighbour_.name, escape_for_log(*at_line));
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
    using namespace asio::experimental::awaitable_operators;
    std::shared_ptr<const std::string> pending;
    while (!stopped_) {
        if (co_await connect()) {
            last_failure_.clear();
            up_ = true;
            since_ = std::chrono::system_clock::now();
            owner_->log->info("peer link to {} open", neighbour_.name);
            const bool caught_up = !catch_up_ || co_await send_store();
            if (caught_up) {
                auto send = send_records(std::exchange(pending, nullptr));
                auto watch = watch_for_close();
                co_await (std::move(send) || std::move(watch));
            }
            boost::system::error_code ignored;
            socket_.close(ignored);
            up_ = false;
            since_ = std::chrono::system_clock::now();
            if (stopped_) {
                break;
            }
            if (!caught_up) {
                continue; // the link dropped during catch-up: dial again at once
            }
            owner_->log->info("peer link to {} closed", neighbour_.name);
            last_failure_ = "closed";
        } else if (pending) {
            ++owner_->stats.peer_records_dropped;
            owner_->log->warn("peer link to {} down: dropped {}", neighbour_.name, escape_for_log(*pending));
            pending.reset();
        }
        if (stopped_) {
            break;
        }
        // Down: try again when there is a record to send, or after the
        // interval so a neighbour that comes back is linked within it.
        retry_.expires_after(owner_->options.reconnect_interval);
        auto receive = queue_.async_receive(use_tuple);
        auto wait = retry_.async_wait(use_tuple);
        auto woken = co_await (std::move(receive) || std::move(wait));
        if (woken.index() == 0) {
            auto [ec, record] = std::get<0>(std::move(woken));
            if (ec) {
                break; // the queue was closed: stopping
            }
            pending = std::move(record);
        }
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

    detail::line_reader reader;
    auto challenge_line = co_await detail::read_line(socket_, reader, handshake_time_limit, peer::max_handshake_line);
    auto challenge = challenge_line ? peer::parse_challenge(*challenge_line) : std::nullopt;
    if (!challenge) {
        note_down("no valid challenge from the peer port");
        co_return false;
    }
    if (challenge->acceptor != neighbour_.name) {
        note_down("the peer port answers as " + escape_for_log(challenge->acceptor));
        co_return false;
    }
    const std::string nonce = peer::make_nonce();
    const auto& secret = owner_->herd.secret;
    const std::string proof =
        peer::make_proof(secret, peer::role::dialer, neighbour_.name, me, challenge->nonce, nonce);
    std::string hello = peer::format_hello(me, nonce, proof);
    if (!co_await detail::write_line(socket_, std::move(hello), handshake_time_limit)) {
        note_down("could not send hello");
        co_return false;
    }
    auto welcome_line = co_await detail::read_line(socket_, reader, handshake_time_limit, peer::max_handshake_line);
    auto welcome = welcome_line ? peer::parse_welcome(*welcome_line) : std::nullopt;
    if (!welcome) {
        note_down(welcome_line ? "refused: " + escape_for_log(*welcome_line) : "no answer to hello");
        ++owner_->stats.peer_links_refused;
        co_return false;
    }
    const std::string expected =
        peer::make_proof(secret, peer::role::acceptor, neighbour_.name, me, challenge->nonce, nonce);
    if (!peer::proofs_equal(expected, welcome->proof)) {
        note_down("its proof of membership does not match (is the same secret set on both?)");
        ++owner_->stats.peer_links_refused;
        co_return false;
    }
    // The neighbour's store differs from ours: it may have missed records
    // while it or this link was down.
    const auto& store = owner_->core.store;
    const peer::store_summary ours{store.size(), store.digest()};
    catch_up_ = owner_->herd.catch_up && welcome->store && *welcome->store != ours;
    co_return true;
}

asio::awaitable<void> peer_link::send_records(std::shared_ptr<const std::string> first)
{
    std::string batch;
    std::size_t count = 0;
    auto add = [&](const std::shared_ptr<const std::string>& record) {
        batch += *record;
        batch += '\n';
        ++count;
    };
    if (first) {
        add(first);
    }
    for (;;) {
        if (batch.empty()) {
            auto [ec, record] = co_await queue_.async_receive(use_tuple);
            if (ec) {
                co_return;
            }
            add(record);
        }
        // A burst of records goes out in one write.
        while (batch.size() < max_batch_bytes &&
               queue_.try_receive([&](boost::system::error_code ec, std::shared_ptr<const std::string> record) {
                   if (!ec) {
                       add(record);
                   }
               })) {
        }
        auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(batch), use_tuple);
        if (ec) {
            owner_->stats.peer_records_dropped += count;
            owner_->log->warn("peer link to {}: {} records lost: {}", neighbour_.name, count, ec.message());
            co_return;
        }
        owner_->stats.peer_records_sent += count;
        batch.clear();
        count = 0;
    }
}

asio::awaitable<bool> peer_link::send_store()
{
    // A piece of at most max_batch_bytes at a time, each written before the
    // next is taken, with a turn of the loop between them: a store of
    // millions of clients is neither copied whole nor sent while every other
    // connection waits. Each piece resumes after the last client ID sent
    // (location_store::for_each_after), so the store may change between
    // pieces: no client is skipped or sent twice, and a record stored
    // meanwhile for a client already passed was also queued for this link
    // by store_and_propagate, and goes out after the catch-up.
    std::string after;
    std::string piece;
    std::size_t count = 0;
    for (bool more = true; more;) {
        piece.clear();
        std::size_t in_piece = 0;
        more = false;
        owner_->core.store.for_each_after(after, [&](std::string_view client, const location_record& r) {
            piece += r.at_line;
            piece += '\n';
            ++in_piece;
            if (piece.size() < max_batch_bytes) {
                return true;
            }
            after = client;
            more = true;
            return false;
        });
        if (!piece.empty()) {
            auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(piece), use_tuple);
            if (ec) {
                owner_->log->warn("peer link to {}: catch-up failed after {} records: {}", neighbour_.name, count,
                                  ec.message());
                co_return false;
            }
            count += in_piece;
            owner_->stats.catch_up_records_sent += in_piece;
        }
        // A write the socket took at once does not wait for the loop: yield
        // to it anyway, so the clients' reads and replies run between pieces.
        co_await asio::post(owner_->executor, asio::use_awaitable);
        if (stopped_) {
            co_return false;
        }
    }
    owner_->log->info("peer link to {}: stores differed, sent all {} records", neighbour_.name, count);
    co_return true;
}

asio::awaitable<void> peer_link::watch_for_close()
{
    // The acceptor sends nothing after WELCOME; reading is how we learn at
    // once that it went away, rather than at the next write.
    std::array<char, 256> sink{};
    for (;;) {
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(sink), use_tuple);
        if (ec) {
            co_return;
        }
    }
}

} // namespace herd
