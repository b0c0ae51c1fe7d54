#include "support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace herd::test {

namespace {

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

void check(bool ok, const char* what)
{
    if (!ok) {
        throw std::runtime_error(std::string("OpenSSL: ") + what);
    }
}

pkey_ptr new_key()
{
    pkey_ptr key(EVP_EC_gen("P-256"));
    check(key != nullptr, "EVP_EC_gen");
    return key;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value)
{
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `subject_key`, signed by `issuer_key` (itself when
// `issuer` is null: the CA).
x509_ptr new_certificate(EVP_PKEY* subject_key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
                         const std::string& alt_names, const issue_options& options = {})
{
    static long serial = 1;
    x509_ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), options.expired ? -48L * 3600 : -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), options.expired ? -3600 : 24L * 3600);
    X509_set_pubkey(cert.get(), subject_key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    const bool ca = issuer == nullptr;
    add_extension(cert.get(), &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage,
                  ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    if (!ca) {
        add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
        add_extension(cert.get(), &ctx, NID_ext_key_usage, options.extended_key_usage);
        add_extension(cert.get(), &ctx, NID_subject_alt_name, alt_names);
    }
    check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
    return cert;
}

template <typename Write> std::string to_pem(Write write)
{
    BIO* bio = BIO_new(BIO_s_mem());
    check(write(bio) == 1, "PEM_write");
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return pem;
}

} // namespace

struct test_ca::keys {
    pkey_ptr key;
    x509_ptr cert;
};

test_ca::test_ca() : keys_(std::make_unique<keys>())
{
    keys_->key = new_key();
    keys_->cert = new_certificate(keys_->key.get(), "Herd test CA", nullptr, keys_->key.get(), "");
}

test_ca::~test_ca() = default;

tls_identity test_ca::issue(const std::vector<std::string>& subject_alt_names, const issue_options& options) const
{
    std::string alt_names;
    for (const auto& n : subject_alt_names) {
        alt_names += (alt_names.empty() ? "" : ",") + n;
    }
    auto key = new_key();
    auto cert =
        new_certificate(key.get(), options.common_name, keys_->cert.get(), keys_->key.get(), alt_names, options);
    return {to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }), to_pem([&](BIO* b) {
                return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
            })};
}

tls_identity test_ca::issue_peer(const std::string& name, bool expired) const
{
    issue_options options;
    options.common_name = name;
    options.extended_key_usage = "serverAuth,clientAuth";
    options.expired = expired;
    return issue({"DNS:" + name}, options);
}

void tls_identity::write(const std::filesystem::path& dir, const std::string& name) const
{
    std::ofstream(dir / (name + ".crt")) << certificate_pem;
    std::ofstream(dir / (name + ".key")) << private_key_pem;
}

std::string test_ca::certificate_pem() const
{
    return to_pem([&](BIO* b) { return PEM_write_bio_X509(b, keys_->cert.get()); });
}

std::filesystem::path test_ca::write_certificate(const std::filesystem::path& dir) const
{
    auto file = dir / "test-ca.pem";
    std::ofstream(file) << certificate_pem();
    return file;
}

} // namespace herd::test
