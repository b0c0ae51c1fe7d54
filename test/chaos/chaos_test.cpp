// The chaos test: five herd-server processes, every link between them
// through a fault proxy, a load of IAMATs to random servers (single ones,
// and pipelined batches past the small peer queues this herd is given),
// and three kinds of trouble at once, at random: up to three servers
// SIGKILLed together and started again (never all five down: at most three
// killed and one stopped), a server SIGSTOPped and SIGCONTed, and the two
// links between a pair of neighbours cut at the proxy and passed again.
// When the load stops and every server is back, every server's /clients
// must be the same, and hold for every client a record at least as new as
// the newest IAMAT that got an AT reply. `herd-chaos --seconds N`
// (scripts/chaos).
// HERD_TEST_EXTRA_TOML adds [herd] keys (as in convergence_test.cpp):
// 'catch_up = false' shows what the repair is for.
#define CATCH_CONFIG_RUNNER
#include "support/async.hpp"
#include "support/fault_proxy.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

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
    std::uint64_t kills = 0;        // servers SIGKILLed, counted one by one
    std::uint64_t kill_rounds = 0;  // times one or more were killed together
    std::uint64_t most_killed = 0;  // the most killed at once
    std::uint64_t stops = 0;        // SIGSTOP and, later, SIGCONT
    std::uint64_t cuts = 0;         // a pair's links cut at the proxies and passed again
    std::uint64_t batches = 0;      // pipelined batches answered, fully or in part
    std::set<std::string> busy;     // killed or stopped now: no other trouble for them
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

// Picks up to `want` servers not busy, at random, and marks them busy.
std::vector<std::string> pick(tally& t, std::mt19937& random, std::size_t want)
{
    std::vector<std::string> free;
    for (const auto name : everyone) {
        if (!t.busy.contains(std::string(name))) {
            free.emplace_back(name);
        }
    }
    std::shuffle(free.begin(), free.end(), random);
    free.resize(std::min(want, free.size()));
    for (const auto& name : free) {
        t.busy.insert(name);
    }
    return free;
}

asio::awaitable<void> pause_for(asio::steady_timer& pause, std::chrono::milliseconds d)
{
    pause.expires_after(d);
    co_await pause.async_wait(asio::use_awaitable);
}

// Pipelined batches of IAMATs for a pool of other clients, each batch at a
// random server: past the chaos herd's small peer queues, so links overflow
// and must reconcile. Replies come in order, so the AT lines that came back
// are the first IAMATs of the batch.
constexpr int batch_size = 1500;
constexpr int batch_pool = 15000;

asio::awaitable<void> bursts(asio::io_context& io, process_herd& herd, tally& t,
                             std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 random(seed);
    asio::steady_timer pause(io);
    int next_client = 0;
    while (std::chrono::steady_clock::now() < until) {
        co_await pause_for(pause, std::chrono::milliseconds(100 + random() % 400));
        const auto server = everyone[random() % everyone.size()];
        std::string batch;
        std::vector<std::pair<std::string, std::int64_t>> sent;
        for (int i = 0; i < batch_size; ++i) {
            std::string client = "b" + std::to_string(next_client++ % batch_pool);
            const std::int64_t time = t.next_time++;
            batch += "IAMAT " + client + " +34-118 " + std::to_string(time) + "\n";
            sent.emplace_back(std::move(client), time);
        }
        t.sent += sent.size();
        std::string replies;
        try {
            auto asked = ask(herd.port(server), batch);
            replies = co_await std::move(asked);
        } catch (const boost::system::system_error&) {
            continue;
        }
        ++t.batches;
        std::size_t at = 0;
        for (std::size_t i = 0; i < sent.size(); ++i) {
            const auto end = replies.find('\n', at);
            if (end == std::string::npos || replies.compare(at, 3, "AT ") != 0) {
                break;
            }
            at = end + 1;
            ++t.acknowledged;
            auto& newest = t.newest_acked[sent[i].first];
            newest = std::max(newest, sent[i].second);
        }
    }
}

// One to three servers SIGKILLed at once, then started again.
asio::awaitable<void> killer(asio::io_context& io, process_herd& herd, tally& t,
                             std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 random(seed);
    asio::steady_timer pause(io);
    while (std::chrono::steady_clock::now() < until) {
        co_await pause_for(pause, std::chrono::milliseconds(300 + random() % 700));
        // At most three, and with the one that may be stopped, never five.
        const auto victims = pick(t, random, 1 + random() % 3);
        for (const auto& victim : victims) {
            herd.process(victim).signal(SIGKILL);
        }
        for (const auto& victim : victims) {
            herd.process(victim).wait(5s);
            herd.forget(victim);
        }
        t.kills += victims.size();
        t.kill_rounds += victims.empty() ? 0 : 1;
        t.most_killed = std::max<std::uint64_t>(t.most_killed, victims.size());
        co_await pause_for(pause, std::chrono::milliseconds(100 + random() % 600));
        for (const auto& victim : victims) {
            herd.start(victim);
            t.busy.erase(victim);
        }
    }
}

