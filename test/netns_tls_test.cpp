// The herd of five as five hosts in network namespaces with mutual TLS
// between them, and a man in the middle in a sixth: Mallory, on the same
// bridge, to whom Goloman's topology file sends its link to Hands. Mallory
// relays that link to the real Hands and records every byte; then forges
// a record into it, flips a byte of it, and finally answers Goloman itself,
// with a certificate from a CA of its own and in plain text. Skipped, with
// the reason, where namespaces cannot be made.
#include "herd/tls.hpp"
#include "peer/peer_protocol.hpp"
#include "support/async.hpp"
#include "support/netns.hpp"
#include "support/process_herd.hpp"
#include "support/test_pki.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <list>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
const std::vector<std::string> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};
constexpr std::uint16_t mallory_port = 23456;

// What Mallory does with the next connection or bytes from Goloman.
enum class attack {
    relay,           // pass everything on, recording it
    forge_record,    // put a plain AT line before the next bytes to Hands
    flip_byte,       // flip the last byte of the next bytes to Hands
    own_certificate, // answer Goloman itself, with a certificate "Hands" from Mallory's own CA
    plain_text,      // answer Goloman itself, in plain text, as Hands
};

class mallory {
public:
    mallory(const netns_lab& lab, const asio::any_io_executor& executor, tcp::endpoint hands)
        : lab_(lab), acceptor_(executor), hands_(std::move(hands)), changed_(executor, clock::time_point::max()),
          fake_(ssl::context::tls)
    {
        auto socket = lab.socket_in("Mallory", executor);
        acceptor_.assign(tcp::v4(), socket.release());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(tcp::endpoint(asio::ip::make_address(lab.address("Mallory")), mallory_port));
        acceptor_.listen();
        const auto identity = own_ca_.issue_peer("Hands");
        fake_.use_certificate_chain(asio::buffer(identity.certificate_pem));
        fake_.use_private_key(asio::buffer(identity.private_key_pem), ssl::context::pem);
    }

    attack mode = attack::relay;
    std::string seen;           // every byte relayed, both ways
    int accepted = 0;           // Goloman's connections
    int closed_by_hands = 0;    // relayed connections Hands ended
    int refused_by_goloman = 0; // Mallory's own handshakes that Goloman ended
    int running = 0;            // Mallory's coroutines not yet ended: all must be before it goes

    // Counts one coroutine in `running` while it lasts.
    struct task {
        explicit task(mallory& m) : m_(m) { ++m_.running; }
        ~task()
        {
            --m_.running;
            m_.wake();
        }
        task(const task&) = delete;
        task& operator=(const task&) = delete;

    private:
        mallory& m_;
    };

    asio::awaitable<void> run()
    {
        const task counted(*this);
        for (;;) {
            auto [ec, from_goloman] = co_await acceptor_.async_accept(use_tuple);
            if (ec) {
                co_return;
            }
            ++accepted;
            sockets_.push_back(std::move(from_goloman));
            auto& socket = sockets_.back();
            const auto executor = co_await asio::this_coro::executor;
            if (mode == attack::own_certificate || mode == attack::plain_text) {
                asio::co_spawn(executor, answer(socket, mode), rethrow);
            } else {
                asio::co_spawn(executor, relay(socket), rethrow);
            }
            wake();
        }
    }

    // Ends the accept loop and every connection: Goloman dials again.
    void stop()
    {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        cut();
    }
    void cut()
    {
        boost::system::error_code ignored;
        for (auto& s : sockets_) {
            s.close(ignored);
        }
    }

    void wake() { changed_.cancel(); }

    // True once `holds()`, woken by each event; false after `limit`.
    asio::awaitable<bool> until(std::function<bool()> holds, std::chrono::milliseconds limit)
    {
        const auto deadline = clock::now() + limit;
        while (!holds()) {
            if (clock::now() >= deadline) {
                co_return false;
            }
            changed_.expires_at(std::min(deadline, clock::now() + 100ms));
            co_await changed_.async_wait(use_tuple);
        }
        co_return true;
    }

private:
    using clock = std::chrono::steady_clock;

    static void rethrow(std::exception_ptr e)
    {
        if (e) {
            std::rethrow_exception(e);
        }
    }

    asio::awaitable<void> relay(tcp::socket& from_goloman)
    {
        const task counted(*this);
        const auto executor = co_await asio::this_coro::executor;
        sockets_.push_back(lab_.socket_in("Mallory", executor));
        auto& to_hands = sockets_.back();
        auto [ec] = co_await to_hands.async_connect(hands_, use_tuple);
        if (ec) {
            from_goloman.close(ec);
            co_return;
        }
        asio::co_spawn(executor, pump(to_hands, from_goloman, false), rethrow);
        co_await pump(from_goloman, to_hands, true);
    }

