// A herd of real server processes for end-to-end and conformance tests:
// any implementation, started from a command template, in a scratch
// directory with its own topology file and logs.
#pragma once

#include "herd/topology.hpp"
#include "support/process.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::test {

// What the time bounds of the tests that measure the herd's convergence
// (docs/reliability.md) are multiplied by: 1, except under the sanitizers,
// whose servers run five to ten times slower (a SIGSTOP case there took
// 27 s where the release build takes 2); there they check convergence and
// memory, not the bound.
#ifdef HERD_SANITIZED_TESTS
inline constexpr int time_scale = 10;
#else
inline constexpr int time_scale = 1;
#endif

// A fresh directory under the system's temporary directory.
std::filesystem::path scratch_dir(std::string_view prefix);

// scratch_dir, removed with what it holds at the end of its scope (kept
// under HERD_KEEP_TEST_FILES, as process_herd keeps its own).
class scratch_directory {
public:
    explicit scratch_directory(std::string_view prefix) : path_(scratch_dir(prefix)) {}
    ~scratch_directory();
    scratch_directory(const scratch_directory&) = delete;
    scratch_directory& operator=(const scratch_directory&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);

// How to start one server: {name} and {config} are replaced, the rest is
// split on spaces ("python3 server.py --name {name} --config {config}").
struct server_command {
    std::string template_;
    std::vector<std::string> argv(std::string_view name, const std::filesystem::path& config) const;
};

// The C++ herd-server of this build.
server_command herd_server_command();

class process_herd {
public:
    // `extra_toml` goes into the topology file right after [herd]'s
    // log_dir (so it may add [herd] keys, then tables); `env` into each
    // server's environment ("NAME=value").
    process_herd(topology herd, server_command command, const std::string& extra_toml = "",
                 std::vector<std::string> env = {});
    ~process_herd();
    process_herd(const process_herd&) = delete;
    process_herd& operator=(const process_herd&) = delete;

    // Starts `name` (with `command`, or the herd's) and waits for its
    // ready line (no polling of ports).
    void start(const std::string& name);
    void start(const std::string& name, const server_command& command);
    void start_all();

    // From now on `dialler` dials `neighbour`'s peer port at `port` (a
    // fault proxy's, relaying to the real one), and at `host` if given (a
    // relay on another host), instead: it gets a topology file of its own,
    // the same but for that port. Takes effect when `dialler` is next
    // started.
    void route(const std::string& dialler, const std::string& neighbour, std::uint16_t port,
               const std::string& host = "");
    // Both ways between `a` and `b`, each server dialling the other's proxy
    // (`a_to_b` relays to b's peer port, `b_to_a` to a's).
    void route_pair(const std::string& a, const std::string& b, std::uint16_t a_to_b, std::uint16_t b_to_a);
    std::uint16_t peer_port(std::string_view name) const { return herd_.find(name)->peer_port; }
    bool running(const std::string& name) const { return servers_.contains(name); }

    child_process& process(const std::string& name) { return *servers_.at(name); }
    void forget(const std::string& name) { servers_.erase(name); }
    std::filesystem::path config() const { return dir_ / "herd.toml"; }
    // The file `name` is started with: config(), unless route() gave it one.
    std::filesystem::path config_of(const std::string& name) const;
    std::uint16_t port(std::string_view name) const { return herd_.find(name)->port; }
    std::uint16_t admin_port(std::string_view name) const { return herd_.find(name)->admin_port; }
    std::string log_of(const std::string& name) const;
    const topology& herd() const { return herd_; }

    // How a test reaches a server's admin port: 127.0.0.1 here by default;
    // a herd whose servers run in network namespaces of their own asks from
    // inside each (test/netns_test.cpp). It takes the server's name and the
    // request, and gives the raw answer.
    using admin_route =
        std::function<boost::asio::awaitable<std::string>(const std::string& name, const std::string& request)>;
    void reach_admin(admin_route route) { admin_route_ = std::move(route); }
    // GET `path` on `name`'s admin port, through that route: the body, parsed.
    // By value: the coroutine may run after its caller's temporaries are gone.
    boost::asio::awaitable<boost::json::value> admin_json(std::string name, std::string path) const;

private:
    topology herd_;
    server_command command_;
    std::filesystem::path dir_;
    std::vector<std::string> env_;
    std::string extra_toml_;
    struct via {
        std::string host; // empty: the neighbour's own
        std::uint16_t port = 0;
    };
    std::map<std::string, std::map<std::string, via>> routes_; // dialler -> neighbour -> where it dials
    std::map<std::string, std::unique_ptr<child_process>> servers_;
    admin_route admin_route_;
};

// One server's store as its /status shows it: equal summaries, equal
// stores (the digest does not depend on the order records came in).
struct store_summary {
    std::uint64_t size = 0;
    std::string digest;
    bool operator==(const store_summary&) const = default;
};

// GET `path` on an admin port: the body, parsed.
boost::asio::awaitable<boost::json::value> admin_json(std::uint16_t admin_port, std::string path);

// Polls each of `names`' /status every `every` until all show the same
// store (and, if `size` is not 0, of that size), or `limit` passes. The
// time it took, or nothing. `last` gets the summaries last seen.
boost::asio::awaitable<std::optional<std::chrono::milliseconds>>
stores_identical(const process_herd& herd, std::vector<std::string> names, std::chrono::milliseconds limit,
                 std::uint64_t size = 0, std::map<std::string, store_summary>* last = nullptr,
                 std::chrono::milliseconds every = std::chrono::milliseconds(50));

// Polls `name`'s /status until its link to `neighbour` reads `up`, or
// `limit` passes; the time it took, or nothing.
boost::asio::awaitable<std::optional<std::chrono::milliseconds>>
link_reads(const process_herd& herd, std::string name, std::string neighbour, bool up, std::chrono::milliseconds limit);

// Every client of one server's /clients, fetched in pages of `page`
// (?after=ID&limit=N), as one object.
boost::asio::awaitable<boost::json::object> all_clients(std::uint16_t admin_port, std::size_t page = 20000);

// Another process's store can only be seen through its client port, so
// this asks WHATSAT every 20 ms until the AT line is `at_line`.
boost::asio::awaitable<bool> answers_with(std::uint16_t port, std::string_view client, std::string_view at_line,
                                          std::chrono::milliseconds limit);

} // namespace herd::test
