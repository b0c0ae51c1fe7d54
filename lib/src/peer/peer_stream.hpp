// A peer link's bytes: plain TCP, or TLS 1.3 over it when the herd has
// certificates (herd.tls_ca). One type with the AsyncReadStream and
// AsyncWriteStream shape, so the handshake, the records and the
// reconciliation run unchanged over either; which one is chosen at run
// time, per server, from the topology.
//
// TLS allows one read and one write under way at once, as TCP does: the
// dialer's writer and its reader of answers share a stream (peer_link).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace herd::peer {

// How a TLS handshake ended: nothing on success, else why, for the log.
struct tls_outcome {
    bool ok = false;
    bool timed_out = false;
    std::string reason;
};

class peer_stream {
public:
    using executor_type = boost::asio::any_io_executor;

    // TLS over `socket`, with `tls`'s certificate and CA (nothing is sent
    // before a handshake); no `tls`: plain TCP.
    peer_stream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context* tls);
    // The TLS stream holds a reference to the socket beside it.
    peer_stream(const peer_stream&) = delete;
    peer_stream& operator=(const peer_stream&) = delete;

    executor_type get_executor() { return socket_.get_executor(); }
    // The TCP connection under it: options, close, SIOCOUTQ.
    boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }
    bool tls() const noexcept { return tls_.has_value(); }

    // The dialer's side: the acceptor must prove `name`, the neighbour's
    // name in the topology, with a certificate from the herd's CA (also
    // sent as SNI). Plain TCP: nothing to do.
    boost::asio::awaitable<tls_outcome> client_handshake(const std::string& name,
                                                         std::chrono::steady_clock::duration limit);
    // The acceptor's side: the dialer must show a certificate from the
    // herd's CA; which name it proves is checked against its HELLO
    // (certifies()).
    boost::asio::awaitable<tls_outcome> server_handshake(std::chrono::steady_clock::duration limit);
    // Whether the other side's certificate, verified in the handshake,
    // carries `name`. Plain TCP: true, as nothing is claimed.
    bool certifies(std::string_view name);

    template <typename MutableBuffers, typename Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token)
    {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                if (tls_) {
                    tls_->async_read_some(b, std::move(handler));
                } else {
                    socket_.async_read_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

    template <typename ConstBuffers, typename Token> auto async_write_some(const ConstBuffers& buffers, Token&& token)
    {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                if (tls_) {
                    tls_->async_write_some(b, std::move(handler));
                } else {
                    socket_.async_write_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

private:
    boost::asio::awaitable<tls_outcome> handshake(boost::asio::ssl::stream_base::handshake_type who,
                                                  std::chrono::steady_clock::duration limit);

    boost::asio::ip::tcp::socket socket_;
    std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
};

} // namespace herd::peer
