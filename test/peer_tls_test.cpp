// Peer links over mutual TLS (herd.tls_ca): a herd whose records, catch-up
// and reconciliation run over TLS, and every neighbour that cannot prove
// its name with a certificate from the herd's CA refused and counted, both
// when it dials and when it is dialled. Certificates come from a CA made
// at run time; everything is on loopback.
#include "herd/server.hpp"
#include "herd/tls.hpp"
#include "peer/peer_protocol.hpp"
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"
#include "support/test_pki.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <span>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::array<std::string_view, 5> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};

// `herd` with TLS on: the CA and one certificate per server in `dir`, named
// as scripts/herd-certs names them.
topology with_tls(topology herd, const test_ca& ca, const std::filesystem::path& dir)
{
    herd.tls_ca = ca.write_certificate(dir);
    for (auto& s : herd.servers) {
        ca.issue_peer(s.name).write(dir, s.name);
        s.tls_cert = dir / (s.name + ".crt");
        s.tls_key = dir / (s.name + ".key");
    }
    return herd;
}

// Goloman and Hands, linked, on free loopback ports; no secret unless given.
topology two_servers(const std::string& herd_table = "")
{
    const auto p = free_ports(4);
    return parse_topology("[herd]\n" + herd_table + "[servers.Goloman]\nport = " + std::to_string(p[0]) +
                              "\npeer_port = " + std::to_string(p[1]) +
                              "\nadmin_port = 0\nhttp_port = 0\nneighbors = [\"Hands\"]\n[servers.Hands]\nport = " +
                              std::to_string(p[2]) + "\npeer_port = " + std::to_string(p[3]) +
                              "\nadmin_port = 0\nhttp_port = 0\n",
                          "tls.toml", ".");
}

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

// A TLS context for a fake neighbour: `identity`'s certificate, trusting
// `trusted` (the herd's CA, or another).
std::unique_ptr<ssl::context> fake_context(const test_ca& trusted, const tls_identity& identity)
{
    auto context = std::make_unique<ssl::context>(ssl::context::tls);
    const std::string ca = trusted.certificate_pem();
    context->add_certificate_authority(asio::buffer(ca));
    context->use_certificate_chain(asio::buffer(identity.certificate_pem));
    context->use_private_key(asio::buffer(identity.private_key_pem), ssl::context::pem);
    context->set_verify_mode(ssl::verify_peer);
    return context;
}

// A neighbour that is not a Herd server: it speaks TLS with whatever
// certificate the test gives it, and reads and writes lines.
class fake_neighbour {
public:
    fake_neighbour(tcp::socket socket, ssl::context& context) : stream_(std::move(socket), context) {}

    asio::awaitable<boost::system::error_code> handshake(ssl::stream_base::handshake_type who)
    {
        auto [ec] = co_await stream_.async_handshake(who, use_tuple);
        co_return ec;
    }
    // The next line, or "" at the end of the connection or its error.
    asio::awaitable<std::string> read_line()
    {
        auto [ec, n] = co_await asio::async_read_until(stream_, asio::dynamic_buffer(buffer_), '\n', use_tuple);
        if (ec) {
            co_return std::string();
        }
        std::string line = buffer_.substr(0, n - 1);
        buffer_.erase(0, n);
        co_return line;
    }
    asio::awaitable<void> send(std::string line)
    {
        line += '\n';
        co_await asio::async_write(stream_, asio::buffer(line), use_tuple);
    }
    // Reads until the other side ends the connection; true once it has.
    asio::awaitable<bool> closed()
    {
        for (;;) {
            std::array<char, 512> scratch{};
            auto [ec, n] = co_await stream_.async_read_some(asio::buffer(scratch), use_tuple);
            if (ec) {
                co_return true;
            }
        }
    }

private:
    ssl::stream<tcp::socket> stream_;
    std::string buffer_;
};

// Connects to a peer port as a fake neighbour would.
asio::awaitable<tcp::socket> dial(std::uint16_t port)
{
    tcp::socket socket(co_await asio::this_coro::executor);
    const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), port);
    co_await socket.async_connect(to, use_tuple);
    co_return socket;
}

// A listener on Hands's peer port that takes Goloman's dial itself.
tcp::acceptor listen_as(const asio::any_io_executor& executor, std::uint16_t port)
{
    const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
    return tcp::acceptor(executor, at);
}

} // namespace

