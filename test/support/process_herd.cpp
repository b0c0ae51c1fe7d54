#include "support/process_herd.hpp"

#include "support/net.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>

namespace herd::test {

namespace asio = boost::asio;

std::filesystem::path scratch_dir(std::string_view prefix)
{
    std::random_device seed;
    auto dir = std::filesystem::temp_directory_path() / (std::string(prefix) + std::to_string(seed()));
    std::filesystem::create_directories(dir);
    return dir;
}

std::string read_file(const std::filesystem::path& path)
{
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> server_command::argv(std::string_view name, const std::filesystem::path& config) const
{
    std::vector<std::string> out;
    std::istringstream words(template_);
    for (std::string word; words >> word;) {
        // {name} anywhere in a word ("ip netns exec lab-{name} ..."), {config} alone.
        for (auto at = word.find("{name}"); at != std::string::npos; at = word.find("{name}", at + name.size())) {
            word.replace(at, 6, name);
        }
        if (word == "{config}") {
            word = config.string();
        }
        out.push_back(word);
    }
    return out;
}

server_command herd_server_command()
{
    return {HERD_SERVER_PATH " --name {name} --config {config}"};
}

namespace {

// The herd with its own ports and a log directory. `extra` follows the
// [herd] table's log_dir, so it may add keys to [herd] and then tables.
void write_topology(const topology& herd, const std::filesystem::path& file, const std::string& extra)
{
    std::ofstream out(file);
    out << "[herd]\nlog_dir = \"logs\"\n" << extra << "\n";
    for (const auto& s : herd.servers) {
        out << "\n[servers." << s.name << "]\nhost = \"" << s.host << "\"\nport = " << s.port
            << "\npeer_port = " << s.peer_port << "\nadmin_port = " << s.admin_port << "\nneighbors = [";
        for (std::size_t i = 0; i < s.neighbors.size(); ++i) {
            out << (i == 0 ? "\"" : ", \"") << s.neighbors[i] << "\"";
        }
        out << "]\n";
    }
}

} // namespace

process_herd::process_herd(topology herd, server_command command, const std::string& extra_toml,
                           std::vector<std::string> env)
    : herd_(std::move(herd)), command_(std::move(command)), dir_(scratch_dir("herd-e2e-")), env_(std::move(env))
{
    write_topology(herd_, dir_ / "herd.toml", extra_toml);
}

process_herd::~process_herd()
{
    servers_.clear();
    std::filesystem::remove_all(dir_);
}

void process_herd::start(const std::string& name)
{
    start(name, command_);
}

void process_herd::start(const std::string& name, const server_command& command)
{
    auto child = std::make_unique<child_process>(command.argv(name, dir_ / "herd.toml"), dir_, env_);
    const auto ready = child->stdout_line(std::chrono::seconds(10));
    INFO("stderr: " << (ready ? std::string() : child->stderr_text()));
    REQUIRE(ready);
    CHECK_THAT(*ready,
               Catch::StartsWith(name + ": clients on " + herd_.find(name)->host + ":" + std::to_string(port(name))));
    servers_[name] = std::move(child);
}

void process_herd::start_all()
{
    for (const auto& s : herd_.servers) {
        start(s.name);
    }
}

std::string process_herd::log_of(const std::string& name) const
{
    return read_file(dir_ / "logs" / (name + ".log"));
}

asio::awaitable<bool> answers_with(std::uint16_t port, std::string_view client, std::string_view at_line,
                                   std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    const std::string request = "WHATSAT " + std::string(client) + " 1 1\n";
    for (;;) {
        const std::string reply = co_await ask(port, request);
        if (reply.substr(0, reply.find('\n')) == at_line) {
            co_return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

} // namespace herd::test
