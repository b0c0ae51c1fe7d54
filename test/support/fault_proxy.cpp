#include "support/fault_proxy.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <deque>
#include <future>
#include <list>
#include <string>

namespace herd::test {

namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

enum class mode_kind { pass, delay, throttle, black_hole, cut };

struct mode {
    mode_kind kind = mode_kind::pass;
    std::chrono::milliseconds delay{0};
    std::uint64_t rate = 0; // bytes a second, each way
};

// A timer that never expires by itself: waiting on it is waiting for
// notify(), as a condition variable would (Asio's chat_server does the same).
class signal {
public:
    explicit signal(const asio::any_io_executor& ex) : timer_(ex, clock_type::time_point::max()) {}
    asio::awaitable<void> wait()
    {
        boost::system::error_code ignored;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    // Waits for notify() or until `until`, whichever is first.
    asio::awaitable<void> wait_until(clock_type::time_point until)
    {
        asio::steady_timer t(timer_.get_executor(), until);
        waiting_deadline_ = &t;
        boost::system::error_code ignored;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        waiting_deadline_ = nullptr;
    }
    void notify()
    {
        timer_.cancel();
        if (waiting_deadline_ != nullptr) {
            waiting_deadline_->cancel();
        }
    }

private:
    asio::steady_timer timer_;
    asio::steady_timer* waiting_deadline_ = nullptr;
};

// Bytes read and not yet forwarded, bounded so that a slow or dead
// direction pushes back on its sender instead of filling the proxy.
constexpr std::size_t queue_cap = 1 << 20;
constexpr std::size_t piece = 16 * 1024;

struct direction {
    explicit direction(const asio::any_io_executor& ex) : to_reader(ex), to_writer(ex) {}
    std::deque<std::pair<clock_type::time_point, std::string>> queue;
    std::size_t queued = 0;
    bool ended = false;
    signal to_reader;
    signal to_writer;
};

struct connection {
    connection(tcp::socket in, const asio::any_io_executor& ex) : client(std::move(in)), server(ex), up(ex), down(ex) {}
    tcp::socket client;
    tcp::socket server;
    direction up;   // client to server
    direction down; // server to client
    void close()
    {
        boost::system::error_code ignored;
        client.close(ignored);
        server.close(ignored);
        for (auto* d : {&up, &down}) {
            d->ended = true;
            d->to_reader.notify();
            d->to_writer.notify();
        }
    }
};

void rethrow(const std::exception_ptr& e)
{
    if (e) {
        std::rethrow_exception(e);
    }
}

} // namespace

struct fault_proxy::state : std::enable_shared_from_this<fault_proxy::state> {
    state(const asio::any_io_executor& ex, tcp::endpoint to)
        : executor(ex), acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), target(to),
          mode_changed(ex)
    {
    }

    asio::any_io_executor executor;
    tcp::acceptor acceptor;
    tcp::endpoint target;
    mode current;
    signal mode_changed; // notified on every change, so waiting pieces look again
    std::list<std::weak_ptr<connection>> connections;
    std::atomic<std::uint64_t> forwarded{0};
    std::atomic<std::uint64_t> accepted{0};
    bool stopped = false;

    void set(mode m)
    {
        current = m;
        mode_changed.notify();
        for (auto it = connections.begin(); it != connections.end();) {
            auto c = it->lock();
            if (!c) {
                it = connections.erase(it);
                continue;
            }
            if (m.kind == mode_kind::cut) {
                c->close();
            } else {
                for (auto* d : {&c->up, &c->down}) {
                    d->to_reader.notify();
                    d->to_writer.notify();
                }
            }
            ++it;
        }
    }

