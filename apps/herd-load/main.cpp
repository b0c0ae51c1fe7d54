// herd-load: drives one server over TCP with N connections, each sending
// IAMAT, WHATSAT, a mix, or a one-line command (Redis's inline SET, or any
// line server), one at a time or pipelined K deep, and reports throughput
// and latency percentiles. The same commands go to Herd's HTTP port as
// HTTP/1.1 requests or as WebSocket messages on /v1/lines (--protocol), and
// --subscribers holds /v1/stream WebSockets open beside the load and counts
// the events they receive. One io_context, one coroutine per connection:
// the same shape as the server it measures, so neither side has an unfair
// advantage on a two-core machine.
#include "histogram.hpp"
#include "workload.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <iostream>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace po = boost::program_options;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using herd::load::request_kind;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

enum class mode { iamat, whatsat, mix, set, line, idle };

// How the commands travel: lines on the line port, HTTP/1.1 requests on the
// HTTP port (POST /v1/iamat, GET /v1/whatsat), or WebSocket messages on its
// /v1/lines.
enum class protocol { line, http, ws };

struct settings {
    std::string host = "127.0.0.1";
    std::string port;
    int connections = 64;
    int depth = 1;
    mode command = mode::iamat;
    std::string command_name = "iamat";
    int whatsat_every = 10; // mix: one WHATSAT in this many commands
    bool distinct_ids = true;
    std::string id_prefix;
    double duration = 5.0;
    double warmup = 1.0;
    std::uint64_t count = 0; // when set, send this many and stop; no warm-up
    double rate = 0;         // commands per second over all connections; 0: as fast as replies come
    bool spin = false;       // never sleep: see the --spin help
    bool json = false;
    protocol transport = protocol::line;
    std::string protocol_name = "line";
    int subscribers = 0;     // /v1/stream WebSockets held open during the load
    std::string stream_port; // their HTTP port

    std::string host_header(const std::string& on_port) const { return host + ":" + on_port; }
};

using reply = herd::load::reply_reader::reply;

// One connection's transport, under the one drive() loop: requests are
// added, then flushed in one go; replies are read and framed.
class connection {
public:
    virtual ~connection() = default;
    // Anything to say before the first request (a WebSocket's handshake).
    virtual asio::awaitable<error_code> open() { co_return error_code{}; }
    virtual void add(request_kind kind, std::string_view client, herd::load::location where, std::int64_t time_ns) = 0;
    virtual asio::awaitable<error_code> flush() = 0;
    // Reads at least a little more of the replies.
    virtual asio::awaitable<error_code> read() = 0;
    // The next whole reply, if it has all come.
    virtual std::optional<reply> next(request_kind kind) = 0;
    // Drops what next() has returned; once per read, not per reply.
    virtual void compact() = 0;
    virtual tcp::socket& socket() = 0;
};

// The line port, or HTTP: bytes both ways, framed by `Framing`.
template <typename Framing> class byte_connection final : public connection {
public:
    // The framing is made in place: Beast's parser, in the HTTP one, does not move.
    template <typename... Args>
    explicit byte_connection(tcp::socket socket, Args&&... framing)
        : socket_(std::move(socket)), framing_{std::forward<Args>(framing)...}
    {
    }

    void add(request_kind kind, std::string_view client, herd::load::location where, std::int64_t time_ns) override
    {
        framing_.request(out_, kind, client, where, time_ns);
    }
    asio::awaitable<error_code> flush() override
    {
        auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out_), use_tuple);
        out_.clear();
        co_return ec;
    }
    asio::awaitable<error_code> read() override
    {
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer_), use_tuple);
        framing_.reader.append(std::string_view(buffer_.data(), n));
        co_return ec;
    }
    std::optional<reply> next(request_kind kind) override { return framing_.next(kind); }
    void compact() override { framing_.reader.compact(); }
    tcp::socket& socket() override { return socket_; }

private:
    tcp::socket socket_;
    Framing framing_;
    std::string out_;
    std::vector<char> buffer_ = std::vector<char>(std::size_t{64} * 1024);
};

struct line_framing {
    herd::load::reply_reader reader;
    void request(std::string& out, request_kind kind, std::string_view client, herd::load::location where,
                 std::int64_t time_ns)
    {
        herd::load::append_request(out, kind, client, where, time_ns);
    }
    std::optional<reply> next(request_kind kind) { return reader.next(kind); }
};

