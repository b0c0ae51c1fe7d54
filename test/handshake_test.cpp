// The peer handshake's two state machines alone, with no io_context: each
// test plays the sockets between them, feeding one side's lines to the
// other, or a time-out, a close or a cancellation where a race would put
// it, and checks the action that comes back.
#include "herd/log.hpp"
#include "peer/handshake.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace herd;
using namespace herd::peer;
using kind = handshake_action::kind;

namespace {

const std::string nonce_a = "00112233445566778899aabbccddeeff";
const std::string nonce_d = "ffeeddccbbaa99887766554433221100";
const std::vector<std::string> golomans_neighbours = {"Hands", "Holiday", "Wilkes"};

struct sides {
    explicit sides(std::optional<std::string> dialer_secret = "herd-secret",
                   std::optional<std::string> acceptor_secret = "herd-secret", bool catch_up = true)
        : dialer("Hands", "Goloman", std::move(dialer_secret), catch_up, hands_store, nonce_d),
          acceptor("Goloman", golomans_neighbours, std::move(acceptor_secret), goloman_store, nonce_a)
    {
    }

    location_store hands_store;
    location_store goloman_store;
    dialer_handshake dialer;
    acceptor_handshake acceptor;
};

void add_record(location_store& store, const std::string& client)
{
    const std::string line = "AT Goloman +0.000000000 " + client + " +34.068930-118.445127 1621464827.5";
    store.update(location_record::make(line, 1, {}));
}

bool printable(std::string_view s)
{
    return std::none_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

// The two sides up to the dialer's HELLO, sent and read by the acceptor:
// returns the acceptor's next action (WELCOME or a refusal).
handshake_action up_to_hello(sides& p, std::string& hello)
{
    auto challenge = p.acceptor.start();
    REQUIRE(challenge.what == kind::send);
    const std::string challenge_line(challenge.line);
    REQUIRE(p.dialer.start().what == kind::read);
    REQUIRE(p.acceptor.on_sent().what == kind::read);
    auto sent = p.dialer.on_line(challenge_line);
    REQUIRE(sent.what == kind::send);
    hello = std::string(sent.line);
    REQUIRE(p.dialer.on_sent().what == kind::read);
    return p.acceptor.on_line(hello);
}

} // namespace

TEST_CASE("handshake: a dialer and an acceptor fed to each other both end done, with the lines of the protocol",
          "[handshake]")
{
    sides p;
    add_record(p.hands_store, "kiwi");
    add_record(p.goloman_store, "kiwi");

    const auto challenge = p.acceptor.start();
    REQUIRE(challenge.what == kind::send);
    CHECK(challenge.line == "HERD herd/1 CHALLENGE Goloman " + nonce_a);
    CHECK(challenge.limit == acceptor_handshake::deadline);
    const std::string challenge_line(challenge.line);

    const auto read_challenge = p.dialer.start();
    REQUIRE(read_challenge.what == kind::read);
    CHECK(read_challenge.max_bytes == max_handshake_line);
    CHECK(read_challenge.limit == dialer_handshake::step_limit);

    const auto read_hello = p.acceptor.on_sent();
    REQUIRE(read_hello.what == kind::read);
    CHECK(read_hello.max_bytes == max_handshake_line);

    const auto hello = p.dialer.on_line(challenge_line);
    REQUIRE(hello.what == kind::send);
    const std::string proof_d = make_proof("herd-secret", role::dialer, "Goloman", "Hands", nonce_a, nonce_d);
    CHECK(hello.line == format_hello("Hands", nonce_d, proof_d));
    const std::string hello_line(hello.line);
    REQUIRE(p.dialer.on_sent().what == kind::read);

    const auto welcome = p.acceptor.on_line(hello_line);
    REQUIRE(welcome.what == kind::send);
    const std::string proof_a = make_proof("herd-secret", role::acceptor, "Goloman", "Hands", nonce_a, nonce_d);
    const store_summary golomans{1, p.goloman_store.digest()};
    CHECK(welcome.line == format_welcome(proof_a, golomans));
    const std::string welcome_line(welcome.line);

    const auto accepted = p.acceptor.on_sent();
    REQUIRE(accepted.what == kind::done);
    CHECK(accepted.result.neighbour == "Hands");
    CHECK(accepted.result.store == golomans);
    CHECK(p.acceptor.over());

    const auto dialed = p.dialer.on_line(welcome_line);
    REQUIRE(dialed.what == kind::done);
    CHECK(dialed.result.neighbour == "Goloman");
    CHECK(dialed.result.store == golomans);
    CHECK(dialed.result.herd_acceptor);
    CHECK_FALSE(dialed.result.catch_up); // the same one record on both
    CHECK(p.dialer.over());
}

TEST_CASE("handshake: the dialer catches up when the acceptor's store differs, unless catch-up is off", "[handshake]")
{
    const bool catch_up = GENERATE(true, false);
    sides p("s", "s", catch_up);
    add_record(p.goloman_store, "kiwi"); // Goloman has one that Hands lacks
    std::string hello;
    const auto welcome = up_to_hello(p, hello);
    REQUIRE(welcome.what == kind::send);
    const std::string welcome_line(welcome.line);
    const auto dialed = p.dialer.on_line(welcome_line);
    REQUIRE(dialed.what == kind::done);
    CHECK(dialed.result.herd_acceptor);
    CHECK(dialed.result.catch_up == catch_up);
    CHECK(dialed.result.store == store_summary{1, p.goloman_store.digest()});
}

TEST_CASE("handshake: a reference acceptor's one-field WELCOME is a link with no heartbeat and no catch-up",
          "[handshake]")
{
    sides p(std::nullopt, std::nullopt);
    std::string hello;
    REQUIRE(up_to_hello(p, hello).what == kind::send);
    CHECK(hello == "HERD herd/1 HELLO Hands " + nonce_d + " -"); // no secret: the proof is "-"
    const auto dialed = p.dialer.on_line("HERD herd/1 WELCOME -");
    REQUIRE(dialed.what == kind::done);
    CHECK_FALSE(dialed.result.herd_acceptor);
    CHECK_FALSE(dialed.result.store);
    CHECK_FALSE(dialed.result.catch_up); // even though Hands's store would differ from no summary
}

TEST_CASE("handshake: a dialer with the wrong secret is refused, and counts the REFUSED it is sent", "[handshake]")
{
    sides p("wrong", "herd-secret");
    std::string hello;
    const auto refused = up_to_hello(p, hello);
    REQUIRE(refused.what == kind::fail);
    CHECK(refused.failure.reason == "proof of membership from Hands does not match");
    CHECK(refused.failure.refused);
    CHECK_FALSE(refused.failure.cancelled);
    CHECK(refused.line == "HERD herd/1 REFUSED proof of membership from Hands does not match");
    const std::string refused_line(refused.line);

    const auto dialed = p.dialer.on_line(refused_line);
    REQUIRE(dialed.what == kind::fail);
    CHECK(dialed.failure.reason == "refused: HERD herd/1 REFUSED proof of membership from Hands does not match");
    CHECK(dialed.failure.refused);
    CHECK(dialed.line.empty()); // the dialer answers nothing
}

TEST_CASE("handshake: an acceptor with the wrong secret, or none, is not believed by the dialer", "[handshake]")
{
    const std::optional<std::string> acceptors_secret =
        GENERATE(std::optional<std::string>("other"), std::optional<std::string>());
    sides p;
    std::string hello;
    REQUIRE(up_to_hello(p, hello).what == kind::send);
    // What an acceptor keyed with another secret (or with none) would
    // send for this very exchange.
    const std::string forged = make_proof(acceptors_secret, role::acceptor, "Goloman", "Hands", nonce_a, nonce_d);
    const auto dialed = p.dialer.on_line(format_welcome(forged, store_summary{}));
    REQUIRE(dialed.what == kind::fail);
    CHECK(dialed.failure.reason == "its proof of membership does not match (is the same secret set on both?)");
    CHECK(dialed.failure.refused);
    // Nor does the dialer's own proof, sent back, pass as the acceptor's.
    sides q;
    std::string hello_q;
    REQUIRE(up_to_hello(q, hello_q).what == kind::send);
    const auto echoed = q.dialer.on_line(format_welcome(parse_hello(hello_q)->proof, store_summary{}));
    REQUIRE(echoed.what == kind::fail);
    CHECK(echoed.failure.refused);
}

TEST_CASE("handshake: a challenge naming another server is not answered, and its name is escaped", "[handshake]")
{
    sides p;
    REQUIRE(p.dialer.start().what == kind::read);
    const auto dialed = p.dialer.on_line(format_challenge("Ha\x1b[2Jnds", nonce_a));
    REQUIRE(dialed.what == kind::fail);
    CHECK(dialed.failure.reason == "the peer port answers as Ha\\x1b[2Jnds");
    CHECK(printable(dialed.failure.reason));
    // A neighbour down or impostor, not a refusal: not counted.
    CHECK_FALSE(dialed.failure.refused);
}

TEST_CASE("handshake: a HELLO from a server that is not a neighbour is refused with its name escaped", "[handshake]")
{
    const std::string dialer = GENERATE(std::string("Welsh"), std::string("Ev\x01il"));
    sides p(std::nullopt, std::nullopt);
    REQUIRE(p.acceptor.start().what == kind::send);
    REQUIRE(p.acceptor.on_sent().what == kind::read);
    const auto refused = p.acceptor.on_line(format_hello(dialer, nonce_d, "-"));
    REQUIRE(refused.what == kind::fail);
    CHECK(refused.failure.reason == escape_for_log(dialer) + " is not a neighbour of Goloman");
    CHECK(printable(refused.failure.reason));
    CHECK(refused.failure.refused);
    CHECK(refused.line == "HERD herd/1 REFUSED " + escape_for_log(dialer) + " is not a neighbour of Goloman");
}

TEST_CASE("handshake: malformed lines end each side, escaped in the reason", "[handshake]")
{
    SECTION("a HELLO that is not one is refused")
    {
        sides p;
        REQUIRE(p.acceptor.start().what == kind::send);
        REQUIRE(p.acceptor.on_sent().what == kind::read);
        const auto refused = p.acceptor.on_line("HELLO\x1b[2J Goloman");
        REQUIRE(refused.what == kind::fail);
        CHECK(refused.failure.reason == "malformed hello: HELLO\\x1b[2J Goloman");
        CHECK(refused.failure.refused);
        CHECK(refused.line == "HERD herd/1 REFUSED malformed hello: HELLO\\x1b[2J Goloman");
        CHECK(printable(refused.line));
    }
    SECTION("a challenge that is not one is not answered")
    {
        sides p;
        REQUIRE(p.dialer.start().what == kind::read);
        const auto dialed = p.dialer.on_line("HERD herd/1 CHALLENGE Goloman"); // no nonce
        REQUIRE(dialed.what == kind::fail);
        CHECK(dialed.failure.reason == "no valid challenge from the peer port");
        CHECK_FALSE(dialed.failure.refused);
    }
    SECTION("a WELCOME whose summary is not a number is a refusal")
    {
        sides p;
        std::string hello;
        REQUIRE(up_to_hello(p, hello).what == kind::send);
        const auto dialed = p.dialer.on_line("HERD herd/1 WELCOME - many\tzz");
        REQUIRE(dialed.what == kind::fail);
        CHECK(dialed.failure.reason == "refused: HERD herd/1 WELCOME - many\\tzz");
        CHECK(dialed.failure.refused);
    }
}

TEST_CASE("handshake: a REFUSED with control bytes reaches the dialer's reason escaped", "[handshake]")
{
    sides p;
    std::string hello;
    REQUIRE(up_to_hello(p, hello).what == kind::send);
    const auto dialed = p.dialer.on_line(format_refused("no\x1b]0;owned\x07\r way"));
    REQUIRE(dialed.what == kind::fail);
    CHECK(dialed.failure.reason == "refused: HERD herd/1 REFUSED no\\x1b]0;owned\\x07\\r way");
    CHECK(printable(dialed.failure.reason));
    CHECK(dialed.failure.refused);
}

TEST_CASE("handshake: a time-out or a close at each of the dialer's steps", "[handshake]")
{
    const bool timed_out = GENERATE(true, false);
    const auto lose = [&](dialer_handshake& d) { return timed_out ? d.on_timeout() : d.on_closed(); };
    SECTION("waiting for the challenge: a neighbour down, not counted")
    {
        sides p;
        REQUIRE(p.dialer.start().what == kind::read);
        const auto end = lose(p.dialer);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.reason == "no valid challenge from the peer port");
        CHECK_FALSE(end.failure.refused);
    }
    SECTION("sending HELLO")
    {
        sides p;
        REQUIRE(p.dialer.start().what == kind::read);
        REQUIRE(p.dialer.on_line(format_challenge("Goloman", nonce_a)).what == kind::send);
        const auto end = lose(p.dialer);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.reason == "could not send hello");
        CHECK_FALSE(end.failure.refused);
    }
    SECTION("waiting for WELCOME: counted, as an acceptor that hangs up on a HELLO refuses it")
    {
        sides p;
        std::string hello;
        REQUIRE(up_to_hello(p, hello).what == kind::send);
        const auto end = lose(p.dialer);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.reason == "no answer to hello");
        CHECK(end.failure.refused);
        CHECK_FALSE(end.failure.cancelled);
    }
}