// A server SIGSTOPped for a while (past herd.peer_timeout, at times), then
// SIGCONTed.
asio::awaitable<void> stopper(asio::io_context& io, process_herd& herd, tally& t,
                              std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 random(seed);
    asio::steady_timer pause(io);
    while (std::chrono::steady_clock::now() < until) {
        co_await pause_for(pause, std::chrono::milliseconds(200 + random() % 800));
        const auto chosen = pick(t, random, 1);
        if (chosen.empty()) {
            continue;
        }
        herd.process(chosen[0]).signal(SIGSTOP);
        ++t.stops;
        co_await pause_for(pause, std::chrono::milliseconds(300 + random() % 3500));
        herd.process(chosen[0]).signal(SIGCONT);
        t.busy.erase(chosen[0]);
    }
}

struct proxied_link {
    std::string a;
    std::string b;
    fault_proxy* a_to_b;
    fault_proxy* b_to_a;
};

// Both links between a random pair of neighbours cut at the proxies for a
// while, then passed.
asio::awaitable<void> cutter(asio::io_context& io, std::vector<proxied_link>& links, tally& t,
                             std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 random(seed);
    asio::steady_timer pause(io);
    while (std::chrono::steady_clock::now() < until) {
        co_await pause_for(pause, std::chrono::milliseconds(200 + random() % 600));
        auto& link = links[random() % links.size()];
        link.a_to_b->cut();
        link.b_to_a->cut();
        ++t.cuts;
        co_await pause_for(pause, std::chrono::milliseconds(200 + random() % 1500));
        link.a_to_b->pass();
        link.b_to_a->pass();
    }
}

} // namespace

TEST_CASE("chaos: kills of up to three with stops and cut links under load lose no acknowledged update", "[chaos]")
{
    std::string extra;
    if (const char* more = std::getenv("HERD_TEST_EXTRA_TOML")) {
        extra = std::string(more) + "\n";
    }
    // The smallest peer queues (about 800 records): the batches overflow
    // them, so the herd converges only if overflow is repaired.
    extra += "[limits]\npeer_queue_bytes = 65536\n";
    process_herd herd(on_free_ports(default_topology()), herd_server_command(), extra);
    // Every link, both ways, through a proxy of its own.
    proxy_host proxies;
    std::vector<proxied_link> links;
    for (const auto& s : herd.herd().servers) {
        for (const auto& n : s.neighbors) {
            if (s.name < n) {
                auto& a_to_b = proxies.add(herd.peer_port(n));
                auto& b_to_a = proxies.add(herd.peer_port(s.name));
                herd.route_pair(s.name, n, a_to_b.port(), b_to_a.port());
                links.push_back({s.name, n, &a_to_b, &b_to_a});
            }
        }
    }
    herd.start_all();
    tally t;
    std::random_device seed;
    const unsigned base_seed = seed();
    INFO("seed " << base_seed);
    run_async(
        [&](asio::io_context& io) -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds_to_run);
            auto kills = killer(io, herd, t, until, base_seed);
            auto stops = stopper(io, herd, t, until, base_seed + 100);
            auto cuts = cutter(io, links, t, until, base_seed + 200);
            auto batches = bursts(io, herd, t, until, base_seed + 300);
            auto group = load(herd, t, until, base_seed + 1) && load(herd, t, until, base_seed + 2) &&
                         load(herd, t, until, base_seed + 3) && load(herd, t, until, base_seed + 4) &&
                         load(herd, t, until, base_seed + 5) && load(herd, t, until, base_seed + 6) &&
                         load(herd, t, until, base_seed + 7) && load(herd, t, until, base_seed + 8) &&
                         std::move(kills) && std::move(stops) && std::move(cuts) && std::move(batches);
            co_await std::move(group);
        },
        std::chrono::seconds(seconds_to_run + 60));

    // The load has stopped, every server is up and running and every link
    // passes: wait for one store (size and digest in /status), then read
    // every /clients.
    const std::vector<std::string> names(everyone.begin(), everyone.end());
    std::map<std::string, boost::json::object> stores;
    bool identical = false;
    std::chrono::milliseconds took{0};
    run_async(
        [&](asio::io_context&) -> asio::awaitable<void> {
            auto wait = stores_identical(herd, names, 20s);
            const auto same = co_await std::move(wait);
            took = same.value_or(20s);
            for (const auto& name : names) {
                auto fetch = all_clients(herd.admin_port(name));
                stores[name] = co_await std::move(fetch);
            }
            identical = same && std::all_of(stores.begin(), stores.end(),
                                            [&](const auto& s) { return s.second == stores.begin()->second; });
        },
        60s);
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
    std::printf("chaos: %d s, updates sent %llu, acknowledged %llu, kills %llu in %llu rounds (at most %llu at once), "
                "stops %llu, cuts %llu, batches %llu, lost %llu, stores identical: %s (%lld ms after the load stopped)\n",
                seconds_to_run, static_cast<unsigned long long>(t.sent),
                static_cast<unsigned long long>(t.acknowledged), static_cast<unsigned long long>(t.kills),
                static_cast<unsigned long long>(t.kill_rounds), static_cast<unsigned long long>(t.most_killed),
                static_cast<unsigned long long>(t.stops), static_cast<unsigned long long>(t.cuts),
                static_cast<unsigned long long>(t.batches),
                static_cast<unsigned long long>(lost), identical ? "yes" : "no", static_cast<long long>(took.count()));
    CHECK(identical);
    CHECK(lost == 0);
    CHECK(t.kills > 0);
    CHECK(t.stops > 0);
    CHECK(t.cuts > 0);
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