    asio::awaitable<void> pump(tcp::socket& from, tcp::socket& to, bool towards_hands)
    {
        const task counted(*this);
        std::array<char, 16384> buffer{};
        for (;;) {
            auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), use_tuple);
            if (ec) {
                if (!towards_hands) {
                    ++closed_by_hands;
                }
                boost::system::error_code ignored;
                to.close(ignored);
                wake();
                co_return;
            }
            std::string bytes(buffer.data(), n);
            seen += bytes;
            if (towards_hands && mode == attack::forge_record) {
                mode = attack::relay;
                bytes = "AT Goloman +0.000000001 forged.client +10.000000+010.000000 1800000000.000000000\n" + bytes;
            } else if (towards_hands && mode == attack::flip_byte) {
                mode = attack::relay;
                bytes.back() = static_cast<char>(bytes.back() ^ 0x01);
            }
            auto [wec, written] = co_await asio::async_write(to, asio::buffer(bytes), use_tuple);
            (void)written;
            if (wec) {
                co_return;
            }
            wake();
        }
    }

    // Mallory as Hands: TLS with its own CA's certificate, or plain text.
    asio::awaitable<void> answer(tcp::socket& from_goloman, attack how)
    {
        const task counted(*this);
        if (how == attack::plain_text) {
            const std::string challenge = peer::format_challenge("Hands", peer::make_nonce()) + "\n";
            co_await asio::async_write(from_goloman, asio::buffer(challenge), use_tuple);
            std::array<char, 4096> buffer{};
            for (;;) {
                auto [ec, n] = co_await from_goloman.async_read_some(asio::buffer(buffer), use_tuple);
                if (ec) {
                    break;
                }
                seen.append(buffer.data(), n);
            }
        } else {
            ssl::stream<tcp::socket&> tls(from_goloman, fake_);
            auto [ec] = co_await tls.async_handshake(ssl::stream_base::server, use_tuple);
            std::array<char, 4096> buffer{};
            while (!ec) {
                auto [rec, n] = co_await tls.async_read_some(asio::buffer(buffer), use_tuple);
                ec = rec;
                seen.append(buffer.data(), n);
            }
        }
        ++refused_by_goloman;
        wake();
    }

    const netns_lab& lab_;
    tcp::acceptor acceptor_;
    tcp::endpoint hands_;
    asio::steady_timer changed_;
    test_ca own_ca_;
    ssl::context fake_;
    std::list<tcp::socket> sockets_; // stable addresses for the coroutines
};

std::uint64_t counter(const boost::json::value& status, const char* name)
{
    return status.at("counters").at(name).to_number<std::uint64_t>();
}

} // namespace