TEST_CASE("handshake: a time-out or a close at each of the acceptor's steps", "[handshake]")
{
    const bool timed_out = GENERATE(true, false);
    const auto lose = [&](acceptor_handshake& a) { return timed_out ? a.on_timeout() : a.on_closed(); };
    SECTION("sending the challenge: refused, with nobody to tell")
    {
        sides p;
        REQUIRE(p.acceptor.start().what == kind::send);
        const auto end = lose(p.acceptor);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.reason == "could not send the challenge");
        CHECK(end.failure.refused);
        CHECK(end.line.empty());
    }
    SECTION("waiting for HELLO: refused, and told so")
    {
        sides p;
        REQUIRE(p.acceptor.start().what == kind::send);
        REQUIRE(p.acceptor.on_sent().what == kind::read);
        const auto end = lose(p.acceptor);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.reason == "no hello in time");
        CHECK(end.failure.refused);
        CHECK(end.line == "HERD herd/1 REFUSED no hello in time");
    }
    SECTION("sending WELCOME: the dialer proved itself, so it is not a refusal")
    {
        sides p;
        std::string hello;
        REQUIRE(up_to_hello(p, hello).what == kind::send);
        const auto end = lose(p.acceptor);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.reason == "could not send the welcome");
        CHECK_FALSE(end.failure.refused);
        CHECK(end.line.empty());
    }
}

