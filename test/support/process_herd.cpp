#include "support/process_herd.hpp"

#include "support/net.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

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

scratch_directory::~scratch_directory()
{
    if (std::getenv("HERD_KEEP_TEST_FILES") != nullptr) {
        std::fprintf(stderr, "kept %s\n", path_.c_str());
        return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
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
            << "\npeer_port = " << s.peer_port << "\nadmin_port = " << s.admin_port << "\nhttp_port = " << s.http_port
            << "\nneighbors = [";
        for (std::size_t i = 0; i < s.neighbors.size(); ++i) {
            out << (i == 0 ? "\"" : ", \"") << s.neighbors[i] << "\"";
        }
        out << "]\n";
    }
}

} // namespace

process_herd::process_herd(topology herd, server_command command, const std::string& extra_toml,
                           std::vector<std::string> env)
    : herd_(std::move(herd)), command_(std::move(command)), dir_(scratch_dir("herd-e2e-")), env_(std::move(env)),
      extra_toml_(extra_toml)
{
    write_topology(herd_, dir_ / "herd.toml", extra_toml);
}

void process_herd::route(const std::string& dialler, const std::string& neighbour, std::uint16_t port,
                         const std::string& host)
{
    REQUIRE(herd_.find(dialler) != nullptr);
    REQUIRE(herd_.find(neighbour) != nullptr);
    routes_[dialler][neighbour] = via{host, port};
    // Only the dialler's own file changes: the neighbour still listens on
    // its peer port, where the proxy relays.
    topology seen = herd_;
    for (auto& s : seen.servers) {
        if (auto it = routes_[dialler].find(s.name); it != routes_[dialler].end()) {
            s.peer_port = it->second.port;
            if (!it->second.host.empty()) {
                s.host = it->second.host;
            }
        }
    }
    write_topology(seen, config_of(dialler), extra_toml_);
}

void process_herd::route_pair(const std::string& a, const std::string& b, std::uint16_t a_to_b, std::uint16_t b_to_a)
{
    route(a, b, a_to_b);
    route(b, a, b_to_a);
}

std::filesystem::path process_herd::config_of(const std::string& name) const
{
    return routes_.contains(name) ? dir_ / (name + ".toml") : config();
}

process_herd::~process_herd()
{
    servers_.clear();
    // HERD_KEEP_TEST_FILES keeps the servers' topology and logs to read
    // after a failure.
    if (std::getenv("HERD_KEEP_TEST_FILES") != nullptr) {
        std::fprintf(stderr, "process_herd: kept %s\n", dir_.c_str());
        return;
    }
    std::filesystem::remove_all(dir_);
}

void process_herd::start(const std::string& name)
{
    start(name, command_);
}

void process_herd::start(const std::string& name, const server_command& command)
{
    auto child = std::make_unique<child_process>(command.argv(name, config_of(name)), dir_, env_);
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

namespace {

std::string admin_request(std::string_view path)
{
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

// An admin answer's body, parsed; it must be a 200.
boost::json::value admin_body(const std::string& raw, std::string_view path)
{
    const auto body = raw.find("\r\n\r\n");
    INFO("admin " << path << ": " << raw.substr(0, 200));
    REQUIRE(raw.rfind("HTTP/1.1 200", 0) == 0);
    REQUIRE(body != std::string::npos);
    return boost::json::parse(raw.substr(body + 4));
}

} // namespace

asio::awaitable<boost::json::value> admin_json(std::uint16_t admin_port, std::string path)
{
    // Named: ask() keeps a view of it until it has run.
    const std::string request = admin_request(path);
    auto asked = ask(admin_port, request);
    const std::string raw = co_await std::move(asked);
    co_return admin_body(raw, path);
}

asio::awaitable<boost::json::value> process_herd::admin_json(std::string name, std::string path) const
{
    if (!admin_route_) {
        auto get = herd::test::admin_json(admin_port(name), std::move(path));
        co_return co_await std::move(get);
    }
    const std::string request = admin_request(path);
    auto asked = admin_route_(name, request);
    const std::string raw = co_await std::move(asked);
    co_return admin_body(raw, path);
}

namespace {

std::string percent_encode(std::string_view text)
{
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            constexpr const char* hex = "0123456789ABCDEF";
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

store_summary summary_of(const boost::json::value& status)
{
    const auto& o = status.as_object();
    return {o.at("store_size").to_number<std::uint64_t>(), std::string(o.at("store_digest").as_string())};
}

} // namespace

asio::awaitable<std::optional<std::chrono::milliseconds>>
stores_identical(const process_herd& herd, std::vector<std::string> names, std::chrono::milliseconds limit,
                 std::uint64_t size, std::map<std::string, store_summary>* last, std::chrono::milliseconds every)
{
    const auto started = std::chrono::steady_clock::now();
    asio::steady_timer pause(co_await asio::this_coro::executor);
    std::map<std::string, store_summary> seen;
    for (;;) {
        for (const auto& name : names) {
            auto get = herd.admin_json(name, "/status");
            const auto status = co_await std::move(get);
            seen[name] = summary_of(status);
        }
        const auto& first = seen.begin()->second;
        const bool same = std::all_of(seen.begin(), seen.end(), [&](const auto& s) { return s.second == first; });
        const auto took =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        if (same && (size == 0 || first.size == size)) {
            if (last != nullptr) {
                *last = seen;
            }
            co_return took;
        }
        if (took >= limit) {
            if (last != nullptr) {
                *last = seen;
            }
            for (const auto& [name, s] : seen) {
                UNSCOPED_INFO(name << ": " << s.size << " clients, digest " << s.digest);
            }
            co_return std::nullopt;
        }
        pause.expires_after(every);
        co_await pause.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<std::optional<std::chrono::milliseconds>>
link_reads(const process_herd& herd, std::string name, std::string neighbour, bool up, std::chrono::milliseconds limit)
{
    const auto started = std::chrono::steady_clock::now();
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (;;) {
        auto get = herd.admin_json(name, "/status");
        const auto status = co_await std::move(get);
        const auto took =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        if (status.at("links").at(neighbour).at("up").as_bool() == up) {
            co_return took;
        }
        if (took >= limit) {
            co_return std::nullopt;
        }
        pause.expires_after(std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<boost::json::object> all_clients(std::uint16_t admin_port, std::size_t page)
{
    boost::json::object all;
    std::string after;
    for (;;) {
        std::string path = "/clients?limit=" + std::to_string(page);
        if (!after.empty()) {
            path += "&after=" + percent_encode(after);
        }
        auto get = admin_json(admin_port, path);
        auto piece = co_await std::move(get);
        auto& o = piece.as_object();
        const std::size_t n = o.size();
        for (auto& [id, record] : o) {
            after = std::string(id);
            all.emplace(id, std::move(record));
        }
        if (n < page) {
            co_return all;
        }
    }
}

} // namespace herd::test