struct http_framing {
    explicit http_framing(std::string host_header) : host(std::move(host_header)) {}
    std::string host;
    herd::load::http_reply_reader reader;
    void request(std::string& out, request_kind kind, std::string_view client, herd::load::location where,
                 std::int64_t time_ns)
    {
        herd::load::append_http_request(out, kind, client, where, time_ns, host);
    }
    std::optional<reply> next(request_kind) { return reader.next(); }
};

// /v1/lines: a message a line each way. A reply is the line port's bytes,
// so the line port's framing reads it.
class ws_connection final : public connection {
public:
    ws_connection(tcp::socket socket, std::string host) : ws_(std::move(socket)), host_(std::move(host)) {}

    asio::awaitable<error_code> open() override
    {
        auto [ec] = co_await ws_.async_handshake(host_, "/v1/lines", use_tuple);
        ws_.text(true);
        co_return ec;
    }
    void add(request_kind kind, std::string_view client, herd::load::location where, std::int64_t time_ns) override
    {
        herd::load::append_request(out_.emplace_back(), kind, client, where, time_ns);
    }
    asio::awaitable<error_code> flush() override
    {
        error_code failed;
        for (const auto& message : out_) {
            auto [ec, n] = co_await ws_.async_write(asio::buffer(message), use_tuple);
            if (ec) {
                failed = ec;
                break;
            }
        }
        out_.clear();
        co_return failed;
    }
    asio::awaitable<error_code> read() override
    {
        auto [ec, n] = co_await ws_.async_read(buffer_, use_tuple);
        reader_.append(beast::buffers_to_string(buffer_.data()));
        buffer_.consume(buffer_.size());
        co_return ec;
    }
    std::optional<reply> next(request_kind kind) override { return reader_.next(kind); }
    void compact() override { reader_.compact(); }
    tcp::socket& socket() override { return beast::get_lowest_layer(ws_); }

private:
    websocket::stream<tcp::socket> ws_;
    std::string host_;
    std::vector<std::string> out_;
    beast::flat_buffer buffer_;
    herd::load::reply_reader reader_;
};

std::unique_ptr<connection> make_connection(const settings& cfg, tcp::socket socket)
{
    switch (cfg.transport) {
    case protocol::http:
        return std::make_unique<byte_connection<http_framing>>(std::move(socket), cfg.host_header(cfg.port));
    case protocol::ws:
        return std::make_unique<ws_connection>(std::move(socket), cfg.host_header(cfg.port));
    case protocol::line:
        break;
    }
    return std::make_unique<byte_connection<line_framing>>(std::move(socket));
}

// A /v1/stream subscriber to every record, held open beside the load.
struct subscriber {
    explicit subscriber(tcp::socket socket) : ws(std::move(socket)) {}
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
    std::uint64_t received = 0; // events, the whole run long
    bool gone = false;          // its connection ended
    bool settled = false;       // has every event it will get, or is gone
};

struct fan_out {
    std::vector<std::unique_ptr<subscriber>> subscribers;
    // Events received inside the measured window, over every subscriber.
    std::uint64_t events = 0;
    std::uint64_t received = 0; // all events, the whole run long
    // From the client's clock in the IAMAT (the event's "time") to receipt.
    herd::load::latency_histogram lag;
    std::uint64_t closed = 0;      // by the server before the end
    std::uint64_t closed_1008 = 0; // of them, for reading too slowly
    std::uint64_t missing = 0;     // events some subscriber never got
    // Once the load is over: the events each subscriber must have, one per
    // record stored, and how many have not got them all yet.
    std::optional<std::uint64_t> expected;
    std::size_t unsettled = 0;
    bool ending = false;
    std::unique_ptr<asio::steady_timer> drained;
};

struct in_flight {
    request_kind kind;
    clock_type::time_point sent; // or when it was due, when paced
};

struct run_state {
    settings cfg;
    clock_type::time_point start;
    clock_type::time_point measure_from;
    clock_type::time_point stop_at;
    clock_type::time_point last_reply;
    std::uint64_t issued = 0;
    // Replies inside the measured window, where the throughput and the
    // latency come from: measured == ok + errors.
    std::uint64_t measured = 0;
    std::uint64_t ok = 0;
    std::uint64_t errors = 0;
    // Replies to commands sent in the warm-up, or arriving after the end.
    std::uint64_t unmeasured = 0;
    std::uint64_t unmeasured_errors = 0;
    std::uint64_t lost = 0; // asked, never answered (the connection broke or the run timed out)
    herd::load::latency_histogram latency;
    // Paced: how long after it could go out each command did, i.e. after it
    // was due and its connection's last reply was in. Herd-load's own
    // lateness, which the latency includes; a slow server does not add to it.
    herd::load::latency_histogram send_lag;
    std::vector<std::unique_ptr<connection>> connections;
    fan_out stream;
    int running = 0;
    std::unique_ptr<asio::steady_timer> deadline;