TEST_CASE("handshake: a cancellation after the last line was sent wins over the reply that races it", "[handshake]")
{
    SECTION("the dialer: a valid WELCOME after the cancellation is not believed")
    {
        sides p;
        std::string hello;
        const auto welcome = up_to_hello(p, hello); // HELLO sent, WELCOME on its way
        REQUIRE(welcome.what == kind::send);
        const std::string welcome_line(welcome.line);
        p.dialer.cancel();
        const auto end = p.dialer.on_line(welcome_line);
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.cancelled);
        CHECK_FALSE(end.failure.refused);
        CHECK(p.dialer.over());
    }
    SECTION("the acceptor: a WELCOME written after the cancellation does not open the link")
    {
        sides p;
        std::string hello;
        REQUIRE(up_to_hello(p, hello).what == kind::send);
        p.acceptor.cancel();
        const auto end = p.acceptor.on_sent();
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.cancelled);
        CHECK_FALSE(end.failure.refused);
    }
    SECTION("the acceptor: a cancelled wait for HELLO sends no REFUSED and counts nothing")
    {
        sides p;
        REQUIRE(p.acceptor.start().what == kind::send);
        REQUIRE(p.acceptor.on_sent().what == kind::read);
        p.acceptor.cancel();
        const auto end = p.acceptor.on_closed(); // stopping closed the socket
        REQUIRE(end.what == kind::fail);
        CHECK(end.failure.cancelled);
        CHECK_FALSE(end.failure.refused);
        CHECK(end.line.empty());
    }
    SECTION("either side cancelled before it starts does nothing at all")
    {
        sides p;
        p.dialer.cancel();
        p.acceptor.cancel();
        CHECK(p.dialer.start().what == kind::fail);
        const auto acceptor = p.acceptor.start();
        REQUIRE(acceptor.what == kind::fail);
        CHECK(acceptor.failure.cancelled);
        CHECK(acceptor.line.empty()); // no challenge goes out
    }
}