    asio::awaitable<void> accept_loop([[maybe_unused]] std::shared_ptr<state> self)
    {
        for (;;) {
            boost::system::error_code ec;
            tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec || stopped) {
                co_return;
            }
            ++accepted;
            if (current.kind == mode_kind::cut) {
                socket.close(ec);
                continue;
            }
            auto c = std::make_shared<connection>(std::move(socket), executor);
            connections.push_back(c);
            asio::co_spawn(executor, relay(self, c), rethrow);
        }
    }

    asio::awaitable<void> relay(std::shared_ptr<state> self, std::shared_ptr<connection> c)
    {
        boost::system::error_code ec;
        co_await c->server.async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            c->close();
            co_return;
        }
        // A wire passes each write on as it comes: with Nagle's algorithm a
        // small record would wait for the last one's acknowledgement, 40 ms
        // of delayed ACK, on every path through a proxy.
        c->client.set_option(tcp::no_delay(true), ec);
        c->server.set_option(tcp::no_delay(true), ec);
        // Each coroutine keeps the state alive: `this` alone would not.
        asio::co_spawn(executor, read_into(self, c, c->client, c->up), rethrow);
        asio::co_spawn(executor, write_from(self, c, c->up, c->server), rethrow);
        asio::co_spawn(executor, read_into(self, c, c->server, c->down), rethrow);
        asio::co_spawn(executor, write_from(self, c, c->down, c->client), rethrow);
    }

    // Reads what `from` sends into `d`'s queue, unless the link is a black
    // hole or the queue is full.
    asio::awaitable<void> read_into([[maybe_unused]] std::shared_ptr<state> self, std::shared_ptr<connection> c,
                                    tcp::socket& from, direction& d)
    {
        std::string buffer(piece, '\0');
        while (!d.ended) {
            if (current.kind == mode_kind::black_hole || d.queued >= queue_cap) {
                co_await d.to_reader.wait();
                continue;
            }
            boost::system::error_code ec;
            const std::size_t n =
                co_await from.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                break;
            }
            d.queue.emplace_back(clock_type::now(), buffer.substr(0, n));
            d.queued += n;
            d.to_writer.notify();
        }
        c->close();
    }

    // Forwards `d`'s queue to `to` as the mode allows.
    asio::awaitable<void> write_from([[maybe_unused]] std::shared_ptr<state> self, std::shared_ptr<connection> c,
                                     direction& d, tcp::socket& to)
    {
        clock_type::time_point allowance_from = clock_type::now(); // throttle: when the next byte may go
        while (!d.ended) {
            if (d.queue.empty() || current.kind == mode_kind::black_hole) {
                co_await d.to_writer.wait();
                continue;
            }
            auto& [arrived, bytes] = d.queue.front();
            const auto now = clock_type::now();
            if (current.kind == mode_kind::delay && now < arrived + current.delay) {
                co_await d.to_writer.wait_until(arrived + current.delay);
                continue;
            }
            std::size_t n = bytes.size();
            if (current.kind == mode_kind::throttle) {
                if (now < allowance_from) {
                    co_await d.to_writer.wait_until(allowance_from);
                    continue;
                }
                // A tenth of a second's worth at a time, so the rate holds
                // over short spans too.
                n = std::min<std::size_t>(n, std::max<std::uint64_t>(1, current.rate / 10));
                allowance_from =
                    std::max(allowance_from, now - std::chrono::milliseconds(100)) +
                    std::chrono::nanoseconds(n * 1'000'000'000ULL / std::max<std::uint64_t>(1, current.rate));
            }
            boost::system::error_code ec;
            const auto out = asio::buffer(bytes.data(), n);
            co_await asio::async_write(to, out, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                break;
            }
            forwarded += n;
            d.queued -= n;
            if (n == bytes.size()) {
                d.queue.pop_front();
            } else {
                bytes.erase(0, n);
            }
            d.to_reader.notify();
        }
        c->close();
    }
};

fault_proxy::fault_proxy(const asio::any_io_executor& executor, tcp::endpoint target)
    : state_(std::make_shared<state>(executor, target)), port_(state_->acceptor.local_endpoint().port()),
      forwarded_(state_->forwarded), connections_(state_->accepted)
{
    asio::co_spawn(executor, state_->accept_loop(state_), rethrow);
}

fault_proxy::~fault_proxy()
{
    // The relay's coroutines hold the state; closing everything lets them end.
    asio::dispatch(state_->executor, [s = state_] {
        s->stopped = true;
        boost::system::error_code ignored;
        s->acceptor.close(ignored);
        s->set(mode{mode_kind::cut});
    });
}

namespace {

void post_mode(const std::shared_ptr<fault_proxy::state>& s, mode m)
{
    asio::dispatch(s->executor, [s, m] { s->set(m); });
}

} // namespace

void fault_proxy::pass()
{
    post_mode(state_, {mode_kind::pass});
}
void fault_proxy::delay(std::chrono::milliseconds d)
{
    post_mode(state_, {mode_kind::delay, d});
}
void fault_proxy::throttle(std::uint64_t bytes_per_second)
{
    post_mode(state_, {mode_kind::throttle, {}, bytes_per_second});
}
void fault_proxy::black_hole()
{
    post_mode(state_, {mode_kind::black_hole});
}
void fault_proxy::cut()
{
    post_mode(state_, {mode_kind::cut});
}

proxy_host::proxy_host() : work_(io_.get_executor())
{
    auto ran = std::make_shared<std::promise<void>>();
    ran_ = ran->get_future();
    thread_ = std::thread([this, ran] {
        io_.run();
        ran->set_value();
    });
}

proxy_host::~proxy_host()
{
    // Each proxy closes its sockets on the loop; once they have, nothing is
    // left to run and the loop returns. A relay that still hangs on is not
    // waited for past a few seconds.
    proxies_.clear();
    work_.reset();
    if (ran_.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        io_.stop();
    }
    thread_.join();
}

fault_proxy& proxy_host::add(std::uint16_t target_port)
{
    const tcp::endpoint target(asio::ip::make_address("127.0.0.1"), target_port);
    proxies_.push_back(std::make_unique<fault_proxy>(io_.get_executor(), target));
    return *proxies_.back();
}

} // namespace herd::test
