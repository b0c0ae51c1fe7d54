// The peer port's own protocol, as pure functions. Records travel as the
// AT lines clients were answered with; before any is believed, the two
// servers prove membership of the herd to each other:
//
//   acceptor -> "HERD herd/1 CHALLENGE <acceptor> <nonce_a>"
//   dialer   -> "HERD herd/1 HELLO <dialer> <nonce_d> <proof_d>"
//   acceptor -> "HERD herd/1 WELCOME <proof_a> [<records> <digest>]"   (or "HERD herd/1 REFUSED <reason>")
//   dialer   -> "AT ..." lines, one record each, for as long as the link lives
//
// A proof is HMAC-SHA256 over both names, both nonces and the role, keyed
// with the herd's shared secret, so neither side's proof can be replayed as
// the other's nor on another connection. With no secret configured the
// proofs are "-" and only the names are checked (docs/protocol.md).
//
// With catch-up on, WELCOME also carries the size and digest of the
// acceptor's store; a dialer whose own differ sends its whole store first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herd::peer {

inline constexpr std::string_view version = "herd/1";
inline constexpr std::size_t max_handshake_line = 512;

struct challenge {
    std::string_view acceptor;
    std::string_view nonce;
};

// What a WELCOME says of the acceptor's store, for catch-up.
struct store_summary {
    std::uint64_t records = 0;
    std::uint64_t digest = 0;
    bool operator==(const store_summary&) const = default;
};

struct welcome {
    std::string_view proof;
    std::optional<store_summary> store; // absent: the acceptor does no catch-up
};

struct hello {
    std::string_view dialer;
    std::string_view nonce;
    std::string_view proof;
};

enum class role { dialer, acceptor };

// 128 random bits from OpenSSL, as hex.
std::string make_nonce();

// The proof `who` sends; "-" when there is no secret.
std::string make_proof(const std::optional<std::string>& secret, role who, std::string_view acceptor,
                       std::string_view dialer, std::string_view nonce_a, std::string_view nonce_d);

// Constant-time comparison, so a forger learns nothing from timing.
bool proofs_equal(std::string_view expected, std::string_view received) noexcept;

std::string format_challenge(std::string_view acceptor, std::string_view nonce);
std::string format_hello(std::string_view dialer, std::string_view nonce, std::string_view proof);
std::string format_welcome(std::string_view proof, std::optional<store_summary> store = std::nullopt);
std::string format_refused(std::string_view reason);

std::optional<challenge> parse_challenge(std::string_view line) noexcept;
std::optional<hello> parse_hello(std::string_view line) noexcept;
// A WELCOME line; nothing for REFUSED or garbage.
std::optional<welcome> parse_welcome(std::string_view line) noexcept;

// After WELCOME, on a link to a Herd acceptor (one whose WELCOME carries
// its store's summary): the dialer's heartbeat, and the acceptor's answer.
// A neighbour that answers nothing for herd.peer_timeout is down.
inline constexpr std::string_view ping_line = "HERD herd/1 PING";
inline constexpr std::string_view pong_line = "HERD herd/1 PONG";

} // namespace herd::peer
