// The two streams the HTTP port speaks over: plain TCP, or TLS with the
// server's http_cert_file (docs/http.md).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>

namespace herd {

struct server_config;

using plain_http_stream = boost::beast::tcp_stream;
using tls_http_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// The HTTPS context of a server with http_cert_file and http_key_file:
// TLS 1.2 or later, no client certificates. tls_error naming the file
// that would not load (a key that is not the certificate's among them), as
// for the peer links' files: the configuration's fault, found by
// --check-config too.
std::unique_ptr<boost::asio::ssl::context> make_http_tls_context(const server_config& me);

} // namespace herd