    bool may_issue(clock_type::time_point now) const { return cfg.count > 0 ? issued < cfg.count : now < stop_at; }

    void record(const herd::load::reply_reader::reply& reply, const in_flight& asked, clock_type::time_point now)
    {
        last_reply = now;
        const bool in_window = cfg.count > 0 || (now >= measure_from && now <= stop_at);
        if (in_window && asked.sent >= measure_from) {
            ++measured;
            ++(reply.ok ? ok : errors);
            latency.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - asked.sent).count()));
        } else {
            ++unmeasured;
            unmeasured_errors += reply.ok ? 0 : 1;
        }
    }
};

clock_type::duration seconds(double s)
{
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

std::int64_t realtime_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One connection's whole life: keep `depth` commands in flight, write all
// that are due in one write, and take every reply that a read completed.
asio::awaitable<void> drive(run_state& run, connection& conn, int index)
{
    const settings& cfg = run.cfg;
    const std::string own_id = cfg.id_prefix + "-" + std::to_string(index);
    std::deque<in_flight> flight;
    bool added = false;
    std::uint64_t seq = 0;
    std::int64_t last_time = 0;
    const herd::load::location where;
    asio::steady_timer pace(conn.socket().get_executor());
    const auto interval = cfg.rate > 0 ? seconds(cfg.connections / cfg.rate) : clock_type::duration::zero();
    // Paced connections are spread evenly over one interval.
    auto next_due = run.start + interval * index / cfg.connections;
    auto free_since = run.start; // when the last reply in flight came

    for (;;) {
        auto now = clock_type::now();
        while (static_cast<int>(flight.size()) < cfg.depth && run.may_issue(now)) {
            auto due = now;
            if (cfg.rate > 0) {
                if (next_due > now) {
                    break;
                }
                // Latency counts from when the command was due, so a slow
                // reply delays the next command without hiding its cost.
                due = next_due;
                next_due += interval;
                if (due >= run.measure_from) {
                    run.send_lag.record(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(now - std::max(due, free_since)).count()));
                }
            }
            request_kind kind = request_kind::iamat;
            switch (cfg.command) {
            case mode::whatsat:
                kind = request_kind::whatsat;
                break;
            case mode::mix:
                kind = seq % static_cast<std::uint64_t>(cfg.whatsat_every) == 0 ? request_kind::whatsat
                                                                                : request_kind::iamat;
                break;
            case mode::set:
                kind = request_kind::set;
                break;
            case mode::line:
                kind = request_kind::line;
                break;
            default:
                break;
            }
            // Each update is newer than the last one for the same ID.
            last_time = std::max(realtime_ns(), last_time + 1);
            const bool own = !cfg.distinct_ids || kind == request_kind::whatsat;
            const std::string id = own ? own_id : own_id + "-" + std::to_string(seq);
            conn.add(kind, id, where, last_time);
            added = true;
            flight.push_back({kind, due});
            ++seq;
            ++run.issued;
        }
        if (added) {
            added = false;
            if (co_await conn.flush()) {
                break;
            }
        }
        if (flight.empty()) {
            if (!run.may_issue(now)) {
                break;
            }
            if (cfg.spin) {
                co_await asio::post(asio::use_awaitable);
            } else {
                pace.expires_at(next_due);
                co_await pace.async_wait(use_tuple);
            }
            continue;
        }
        if (co_await conn.read()) {
            break;
        }
        now = clock_type::now();
        while (!flight.empty()) {
            auto reply = conn.next(flight.front().kind);
            if (!reply) {
                break;
            }
            run.record(*reply, flight.front(), now);
            flight.pop_front();
            free_since = now;
        }
        conn.compact();
    }
    run.lost += flight.size();
}

// WHATSAT needs its client to be known: one IAMAT per connection first,
// answered before the clock starts.
asio::awaitable<bool> introduce(const settings& cfg, connection& conn, int index)
{
    conn.add(request_kind::iamat, cfg.id_prefix + "-" + std::to_string(index), {}, realtime_ns());
    if (co_await conn.flush()) {
        co_return false;
    }
    for (;;) {
        if (co_await conn.read()) {
            co_return false;
        }
        if (auto reply = conn.next(request_kind::iamat)) {
            conn.compact();
            co_return reply->ok;
        }
    }
}

