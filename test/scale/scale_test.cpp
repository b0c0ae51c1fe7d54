// A herd at scale, measured: N herd-server processes on a random connected
// topology of at most DEGREE links a server, IAMATs at random servers, and
// what the broadcast cost and how fast it went:
//
// - peer messages per update (full records received, herd_peer_messages_total
//   in, over every server) and the relative message redundancy, RMR =
//   messages / (N - 1) - 1: 0 for a spanning tree, 2E / (N - 1) - 2 for a
//   flood over E links; under --broadcast tree also the tree's own lines
//   (IHAVE, PRUNE, GRAFT) per update and their bytes. The steady phase
//   follows --warmup updates, in which the tree prunes itself into shape;
// - propagation to the farthest server, p50 and p99: from the origin's log
//   line for its AT reply to the last "(stored)" line for the record among
//   the others' logs (one clock, microsecond timestamps);
// - the time to converge after a server was stopped through a stretch of
//   updates and started again, and after a partition (every link between
//   two halves cut at fault proxies, both halves updated) heals;
// - memory per server (RSS) at the end.
//
// Every update is a new client, so "every store holds every acknowledged
// update" is "every store is identical and holds them all", which is
// checked after each phase. `herd-scale --servers N --degree D
// [--broadcast tree]` (scripts/herd-scale N D) prints a table, --json
// writes the figures, and --max-rmr fails a run whose RMR is above it.
#define CATCH_CONFIG_RUNNER
#include "support/async.hpp"
#include "support/fault_proxy.hpp"
#include "support/herd.hpp"
#include "support/net.hpp"
#include "support/process_herd.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct settings {
    int servers = 20;
    int degree = 4;
    int updates = 1000;      // in the steady phase
    int rate = 200;          // updates a second, over the whole herd
    int fault_updates = 500; // while a server is down, and on each side of the partition
    unsigned seed = 0;       // 0: a random one
    std::string json;        // where the figures go too
    std::string broadcast = "flood";
    int warmup = 100;    // updates before the steady phase: the tree forms in them
    double max_rmr = -1; // at least 0: fail above it
};
settings chosen;

using graph = std::map<std::string, std::set<std::string>>;

std::string server_name(int i)
{
    const std::string number = std::to_string(i + 1);
    return "S" + std::string(number.size() < 2 ? 2 - number.size() : 0, '0') + number;
}

// Connected, and no server with more than `degree` links: a random
// spanning tree first (each server linked to an earlier one with room),
// then random links between servers with room, until few can be added.
graph random_topology(int n, int degree, std::mt19937& random)
{
    graph g;
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
        names.push_back(server_name(i));
        g[names.back()];
    }
    std::shuffle(names.begin(), names.end(), random);
    for (int i = 1; i < n; ++i) {
        std::vector<std::string> room;
        for (int j = 0; j < i; ++j) {
            if (static_cast<int>(g[names[j]].size()) < degree) {
                room.push_back(names[j]);
            }
        }
        const auto& to = room.empty() ? names[random() % i] : room[random() % room.size()];
        g[names[i]].insert(to);
        g[to].insert(names[i]);
    }
    for (int attempt = 0; attempt < 100 * n * degree; ++attempt) {
        const auto& a = names[random() % n];
        const auto& b = names[random() % n];
        if (a == b || g[a].contains(b) || static_cast<int>(g[a].size()) >= degree ||
            static_cast<int>(g[b].size()) >= degree) {
            continue;
        }
        g[a].insert(b);
        g[b].insert(a);
    }
    return g;
}

std::size_t link_count(const graph& g)
{
    std::size_t twice = 0;
    for (const auto& [name, neighbours] : g) {
        twice += neighbours.size();
    }
    return twice / 2;
}

std::string topology_toml(const graph& g)
{
    // Placeholder ports, one apart: on_free_ports gives each its own.
    std::string text;
    int port = 0;
    for (const auto& [name, neighbours] : g) {
        text += "[servers." + name + "]\nport = " + std::to_string(++port) + "\nneighbors = [";
        bool first = true;
        for (const auto& n : neighbours) {
            text += (first ? "\"" : ", \"") + n + "\"";
            first = false;
        }
        text += "]\n\n";
    }
    return text;
}

