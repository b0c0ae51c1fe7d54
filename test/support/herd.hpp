// Real servers on loopback inside a test: the repository's own herd.toml
// with its ports moved to a free range, and a way to await changes to
// stores and links instead of sleeping.
#pragma once

#include "core/location_store.hpp"
#include "herd/server.hpp"
#include "herd/topology.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>

namespace herd::test {

// Wakes a waiting test coroutine whenever any server's store changes or
// one of its links goes up, down or idle.
class store_signal {
public:
    explicit store_signal(const boost::asio::any_io_executor& executor);
    void notify();
    // True once `holds()` is true; false if `limit` passes first.
    boost::asio::awaitable<bool> until(std::function<bool()> holds, std::chrono::milliseconds limit);

private:
    boost::asio::steady_timer wake_;
};

// Options for one server in a test: `places` (the bundled ones if none) and
// a log that discards everything.
server_options test_options(std::string_view name, std::shared_ptr<places_source> places = nullptr);

// herd.toml from the repository root.
topology default_topology();

// The same herd with every client and peer port moved to a free range.
topology on_free_ports(topology herd);

// Goloman alone on free ports, its admin and HTTP ports on: `server_keys`
// go into its table, `limits` into [limits].
topology lone_goloman(std::string_view server_keys = "", std::string_view limits = "");

// test_options with a clock that always says `now_ns`: every AT line's
// skew is known, and two servers answer the same IAMAT with the same bytes.
inline constexpr std::int64_t fixed_clock_ns = 1621464828'223372000;
server_options fixed_clock_options(std::string_view name, std::int64_t now_ns = fixed_clock_ns);

class local_herd {
public:
    // Every server answers WHATSAT from `places` (default: the bundled ones).
    local_herd(boost::asio::io_context& io, topology herd, std::shared_ptr<places_source> places = nullptr);
    ~local_herd();

    void start(const std::string& name);
    // The server reads `as_seen` for the herd instead (a mixed herd: its
    // own [herd] settings); its ports must be the herd's.
    void start(const std::string& name, const topology& as_seen);
    void start_all();
    void stop(const std::string& name);

    server& at(std::string_view name) { return *servers_.find(name)->second; }
    std::uint16_t port(std::string_view name) const { return herd_.find(name)->port; }
    const topology& herd() const { return herd_; }
    store_signal& changed() { return changed_; }

    // The stored AT line for `client` at `name`, or "" if none.
    std::string record_at(std::string_view name, std::string_view client) const;

private:
    boost::asio::io_context& io_;
    topology herd_;
    std::shared_ptr<places_source> places_;
    store_signal changed_;
    std::map<std::string, std::unique_ptr<server>, std::less<>> servers_;
};

} // namespace herd::test
