#include "peer/peer_stream.hpp"

#include "async/within.hpp"
#include "peer/peer_tls.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace herd::peer {

namespace asio = boost::asio;
using detail::use_tuple;

peer_stream::peer_stream(asio::ip::tcp::socket socket, asio::ssl::context* tls) : socket_(std::move(socket))
{
    if (tls != nullptr) {
        tls_.emplace(socket_, *tls);
    }
}

asio::awaitable<tls_outcome> peer_stream::client_handshake(const std::string& name,
                                                           std::chrono::steady_clock::duration limit)
{
    if (!tls_) {
        co_return tls_outcome{true, false, {}};
    }
    SSL* native = tls_->native_handle();
    // The acceptor proves the neighbour's name from the topology, not its
    // host's: the host may be an address, and the name is what the herd
    // knows it by. OpenSSL checks it in the handshake; no wildcards, so
    // one certificate cannot stand for every server.
    SSL_set_hostflags(native, X509_CHECK_FLAG_NO_WILDCARDS);
    if (SSL_set1_host(native, name.c_str()) != 1 || SSL_set_tlsext_host_name(native, name.c_str()) != 1) {
        co_return tls_outcome{false, false, "cannot ask for the name " + name};
    }
    auto done = co_await handshake(asio::ssl::stream_base::client, limit);
    co_return done;
}

asio::awaitable<tls_outcome> peer_stream::server_handshake(std::chrono::steady_clock::duration limit)
{
    if (!tls_) {
        co_return tls_outcome{true, false, {}};
    }
    auto done = co_await handshake(asio::ssl::stream_base::server, limit);
    co_return done;
}

asio::awaitable<tls_outcome> peer_stream::handshake(asio::ssl::stream_base::handshake_type who,
                                                    std::chrono::steady_clock::duration limit)
{
    auto shake = tls_->async_handshake(who, use_tuple);
    auto result = co_await detail::within(std::move(shake), limit);
    if (!result) {
        co_return tls_outcome{false, true, "no TLS handshake in time"};
    }
    const auto [ec] = *result;
    if (!ec) {
        co_return tls_outcome{true, false, {}};
    }
    // The certificate's own fault when verification failed, else what
    // OpenSSL or the socket said ("wrong version number" for a plain-TCP
    // neighbour, "tlsv13 alert certificate required" for one without a
    // certificate).
    auto why = verify_failure(tls_->native_handle());
    co_return tls_outcome{false, false, why.empty() ? ec.message() : "certificate refused: " + why};
}

bool peer_stream::certifies(std::string_view name)
{
    if (!tls_) {
        return true;
    }
    X509* cert = SSL_get0_peer_certificate(tls_->native_handle());
    return cert != nullptr &&
           X509_check_host(cert, name.data(), name.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) == 1;
}

} // namespace herd::peer