// Half the servers, in breadth-first order from a random one: a side that
// is usually connected on its own, so each half still floods within itself.
std::set<std::string> half_of(const graph& g, std::mt19937& random)
{
    std::vector<std::string> order;
    std::set<std::string> seen;
    auto start = g.begin();
    std::advance(start, random() % g.size());
    order.push_back(start->first);
    seen.insert(start->first);
    for (std::size_t i = 0; i < order.size() && order.size() < g.size() / 2; ++i) {
        for (const auto& n : g.at(order[i])) {
            if (order.size() < g.size() / 2 && seen.insert(n).second) {
                order.push_back(n);
            }
        }
    }
    return {order.begin(), order.end()};
}

// Sends `count` IAMATs, each for a new client "<prefix><i>", paced at
// `rate` a second, each to a random server of `to`, over one connection
// per server; the clients whose update was acknowledged go to `acked`.
asio::awaitable<void> drive(process_herd& herd, std::vector<std::string> to, std::string prefix, int count, int rate,
                            std::mt19937& random, std::vector<std::string>& acked)
{
    auto executor = co_await asio::this_coro::executor;
    std::map<std::string, std::unique_ptr<client>> open;
    asio::steady_timer pace(executor);
    const auto began = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) {
        pace.expires_at(began + std::chrono::microseconds(1'000'000LL * i / rate));
        co_await pace.async_wait(asio::use_awaitable);
        const auto& server = to[random() % to.size()];
        auto& c = open[server];
        if (!c) {
            c = std::make_unique<client>(executor);
            co_await c->connect(herd.port(server));
        }
        const std::string id = prefix + std::to_string(i);
        const std::string line = "IAMAT " + id + " +34.068930-118.445127 1700000000\n";
        co_await c->send(line);
        const auto reply = co_await c->read_line(5000ms);
        if (reply && reply->starts_with("AT ")) {
            acked.push_back(id);
        }
    }
}

std::uint64_t counter(const boost::json::value& status, const char* name)
{
    return status.at("counters").at(name).to_number<std::uint64_t>();
}

// Full records received over the herd, once they stop coming in: the
// stores are identical before this is read, but the last redundant copies
// may still be on their way.
// What the herd's links carried, over every server: full records, and
// broadcast = "tree"'s own lines.
struct traffic {
    std::uint64_t records = 0; // full records received (herd_peer_messages_total in)
    std::uint64_t notices = 0; // IHAVE lines sent
    std::uint64_t prunes = 0;
    std::uint64_t grafts = 0;
    std::uint64_t tree_bytes = 0; // of those three

    traffic operator-(const traffic& o) const
    {
        return {records - o.records, notices - o.notices, prunes - o.prunes, grafts - o.grafts,
                tree_bytes - o.tree_bytes};
    }
    bool operator==(const traffic&) const = default;
};

// Once the counters have stopped moving (two reads 100 ms apart alike).
asio::awaitable<traffic> settled_traffic(process_herd& herd, const std::vector<std::string>& names)
{
    asio::steady_timer wait(co_await asio::this_coro::executor);
    traffic last;
    for (int settled = 0; settled < 2;) {
        traffic sum;
        for (const auto& name : names) {
            auto read = herd.admin_json(name, "/status");
            const auto status = co_await std::move(read);
            sum.records += counter(status, "peer_records_received");
            sum.notices += counter(status, "tree_notices_sent");
            sum.prunes += counter(status, "tree_prunes_sent");
            sum.grafts += counter(status, "tree_grafts_sent");
            sum.tree_bytes += counter(status, "tree_notice_bytes_sent") + counter(status, "tree_prune_bytes_sent") +
                              counter(status, "tree_graft_bytes_sent");
        }
        settled = sum == last ? settled + 1 : 0;
        last = sum;
        wait.expires_after(100ms);
        co_await wait.async_wait(asio::use_awaitable);
    }
    co_return last;
}

// "2026-12-04T19:00:00.123456Z ..." -> seconds since the epoch.
std::optional<double> log_time(const std::string& line)
{
    std::tm tm{};
    int micros = 0;
    if (std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &micros) != 7) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<double>(timegm(&tm)) + micros / 1e6;
}