void close_all(run_state& run)
{
    error_code ignored;
    for (auto& c : run.connections) {
        c->socket().close(ignored);
    }
}

void close_subscribers(run_state& run)
{
    run.stream.ending = true;
    error_code ignored;
    for (auto& s : run.stream.subscribers) {
        beast::get_lowest_layer(s->ws).close(ignored);
    }
}

// A subscriber is settled once it has every event the load made, or is
// gone; the last to settle ends the wait for them.
void settle(fan_out& stream, subscriber& s)
{
    if (s.settled || !stream.expected || (s.received < *stream.expected && !s.gone)) {
        return;
    }
    s.settled = true;
    if (--stream.unsettled == 0) {
        stream.drained->cancel();
    }
}

// Opens one subscriber on /v1/stream and subscribes it to every record,
// waiting for the server's {"subscribed":...}.
asio::awaitable<void> subscribe(const settings& cfg, subscriber& s)
{
    auto [hec] = co_await s.ws.async_handshake(cfg.host_header(cfg.stream_port), "/v1/stream", use_tuple);
    if (hec) {
        throw std::runtime_error("the /v1/stream handshake failed: " + hec.message());
    }
    s.ws.text(true);
    const std::string request = R"({"subscribe":{"all":true},"id":"a"})";
    auto [wec, wn] = co_await s.ws.async_write(asio::buffer(request), use_tuple);
    auto [rec, rn] = co_await s.ws.async_read(s.buffer, use_tuple);
    const std::string answer = beast::buffers_to_string(s.buffer.data());
    s.buffer.consume(s.buffer.size());
    if (wec || rec || answer != R"({"subscribed":"a"})") {
        throw std::runtime_error("/v1/stream did not take the subscription: " + (wec   ? wec.message()
                                                                                 : rec ? rec.message()
                                                                                       : answer));
    }
}

// Takes one subscriber's events until its connection ends: counted and
// timed inside the measured window, as replies are.
asio::awaitable<void> listen(run_state& run, subscriber& s)
{
    auto& stream = run.stream;
    for (;;) {
        auto [ec, n] = co_await s.ws.async_read(s.buffer, use_tuple);
        if (ec) {
            if (!stream.ending) {
                ++stream.closed;
                stream.closed_1008 += s.ws.reason().code == websocket::close_code::policy_error ? 1 : 0;
                std::cerr << "herd-load: a subscriber was closed: " << ec.message() << " " << s.ws.reason().reason
                          << "\n";
            }
            break;
        }
        const auto now = clock_type::now();
        ++s.received;
        ++stream.received;
        if (now >= run.measure_from && now <= run.stop_at) {
            ++stream.events;
            const std::string event = beast::buffers_to_string(s.buffer.data());
            if (const auto sent = herd::load::event_time_ns(event)) {
                stream.lag.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, realtime_ns() - *sent)));
            }
        }
        s.buffer.consume(s.buffer.size());
        settle(stream, s);
    }
    s.gone = true;
    settle(stream, s);
}

// After the load: every subscriber should get one event per record stored
// (each IAMAT answered with an AT line stores one: each is newer than the
// last for its client). Waits for them while they keep coming (a server
// behind the load may still be sending for long after it), giving up after
// 10 s without one, then closes them all.
asio::awaitable<void> drain(run_state& run)
{
    auto& stream = run.stream;
    stream.expected = run.ok + run.unmeasured - run.unmeasured_errors;
    stream.unsettled = stream.subscribers.size();
    stream.drained->expires_after(std::chrono::seconds(10));
    for (auto& s : stream.subscribers) {
        settle(stream, *s);
    }
    for (auto seen = stream.received; stream.unsettled > 0;) {
        co_await stream.drained->async_wait(use_tuple);
        if (stream.received == seen) {
            break;
        }
        seen = stream.received;
        stream.drained->expires_after(std::chrono::seconds(10));
    }
    for (auto& s : stream.subscribers) {
        stream.missing += s->received < *stream.expected ? *stream.expected - s->received : 0;
    }
    close_subscribers(run);
}

void report_failure(std::string_view what, std::exception_ptr e)
{
    if (e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& failure) {
            std::cerr << "herd-load: " << what << failure.what() << "\n";
        }
    }
}

// The load is over: its connections close; the subscribers get their last
// events first.
void load_done(run_state& run)
{
    run.deadline->cancel();
    close_all(run);
    if (!run.stream.subscribers.empty()) {
        asio::co_spawn(run.deadline->get_executor(), drain(run),
                       [](std::exception_ptr e) { report_failure("the subscribers failed: ", e); });
    }
}

