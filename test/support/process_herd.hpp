// A herd of real server processes for end-to-end and conformance tests:
// any implementation, started from a command template, in a scratch
// directory with its own topology file and logs.
#pragma once

#include "herd/topology.hpp"
#include "support/process.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herd::test {

// A fresh directory under the system's temporary directory.
std::filesystem::path scratch_dir(std::string_view prefix);

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

    child_process& process(const std::string& name) { return *servers_.at(name); }
    void forget(const std::string& name) { servers_.erase(name); }
    std::filesystem::path config() const { return dir_ / "herd.toml"; }
    std::uint16_t port(std::string_view name) const { return herd_.find(name)->port; }
    std::uint16_t admin_port(std::string_view name) const { return herd_.find(name)->admin_port; }
    std::string log_of(const std::string& name) const;
    const topology& herd() const { return herd_; }

private:
    topology herd_;
    server_command command_;
    std::filesystem::path dir_;
    std::vector<std::string> env_;
    std::map<std::string, std::unique_ptr<child_process>> servers_;
};

// Another process's store can only be seen through its client port, so
// this asks WHATSAT every 20 ms until the AT line is `at_line`.
boost::asio::awaitable<bool> answers_with(std::uint16_t port, std::string_view client, std::string_view at_line,
                                          std::chrono::milliseconds limit);

} // namespace herd::test
