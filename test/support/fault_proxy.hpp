// A TCP relay on loopback that a test puts between two servers (a dialler
// and the peer port it dials), to make the link between them slow, lossy
// or dead on command: there is no netem on the machines Herd is tested on.
//
//   pass()        forwards everything as it comes
//   delay(d)      forwards each piece d after it arrived, in order
//   throttle(r)   forwards at most r bytes a second each way
//   black_hole()  keeps every connection open and forwards nothing, nor
//                 reads: the sender's buffers fill, as on a dead route
//   cut()         closes every connection, and each new one at once,
//                 until another mode is set
//
// Commands may come from any thread; the relay runs on its executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace herd::test {

class fault_proxy {
public:
    // Listens on 127.0.0.1 (a free port) and relays to `target`.
    fault_proxy(const boost::asio::any_io_executor& executor, boost::asio::ip::tcp::endpoint target);
    ~fault_proxy();
    fault_proxy(const fault_proxy&) = delete;
    fault_proxy& operator=(const fault_proxy&) = delete;

    std::uint16_t port() const noexcept { return port_; }

    void pass();
    void delay(std::chrono::milliseconds d);
    void throttle(std::uint64_t bytes_per_second);
    void black_hole();
    void cut();

    // Bytes forwarded, both ways together, and connections accepted.
    std::uint64_t forwarded() const noexcept { return forwarded_.load(); }
    std::uint64_t connections() const noexcept { return connections_.load(); }

    struct state;

private:
    std::shared_ptr<state> state_;
    std::uint16_t port_ = 0;
    std::atomic<std::uint64_t>& forwarded_;
    std::atomic<std::uint64_t>& connections_;
};

// Fault proxies on a thread of their own, for a test whose thread blocks
// on processes (a herd-server's ready line, a herd-load run) while the
// proxies relay. Each lives until the host goes.
class proxy_host {
public:
    proxy_host();
    ~proxy_host();
    proxy_host(const proxy_host&) = delete;
    proxy_host& operator=(const proxy_host&) = delete;

    // A new proxy relaying to 127.0.0.1:`target_port`.
    fault_proxy& add(std::uint16_t target_port);

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<std::unique_ptr<fault_proxy>> proxies_;
    std::future<void> ran_; // ready when the loop has returned
    std::thread thread_;
};

} // namespace herd::test
