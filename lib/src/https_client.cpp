#include "https_client.hpp"

#include "detail/within.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

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
} // namespace

struct https_client::connection {
    connection(const asio::any_io_executor& executor, asio::ssl::context& tls) : stream(executor, tls) {}
    beast::ssl_stream<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
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

https_client::https_client(asio::any_io_executor executor, https_url url, std::shared_ptr<asio::ssl::context> tls)
    : executor_(std::move(executor)), url_(std::move(url)), tls_(std::move(tls))
{
}

https_client::~https_client() = default;

void https_client::stop()
{
    stopped_ = true;
    for (auto* c : busy_) {
        beast::get_lowest_layer(c->stream).close();
    }
    idle_.clear();
}

asio::awaitable<std::pair<std::unique_ptr<https_client::connection>, std::string>>
https_client::open(std::chrono::steady_clock::time_point deadline)
{
    using opened = std::pair<std::unique_ptr<connection>, std::string>;
    auto failed = [](std::string why) { return opened{nullptr, std::move(why)}; };
    tcp::resolver resolver(executor_);
    auto resolve = resolver.async_resolve(url_.host, url_.port, use_tuple);
    auto resolved = co_await within(std::move(resolve), deadline - std::chrono::steady_clock::now());
    if (!resolved) {
        co_return failed("resolving " + url_.host + " timed out");
    }
    if (auto [ec, results] = *resolved; ec) {
        co_return failed("cannot resolve " + url_.host + ": " + ec.message());
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
    auto [connect_ec, endpoint] = co_await socket.async_connect(std::get<1>(*resolved), use_tuple);
    if (connect_ec) {
        co_return failed("cannot connect to " + url_.host + ":" + url_.port + ": " + connect_ec.message());
    }
    boost::system::error_code ignored;
    socket.socket().set_option(tcp::no_delay(true), ignored);
    auto [handshake_ec] = co_await conn->stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
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

    for (int attempt = 0;; ++attempt) {
        if (stopped_) {
            co_return https_result{0, {}, "the server is stopping", false};
        }
        std::unique_ptr<connection> conn;
        const bool reused = !idle_.empty();
        if (reused) {
            conn = std::move(idle_.back());
            idle_.pop_back();
        } else {
            auto [opened, why] = co_await open(deadline);
            if (!opened) {
                co_return https_result{0, {}, why, false};
            }
            conn = std::move(opened);
        }
        busy_.insert(conn.get());
        auto& socket = beast::get_lowest_layer(conn->stream);
        socket.expires_at(deadline);
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_body_bytes);
        auto [write_ec, written] = co_await http::async_write(conn->stream, message, use_tuple);
        boost::system::error_code ec = write_ec;
        if (!ec) {
            auto [read_ec, read] = co_await http::async_read(conn->stream, conn->buffer, parser, use_tuple);
            ec = read_ec;
        }
        busy_.erase(conn.get());
        if (ec) {
            // A kept-alive connection the server closed while it sat idle
            // fails before any answer: dial again, once.
            if (reused && attempt == 0 && !parser.got_some() && ec != beast::error::timeout && !stopped_) {
                continue;
            }
            co_return https_result{0, {}, ec == beast::error::timeout ? "timed out" : ec.message(), reused};
        }
        auto response = parser.release();
        https_result result{response.result_int(), std::move(response.body()), {}, reused};
        if (response.keep_alive() && !stopped_ && idle_.size() < max_idle_connections) {
            idle_.push_back(std::move(conn));
        }
        co_return result;
    }
}

} // namespace herd::detail
