// Peer TLS as an operator checks it: a server's certificate, its key and
// the herd's CA, loaded and checked as the server does at start
// (herd-server --check-config prints the result). The links themselves
// need nothing but the topology: herd.tls_ca turns them to TLS.
#pragma once

#include "herd/topology.hpp"

#include <stdexcept>
#include <string>

namespace herd {

class tls_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What a server's own certificate says.
struct certificate_summary {
    std::string subject;   // "CN=Goloman"
    std::string names;     // its subject alternative names: "DNS:Goloman"
    std::string not_after; // "Dec  2 22:00:00 2027 GMT"
};

// Loads `server`'s certificate chain and key and the herd's CA, and checks
// that the key is the certificate's, that the CA signed it, that it is valid
// now, and that it names the server (no wildcards). Throws tls_error
// naming what is wrong. Needs herd.tls().
certificate_summary check_tls_files(const topology& herd, const server_config& server);

// Loads `server`'s http_cert_file and http_key_file as its HTTPS port
// does at start. Throws tls_error naming the file that would not load, or a
// key that is not the certificate's. Needs server.http_cert.
void check_https_files(const server_config& server);

} // namespace herd