struct spread {
    std::size_t measured = 0; // updates found in the origin's log and stored by every other server
    double p50_ms = 0;
    double p99_ms = 0;
    double max_ms = 0;
};

// From each server's log: when the origin wrote each "<prefix>N" client's
// AT reply, and when the last of the others stored it.
spread propagation(const process_herd& herd, const std::vector<std::string>& names, const std::string& prefix)
{
    const std::regex reply(" > AT \\S+ \\S+ (" + prefix + "\\d+) ");
    std::map<std::string, double> sent;
    std::map<std::string, std::pair<std::size_t, double>> stored; // client -> (servers, latest)
    for (const auto& name : names) {
        std::istringstream log(herd.log_of(name));
        for (std::string line; std::getline(log, line);) {
            std::smatch m;
            if (line.find(prefix) == std::string::npos || !std::regex_search(line, m, reply)) {
                continue;
            }
            const auto when = log_time(line);
            if (!when) {
                continue;
            }
            if (line.find(" client ") != std::string::npos) {
                sent.emplace(m[1], *when);
            } else if (line.ends_with("(stored)")) {
                auto& s = stored[m[1]];
                ++s.first;
                s.second = std::max(s.second, *when);
            }
        }
    }
    std::vector<double> delays;
    for (const auto& [client, at] : sent) {
        const auto it = stored.find(client);
        if (it != stored.end() && it->second.first == names.size() - 1) {
            delays.push_back((it->second.second - at) * 1000);
        }
    }
    spread out;
    out.measured = delays.size();
    if (!delays.empty()) {
        std::sort(delays.begin(), delays.end());
        out.p50_ms = delays[delays.size() / 2];
        out.p99_ms = delays[std::min(delays.size() - 1, delays.size() * 99 / 100)];
        out.max_ms = delays.back();
    }
    return out;
}

std::uint64_t rss_bytes(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.starts_with("VmRSS:")) {
            return std::stoull(line.substr(6)) * 1024;
        }
    }
    return 0;
}

} // namespace

