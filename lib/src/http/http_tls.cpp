#include "http/http_stream.hpp"

#include "herd/tls.hpp"
#include "herd/topology.hpp"

namespace herd {

namespace ssl = boost::asio::ssl;

std::unique_ptr<ssl::context> make_http_tls_context(const server_config& me)
{
    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    boost::system::error_code ec;
    context->use_certificate_chain_file(me.http_cert.string(), ec);
    if (ec) {
        throw tls_error("servers." + me.name + ".http_cert_file " + me.http_cert.string() +
                        ": cannot load: " + ec.message());
    }
    context->use_private_key_file(me.http_key.string(), ssl::context::pem, ec);
    if (ec) {
        throw tls_error("servers." + me.name + ".http_key_file " + me.http_key.string() +
                        ": cannot load: " + ec.message());
    }
    return context;
}

void check_https_files(const server_config& server)
{
    (void)make_http_tls_context(server);
}

} // namespace herd
