// GET /v1/stream: a subscriber's connection, two coroutines on one
// WebSocket. The reader takes its subscribe and unsubscribe messages; the
// writer drains its queue, which the hub fills as records are stored. The
// hub never waits for either, so a slow subscriber slows nobody: its queue
// overflows, and the writer closes it with 1008.
#include "http/http_stream.hpp"
#include "http/stream_hub.hpp"
#include "http/websocket_sessions.hpp"

#include "async/within.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>
#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using detail::use_tuple;
using detail::within;

namespace {

// Keeps a subscriber in the hub while its connection is served.
class joined {
public:
    joined(stream_hub& hub, stream_subscriber& s) : hub_(hub), s_(s) { hub_.join(s_); }
    ~joined() { hub_.leave(s_); }
    joined(const joined&) = delete;
    joined& operator=(const joined&) = delete;

private:
    stream_hub& hub_;
    stream_subscriber& s_;
};

void answer(stream_subscriber& subscriber, const stream::request& request)
{
    if (const auto* s = std::get_if<stream::subscription>(&request)) {
        const std::string id = s->id;
        subscriber.push(subscriber.add(*s) ? stream::subscribed_message(id)
                                           : stream::error_message("a subscription named " + id + " is open"));
    } else if (const auto* u = std::get_if<stream::unsubscribe>(&request)) {
        subscriber.push(subscriber.remove(u->id) ? stream::unsubscribed_message(u->id)
                                                 : stream::error_message("no subscription named " + u->id));
    } else {
        subscriber.push(stream::error_message(std::get<stream::refusal>(request).reason));
    }
}

template <typename Stream>
asio::awaitable<void> read_requests(websocket::stream<Stream>& ws, stream_subscriber& subscriber)
{
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec) {
            break;
        }
        answer(subscriber, stream::parse_request(beast::buffers_to_string(buffer.data())));
        buffer.consume(buffer.size());
    }
    subscriber.finish();
}

// Up to this many queued events are written under one send_timeout: a
// deadline each would cost a timer and a coroutine per event, which at a
// thousand subscribers is most of the work.
constexpr std::size_t write_batch = 64;

// Writes what is queued, up to write_batch events, a message each; false
// if the connection failed.
template <typename Stream>
asio::awaitable<bool> write_queued(websocket::stream<Stream>& ws, stream_subscriber& subscriber, server_stats& stats)
{
    for (std::size_t n = 0; n < write_batch; ++n) {
        auto message = subscriber.queue().pop();
        if (!message) {
            break;
        }
        auto [ec, written] = co_await ws.async_write(asio::buffer(*message), use_tuple);
        if (ec) {
            co_return false;
        }
        ++stats.stream_events_sent;
    }
    co_return true;
}

template <typename Stream>
asio::awaitable<void> write_events(std::shared_ptr<server::state> self, websocket::stream<Stream>& ws,
                                   stream_subscriber& subscriber, const std::string& client)
{
    const auto limit = self->herd.limits.send_timeout;
    boost::system::error_code ignored;
    for (;;) {
        if (!subscriber.queue().empty()) {
            ws.text(true);
            auto write = write_queued(ws, subscriber, self->stats);
            const auto written = co_await within(std::move(write), limit);
            if (!written || !*written) {
                break; // gone, or took too little for send_timeout
            }
            continue;
        }
        if (subscriber.queue().overflowed()) {
            const auto bound = subscriber.queue().bound();
            self->log->warn("stream {} closed: its queue passed {} bytes", client, bound);
            const websocket::close_reason reason(websocket::close_code::policy_error,
                                                 fmt::format("stream queue over {} bytes: reading too slowly", bound));
            auto close = ws.async_close(reason, use_tuple);
            co_await within(std::move(close), limit);
            break;
        }
        if (subscriber.finished()) {
            break;
        }
        co_await subscriber.wake.async_wait(use_tuple);
    }
    // The reader is waiting for a message: this ends it.
    beast::get_lowest_layer(ws).socket().close(ignored);
}

} // namespace

template <typename Stream>
asio::awaitable<void> serve_stream(std::shared_ptr<server::state> self, websocket::stream<Stream>& ws,
                                   const std::string& client)
{
    stream_subscriber subscriber(self->executor, self->herd.limits.stream_queue_bytes);
    const joined in(self->streams, subscriber);
    self->log->info("stream {} open", client);
    auto reader = asio::co_spawn(self->executor, read_requests(ws, subscriber), asio::deferred);
    auto writer = asio::co_spawn(self->executor, write_events(self, ws, subscriber, client), asio::deferred);
    auto both = asio::experimental::make_parallel_group(std::move(reader), std::move(writer));
    auto done = both.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    auto [order, read_error, write_error] = co_await std::move(done);
    (void)order;
    self->log->info("stream {} done", client);
    if (read_error) {
        std::rethrow_exception(read_error);
    }
    if (write_error) {
        std::rethrow_exception(write_error);
    }
}

template asio::awaitable<void> serve_stream(std::shared_ptr<server::state>, websocket::stream<plain_http_stream>&,
                                            const std::string&);
template asio::awaitable<void> serve_stream(std::shared_ptr<server::state>, websocket::stream<tls_http_stream>&,
                                            const std::string&);

} // namespace herd