TEST_CASE("handshake: events after the end change nothing", "[handshake]")
{
    SECTION("after done")
    {
        sides p;
        std::string hello;
        const auto welcome = up_to_hello(p, hello);
        REQUIRE(welcome.what == kind::send);
        const std::string welcome_line(welcome.line);
        REQUIRE(p.acceptor.on_sent().what == kind::done);
        REQUIRE(p.dialer.on_line(welcome_line).what == kind::done);
        p.dialer.cancel(); // too late to matter
        for (const auto& late : {p.dialer.on_line("HERD herd/1 REFUSED changed my mind"), p.dialer.on_closed(),
                                 p.dialer.on_timeout(), p.dialer.on_sent()}) {
            CHECK(late.what == kind::done);
            CHECK(late.result.neighbour == "Goloman");
            CHECK(late.result.herd_acceptor);
        }
        p.acceptor.cancel();
        const auto late = p.acceptor.on_line("AT Hands +0.000000000 kiwi +1+1 1");
        CHECK(late.what == kind::done);
        CHECK(late.result.neighbour == "Hands");
    }
    SECTION("after a failure, which sends its REFUSED once")
    {
        sides p;
        REQUIRE(p.acceptor.start().what == kind::send);
        REQUIRE(p.acceptor.on_sent().what == kind::read);
        const auto refused = p.acceptor.on_line("garbage");
        REQUIRE(refused.what == kind::fail);
        CHECK_FALSE(refused.line.empty());
        // Even a good HELLO now is too late.
        const auto late = p.acceptor.on_line(format_hello("Hands", nonce_d, "-"));
        CHECK(late.what == kind::fail);
        CHECK(late.failure.reason == "malformed hello: garbage");
        CHECK(late.line.empty());
        CHECK(p.acceptor.on_timeout().failure.reason == "malformed hello: garbage");
    }
}

