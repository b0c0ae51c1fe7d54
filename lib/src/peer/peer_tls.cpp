#include "peer/peer_tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace herd {

namespace ssl = boost::asio::ssl;

namespace {

struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct store_ctx_free {
    void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};

std::string openssl_error()
{
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown error";
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

template <typename Print> std::string printed(Print print)
{
    std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
    print(bio.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string subject_of(X509* cert)
{
    return printed([&](BIO* b) {
        X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    });
}

std::string names_of(X509* cert)
{
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names == nullptr) {
        return "(none)";
    }
    std::string out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) {
            const auto* dns = name->d.dNSName;
            out += out.empty() ? "DNS:" : ", DNS:";
            out.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                       static_cast<std::size_t>(ASN1_STRING_length(dns)));
        }
    }
    GENERAL_NAMES_free(names);
    return out.empty() ? "(no DNS names)" : out;
}

// The context with the CA, the server's chain and key loaded; tls_error
// naming the file that would not load.
std::unique_ptr<ssl::context> load(const topology& herd, const server_config& me)
{
    if (!herd.tls()) {
        throw tls_error("herd.tls_ca is not set");
    }
    auto context = std::make_unique<ssl::context>(ssl::context::tls);
    SSL_CTX* native = context->native_handle();
    // TLS 1.3 only: nothing older is negotiated between two Herd servers.
    SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
    // No session tickets: links are few and long, and a resumed session
    // would skip the certificate check this link exists for.
    SSL_CTX_set_num_tickets(native, 0);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(native, herd.tls_ca.c_str(), nullptr) != 1) {
        throw tls_error("herd.tls_ca " + herd.tls_ca.string() + ": " + openssl_error());
    }
    if (SSL_CTX_use_certificate_chain_file(native, me.tls_cert.c_str()) != 1) {
        throw tls_error(me.name + "'s tls_cert " + me.tls_cert.string() + ": " + openssl_error());
    }
    if (SSL_CTX_use_PrivateKey_file(native, me.tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            throw tls_error(me.name + "'s tls_key " + me.tls_key.string() + " is not the key of " +
                            me.tls_cert.string());
        }
        throw tls_error(me.name + "'s tls_key " + me.tls_key.string() + ": " + openssl_error());
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        throw tls_error(me.name + "'s tls_key " + me.tls_key.string() + " is not the key of " + me.tls_cert.string());
    }
    // Both ways: an acceptor refuses a dialer with no certificate, as the
    // dialer refuses an acceptor.
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    return context;
}

// What the neighbours will check of this server's certificate, checked
// before they do, so the mistake is found where it is made.
certificate_summary check_own(SSL_CTX* native, const server_config& me)
{
    X509* cert = SSL_CTX_get0_certificate(native);
    certificate_summary summary{subject_of(cert), names_of(cert),
                                printed([&](BIO* b) { ASN1_TIME_print(b, X509_get0_notAfter(cert)); })};
    STACK_OF(X509)* chain = nullptr;
    SSL_CTX_get0_chain_certs(native, &chain);
    std::unique_ptr<X509_STORE_CTX, store_ctx_free> verify(X509_STORE_CTX_new());
    if (!verify || X509_STORE_CTX_init(verify.get(), SSL_CTX_get_cert_store(native), cert, chain) != 1) {
        throw tls_error("cannot check " + me.tls_cert.string() + ": " + openssl_error());
    }
    X509_STORE_CTX_set_purpose(verify.get(), X509_PURPOSE_SSL_CLIENT);
    const bool as_client = X509_verify_cert(verify.get()) == 1;
    const int client_error = X509_STORE_CTX_get_error(verify.get());
    if (!as_client) {
        throw tls_error(me.name + "'s tls_cert " + me.tls_cert.string() +
                        " does not verify against herd.tls_ca: " + X509_verify_cert_error_string(client_error));
    }
    // It serves as well as dials: each server is both ends of its links.
    X509_STORE_CTX_cleanup(verify.get());
    X509_STORE_CTX_init(verify.get(), SSL_CTX_get_cert_store(native), cert, chain);
    X509_STORE_CTX_set_purpose(verify.get(), X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(verify.get()) != 1) {
        throw tls_error(me.name + "'s tls_cert " + me.tls_cert.string() + " cannot serve a TLS link: " +
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify.get())));
    }
    if (X509_check_host(cert, me.name.data(), me.name.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1) {
        throw tls_error(me.name + "'s tls_cert " + me.tls_cert.string() + " does not name " + me.name + " (it names " +
                        summary.names + "): its neighbours would refuse it");
    }
    return summary;
}

} // namespace

certificate_summary check_tls_files(const topology& herd, const server_config& server)
{
    auto context = load(herd, server);
    return check_own(context->native_handle(), server);
}

namespace peer {

std::unique_ptr<ssl::context> make_tls_context(const topology& herd, const server_config& me)
{
    auto context = load(herd, me);
    check_own(context->native_handle(), me);
    return context;
}

std::string verify_failure(ssl_st* ssl)
{
    const long result = SSL_get_verify_result(ssl);
    return result == X509_V_OK ? std::string() : std::string(X509_verify_cert_error_string(result));
}

} // namespace peer
} // namespace herd
