// The herd of five as five hosts, each in a network namespace of its own
// with its own address and `host`, on two sites joined by a trunk; links
// cut with `ip link set down` and healed. Skipped, with the reason, where
// namespaces cannot be made.
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/netns.hpp"
#include "support/process_herd.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <set>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};

// A server's /status, asked from inside its own namespace (the admin port
// listens on that namespace's loopback).
asio::awaitable<boost::json::object> status_of(const netns_lab& lab, const process_herd& herd, const std::string& name)
{
    const std::string reply =
        co_await ask_in(lab, name, "127.0.0.1", herd.admin_port(name), "GET /status HTTP/1.0\r\n\r\n");
    const auto body = reply.find("\r\n\r\n");
    boost::system::error_code ec;
    auto parsed = boost::json::parse(body == std::string::npos ? std::string() : reply.substr(body + 4), ec);
    co_return !ec && parsed.is_object() ? parsed.as_object() : boost::json::object{};
}

// Every server holds `size` records with one digest, within `limit`.
asio::awaitable<bool> identical(const netns_lab& lab, const process_herd& herd, std::size_t size,
                                std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (;;) {
        std::set<std::pair<std::int64_t, std::string>> seen;
        for (const auto& name : everyone) {
            const auto status = co_await status_of(lab, herd, name);
            const auto* size_field = status.if_contains("store_size");
            const auto* digest = status.if_contains("store_digest");
            seen.emplace(size_field ? size_field->to_number<std::int64_t>() : -1,
                         digest ? std::string(digest->as_string()) : "");
        }
        if (seen.size() == 1 && seen.begin()->first == static_cast<std::int64_t>(size)) {
            co_return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        pause.expires_after(50ms);
        co_await pause.async_wait(asio::use_awaitable);
    }
}

// `name`'s link to `neighbour` reads `up` in its /status, within `limit`.
asio::awaitable<bool> link_reads(const netns_lab& lab, const process_herd& herd, const std::string& name,
                                 const std::string& neighbour, bool up, std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (;;) {
        const auto status = co_await status_of(lab, herd, name);
        const auto* links = status.if_contains("links");
        const auto* link = links && links->is_object() ? links->as_object().if_contains(neighbour) : nullptr;
        const auto* flag = link && link->is_object() ? link->as_object().if_contains("up") : nullptr;
        if (flag && flag->is_bool() && flag->as_bool() == up) {
            co_return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        pause.expires_after(50ms);
        co_await pause.async_wait(asio::use_awaitable);
    }
}

} // namespace

TEST_CASE("five hosts in namespaces: a partition between two sites, both sides updated, heals within 2 s",
          "[netns][convergence][partition]")
{
    if (const auto why = netns_lab::unavailable()) {
        WARN("SKIPPED: network namespaces cannot be made here: " << *why);
        return;
    }
    // West: Holiday and Welsh; east: Goloman, Hands and Wilkes. The trunk
    // carries Holiday's links to Goloman and Wilkes, the only ones between.
    netns_lab lab({{"west", {"Holiday", "Welsh"}}, {"east", {"Goloman", "Hands", "Wilkes"}}});
    auto topology = default_topology();
    for (auto& s : topology.servers) {
        s.host = lab.address(s.name);
    }
    const server_command inside{"ip netns exec " + lab.prefix() +
                                "-{name} " HERD_SERVER_PATH " --name {name} --config {config}"};
    process_herd herd(topology, inside, "secret = \"netns-test\"\nfsync = \"batch\"\n");
    herd.start_all();
    run_async(
        [&](asio::io_context&) -> asio::awaitable<void> {
            const auto& goloman = lab.address("Goloman");
            const std::string first =
                co_await ask_in(lab, "Goloman", goloman, herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n");
            REQUIRE_THAT(first, Catch::StartsWith("AT Goloman "));
            const bool spread = co_await identical(lab, herd, 1, 10000ms);
            REQUIRE(spread);

            lab.cut_trunk("west");
            // Both sides see the links across the cut go down (heartbeats).
            const bool west_sees = co_await link_reads(lab, herd, "Holiday", "Goloman", false, 10000ms);
            const bool east_sees = co_await link_reads(lab, herd, "Goloman", "Holiday", false, 10000ms);
            CHECK(west_sees);
            CHECK(east_sees);
            const auto& welsh = lab.address("Welsh");
            const auto& hands = lab.address("Hands");
            co_await ask_in(lab, "Welsh", welsh, herd.port("Welsh"), "IAMAT only-west +1+1 10\nIAMAT both +3+3 20\n");
            co_await ask_in(lab, "Hands", hands, herd.port("Hands"), "IAMAT only-east +2+2 10\nIAMAT both +4+4 21\n");

            lab.heal_trunk("west");
            const bool healed = co_await identical(lab, herd, 4, 2000ms * time_scale);
            CHECK(healed);
            const std::string both = co_await ask_in(lab, "Welsh", welsh, herd.port("Welsh"), "WHATSAT both 1 1\n");
            CHECK_THAT(both, Catch::StartsWith("AT Hands ") && Catch::Contains(" both +4+4 21"));
        },
        60s);
}

TEST_CASE("five hosts in namespaces: a host cut off by `ip link set down` is caught up when it is back",
          "[netns][convergence]")
{
    if (const auto why = netns_lab::unavailable()) {
        WARN("SKIPPED: network namespaces cannot be made here: " << *why);
        return;
    }
    netns_lab lab({{"lan", everyone}});
    auto topology = default_topology();
    for (auto& s : topology.servers) {
        s.host = lab.address(s.name);
    }
    const server_command inside{"ip netns exec " + lab.prefix() +
                                "-{name} " HERD_SERVER_PATH " --name {name} --config {config}"};
    process_herd herd(topology, inside, "secret = \"netns-test\"\nfsync = \"batch\"\n");
    herd.start_all();
    run_async(
        [&](asio::io_context&) -> asio::awaitable<void> {
            lab.cut_host("Wilkes");
            const bool noticed = co_await link_reads(lab, herd, "Goloman", "Wilkes", false, 10000ms);
            CHECK(noticed);
            std::string burst;
            for (int i = 0; i < 1000; ++i) {
                burst += "IAMAT away" + std::to_string(i) + " +1+1 1700000000\n";
            }
            const auto& goloman = lab.address("Goloman");
            co_await ask_in(lab, "Goloman", goloman, herd.port("Goloman"), burst);
            lab.heal_host("Wilkes");
            const bool caught_up = co_await identical(lab, herd, 1000, 5000ms);
            CHECK(caught_up);
        },
        60s);
}