TEST_CASE("handshake: a HELLO made for one challenge does not pass another", "[handshake]")
{
    sides first;
    std::string hello;
    REQUIRE(up_to_hello(first, hello).what == kind::send);
    // A second acceptor, as Goloman on the next connection, with a new nonce.
    location_store store;
    acceptor_handshake second("Goloman", golomans_neighbours, "herd-secret", store, "0123456789abcdef0123456789abcdef");
    REQUIRE(second.start().what == kind::send);
    REQUIRE(second.on_sent().what == kind::read);
    const auto replayed = second.on_line(hello);
    REQUIRE(replayed.what == kind::fail);
    CHECK(replayed.failure.reason == "proof of membership from Hands does not match");
    CHECK(replayed.failure.refused);
}

TEST_CASE("handshake: over TLS the acceptor believes a HELLO only for the name the dialer's certificate proves",
          "[handshake][tls]")
{
    location_store hands_store;
    location_store goloman_store;
    // The link's certificate names Holiday, a neighbour too: Holiday's
    // certificate does not lend Hands's name.
    std::vector<std::string> asked;
    auto certifies_holiday = [&asked](std::string_view name) {
        asked.emplace_back(name);
        return name == "Holiday";
    };
    for (const std::string claimed : {"Hands", "Holiday"}) {
        INFO(claimed);
        dialer_handshake dialer(claimed, "Goloman", "herd-secret", true, hands_store, nonce_d);
        acceptor_handshake acceptor("Goloman", golomans_neighbours, "herd-secret", goloman_store, nonce_a,
                                    certifies_holiday);
        const std::string challenge(acceptor.start().line);
        REQUIRE(acceptor.on_sent().what == kind::read);
        REQUIRE(dialer.start().what == kind::read);
        const std::string hello(dialer.on_line(challenge).line);
        const auto answer = acceptor.on_line(hello);
        if (claimed == "Holiday") {
            CHECK(answer.what == kind::send);
            CHECK_THAT(std::string(answer.line), Catch::StartsWith("HERD herd/1 WELCOME "));
        } else {
            REQUIRE(answer.what == kind::fail);
            CHECK(answer.failure.refused);
            CHECK(answer.failure.reason == "the certificate of the link does not name Hands");
            CHECK(answer.line == "HERD herd/1 REFUSED the certificate of the link does not name Hands");
        }
    }
    CHECK(asked == std::vector<std::string>{"Hands", "Holiday"});
}
