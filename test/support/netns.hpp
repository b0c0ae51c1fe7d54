// Hosts of a test's own, in network namespaces: each host is a namespace
// with one address, joined by a veth pair to a bridge in a "site"
// namespace, and the sites joined to each other by a veth "trunk". Cutting
// a host's veth or a trunk (`ip link set down`) partitions the herd as a
// failed switch port or a failed line between two sites would; there is no
// netem here, so this is how a partition between real hosts is made.
//
// Every address is inside the namespaces the lab made (10.<x>.<y>.0/24,
// chosen from the process id), every namespace is deleted again, and
// nothing else is ever a target. Needs root and `ip`; where namespaces
// cannot be made, netns_lab::unavailable() says why, and the tests that
// need them skip with that message.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herd::test {

class netns_lab {
public:
    // `sites` maps a site's name to its hosts; sites are joined in a chain
    // by trunks, in the order given.
    explicit netns_lab(const std::vector<std::pair<std::string, std::vector<std::string>>>& sites);
    ~netns_lab(); // deletes every namespace it made
    netns_lab(const netns_lab&) = delete;
    netns_lab& operator=(const netns_lab&) = delete;

    // Why namespaces cannot be made here, or nothing if they can.
    static std::optional<std::string> unavailable();

    // What every namespace's name starts with: "<prefix>-<host>".
    const std::string& prefix() const { return prefix_; }
    const std::string& address(const std::string& host) const { return hosts_.at(host).address; }
    const std::string& namespace_of(const std::string& host) const { return hosts_.at(host).ns; }

    // The host's veth down (up): it is cut off from every other host.
    void cut_host(const std::string& host);
    void heal_host(const std::string& host);
    // The trunk between `site` and the next site down (up).
    void cut_trunk(const std::string& site);
    void heal_trunk(const std::string& site);

    // A TCP socket opened inside the host's namespace (the calling thread
    // enters it for the open and returns): it reaches that host's
    // loopback and, through the bridge, the other hosts.
    boost::asio::ip::tcp::socket socket_in(const std::string& host, const boost::asio::any_io_executor& executor) const;

private:
    struct host_info {
        std::string ns;
        std::string address;
        std::string site_ns;
        std::string port; // its veth's end in the site namespace
    };
    struct site_info {
        std::string ns;
        std::string trunk; // its end of the trunk to the next site, if any
    };
    std::string prefix_;
    std::map<std::string, host_info> hosts_;
    std::map<std::string, site_info> sites_;
    std::vector<std::string> made_; // namespaces, to delete
};

// Asks `request` of the server at host:port from inside the host's own
// namespace, and reads until the server closes (or `limit`). The strings
// are taken by value: the coroutine may run after its caller's temporaries
// are gone.
boost::asio::awaitable<std::string> ask_in(const netns_lab& lab, std::string host, std::string address,
                                           std::uint16_t port, std::string request,
                                           std::chrono::milliseconds limit = std::chrono::milliseconds(5000));

} // namespace herd::test
