// The link to one neighbour: a coroutine that dials the neighbour's peer
// port, proves membership, and sends it every record queued for it, then
// dials again when the link drops. The twin of the prototype's queue and
// task per neighbour.
#pragma once

#include "core/node.hpp"
#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>

namespace herd {

class peer_link final : public record_sink, public std::enable_shared_from_this<peer_link> {
public:
    peer_link(std::shared_ptr<server::state> owner, const server_config& neighbour);

    void start();
    void stop();

    // Queues an AT line for the neighbour without waiting; when the queue
    // is full (the neighbour is not keeping up) the record is dropped for it.
    void offer(const std::shared_ptr<const std::string>& at_line) override;

    const std::string& neighbour() const noexcept override { return neighbour_.name; }
    bool up() const noexcept { return up_; }
    // When the link last went up or down.
    std::chrono::system_clock::time_point since() const noexcept { return since_; }

private:
    using record_channel =
        boost::asio::experimental::channel<void(boost::system::error_code, std::shared_ptr<const std::string>)>;

    boost::asio::awaitable<void> run();
    boost::asio::awaitable<bool> connect();
    boost::asio::awaitable<void> send_records(std::shared_ptr<const std::string> first);
    boost::asio::awaitable<void> watch_for_close();
    // Catch-up: the whole store, once, when the neighbour's differs.
    boost::asio::awaitable<bool> send_store();
    void note_down(const std::string& why);

    std::shared_ptr<server::state> owner_;
    server_config neighbour_;
    record_channel queue_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer retry_;
    std::string last_failure_; // logged once per outage, not once per retry
    bool stopped_ = false;
    bool up_ = false;
    bool catch_up_ = false; // set by connect() from the neighbour's WELCOME
    std::chrono::system_clock::time_point since_ = std::chrono::system_clock::now();
};

} // namespace herd