TEST_CASE("a random herd converges after a restart and a partition, every update everywhere", "[scale]")
{
    std::random_device device;
    const unsigned seed = chosen.seed != 0 ? chosen.seed : device();
    INFO("seed " << seed);
    std::mt19937 random(seed);
    const graph g = random_topology(chosen.servers, chosen.degree, random);
    const auto herd_file = on_free_ports(parse_topology(topology_toml(g), "scale.toml", "."));
    const std::string extra = "broadcast = \"" + chosen.broadcast + "\"\n";
    process_herd herd(herd_file, herd_server_command(), extra);
    std::vector<std::string> names;
    for (const auto& [name, neighbours] : g) {
        names.push_back(name);
    }
    // The links between the two halves through fault proxies, to cut them;
    // the rest direct, so the proxies' own hop is on few paths.
    const auto side = half_of(g, random);
    proxy_host proxies;
    std::vector<fault_proxy*> crossing;
    for (const auto& [a, neighbours] : g) {
        for (const auto& b : neighbours) {
            if (a < b && side.contains(a) != side.contains(b)) {
                auto& a_to_b = proxies.add(herd.peer_port(b));
                auto& b_to_a = proxies.add(herd.peer_port(a));
                herd.route_pair(a, b, a_to_b.port(), b_to_a.port());
                crossing.push_back(&a_to_b);
                crossing.push_back(&b_to_a);
            }
        }
    }
    herd.start_all();

    std::vector<std::string> acked;
    traffic carried;
    std::optional<std::chrono::milliseconds> steady;
    std::optional<std::chrono::milliseconds> after_restart;
    std::optional<std::chrono::milliseconds> after_partition;
    std::string restarted;
    const auto bound =
        std::chrono::seconds(120 + 3 * (chosen.warmup + chosen.updates + 3 * chosen.fault_updates) / chosen.rate);
    run_async(
        [&](asio::io_context&) -> asio::awaitable<void> {
            // Every link up first, so no update waits on a dial.
            for (const auto& [a, neighbours] : g) {
                for (const auto& b : neighbours) {
                    auto up = link_reads(herd, a, b, true, 20s);
                    const auto took = co_await std::move(up);
                    REQUIRE(took);
                }
            }
            // Under the tree the first updates flood and prune it into shape:
            // the steady phase is measured after them.
            auto warm = drive(herd, names, "w", chosen.warmup, chosen.rate, random, acked);
            co_await std::move(warm);
            auto warmed = stores_identical(herd, names, 30s, acked.size());
            const auto warmed_up = co_await std::move(warmed);
            REQUIRE(warmed_up);
            auto counted = settled_traffic(herd, names);
            const auto before = co_await std::move(counted);
            auto steady_load = drive(herd, names, "u", chosen.updates, chosen.rate, random, acked);
            co_await std::move(steady_load);
            auto same = stores_identical(herd, names, 30s, acked.size());
            steady = co_await std::move(same);
            auto counted_after = settled_traffic(herd, names);
            carried = co_await std::move(counted_after) - before;

            // A server down through a stretch of updates, then started again.
            restarted = names[random() % names.size()];
            herd.process(restarted).signal(SIGTERM);
            REQUIRE(herd.process(restarted).wait(10s) == 0);
            herd.forget(restarted);
            std::vector<std::string> others;
            std::copy_if(names.begin(), names.end(), std::back_inserter(others),
                         [&](const auto& n) { return n != restarted; });
            auto missed = drive(herd, others, "r", chosen.fault_updates, chosen.rate, random, acked);
            co_await std::move(missed);
            herd.start(restarted);
            auto caught_up = stores_identical(herd, names, 60s, acked.size(), nullptr, 20ms);
            after_restart = co_await std::move(caught_up);

            // Every link between the halves cut, both halves updated, then passed.
            for (auto* proxy : crossing) {
                proxy->cut();
            }
            std::vector<std::string> one(side.begin(), side.end());
            std::vector<std::string> two;
            std::copy_if(names.begin(), names.end(), std::back_inserter(two),
                         [&](const auto& n) { return !side.contains(n); });
            auto left = drive(herd, one, "p", chosen.fault_updates, chosen.rate, random, acked);
            co_await std::move(left);
            auto right = drive(herd, two, "q", chosen.fault_updates, chosen.rate, random, acked);
            co_await std::move(right);
            for (auto* proxy : crossing) {
                proxy->pass();
            }
            auto healed = stores_identical(herd, names, 60s, acked.size(), nullptr, 20ms);
            after_partition = co_await std::move(healed);
        },
        bound);

    std::vector<std::uint64_t> rss;
    rss.reserve(names.size());
    for (const auto& name : names) {
        rss.push_back(rss_bytes(herd.process(name).pid()));
    }
    std::sort(rss.begin(), rss.end());
    // The logs are whole once the servers have stopped.
    for (const auto& name : names) {
        herd.process(name).signal(SIGTERM);
    }
    for (const auto& name : names) {
        herd.process(name).wait(10s);
    }
    const auto spread = propagation(herd, names, "u");

    const auto n = static_cast<double>(names.size());
    const double per_update = static_cast<double>(carried.records) / chosen.updates;
    const auto each = [](std::uint64_t count) { return static_cast<double>(count) / chosen.updates; };
    const double rmr = per_update / (n - 1) - 1;
    const auto ms = [](const std::optional<std::chrono::milliseconds>& d) {
        return d ? std::to_string(d->count()) + " ms" : std::string("not within the bound");
    };
    const auto mib = [](std::uint64_t b) { return static_cast<double>(b) / (1 << 20); };
    std::printf("herd-scale: %zu servers, at most %d links each, %zu links, broadcast %s, seed %u\n\n", names.size(),
                chosen.degree, link_count(g), chosen.broadcast.c_str(), seed);
    std::printf("| figure | value |\n|---|---:|\n");
    std::printf("| updates, each a new client at a random server | %d at %d/s |\n", chosen.updates, chosen.rate);
    std::printf("| peer messages per update (full records) | %.2f (a tree: %zu) |\n", per_update, names.size() - 1);
    std::printf("| RMR, messages / (N - 1) - 1 | %.3f |\n", rmr);
    if (chosen.broadcast == "tree") {
        std::printf(
            "| tree lines per update: IHAVE / PRUNE / GRAFT, and their bytes | %.2f / %.3f / %.3f, %.0f bytes |\n",
            each(carried.notices), each(carried.prunes), each(carried.grafts), each(carried.tree_bytes));
    }
    std::printf("| propagation to the farthest server, p50 / p99 / max | %.2f / %.2f / %.2f ms (%zu updates) |\n",
                spread.p50_ms, spread.p99_ms, spread.max_ms, spread.measured);
    std::printf("| all stores identical after the updates | %s |\n", ms(steady).c_str());
    std::printf("| converged after %s restarted, %d updates missed | %s |\n", restarted.c_str(), chosen.fault_updates,
                ms(after_restart).c_str());
    std::printf(
        "| converged after a partition of %zu and %zu servers healed (%zu links cut), %d updates a side | %s |\n",
        side.size(), names.size() - side.size(), crossing.size() / 2, chosen.fault_updates,
        ms(after_partition).c_str());
    std::printf("| memory per server (RSS), median / max | %.1f / %.1f MiB |\n", mib(rss[rss.size() / 2]),
                mib(rss.back()));
    std::fflush(stdout);
    if (!chosen.json.empty()) {
        boost::json::object figures{
            {"servers", names.size()},
            {"degree", chosen.degree},
            {"links", link_count(g)},
            {"broadcast", chosen.broadcast},
            {"warmup", chosen.warmup},
            {"seed", seed},
            {"updates", chosen.updates},
            {"rate", chosen.rate},
            {"messages_per_update", per_update},
            {"rmr", rmr},
            {"tree_lines_per_update",
             {{"ihave", each(carried.notices)},
              {"prune", each(carried.prunes)},
              {"graft", each(carried.grafts)},
              {"bytes", each(carried.tree_bytes)}}},
            {"propagation_ms", {{"p50", spread.p50_ms}, {"p99", spread.p99_ms}, {"max", spread.max_ms}}},
            {"converge_after_restart_ms", after_restart ? after_restart->count() : -1},
            {"converge_after_partition_ms", after_partition ? after_partition->count() : -1},
            {"rss_bytes", {{"median", rss[rss.size() / 2]}, {"max", rss.back()}}},
        };
        std::ofstream(chosen.json) << boost::json::serialize(figures) << "\n";
    }
    CHECK(steady);
    CHECK(after_restart);
    CHECK(after_partition);
    CHECK(acked.size() == static_cast<std::size_t>(chosen.warmup + chosen.updates + 3 * chosen.fault_updates));
    if (chosen.max_rmr >= 0) {
        CHECK(rmr <= chosen.max_rmr);
    }
    CHECK(spread.measured == static_cast<std::size_t>(chosen.updates));
}