asio::awaitable<tcp::resolver::results_type> resolve(const settings& cfg, const std::string& port)
{
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [ec, endpoints] = co_await resolver.async_resolve(cfg.host, port, use_tuple);
    if (ec) {
        throw std::runtime_error("cannot resolve " + cfg.host + ": " + ec.message());
    }
    co_return endpoints;
}

asio::awaitable<tcp::socket> connect(const settings& cfg, const tcp::resolver::results_type& endpoints,
                                     const std::string& port, int index)
{
    tcp::socket socket(co_await asio::this_coro::executor);
    auto [ec, ep] = co_await asio::async_connect(socket, endpoints, use_tuple);
    if (ec) {
        throw std::runtime_error("connection " + std::to_string(index + 1) + " to " + cfg.host + ":" + port +
                                 " failed: " + ec.message());
    }
    socket.set_option(tcp::no_delay(true));
    co_return socket;
}

asio::awaitable<void> run_load(run_state& run)
{
    const settings& cfg = run.cfg;
    auto executor = co_await asio::this_coro::executor;
    const auto endpoints = co_await resolve(cfg, cfg.port);
    // One at a time: thousands of simultaneous SYNs would overflow the
    // server's listen backlog and measure TCP's retransmission timer.
    run.connections.reserve(static_cast<std::size_t>(cfg.connections));
    for (int i = 0; i < cfg.connections; ++i) {
        auto socket = co_await connect(cfg, endpoints, cfg.port, i);
        run.connections.push_back(make_connection(cfg, std::move(socket)));
        if (auto ec = co_await run.connections.back()->open()) {
            throw std::runtime_error("the WebSocket handshake of connection " + std::to_string(i + 1) +
                                     " failed: " + ec.message());
        }
    }
    if (cfg.command == mode::whatsat || cfg.command == mode::mix) {
        for (int i = 0; i < cfg.connections; ++i) {
            if (!co_await introduce(cfg, *run.connections[static_cast<std::size_t>(i)], i)) {
                throw std::runtime_error("the server did not answer the first IAMAT with an AT line");
            }
        }
    }
    // Subscribed after the introductions, so that every event they get is
    // the load's.
    run.stream.drained = std::make_unique<asio::steady_timer>(executor);
    tcp::resolver::results_type stream_endpoints;
    if (cfg.subscribers > 0) {
        stream_endpoints = co_await resolve(cfg, cfg.stream_port);
    }
    for (int i = 0; i < cfg.subscribers; ++i) {
        auto socket = co_await connect(cfg, stream_endpoints, cfg.stream_port, i);
        auto& s = *run.stream.subscribers.emplace_back(std::make_unique<subscriber>(std::move(socket)));
        co_await subscribe(cfg, s);
    }
    if (cfg.command == mode::idle) {
        if (cfg.json) {
            std::cout << boost::json::serialize(boost::json::object{{"open", cfg.connections}}) << std::endl;
        } else {
            std::cout << "herd-load: " << cfg.connections << " connections open, idle for " << cfg.duration << " s"
                      << std::endl;
        }
        asio::steady_timer hold(executor, seconds(cfg.duration));
        co_await hold.async_wait(use_tuple);
        close_all(run);
        co_return;
    }

    run.start = clock_type::now();
    run.measure_from = cfg.count > 0 ? run.start : run.start + seconds(cfg.warmup);
    run.stop_at = cfg.count > 0 ? clock_type::time_point::max() : run.measure_from + seconds(cfg.duration);
    // Replies still missing this long after the end are counted as lost.
    run.deadline = std::make_unique<asio::steady_timer>(executor);
    run.deadline->expires_at(cfg.count > 0 ? run.start + std::chrono::minutes(10)
                                           : run.stop_at + std::chrono::seconds(10));
    run.deadline->async_wait([&run](boost::system::error_code ec) {
        if (!ec) {
            close_all(run);
        }
    });
    for (auto& s : run.stream.subscribers) {
        asio::co_spawn(executor, listen(run, *s),
                       [](std::exception_ptr e) { report_failure("a subscriber failed: ", e); });
    }
    run.running = cfg.connections;
    for (int i = 0; i < cfg.connections; ++i) {
        auto& conn = *run.connections[static_cast<std::size_t>(i)];
        asio::co_spawn(executor, drive(run, conn, i), [&run](std::exception_ptr e) {
            report_failure("a connection failed: ", e);
            if (--run.running == 0) {
                load_done(run);
            }
        });
    }
}

