#include "places/https_client.hpp"

#include "async/resolve.hpp"
#include "async/within.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <stdexcept>

namespace herd::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {
constexpr std::size_t max_idle_connections = 4;
constexpr std::uint64_t max_body_bytes = std::uint64_t{8} * 1024 * 1024;

std::string tls_failure(beast::ssl_stream<beast::tcp_stream>& stream, const boost::system::error_code& ec)
{
    // OpenSSL's own reason ("certificate verify failed") says less than the
    // verification result ("hostname mismatch", "unable to get local issuer
    // certificate").
    const long verify = SSL_get_verify_result(stream.native_handle());
    std::string why = ec.message();
    if (verify != X509_V_OK) {
        why += std::string(": ") + X509_verify_cert_error_string(verify);
    }
    return why;
}

// A step that ended early: the deadline passed, or the caller gave up.
std::string stopped_while(bool cancelled, const std::string& step)
{
    return (cancelled ? "cancelled " : "timed out ") + step;
}
} // namespace

struct https_client::connection {
    connection(const asio::any_io_executor& executor, asio::ssl::context& tls) : stream(executor, tls) {}
    beast::ssl_stream<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
};

// A request waiting for one of the pool's connections.
struct https_client::waiter {
    waiter(const asio::any_io_executor& executor, std::chrono::steady_clock::time_point deadline)
        : wake(executor, deadline)
    {
    }
    asio::steady_timer wake; // cancelled when a lease is handed over, or on stop()
    bool granted = false;
};

// One of the pool's `max_connections`, held from before opening (or taking
// an idle connection) to after the answer; given back on every way out.
class https_client::lease {
public:
    explicit lease(https_client& c) : client_(c) {}
    ~lease() { client_.release(); }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

private:
    https_client& client_;
};

// Keeps a connection in `busy_` (where stop() closes it) exactly while it
// lives here: however the request ends, nothing freed is left behind.
class https_client::busy_mark {
public:
    busy_mark(https_client& c, connection* conn) : client_(c), conn_(conn) { client_.busy_.insert(conn_); }
    ~busy_mark() { client_.busy_.erase(conn_); }
    busy_mark(const busy_mark&) = delete;
    busy_mark& operator=(const busy_mark&) = delete;

private:
    https_client& client_;
    connection* conn_;
};

std::shared_ptr<asio::ssl::context> make_tls_client_context(const std::filesystem::path& extra_ca)
{
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    tls->set_default_verify_paths();
    if (!extra_ca.empty()) {
        boost::system::error_code ec;
        tls->load_verify_file(extra_ca.string(), ec);
        if (ec) {
            throw std::runtime_error(extra_ca.string() + ": not a readable PEM CA file: " + ec.message());
        }
    }
    tls->set_verify_mode(asio::ssl::verify_peer);
    return tls;
}

https_client::https_client(asio::any_io_executor executor, https_url url, std::shared_ptr<asio::ssl::context> tls,
                           https_options options)
    : executor_(std::move(executor)), url_(std::move(url)), tls_(std::move(tls)), options_(std::move(options))
{
    options_.max_connections = std::max<std::size_t>(options_.max_connections, 1);
    if (!options_.resolve) {
        options_.resolve = system_resolve;
    }
}

https_client::~https_client() = default;

void https_client::stop()
{
    stopped_ = true;
    for (auto* c : busy_) {
        beast::get_lowest_layer(c->stream).close();
    }
    idle_.clear();
    for (auto& w : waiting_) {
        w->wake.cancel();
    }
    waiting_.clear();
}

asio::awaitable<std::string> https_client::acquire(std::chrono::steady_clock::time_point deadline)
{
    if (in_use_ < options_.max_connections && waiting_.empty()) {
        ++in_use_;
        co_return std::string();
    }
    auto me = std::make_shared<waiter>(executor_, deadline);
    waiting_.push_back(me);
    auto wait = me->wake.async_wait(use_tuple);
    auto [ec] = co_await std::move(wait);
    if (me->granted) {
        co_return std::string(); // release() handed its lease over
    }
    std::erase(waiting_, me);
    if (stopped_) {
        co_return "the server is stopping";
    }
    co_return stopped_while(static_cast<bool>(ec), "waiting for one of the " +
                                                       std::to_string(options_.max_connections) + " connections to " +
                                                       url_.host);
}

void https_client::release() noexcept
{
    if (!waiting_.empty()) {
        auto next = std::move(waiting_.front());
        waiting_.pop_front();
        next->granted = true;
        next->wake.cancel();
        return; // the lease passes on, in_use_ unchanged
    }
    --in_use_;
}