int main(int argc, char* argv[])
{
    Catch::Session session;
    using Catch::clara::Opt;
    session.cli(session.cli() | Opt(chosen.servers, "N")["--servers"]("how many servers") |
                Opt(chosen.degree, "D")["--degree"]("the most links a server has") |
                Opt(chosen.updates, "U")["--updates"]("updates in the steady phase") |
                Opt(chosen.rate, "R")["--rate"]("updates a second") |
                Opt(chosen.fault_updates, "F")["--fault-updates"]("updates while a server is down, and a side") |
                Opt(chosen.seed, "S")["--seed"]("the topology's and the load's seed (0: random)") |
                Opt(chosen.json, "FILE")["--json"]("also write the figures here") |
                Opt(chosen.broadcast, "flood|tree")["--broadcast"]("the herd's broadcast") |
                Opt(chosen.warmup, "W")["--warmup"]("updates before the steady phase") |
                Opt(chosen.max_rmr, "X")["--max-rmr"]("fail if the steady phase's RMR is above this"));
    if (const int rc = session.applyCommandLine(argc, argv); rc != 0) {
        return rc;
    }
    if (chosen.broadcast != "flood" && chosen.broadcast != "tree") {
        std::fprintf(stderr, "herd-scale: --broadcast must be flood or tree\n");
        return 2;
    }
    if (chosen.servers < 2 || chosen.degree < 1 || chosen.updates < 1 || chosen.rate < 1 || chosen.warmup < 0) {
        std::fprintf(stderr, "herd-scale: --servers must be at least 2, --degree, --updates and --rate at least 1\n");
        return 2;
    }
    return session.run();
}
