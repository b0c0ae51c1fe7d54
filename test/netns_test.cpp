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
#include <catch2/catch.hpp>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};

// The default herd, each server a host of `lab` whose address is its
// `host`, started; its admin ports are asked from inside each server's
// namespace, where they listen on loopback.
struct herd_in_lab {
    explicit herd_in_lab(const netns_lab& lab)
        : herd(topology_in(lab), command_in(lab), "secret = \"netns-test\"\nfsync = \"batch\"\n")
    {
        herd.reach_admin([&lab, this](const std::string& name, const std::string& request) {
            return ask_in(lab, name, "127.0.0.1", herd.admin_port(name), request);
        });
        herd.start_all();
    }
    static topology topology_in(const netns_lab& lab)
    {
        auto t = default_topology();
        for (auto& s : t.servers) {
            s.host = lab.address(s.name);
        }
        return t;
    }
    static server_command command_in(const netns_lab& lab)
    {
        return {"ip netns exec " + lab.prefix() + "-{name} " HERD_SERVER_PATH " --name {name} --config {config}"};
    }
    process_herd herd;
};

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
    herd_in_lab in_lab(lab);
    auto& herd = in_lab.herd;
    run_async(
        [&](asio::io_context&) -> asio::awaitable<void> {
            const auto& goloman = lab.address("Goloman");
            const std::string first =
                co_await ask_in(lab, "Goloman", goloman, herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n");
            REQUIRE_THAT(first, Catch::StartsWith("AT Goloman "));
            auto spread = stores_identical(herd, everyone, 10000ms, 1);
            const bool spread_everywhere = (co_await std::move(spread)).has_value();
            REQUIRE(spread_everywhere);

            lab.cut_trunk("west");
            // Both sides see the links across the cut go down (heartbeats).
            auto west = link_reads(herd, "Holiday", "Goloman", false, 10000ms);
            const bool west_sees = (co_await std::move(west)).has_value();
            auto east = link_reads(herd, "Goloman", "Holiday", false, 10000ms);
            const bool east_sees = (co_await std::move(east)).has_value();
            CHECK(west_sees);
            CHECK(east_sees);
            const auto& welsh = lab.address("Welsh");
            const auto& hands = lab.address("Hands");
            co_await ask_in(lab, "Welsh", welsh, herd.port("Welsh"), "IAMAT only-west +1+1 10\nIAMAT both +3+3 20\n");
            co_await ask_in(lab, "Hands", hands, herd.port("Hands"), "IAMAT only-east +2+2 10\nIAMAT both +4+4 21\n");

            lab.heal_trunk("west");
            auto heal = stores_identical(herd, everyone, 2000ms * time_scale, 4);
            const bool healed = (co_await std::move(heal)).has_value();
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
    herd_in_lab in_lab(lab);
    auto& herd = in_lab.herd;
    run_async(
        [&](asio::io_context&) -> asio::awaitable<void> {
            lab.cut_host("Wilkes");
            auto notice = link_reads(herd, "Goloman", "Wilkes", false, 10000ms);
            const bool noticed = (co_await std::move(notice)).has_value();
            CHECK(noticed);
            std::string burst;
            for (int i = 0; i < 1000; ++i) {
                burst += "IAMAT away" + std::to_string(i) + " +1+1 1700000000\n";
            }
            const auto& goloman = lab.address("Goloman");
            co_await ask_in(lab, "Goloman", goloman, herd.port("Goloman"), burst);
            lab.heal_host("Wilkes");
            auto catch_up = stores_identical(herd, everyone, 5000ms, 1000);
            const bool caught_up = (co_await std::move(catch_up)).has_value();
            CHECK(caught_up);
        },
        60s);
}
