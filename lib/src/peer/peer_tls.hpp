// The herd's TLS context: TLS 1.3 only, verified both ways against the
// herd's CA, one per server for the links it dials and the ones it accepts.
#pragma once

#include "herd/tls.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

struct ssl_st;

namespace herd::peer {

// Throws tls_error (from check_tls_files) when the server's own files
// would not do: a server that cannot prove its name never starts.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const topology& herd, const server_config& me);

// Why the other side's certificate was refused, once a handshake has
// failed ("certificate has expired", "hostname mismatch"), or "" when
// verification did not fail.
std::string verify_failure(ssl_st* ssl);

} // namespace herd::peer
