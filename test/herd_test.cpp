// Five real servers on loopback in the default topology (the repository's
// herd.toml, moved to free ports), all on the test's io_context.
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <set>
#include <span>
#include <string_view>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;

namespace {

constexpr std::array<std::string_view, 5> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};

// The AT line of a WHATSAT reply from `server`, or the whole reply if it
// is an error.
asio::awaitable<std::string> whatsat_at_line(local_herd& herd, std::string_view server, std::string_view client)
{
    const std::string request = "WHATSAT " + std::string(client) + " 5 3\n";
    const std::string reply = co_await ask(herd.port(server), request);
    co_return reply.substr(0, reply.find('\n'));
}

asio::awaitable<bool> everyone_has(local_herd& herd, std::span<const std::string_view> servers, std::string_view client,
                                   std::string_view at_line,
                                   std::chrono::milliseconds limit = std::chrono::milliseconds(2000))
{
    co_return co_await herd.changed().until(
        [&] {
            return std::all_of(servers.begin(), servers.end(),
                               [&](const auto& s) { return herd.record_at(s, client) == at_line; });
        },
        limit);
}

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

} // namespace

TEST_CASE("an IAMAT at Goloman is answered with the same AT line by every server", "[herd]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        const std::string at = first_line(
            co_await ask(herd.port("Goloman"), "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n"));
        REQUIRE_THAT(at, Catch::StartsWith("AT Goloman +") &&
                             Catch::EndsWith(" kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"));
        const auto settled = co_await everyone_has(herd, everyone, "kiwi.cs.ucla.edu", at);
        REQUIRE(settled);
        for (const auto& s : everyone) {
            INFO(s);
            const auto answer = co_await whatsat_at_line(herd, s, "kiwi.cs.ucla.edu");
            CHECK(answer == at);
        }
        // Welsh is two links from Goloman: Goloman - Holiday - Welsh.
        CHECK(herd.at("Welsh").stats().peer_records_stored == 1);
    });
}

TEST_CASE("a newer IAMAT at any server replaces the record everywhere, a stale one nowhere", "[herd]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        const std::string first = first_line(co_await ask(herd.port("Welsh"), "IAMAT kiwi +34-118 1700000000\n"));
        const auto settled_first = co_await everyone_has(herd, everyone, "kiwi", first);
        REQUIRE(settled_first);

        const std::string newer = first_line(co_await ask(herd.port("Hands"), "IAMAT kiwi +35-119 1700000001\n"));
        const auto settled_newer = co_await everyone_has(herd, everyone, "kiwi", newer);
        REQUIRE(settled_newer);

        const auto queued_before = herd.at("Goloman").stats().peer_records_queued;
        const std::string stale = first_line(co_await ask(herd.port("Goloman"), "IAMAT kiwi +36-120 1700000000.5\n"));
        CHECK_THAT(stale, Catch::StartsWith("AT Goloman ") && Catch::EndsWith(" kiwi +36-120 1700000000.5"));
        // Records are handed to the links before the AT reply is written,
        // so by now a stale record that travelled would have been counted.
        CHECK(herd.at("Goloman").stats().peer_records_queued == queued_before);
        const std::string fresh = first_line(co_await ask(herd.port("Goloman"), "IAMAT other +1+1 1\n"));
        CHECK(herd.at("Goloman").stats().peer_records_queued == queued_before + 3);
        const auto settled_other = co_await everyone_has(herd, everyone, "other", fresh);
        REQUIRE(settled_other);
        for (const auto& s : everyone) {
            INFO(s);
            const auto answer = co_await whatsat_at_line(herd, s, "kiwi");
            CHECK(answer == newer);
        }
    });
}

TEST_CASE("a server stopped and started again: the herd keeps answering, and it gets the next update within a second",
          "[herd][restart]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        herd.stop("Holiday"); // the only way to Welsh
        const std::string while_down =
            first_line(co_await ask(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n"));
        constexpr std::array<std::string_view, 3> reachable{"Goloman", "Hands", "Wilkes"};
        const auto settled = co_await everyone_has(herd, reachable, "kiwi", while_down);
        REQUIRE(settled);
        const auto at_wilkes = co_await whatsat_at_line(herd, "Wilkes", "kiwi");
        CHECK(at_wilkes == while_down);
        const auto at_welsh = co_await whatsat_at_line(herd, "Welsh", "kiwi");
        CHECK(at_welsh == "? WHATSAT kiwi 5 3");

        herd.start("Holiday");
        const auto sent = std::chrono::steady_clock::now();
        const std::string next = first_line(co_await ask(herd.port("Hands"), "IAMAT kiwi +35-119 1700000001\n"));
        constexpr std::array<std::string_view, 2> restarted{"Holiday", "Welsh"};
        const auto restarted_in_time =
            co_await everyone_has(herd, restarted, "kiwi", next, std::chrono::milliseconds(1000));
        CHECK(restarted_in_time);
        CHECK(std::chrono::steady_clock::now() - sent < std::chrono::seconds(1));
        for (const auto& s : everyone) {
            INFO(s);
            const auto answer = co_await whatsat_at_line(herd, s, "kiwi");
            CHECK(answer == next);
        }
    });
}

