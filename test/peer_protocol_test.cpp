// The peer handshake's messages and proofs.
#include "peer/peer_protocol.hpp"

#include <catch2/catch.hpp>

using namespace herd;

TEST_CASE("nonces are fresh 128-bit hex strings", "[peer]")
{
    const auto a = peer::make_nonce();
    const auto b = peer::make_nonce();
    CHECK(a.size() == 32);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a != b);
}

TEST_CASE("proofs bind the secret, both names, both nonces and the role", "[peer]")
{
    const std::optional<std::string> secret = "s3cret";
    const auto base = peer::make_proof(secret, peer::role::dialer, "Goloman", "Hands", "aa", "bb");
    CHECK(base.size() == 64);
    CHECK(base == peer::make_proof(secret, peer::role::dialer, "Goloman", "Hands", "aa", "bb"));
    CHECK(base != peer::make_proof(std::string("other"), peer::role::dialer, "Goloman", "Hands", "aa", "bb"));
    CHECK(base != peer::make_proof(secret, peer::role::acceptor, "Goloman", "Hands", "aa", "bb"));
    CHECK(base != peer::make_proof(secret, peer::role::dialer, "Hands", "Goloman", "aa", "bb"));
    CHECK(base != peer::make_proof(secret, peer::role::dialer, "Goloman", "Hands", "ab", "bb"));
    CHECK(base != peer::make_proof(secret, peer::role::dialer, "Goloman", "Hands", "aa", "ba"));
    // Moving bytes between parts changes the proof: parts are separated.
    CHECK(base != peer::make_proof(secret, peer::role::dialer, "GolomanH", "ands", "aa", "bb"));
    CHECK(peer::make_proof(std::nullopt, peer::role::dialer, "G", "H", "a", "b") == "-");
}

TEST_CASE("proof comparison", "[peer]")
{
    CHECK(peer::proofs_equal("abc", "abc"));
    CHECK_FALSE(peer::proofs_equal("abc", "abd"));
    CHECK_FALSE(peer::proofs_equal("abc", "ab"));
}

TEST_CASE("handshake messages round-trip and garbage is refused", "[peer]")
{
    // The parsed fields are views into the line: each line is named, so it
    // outlives them.
    const std::string challenge_line = peer::format_challenge("Goloman", "n1");
    const auto challenge = peer::parse_challenge(challenge_line);
    REQUIRE(challenge);
    CHECK(challenge->acceptor == "Goloman");
    CHECK(challenge->nonce == "n1");
    const std::string hello_line = peer::format_hello("Hands", "n2", "p2");
    const auto hello = peer::parse_hello(hello_line);
    REQUIRE(hello);
    CHECK(hello->dialer == "Hands");
    CHECK(hello->nonce == "n2");
    CHECK(hello->proof == "p2");
    const std::string plain_line = peer::format_welcome("p3");
    const auto plain = peer::parse_welcome(plain_line);
    REQUIRE(plain);
    CHECK(plain->proof == "p3");
    CHECK_FALSE(plain->store);
    const std::string with_store_line = peer::format_welcome("p4", peer::store_summary{42, 0xdeadbeefcafef00dULL});
    const auto with_store = peer::parse_welcome(with_store_line);
    REQUIRE(with_store);
    CHECK(with_store->proof == "p4");
    CHECK(with_store->store == peer::store_summary{42, 0xdeadbeefcafef00dULL});
    CHECK_FALSE(peer::parse_welcome("HERD herd/1 WELCOME p 42"));
    CHECK_FALSE(peer::parse_welcome("HERD herd/1 WELCOME p x 00"));
    CHECK_FALSE(peer::parse_welcome("HERD herd/1 WELCOME p 1 zz"));

    CHECK_FALSE(peer::parse_welcome(peer::format_refused("nope")));
    CHECK_FALSE(peer::parse_hello("HERD herd/2 HELLO Hands n p"));
    CHECK_FALSE(peer::parse_hello("HERD herd/1 HELLO Hands n"));
    CHECK_FALSE(peer::parse_hello("HERD herd/1 HELLO Hands n p extra"));
    CHECK_FALSE(peer::parse_hello("IAMAT kiwi +1+1 1"));
    CHECK_FALSE(peer::parse_challenge("HERD herd/1 CHALLENGE " + std::string(65, 'x') + " n"));
}
