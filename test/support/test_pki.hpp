// A certificate authority made at test time, and certificates it issues,
// so the HTTPS tests use real TLS with verification on and nothing on disk
// but what a test writes itself.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace herd::test {

struct tls_identity {
    std::string certificate_pem;
    std::string private_key_pem;

    // Writes NAME.crt and NAME.key into `dir`.
    void write(const std::filesystem::path& dir, const std::string& name) const;
};

// What a certificate is good for, and when.
struct issue_options {
    std::string common_name = "herd test server";
    // "serverAuth" for an HTTPS server; a herd peer both dials and accepts.
    std::string extended_key_usage = "serverAuth";
    bool expired = false; // valid until an hour ago
};

class test_ca {
public:
    test_ca();
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    // A server certificate for these names ("DNS:localhost", "IP:127.0.0.1").
    tls_identity issue(const std::vector<std::string>& subject_alt_names, const issue_options& options = {}) const;
    // A herd server's certificate, as scripts/herd-certs makes them: its
    // name as CN and as a DNS name, for both ends of a link.
    tls_identity issue_peer(const std::string& name, bool expired = false) const;
    std::string certificate_pem() const;
    // Writes the CA certificate as PEM into `dir`; returns the file.
    std::filesystem::path write_certificate(const std::filesystem::path& dir) const;

private:
    struct keys;
    std::unique_ptr<keys> keys_;
};

} // namespace herd::test
