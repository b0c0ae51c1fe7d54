// broadcast = "tree" on real servers (peer/tree_broadcast.hpp): five on
// loopback in the default topology, all on the test's io_context.
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"

#include <array>
#include <span>
#include <string_view>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::array<std::string_view, 5> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};

topology tree_herd()
{
    auto herd = on_free_ports(default_topology());
    herd.broadcast = broadcast_mode::tree;
    return herd;
}

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

// Full records received, over the servers: the herd's peer messages.
std::uint64_t records_received(local_herd& herd, std::span<const std::string_view> servers)
{
    std::uint64_t sum = 0;
    for (const auto s : servers) {
        sum += herd.at(s).stats().peer_records_received;
    }
    return sum;
}

// IAMAT `client` at `origin`; true once every one of `servers` holds the
// AT line it was answered with, within `limit`.
asio::awaitable<bool> update_reaches(local_herd& herd, std::string_view origin, std::string client,
                                     std::span<const std::string_view> servers, std::chrono::milliseconds limit)
{
    const std::string request = "IAMAT " + client + " +34.068930-118.445127 1700000000\n";
    const std::string reply = co_await ask(herd.port(origin), request);
    const std::string at = first_line(reply);
    co_return co_await herd.changed().until(
        [&] {
            return std::all_of(servers.begin(), servers.end(),
                               [&](const auto& s) { return herd.record_at(s, client) == at; });
        },
        limit);
}

} // namespace

TEST_CASE("broadcast tree: once pruned, a herd of five sends each update over four links, and notices over the rest",
          "[herd][tree]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, tree_herd());
        herd.start_all();
        // The first updates flood and prune the redundant links (links also
        // join the tree as their BROADCAST is answered): warm up until an
        // update takes exactly the four messages of a spanning tree.
        bool pruned = false;
        for (int i = 0; i < 20 && !pruned; ++i) {
            const auto before = records_received(herd, everyone);
            auto warm = update_reaches(herd, everyone[i % everyone.size()], "warm" + std::to_string(i), everyone, 2s);
            const bool reached = co_await std::move(warm);
            REQUIRE(reached);
            // Duplicates still in flight would come within a few ms on loopback.
            asio::steady_timer settle(io, 50ms);
            co_await settle.async_wait(asio::use_awaitable);
            pruned = records_received(herd, everyone) - before == 4;
        }
        REQUIRE(pruned);
        const auto before = records_received(herd, everyone);
        for (int i = 0; i < 10; ++i) {
            auto update = update_reaches(herd, everyone[(i * 3) % everyone.size()], "kiwi" + std::to_string(i),
                                         everyone, 2s);
            const bool reached = co_await std::move(update);
            CHECK(reached);
        }
        asio::steady_timer settle(io, 100ms);
        co_await settle.async_wait(asio::use_awaitable);
        CHECK(records_received(herd, everyone) - before == 10 * 4); // RMR 0
        std::uint64_t notices = 0;
        for (const auto s : everyone) {
            notices += herd.at(s).stats().tree_notices_sent;
        }
        CHECK(notices > 0); // the two links off the tree carried notices
    });
}

TEST_CASE("broadcast tree: with a server of the tree gone, the next updates reach the rest within a second",
          "[herd][tree]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, tree_herd());
        herd.start_all();
        for (int i = 0; i < 5; ++i) {
            auto warm = update_reaches(herd, everyone[i], "warm" + std::to_string(i), everyone, 2s);
            const bool reached = co_await std::move(warm);
            REQUIRE(reached);
        }
        // Wilkes links Goloman, Hands and Holiday: whichever of its links
        // the tree used is gone with it, and the rest must graft round it.
        herd.stop("Wilkes");
        constexpr std::array<std::string_view, 4> rest{"Goloman", "Hands", "Holiday", "Welsh"};
        for (int i = 0; i < 8; ++i) {
            INFO("update " << i);
            auto update = update_reaches(herd, rest[i % rest.size()], "after" + std::to_string(i), rest, 1s);
            const bool reached = co_await std::move(update);
            CHECK(reached);
        }
    });
}

TEST_CASE("broadcast tree: a tree server among flood servers floods to them, and every update reaches everyone",
          "[herd][tree]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        const auto flood = on_free_ports(default_topology());
        auto tree = flood;
        tree.broadcast = broadcast_mode::tree;
        local_herd herd(io, flood);
        herd.start("Goloman", tree);
        herd.start("Hands", tree);
        for (const auto* name : {"Holiday", "Welsh", "Wilkes"}) {
            herd.start(name);
        }
        for (int i = 0; i < 10; ++i) {
            auto update = update_reaches(herd, everyone[i % everyone.size()], "kiwi" + std::to_string(i), everyone, 2s);
            const bool reached = co_await std::move(update);
            CHECK(reached);
        }
        // Goloman's links to the flood servers asked BROADCAST, were told
        // "flood" and flood; only its link to Hands is in a tree, so it
        // owes notices to nobody else.
        CHECK(herd.at("Holiday").stats().peer_records_received > 0);
        for (const auto* name : {"Holiday", "Welsh", "Wilkes"}) {
            INFO(name);
            CHECK(herd.at(name).stats().tree_notices_sent == 0);
            CHECK(herd.at(name).stats().tree_prunes_sent == 0);
        }
    });
}