asio::awaitable<std::pair<std::unique_ptr<https_client::connection>, std::string>>
https_client::open(std::chrono::steady_clock::time_point deadline)
{
    using opened = std::pair<std::unique_ptr<connection>, std::string>;
    auto failed = [](std::string why) { return opened{nullptr, std::move(why)}; };
    // Not raced with `within`: the 1.81 resolver ignores cancellation, so
    // the lookup runs on its own and is abandoned at the deadline.
    auto resolve = options_.resolve(url_.host, url_.port);
    auto bounded = abandon_after(std::move(resolve), deadline - std::chrono::steady_clock::now());
    auto resolved = co_await std::move(bounded);
    if (!resolved) {
        const bool gave_up = co_await cancelled();
        co_return failed(stopped_while(gave_up, "resolving " + url_.host));
    }
    if (auto [ec, results] = *resolved; ec) {
        co_return failed("cannot resolve " + url_.host + ": " + ec.message());
    }
    if (co_await cancelled()) {
        co_return failed(stopped_while(true, "after resolving " + url_.host));
    }
    auto conn = std::make_unique<connection>(executor_, *tls_);
    // SNI, and the certificate must name the host we asked for.
    if (SSL_set_tlsext_host_name(conn->stream.native_handle(), url_.host.c_str()) != 1) {
        co_return failed("cannot set TLS SNI for " + url_.host);
    }
    conn->stream.set_verify_callback(
        [check = asio::ssl::host_name_verification(url_.host)](bool preverified, asio::ssl::verify_context& ctx) {
            const bool ok = check(preverified, ctx);
            if (preverified && !ok) {
                // host_name_verification refuses without saying why; the log should.
                X509_STORE_CTX_set_error(ctx.native_handle(), X509_V_ERR_HOSTNAME_MISMATCH);
            }
            return ok;
        });
    auto& socket = beast::get_lowest_layer(conn->stream);
    socket.expires_at(deadline);
    auto connect = socket.async_connect(std::get<1>(*resolved), use_tuple);
    auto [connect_ec, endpoint] = co_await std::move(connect);
    const std::string where = url_.host + ":" + url_.port;
    if (connect_ec == beast::error::timeout || connect_ec == asio::error::operation_aborted) {
        co_return failed(stopped_while(connect_ec != beast::error::timeout, "connecting to " + where));
    }
    if (connect_ec) {
        co_return failed("cannot connect to " + where + ": " + connect_ec.message());
    }
    boost::system::error_code ignored;
    socket.socket().set_option(tcp::no_delay(true), ignored);
    auto handshake = conn->stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    auto [handshake_ec] = co_await std::move(handshake);
    if (handshake_ec == beast::error::timeout || handshake_ec == asio::error::operation_aborted) {
        co_return failed(
            stopped_while(handshake_ec != beast::error::timeout, "in the TLS handshake with " + url_.host));
    }
    if (handshake_ec) {
        co_return failed("TLS with " + url_.host + " refused: " + tls_failure(conn->stream, handshake_ec));
    }
    ++opened_;
    co_return opened{std::move(conn), std::string()};
}

asio::awaitable<https_result> https_client::request(https_request request, std::chrono::steady_clock::duration limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    http::request<http::string_body> message{http::string_to_verb(request.method), request.target, 11};
    message.set(http::field::host, url_.authority());
    message.set(http::field::user_agent, "herd/" HERD_VERSION);
    for (auto& [name, value] : request.headers) {
        message.set(name, value);
    }
    message.body() = std::move(request.body);
    message.keep_alive(true);
    message.prepare_payload();

    auto stopping = [] { return https_result{0, {}, "the server is stopping", false, false}; };
    if (stopped_) {
        co_return stopping();
    }
    auto wait = acquire(deadline);
    const std::string no_lease = co_await std::move(wait);
    if (!no_lease.empty()) {
        const bool gave_up = co_await cancelled();
        co_return https_result{0, {}, no_lease, false, gave_up};
    }
    lease held(*this);

    for (int attempt = 0;; ++attempt) {
        if (stopped_) {
            co_return stopping();
        }
        std::unique_ptr<connection> conn;
        const bool reused = !idle_.empty();
        if (reused) {
            conn = std::move(idle_.back());
            idle_.pop_back();
        } else {
            auto opening = open(deadline);
            auto [opened, why] = co_await std::move(opening);
            if (!opened) {
                const bool gave_up = co_await cancelled();
                co_return https_result{0, {}, why, false, gave_up};
            }
            conn = std::move(opened);
        }
        if (stopped_) {
            co_return stopping();
        }
        const busy_mark busy(*this, conn.get());
        auto& socket = beast::get_lowest_layer(conn->stream);
        socket.expires_at(deadline);
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_body_bytes);
        auto write = http::async_write(conn->stream, message, use_tuple);
        auto [write_ec, written] = co_await std::move(write);
        boost::system::error_code ec = write_ec;
        // Cancelled after the write: the read would not be told, so it is
        // not started.
        bool cancelled_after_write = false;
        if (!ec) {
            cancelled_after_write = co_await cancelled();
        }
        if (!ec && !cancelled_after_write) {
            auto read = http::async_read(conn->stream, conn->buffer, parser, use_tuple);
            auto [read_ec, read_bytes] = co_await std::move(read);
            ec = read_ec;
        }
        if (stopped_) {
            co_return stopping();
        }
        bool gave_up = cancelled_after_write || ec == asio::error::operation_aborted;
        if (!gave_up) {
            gave_up = co_await cancelled();
        }
        if (gave_up) {
            // The caller's time-out: sending it again would be a request
            // nobody waits for.
            co_return https_result{
                0, {}, stopped_while(true, "waiting for the answer from " + url_.host), reused, true};
        }
        if (ec) {
            // A kept-alive connection the server closed while it sat idle
            // fails before any answer: dial again, once.
            if (reused && attempt == 0 && !parser.got_some() && ec != beast::error::timeout) {
                continue;
            }
            co_return https_result{0, {}, ec == beast::error::timeout ? "timed out" : ec.message(), reused, false};
        }
        auto response = parser.release();
        https_result result{response.result_int(), std::move(response.body()), {}, reused, false};
        if (response.keep_alive() && idle_.size() < max_idle_connections) {
            idle_.push_back(std::move(conn));
        }
        co_return result;
    }
}

} // namespace herd::detail