TEST_CASE("forged peer lines from a client change nothing anywhere", "[herd][security]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        const std::string real = first_line(co_await ask(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n"));
        const auto settled = co_await everyone_has(herd, everyone, "kiwi", real);
        REQUIRE(settled);
        for (const auto& s : everyone) {
            const std::string forged = "AT " + std::string(s) + " +0.000000000 kiwi +1+1 1800000000\n";
            const auto answer = co_await ask(herd.port(s), forged);
            CHECK(answer == "? " + forged);
        }
        const std::string barrier = first_line(co_await ask(herd.port("Welsh"), "IAMAT barrier +1+1 1\n"));
        const auto settled_barrier = co_await everyone_has(herd, everyone, "barrier", barrier);
        REQUIRE(settled_barrier);
        for (const auto& s : everyone) {
            INFO(s);
            CHECK(herd.record_at(s, "kiwi") == real);
        }
    });
}

TEST_CASE("a restarted server catches up on what it missed, with no new update", "[herd][catch-up]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        herd.stop("Holiday"); // Welsh's only link
        const std::string missed = first_line(co_await ask(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n"));
        herd.start("Holiday");
        // Nothing new is sent: the record reaches Holiday and Welsh from the
        // queues kept for Holiday or by reconciliation, or not at all. (How
        // long that takes is measured by convergence_test, between processes.)
        const auto settled = co_await everyone_has(herd, everyone, "kiwi", missed, 10000ms);
        CHECK(settled);
        CHECK(herd.at("Holiday").stats().peer_records_stored >= 1);
    });
}

TEST_CASE("with catch_up = false a restarted server knows only what reaches it afterwards", "[herd][catch-up]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        auto topology = on_free_ports(default_topology());
        topology.catch_up = false;
        topology.limits.peer_queue_bytes = 65536;
        local_herd herd(io, topology);
        herd.start_all();
        herd.stop("Holiday");
        // Holiday's neighbours see their links to it down first.
        const bool noticed = co_await herd.changed().until(
            [&] {
                return herd.at("Goloman").stats().peer_links_up == 2 && herd.at("Wilkes").stats().peer_links_up == 2;
            },
            5000ms);
        REQUIRE(noticed);
        // More than the links' queues to Holiday hold while it is down, in
        // requests small enough that the links that are up drain between
        // them (their queues are as small, and nothing would repair them).
        constexpr int burst = 2000;
        for (int part = 0; part < burst / 50; ++part) {
            std::string lines;
            for (int i = part * 50; i < (part + 1) * 50; ++i) {
                lines += "IAMAT kiwi" + std::to_string(i) + " +34-118 1700000000\n";
            }
            co_await ask(herd.port("Goloman"), lines);
        }
        // Goloman drops as it stores (the reply comes after); Wilkes as the
        // records reach its store, which wakes this test.
        REQUIRE(herd.at("Goloman").stats().peer_records_dropped >= 1);
        const bool wilkes_dropped =
            co_await herd.changed().until([&] { return herd.at("Wilkes").stats().peer_records_dropped >= 1; }, 10000ms);
        REQUIRE(wilkes_dropped);
        herd.start("Holiday");
        // The next record goes once the queues to Holiday have drained (a
        // record that finds a queue full is dropped too).
        const auto drained = [&](const char* name) {
            const auto& st = herd.at(name).stats();
            return st.peer_links_up == 3 && st.peer_records_sent == st.peer_records_queued;
        };
        // A link that has written all it held says so (link_event::idle).
        const bool both_drained =
            co_await herd.changed().until([&] { return drained("Goloman") && drained("Wilkes"); }, 10000ms);
        REQUIRE(both_drained);
        const std::string next = first_line(co_await ask(herd.port("Goloman"), "IAMAT plum +1+1 1\n"));
        const auto settled = co_await everyone_has(herd, everyone, "plum", next, 10000ms);
        REQUIRE(settled);
        // What the queues held arrived; what they dropped never does.
        CHECK(herd.at("Holiday").store().size() < burst + 1);
        CHECK(herd.at("Goloman").store().size() == burst + 1);
        CHECK(herd.at("Goloman").stats().reconciliations == 0);
        CHECK(herd.at("Goloman").stats().reconcile_records_sent == 0);
    });
}

TEST_CASE("a partitioned herd, updated on both sides, converges when healed", "[herd][catch-up][partition]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, on_free_ports(default_topology()));
        herd.start_all();
        herd.stop("Holiday"); // the bridge: Welsh on one side, Goloman, Hands, Wilkes on the other
        const std::string at_welsh = first_line(co_await ask(herd.port("Welsh"), "IAMAT only-welsh +1+1 10\n"));
        const std::string at_hands = first_line(co_await ask(herd.port("Hands"), "IAMAT only-hands +2+2 10\n"));
        // The same client on both sides: the newer wins everywhere.
        co_await ask(herd.port("Welsh"), "IAMAT both +3+3 20\n");
        const std::string newest = first_line(co_await ask(herd.port("Wilkes"), "IAMAT both +4+4 21\n"));
        herd.start("Holiday");
        const auto welsh_side = co_await everyone_has(herd, everyone, "only-welsh", at_welsh, 10000ms);
        const auto hands_side = co_await everyone_has(herd, everyone, "only-hands", at_hands, 10000ms);
        const auto both = co_await everyone_has(herd, everyone, "both", newest, 10000ms);
        CHECK(welsh_side);
        CHECK(hands_side);
        CHECK(both);
        std::set<std::uint64_t> digests;
        for (const auto s : everyone) {
            digests.insert(herd.at(s).store().digest());
        }
        CHECK(digests.size() == 1);
    });
}
