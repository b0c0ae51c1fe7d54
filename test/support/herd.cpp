#include "support/herd.hpp"

#include "async/within.hpp"
#include "herd/local_places.hpp"
#include "herd/log.hpp"
#include "support/net.hpp"

#include <algorithm>

namespace herd::test {

namespace asio = boost::asio;

store_signal::store_signal(const asio::any_io_executor& executor) : wake_(executor) {}

void store_signal::notify()
{
    wake_.cancel();
}

asio::awaitable<bool> store_signal::until(std::function<bool()> holds, std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!holds()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        wake_.expires_at(deadline);
        co_await wake_.async_wait(detail::use_tuple);
    }
    co_return true;
}

server_options test_options(std::string_view name, std::shared_ptr<places_source> places)
{
    server_options options;
    options.places = places ? std::move(places) : local_places::bundled();
    options.log = make_null_log(std::string(name));
    return options;
}

topology default_topology()
{
    return load_topology(HERD_SOURCE_DIR "/herd.toml");
}

topology on_free_ports(topology herd)
{
    const std::size_t n = herd.servers.size();
    // free_ports claims a range of at most 32 at a time: a big herd takes several.
    std::vector<std::uint16_t> ports;
    while (ports.size() < n * 4) {
        const auto more = free_ports(std::min<std::size_t>(32, n * 4 - ports.size()));
        ports.insert(ports.end(), more.begin(), more.end());
    }
    for (std::size_t i = 0; i < n; ++i) {
        herd.servers[i].port = ports[i];
        herd.servers[i].peer_port = ports[n + i];
        herd.servers[i].admin_port = ports[2 * n + i];
        herd.servers[i].http_port = ports[3 * n + i];
    }
    return herd;
}

topology lone_goloman(std::string_view server_keys, std::string_view limits)
{
    const std::string text =
        "[servers.Goloman]\nport = 1\n" + std::string(server_keys) + "[limits]\n" + std::string(limits);
    return on_free_ports(parse_topology(text, "lone.toml", "."));
}

server_options fixed_clock_options(std::string_view name, std::int64_t now_ns)
{
    auto options = test_options(name);
    options.clock = [now_ns] { return now_ns; };
    return options;
}

local_herd::local_herd(asio::io_context& io, topology herd, std::shared_ptr<places_source> places)
    : io_(io), herd_(std::move(herd)), places_(places ? std::move(places) : local_places::bundled()),
      changed_(io.get_executor())
{
}

local_herd::~local_herd() = default;

void local_herd::start(const std::string& name)
{
    start(name, herd_);
}

void local_herd::start(const std::string& name, const topology& as_seen)
{
    auto options = test_options(name, places_);
    options.on_stored = [this](const location_record&) { changed_.notify(); };
    options.on_link = [this](std::string_view, link_event) { changed_.notify(); };
    auto s = std::make_unique<server>(io_, as_seen, name, std::move(options));
    s->start();
    servers_[name] = std::move(s);
}

void local_herd::start_all()
{
    for (const auto& s : herd_.servers) {
        start(s.name);
    }
}

void local_herd::stop(const std::string& name)
{
    servers_.erase(name);
}

std::string local_herd::record_at(std::string_view name, std::string_view client) const
{
    auto it = servers_.find(name);
    if (it == servers_.end()) {
        return {};
    }
    const auto* record = it->second->store().find(client);
    return record == nullptr ? std::string() : record->at_line;
}

} // namespace herd::test
