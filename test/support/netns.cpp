#include "support/netns.hpp"

#include "async/within.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace herd::test {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Runs a shell command quietly; its exit status.
int run(const std::string& command)
{
    const std::string quiet = command + " >/dev/null 2>&1";
    return std::system(quiet.c_str());
}

void must(const std::string& command)
{
    if (run(command) != 0) {
        throw std::runtime_error("netns_lab: failed: " + command);
    }
}

// A file descriptor closed on scope exit.
struct fd_guard {
    int fd;
    ~fd_guard()
    {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

} // namespace

std::optional<std::string> netns_lab::unavailable()
{
    if (::geteuid() != 0) {
        return "network namespaces need root";
    }
    const std::string probe = "herdprobe" + std::to_string(::getpid());
    if (run("ip netns add " + probe) != 0) {
        return "`ip netns add` failed (no `ip`, or namespaces are not allowed here)";
    }
    const bool veth = run("ip -n " + probe + " link add hp0 type veth peer name hp1") == 0;
    run("ip netns del " + probe);
    if (!veth) {
        return "veth pairs cannot be made in a network namespace here";
    }
    return std::nullopt;
}

netns_lab::netns_lab(const std::vector<std::pair<std::string, std::vector<std::string>>>& sites)
{
    const auto pid = static_cast<unsigned>(::getpid());
    prefix_ = "herd" + std::to_string(pid % 100000);
    // 10.<x>.<y>.0/24 inside the lab's own namespaces only.
    const std::string net = "10." + std::to_string(100 + pid % 100) + "." + std::to_string(pid / 100 % 250) + ".";
    const std::string short_id = std::to_string(pid % 100000);
    try {
        int host_number = 0;
        int site_number = 0;
        for (const auto& [site, members] : sites) {
            site_info s;
            s.ns = prefix_ + "-site" + std::to_string(site_number);
            must("ip netns add " + s.ns);
            made_.push_back(s.ns);
            must("ip -n " + s.ns + " link add br0 type bridge");
            must("ip -n " + s.ns + " link set br0 up");
            for (const auto& host : members) {
                host_info h;
                ++host_number;
                h.ns = prefix_ + "-" + host;
                h.address = net + std::to_string(host_number);
                h.site_ns = s.ns;
                h.port = "p" + short_id + "x" + std::to_string(host_number); // at most 15 bytes
                must("ip netns add " + h.ns);
                made_.push_back(h.ns);
                must("ip -n " + h.ns + " link set lo up");
                must("ip -n " + h.ns + " link add eth0 type veth peer name " + h.port + " netns " + s.ns);
                must("ip -n " + h.ns + " addr add " + h.address + "/24 dev eth0");
                must("ip -n " + h.ns + " link set eth0 up");
                must("ip -n " + s.ns + " link set " + h.port + " master br0");
                must("ip -n " + s.ns + " link set " + h.port + " up");
                hosts_[host] = h;
            }
            sites_[site] = s;
            ++site_number;
        }
        // The trunks: each site to the next.
        for (std::size_t i = 0; i + 1 < sites.size(); ++i) {
            auto& here = sites_[sites[i].first];
            const auto& next = sites_[sites[i + 1].first];
            here.trunk = "t" + short_id + "x" + std::to_string(i);
            const std::string far = here.trunk + "b";
            must("ip -n " + here.ns + " link add " + here.trunk + " type veth peer name " + far + " netns " + next.ns);
            must("ip -n " + here.ns + " link set " + here.trunk + " master br0");
            must("ip -n " + next.ns + " link set " + far + " master br0");
            must("ip -n " + here.ns + " link set " + here.trunk + " up");
            must("ip -n " + next.ns + " link set " + far + " up");
        }
    } catch (...) {
        for (const auto& ns : made_) {
            run("ip netns del " + ns);
        }
        throw;
    }
}

netns_lab::~netns_lab()
{
    for (const auto& ns : made_) {
        run("ip netns del " + ns);
    }
}

void netns_lab::cut_host(const std::string& host)
{
    const auto& h = hosts_.at(host);
    must("ip -n " + h.site_ns + " link set " + h.port + " down");
}

void netns_lab::heal_host(const std::string& host)
{
    const auto& h = hosts_.at(host);
    must("ip -n " + h.site_ns + " link set " + h.port + " up");
}

void netns_lab::cut_trunk(const std::string& site)
{
    const auto& s = sites_.at(site);
    must("ip -n " + s.ns + " link set " + s.trunk + " down");
}

void netns_lab::heal_trunk(const std::string& site)
{
    const auto& s = sites_.at(site);
    must("ip -n " + s.ns + " link set " + s.trunk + " up");
}

tcp::socket netns_lab::socket_in(const std::string& host, const asio::any_io_executor& executor) const
{
    const fd_guard home{::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)};
    const fd_guard there{::open(("/var/run/netns/" + hosts_.at(host).ns).c_str(), O_RDONLY | O_CLOEXEC)};
    if (home.fd < 0 || there.fd < 0 || ::setns(there.fd, CLONE_NEWNET) != 0) {
        throw std::runtime_error("netns_lab: cannot enter the namespace of " + host);
    }
    tcp::socket socket(executor);
    boost::system::error_code ec;
    socket.open(tcp::v4(), ec);
    // Back home whatever happened: the rest of the test runs on this thread.
    if (::setns(home.fd, CLONE_NEWNET) != 0) {
        std::abort();
    }
    if (ec) {
        throw boost::system::system_error(ec);
    }
    return socket;
}

asio::awaitable<std::string> ask_in(const netns_lab& lab, std::string host, std::string address, std::uint16_t port,
                                    std::string request, std::chrono::milliseconds limit)
{
    auto executor = co_await asio::this_coro::executor;
    auto socket = lab.socket_in(host, executor);
    const tcp::endpoint to(asio::ip::make_address(address), port);
    auto exchange = [&]() -> asio::awaitable<std::string> {
        auto connect = socket.async_connect(to, asio::as_tuple(asio::use_awaitable));
        auto [ec] = co_await std::move(connect);
        if (ec) {
            co_return std::string();
        }
        auto write = asio::async_write(socket, asio::buffer(request), asio::as_tuple(asio::use_awaitable));
        auto [wec, written] = co_await std::move(write);
        (void)written;
        if (wec) {
            co_return std::string();
        }
        socket.shutdown(tcp::socket::shutdown_send, wec);
        std::string reply;
        auto read = asio::async_read(socket, asio::dynamic_buffer(reply), asio::as_tuple(asio::use_awaitable));
        auto [rec, n] = co_await std::move(read);
        (void)rec;
        (void)n;
        co_return reply;
    };
    auto bounded = detail::within(exchange(), limit);
    auto reply = co_await std::move(bounded);
    co_return reply.value_or(std::string());
}

} // namespace herd::test