TEST_CASE("over TLS an IAMAT reaches all five servers, and a server that was down is caught up", "[tls][herd]")
{
    const scratch_directory scratch("peer-tls-");
    const auto& dir = scratch.path();
    const test_ca ca;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, with_tls(on_free_ports(default_topology()), ca, dir));
        herd.start_all();
        const std::string at = first_line(
            co_await ask(herd.port("Goloman"), "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n"));
        REQUIRE_THAT(at, Catch::StartsWith("AT Goloman +"));
        const bool everywhere = co_await herd.changed().until(
            [&] {
                return std::all_of(everyone.begin(), everyone.end(),
                                   [&](auto s) { return herd.record_at(s, "kiwi.cs.ucla.edu") == at; });
            },
            5s);
        CHECK(everywhere);

        // Records that Wilkes missed while down come by reconciliation, over TLS.
        herd.stop("Wilkes");
        const std::string missed =
            first_line(co_await ask(herd.port("Hands"), "IAMAT lemon +34.000000-118.000000 1621464828.000000000\n"));
        REQUIRE_THAT(missed, Catch::StartsWith("AT Hands +"));
        const bool others = co_await herd.changed().until(
            [&] {
                return herd.record_at("Holiday", "lemon") == missed && herd.record_at("Goloman", "lemon") == missed;
            },
            5s);
        CHECK(others);
        CHECK(herd.record_at("Wilkes", "lemon").empty());
        herd.start("Wilkes");
        const bool caught_up =
            co_await herd.changed().until([&] { return herd.record_at("Wilkes", "lemon") == missed; }, 5s);
        CHECK(caught_up);
        for (auto name : everyone) {
            INFO(name);
            CHECK(herd.at(name).stats().peer_tls_refused == 0);
            CHECK(herd.at(name).stats().peer_links_refused == 0);
            CHECK(herd.at(name).stats().peer_links_accepted > 0);
        }
        for (auto name : everyone) {
            herd.stop(std::string(name));
        }
    });
}

TEST_CASE("a TLS server refuses a plain-TCP neighbour, and a plain one cannot dial it", "[tls][security]")
{
    const scratch_directory scratch("peer-tls-");
    const auto& dir = scratch.path();
    const test_ca ca;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        const auto tls_herd = with_tls(two_servers(), ca, dir);
        server goloman(io, tls_herd, "Goloman", test_options("Goloman"));
        goloman.start();

        // A neighbour that speaks the handshake in plain text.
        client plain(io.get_executor());
        co_await plain.connect(goloman.peer_port());
        co_await plain.send("HERD herd/1 HELLO Hands 00 00\n");
        const std::string answer = co_await plain.read_until_close(5000ms);
        CHECK(answer.find("CHALLENGE") == std::string::npos);
        CHECK(answer.find("WELCOME") == std::string::npos);
        CHECK(goloman.stats().peer_tls_refused == 1);

        // Goloman's own dial to a plain Hands: a plain acceptor's challenge
        // is no TLS server's hello.
        auto listener = listen_as(io.get_executor(), tls_herd.find("Hands")->peer_port);
        auto [ec, from_goloman] = co_await listener.async_accept(use_tuple);
        REQUIRE_FALSE(ec);
        client as_plain_hands(std::move(from_goloman));
        co_await as_plain_hands.send(peer::format_challenge("Hands", peer::make_nonce()) + "\n");
        const std::string hello = co_await as_plain_hands.read_until_close(5000ms);
        CHECK(hello.find("HELLO") == std::string::npos);
        CHECK(goloman.stats().peer_tls_refused == 2);
        CHECK(goloman.stats().peer_links_up == 0);
        goloman.stop();
    });
}