std::string format_ms(std::uint64_t ns)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.3f ms", static_cast<double>(ns) / 1e6);
    return text;
}

// `value` with at most `places` decimals and no exponent, trailing zeros
// dropped: Boost.JSON would print 1.0 as 1E0, which people misread and
// shell tools do not take.
std::string decimal(double value, int places)
{
    if (!std::isfinite(value)) {
        return "null";
    }
    char text[400]; // room for any double's integer digits
    std::snprintf(text, sizeof text, "%.*f", places, value);
    std::string out(text);
    if (out.find('.') != std::string::npos) {
        out.erase(out.find_last_not_of('0') + 1);
        if (out.back() == '.') {
            out.pop_back();
        }
    }
    return out == "-0" ? "0" : out;
}

// One JSON object, written field by field in the order given.
class json_object {
public:
    json_object& raw(std::string_view key, const std::string& json)
    {
        text_ += text_.empty() ? "{" : ",";
        text_ += boost::json::serialize(boost::json::string(key));
        text_ += ':';
        text_ += json;
        return *this;
    }
    json_object& text(std::string_view key, std::string_view value)
    {
        return raw(key, boost::json::serialize(boost::json::string(value)));
    }
    json_object& count(std::string_view key, std::uint64_t value) { return raw(key, std::to_string(value)); }
    json_object& number(std::string_view key, double value, int places) { return raw(key, decimal(value, places)); }
    json_object& flag(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
    json_object& object(std::string_view key, const json_object& value) { return raw(key, value.str()); }
    std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

private:
    std::string text_;
};

void report(const run_state& run)
{
    const settings& cfg = run.cfg;
    const double seconds =
        cfg.count > 0 ? std::chrono::duration<double>(run.last_reply - run.start).count() : cfg.duration;
    const double throughput = seconds > 0 ? static_cast<double>(run.measured) / seconds : 0.0;
    const auto& h = run.latency;
    const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    if (cfg.json) {
        // Microseconds to the nanosecond, seconds to the microsecond.
        json_object latency;
        latency.number("p50", us(h.percentile(50)), 3)
            .number("p90", us(h.percentile(90)), 3)
            .number("p99", us(h.percentile(99)), 3)
            .number("p99.9", us(h.percentile(99.9)), 3)
            .number("max", us(h.max()), 3)
            .number("mean", h.mean() / 1e3, 3);
        json_object lag;
        lag.number("p99", us(run.send_lag.percentile(99)), 3).number("max", us(run.send_lag.max()), 3);
        json_object out;
        out.text("target", cfg.host + ":" + cfg.port)
            .text("command", cfg.command_name)
            .count("connections", static_cast<std::uint64_t>(cfg.connections))
            .count("depth", static_cast<std::uint64_t>(cfg.depth))
            .text("ids", cfg.distinct_ids ? "distinct" : "repeated")
            .number("rate", cfg.rate, 3)
            .flag("spin", cfg.spin)
            .number("seconds", seconds, 6)
            .count("replies", run.measured)
            .count("ok", run.ok)
            .count("errors", run.errors)
            .count("lost", run.lost)
            .count("unmeasured", run.unmeasured)
            .count("unmeasured_errors", run.unmeasured_errors)
            .number("throughput", throughput, 1)
            .object("latency_us", latency)
            .object("send_lag_us", lag);
        if (cfg.subscribers > 0) {
            const auto& f = run.stream;
            json_object stream_lag;
            stream_lag.number("p50", us(f.lag.percentile(50)), 3)
                .number("p99", us(f.lag.percentile(99)), 3)
                .number("max", us(f.lag.max()), 3);
            json_object stream;
            stream.count("subscribers", static_cast<std::uint64_t>(cfg.subscribers))
                .count("events", f.events)
                .number("events_per_second", seconds > 0 ? static_cast<double>(f.events) / seconds : 0.0, 1)
                .count("closed", f.closed)
                .count("closed_1008", f.closed_1008)
                .count("missing", f.missing)
                .object("lag_us", stream_lag);
            out.object("stream", stream);
        }
        std::cout << out.str() << std::endl;
        return;
    }
    std::printf("herd-load %s:%s: %s over %s, %d connections, depth %d, %s ids", cfg.host.c_str(), cfg.port.c_str(),
                cfg.command_name.c_str(), cfg.protocol_name.c_str(), cfg.connections, cfg.depth,
                cfg.distinct_ids ? "distinct" : "repeated");
    if (cfg.rate > 0) {
        std::printf(", paced at %.0f/s", cfg.rate);
    }
    std::printf("\n  measured     %.2f s", seconds);
    if (cfg.count == 0) {
        std::printf(" after %.2f s warm-up", cfg.warmup);
    }
    std::printf("\n  replies      %llu ok, %llu errors, %llu lost\n", static_cast<unsigned long long>(run.ok),
                static_cast<unsigned long long>(run.errors), static_cast<unsigned long long>(run.lost));
    if (run.unmeasured > 0) {
        std::printf("  unmeasured   %llu replies in the warm-up or after the end, %llu of them errors\n",
                    static_cast<unsigned long long>(run.unmeasured),
                    static_cast<unsigned long long>(run.unmeasured_errors));
    }
    std::printf("  throughput   %.0f replies/s\n", throughput);
    std::printf("  latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", format_ms(h.percentile(50)).c_str(),
                format_ms(h.percentile(90)).c_str(), format_ms(h.percentile(99)).c_str(),
                format_ms(h.percentile(99.9)).c_str(), format_ms(h.max()).c_str());
    if (cfg.rate > 0) {
        std::printf("  send lag     p99 %s  max %s  (herd-load's own lateness, in the latency)\n",
                    format_ms(run.send_lag.percentile(99)).c_str(), format_ms(run.send_lag.max()).c_str());
    }
    if (cfg.subscribers > 0) {
        const auto& f = run.stream;
        std::printf(
            "  stream       %d subscribers on %s:%s, %llu events, %.0f events/s; %llu closed (%llu with "
            "1008), %llu missing\n",
            cfg.subscribers, cfg.host.c_str(), cfg.stream_port.c_str(), static_cast<unsigned long long>(f.events),
            seconds > 0 ? static_cast<double>(f.events) / seconds : 0.0, static_cast<unsigned long long>(f.closed),
            static_cast<unsigned long long>(f.closed_1008), static_cast<unsigned long long>(f.missing));
        std::printf("  event lag    p50 %s  p99 %s  max %s  (the IAMAT's clock to receipt)\n",
                    format_ms(f.lag.percentile(50)).c_str(), format_ms(f.lag.percentile(99)).c_str(),
                    format_ms(f.lag.max()).c_str());
    }
}

// Thousands of connections need thousands of descriptors.
void raise_descriptor_limit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

mode parse_mode(const std::string& name)
{
    static const std::pair<const char*, mode> modes[] = {{"iamat", mode::iamat}, {"whatsat", mode::whatsat},
                                                         {"mix", mode::mix},     {"set", mode::set},
                                                         {"line", mode::line},   {"idle", mode::idle}};
    for (const auto& [text, m] : modes) {
        if (name == text) {
            return m;
        }
    }
    throw po::error("--command must be iamat, whatsat, mix, set, line or idle, not \"" + name + "\"");
}

protocol parse_protocol(const std::string& name)
{
    static const std::pair<const char*, protocol> protocols[] = {
        {"line", protocol::line}, {"http", protocol::http}, {"ws", protocol::ws}};
    for (const auto& [text, p] : protocols) {
        if (name == text) {
            return p;
        }
    }
    throw po::error("--protocol must be line, http or ws, not \"" + name + "\"");
}

} // namespace

