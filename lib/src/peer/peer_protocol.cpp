#include "peer/peer_protocol.hpp"

#include "protocol/protocol.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>

#include <fmt/format.h>
#include <stdexcept>

namespace herd::peer {
namespace {

std::string to_hex(const unsigned char* data, std::size_t size)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0xf];
    }
    return out;
}

bool is_token(std::string_view s, std::size_t max) noexcept
{
    return !s.empty() && s.size() <= max;
}

// "HERD herd/1 <word> ..." with exactly `arity` fields after the word.
std::optional<fields> parse_message(std::string_view line, std::string_view word, std::size_t arity) noexcept
{
    fields f = split_fields(line);
    if (f.count != 3 + arity || f.at[0] != "HERD" || f.at[1] != version || f.at[2] != word) {
        return std::nullopt;
    }
    return f;
}

} // namespace

std::string make_nonce()
{
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("OpenSSL RAND_bytes failed");
    }
    return to_hex(bytes.data(), bytes.size());
}

std::string make_proof(const std::optional<std::string>& secret, role who, std::string_view acceptor,
                       std::string_view dialer, std::string_view nonce_a, std::string_view nonce_d)
{
    if (!secret) {
        return "-";
    }
    // NUL separators: none of the parts can hold one, so no two different
    // handshakes hash the same bytes.
    std::string message(who == role::dialer ? "dialer" : "acceptor");
    for (auto part : {acceptor, dialer, nonce_a, nonce_d}) {
        message += '\0';
        message += part;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret->data(), static_cast<int>(secret->size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &mac_len);
    return to_hex(mac.data(), mac_len);
}

bool proofs_equal(std::string_view expected, std::string_view received) noexcept
{
    return expected.size() == received.size() && CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

std::string format_challenge(std::string_view acceptor, std::string_view nonce)
{
    return "HERD " + std::string(version) + " CHALLENGE " + std::string(acceptor) + " " + std::string(nonce);
}

std::string format_hello(std::string_view dialer, std::string_view nonce, std::string_view proof)
{
    return "HERD " + std::string(version) + " HELLO " + std::string(dialer) + " " + std::string(nonce) + " " +
           std::string(proof);
}

std::string format_welcome(std::string_view proof, std::optional<store_summary> store)
{
    std::string line = "HERD " + std::string(version) + " WELCOME " + std::string(proof);
    if (store) {
        line += fmt::format(" {} {:016x}", store->records, store->digest);
    }
    return line;
}

std::string format_refused(std::string_view reason)
{
    return "HERD " + std::string(version) + " REFUSED " + std::string(reason);
}

std::optional<challenge> parse_challenge(std::string_view line) noexcept
{
    auto f = parse_message(line, "CHALLENGE", 2);
    if (!f || !is_token(f->at[3], 64) || !is_token(f->at[4], 64)) {
        return std::nullopt;
    }
    return challenge{f->at[3], f->at[4]};
}

std::optional<hello> parse_hello(std::string_view line) noexcept
{
    fields f = split_fields(line);
    // Six fields is the most split_fields keeps, exactly what HELLO has.
    if (f.count != 6 || f.at[0] != "HERD" || f.at[1] != version || f.at[2] != "HELLO" || !is_token(f.at[3], 64) ||
        !is_token(f.at[4], 64) || !is_token(f.at[5], 128)) {
        return std::nullopt;
    }
    return hello{f.at[3], f.at[4], f.at[5]};
}

std::optional<welcome> parse_welcome(std::string_view line) noexcept
{
    const fields f = split_fields(line);
    if ((f.count != 4 && f.count != 6) || f.at[0] != "HERD" || f.at[1] != version || f.at[2] != "WELCOME" ||
        !is_token(f.at[3], 128)) {
        return std::nullopt;
    }
    welcome w{f.at[3], std::nullopt};
    if (f.count == 6) {
        store_summary s;
        const auto records = std::from_chars(f.at[4].data(), f.at[4].data() + f.at[4].size(), s.records);
        const auto digest = std::from_chars(f.at[5].data(), f.at[5].data() + f.at[5].size(), s.digest, 16);
        if (records.ec != std::errc() || records.ptr != f.at[4].data() + f.at[4].size() || digest.ec != std::errc() ||
            digest.ptr != f.at[5].data() + f.at[5].size()) {
            return std::nullopt;
        }
        w.store = s;
    }
    return w;
}

} // namespace herd::peer
