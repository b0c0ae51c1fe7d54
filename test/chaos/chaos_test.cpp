// The chaos test: five herd-server processes, a load of IAMATs to random
// servers, and a loop that SIGKILLs a random server and starts it again
// (never more than one down at a time). When the load stops, every server's
// /clients must be the same, and hold for every client a record at least as
// new as the newest IAMAT that got an AT reply. `herd-chaos --seconds N`.
#define CATCH_CONFIG_RUNNER
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <map>
#include <random>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

int seconds_to_run = 10;

constexpr std::array<std::string_view, 5> everyone{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"};
constexpr int client_count = 50;
constexpr int workers = 8;

struct tally {
    std::uint64_t sent = 0;
    std::uint64_t acknowledged = 0;
    std::uint64_t kills = 0;
    std::map<std::string, std::int64_t> newest_acked; // client -> client time (seconds)
    std::int64_t next_time = 1'700'000'000;
};

asio::awaitable<void> load(process_herd& herd, tally& t, std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 random(seed);
    while (std::chrono::steady_clock::now() < until) {
        const auto server = everyone[random() % everyone.size()];
        const std::string client = "c" + std::to_string(random() % client_count);
        const std::int64_t time = t.next_time++; // every IAMAT newer than the last
        const std::string line = "IAMAT " + client + " +34-118 " + std::to_string(time) + "\n";
        ++t.sent;
        std::string reply;
        try {
            reply = co_await ask(herd.port(server), line);
        } catch (const boost::system::system_error&) {
            continue; // refused: the server is down, nothing was acknowledged
        }
        if (reply.rfind("AT ", 0) == 0) {
            ++t.acknowledged;
            auto& newest = t.newest_acked[client];
            newest = std::max(newest, time);
        }
    }
}

asio::awaitable<void> chaos(asio::io_context& io, process_herd& herd, tally& t,
                            std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 random(seed);
    asio::steady_timer pause(io);
    while (std::chrono::steady_clock::now() < until) {
        pause.expires_after(std::chrono::milliseconds(300 + random() % 400));
        co_await pause.async_wait(asio::use_awaitable);
        const std::string victim(everyone[random() % everyone.size()]);
        herd.process(victim).signal(SIGKILL);
        herd.process(victim).wait(5s);
        herd.forget(victim);
        ++t.kills;
        pause.expires_after(std::chrono::milliseconds(100 + random() % 400));
        co_await pause.async_wait(asio::use_awaitable);
        herd.start(victim);
    }
}

asio::awaitable<boost::json::object> clients_of(std::uint16_t admin_port)
{
    const std::string raw =
        co_await ask(admin_port, "GET /clients HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    co_return boost::json::parse(raw.substr(raw.find("\r\n\r\n") + 4)).as_object();
}

} // namespace

TEST_CASE("chaos: SIGKILLs under load lose no acknowledged update", "[chaos]")
{
    process_herd herd(on_free_ports(default_topology()), herd_server_command());
    herd.start_all();
    tally t;
    std::random_device seed;
    const unsigned base_seed = seed();
    INFO("seed " << base_seed);
    run_async(
        [&](asio::io_context& io) -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds_to_run);
            auto killer = chaos(io, herd, t, until, base_seed);
            auto group = load(herd, t, until, base_seed + 1) && load(herd, t, until, base_seed + 2) &&
                         load(herd, t, until, base_seed + 3) && load(herd, t, until, base_seed + 4) &&
                         load(herd, t, until, base_seed + 5) && load(herd, t, until, base_seed + 6) &&
                         load(herd, t, until, base_seed + 7) && load(herd, t, until, base_seed + 8) &&
                         std::move(killer);
            co_await std::move(group);
        },
        std::chrono::seconds(seconds_to_run + 60));

    // The load has stopped and every server is up: wait for one store.
    std::map<std::string, boost::json::object> stores;
    bool identical = false;
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        asio::steady_timer pause(io);
        for (int i = 0; i < 100 && !identical; ++i) {
            for (const auto name : everyone) {
                stores[std::string(name)] = co_await clients_of(herd.admin_port(name));
            }
            identical = std::all_of(stores.begin(), stores.end(),
                                    [&](const auto& s) { return s.second == stores.begin()->second; });
            pause.expires_after(100ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
    });
    // Lost: a client whose newest acknowledged update is missing, or older
    // at any server.
    std::uint64_t lost = 0;
    for (const auto& [client, newest] : t.newest_acked) {
        for (const auto& [name, store] : stores) {
            const auto* record = store.if_contains(client);
            const std::int64_t held = record == nullptr ? 0 : record->at("time_ns").as_int64() / 1'000'000'000;
            if (held < newest) {
                ++lost;
                UNSCOPED_INFO("lost: " << client << " acknowledged at " << newest << ", " << name << " holds " << held);
                break;
            }
        }
    }
    std::printf("chaos: %d s, updates sent %llu, acknowledged %llu, kills %llu, lost %llu, stores identical: %s\n",
                seconds_to_run, static_cast<unsigned long long>(t.sent),
                static_cast<unsigned long long>(t.acknowledged), static_cast<unsigned long long>(t.kills),
                static_cast<unsigned long long>(lost), identical ? "yes" : "no");
    CHECK(identical);
    CHECK(lost == 0);
    CHECK(t.kills > 0);
    CHECK(t.acknowledged > 0);
}

int main(int argc, char* argv[])
{
    Catch::Session session;
    using Catch::clara::Opt;
    session.cli(session.cli() | Opt(seconds_to_run, "seconds")["--seconds"]("how long the load and the kills go on"));
    if (const int rc = session.applyCommandLine(argc, argv); rc != 0) {
        return rc;
    }
    return session.run();
}