TEST_CASE("five hosts in namespaces over TLS: records everywhere, a cut host caught up, a man in the middle gets "
          "nothing",
          "[netns][tls][security]")
{
    if (const auto why = netns_lab::unavailable()) {
        WARN("SKIPPED: network namespaces cannot be made here: " << *why);
        return;
    }
    netns_lab lab({{"lan", {"Goloman", "Hands", "Holiday", "Welsh", "Wilkes", "Mallory"}}});
    const scratch_directory certs("netns-tls-");
    const test_ca ca;
    const auto ca_file = ca.write_certificate(certs.path());
    for (const auto& name : everyone) {
        ca.issue_peer(name).write(certs.path(), name);
    }
    auto t = load_topology(HERD_SOURCE_DIR "/herd.toml");
    for (auto& s : t.servers) {
        s.host = lab.address(s.name);
    }
    // TLS alone proves membership here: no secret.
    const std::string tls = "tls_ca = \"" + ca_file.string() + "\"\ntls_cert = \"" + certs.path().string() +
                            "/{name}.crt\"\ntls_key = \"" + certs.path().string() +
                            "/{name}.key\"\nfsync = \"batch\"\n";
    process_herd herd(
        t, {"ip netns exec " + lab.prefix() + "-{name} " HERD_SERVER_PATH " --name {name} --config {config}"}, tls);
    herd.reach_admin([&lab, &herd](const std::string& name, const std::string& request) {
        return ask_in(lab, name, "127.0.0.1", herd.admin_port(name), request);
    });
    // Goloman dials Hands at Mallory's address; Mallory relays to Hands.
    herd.route("Goloman", "Hands", mallory_port, lab.address("Mallory"));
    run_async(
        [&](asio::io_context& io) -> asio::awaitable<void> {
            const tcp::endpoint hands(asio::ip::make_address(lab.address("Hands")), herd.peer_port("Hands"));
            mallory m(lab, io.get_executor(), hands);
            asio::co_spawn(io, m.run(), [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
            herd.start_all();

            // 1. An IAMAT at Welsh reaches every host, over TLS.
            const auto& welsh = lab.address("Welsh");
            auto first = ask_in(lab, "Welsh", welsh, herd.port("Welsh"),
                                "IAMAT secret.kiwi +34.068930-118.445127 1700000000.5\n");
            const std::string at = co_await std::move(first);
            REQUIRE_THAT(at, Catch::StartsWith("AT Welsh "));
            auto spread = stores_identical(herd, everyone, 10000ms * time_scale, 1);
            const bool everywhere = (co_await std::move(spread)).has_value();
            CHECK(everywhere);
            auto link_up = link_reads(herd, "Goloman", "Hands", true, 10000ms * time_scale);
            const bool through_mallory = (co_await std::move(link_up)).has_value();
            REQUIRE(through_mallory);
            for (const auto& name : everyone) {
                auto get = herd.admin_json(name, "/status");
                const auto status = co_await std::move(get);
                INFO(name);
                CHECK(counter(status, "peer_tls_refused") == 0);
                CHECK(counter(status, "peer_links_refused") == 0);
            }

            // 2. Wilkes cut off misses a burst, and is caught up once back.
            lab.cut_host("Wilkes");
            auto notice = link_reads(herd, "Goloman", "Wilkes", false, 10000ms * time_scale);
            const bool noticed = (co_await std::move(notice)).has_value();
            CHECK(noticed);
            std::string burst;
            for (int i = 0; i < 300; ++i) {
                burst += "IAMAT away" + std::to_string(i) + " +1+1 1700000000\n";
            }
            const auto& goloman = lab.address("Goloman");
            co_await ask_in(lab, "Goloman", goloman, herd.port("Goloman"), burst);
            lab.heal_host("Wilkes");
            auto catch_up = stores_identical(herd, everyone, 5000ms * time_scale, 301);
            const bool caught_up = (co_await std::move(catch_up)).has_value();
            CHECK(caught_up);

            // 3a. Mallory relayed the link, and read nothing of it.
            INFO("Mallory relayed " << m.seen.size() << " bytes");
            CHECK(m.seen.size() > 1000);
            CHECK(m.seen.find("secret.kiwi") == std::string::npos);
            CHECK(m.seen.find("away1") == std::string::npos);
            CHECK(m.seen.find("+34.068930") == std::string::npos);
            CHECK(m.seen.find("HERD herd/1") == std::string::npos);

            // 3b. A forged record, then a flipped byte: Hands ends the link
            // each time, and stores neither.
            for (const auto how : {attack::forge_record, attack::flip_byte}) {
                const int closed = m.closed_by_hands;
                m.mode = how;
                const std::string nudge = "IAMAT nudge" + std::to_string(closed) + " +2+2 1700000001\n";
                auto ask = ask_in(lab, "Goloman", goloman, herd.port("Goloman"), nudge);
                const std::string more = co_await std::move(ask);
                CHECK_THAT(more, Catch::StartsWith("AT Goloman "));
                auto wait = m.until([&] { return m.closed_by_hands > closed; }, 10000ms * time_scale);
                const bool ended = co_await std::move(wait);
                CHECK(ended);
            }
            auto after = stores_identical(herd, everyone, 10000ms * time_scale, 303);
            const bool consistent = (co_await std::move(after)).has_value();
            CHECK(consistent);
            for (const auto& name : everyone) {
                auto get = ask_in(lab, name, "127.0.0.1", herd.admin_port(name),
                                  "GET /clients/forged.client HTTP/1.0\r\n\r\n");
                const std::string answer = co_await std::move(get);
                INFO(name);
                CHECK_THAT(answer, Catch::Contains(" 404 "));
            }

            // 3c. Mallory answers Goloman itself: with a certificate for
            // "Hands" from its own CA, then in plain text. Refused, counted.
            for (const auto how : {attack::own_certificate, attack::plain_text}) {
                const int refused = m.refused_by_goloman;
                m.mode = how;
                m.cut();
                auto wait = m.until([&] { return m.refused_by_goloman > refused; }, 10000ms * time_scale);
                const bool ended = co_await std::move(wait);
                CHECK(ended);
            }
            m.mode = attack::relay;
            auto get = herd.admin_json("Goloman", "/status");
            const auto status = co_await std::move(get);
            CHECK(counter(status, "peer_tls_refused") >= 2);
            CHECK(m.seen.find("HELLO") == std::string::npos);
            m.cut();
            auto back = link_reads(herd, "Goloman", "Hands", true, 10000ms * time_scale);
            const bool relayed_again = (co_await std::move(back)).has_value();
            CHECK(relayed_again);
            m.stop();
            auto gone = m.until([&] { return m.running == 0; }, 5000ms);
            const bool all_ended = co_await std::move(gone);
            REQUIRE(all_ended);
        },
        120s);
}