TEST_CASE("a certificate from another CA, an expired one, or one for another name is refused either way",
          "[tls][security]")
{
    const scratch_directory scratch("peer-tls-");
    const auto& dir = scratch.path();
    const test_ca ca;
    const test_ca stranger_ca;
    const auto tls_herd = with_tls(two_servers(), ca, dir);
    const auto hands_port = tls_herd.find("Hands")->peer_port;
    struct refusal {
        const char* what;
        tls_identity identity;
    };
    const std::array<refusal, 3> refused{{
        {"another CA", stranger_ca.issue_peer("Hands")},
        {"expired", ca.issue_peer("Hands", true)},
        {"another name", ca.issue_peer("Holiday")},
    }};
    for (const auto& r : refused) {
        DYNAMIC_SECTION(r.what)
        {
            run_async([&](asio::io_context& io) -> asio::awaitable<void> {
                server goloman(io, tls_herd, "Goloman", test_options("Goloman"));
                // Taken before Goloman dials, so its link comes here.
                auto listener = listen_as(io.get_executor(), hands_port);
                goloman.start();
                const auto context = fake_context(ca, r.identity);

                // Dialled by Goloman, answering as Hands with this certificate.
                auto [ec, from_goloman] = co_await listener.async_accept(use_tuple);
                REQUIRE_FALSE(ec);
                fake_neighbour as_hands(std::move(from_goloman), *context);
                co_await as_hands.handshake(ssl::stream_base::server);
                CHECK(co_await as_hands.closed());
                CHECK(goloman.stats().peer_tls_refused == 1);
                CHECK(goloman.stats().peer_links_up == 0);

                // Dialling Goloman as Hands with it: no challenge comes, or
                // (another name) its HELLO as Hands is refused.
                auto socket = co_await dial(goloman.peer_port());
                fake_neighbour dialer(std::move(socket), *context);
                co_await dialer.handshake(ssl::stream_base::client);
                const std::string challenge_line = co_await dialer.read_line();
                if (std::string_view(r.what) == "another name") {
                    const auto challenge = peer::parse_challenge(challenge_line);
                    REQUIRE(challenge);
                    const std::string nonce = peer::make_nonce();
                    const std::string proof =
                        peer::make_proof(std::nullopt, peer::role::dialer, "Goloman", "Hands", challenge->nonce, nonce);
                    co_await dialer.send(peer::format_hello("Hands", nonce, proof));
                    const std::string answer = co_await dialer.read_line();
                    CHECK_THAT(answer, Catch::Contains("REFUSED") &&
                                           Catch::Contains("the certificate of the link does not name Hands"));
                    CHECK(goloman.stats().peer_links_refused == 1);
                    CHECK(goloman.stats().peer_tls_refused == 1);
                } else {
                    CHECK(challenge_line.empty());
                    CHECK(co_await dialer.closed());
                    CHECK(goloman.stats().peer_tls_refused == 2);
                }
                CHECK(goloman.stats().peer_links_accepted == 0);
                goloman.stop();
            });
        }
    }
}

TEST_CASE("a server whose own certificate would be refused does not start, and says why", "[tls][topology]")
{
    const scratch_directory scratch("peer-tls-");
    const auto& dir = scratch.path();
    const test_ca ca;
    const test_ca stranger_ca;
    auto herd = with_tls(two_servers(), ca, dir);
    auto refusal = [&](const tls_identity& identity) -> std::string {
        identity.write(dir, "Goloman");
        try {
            check_tls_files(herd, *herd.find("Goloman"));
        } catch (const tls_error& e) {
            asio::io_context io;
            CHECK_THROWS_AS(server(io, herd, "Goloman", test_options("Goloman")), tls_error);
            return e.what();
        }
        return "(accepted)";
    };
    CHECK_THAT(refusal(ca.issue_peer("Hands")),
               Catch::Contains("does not name Goloman") && Catch::Contains("DNS:Hands"));
    CHECK_THAT(refusal(ca.issue_peer("Goloman", true)), Catch::Contains("certificate has expired"));
    CHECK_THAT(refusal(stranger_ca.issue_peer("Goloman")), Catch::Contains("does not verify against herd.tls_ca"));
    issue_options server_only;
    server_only.common_name = "Goloman";
    CHECK_THAT(refusal(ca.issue({"DNS:Goloman"}, server_only)), Catch::Contains("Goloman's tls_cert"));

    const auto good = ca.issue_peer("Goloman");
    good.write(dir, "Goloman");
    const auto summary = check_tls_files(herd, *herd.find("Goloman"));
    CHECK(summary.names == "DNS:Goloman");
    CHECK_THAT(summary.subject, Catch::Contains("CN = Goloman"));
    // Another server's key beside this one's certificate.
    std::filesystem::copy_file(dir / "Hands.key", dir / "Goloman.key",
                               std::filesystem::copy_options::overwrite_existing);
    CHECK_THROWS_WITH(check_tls_files(herd, *herd.find("Goloman")), Catch::Contains("is not the key of"));
    herd.tls_ca = dir / "missing-ca.crt";
    CHECK_THROWS_WITH(check_tls_files(herd, *herd.find("Goloman")), Catch::Contains("herd.tls_ca"));
}