int main(int argc, char** argv)
{
    settings cfg;
    std::string ids = "distinct";
    double whatsat_share = 0.1;
    po::options_description options(
        "herd-load: a load generator for the herd, or any server that answers a line with a line.\n\n"
        "Usage: herd-load --port PORT [options]\n\nOptions");
    options.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
        "host", po::value(&cfg.host)->default_value(cfg.host),
        "server to drive")("port,p", po::value(&cfg.port)->required(), "its port")(
        "connections,c", po::value(&cfg.connections)->default_value(cfg.connections),
        "connections at once")("depth,d", po::value(&cfg.depth)->default_value(cfg.depth),
                               "commands in flight per connection: 1 is request and reply, more is pipelined")(
        "command", po::value(&cfg.command_name)->default_value(cfg.command_name),
        "iamat, whatsat, mix (IAMAT with a share of WHATSAT), set (Redis inline SET), line (IAMAT to a "
        "one-line-reply server), or idle (open the connections and hold them)")(
        "whatsat-share", po::value(&whatsat_share)->default_value(whatsat_share, "0.1"), "mix: the share of WHATSAT")(
        "ids", po::value(&ids)->default_value(ids),
        "distinct: every IAMAT a new client; repeated: one client per connection, updated")(
        "id-prefix", po::value(&cfg.id_prefix), "client IDs start with this (default: load<pid>)")(
        "duration", po::value(&cfg.duration)->default_value(cfg.duration, "5"), "seconds measured (idle: held)")(
        "warmup", po::value(&cfg.warmup)->default_value(cfg.warmup, "1"), "seconds run before measuring")(
        "count", po::value(&cfg.count), "send this many commands in all, measure them all, then stop")(
        "rate", po::value(&cfg.rate), "commands per second over all connections, evenly paced (depth 1 only)")(
        "spin", po::bool_switch(&cfg.spin),
        "never sleep: poll the sockets and the clock in a loop, for a core of herd-load's own. Paced commands then "
        "go out on time without a timer and a wake-up each, which cost this machine's VM tens of microseconds")(
        "protocol", po::value(&cfg.protocol_name)->default_value(cfg.protocol_name),
        "line (the line port), http (Herd's HTTP port: POST /v1/iamat, GET /v1/whatsat, kept alive; pipelined "
        "with --depth) or ws (a WebSocket on the HTTP port's /v1/lines, a message a line)")(
        "subscribers", po::value(&cfg.subscribers)->default_value(cfg.subscribers),
        "hold this many WebSockets on /v1/stream, each subscribed to every record, during the load, and count the "
        "events they receive (IAMAT only)")("stream-port", po::value(&cfg.stream_port),
                                            "the HTTP port of /v1/stream, for --subscribers")(
        "json", po::bool_switch(&cfg.json), "print one JSON object instead of the table");
    try {
        po::variables_map args;
        po::store(po::parse_command_line(argc, argv, options), args);
        if (args.count("help") != 0) {
            std::cout << options << "\n";
            return 0;
        }
        if (args.count("version") != 0) {
            std::cout << "herd-load " << HERD_VERSION << "\n";
            return 0;
        }
        po::notify(args);
        cfg.command = parse_mode(cfg.command_name);
        cfg.transport = parse_protocol(cfg.protocol_name);
        if (cfg.transport != protocol::line && cfg.command != mode::iamat && cfg.command != mode::whatsat &&
            cfg.command != mode::mix && cfg.command != mode::idle) {
            throw po::error("--protocol http and ws take iamat, whatsat, mix or idle");
        }
        if (cfg.subscribers < 0 || (cfg.subscribers > 0 && (cfg.stream_port.empty() || cfg.command != mode::iamat))) {
            throw po::error("--subscribers needs --stream-port and --command iamat");
        }
        if (ids != "distinct" && ids != "repeated") {
            throw po::error("--ids must be distinct or repeated");
        }
        cfg.distinct_ids = ids == "distinct";
        if (cfg.connections < 1 || cfg.depth < 1) {
            throw po::error("--connections and --depth must be at least 1");
        }
        if (cfg.rate > 0 && cfg.depth != 1) {
            throw po::error("--rate paces request and reply only: use --depth 1");
        }
        if (whatsat_share <= 0 || whatsat_share > 1) {
            throw po::error("--whatsat-share must be above 0 and at most 1");
        }
        cfg.whatsat_every = std::max(1, static_cast<int>(std::lround(1.0 / whatsat_share)));
        if (cfg.id_prefix.empty()) {
            cfg.id_prefix = "load" + std::to_string(getpid());
        }
    } catch (const po::error& e) {
        std::cerr << "herd-load: " << e.what() << "\n\n" << options << "\n";
        return 2;
    }

    raise_descriptor_limit();
    asio::io_context io(1);
    run_state run;
    run.cfg = cfg;
    bool failed = false;
    asio::co_spawn(io, run_load(run), [&](std::exception_ptr e) {
        if (e) {
            failed = true;
            report_failure("", e);
            close_all(run);
            close_subscribers(run);
            if (run.deadline) {
                run.deadline->cancel();
            }
        }
    });
    if (cfg.spin) {
        // poll() never waits in epoll_wait, so the core never halts; it stops
        // the io_context, as run() would, once no work is left.
        while (!io.stopped()) {
            io.poll();
        }
    } else {
        io.run();
    }
    if (failed) {
        return 1;
    }
    if (cfg.command != mode::idle) {
        report(run);
    }
    const bool stream_failed = run.stream.closed > 0 || run.stream.missing > 0;
    return run.errors > 0 || run.unmeasured_errors > 0 || run.lost > 0 || stream_failed ? 1 : 0;
}
